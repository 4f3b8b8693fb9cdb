/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfio: every endpoint function of the GPU's IOMMU group goes to vfio-pci.
 *
 * On the host, the GPU and its other functions (HDMI audio, USB-C) have their native
 * drivers. to_guest refuses, before recording or changing anything, when the group holds an
 * endpoint that is not part of the graphics card (it would leave the host too), unless
 * allow-foreign-devices = yes in [gpu] of baton.conf (or BATON_VFIO_ALLOW_FOREIGN=1, which the
 * front ends put into the Config: core/config-file.h).
 * It loads vfio_pci and vfio_iommu_type1 with libkmod, then takes one device after the other:
 * writes vfio-pci to its driver_override, unbinds it from its driver (a blocking write, in a
 * worker with the "unbind" deadline), writes its address to /sys/bus/pci/drivers_probe (the
 * "probe" deadline) and checks its `driver` link, since drivers_probe reports success even
 * when nothing bound. PCI bridges keep their driver. At the end /dev/vfio/<group> must exist.
 *
 * to_host, for each recorded device in reverse order, restores its driver_override (a
 * lone "\n" clears it; sysfs reads "(null)" then), unbinds it from vfio-pci, writes it to
 * drivers_probe and checks that the recorded driver has it again; a device recorded with
 * driver "none" stays unbound. When the recorded driver is not registered (its module is
 * not loaded: the gpu-modules stage, which comes back after this one, loads it and the
 * driver binds then) the device stays unbound and that is logged. Without a record it
 * returns every group endpoint on vfio-pci or with driver_override vfio-pci, and accepts
 * any driver but vfio-pci, or none when no driver claims the device. The vfio modules stay
 * loaded: other guests may use them, and unloading them gains the host nothing.
 *
 * The reset ladder: when the recorded driver is registered and was offered the device, yet
 * the device has no driver, the driver's probe failed: a card a guest left in a state its
 * driver cannot initialise (AMD's reset bug) comes back only after a reset. to_host then
 * says so and walks, until the driver binds: a function reset through the device's sysfs
 * `reset` (present only when the kernel knows a reset method) and drivers_probe; then a
 * remove of the device from the bus and a rescan, which probes it afresh. Each rung is
 * logged; when the driver still does not bind the stage fails naming what it tried. A
 * recorded device missing from the bus (a ladder cut short between remove and rescan) gets
 * one rescan before its phases run. Without a record the wanted driver is unknown, so
 * there is no ladder.
 *
 * Journal: "module.<name>" = "present" or "absent" (to_guest loaded it), for each module;
 * per endpoint "driver.<address>" = its driver or "none", and "override.<address>" = its
 * driver_override, "" when unset.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "kmod-util.h"
#include "log.h"
#include "stage.h"
#include "strv.h"
#include "sysfs-util.h"
#include "config-file.h"
#include "vfio.h"

#define PCI_DEVICES_DIR "/sys/bus/pci/devices"
#define PCI_DRIVERS_DIR "/sys/bus/pci/drivers"
#define PCI_DRIVERS_PROBE "/sys/bus/pci/drivers_probe"
#define PCI_RESCAN "/sys/bus/pci/rescan"

/* vfio_iommu_type1 by name too: vfio declares it only as a soft dependency (MODULE_SOFTDEP),
 * which not every loader honours (busybox's modprobe does not), and
 * without it the group has no IOMMU backend for QEMU. */
static const char *const vfio_modules[] = { "vfio_pci", "vfio_iommu_type1" };

bool vfio_allow_foreign(const Config *c) {
        return c->allow_foreign_devices;
}

bool vfio_is_target(const GroupDevice *d) {
        return !d->is_bridge;
}

const GroupDevice *vfio_find_foreign(const IommuGroup *g) {
        for (size_t i = 0; i < g->n_devices; i++)
                if (vfio_is_target(&g->devices[i]) && !g->devices[i].is_card_function)
                        return &g->devices[i];
        return NULL;
}

bool vfio_driver_wanted(const char *want, const char *actual) {
        if (!want)
                return !streq_ptr(actual, VFIO_DRIVER);
        if (streq(want, VFIO_DRIVER_NONE))
                return !actual;
        return streq_ptr(want, actual);
}

StagePosition vfio_position(const Machine *m) {
        size_t n = 0, n_vfio = 0;

        if (!m->gpu)
                return STAGE_NOTHING_TO_DO;
        for (size_t i = 0; i < m->group.n_devices; i++) {
                const GroupDevice *d = &m->group.devices[i];

                if (!vfio_is_target(d))
                        continue;
                n++;
                if (streq_ptr(d->pci.driver, VFIO_DRIVER))
                        n_vfio++;
        }
        return n_vfio == 0 ? STAGE_AT_HOST : n_vfio == n ? STAGE_AT_GUEST : STAGE_MIXED;
}

static int module_loaded(const char *root, const char *name) {
        _cleanup_free_ char *path = NULL;

        /* Loaded modules, and built-in ones with parameters (both of ours have some). */
        if (asprintf(&path, "/sys/module/%s", name) < 0)
                return -ENOMEM;
        return sysfs_exists(root, path);
}

/* "0000:02:00.0 (nvme, nvme)": the address, the class by name where known, the driver. */
static int describe(const PciDevice *d, char **ret) {
        const char *class = pci_class_name(d->class);
        char hex[7];

        if (!class) {
                (void) snprintf(hex, sizeof(hex), "%06x", d->class);
                class = hex;
        }
        return asprintf(ret, "%s (%s, %s)", d->address, class, d->driver ?: "no driver") < 0 ? -ENOMEM : 0;
}

static int foreign_reason(const Machine *m, const GroupDevice *d, char **ret) {
        _cleanup_free_ char *what = NULL;
        int r;

        r = describe(&d->pci, &what);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s shares IOMMU group %d with the GPU %s but is not part of the graphics card",
                     what, m->group.number, m->gpu->address) < 0)
                return -ENOMEM;
        return 0;
}

static int plan_refusals(const Machine *m, char ***plan) {
        int r;

        for (size_t i = 0; i < m->group.n_devices; i++) {
                const GroupDevice *d = &m->group.devices[i];
                _cleanup_free_ char *reason = NULL;

                if (!vfio_is_target(d) || d->is_card_function)
                        continue;
                r = foreign_reason(m, d, &reason);
                if (r < 0)
                        return r;
                r = strv_extendf(plan, "refuse: %s (" VFIO_ALLOW_FOREIGN_ADVICE " hands it over too)", reason);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int plan_device(const GroupDevice *d, char ***plan) {
        _cleanup_free_ char *what = NULL;
        const char *drv = d->pci.driver;
        int r;

        r = describe(&d->pci, &what);
        if (r < 0)
                return r;
        if (d->is_bridge)
                return strv_extendf(plan, "%s: a PCI bridge, keeps its driver", what);
        if (streq_ptr(drv, VFIO_DRIVER))
                return strv_extendf(plan, "%s: on vfio-pci already", what);
        return strv_extendf(plan, "%s: %s%s%sbind to vfio-pci%s", what, drv ? "unbind from " : "",
                            strempty(drv), drv ? ", " : "", d->is_card_function ? "" : " (not part of the card)");
}

static int plan_group(const Machine *m, bool allow_foreign, char ***plan) {
        int r;

        if (!allow_foreign) {
                r = plan_refusals(m, plan);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(vfio_modules); i++)
                if (module_loaded(m->root, vfio_modules[i]) <= 0) {
                        r = strv_extendf(plan, "load module %s", vfio_modules[i]);
                        if (r < 0)
                                return r;
                }
        for (size_t i = 0; i < m->group.n_devices; i++) {
                r = plan_device(&m->group.devices[i], plan);
                if (r < 0)
                        return r;
        }
        return strv_extendf(plan, "check that /dev/vfio/%d appears", m->group.number);
}

int vfio_plan(const Machine *m, bool allow_foreign, char ***ret) {
        _cleanup_strv_free_ char **plan = NULL;
        int r = 0;

        if (m->gpu && m->group.number < 0)
                r = strv_extendf(&plan, "refuse: the GPU %s has no IOMMU group "
                                 "(enable the IOMMU: intel_iommu=on or amd_iommu=on)", m->gpu->address);
        else if (m->gpu)
                r = plan_group(m, allow_foreign, &plan);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(plan);
        return 0;
}

static int vfio_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                        StagePosition *ret_pos, char ***ret_plan) {
        int r;

        r = vfio_plan(m, vfio_allow_foreign(ctx->config), ret_plan);
        if (r < 0)
                return r;
        *ret_pos = vfio_position(m);
        return 0;
}

/* --- Acting --- */

/* One device's way to its position. */
typedef struct Target {
        char *address;
        char *override;         /* written to driver_override; NULL: cleared */
        char *want;             /* the driver it must end up with: see vfio_driver_wanted() */
        bool deferred;          /* to_host: the wanted driver is not registered: stays unbound */
        bool ladder;            /* to_host: its driver's probe failed: the reset ladder runs */
        bool did_reset;         /* the ladder's function reset went through */
} Target;

typedef enum Phase {
        PHASE_OVERRIDE,
        PHASE_UNBIND,
        PHASE_PROBE,
        PHASE_VERIFY,
        /* The reset ladder, to_host only, when the driver did not take the device back
         * (each phase does nothing unless Target.ladder is set): */
        PHASE_RESET,            /* a function reset through its sysfs reset */
        PHASE_RESET_PROBE,      /* drivers_probe after it */
        PHASE_RESET_VERIFY,
        PHASE_REMOVE,           /* then the device leaves the bus */
        PHASE_RESCAN,           /* and a rescan brings it back, probed afresh */
        PHASE_LADDER_VERIFY,
        _PHASE_MAX,
} Phase;

/* The devices in order, and where the current one is; outlives to_guest()/to_host()
 * while a blocking write runs (step userdata). */
typedef struct Job {
        bool to_guest;
        int group;              /* to_guest: /dev/vfio/<group> must exist at the end */
        Target *targets;
        size_t n, current;
        Phase phase;
        char *unbinding;        /* the driver the current device is leaving, for errors */
        bool rescanning;        /* to_host: a rescan for a device missing from the bus runs */
} Job;

static void job_free(void *p) {
        Job *j = p;

        if (!j)
                return;
        for (size_t i = 0; i < j->n; i++) {
                free(j->targets[i].address);
                free(j->targets[i].override);
                free(j->targets[i].want);
        }
        free(j->targets);
        free(j->unbinding);
        free(j);
}

static inline void job_freep(Job **j) {
        job_free(*j);
}

static int job_new(bool to_guest, int group, Job **ret) {
        Job *j = calloc(1, sizeof(Job));

        if (!j)
                return -ENOMEM;
        *j = (Job) { .to_guest = to_guest, .group = group };
        *ret = j;
        return 0;
}

static int job_add(Job *j, const char *address, const char *override, const char *want) {
        Target *t = array_append(&j->targets, &j->n, sizeof(Target));

        if (!t)
                return -ENOMEM;
        t->address = strdup(address);
        t->override = override ? strdup(override) : NULL;
        t->want = want ? strdup(want) : NULL;
        if (!t->address || (override && !t->override) || (want && !t->want))
                return -ENOMEM;
        return 0;
}

static int crash_point(Step *s, const char *what, const char *address) {
        _cleanup_free_ char *label = NULL;

        if (asprintf(&label, "%s %s", what, address) < 0)
                return -ENOMEM;
        step_crash_point(s, label);
        return 0;
}

static int read_device(Step *s, const char *address, PciDevice *ret) {
        int r;

        r = pci_device_read(step_root(s), address, ret);
        if (r < 0)
                return step_error_errno(s, r, "Failed to read PCI device %s: %m", address);
        return 0;
}

static void write_done(Step *s, int r, void *userdata);

/* Writes value (the current device's address when NULL) to path in a worker. */
static int start_write_value(Step *s, Job *j, const char *path, const char *value, DeadlineKind deadline) {
        const char *v = value ?: j->targets[j->current].address;
        int r;

        r = step_write_async(s, path, v, step_deadline_usec(s, deadline), write_done, j);
        if (r < 0)
                return step_error_errno(s, r, "Failed to start writing %s to %s: %m", v, path);
        return STEP_PENDING;
}

static int start_write(Step *s, Job *j, const char *path, DeadlineKind deadline) {
        return start_write_value(s, j, path, NULL, deadline);
}

static int phase_override(Step *s, Job *j, Target *t) {
        _cleanup_(pci_device_done) PciDevice d = {};
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, PCI_DEVICES_DIR "/%s/driver_override", t->address) < 0)
                return -ENOMEM;
        /* A lone newline clears the override: sysfs reads "(null)" afterwards. */
        r = step_write(s, path, t->override ?: "\n");
        if (r < 0)
                return step_error_errno(s, r, "Failed to set the driver_override of %s to %s: %m",
                                        t->address, t->override ?: "(null)");
        r = read_device(s, t->address, &d);
        if (r < 0)
                return r;
        if (!streq_ptr(d.driver_override, t->override))
                return step_error_errno(s, SYNTHETIC_ERRNO(EIO),
                                        "The driver_override of %s reads %s after writing %s",
                                        t->address, d.driver_override ?: "(null)", t->override ?: "(null)");
        return crash_point(s, "driver_override", t->address);
}

static int phase_unbind(Step *s, Job *j, Target *t) {
        _cleanup_(pci_device_done) PciDevice d = {};
        _cleanup_free_ char *path = NULL;
        int r;

        r = read_device(s, t->address, &d);
        if (r < 0)
                return r;
        if (!d.driver || vfio_driver_wanted(t->want, d.driver))
                return 0;
        /* On the way back only vfio-pci lets go; another driver is for the check to name. */
        if (!j->to_guest && !streq(d.driver, VFIO_DRIVER))
                return 0;

        free(j->unbinding);
        j->unbinding = TAKE_PTR(d.driver);
        if (asprintf(&path, PCI_DEVICES_DIR "/%s/driver/unbind", t->address) < 0)
                return -ENOMEM;
        return start_write(s, j, path, DEADLINE_UNBIND);
}

static int driver_registered(Step *s, const char *driver) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, PCI_DRIVERS_DIR "/%s", driver) < 0)
                return -ENOMEM;
        return sysfs_exists(step_root(s), path);
}

static int phase_probe(Step *s, Job *j, Target *t) {
        _cleanup_(pci_device_done) PciDevice d = {};
        int r;

        r = read_device(s, t->address, &d);
        if (r < 0)
                return r;
        if (d.driver)
                return 0;
        if (!j->to_guest && t->want) {
                if (streq(t->want, VFIO_DRIVER_NONE))
                        return 0;       /* it had no driver before the handover either */
                r = driver_registered(s, t->want);
                if (r < 0)
                        return step_error_errno(s, r, "Failed to check for driver %s: %m", t->want);
                if (r == 0) {
                        log_info("%s stays unbound: driver %s is not loaded; it binds when its module loads.",
                                 t->address, t->want);
                        t->deferred = true;
                        return 0;
                }
        }
        return start_write(s, j, PCI_DRIVERS_PROBE, DEADLINE_PROBE);
}

static int phase_verify(Step *s, Job *j, Target *t) {
        _cleanup_(pci_device_done) PciDevice d = {};
        int r;

        r = read_device(s, t->address, &d);
        if (r < 0)
                return r;
        if (vfio_driver_wanted(t->want, d.driver) || (t->deferred && !d.driver))
                return 0;
        /* Its driver is there and the device was offered to it, yet it has none: the
         * driver's probe failed. A card a guest left in a state its driver cannot
         * initialise (AMD's reset bug) comes back only after a reset. */
        if (!j->to_guest && !d.driver && t->want && !streq(t->want, VFIO_DRIVER_NONE)) {
                step_warning(s, "%s did not bind to %s: its probe failed (the kernel log says why). Walking "
                             "the reset ladder: a function reset, then a remove and rescan of the device.",
                             t->address, t->want);
                t->ladder = true;
                return 0;
        }
        return step_error_errno(s, SYNTHETIC_ERRNO(EIO), "%s has driver %s, expected %s",
                                t->address, d.driver ?: "none",
                                t->want ?: "any driver but " VFIO_DRIVER);
}

/* --- The reset ladder: each rung only while Target.ladder is set --- */

static int device_path(const char *address, const char *attr, char **ret) {
        return asprintf(ret, PCI_DEVICES_DIR "/%s/%s", address, attr) < 0 ? -ENOMEM : 0;
}

static int phase_reset(Step *s, Job *j, Target *t) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!t->ladder)
                return 0;
        r = device_path(t->address, "reset", &path);
        if (r < 0)
                return r;
        /* The kernel offers `reset` only when the device has a reset method (FLR, PM,
         * a bus or slot reset, a device-specific one). */
        r = sysfs_exists(step_root(s), path);
        if (r < 0)
                return step_error_errno(s, r, "Failed to check for %s: %m", path);
        if (r == 0) {
                log_notice("Reset ladder, %s: no function reset (the device has no reset method).", t->address);
                return 0;
        }
        log_notice("Reset ladder, %s: function reset through %s.", t->address, path);
        return start_write_value(s, j, path, "1", DEADLINE_PROBE);
}

static int phase_reset_probe(Step *s, Job *j, Target *t) {
        if (!t->ladder || !t->did_reset)
                return 0;
        return start_write(s, j, PCI_DRIVERS_PROBE, DEADLINE_PROBE);
}

/* Whether the ladder is done with t: its driver has it. */
static int ladder_check(Step *s, Target *t, const char *after) {
        _cleanup_(pci_device_done) PciDevice d = {};
        int r;

        r = read_device(s, t->address, &d);
        if (r < 0)
                return r;
        if (!vfio_driver_wanted(t->want, d.driver))
                return 0;
        log_notice("Reset ladder, %s: bound to %s again after %s.", t->address, d.driver, after);
        t->ladder = false;
        return 1;
}

static int phase_reset_verify(Step *s, Job *j, Target *t) {
        int r;

        if (!t->ladder || !t->did_reset)
                return 0;
        r = ladder_check(s, t, "a function reset");
        if (r == 0)
                log_notice("Reset ladder, %s: still no driver after a function reset.", t->address);
        return r < 0 ? r : 0;
}

static int phase_remove(Step *s, Job *j, Target *t) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!t->ladder)
                return 0;
        r = device_path(t->address, "remove", &path);
        if (r < 0)
                return r;
        log_notice("Reset ladder, %s: removing it from the PCI bus, then rescanning.", t->address);
        return start_write_value(s, j, path, "1", DEADLINE_UNBIND);
}

static int phase_rescan(Step *s, Job *j, Target *t) {
        if (!t->ladder)
                return 0;
        return start_write_value(s, j, PCI_RESCAN, "1", DEADLINE_PROBE);
}

static int phase_ladder_verify(Step *s, Job *j, Target *t) {
        int r;

        if (!t->ladder)
                return 0;
        r = ladder_check(s, t, "a remove and rescan");
        if (r != 0)
                return r < 0 ? r : 0;
        return step_error_errno(s, SYNTHETIC_ERRNO(EIO),
                                "%s has no driver after the reset ladder (function reset %s, "
                                "remove and rescan done), expected %s: the card needs a reboot",
                                t->address, t->did_reset ? "done" : "not available", t->want);
}

typedef int (*phase_func_t)(Step *s, Job *j, Target *t);

static const phase_func_t phases[_PHASE_MAX] = {
        [PHASE_OVERRIDE] = phase_override,
        [PHASE_UNBIND] = phase_unbind,
        [PHASE_PROBE] = phase_probe,
        [PHASE_VERIFY] = phase_verify,
        [PHASE_RESET] = phase_reset,
        [PHASE_RESET_PROBE] = phase_reset_probe,
        [PHASE_RESET_VERIFY] = phase_reset_verify,
        [PHASE_REMOVE] = phase_remove,
        [PHASE_RESCAN] = phase_rescan,
        [PHASE_LADDER_VERIFY] = phase_ladder_verify,
};

static int check_group_node(Step *s, int group) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "/dev/vfio/%d", group) < 0)
                return -ENOMEM;
        r = sysfs_exists(step_root(s), path);
        if (r < 0)
                return step_error_errno(s, r, "Failed to check for %s: %m", path);
        if (r == 0)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOENT),
                                        "%s does not exist after binding IOMMU group %d to vfio-pci", path, group);
        return 0;
}

/* A recorded device that is no longer there (after a rescan) has nothing to return to. */
static bool device_gone(Step *s, const char *address) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, PCI_DEVICES_DIR "/%s", address) < 0 || sysfs_exists(step_root(s), path) != 0)
                return false;   /* there, or unknown: the phases will say what fails */
        return true;
}

/* Runs the phases from where the job stands: STEP_PENDING while a write runs, else done. */
static int advance(Step *s, Job *j) {
        int r;

        for (; j->current < j->n; j->current++, j->phase = PHASE_OVERRIDE) {
                Target *t = &j->targets[j->current];

                if (!j->to_guest && j->phase == PHASE_OVERRIDE && device_gone(s, t->address)) {
                        /* Removed by a reset ladder that a crash cut short: one rescan
                         * brings it back, then its phases run. */
                        if (!j->rescanning) {
                                log_notice("%s is not on the PCI bus: rescanning it.", t->address);
                                j->rescanning = true;
                                return start_write_value(s, j, PCI_RESCAN, "1", DEADLINE_PROBE);
                        }
                        step_warning(s, "%s is gone, ignoring.", t->address);
                        continue;
                }
                for (; j->phase < _PHASE_MAX; j->phase++) {
                        r = phases[j->phase](s, j, t);
                        if (r != 0)
                                return r;
                }
        }
        return j->to_guest ? check_group_node(s, j->group) : 0;
}

/* The blocking write of the current phase ended with r. */
static int check_write(Step *s, Job *j, int r) {
        _cleanup_(pci_device_done) PciDevice d = {};
        Target *t = &j->targets[j->current];
        const char *address = t->address;

        switch (j->phase) {
        case PHASE_RESET:
                /* A failed rung is no failure: the next one may work. */
                if (r < 0)
                        step_warning_errno(s, r, "Reset ladder, %s: the function reset failed: %m", address);
                t->did_reset = r >= 0;
                return r < 0 ? 0 : crash_point(s, "reset", address);
        case PHASE_RESET_PROBE:
                if (r < 0)
                        step_warning_errno(s, r, "drivers_probe for %s after its reset failed: %m", address);
                return crash_point(s, "drivers_probe after reset", address);
        case PHASE_REMOVE:
                if (r < 0)
                        return step_error_errno(s, r, "Failed to remove %s from the PCI bus: %m", address);
                return 0;       /* no crash point: rescan must follow; advance() rescans after a crash */
        case PHASE_RESCAN:
                if (r < 0)
                        return step_error_errno(s, r, "Failed to rescan the PCI bus for %s: %m", address);
                if (device_gone(s, address))
                        return step_error_errno(s, SYNTHETIC_ERRNO(ENODEV),
                                                "%s did not come back after a rescan "
                                                "of the PCI bus", address);
                return crash_point(s, "rescanned", address);
        default:
                break;
        }

        if (j->phase == PHASE_PROBE && r == -ETIMEDOUT)
                return step_error_errno(s, r,
                                        "drivers_probe for %s did not finish within the probe deadline "
                                        "(%.0f s): a driver's probe() is stuck", address,
                                        step_deadline_usec(s, DEADLINE_PROBE) / 1e6);
        /* On the way back a driver whose probe failed may fail the write too: the
         * check after it decides, and the reset ladder acts on it. */
        if (j->phase == PHASE_PROBE && r < 0 && !j->to_guest)
                step_warning_errno(s, r, "drivers_probe for %s failed: %m", address);
        else if (j->phase == PHASE_PROBE && r < 0)
                return step_error_errno(s, r, "Failed to probe drivers for %s: %m", address);
        if (j->phase == PHASE_PROBE)
                return crash_point(s, "drivers_probe", address);

        if (r == -ETIMEDOUT)
                return step_error_errno(s, r,
                                        "Unbinding %s from %s did not finish within the unbind deadline "
                                        "(%.0f s): the driver's remove() is stuck, waiting on something that "
                                        "still uses the device", address, j->unbinding,
                                        step_deadline_usec(s, DEADLINE_UNBIND) / 1e6);
        if (r < 0)
                return step_error_errno(s, r, "Failed to unbind %s from %s: %m", address, j->unbinding);
        r = read_device(s, address, &d);
        if (r < 0)
                return r;
        if (d.driver)
                return step_error_errno(s, SYNTHETIC_ERRNO(EBUSY),
                                        "%s is still bound to %s after unbinding it",
                                        address, d.driver);
        return crash_point(s, "unbound", address);
}

static void write_done(Step *s, int r, void *userdata) {
        Job *j = userdata;

        if (j->rescanning && j->phase == PHASE_OVERRIDE) {
                /* The rescan for a missing device: advance() looks at it again. */
                if (r < 0)
                        step_warning_errno(s, r, "Failed to rescan the PCI bus: %m");
                r = advance(s, j);
                if (r != STEP_PENDING)
                        step_finish(s, r);
                return;
        }
        r = check_write(s, j, r);
        if (r >= 0) {
                j->phase++;
                r = advance(s, j);
        }
        if (r != STEP_PENDING)
                step_finish(s, r);
}

/* Hands the job to the step, which frees it when it ends, and runs it. */
static int run(Step *s, Job *j) {
        step_set_userdata(s, j, job_free);
        return advance(s, j);
}

static int refuse_unless_possible(const StageContext *ctx, const Machine *m) {
        _cleanup_free_ char *reason = NULL;
        const GroupDevice *f;
        int r;

        if (!m->gpu)
                return stage_error_errno(ctx, SYNTHETIC_ERRNO(ENODEV),
                                         "No display-class GPU: nothing to hand over");
        if (m->group.number < 0)
                return stage_error_errno(ctx, SYNTHETIC_ERRNO(ENODEV),
                                         "The GPU %s has no IOMMU group: enable the IOMMU "
                                         "(intel_iommu=on or amd_iommu=on) to hand it over", m->gpu->address);
        f = vfio_find_foreign(&m->group);
        if (!f || vfio_allow_foreign(ctx->config))
                return 0;
        r = foreign_reason(m, f, &reason);
        if (r < 0)
                return r;
        return stage_error_errno(ctx, SYNTHETIC_ERRNO(EPERM), "Refusing to hand over: %s; set "
                                 VFIO_ALLOW_FOREIGN_ADVICE " to give it to the guest too", reason);
}

static int vfio_preflight(StageInstance *self, const StageContext *ctx, const Machine *m, PreflightMode mode) {
        return refuse_unless_possible(ctx, m);
}

static int record(Step *s, const char *prefix, const char *name, const char *value) {
        _cleanup_free_ char *key = NULL;
        int r;

        if (asprintf(&key, "%s%s", prefix, name) < 0)
                return -ENOMEM;
        r = step_record(s, key, value);
        if (r < 0)
                return step_error_errno(s, r, "Failed to record %s: %m", key);
        return 0;
}

static int record_host(Step *s, const Machine *m) {
        int r;

        for (size_t i = 0; i < ELEMENTSOF(vfio_modules); i++) {
                r = module_loaded(step_root(s), vfio_modules[i]);
                if (r < 0)
                        return step_error_errno(s, r, "Failed to check for module %s: %m", vfio_modules[i]);
                r = record(s, "module.", vfio_modules[i], r > 0 ? "present" : "absent");
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < m->group.n_devices; i++) {
                const PciDevice *d = &m->group.devices[i].pci;

                if (!vfio_is_target(&m->group.devices[i]))
                        continue;
                r = record(s, "driver.", d->address, d->driver ?: VFIO_DRIVER_NONE);
                if (r >= 0)
                        r = record(s, "override.", d->address, strempty(d->driver_override));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_module(Step *s, struct kmod_ctx *ctx, const char *name) {
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
        int r;

        r = sym_kmod_module_new_from_name(ctx, name, &mod);
        if (r < 0)
                return step_error_errno(s, r, "Failed to look up module %s: %m", name);
        /* No KMOD_PROBE_APPLY_BLACKLIST: a blacklist entry keeps vfio-pci from being
         * autoloaded, not from an explicit load (modprobe does the same). */
        r = sym_kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
        if (r < 0)
                return step_error_errno(s, r, "Failed to load module %s: %m", name);
        r = module_loaded(step_root(s), name);
        if (r < 0)
                return step_error_errno(s, r, "Failed to check for module %s: %m", name);
        if (r == 0)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOENT),
                                        "Module %s is not there after loading it", name);
        return crash_point(s, "loaded module", name);
}

/* Synchronously: the init of vfio_pci and vfio_iommu_type1 touches no hardware. */
static int load_modules(Step *s) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        int r;

        /* Modules go into the running kernel, whatever root the machine is read from. */
        if (!step_is_live(s)) {
                log_notice("Not loading the vfio modules: %s is not the live root.", step_root(s));
                return 0;
        }
        ctx = kmod_context_new();
        if (!ctx)
                return step_error_errno(s, -errno, "Failed to set up libkmod: %m");
        for (size_t i = 0; i < ELEMENTSOF(vfio_modules); i++) {
                if (module_loaded(step_root(s), vfio_modules[i]) > 0)
                        continue;
                r = load_module(s, ctx, vfio_modules[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int vfio_to_guest(Step *s) {
        const Machine *m = step_machine(s);
        _cleanup_(job_freep) Job *j = NULL;
        int r;

        r = refuse_unless_possible(step_context(s), m);
        if (r < 0)
                return r;
        r = record_host(s, m);
        if (r < 0)
                return r;
        r = step_commit(s);
        if (r < 0)
                return step_error_errno(s, r, "Failed to commit the vfio record: %m");

        r = load_modules(s);
        if (r < 0)
                return r;
        r = job_new(true, m->group.number, &j);
        for (size_t i = 0; r >= 0 && i < m->group.n_devices; i++)
                if (vfio_is_target(&m->group.devices[i]))
                        r = job_add(j, m->group.devices[i].pci.address, VFIO_DRIVER, VFIO_DRIVER);
        if (r < 0)
                return r;
        return run(s, TAKE_PTR(j));
}

#define DRIVER_KEY "driver."

bool vfio_recorded_address_valid(const IommuGroup *g, const char *address) {
        for (size_t i = 0; i < g->n_devices; i++)
                if (streq(g->devices[i].pci.address, address))
                        return vfio_is_target(&g->devices[i]);
        return false;
}

/* The recorded devices, last first: back in the reverse order of the handover. */
static int add_recorded(Step *s, Job *j) {
        _cleanup_strv_free_ char **keys = step_keys(s, DRIVER_KEY);
        const Machine *m = step_machine(s);
        int r;

        for (size_t i = strv_length(keys); i > 0; i--) {
                const char *address = keys[i - 1] + strlen(DRIVER_KEY), *override;
                _cleanup_free_ char *key = NULL;

                /* Row 9 of issue 19: the journal is root's, but a device it names is touched
                 * only when the machine confirms it is an endpoint of the GPU's group.
                 * A record that names another device is skipped with a warning, not failed:
                 * no later recover could use it either, and the journal must clear. */
                if (!vfio_recorded_address_valid(&m->group, address)) {
                        step_warning(s,
                                     "The journal names %s, which is not an endpoint of the GPU's IOMMU group "
                                     "%i: not touching it.", address, m->group.number);
                        continue;
                }

                if (asprintf(&key, "override.%s", address) < 0)
                        return -ENOMEM;
                override = step_get(s, key);
                r = job_add(j, address, isempty(override) ? NULL : override, step_get(s, keys[i - 1]));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* No record: whatever of the group is on vfio-pci, or set to go there. */
static int add_observed(const Machine *m, Job *j) {
        int r;

        for (size_t i = m->group.n_devices; i > 0; i--) {
                const GroupDevice *d = &m->group.devices[i - 1];

                if (!vfio_is_target(d) || (!streq_ptr(d->pci.driver, VFIO_DRIVER) &&
                                           !streq_ptr(d->pci.driver_override, VFIO_DRIVER)))
                        continue;
                r = job_add(j, d->pci.address, NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int vfio_to_host(Step *s) {
        _cleanup_(job_freep) Job *j = NULL;
        int r;

        r = job_new(false, -1, &j);
        if (r < 0)
                return r;
        r = step_has_record(s) ? add_recorded(s, j) : add_observed(step_machine(s), j);
        if (r < 0)
                return r;
        return run(s, TAKE_PTR(j));
}

const Stage stage_vfio = {
        .name = "vfio",
        .observe_on_loop = true,
        .summary = "vfio-pci for the IOMMU group",
        .preflight = vfio_preflight,
        .observe = vfio_observe,
        .to_guest = vfio_to_guest,
        .to_host = vfio_to_host,
};
