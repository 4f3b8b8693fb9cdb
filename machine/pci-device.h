/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* One PCI function as sysfs shows it under /sys/bus/pci/devices/ADDRESS. */
typedef struct PciDevice {
        char *address;                  /* "0000:00:02.0" */
        unsigned vendor;
        unsigned device;
        unsigned class;                 /* 0x030000: base class, subclass, prog-if */
        char *driver;                   /* basename of the "driver" link; NULL when unbound */
        char *driver_override;          /* NULL when unset (sysfs says "(null)") */
        int boot_vga;                   /* 1 or 0; -1 when absent (only VGA devices have it) */
        int iommu_group;                /* -1 when the device has no IOMMU group */
        bool brief;                     /* read only up to the driver (pci_devices_read_all()):
                                         * driver_override, boot_vga and iommu_group not read */
} PciDevice;

typedef struct PciAddress {
        unsigned domain, bus, slot, function;
} PciAddress;

#define PCI_CLASS_DISPLAY_BASE 0x03u
#define PCI_CLASS_AUDIO_SUB 0x0403u
#define PCI_CLASS_BRIDGE_PCI_SUB 0x0604u

static inline bool pci_class_is_display(unsigned class) {
        return (class >> 16) == PCI_CLASS_DISPLAY_BASE;
}
static inline bool pci_class_is_bridge(unsigned class) {
        return (class >> 8) == PCI_CLASS_BRIDGE_PCI_SUB;
}
static inline bool pci_class_is_audio(unsigned class) {
        return (class >> 8) == PCI_CLASS_AUDIO_SUB;
}
/* A short human name ("display", "audio", "bridge", "nvme", ...), or NULL when unknown. */
const char *pci_class_name(unsigned class);

int pci_address_parse(const char *s, PciAddress *ret);
/* Same domain, bus and slot: functions of one physical card. False if either is malformed. */
bool pci_address_same_slot(const char *a, const char *b);

/* Reads /sys/bus/pci/devices/ADDRESS below root. -ENOENT when the device is gone. */
int pci_device_read(const char *root, const char *address, PciDevice *ret);
void pci_device_done(PciDevice *d);

/* Every PCI device, sorted by address. No /sys/bus/pci at all gives an empty list. A
 * display-class device is read whole, any other one brief: its ids, class and driver. The
 * GPU's IOMMU group reads its members whole (iommu_group_read()). */
int pci_devices_read_all(const char *root, PciDevice **ret, size_t *ret_n);
void pci_devices_free(PciDevice *d, size_t n);

/* The GPU baton acts on: the display-class device with boot_vga=1, else the first
 * display-class device by address. NULL when there is none: callers must then refuse. */
const PciDevice *pci_select_gpu(const PciDevice *d, size_t n);
