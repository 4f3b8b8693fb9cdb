/* SPDX-License-Identifier: GPL-2.0-or-later */
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
 * audio comes right before drm-idle, after the consoles and the firmware
 * framebuffer, whose steps change what the kernel holds, not what processes do.
 * Both audio and drm-idle observe the holders, a walk of /proc: when audio has
 * nothing to release, drm-idle's step starts from audio's observation instead
 * of walking /proc again (core/engine.c, engine_observe(); issue 17).
 *
 * host-tuning comes once the desktop is gone (stages/host-tuning.c says why);
 * the user's own stages come last by default, on a handed-over, tuned machine,
 * and so run first on the way back; [stages] after = in baton.conf moves them. */
const Stage *const stage_table[] = {
        &stage_session,
        &stage_display_manager,
        &stage_gpu_daemons,
        &stage_vtconsoles,
        &stage_firmware_fb,
        &stage_audio,
        &stage_drm_idle,
        &stage_gpu_modules,
        &stage_host_tuning,
        &stage_vfio,
        &stage_user_stages,
        NULL,
};
