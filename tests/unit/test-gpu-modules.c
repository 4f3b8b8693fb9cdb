/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The gpu-modules stage's policy, its reading of module state from /sys/module (read-only:
 * nothing is loaded or unloaded here), the refcount judgement, the journal value, and
 * observe() on the fixture trees. */

#include <errno.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "child.h"
#include "gpu-modules.h"
#include "machine.h"
#include "strv.h"
#include "test-stage.h"
#include "tests.h"

extern const Stage stage_gpu_modules, stage_gpu_daemons;

static Machine *load(const char *tree) {
        Machine *m = NULL;

        ASSERT_OK(machine_load(tree, MACHINE_SKIP_HOLDERS, &m));
        return m;
}

static size_t index_of(const char *const *l, const char *name) {
        for (size_t i = 0; l[i]; i++)
                if (streq(l[i], name))
                        return i;
        TEST_FAIL("%s is not in the list", name);
}

static void test_policy(void) {
        const char *const *l = gpu_modules_for_driver("nvidia");
        const char *others[] = { "amdgpu", "nouveau", "radeon", "i915", "xe", "bochs-drm",
                                 "snd_hda_intel", "vfio-pci", "nvidia_drm", "NVIDIA", "" };

        ASSERT_TRUE(l != NULL);
        ASSERT_STREQ(l[0], "nvidia_drm");
        ASSERT_STREQ(l[1], "nvidia_modeset");
        ASSERT_STREQ(l[2], "nvidia_uvm");
        ASSERT_STREQ(l[3], "nvidia_peermem");
        ASSERT_STREQ(l[4], "nvidia");
        ASSERT_NULL(l[5]);
        /* Each after the modules that hold it. */
        ASSERT_TRUE(index_of(l, "nvidia_drm") < index_of(l, "nvidia_modeset"));
        ASSERT_TRUE(index_of(l, "nvidia_modeset") < index_of(l, "nvidia"));
        ASSERT_TRUE(index_of(l, "nvidia_uvm") < index_of(l, "nvidia"));

        for (size_t i = 0; i < ELEMENTSOF(others); i++)
                ASSERT_NULL(gpu_modules_for_driver(others[i]));
        ASSERT_NULL(gpu_modules_for_driver(NULL));
}

static void test_busy_reason(void) {
        char **unloading = (char **) gpu_modules_for_driver("nvidia");
        char *held_by_ours[] = { (char *) "nvidia_modeset", (char *) "nvidia_uvm", NULL };
        char *held_by_foreign[] = { (char *) "nvidia_modeset", (char *) "nvidia_fs", NULL };
        GpuModuleState idle = { .initstate = KMOD_MODULE_LIVE, .refcnt = 0 };
        GpuModuleState ours = { .initstate = KMOD_MODULE_LIVE, .refcnt = 2, .holders = held_by_ours };
        GpuModuleState used = { .initstate = KMOD_MODULE_LIVE, .refcnt = 3, .holders = held_by_ours };
        GpuModuleState foreign = { .initstate = KMOD_MODULE_LIVE, .refcnt = 2, .holders = held_by_foreign };
        GpuModuleState open = { .initstate = KMOD_MODULE_LIVE, .refcnt = 1 };
        GpuModuleState builtin = { .initstate = KMOD_MODULE_BUILTIN, .refcnt = -1 };
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        char *none = (char *) "untouched";

        ASSERT_EQ(gpu_module_busy_reason(&idle, unloading, &none), 0);
        ASSERT_NULL(none);
        /* Its holders go first and take their references with them. */
        none = (char *) "untouched";
        ASSERT_EQ(gpu_module_busy_reason(&ours, unloading, &none), 0);
        ASSERT_NULL(none);

        ASSERT_EQ(gpu_module_busy_reason(&used, unloading, &a), 2);
        ASSERT_STREQ(a, "refcount 3, held by nvidia_modeset, nvidia_uvm: 1 reference(s) besides "
                        "those modules (a process with the device open?)");
        ASSERT_EQ(gpu_module_busy_reason(&foreign, unloading, &b), 1);
        ASSERT_STREQ(b, "refcount 2, held by nvidia_modeset, nvidia_fs: baton does not unload nvidia_fs");
        ASSERT_EQ(gpu_module_busy_reason(&open, unloading, &c), 2);
        ASSERT_STREQ(c, "refcount 1, no holders: still in use (a process with the device open?)");
        ASSERT_EQ(gpu_module_busy_reason(&builtin, unloading, &d), 1);
        ASSERT_STREQ(d, "built into the kernel");
        /* Right before its own unload nothing may hold it, not even a module of the list. */
        ASSERT_EQ(gpu_module_busy_reason(&ours, NULL, &e), 1);
        ASSERT_TRUE(strstr(e, "baton does not unload nvidia_modeset"));
}

static void test_parse_loaded(void) {
        const char *bad[] = { "", "nvidia,", ",nvidia", "nvidia,,nvidia_drm", "nvidia,evil",
                              "nvidia,nvidia", "nvidia_drm nvidia", "../nvidia" };
        _cleanup_strv_free_ char **l = NULL;
        char **untouched = NULL;

        ASSERT_OK(gpu_modules_parse_loaded("nvidia", "nvidia_drm,nvidia_modeset,nvidia", &l));
        ASSERT_EQ(strv_length(l), 3);
        ASSERT_STREQ(l[0], "nvidia_drm");
        ASSERT_STREQ(l[2], "nvidia");
        strv_free(l);
        l = NULL;
        ASSERT_OK(gpu_modules_parse_loaded("nvidia", "nvidia", &l));
        ASSERT_EQ(strv_length(l), 1);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_EQ(gpu_modules_parse_loaded("nvidia", bad[i], &untouched), -EBADMSG);
        /* A journal cannot make baton load modules of a driver it never unloads. */
        ASSERT_EQ(gpu_modules_parse_loaded("amdgpu", "amdgpu", &untouched), -EBADMSG);
        ASSERT_EQ(gpu_modules_parse_loaded(NULL, "nvidia", &untouched), -EBADMSG);
        ASSERT_EQ(gpu_modules_parse_loaded("nvidia", NULL, &untouched), -EBADMSG);
        ASSERT_NULL(untouched);
}

/* The real NVIDIA machine (fixtures/README.md, nvidia-noiommu): a kernel built without
 * CONFIG_MODULE_UNLOAD has initstate but no refcnt, and no holders links. */
static void test_query_no_unload(void) {
        const char *root = FIXTURE("nvidia-noiommu");
        _cleanup_(gpu_module_state_done) GpuModuleState nv = {}, uvm = {}, drm = {};
        _cleanup_free_ char *reason = NULL;
        GpuModuleState bad;

        ASSERT_OK(gpu_module_query(root, "nvidia", &nv));
        ASSERT_EQ(nv.initstate, KMOD_MODULE_LIVE);
        ASSERT_EQ(nv.refcnt, -1);
        ASSERT_TRUE(nv.no_unload);
        ASSERT_NULL(nv.holders);
        ASSERT_TRUE(gpu_module_loaded(&nv));
        ASSERT_OK(gpu_module_query(root, "nvidia_uvm", &uvm));
        ASSERT_TRUE(uvm.no_unload);
        ASSERT_OK(gpu_module_query(root, "nvidia_drm", &drm));
        ASSERT_EQ(drm.initstate, -ENOENT);
        ASSERT_FALSE(drm.no_unload);

        ASSERT_EQ(gpu_module_busy_reason(&nv, (char **) gpu_modules_for_driver("nvidia"), &reason), 1);
        ASSERT_STREQ(reason, "this kernel cannot unload modules: it has no refcnt for it, "
                             "as when built without CONFIG_MODULE_UNLOAD");
        ASSERT_EQ(gpu_module_query(root, "../module/nvidia", &bad), -EINVAL);
        ASSERT_EQ(gpu_module_query(root, "", &bad), -EINVAL);
}

static void test_observe_no_unload(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("nvidia-noiommu"));
        _cleanup_strv_free_ char **plan = NULL;
        StagePosition pos = STAGE_MIXED;

        ASSERT_OK(stage_test_observe(&stage_gpu_modules, NULL, m, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(plan), 5);
        ASSERT_STREQ(plan[0], "nvidia_drm is not loaded");
        ASSERT_STREQ(plan[2], "refuse: nvidia_uvm is loaded and this kernel cannot unload modules "
                              "(no /sys/module/nvidia_uvm/refcnt: built without CONFIG_MODULE_UNLOAD)");
        ASSERT_STREQ(plan[3], "nvidia_peermem is not loaded");
        ASSERT_TRUE(startswith(plan[4], "refuse: nvidia is loaded and this kernel cannot unload"));

        /* A handover refuses before the journal exists, naming the module. */
        ASSERT_TRUE(stage_gpu_modules.preflight != NULL);
        ASSERT_EQ(stage_test_preflight(&stage_gpu_modules, NULL, m), -EPERM);
}

/* gpu-daemons, the stage before: nvidia's persistence daemon must stop before anything
 * waits for the GPU's holders. Only nvidia has such a service. */
static void test_daemons_observe(void) {
        _cleanup_(machine_freep) Machine *nv = load(FIXTURE("nvidia-noiommu"));
        _cleanup_(machine_freep) Machine *lab = load(FIXTURE("lab"));
        _cleanup_strv_free_ char **a = NULL, **b = NULL;
        StagePosition pos = STAGE_MIXED;

        ASSERT_OK(stage_test_observe(&stage_gpu_daemons, NULL, nv, &pos, &a));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(a), 1);
        ASSERT_STREQ(a[0], "stop nvidia-persistenced.service if running (it keeps nvidia's device nodes open), "
                           "start it again on return");
        ASSERT_OK(stage_test_observe(&stage_gpu_daemons, NULL, lab, &pos, &b));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_EQ(strv_length(b), 1);
        ASSERT_STREQ(b[0], "bochs-drm: no service of its holds the GPU's nodes");
}

static void test_refuse_nothing_to_unload(void) {
        _cleanup_(machine_freep) Machine *lab = load(FIXTURE("lab"));
        _cleanup_(machine_freep) Machine *shared = load(FIXTURE("shared-group"));

        ASSERT_OK(stage_test_preflight(&stage_gpu_modules, NULL, lab));       /* bochs-drm: unbind only */
        ASSERT_OK(stage_test_preflight(&stage_gpu_modules, NULL, shared));    /* no /sys/module: nothing seen loaded */
}

static void test_query_absent_module(void) {
        GpuModuleState st = { .initstate = 77, .refcnt = 77 };

        /* Only reads /sys/module: a name no kernel has is simply not loaded. */
        ASSERT_OK(gpu_module_query("/", "baton_no_such_module", &st));
        ASSERT_EQ(st.initstate, -ENOENT);
        ASSERT_EQ(st.refcnt, -1);
        ASSERT_NULL(st.holders);
        ASSERT_FALSE(gpu_module_loaded(&st));
        gpu_module_state_done(&st);
}

/* Runs the worker in a child (common/child.h) and returns its result, its exit status. */
static int worker_outcome(struct kmod_ctx *ctx, GpuModuleOp op, const char *name) {
        GpuModuleWork w = { .ctx = ctx, .op = op, .name = name };
        Child c;

        ASSERT_OK(child_start(gpu_module_worker, &w, &c));
        ASSERT_TRUE(c.pid > 0);
        return child_wait(&c, 60 * 1000000ULL);
}

static void test_worker_absent_module(void) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = kmod_context_new();
        const char *name = "baton_no_such_module";
        int r;

        /* Nothing is loaded or unloaded: no module of that name exists anywhere. The worker
         * still makes its real calls and reports their errno through its exit status. */
        ASSERT_TRUE(ctx != NULL);
        sym_kmod_set_log_priority(ctx, LOG_EMERG);      /* the failures are expected */
        ASSERT_TRUE(access("/sys/module/baton_no_such_module", F_OK) < 0);

        /* EPERM: not root; ENOSYS: a kernel or sandbox without module unloading (these
         * build machines' containers). */
        r = worker_outcome(ctx, GPU_MODULE_UNLOAD, name);
        ASSERT_TRUE(r == -ENOENT || r == -EPERM || r == -ENOSYS);
        ASSERT_EQ(worker_outcome(ctx, GPU_MODULE_LOAD, name), -ENOENT);
        ASSERT_TRUE(access("/sys/module/baton_no_such_module", F_OK) < 0);
}

static void test_observe(void) {
        _cleanup_(machine_freep) Machine *lab = load(FIXTURE("lab"));
        _cleanup_(machine_freep) Machine *boot = load(FIXTURE("lab-boot"));
        _cleanup_(machine_freep) Machine *shared = load(FIXTURE("shared-group"));
        _cleanup_strv_free_ char **a = NULL, **b = NULL, **c = NULL;
        StagePosition pos = STAGE_MIXED;

        ASSERT_OK(stage_test_observe(&stage_gpu_modules, NULL, lab, &pos, &a));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_EQ(strv_length(a), 1);
        ASSERT_STREQ(a[0], "bochs-drm: unbind only, module stays loaded");

        ASSERT_OK(stage_test_observe(&stage_gpu_modules, NULL, boot, &pos, &b));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_STREQ(b[0], "the GPU has no driver bound: no module to unload");

        /* A root without /sys/module (most fixtures): module state is unknown. */
        ASSERT_OK(stage_test_observe(&stage_gpu_modules, NULL, shared, &pos, &c));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(c), 1);
        ASSERT_STREQ(c[0], "unload those of nvidia_drm, nvidia_modeset, nvidia_uvm, nvidia_peermem, "
                           "nvidia that are loaded (no /sys/module below the root: module state unknown)");
}

static void test_observe_live_state(void) {
        _cleanup_(machine_freep) Machine *shared = load(FIXTURE("shared-group"));
        _cleanup_strv_free_ char **plan = NULL;
        StagePosition pos = STAGE_MIXED;
        bool any_loaded = false;

        /* The fixture's GPU with this machine's /sys/module: every module gets its own line;
         * which state each is in is this machine's business, but the lines must be one of
         * the known kinds. */
        free(shared->root);
        shared->root = strdup("/");
        ASSERT_TRUE(shared->root != NULL);
        ASSERT_OK(stage_test_observe(&stage_gpu_modules, NULL, shared, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(plan), 5);
        ASSERT_TRUE(startswith(plan[0], "nvidia_drm is not loaded") || startswith(plan[0], "unload nvidia_drm") ||
                    startswith(plan[0], "cannot unload nvidia_drm"));
        STRV_FOREACH(l, plan)
                any_loaded = any_loaded || !strstr(*l, "is not loaded");
        if (access("/sys/module/nvidia", F_OK) < 0)
                ASSERT_FALSE(any_loaded);
}

static void test_observe_vfio(void) {
        _cleanup_(machine_freep) Machine *lab = load(FIXTURE("lab"));
        _cleanup_strv_free_ char **plan = NULL;
        PciDevice *gpu = (PciDevice *) lab->gpu;
        StagePosition pos = STAGE_MIXED;

        free(gpu->driver);
        gpu->driver = strdup("vfio-pci");
        ASSERT_TRUE(gpu->driver != NULL);
        ASSERT_OK(stage_test_observe(&stage_gpu_modules, NULL, lab, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_GUEST);
        ASSERT_EQ(strv_length(plan), 1);
}

int main(void) {
        RUN(test_policy);
        RUN(test_busy_reason);
        RUN(test_parse_loaded);
        RUN(test_query_absent_module);
        RUN(test_query_no_unload);
        RUN(test_observe_no_unload);
        RUN(test_refuse_nothing_to_unload);
        RUN(test_daemons_observe);
        RUN(test_worker_absent_module);
        RUN(test_observe);
        RUN(test_observe_live_state);
        RUN(test_observe_vfio);
        return 0;
}
