/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <fcntl.h>

#include <xf86drm.h>
#include <xf86drmMode.h>

#include "drm-probe.h"
#include "macro.h"

static void find_active_crtcs(int fd, const drmModeRes *res, DrmProbe *p) {
        for (int i = 0; i < res->count_crtcs; i++) {
                drmModeCrtc *crtc = drmModeGetCrtc(fd, res->crtcs[i]);

                if (!crtc)
                        continue;       /* hot-unplugged: not scanning out */
                if (crtc->buffer_id != 0) {
                        if (p->n_active_crtcs < DRM_PROBE_MAX_CRTC_IDS)
                                p->active_crtc_ids[p->n_active_crtcs] = crtc->crtc_id;
                        p->n_active_crtcs++;
                }
                drmModeFreeCrtc(crtc);
        }
}

int drm_probe_card(const char *node, DrmProbe *ret) {
        _cleanup_close_ int fd = -EBADF;
        drmModeRes *res;
        DrmProbe p = {};

        fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        /* Give master back first: holding it even briefly blocks a compositor's SET_MASTER. */
        p.was_master = drmIsMaster(fd);
        if (p.was_master)
                (void) drmDropMaster(fd);

        res = drmModeGetResources(fd);
        if (!res)
                return errno > 0 ? -errno : -EOPNOTSUPP;
        p.n_crtcs = (unsigned) res->count_crtcs;
        find_active_crtcs(fd, res, &p);
        drmModeFreeResources(res);

        *ret = p;
        return 0;
}
