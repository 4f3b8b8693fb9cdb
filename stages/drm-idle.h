/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "drm-clients.h"
#include "drm-probe.h"
#include "holders.h"
#include "machine.h"
#include "stage.h"

/* The pure parts of the drm-idle stage (stages/drm-idle.c): what it says about holders,
 * masters and lit CRTCs, and how it judges them. self is baton's own pid: baton is never a
 * holder it waits for. */

/* One line per logind session whose devices are held (PID 1's fd store and systemd-logind
 * keep them for it; see logind-sessions.h), then one per other process of m's holders
 * other than self, in pid order, its nodes joined:
 *     "session 2 (labdesk, user, wayland) holds /dev/dri/card0 through systemd-logind
 *      (its compositor pid 1402 (gnome-shell))"
 *     "pid 412 (cage) holds /dev/dri/card0"
 *     "pid 530 (pipewire) holds /dev/snd/controlC0, /dev/snd/pcmC0D0p"
 *     "pid 777 (kmscube) holds /dev/dri/renderD128 (mapped)"
 * With wait_usec > 0 the lines say what the handover waits for instead:
 *     "wait up to 10s for pid 412 (cage) to release /dev/dri/card0"
 * *ret is an empty strv (not NULL) when no process remains. */
int drm_idle_holder_lines(const Machine *m, pid_t self, uint64_t wait_usec, char ***ret);

/* The distinct pids of s other than self, ascending, without PID 1 and systemd-logind:
 * they never exit, they let go of a session's devices when the session does. *ret_n may
 * be 0. */
int drm_idle_holder_pids(const HolderScan *s, pid_t self, pid_t **ret, size_t *ret_n);

/* The one error of a wait that ran out: every holder of s other than self.
 *     "Timed out after 10s waiting for the GPU to be released: pid 412 (cage) holds
 *      /dev/dri/card0; pid 777 (kmscube) holds /dev/dri/renderD128 (mapped)" */
int drm_idle_timeout_message(const Machine *m, pid_t self, uint64_t wait_usec, char **ret);

/* Judges the display once no process holds the GPU's nodes. master is the DRM master that
 * debugfs names (NULL: none, or debugfs unavailable); probe is drm_probe_card() of card
 * (NULL: not probed). A master that remains, named by debugfs or seen by the probe (it did
 * not become master on open), is an error: returns -EBUSY with the message. CRTCs still lit
 * without a master are what the kernel's fbdev emulation leaves behind after the vtconsoles
 * stage unbound fbcon: harmless, vfio-pci takes the device over as it is; returns 0 with a
 * warning naming the CRTC ids. Returns 0 and *ret_message NULL when the display is idle. */
int drm_idle_judge_display(const char *card, const DrmClient *master, const DrmProbe *probe,
                           char **ret_message);

/* observe() for self: STAGE_AT_HOST while processes hold the nodes or debugfs names a
 * master, STAGE_AT_GUEST ("idle") otherwise, STAGE_NOTHING_TO_DO without a GPU. A lit CRTC
 * is only known by probing, which observe() must not do (the probe takes DRM master): the
 * plan says the handover will probe. wait_usec goes into the plan's wait lines. */
int drm_idle_observe_machine(const Machine *m, pid_t self, uint64_t wait_usec,
                             StagePosition *ret_pos, char ***ret_plan);
