/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A live look at a DRM card node through libdrm, for the lab guest and for
 * "baton status --probe-scanout".
 *
 * Not free of side effects: opening the primary node as root while no one is master makes
 * the opener master for as long as the fd is open (the kernel's drm_master_open()). The
 * probe drops master at once and closes the fd before returning, but a compositor that
 * tries to become master in that instant fails. The handover calls it only once no process
 * holds the card (the drm-idle stage), when there is no compositor left to race with. */

/* CRTC ids kept per probe, more than a desktop card has; n_active_crtcs counts them all. */
#define DRM_PROBE_MAX_CRTC_IDS 16

typedef struct DrmProbe {
        bool was_master;                /* we became master on open: nobody else held it */
        unsigned n_crtcs;
        unsigned n_active_crtcs;        /* CRTCs with a framebuffer attached (buffer_id != 0) */
        uint32_t active_crtc_ids[DRM_PROBE_MAX_CRTC_IDS];      /* the first of them, by index */
} DrmProbe;

/* -errno of open() (-ENOENT, -EACCES), or of drmModeGetResources() (-EOPNOTSUPP for a
 * render-only device). */
int drm_probe_card(const char *node, DrmProbe *ret);

static inline bool drm_probe_scanning_out(const DrmProbe *p) {
        return p->n_active_crtcs > 0;
}
