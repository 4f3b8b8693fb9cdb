/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The drm-* keys a DRM driver prints into /proc/PID/fdinfo/FD (the kernel's
 * Documentation/gpu/drm-usage-stats.rst). Not every driver prints them: bochs on 6.1 prints
 * none, amdgpu, i915, xe and msm do. */

typedef struct DrmEngine {
        char *name;                     /* "gfx" from "drm-engine-gfx" */
        uint64_t busy_ns;
} DrmEngine;

typedef struct DrmFdinfo {
        char *driver;                   /* drm-driver */
        char *pdev;                     /* drm-pdev: the PCI address of the device */
        uint64_t client_id;             /* drm-client-id: one per open file description */
        bool has_client_id;
        DrmEngine *engines;
        size_t n_engines;
} DrmFdinfo;

/* Parses an fdinfo file's text. Returns 1 when it held drm-* keys, 0 when it had none
 * (ret is then zeroed), -EINVAL on a malformed drm-* value, -ENOMEM. Unknown keys, and
 * drm-memory-*, drm-cycles-* and friends, are skipped. */
int drm_fdinfo_parse(const char *text, DrmFdinfo *ret);
void drm_fdinfo_done(DrmFdinfo *f);
