/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placeholder: being written. */
#include "stage.h"

static int vfio_observe(const Machine *m, StagePosition *ret_pos, char ***ret_plan) {
        *ret_pos = STAGE_NOTHING_TO_DO;
        *ret_plan = NULL;
        return 0;
}

static int vfio_noop(Step *s) {
        return 0;
}

const Stage stage_vfio = {
        .name = "vfio",
        .summary = "vfio-pci for the IOMMU group",
        .observe = vfio_observe,
        .to_guest = vfio_noop,
        .to_host = vfio_noop,
};
