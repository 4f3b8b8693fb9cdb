/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placeholder: being written. */
#include "stage.h"

static int gpu_modules_observe(const Machine *m, StagePosition *ret_pos, char ***ret_plan) {
        *ret_pos = STAGE_NOTHING_TO_DO;
        *ret_plan = NULL;
        return 0;
}

static int gpu_modules_noop(Step *s) {
        return 0;
}

const Stage stage_gpu_modules = {
        .name = "gpu-modules",
        .summary = "GPU kernel modules",
        .observe = gpu_modules_observe,
        .to_guest = gpu_modules_noop,
        .to_host = gpu_modules_noop,
};
