/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "iommu-group.h"
#include "macro.h"
#include "strv.h"
#include "sysfs-util.h"

static void group_device_done(GroupDevice *d) {
        pci_device_done(&d->pci);
}

void iommu_group_done(IommuGroup *g) {
        for (size_t i = 0; i < g->n_devices; i++)
                group_device_done(&g->devices[i]);
        free(g->devices);
        *g = IOMMU_GROUP_NULL;
}

static int group_add(const char *root, const PciDevice *gpu, const char *address, IommuGroup *g) {
        GroupDevice *slot;
        PciDevice d;
        int r;

        r = pci_device_read(root, address, &d);
        if (r < 0)
                return r;
        slot = array_append(&g->devices, &g->n_devices, sizeof(*g->devices));
        if (!slot) {
                pci_device_done(&d);
                return -ENOMEM;
        }

        *slot = (GroupDevice) {
                .pci = d,
                .is_bridge = pci_class_is_bridge(d.class),
                /* A bridge in the GPU's own slot is still no part of the card's functions. */
                .is_card_function = !pci_class_is_bridge(d.class) &&
                                    pci_address_same_slot(d.address, gpu->address),
        };
        return 0;
}

int iommu_group_read(const char *root, const PciDevice *gpu, IommuGroup *ret) {
        _cleanup_(iommu_group_done) IommuGroup g = IOMMU_GROUP_NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (gpu->iommu_group < 0) {
                *ret = IOMMU_GROUP_NULL;
                return 0;
        }

        g.number = gpu->iommu_group;
        if (asprintf(&dir, "/sys/kernel/iommu_groups/%i/devices", g.number) < 0)
                return -ENOMEM;
        r = sysfs_list_dir(root, dir, NULL, &names);
        if (r < 0)
                return r;

        STRV_FOREACH(name, names) {
                r = group_add(root, gpu, *name, &g);
                if (r == -ENOENT)
                        continue;       /* removed while we looked */
                if (r < 0)
                        return r;
        }

        *ret = TAKE_STRUCT(g);
        return 0;
}

size_t iommu_group_count_foreign(const IommuGroup *g) {
        size_t n = 0;

        for (size_t i = 0; i < g->n_devices; i++)
                if (!g->devices[i].is_bridge && !g->devices[i].is_card_function)
                        n++;
        return n;
}
