/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "parse-util.h"
#include "pci-device.h"
#include "strv.h"
#include "sysfs-util.h"

#define PCI_DEVICES_DIR "/sys/bus/pci/devices"

const char *pci_class_name(unsigned class) {
        static const struct {
                unsigned mask, value;
                const char *name;
        } table[] = {
                { 0xffff00, 0x010800, "nvme" },
                { 0xff0000, 0x010000, "storage" },
                { 0xff0000, 0x020000, "network" },
                { 0xff0000, 0x030000, "display" },
                { 0xffff00, 0x040300, "audio" },
                { 0xff0000, 0x040000, "multimedia" },
                { 0xffff00, 0x060400, "bridge" },
                { 0xffff00, 0x060000, "host bridge" },
                { 0xffff00, 0x060100, "isa bridge" },
                { 0xffff00, 0x0c0300, "usb" },
                { 0xffff00, 0x0c8000, "serial bus" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if ((class & table[i].mask) == table[i].value)
                        return table[i].name;
        return NULL;
}

int pci_address_parse(const char *s, PciAddress *ret) {
        PciAddress a;
        int n = 0;

        if (!s || sscanf(s, "%4x:%2x:%2x.%1x%n", &a.domain, &a.bus, &a.slot, &a.function, &n) != 4 ||
            s[n] != '\0' || a.slot > 0x1f || a.function > 7)
                return -EINVAL;

        *ret = a;
        return 0;
}

bool pci_address_same_slot(const char *a, const char *b) {
        PciAddress x, y;

        if (pci_address_parse(a, &x) < 0 || pci_address_parse(b, &y) < 0)
                return false;
        return x.domain == y.domain && x.bus == y.bus && x.slot == y.slot;
}

void pci_device_done(PciDevice *d) {
        free(d->address);
        free(d->driver);
        free(d->driver_override);
        *d = (PciDevice) { .boot_vga = -1, .iommu_group = -1 };
}

DEFINE_ARRAY_FREE_FUNC(pci_devices_free, PciDevice, pci_device_done);

static int read_attr_unsigned(int dir_fd, const char *attr, int *ret) {
        _cleanup_free_ char *s = NULL;
        unsigned u;
        int r;

        /* An absent attribute leaves *ret as it was: -1, "not there". */
        r = sysfs_read_attr_at(dir_fd, attr, &s);
        if (r <= 0)
                return r;
        r = safe_atou(s, 0, &u);
        if (r < 0)
                return r;
        *ret = (int) u;
        return 0;
}

static int read_ids(int dir_fd, PciDevice *d) {
        int vendor = -1, device = -1, class = -1, r;

        r = read_attr_unsigned(dir_fd, "vendor", &vendor);
        if (r >= 0)
                r = read_attr_unsigned(dir_fd, "device", &device);
        if (r >= 0)
                r = read_attr_unsigned(dir_fd, "class", &class);
        if (r < 0)
                return r;
        /* A device directory without its ids is one that went away while we read it. */
        if (vendor < 0 || device < 0 || class < 0)
                return -ENOENT;

        d->vendor = (unsigned) vendor;
        d->device = (unsigned) device;
        d->class = (unsigned) class;
        return 0;
}

/* With brief, a device that is not display-class is read only as far as its ids, class and
 * driver: the list of every PCI device needs no more of it (issue 17: three attributes fewer
 * for each of the lab's ten other devices, before a handover's first action). */
static int device_read(const char *root, const char *address, bool brief, PciDevice *ret) {
        _cleanup_(pci_device_done) PciDevice d = { .boot_vga = -1, .iommu_group = -1 };
        _cleanup_free_ char *dir = NULL, *group = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        unsigned g;
        int r;

        if (pci_address_parse(address, &(PciAddress) {}) < 0)
                return -EINVAL;
        if (asprintf(&dir, PCI_DEVICES_DIR "/%s", address) < 0)
                return -ENOMEM;
        d.address = strdup(address);
        if (!d.address)
                return -ENOMEM;

        /* Issue 17: the device's directory is walked to once, each attribute below it. */
        dir_fd = open_dir_path(root, dir);
        if (dir_fd < 0)
                return dir_fd;
        r = read_ids(dir_fd, &d);
        if (r >= 0)
                r = sysfs_read_attr_link_at(dir_fd, "driver", &d.driver);
        if (r >= 0 && brief && !pci_class_is_display(d.class)) {
                d.brief = true;
                *ret = TAKE_STRUCT(d);
                return 0;
        }
        if (r >= 0)
                r = sysfs_read_attr_at(dir_fd, "driver_override", &d.driver_override);
        if (r >= 0)
                r = read_attr_unsigned(dir_fd, "boot_vga", &d.boot_vga);
        if (r >= 0)
                r = sysfs_read_attr_link_at(dir_fd, "iommu_group", &group);
        if (r < 0)
                return r;

        if (d.driver_override && (streq(d.driver_override, "(null)") || isempty(d.driver_override)))
                d.driver_override = mfree(d.driver_override);
        if (group && safe_atou(group, 10, &g) >= 0 && g <= INT_MAX)
                d.iommu_group = (int) g;

        *ret = TAKE_STRUCT(d);
        return 0;
}

int pci_device_read(const char *root, const char *address, PciDevice *ret) {
        return device_read(root, address, false, ret);
}

static int read_one_device(const char *root, const char *name, void *ret) {
        int r = device_read(root, name, true, ret);

        /* Unplugged meanwhile, or not a function address: not a device to list. */
        if (r == -ENOENT || r == -EINVAL)
                return 0;
        return r < 0 ? r : 1;
}

static void device_done(void *d) {
        pci_device_done(d);
}

int pci_devices_read_all(const char *root, PciDevice **ret, size_t *ret_n) {
        return sysfs_read_entries(root, PCI_DEVICES_DIR, NULL, sizeof(PciDevice),
                                  read_one_device, device_done, ret, ret_n);
}

const PciDevice *pci_select_gpu(const PciDevice *d, size_t n) {
        const PciDevice *first = NULL;

        for (size_t i = 0; i < n; i++) {
                if (!pci_class_is_display(d[i].class))
                        continue;
                if (d[i].boot_vga == 1)
                        return &d[i];
                if (!first)
                        first = &d[i];
        }
        return first;
}
