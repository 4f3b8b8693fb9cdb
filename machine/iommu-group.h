/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pci-device.h"

/* A device in the GPU's IOMMU group, classified for the handover: vfio-pci must own every
 * endpoint of the group, so a group holding more than the card cannot be handed over
 * without taking those devices from the host too. */
typedef struct GroupDevice {
        PciDevice pci;
        bool is_bridge;                 /* class 0x0604xx: not an endpoint, keeps its driver */
        bool is_card_function;          /* same domain:bus:slot as the GPU: part of the card */
} GroupDevice;

typedef struct IommuGroup {
        int number;                     /* -1: the GPU has no IOMMU group (IOMMU off) */
        GroupDevice *devices;           /* sorted by address */
        size_t n_devices;
} IommuGroup;

#define IOMMU_GROUP_NULL ((IommuGroup) { .number = -1 })

/* Reads /sys/kernel/iommu_groups/N/devices for the GPU's group N and classifies each
 * member against gpu. A GPU without a group yields IOMMU_GROUP_NULL and returns 0. */
int iommu_group_read(const char *root, const PciDevice *gpu, IommuGroup *ret);
void iommu_group_done(IommuGroup *g);

/* Endpoints in the group that are not part of the card (an NVMe disk, a NIC...). */
size_t iommu_group_count_foreign(const IommuGroup *g);
