/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placeholder: being written. */
#include "stage.h"

static int vtconsoles_observe(const Machine *m, StagePosition *ret_pos, char ***ret_plan) {
        *ret_pos = STAGE_NOTHING_TO_DO;
        *ret_plan = NULL;
        return 0;
}

static int vtconsoles_noop(Step *s) {
        return 0;
}

const Stage stage_vtconsoles = {
        .name = "vtconsoles",
        .summary = "frame-buffer vtconsoles",
        .observe = vtconsoles_observe,
        .to_guest = vtconsoles_noop,
        .to_host = vtconsoles_noop,
};
