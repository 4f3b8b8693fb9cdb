/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "stage.h"

extern const Stage stage_session, stage_display_manager, stage_gpu_daemons, stage_audio;
extern const Stage stage_vtconsoles, stage_firmware_fb, stage_drm_idle, stage_gpu_modules, stage_vfio;
extern const Stage stage_host_tuning, stage_user_stages;

/* The handover order; the return walks it backwards. The session ends before
 * the display manager stops (its apps save their work); audio comes after the
 * display manager: the user's PipeWire may outlive the session (lingering).
 * gpu-daemons (nvidia-persistenced) stops before drm-idle waits for the GPU's
 * holders, which it would be forever, and starts after gpu-modules loaded the
 * driver it needs.
 *
 * host-tuning comes once the desktop is gone (stages/host-tuning.c says why);
 * the user's own stages come last by default, on a handed-over, tuned machine,
 * and so run first on the way back; [stages] after = in baton.conf moves them. */
const Stage *stage_table[] = {
        &stage_session,
        &stage_display_manager,
        &stage_gpu_daemons,
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

int stage_table_place_user_stages(const char *after) {
        size_t n = 0, from = SIZE_MAX, to = 0;

        for (; stage_table[n]; n++)
                if (stage_table[n] == &stage_user_stages)
                        from = n;
        if (from == SIZE_MAX)
                return -ENOENT;
        /* Taken out first, then put back after its anchor ("begin": before every stage). */
        memmove(&stage_table[from], &stage_table[from + 1], (n - from - 1) * sizeof(stage_table[0]));
        stage_table[n - 1] = NULL;
        if (!streq(after, "begin")) {
                while (stage_table[to] && !streq(stage_table[to]->name, after))
                        to++;
                if (!stage_table[to]) {
                        stage_table[n - 1] = &stage_user_stages;        /* back at the end */
                        return -EINVAL;
                }
                to++;
        }
        memmove(&stage_table[to + 1], &stage_table[to], (n - 1 - to) * sizeof(stage_table[0]));
        stage_table[to] = &stage_user_stages;
        return 0;
}
