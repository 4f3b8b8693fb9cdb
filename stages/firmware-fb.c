/* SPDX-License-Identifier: GPL-2.0-or-later */
/* firmware-fb: the firmware framebuffer platform devices (efi-framebuffer.N,
 * simple-framebuffer.N, vesa-framebuffer.N).
 *
 * On the host, such a device's driver (efifb, simplefb or simpledrm, vesafb) keeps the boot
 * framebuffer in the GPU's memory mapped. to_guest unbinds each bound one from whatever
 * driver its `driver` link resolves to, by writing its name to <device>/driver/unbind (no
 * driver path is spelled out here), and checks that the link is gone afterwards.
 *
 * to_host binds a recorded device that still exists and is unbound through
 * /sys/bus/platform/drivers/<recorded driver>/bind. Since 6.0 the kernel deletes the device
 * for good when vfio-pci or a native DRM driver takes the VGA device over (both remove the
 * conflicting firmware framebuffer through the aperture helpers; in the lab's nvidia
 * scenario, on Debian's 6.1, efi-framebuffer.0 is gone after the return):
 * a recorded device that is gone counts as returned when the GPU has a native driver with
 * a DRM card node again, or else a frame-buffer vtconsole is bound. A native driver that
 * gives neither (nvidia without nvidia_drm's fbdev emulation) counts too, with a warning:
 * the kernel allows no console back until the next boot, the driver itself works. When
 * the GPU has no native driver at all, nothing can draw a console until the next boot:
 * a warning too (plan and doctor say so before the handover), so the rest of the return
 * completes and the journal clears. Only a GPU that is still on vfio-pci with the device
 * gone fails. Without a record it binds each unbound
 * firmware framebuffer to the platform driver named like the device ("efi-framebuffer.0"
 * to "efi-framebuffer", as sysfb names them) when that driver is registered.
 *
 * Journal: "fb.<device>" = the driver it was bound to, or "" when it was unbound already.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware-fb.h"
#include "log.h"
#include "stage.h"
#include "strv.h"
#include "sysfs-util.h"

#define PLATFORM_DEVICES_DIR "/sys/bus/platform/devices"
#define PLATFORM_DRIVERS_DIR "/sys/bus/platform/drivers"
#define KEY_PREFIX "fb."

/* A chain of blocking writes, one device after the other. */
typedef struct FbJob {
        bool bind;
        char **names;           /* the devices */
        char **drivers;         /* bind: the driver to bind to; unbind: the one it leaves */
        size_t current;
} FbJob;

static void fb_job_free(void *p) {
        FbJob *j = p;

        if (!j)
                return;
        strv_free(j->names);
        strv_free(j->drivers);
        free(j);
}

static inline void fb_job_freep(FbJob **j) {
        fb_job_free(*j);
}

static int fb_job_new(bool bind, FbJob **ret) {
        FbJob *j = calloc(1, sizeof(FbJob));

        if (!j)
                return -ENOMEM;
        j->bind = bind;
        *ret = j;
        return 0;
}

static int fb_job_add(FbJob *j, const char *name, const char *driver) {
        int r;

        r = strv_extend(&j->names, name);
        if (r < 0)
                return r;
        return strv_extend(&j->drivers, driver);
}

bool firmware_fb_lost_for_good(const Machine *m, const FirmwareFb *f) {
        /* vfio-pci removes the firmware framebuffer when it takes a VGA device (kernel 6.0+):
         * only a native driver can give the console back, and this GPU has none. */
        return f->driver && m->gpu && !m->gpu->driver;
}

static int firmware_fb_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                               StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL;
        size_t n_bound = 0;
        int r;

        for (size_t i = 0; i < m->n_fbs; i++) {
                const FirmwareFb *f = &m->fbs[i];

                if (f->driver) {
                        n_bound++;
                        r = strv_extendf(&plan, "unbind %s from %s", f->name, f->driver);
                        if (r >= 0 && firmware_fb_lost_for_good(m, f))
                                r = strv_extendf(&plan, "note: %s", FIRMWARE_FB_LOST_LINE);
                } else
                        r = strv_extendf(&plan, "%s is unbound already", f->name);
                if (r < 0)
                        return r;
        }

        *ret_pos = m->n_fbs == 0 ? STAGE_NOTHING_TO_DO : n_bound > 0 ? STAGE_AT_HOST : STAGE_AT_GUEST;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* The write for the current device finished with r: did the kernel do it? */
static int check_current(Step *s, FbJob *j, int r) {
        const char *name = j->names[j->current], *driver = j->drivers[j->current];
        _cleanup_free_ char *dir = NULL, *now = NULL, *label = NULL;

        if (r < 0)
                return step_error_errno(s, r, "Failed to %s %s %s %s: %m", j->bind ? "bind" : "unbind",
                                        name, j->bind ? "to" : "from", driver);
        if (asprintf(&dir, PLATFORM_DEVICES_DIR "/%s", name) < 0)
                return -ENOMEM;
        r = sysfs_read_attr_link(step_root(s), dir, "driver", &now);
        if (r < 0)
                return step_error_errno(s, r, "Failed to read the driver of %s: %m", name);
        if (j->bind && r == 0)
                return step_error_errno(s, SYNTHETIC_ERRNO(EIO), "%s has no driver after binding it to %s",
                                        name, driver);
        if (!j->bind && r > 0)
                return step_error_errno(s, SYNTHETIC_ERRNO(EBUSY),
                                        "%s is still bound to %s after unbinding it",
                                        name, now);

        if (asprintf(&label, "%s %s", j->bind ? "bound" : "unbound", name) < 0)
                return -ENOMEM;
        step_crash_point(s, label);
        return 0;
}

static void write_done(Step *s, int r, void *userdata);

/* Starts the write for the current device: STEP_PENDING, or 0 when all are done. */
static int start_current(Step *s, FbJob *j) {
        const char *name = j->names ? j->names[j->current] : NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (!name)
                return 0;
        if (j->bind)
                r = asprintf(&path, PLATFORM_DRIVERS_DIR "/%s/bind", j->drivers[j->current]);
        else
                r = asprintf(&path, PLATFORM_DEVICES_DIR "/%s/driver/unbind", name);
        if (r < 0)
                return -ENOMEM;

        r = step_write_async(s, path, name, step_deadline_usec(s, j->bind ? DEADLINE_PROBE : DEADLINE_UNBIND),
                             write_done, j);
        if (r < 0)
                return step_error_errno(s, r, "Failed to start writing %s to %s: %m", name, path);
        return STEP_PENDING;
}

static void write_done(Step *s, int r, void *userdata) {
        FbJob *j = userdata;

        r = check_current(s, j, r);
        if (r >= 0) {
                j->current++;
                r = start_current(s, j);
        }
        if (r != STEP_PENDING)
                step_finish(s, r);
}

/* Hands the job to the step, which frees it when it ends, and runs it. */
static int run(Step *s, FbJob *j) {
        step_set_userdata(s, j, fb_job_free);
        return start_current(s, j);
}

static int firmware_fb_to_guest(Step *s) {
        const Machine *m = step_machine(s);
        _cleanup_(fb_job_freep) FbJob *j = NULL;
        int r;

        r = fb_job_new(false, &j);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_fbs; i++) {
                const FirmwareFb *f = &m->fbs[i];
                _cleanup_free_ char *key = NULL;

                if (asprintf(&key, KEY_PREFIX "%s", f->name) < 0)
                        return -ENOMEM;
                r = step_record(s, key, strempty(f->driver));
                if (r < 0)
                        return step_error_errno(s, r, "Failed to record %s: %m", f->name);
                if (f->driver) {
                        r = fb_job_add(j, f->name, f->driver);
                        if (r < 0)
                                return r;
                }
        }
        r = step_commit(s);
        if (r < 0)
                return step_error_errno(s, r, "Failed to commit the firmware framebuffer record: %m");

        return run(s, TAKE_PTR(j));
}

/* A recorded device the kernel deleted: the display is back when something else drives it. */
static int check_taken_over(Step *s, const Machine *m, const char *name) {
        const PciDevice *gpu = m->gpu;
        const char *card = machine_card_node(m);

        if (gpu && gpu->driver && !streq(gpu->driver, "vfio-pci") && card) {
                log_info("%s is gone: the GPU's driver %s drives %s now.", name, gpu->driver, card);
                return 0;
        }
        for (size_t i = 0; i < m->n_vtcons; i++)
                if (m->vtcons[i].is_fb && m->vtcons[i].bound) {
                        log_info("%s is gone: fbcon is bound on %s.", name, m->vtcons[i].id);
                        return 0;
                }

        if (gpu && gpu->driver && !streq(gpu->driver, "vfio-pci")) {
                step_warning(s,
                             "%s is gone for good (the kernel removed it when vfio-pci took the GPU over), "
                             "and %s, the GPU's driver, gives no framebuffer console: the text console stays "
                             "dark until the next boot.", name, gpu->driver);
                return 0;
        }
        /* Row 20 of issue 19: a GPU with no native driver had only this framebuffer. Nothing
         * baton can do brings it back before the next boot, so failing here would only keep
         * the journal, and every recover would fail the same way: the rest of the way back
         * goes on, and this is said once, as a warning (plan and doctor said it before). */
        if (gpu && !gpu->driver) {
                step_warning(s,
                             "%s is gone for good (the kernel removed it when vfio-pci took the GPU over), "
                             "and the GPU %s has no native driver to draw a console: the display stays dark "
                             "until the next boot.", name, gpu->address);
                return 0;
        }
        return step_error_errno(s, SYNTHETIC_ERRNO(ENODEV),
                                "%s is gone and nothing took the display over: the GPU %s has no native "
                                "driver with a DRM card node (driver: %s) and no frame-buffer console is bound",
                                name, gpu ? gpu->address : "(none)", gpu && gpu->driver ? gpu->driver : "none");
}

static const FirmwareFb *find_fb(const Machine *m, const char *name) {
        for (size_t i = 0; i < m->n_fbs; i++)
                if (streq(m->fbs[i].name, name))
                        return &m->fbs[i];
        return NULL;
}

static int add_recorded(Step *s, FbJob *j) {
        _cleanup_strv_free_ char **keys = step_keys(s, KEY_PREFIX);
        const Machine *m = step_machine(s);
        int r;

        STRV_FOREACH(key, keys) {
                const char *name = *key + strlen(KEY_PREFIX), *driver = step_get(s, *key);
                const FirmwareFb *f = find_fb(m, name);

                if (isempty(driver))
                        continue;       /* unbound before the handover: stays so */
                if (!f) {
                        r = check_taken_over(s, m, name);
                } else if (f->driver) {
                        log_info("%s is bound to %s already.", name, f->driver);
                        r = 0;
                } else
                        r = fb_job_add(j, name, driver);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* No record: sysfb names a firmware framebuffer after its platform driver. */
static int add_observed(Step *s, FbJob *j) {
        const Machine *m = step_machine(s);
        int r;

        for (size_t i = 0; i < m->n_fbs; i++) {
                const char *name = m->fbs[i].name, *dot = strrchr(name, '.');
                _cleanup_free_ char *driver = NULL, *dir = NULL;

                if (m->fbs[i].driver || !dot)
                        continue;
                driver = strndup(name, dot - name);
                if (!driver || asprintf(&dir, PLATFORM_DRIVERS_DIR "/%s", driver) < 0)
                        return -ENOMEM;
                r = sysfs_exists(step_root(s), dir);
                if (r < 0)
                        return step_error_errno(s, r, "Failed to check for %s: %m", dir);
                if (r == 0) {
                        log_info("%s is unbound and no platform driver %s is registered: leaving it.",
                                 name, driver);
                        continue;
                }
                r = fb_job_add(j, name, driver);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int firmware_fb_to_host(Step *s) {
        _cleanup_(fb_job_freep) FbJob *j = NULL;
        int r;

        r = fb_job_new(true, &j);
        if (r < 0)
                return r;
        r = step_has_record(s) ? add_recorded(s, j) : add_observed(s, j);
        if (r < 0)
                return r;
        return run(s, TAKE_PTR(j));
}

const Stage stage_firmware_fb = {
        .name = "firmware-fb",
        .observe_on_loop = true,
        .summary = "firmware framebuffer",
        .observe = firmware_fb_observe,
        .to_guest = firmware_fb_to_guest,
        .to_host = firmware_fb_to_host,
};
