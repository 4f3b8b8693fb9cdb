/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <libkmod.h>

#include "kmod-util.h"
#include "machine.h"
#include "stage.h"

/* The pure and read-only parts of the gpu-modules stage (stages/gpu-modules.c). */

/* The modules to unload, in unload order (each after every module that holds it), before
 * the GPU bound to driver can go to vfio-pci. NULL (and for a NULL driver) when unbinding
 * the device is enough and the module stays loaded: amdgpu, nouveau, radeon, i915,
 * bochs-drm, snd_hda_intel and the rest. The list is NULL-terminated and static. */
const char *const *gpu_modules_for_driver(const char *driver);

/* A module as the kernel shows it in /sys/module. */
typedef struct GpuModuleState {
        int initstate;                  /* KMOD_MODULE_LIVE, _COMING, _GOING, _BUILTIN; -ENOENT: not loaded */
        int refcnt;                     /* -1 when unknown (builtin, not loaded) */
        char **holders;                 /* the loaded modules that use it */
        bool no_unload;                 /* loaded for good: no refcnt (no CONFIG_MODULE_UNLOAD) */
} GpuModuleState;

/* Reads name's state from /sys/module/NAME below root ("/": the running kernel). Read-only;
 * a module that is not loaded, or does not exist at all, is no error: initstate -ENOENT. A
 * loaded module without refcnt (a kernel built without CONFIG_MODULE_UNLOAD) has no_unload
 * set. Fails on -ENOMEM, -EINVAL for a name that is not one, or an unreadable /sys/module. */
int gpu_module_query(const char *root, const char *name, GpuModuleState *ret);
void gpu_module_state_done(GpuModuleState *s);

static inline bool gpu_module_loaded(const GpuModuleState *s) {
        return s->initstate >= 0 && s->initstate != KMOD_MODULE_BUILTIN;
}

/* Why the loaded module described by st cannot be unloaded once the modules of unloading
 * that hold it are gone, or NULL (returning 0) when it can: built in; no_unload; held by a module
 * outside unloading; or referenced beyond its holders (each holder module counts one in
 * refcnt). Returns 1 with the reason for what no stage can change (built in, no_unload, a
 * foreign holder), 2 for references of processes that may yet go: "refcount 3, held by
 * nvidia_modeset, nvidia_uvm: 1 reference(s) besides those modules (a process with the
 * device open?)". */
int gpu_module_busy_reason(const GpuModuleState *st, char * const *unloading, char **ret);

/* The journal's "loaded" value ("nvidia_drm,nvidia_modeset,nvidia") back as a list, in
 * unload order. Every name must be one that driver's policy unloads: a journal cannot make
 * baton load anything else. -EBADMSG otherwise, or for an empty value. */
int gpu_modules_parse_loaded(const char *driver, const char *value, char ***ret);

typedef enum GpuModuleOp {
        GPU_MODULE_UNLOAD,
        GPU_MODULE_LOAD,
} GpuModuleOp;

/* What the worker does (gpu_module_worker()). */
typedef struct GpuModuleWork {
        struct kmod_ctx *ctx;
        GpuModuleOp op;
        const char *name;
} GpuModuleWork;

/* Run in a forked worker (common/child.h, child_worker_async()): the one libkmod call that
 * may block in the kernel (a module's exit or init runs the driver's remove() or probe() on
 * the GPU) for userdata, a GpuModuleWork; returns 0 or its negative errno, the worker's
 * result: unload is kmod_module_remove_module(), which fails at once for a module in use
 * instead of waiting; load looks name up (aliases included: Debian ships nvidia as
 * nvidia-current.ko) and calls kmod_module_probe_insert_module() with modprobe.d's options
 * and install commands. A name nothing matches makes a load fail with ENOENT. */
int gpu_module_worker(void *userdata);

/* The stage's observe(): module state comes from /sys/module below m->root (a root without
 * one, like most fixture trees, has unknown module state and the plan says so). STAGE_AT_HOST while
 * the GPU is bound to a driver whose modules must go, STAGE_AT_GUEST when it is on
 * vfio-pci, STAGE_NOTHING_TO_DO otherwise. */
int gpu_modules_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                        StagePosition *ret_pos, char ***ret_plan);

/* The stage's preflight(): -EPERM, logged, when a module of the GPU driver's stack is loaded
 * and can never be unloaded (built in, no_unload, held by a module outside the stack),
 * read from /sys/module below m->root. A module only in use now is no reason: the stages
 * before this one stop its users. */
int gpu_modules_refuse(StageInstance *self, const StageContext *ctx, const Machine *m, PreflightMode mode);
