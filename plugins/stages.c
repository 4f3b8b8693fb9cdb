/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "stage.h"

extern const Stage stage_session, stage_display_manager, stage_audio;
extern const Stage stage_vtconsoles, stage_firmware_fb, stage_drm_idle, stage_gpu_modules, stage_vfio;
extern const Stage stage_host_tuning, stage_user_stages;

/* The handover order; the return walks it backwards. The session ends before
 * the display manager stops (its apps save their work); audio comes after the
 * display manager: the user's PipeWire may outlive the session (lingering).
 * host-tuning comes once the desktop is gone (plugins/host-tuning.c says why);
 * the user's own stages come last, on a handed-over, tuned machine, and so run
 * first on the way back. */
const Stage *const stage_table[] = {
        &stage_session,
        &stage_display_manager,
        &stage_audio,
        &stage_vtconsoles,
        &stage_firmware_fb,
        &stage_drm_idle,
        &stage_gpu_modules,
        &stage_host_tuning,
        &stage_vfio,
        &stage_user_stages,
        NULL,
};

const Stage *stage_find(const char *name) {
        for (const Stage *const *st = stage_table; *st; st++)
                if (streq((*st)->name, name))
                        return *st;
        return NULL;
}
