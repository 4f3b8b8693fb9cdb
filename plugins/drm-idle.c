/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placeholder: being written. */
#include "stage.h"

static int drm_idle_observe(const Machine *m, StagePosition *ret_pos, char ***ret_plan) {
        *ret_pos = STAGE_NOTHING_TO_DO;
        *ret_plan = NULL;
        return 0;
}

static int drm_idle_noop(Step *s) {
        return 0;
}

const Stage stage_drm_idle = {
        .name = "drm-idle",
        .summary = "DRM idle check",
        .observe = drm_idle_observe,
        .to_guest = drm_idle_noop,
        .to_host = drm_idle_noop,
};
