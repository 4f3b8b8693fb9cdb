/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placeholder: being written. */
#include "stage.h"

static int firmware_fb_observe(const Machine *m, StagePosition *ret_pos, char ***ret_plan) {
        *ret_pos = STAGE_NOTHING_TO_DO;
        *ret_plan = NULL;
        return 0;
}

static int firmware_fb_noop(Step *s) {
        return 0;
}

const Stage stage_firmware_fb = {
        .name = "firmware-fb",
        .summary = "firmware framebuffer",
        .observe = firmware_fb_observe,
        .to_guest = firmware_fb_noop,
        .to_host = firmware_fb_noop,
};
