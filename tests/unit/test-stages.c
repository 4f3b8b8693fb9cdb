/* SPDX-License-Identifier: GPL-2.0-or-later */

/* observe() and plan lines of the vtconsoles, firmware-fb and vfio stages on the fixture
 * trees, and the vfio stage's pure decisions. Trees a test changes are copies in a
 * temporary directory; nothing here writes below a fixture or to the live /sys. */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "machine.h"
#include "stage.h"
#include "strv.h"
#include "tests.h"
#include "vfio.h"

extern const Stage stage_vtconsoles, stage_firmware_fb, stage_vfio;

static Machine *load(const char *tree) {
        Machine *m = NULL;

        ASSERT_OK(machine_load(tree, 0, &m));
        return m;
}

static char **observe_in(const StageContext *ctx, const Stage *st, const Machine *m, StagePosition *ret_pos) {
        char **plan = NULL;

        *ret_pos = (StagePosition) -1;
        ASSERT_OK(stage_observe_once(st, ctx, m, ret_pos, &plan));
        return plan;
}

/* observe() with the built-in configuration. */
static char **observe(const Stage *st, const Machine *m, StagePosition *ret_pos) {
        StageContext ctx;
        Config c;

        config_init(&c);
        stage_context_init(&ctx, &c, m->root);
        return observe_in(&ctx, st, m, ret_pos);
}

/* A writable copy of a fixture tree: cp -a keeps its relative symlinks working. */
static char *copy_fixture(const char *name) {
        char *dir = strdup("/tmp/baton-test-stages-XXXXXX"), *cmd = NULL;

        ASSERT_TRUE(dir && mkdtemp(dir));
        ASSERT_TRUE(asprintf(&cmd, "cp -a '%s/%s/.' '%s'", FIXTURES, name, dir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        return dir;
}

static void remove_copy(char *dir) {
        char *cmd = NULL;

        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        free(dir);
}

static void write_file(const char *root, const char *path, const char *value) {
        _cleanup_free_ char *p = NULL;
        FILE *f;

        ASSERT_TRUE(asprintf(&p, "%s%s", root, path) > 0);
        f = fopen(p, "we");
        ASSERT_TRUE(f != NULL);
        ASSERT_TRUE(fputs(value, f) >= 0);
        ASSERT_EQ(fclose(f), 0);
}

/* Points dev's driver link at driver, or removes it when driver is NULL (unbound). */
static void set_driver(const char *root, const char *dev, const char *driver) {
        _cleanup_free_ char *link = NULL, *target = NULL;

        ASSERT_TRUE(asprintf(&link, "%s%s/driver", root, dev) > 0);
        ASSERT_EQ(unlink(link), 0);
        if (!driver)
                return;
        ASSERT_TRUE(asprintf(&target, "../../../bus/pci/drivers/%s", driver) > 0);
        ASSERT_EQ(symlink(target, link), 0);
}

static void test_vtconsoles_observe(void) {
        _cleanup_(machine_freep) Machine *lab = load(FIXTURE("lab")), *nogpu = load(FIXTURE("nogpu"));
        _cleanup_strv_free_ char **plan = NULL, **none = NULL;
        StagePosition pos;

        plan = observe(&stage_vtconsoles, lab, &pos);
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(plan), 1);        /* vtcon0, the dummy console, is no business of ours */
        ASSERT_STREQ(plan[0], "unbind vtcon1 ((M) frame buffer device)");

        none = observe(&stage_vtconsoles, nogpu, &pos);
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_EQ(strv_length(none), 0);
}

static void test_vtconsoles_observe_unbound(void) {
        char *root = copy_fixture("lab");
        _cleanup_strv_free_ char **plan = NULL;
        Machine *m;
        StagePosition pos;

        write_file(root, "/sys/class/vtconsole/vtcon1/bind", "0\n");
        m = load(root);
        plan = observe(&stage_vtconsoles, m, &pos);
        ASSERT_EQ(pos, STAGE_AT_GUEST);
        ASSERT_EQ(strv_length(plan), 1);
        ASSERT_STREQ(plan[0], "vtcon1 ((M) frame buffer device) is unbound already");
        machine_free(m);
        remove_copy(root);
}

static void test_firmware_fb_observe(void) {
        _cleanup_(machine_freep) Machine *lab = load(FIXTURE("lab")), *boot = load(FIXTURE("lab-boot")),
                *shared = load(FIXTURE("shared-group"));
        _cleanup_strv_free_ char **p1 = NULL, **p2 = NULL, **p3 = NULL;
        StagePosition pos;

        /* bochs took the aperture over at boot: efi-framebuffer.0 is gone. */
        p1 = observe(&stage_firmware_fb, lab, &pos);
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_EQ(strv_length(p1), 0);

        p2 = observe(&stage_firmware_fb, boot, &pos);
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(p2), 2);
        ASSERT_STREQ(p2[0], "unbind efi-framebuffer.0 from efi-framebuffer");
        /* Row 20 of issue 19: no native driver on the GPU, so the console cannot come back. */
        ASSERT_STREQ(p2[1], "note: the GPU has no native driver: the kernel removes the firmware framebuffer "
                     "for good when vfio-pci takes the GPU, so the text console (and a display manager "
                     "drawing on /dev/fb0) cannot come back until the next boot");

        p3 = observe(&stage_firmware_fb, shared, &pos);
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_STREQ(p3[0], "unbind simple-framebuffer.0 from simple-framebuffer");
}

static void test_firmware_fb_observe_unbound(void) {
        char *root = copy_fixture("lab-boot");
        _cleanup_strv_free_ char **plan = NULL;
        Machine *m;
        StagePosition pos;

        set_driver(root, "/sys/bus/platform/devices/efi-framebuffer.0", NULL);
        m = load(root);
        plan = observe(&stage_firmware_fb, m, &pos);
        ASSERT_EQ(pos, STAGE_AT_GUEST);
        ASSERT_EQ(strv_length(plan), 1);
        ASSERT_STREQ(plan[0], "efi-framebuffer.0 is unbound already");
        machine_free(m);
        remove_copy(root);
}

static void test_vfio_observe_lab(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        _cleanup_strv_free_ char **plan = NULL;
        StagePosition pos;

        plan = observe(&stage_vfio, m, &pos);
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(plan), 5);
        ASSERT_STREQ(plan[0], "load module vfio_pci");
        ASSERT_STREQ(plan[1], "load module vfio_iommu_type1");
        ASSERT_STREQ(plan[2], "0000:00:02.0 (display, bochs-drm): unbind from bochs-drm, bind to vfio-pci");
        ASSERT_STREQ(plan[3], "0000:00:02.1 (audio, snd_hda_intel): unbind from snd_hda_intel, bind to vfio-pci");
        ASSERT_STREQ(plan[4], "check that /dev/vfio/2 appears");
}

static void test_vfio_observe_boot(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab-boot"));
        _cleanup_strv_free_ char **plan = NULL;

        /* Before bochs-drm loads nothing drives the card: nothing to unbind. */
        ASSERT_OK(vfio_plan(m, false, &plan));
        ASSERT_STREQ(plan[2], "0000:00:02.0 (display, no driver): bind to vfio-pci");
        ASSERT_EQ(vfio_position(m), STAGE_AT_HOST);
}

static void test_vfio_plan_shared_group(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("shared-group"));
        _cleanup_strv_free_ char **refused = NULL, **allowed = NULL;
        const char *refusal = "refuse: 0000:02:00.0 (nvme, nvme) shares IOMMU group 1 with the GPU "
                              "0000:01:00.0 but is not part of the graphics card "
                              "(allow-foreign-devices = yes in [gpu] of baton.conf hands it over too)";

        ASSERT_OK(vfio_plan(m, false, &refused));
        ASSERT_STREQ(refused[0], refusal);
        ASSERT_TRUE(strv_contains(refused, "0000:00:01.0 (bridge, pcieport): a PCI bridge, keeps its driver"));
        ASSERT_TRUE(strv_contains(refused, "0000:01:00.0 (display, nvidia): unbind from nvidia, bind to vfio-pci"));
        ASSERT_TRUE(strv_contains(refused,
                                  "0000:02:00.0 (nvme, nvme): unbind from nvme, bind to vfio-pci (not part of the card)"));

        ASSERT_OK(vfio_plan(m, true, &allowed));
        ASSERT_EQ(strv_length(allowed), strv_length(refused) - 1);
        ASSERT_FALSE(strv_contains(allowed, refusal));
        ASSERT_EQ(vfio_position(m), STAGE_AT_HOST);
}

/* Issue 14 item 1: a stage reads the configuration of the context it is given, not the
 * process's. Two contexts in one process, one with allow-foreign-devices = yes: the same
 * stage on the same machine plans a refusal in one and the handover in the other, and each
 * preflight() decides as its own context says. */
static void test_vfio_two_contexts(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("shared-group"));
        _cleanup_strv_free_ char **refused = NULL, **allowed = NULL, **again = NULL;
        _cleanup_(stage_instance_freep) StageInstance *self = stage_instance_new(&stage_vfio);
        StageContext strict, lenient;
        Config a, b;
        StagePosition pos;

        config_init(&a);
        config_init(&b);
        b.allow_foreign_devices = true;
        stage_context_init(&strict, &a, m->root);
        stage_context_init(&lenient, &b, m->root);
        ASSERT_FALSE(vfio_allow_foreign(&a));
        ASSERT_TRUE(vfio_allow_foreign(&b));

        refused = observe_in(&strict, &stage_vfio, m, &pos);
        ASSERT_TRUE(startswith(refused[0], "refuse: 0000:02:00.0"));
        allowed = observe_in(&lenient, &stage_vfio, m, &pos);
        ASSERT_FALSE(startswith(allowed[0], "refuse:"));
        again = observe_in(&strict, &stage_vfio, m, &pos);
        ASSERT_TRUE(startswith(again[0], "refuse: 0000:02:00.0"));

        ASSERT_TRUE(self != NULL);
        ASSERT_EQ(stage_vfio.preflight(self, &strict, m, PREFLIGHT_LAST), -EPERM);
        ASSERT_OK(stage_vfio.preflight(self, &lenient, m, PREFLIGHT_LAST));
}

/* The test hook BATON_VFIO_ALLOW_FOREIGN=1 reaches the stage through the Config the front
 * end loads (config_apply_environment()), never from the stage's own getenv. */
static void test_vfio_observe_env(void) {
        Config c;

        ASSERT_EQ(unsetenv(CONFIG_ALLOW_FOREIGN_ENV), 0);
        config_init(&c);
        config_apply_environment(&c);
        ASSERT_FALSE(vfio_allow_foreign(&c));
        ASSERT_EQ(setenv(CONFIG_ALLOW_FOREIGN_ENV, "yes", 1), 0);
        config_apply_environment(&c);
        ASSERT_FALSE(vfio_allow_foreign(&c));   /* only "1" says so */
        ASSERT_EQ(setenv(CONFIG_ALLOW_FOREIGN_ENV, "1", 1), 0);
        config_apply_environment(&c);
        ASSERT_TRUE(vfio_allow_foreign(&c));
        ASSERT_EQ(unsetenv(CONFIG_ALLOW_FOREIGN_ENV), 0);
}

static void test_vfio_group_members(void) {
        _cleanup_(machine_freep) Machine *shared = load(FIXTURE("shared-group")), *lab = load(FIXTURE("lab"));
        const IommuGroup *g = &shared->group;
        const GroupDevice *foreign;

        ASSERT_EQ(g->n_devices, 5);
        ASSERT_STREQ(g->devices[0].pci.address, "0000:00:01.0");
        ASSERT_FALSE(vfio_is_target(&g->devices[0]));   /* root ports keep pcieport */
        ASSERT_FALSE(vfio_is_target(&g->devices[1]));
        ASSERT_TRUE(vfio_is_target(&g->devices[2]));
        ASSERT_TRUE(vfio_is_target(&g->devices[4]));

        foreign = vfio_find_foreign(g);
        ASSERT_TRUE(foreign != NULL);
        ASSERT_STREQ(foreign->pci.address, "0000:02:00.0");
        ASSERT_NULL(vfio_find_foreign(&lab->group));

        /* Row 9 of issue 19: recover touches a recorded address only inside the group. */
        ASSERT_TRUE(vfio_recorded_address_valid(&lab->group, "0000:00:02.0"));
        ASSERT_TRUE(vfio_recorded_address_valid(&lab->group, "0000:00:02.1"));
        ASSERT_FALSE(vfio_recorded_address_valid(&lab->group, "0000:00:1f.2"));
        ASSERT_FALSE(vfio_recorded_address_valid(&lab->group, "../../../../dev/sda"));
        ASSERT_FALSE(vfio_recorded_address_valid(&shared->group, "0000:00:01.0"));     /* a root port */
}

static void test_vfio_position(void) {
        char *root = copy_fixture("lab");
        const char *gpu = "/sys/bus/pci/devices/0000:00:02.0", *audio = "/sys/bus/pci/devices/0000:00:02.1";
        _cleanup_strv_free_ char **plan = NULL;
        Machine *m;

        set_driver(root, gpu, "vfio-pci");
        write_file(root, "/sys/bus/pci/devices/0000:00:02.0/driver_override", "vfio-pci\n");
        m = load(root);
        ASSERT_STREQ(m->gpu->driver_override, "vfio-pci");
        ASSERT_EQ(vfio_position(m), STAGE_MIXED);
        machine_free(m);

        set_driver(root, audio, "vfio-pci");
        m = load(root);
        ASSERT_EQ(vfio_position(m), STAGE_AT_GUEST);
        ASSERT_OK(vfio_plan(m, false, &plan));
        ASSERT_STREQ(plan[2], "0000:00:02.0 (display, vfio-pci): on vfio-pci already");
        machine_free(m);
        remove_copy(root);
}

static void test_vfio_nothing_without_gpu(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("nogpu"));
        _cleanup_strv_free_ char **plan = NULL;
        StagePosition pos;

        plan = observe(&stage_vfio, m, &pos);
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_EQ(strv_length(plan), 0);
}

static void test_vfio_no_iommu_group(void) {
        char *root = copy_fixture("lab");
        _cleanup_strv_free_ char **plan = NULL;
        _cleanup_free_ char *link = NULL;
        Machine *m;

        ASSERT_TRUE(asprintf(&link, "%s/sys/bus/pci/devices/0000:00:02.0/iommu_group", root) > 0);
        ASSERT_EQ(unlink(link), 0);
        m = load(root);
        ASSERT_EQ(vfio_position(m), STAGE_AT_HOST);
        ASSERT_OK(vfio_plan(m, false, &plan));
        ASSERT_EQ(strv_length(plan), 1);
        ASSERT_TRUE(startswith(plan[0], "refuse: the GPU 0000:00:02.0 has no IOMMU group"));
        machine_free(m);
        remove_copy(root);
}

static void test_vfio_driver_wanted(void) {
        /* to_guest: vfio-pci and nothing else. */
        ASSERT_TRUE(vfio_driver_wanted("vfio-pci", "vfio-pci"));
        ASSERT_FALSE(vfio_driver_wanted("vfio-pci", NULL));
        ASSERT_FALSE(vfio_driver_wanted("vfio-pci", "bochs-drm"));
        /* to_host with a record: exactly the recorded driver; "none" is unbound. */
        ASSERT_TRUE(vfio_driver_wanted("bochs-drm", "bochs-drm"));
        ASSERT_FALSE(vfio_driver_wanted("bochs-drm", "vfio-pci"));
        ASSERT_FALSE(vfio_driver_wanted("bochs-drm", NULL));
        ASSERT_TRUE(vfio_driver_wanted("none", NULL));
        ASSERT_FALSE(vfio_driver_wanted("none", "snd_hda_intel"));
        /* to_host without a record: anything but vfio-pci, unbound included. */
        ASSERT_TRUE(vfio_driver_wanted(NULL, "nvidia"));
        ASSERT_TRUE(vfio_driver_wanted(NULL, NULL));
        ASSERT_FALSE(vfio_driver_wanted(NULL, "vfio-pci"));
}

int main(void) {
        RUN(test_vtconsoles_observe);
        RUN(test_vtconsoles_observe_unbound);
        RUN(test_firmware_fb_observe);
        RUN(test_firmware_fb_observe_unbound);
        RUN(test_vfio_observe_lab);
        RUN(test_vfio_observe_boot);
        RUN(test_vfio_plan_shared_group);
        RUN(test_vfio_observe_env);
        RUN(test_vfio_two_contexts);
        RUN(test_vfio_group_members);
        RUN(test_vfio_position);
        RUN(test_vfio_nothing_without_gpu);
        RUN(test_vfio_no_iommu_group);
        RUN(test_vfio_driver_wanted);
        return 0;
}
