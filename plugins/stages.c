/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "stage.h"

extern const Stage stage_session, stage_display_manager, stage_gpu_daemons, stage_audio;
extern const Stage stage_vtconsoles, stage_firmware_fb, stage_drm_idle, stage_gpu_modules, stage_vfio;

/* The handover order; the return walks it backwards. The session ends before
 * the display manager stops (its apps save their work); audio comes after the
 * display manager: the user's PipeWire may outlive the session (lingering).
 * gpu-daemons (nvidia-persistenced) stops before drm-idle waits for the GPU's
 * holders, which it would be forever, and starts after gpu-modules loaded the
 * driver it needs. */
const Stage *const stage_table[] = {
        &stage_session,
        &stage_display_manager,
        &stage_gpu_daemons,
        &stage_audio,
        &stage_vtconsoles,
        &stage_firmware_fb,
        &stage_drm_idle,
        &stage_gpu_modules,
        &stage_vfio,
        NULL,
};

const Stage *stage_find(const char *name) {
        for (const Stage *const *st = stage_table; *st; st++)
                if (streq((*st)->name, name))
                        return *st;
        return NULL;
}
