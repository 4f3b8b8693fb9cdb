/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpu-modules: unloads the kernel modules of a GPU driver that cannot simply be unbound.
 * nvidia cannot be unbound while in use and keeps state across an unbind, so before the
 * GPU goes to vfio-pci its whole stack leaves the kernel: nvidia_drm, nvidia_modeset,
 * nvidia_uvm, nvidia_peermem, nvidia, those that are loaded, each after the modules that
 * hold it. Every other driver (amdgpu, nouveau, radeon, i915, bochs-drm, snd_hda_intel) is
 * only unbound by the vfio stage and its module stays loaded: nothing to do here.
 *
 * Records "driver" (the GPU's driver, "nvidia") and "loaded" (the modules it found loaded,
 * in unload order: "nvidia_drm,nvidia_modeset,nvidia") before unloading anything. to_host
 * loads the recorded modules in reverse order, skipping those already live, so it
 * converges from any point of to_guest; loading nvidia binds it to the GPU again. Without
 * a record it changes nothing: which driver the GPU had is not observable any more.
 *
 * Each module is unloaded or loaded by a forked worker, watched by a pidfd with the
 * "module" deadline: a module's exit or init runs the driver's remove() or probe() on the
 * GPU, which can hang on a card that did not reset. The loop stays responsive meanwhile. */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gpu-modules.h"
#include "log.h"
#include "parse-util.h"
#include "child.h"
#include "stage.h"
#include "strv.h"
#include "sysfs-util.h"

/* --- Policy and module state: pure or read-only, unit-tested --- */

/* nvidia_drm holds nvidia_modeset; nvidia_modeset, nvidia_uvm and nvidia_peermem (GPUDirect
 * RDMA, rare on desktops) hold nvidia. */
static const char *const nvidia_modules[] = {
        "nvidia_drm", "nvidia_modeset", "nvidia_uvm", "nvidia_peermem", "nvidia", NULL,
};

const char *const *gpu_modules_for_driver(const char *driver) {
        if (driver && streq(driver, "nvidia"))
                return nvidia_modules;
        return NULL;
}

void gpu_module_state_done(GpuModuleState *s) {
        s->holders = strv_free(s->holders);
}

static int parse_initstate(const char *s) {
        if (streq(s, "live"))
                return KMOD_MODULE_LIVE;
        if (streq(s, "coming"))
                return KMOD_MODULE_COMING;
        if (streq(s, "going"))
                return KMOD_MODULE_GOING;
        return -EBADMSG;
}

/* initstate of /sys/module/NAME below root, as libkmod tells it: a directory without
 * initstate is a built-in module's (its parameters live there), no directory is no module. */
static int read_initstate(const char *root, const char *dir) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = sysfs_read_attr(root, dir, "initstate", &s);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r > 0)
                return parse_initstate(s);
        r = sysfs_exists(root, dir);
        if (r < 0)
                return r;
        return r > 0 ? KMOD_MODULE_BUILTIN : -ENOENT;
}

int gpu_module_query(const char *root, const char *name, GpuModuleState *ret) {
        _cleanup_free_ char *dir = NULL, *holders = NULL, *refcnt = NULL;
        GpuModuleState st = { .initstate = -ENOENT, .refcnt = -1 };
        int r;

        /* Names come from the static policy or a parsed journal value: never a path. */
        if (isempty(name) || strchr(name, '/') || name[0] == '.')
                return -EINVAL;
        /* Read by hand rather than through libkmod, which only knows the live /sys/module:
         * plan and status also read fixture trees and other roots. */
        if (asprintf(&dir, "/sys/module/%s", name) < 0 || asprintf(&holders, "%s/holders", dir) < 0)
                return -ENOMEM;

        r = read_initstate(root, dir);
        if (r == -ENOENT || r == KMOD_MODULE_BUILTIN) {
                st.initstate = r;
                *ret = st;
                return 0;
        }
        if (r < 0)
                return r;
        st.initstate = r;

        r = sysfs_read_attr(root, dir, "refcnt", &refcnt);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r > 0) {
                unsigned u;

                r = safe_atou(refcnt, 10, &u);
                if (r < 0 || u > INT_MAX)
                        return -EBADMSG;
                st.refcnt = (int) u;
        } else {
                /* No refcnt while initstate is there: a kernel built without
                 * CONFIG_MODULE_UNLOAD, whose modules stay for good. Unless the module
                 * went away between the two reads. */
                r = read_initstate(root, dir);
                if (r == -ENOENT) {
                        *ret = (GpuModuleState) { .initstate = -ENOENT, .refcnt = -1 };
                        return 0;
                }
                if (r < 0)
                        return r;
                st.no_unload = true;
        }

        /* Without module unloading the kernel keeps no holders links either. */
        r = sysfs_list_dir(root, holders, NULL, &st.holders);
        if (r < 0 && r != -ENOENT)
                return r;
        *ret = st;
        return 0;
}

static const char *first_foreign(char * const *holders, char * const *unloading) {
        STRV_FOREACH(h, holders)
                if (!strv_contains(unloading, *h))
                        return *h;
        return NULL;
}

int gpu_module_busy_reason(const GpuModuleState *st, char * const *unloading, char **ret) {
        _cleanup_free_ char *held = NULL;
        size_t n_holders = strv_length(st->holders);
        const char *foreign;
        int users, r;

        if (st->initstate == KMOD_MODULE_BUILTIN)
                return asprintf(ret, "built into the kernel") < 0 ? -ENOMEM : 1;
        if (st->no_unload)
                return asprintf(ret, "this kernel cannot unload modules: it has no refcnt for it, "
                                "as when built without CONFIG_MODULE_UNLOAD") < 0 ? -ENOMEM : 1;

        r = strv_join(st->holders, ", ", &held);
        if (r < 0)
                return r;
        /* Each module that uses another holds one reference on it (the kernel's ref_module()). */
        users = st->refcnt < 0 ? 0 : st->refcnt - (int) n_holders;
        foreign = first_foreign(st->holders, unloading);

        if (foreign)
                r = asprintf(ret, "refcount %d, held by %s: baton does not unload %s",
                             st->refcnt, held, foreign);
        else if (users > 0 && n_holders > 0)
                r = asprintf(ret, "refcount %d, held by %s: %d reference(s) besides those modules "
                             "(a process with the device open?)", st->refcnt, held, users);
        else if (users > 0)
                r = asprintf(ret, "refcount %d, no holders: still in use (a process with the device open?)",
                             st->refcnt);
        else {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return -ENOMEM;
        /* In use now, which the stages before may end (drm-idle waits for the holders). */
        return foreign ? 1 : 2;
}

int gpu_modules_parse_loaded(const char *driver, const char *value, char ***ret) {
        const char *const *policy = gpu_modules_for_driver(driver);
        _cleanup_strv_free_ char **names = NULL;
        const char *p = value;
        int r;

        if (!policy || isempty(value))
                return -EBADMSG;
        while (*p) {
                size_t n = strcspn(p, ",");
                _cleanup_free_ char *name = strndup(p, n);
                bool known = false;

                if (!name)
                        return -ENOMEM;
                for (const char *const *m = policy; *m; m++)
                        known = known || streq(*m, name);
                if (!known || strv_contains(names, name))
                        return -EBADMSG;
                r = strv_consume(&names, TAKE_PTR(name));
                if (r < 0)
                        return r;
                p += n;
                if (*p == ',' && *++p == '\0')
                        return -EBADMSG;        /* a trailing comma: a torn value */
        }
        *ret = TAKE_PTR(names);
        return 0;
}

/* The plan line of one module of the unload list. */
static int plan_module(const char *root, const char *name, char * const *unloading, char ***plan) {
        _cleanup_(gpu_module_state_done) GpuModuleState st = {};
        _cleanup_free_ char *reason = NULL;
        int r;

        r = gpu_module_query(root, name, &st);
        if (r < 0)
                return r;
        if (st.initstate == -ENOENT)
                return strv_extendf(plan, "%s is not loaded", name);
        if (st.no_unload)
                return strv_extendf(plan, "refuse: %s is loaded and this kernel cannot unload modules "
                                    "(no /sys/module/%s/refcnt: built without CONFIG_MODULE_UNLOAD)", name, name);
        r = gpu_module_busy_reason(&st, unloading, &reason);
        if (r < 0)
                return r;
        if (r == 2)
                return strv_extendf(plan, "unload %s once the processes using it are gone (%s)", name, reason);
        if (r > 0)
                return strv_extendf(plan, "cannot unload %s now (%s): the handover would fail", name, reason);
        return strv_extendf(plan, "unload %s", name);
}

static int plan_unload(const char *const *policy, const char *root, char ***plan) {
        _cleanup_free_ char *names = NULL;
        int r;

        r = strv_join((char * const *) policy, ", ", &names);
        if (r < 0)
                return r;
        r = sysfs_exists(root, "/sys/module");
        if (r < 0)
                return r;
        if (r == 0)
                return strv_extendf(plan, "unload those of %s that are loaded "
                                    "(no /sys/module below the root: module state unknown)", names);
        for (const char *const *name = policy; *name; name++) {
                r = plan_module(root, *name, (char * const *) policy, plan);
                if (r < 0)
                        return r;
        }
        return 0;
}

int gpu_modules_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                        StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL;
        const char *const *policy;
        const char *driver = m->gpu ? m->gpu->driver : NULL;
        StagePosition pos;
        int r;

        policy = gpu_modules_for_driver(driver);
        if (policy) {
                pos = STAGE_AT_HOST;
                r = plan_unload(policy, m->root, &plan);
        } else if (driver && streq(driver, "vfio-pci")) {
                pos = STAGE_AT_GUEST;
                r = strv_extend(&plan, "the GPU is on vfio-pci: its driver's modules are out of the way");
        } else if (driver) {
                pos = STAGE_NOTHING_TO_DO;
                r = strv_extendf(&plan, "%s: unbind only, module stays loaded", driver);
        } else {
                pos = STAGE_NOTHING_TO_DO;
                r = m->gpu ? strv_extend(&plan, "the GPU has no driver bound: no module to unload") : 0;
        }
        if (r < 0)
                return r;

        *ret_pos = pos;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

int gpu_modules_refuse(StageInstance *self, const StageContext *ctx, const Machine *m, PreflightMode mode) {
        const char *const *policy = gpu_modules_for_driver(m->gpu ? m->gpu->driver : NULL);
        int r;

        if (!policy)
                return 0;
        for (const char *const *name = policy; *name; name++) {
                _cleanup_(gpu_module_state_done) GpuModuleState st = {};
                _cleanup_free_ char *reason = NULL;

                r = gpu_module_query(m->root, *name, &st);
                if (r < 0)
                        return stage_error_errno(ctx, r, "Failed to read the state of module %s: %m", *name);
                if (st.initstate == -ENOENT)
                        continue;
                /* Its users are the business of the stages before; only what no stage can
                 * change refuses the handover now. */
                if (st.initstate != KMOD_MODULE_BUILTIN && !st.no_unload &&
                    !first_foreign(st.holders, (char * const *) policy))
                        continue;
                r = gpu_module_busy_reason(&st, (char * const *) policy, &reason);
                if (r < 0)
                        return stage_error_errno(ctx, r, "Failed to describe module %s: %m", *name);
                return stage_error_errno(ctx, SYNTHETIC_ERRNO(EPERM),
                                         "Refusing to hand over: the GPU %s needs module %s unloaded, and it "
                                         "cannot be: %s.", m->gpu->address, *name, strna(reason));
        }
        return 0;
}

/* --- The stage --- */

/* Modules to unload or load, one forked worker at a time. */
typedef struct ModuleChain {
        Step *step;
        GpuModuleOp op;
        struct kmod_ctx *ctx;
        char **names;                   /* in the order to act on */
        size_t pos;
        char *gpu;                      /* PCI address; NULL: no GPU to check */
        char *driver;                   /* the GPU's driver before the handover */
        ChildRun *worker;               /* NULL when none runs */
        uint64_t timeout_usec;
} ModuleChain;

static void module_chain_free(void *p) {
        ModuleChain *c = p;

        if (!c)
                return;
        /* A worker still running is stuck in the kernel: it cannot be killed, leave it. */
        child_run_free(c->worker);
        kmod_unrefp(&c->ctx);
        strv_free(c->names);
        free(c->gpu);
        free(c->driver);
        free(c);
}

static const char *op_verb(GpuModuleOp op) {
        return op == GPU_MODULE_UNLOAD ? "unload" : "load";
}

static void kmod_log(void *data, int priority, const char *file, int line, const char *fn,
                     const char *format, va_list args) _printf_(6, 0);
static void kmod_log(void *data, int priority, const char *file, int line, const char *fn,
                     const char *format, va_list args) {
        _cleanup_free_ char *msg = NULL;

        /* libkmod explains its failures; the caller decides what to report. */
        if (vasprintf(&msg, format, args) >= 0)
                log_debug("libkmod: %s", strstrip_end(msg));
}

static int kmod_context(struct kmod_ctx **ret) {
        struct kmod_ctx *ctx;

        ctx = kmod_context_new();
        if (!ctx)
                return -errno;
        sym_kmod_set_log_fn(ctx, kmod_log, NULL);
        *ret = ctx;
        return 0;
}

static int worker_unload(struct kmod_ctx *ctx, const char *name) {
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
        int r;

        r = sym_kmod_module_new_from_name(ctx, name, &mod);
        if (r < 0)
                return r;
        /* libkmod makes it O_NONBLOCK: a module in use fails at once instead of waiting. */
        return sym_kmod_module_remove_module(mod, 0);
}

static int worker_load(struct kmod_ctx *ctx, const char *name) {
        _cleanup_(kmod_module_unref_listp) struct kmod_list *list = NULL;
        struct kmod_list *l;
        int r;

        /* A lookup, not the bare name: distributions ship nvidia under another file name
         * with an alias (Debian's nvidia-current.ko). Options from modprobe.d apply. */
        r = sym_kmod_module_new_from_lookup(ctx, name, &list);
        if (r < 0)
                return r;
        if (!list)
                return -ENOENT;
        KMOD_LIST_FOREACH(l, list) {
                _cleanup_(kmod_module_unrefp) struct kmod_module *mod = sym_kmod_module_get_module(l);

                r = sym_kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int gpu_module_worker(void *userdata) {
        const GpuModuleWork *w = userdata;

        return w->op == GPU_MODULE_UNLOAD ? worker_unload(w->ctx, w->name) : worker_load(w->ctx, w->name);
}

static void on_worker_done(ChildRun *run, int r, const char *out, size_t size, void *userdata);

static int start_worker(ModuleChain *c, const char *name) {
        GpuModuleWork w = { .ctx = c->ctx, .op = c->op, .name = name };
        int r;

        log_info("%s %s.", c->op == GPU_MODULE_UNLOAD ? "Unloading" : "Loading", name);
        /* Left behind at its deadline, and not killed with baton: a module's exit or init
         * stuck in the kernel cannot be interrupted. */
        r = child_worker_async(step_event(c->step), c->timeout_usec, CHILD_LEAVE_BEHIND | CHILD_OUTLIVE,
                               gpu_module_worker, &w, on_worker_done, c, &c->worker);
        if (r < 0)
                return step_error_errno(c->step, r,
                                        "Failed to fork a worker to %s %s: %m", op_verb(c->op), name);
        return STEP_PENDING;
}

/* Whether the module should be acted on: 1 yes, 0 already where it should be. */
static int needs_action(ModuleChain *c, const char *name) {
        _cleanup_(gpu_module_state_done) GpuModuleState st = {};
        _cleanup_free_ char *reason = NULL;
        int r;

        r = gpu_module_query("/", name, &st);
        if (r < 0)
                return step_error_errno(c->step, r, "Failed to read the state of module %s: %m", name);
        if (c->op == GPU_MODULE_LOAD)
                return st.initstate != KMOD_MODULE_LIVE && st.initstate != KMOD_MODULE_BUILTIN;
        if (!gpu_module_loaded(&st))
                return 0;
        /* The modules that held it are gone by now: nothing may hold it any more. */
        r = gpu_module_busy_reason(&st, NULL, &reason);
        if (r < 0)
                return step_error_errno(c->step, r, "Failed to describe module %s: %m", name);
        if (r > 0)
                return step_error_errno(c->step, SYNTHETIC_ERRNO(EBUSY),
                                        "Cannot unload %s: %s", name, reason);
        return 1;
}

/* An action counts only when the kernel's state confirms it. */
static int verify_module(ModuleChain *c, const char *name) {
        _cleanup_(gpu_module_state_done) GpuModuleState st = {};
        int r;

        r = gpu_module_query("/", name, &st);
        if (r < 0)
                return step_error_errno(c->step, r, "Failed to read the state of module %s: %m", name);
        if (c->op == GPU_MODULE_UNLOAD && st.initstate != -ENOENT)
                return step_error_errno(c->step, SYNTHETIC_ERRNO(EBUSY),
                                        "%s is still in the kernel (%s) after its unload.",
                                        name, sym_kmod_module_initstate_str(st.initstate));
        if (c->op == GPU_MODULE_LOAD && st.initstate != KMOD_MODULE_LIVE && st.initstate != KMOD_MODULE_BUILTIN)
                return step_error_errno(c->step, SYNTHETIC_ERRNO(EIO),
                                        "%s is not live after loading it (%s).", name,
                                        st.initstate < 0 ? "not loaded" : sym_kmod_module_initstate_str(st.initstate));
        return 0;
}

static const PciDevice *find_pci(const Machine *m, const char *address) {
        for (size_t i = 0; i < m->n_pci; i++)
                if (streq(m->pci[i].address, address))
                        return &m->pci[i];
        return NULL;
}

/* Re-observes the GPU: without its modules it has no driver; with them, its driver again. */
static int verify_gpu(ModuleChain *c) {
        const PciDevice *d;
        const Machine *m;
        int r;

        if (!c->driver || !c->gpu)
                return 0;
        r = step_reobserve(c->step, &m);
        if (r < 0)
                return step_error_errno(c->step, r, "Failed to observe the machine again: %m");
        d = find_pci(m, c->gpu);
        if (!d)
                return step_error_errno(c->step, SYNTHETIC_ERRNO(ENODEV),
                                        "%s is gone from the PCI bus.", c->gpu);
        if (c->op == GPU_MODULE_UNLOAD && streq_ptr(d->driver, c->driver))
                return step_error_errno(c->step, SYNTHETIC_ERRNO(EBUSY),
                                        "%s is still bound to %s after its modules were unloaded.",
                                        c->gpu, c->driver);
        if (c->op == GPU_MODULE_LOAD && !streq_ptr(d->driver, c->driver))
                return step_error_errno(c->step, SYNTHETIC_ERRNO(ENODEV),
                                        "%s is bound to %s after loading %s, not to %s.",
                                        c->gpu, strna(d->driver), c->names[0], c->driver);
        return 0;
}

/* Acts on the next module that needs it; returns STEP_PENDING while a worker runs, 0 when
 * every module is where it should be. */
static int chain_next(ModuleChain *c) {
        int r;

        for (; c->names[c->pos]; c->pos++) {
                r = needs_action(c, c->names[c->pos]);
                if (r < 0)
                        return r;
                if (r > 0)
                        return start_worker(c, c->names[c->pos]);
                log_debug("%s is %s already.", c->names[c->pos], c->op == GPU_MODULE_UNLOAD ? "unloaded" : "loaded");
        }
        return verify_gpu(c);
}

static void on_worker_done(ChildRun *run, int r, const char *out, size_t size, void *userdata) {
        ModuleChain *c = userdata;
        const char *name = c->names[c->pos];
        pid_t pid = child_run_pid(run);
        char label[64];

        c->worker = child_run_free(run);
        if (r == -ETIMEDOUT) {
                step_finish(c->step, step_error_errno(c->step, r,
                                                      "Timed out after %.1fs waiting for the kernel to %s %s; "
                                                      "worker pid %i is left behind.",
                                                      c->timeout_usec / 1e6, op_verb(c->op), name, (int) pid));
                return;
        }
        /* A status lost (-EPROTO: killed by someone else) is no verdict: the module's state,
         * checked next, decides. */
        if (r == -EPROTO)
                r = 0;
        if (r == -ENOENT && c->op == GPU_MODULE_LOAD)
                r = step_error_errno(c->step, r, "Failed to load %s: no such module for this kernel.", name);
        else if (r < 0)
                r = step_error_errno(c->step, r, "Failed to %s %s: %m", op_verb(c->op), name);
        else
                r = verify_module(c, name);
        if (r < 0) {
                step_finish(c->step, r);
                return;
        }

        (void) snprintf(label, sizeof(label), "%sed %s", op_verb(c->op), name);
        step_crash_point(c->step, label);
        c->pos++;
        r = chain_next(c);
        if (r != STEP_PENDING)
                step_finish(c->step, r);
}

static int chain_new(Step *s, GpuModuleOp op, char **names, const char *driver, ModuleChain **ret) {
        const Machine *m = step_machine(s);
        ModuleChain *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                strv_free(names);
                return -ENOMEM;
        }
        *c = (ModuleChain) { .step = s, .op = op, .names = names,
                             .timeout_usec = step_deadline_usec(s, DEADLINE_MODULE) };
        /* The step owns the chain from here: its worker watch goes when the step ends. */
        step_set_userdata(s, c, module_chain_free);

        c->gpu = m->gpu ? strdup(m->gpu->address) : NULL;
        c->driver = driver ? strdup(driver) : NULL;
        if ((m->gpu && !c->gpu) || (driver && !c->driver))
                return -ENOMEM;
        r = kmod_context(&c->ctx);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

/* Fails, naming the module, its refcount and holders, when one of those to unload is busy. */
static int check_unloadable(Step *s, const char *root, const char *const *policy, char ***ret_loaded) {
        _cleanup_strv_free_ char **loaded = NULL;
        int r;

        for (const char *const *name = policy; *name; name++) {
                _cleanup_(gpu_module_state_done) GpuModuleState st = {};
                _cleanup_free_ char *reason = NULL;

                r = gpu_module_query(root, *name, &st);
                if (r < 0)
                        return step_error_errno(s, r, "Failed to read the state of module %s: %m", *name);
                if (st.initstate == -ENOENT)
                        continue;
                r = gpu_module_busy_reason(&st, (char * const *) policy, &reason);
                if (r < 0)
                        return step_error_errno(s, r, "Failed to describe module %s: %m", *name);
                if (r > 0)
                        return step_error_errno(s, SYNTHETIC_ERRNO(EBUSY),
                                                "Cannot unload %s: %s", *name, reason);
                r = strv_extend(&loaded, *name);
                if (r < 0)
                        return step_error_errno(s, r, "Failed to list the loaded modules: %m");
        }
        *ret_loaded = TAKE_PTR(loaded);
        return 0;
}

static int gpu_modules_to_guest(Step *s) {
        const Machine *m = step_machine(s);
        const char *driver = m->gpu ? m->gpu->driver : NULL;
        const char *const *policy = gpu_modules_for_driver(driver);
        _cleanup_free_ char *value = NULL;
        char **loaded = NULL;
        ModuleChain *c;
        int r;

        if (!policy)
                return 0;       /* the vfio stage unbinds the device, the module stays */
        if (!step_is_live(s))
                return step_error_errno(s, SYNTHETIC_ERRNO(EOPNOTSUPP),
                                        "Not unloading modules of the machine below %s: only the running kernel's.",
                                        step_root(s));

        r = chain_new(s, GPU_MODULE_UNLOAD, NULL, driver, &c);
        if (r < 0)
                return step_error_errno(s, r, "Failed to set up unloading %s's modules: %m", driver);
        r = check_unloadable(s, step_root(s), policy, &loaded);
        if (r < 0)
                return r;
        c->names = loaded;
        if (!loaded)
                return 0;       /* a driver without its module: nothing to unload, nothing to record */

        r = strv_join(loaded, ",", &value);
        if (r < 0)
                return step_error_errno(s, r, "Failed to record the loaded modules: %m");
        r = step_record(s, "driver", driver);
        if (r >= 0)
                r = step_record(s, "loaded", value);
        if (r >= 0)
                r = step_commit(s);
        if (r < 0)
                return step_error_errno(s, r, "Failed to record the loaded modules %s: %m", value);

        return chain_next(c);
}

static int gpu_modules_to_host(Step *s) {
        const char *driver = step_get(s, "driver"), *value = step_get(s, "loaded");
        _cleanup_strv_free_ char **loaded = NULL;
        char **reversed = NULL;
        ModuleChain *c;
        size_t n;
        int r;

        if (!step_has_record(s) || !value) {
                log_debug("No modules were recorded as unloaded: leaving the kernel's modules as they are.");
                return 0;
        }
        r = gpu_modules_parse_loaded(driver, value, &loaded);
        if (r < 0)
                return step_error_errno(s, r,
                                        "The recorded modules \"%s\" of driver %s are not ones baton unloads.",
                                        value, strna(driver));
        if (!step_is_live(s))
                return step_error_errno(s, SYNTHETIC_ERRNO(EOPNOTSUPP),
                                        "Not loading modules for the machine below %s: only the running kernel's.",
                                        step_root(s));

        /* Loaded in the reverse of the unload order: each after the modules it needs. */
        n = strv_length(loaded);
        reversed = calloc(n + 1, sizeof(char *));
        if (!reversed)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        for (size_t i = 0; i < n; i++)
                reversed[i] = TAKE_PTR(loaded[n - 1 - i]);

        r = chain_new(s, GPU_MODULE_LOAD, reversed, driver, &c);
        if (r < 0)
                return step_error_errno(s, r, "Failed to set up loading %s: %m", value);
        return chain_next(c);
}

const Stage stage_gpu_modules = {
        .name = "gpu-modules",
        .observe_on_loop = true,
        .summary = "GPU driver modules that must leave the kernel (nvidia)",
        .observe = gpu_modules_observe,
        .to_guest = gpu_modules_to_guest,
        .to_host = gpu_modules_to_host,
        .preflight = gpu_modules_refuse,
};
