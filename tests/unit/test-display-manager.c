/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The display-manager stage's pure decisions and the unit helpers' small rules, without a
 * bus: which unit, what its states mean, what observe() says for each answer systemd may
 * give (or not give), and that the stage runs first. The bus side is test-unit-job.c. */

#include <errno.h>
#include <stdlib.h>

#include "display-manager.h"
#include "strv.h"
#include "test-stage.h"
#include "tests.h"
#include "unit-job.h"

#define NO_BUS_LINE "systemd cannot be reached on the system bus (No such file or directory)"

extern const Stage stage_session, stage_display_manager;

/* The test hook BATON_DISPLAY_MANAGER reaches the stage through the Config the front end
 * loads (config_apply_environment()). */
static void test_unit_name(void) {
        Config c;

        config_init(&c);
        ASSERT_OK(unsetenv(CONFIG_DISPLAY_MANAGER_ENV));
        config_apply_environment(&c);
        ASSERT_STREQ(display_manager_unit_name(&c), "display-manager.service");
        ASSERT_OK(setenv(CONFIG_DISPLAY_MANAGER_ENV, "", 1));
        config_apply_environment(&c);
        ASSERT_STREQ(display_manager_unit_name(&c), "display-manager.service");
        ASSERT_OK(setenv(CONFIG_DISPLAY_MANAGER_ENV, "sddm.service", 1));
        config_apply_environment(&c);
        ASSERT_STREQ(display_manager_unit_name(&c), "sddm.service");
        ASSERT_OK(unsetenv(CONFIG_DISPLAY_MANAGER_ENV));
        c.display_manager_unit[0] = '\0';
        ASSERT_STREQ(display_manager_unit_name(&c), "display-manager.service");
}

static void test_active_states(void) {
        const char *up[] = { "active", "reloading", "activating", "refreshing" };
        const char *down[] = { "inactive", "failed" };
        const char *between[] = { "deactivating", "maintenance" };

        for (size_t i = 0; i < ELEMENTSOF(up); i++) {
                ASSERT_TRUE(unit_active_state_is_up(up[i]));
                ASSERT_FALSE(unit_active_state_is_down(up[i]));
        }
        for (size_t i = 0; i < ELEMENTSOF(down); i++) {
                ASSERT_FALSE(unit_active_state_is_up(down[i]));
                ASSERT_TRUE(unit_active_state_is_down(down[i]));
        }
        /* Still holding the GPU, but not "running" for the way back. */
        for (size_t i = 0; i < ELEMENTSOF(between); i++) {
                ASSERT_FALSE(unit_active_state_is_up(between[i]));
                ASSERT_FALSE(unit_active_state_is_down(between[i]));
        }
        ASSERT_FALSE(unit_active_state_is_up(NULL));
        ASSERT_FALSE(unit_active_state_is_down(NULL));
}

static void test_exists(void) {
        UnitInfo gone = { .id = (char *) "gdm.service", .load_state = (char *) "not-found",
                          .active_state = (char *) "inactive" };
        UnitInfo orphan = { .id = (char *) "gdm.service", .load_state = (char *) "not-found",
                            .active_state = (char *) "active" };
        UnitInfo masked = { .id = (char *) "gdm.service", .load_state = (char *) "masked",
                            .active_state = (char *) "inactive" };

        ASSERT_FALSE(unit_info_exists(&gone));
        /* Its unit file was removed while it runs: it still holds the GPU. */
        ASSERT_TRUE(unit_info_exists(&orphan));
        ASSERT_TRUE(unit_info_exists(&masked));
}

static void test_verbs(void) {
        ASSERT_STREQ(unit_job_verb("StopUnit"), "stop");
        ASSERT_STREQ(unit_job_verb("StartUnit"), "start");
        ASSERT_STREQ(unit_job_verb("TryRestartUnit"), "try-restart");
        ASSERT_NULL(unit_job_verb("KillUnit"));
        ASSERT_NULL(unit_job_verb("stopunit"));
}

static void test_label(void) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        ASSERT_OK(display_manager_label("display-manager.service", "gdm.service", &a));
        ASSERT_STREQ(a, "gdm.service (display-manager.service)");
        ASSERT_OK(display_manager_label("gdm.service", "gdm.service", &b));
        ASSERT_STREQ(b, "gdm.service");
}

static char **judge(int error, const char *id, const char *load, const char *active, StagePosition *ret_pos) {
        UnitInfo info = { .id = (char *) id, .load_state = (char *) load, .active_state = (char *) active };
        char **plan = NULL;

        *ret_pos = (StagePosition) -1;
        ASSERT_OK(display_manager_judge("display-manager.service", error, &info, 30000000, ret_pos, &plan));
        ASSERT_EQ(strv_length(plan), 1);
        return plan;
}

static void test_judge(void) {
        _cleanup_strv_free_ char **running = NULL, **starting = NULL, **stopping = NULL, **stopped = NULL,
                **failed = NULL, **gone = NULL, **nobus = NULL, **nosystemd = NULL;
        UnitInfo none = {};
        char **plan = NULL;
        StagePosition pos;

        running = judge(0, "lab-compositor.service", "loaded", "active", &pos);
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_STREQ(running[0], "stop lab-compositor.service (display-manager.service), "
                     "wait for its job (up to 30s)");
        starting = judge(0, "gdm.service", "loaded", "activating", &pos);
        ASSERT_EQ(pos, STAGE_AT_HOST);
        /* Stopping already: still holds the GPU until its job is done. */
        stopping = judge(0, "gdm.service", "loaded", "deactivating", &pos);
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_TRUE(startswith(stopping[0], "stop gdm.service (display-manager.service), wait"));

        stopped = judge(0, "gdm.service", "loaded", "inactive", &pos);
        ASSERT_EQ(pos, STAGE_AT_GUEST);
        ASSERT_STREQ(stopped[0], "gdm.service (display-manager.service) is inactive: nothing to stop");
        failed = judge(0, "gdm.service", "loaded", "failed", &pos);
        ASSERT_EQ(pos, STAGE_AT_GUEST);

        gone = judge(0, "display-manager.service", "not-found", "inactive", &pos);
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_STREQ(gone[0], "no display-manager.service on this machine: no display manager to stop");

        nobus = judge(-ENOENT, NULL, NULL, NULL, &pos);
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_TRUE(startswith(nobus[0], NO_BUS_LINE));
        nosystemd = judge(-EHOSTUNREACH, NULL, NULL, NULL, &pos);
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);

        /* Row 14 of issue 19: a stop systemd lets run longer than baton waits is said. */
        {
                _cleanup_strv_free_ char **slow = NULL, **quick = NULL;
                UnitInfo gdm = { .id = (char *) "gdm.service", .load_state = (char *) "loaded",
                                 .active_state = (char *) "active", .timeout_stop_usec = 90000000 };

                ASSERT_OK(display_manager_judge("display-manager.service", 0, &gdm, 30000000, &pos, &slow));
                ASSERT_EQ(strv_length(slow), 2);
                ASSERT_STREQ(slow[1], "note: systemd gives gdm.service up to 90s to stop (TimeoutStopSec), longer "
                             "than baton waits (30s, [deadlines] unit): one that ignores SIGTERM is then "
                             "killed with SIGKILL; lower its TimeoutStopSec or raise the deadline");
                gdm.timeout_stop_usec = 20000000;
                ASSERT_OK(display_manager_judge("display-manager.service", 0, &gdm, 30000000, &pos, &quick));
                ASSERT_EQ(strv_length(quick), 1);
        }

        /* Anything else is a failure to observe, not a machine without display manager. */
        pos = STAGE_MIXED;
        ASSERT_EQ(display_manager_judge("display-manager.service", -EACCES, &none, 30000000, &pos, &plan),
                  -EACCES);
        ASSERT_EQ(display_manager_judge("display-manager.service", -ETIMEDOUT, &none, 30000000, &pos, &plan),
                  -ETIMEDOUT);
        ASSERT_NULL(plan);
        ASSERT_EQ(pos, STAGE_MIXED);
}

static bool should_start(const char *name, const char *id, const char *load, const char *active,
                         const char *file) {
        UnitInfo info = { .id = (char *) id, .load_state = (char *) load, .active_state = (char *) active,
                          .unit_file_state = (char *) file };

        return display_manager_should_start(name, &info);
}

static void test_should_start(void) {
        const char *dm = "display-manager.service";

        /* Recover without a record: the display manager the machine boots into comes back. */
        ASSERT_TRUE(should_start(dm, "lab-compositor.service", "loaded", "inactive", "static"));
        ASSERT_TRUE(should_start(dm, "gdm.service", "loaded", "failed", NULL));
        ASSERT_TRUE(should_start("sddm.service", "sddm.service", "loaded", "inactive", "enabled"));
        ASSERT_TRUE(should_start("sddm.service", "sddm.service", "loaded", "inactive", "enabled-runtime"));
        /* Running or on its way: nothing to start. */
        ASSERT_FALSE(should_start(dm, "gdm.service", "loaded", "active", "enabled"));
        ASSERT_FALSE(should_start(dm, "gdm.service", "loaded", "activating", "enabled"));
        ASSERT_FALSE(should_start(dm, "gdm.service", "loaded", "deactivating", "enabled"));
        /* Not the machine's display manager, or kept off on purpose. */
        ASSERT_FALSE(should_start("sddm.service", "sddm.service", "loaded", "inactive", "disabled"));
        ASSERT_FALSE(should_start("sddm.service", "sddm.service", "loaded", "inactive", "static"));
        ASSERT_FALSE(should_start("sddm.service", "sddm.service", "loaded", "inactive", NULL));
        ASSERT_FALSE(should_start(dm, "gdm.service", "masked", "inactive", "masked"));
        ASSERT_FALSE(should_start(dm, dm, "not-found", "inactive", ""));
}

static void test_judge_start(void) {
        /* Row 20 of issue 19: "active" right after the start job is not yet started: a
         * Type=simple unit failed 78 ms later and had been reported "Started". */
        ASSERT_EQ(display_manager_judge_start("active", false, false), DM_START_SETTLE);
        ASSERT_EQ(display_manager_judge_start("active", true, false), DM_START_UP);
        ASSERT_EQ(display_manager_judge_start("reloading", true, false), DM_START_UP);
        /* Issue 17: a compositor that took the card ends the window early. */
        ASSERT_EQ(display_manager_judge_start("active", false, true), DM_START_UP);
        /* Not ready yet, or restarting after a crash: looked at again, master or not. */
        ASSERT_EQ(display_manager_judge_start("activating", false, false), DM_START_WAIT);
        ASSERT_EQ(display_manager_judge_start("activating", false, true), DM_START_WAIT);
        ASSERT_EQ(display_manager_judge_start("activating", true, false), DM_START_WAIT);
        ASSERT_EQ(display_manager_judge_start("deactivating", true, false), DM_START_WAIT);
        ASSERT_EQ(display_manager_judge_start("failed", false, true), DM_START_DOWN);
        ASSERT_EQ(display_manager_judge_start("inactive", true, false), DM_START_DOWN);
}

static void test_machine_has_display(void) {
        Machine *lab = NULL, *boot = NULL, *gone = NULL;
        const PciDevice *lab_gpu;
        size_t n_fbs, n_vtcons, lab_vtcons;
        PciDevice gpu;

        /* bochs-drm with card0 and fbcon; the boot state with efifb bound. */
        ASSERT_OK(machine_load(FIXTURE("lab"), 0, &lab));
        ASSERT_TRUE(display_manager_machine_has_display(lab));
        ASSERT_OK(machine_load(FIXTURE("lab-boot"), 0, &boot));
        ASSERT_TRUE(display_manager_machine_has_display(boot));
        /* The same GPU without a driver, efifb and fbcon removed by the kernel: no screen. */
        ASSERT_OK(machine_load(FIXTURE("lab-boot"), 0, &gone));
        n_fbs = gone->n_fbs;
        n_vtcons = gone->n_vtcons;
        gone->n_fbs = gone->n_vtcons = 0;
        ASSERT_FALSE(display_manager_machine_has_display(gone));
        gone->n_fbs = n_fbs;
        gone->n_vtcons = n_vtcons;
        /* Still on vfio-pci: no screen either. */
        lab_gpu = lab->gpu;
        lab_vtcons = lab->n_vtcons;
        gpu = *lab->gpu;
        gpu.driver = (char *) "vfio-pci";
        lab->gpu = &gpu;
        lab->n_vtcons = 0;
        ASSERT_FALSE(display_manager_machine_has_display(lab));
        lab->gpu = lab_gpu;
        lab->n_vtcons = lab_vtcons;
        machine_free(lab);
        machine_free(boot);
        machine_free(gone);
}

static void test_fixture_root(void) {
        _cleanup_strv_free_ char **plan = NULL;
        Machine m = { .root = (char *) FIXTURE("lab") };
        StagePosition pos;

        /* A fixture is another machine: this system's bus is not asked at all. */
        ASSERT_OK(setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/baton-test/socket", 1));
        ASSERT_OK(stage_test_observe(&stage_display_manager, NULL, &m, &pos, &plan));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_EQ(strv_length(plan), 1);
        ASSERT_TRUE(startswith(plan[0], "display-manager.service not looked up: the machine is read from "));
}

static void test_no_bus(void) {
        _cleanup_strv_free_ char **plan = NULL;
        Machine m = { .root = (char *) "/" };
        StagePosition pos;

        /* As on the build machine: `baton plan` says why, and the handover skips the stage. */
        ASSERT_OK(setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/baton-test/socket", 1));
        ASSERT_OK(stage_test_observe(&stage_display_manager, NULL, &m, &pos, &plan));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_EQ(strv_length(plan), 1);
        ASSERT_TRUE(startswith(plan[0], NO_BUS_LINE));
}

/* The look on the front end's connection (Stage.observed_unit, judge_unit): the unit is asked for on the live
 * machine only, and the answer judged as observe() judges its own. */
static void test_judge_unit(void) {
        _cleanup_strv_free_ char **plan = NULL, **none = NULL;
        UnitInfo gdm = { .id = (char *) "gdm.service", .load_state = (char *) "loaded",
                         .active_state = (char *) "active" }, empty = {};
        StageContext ctx;
        StagePosition pos;

        stage_context_init(&ctx, stage_test_config(NULL), FIXTURE("lab"));
        ASSERT_NULL(stage_display_manager.observed_unit(NULL, &ctx));
        stage_context_init(&ctx, stage_test_config(NULL), "/");
        ASSERT_STREQ(stage_display_manager.observed_unit(NULL, &ctx), "display-manager.service");

        ctx.first_line_only = true;
        ASSERT_OK(stage_display_manager.judge_unit(NULL, &ctx, 0, &gdm, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_TRUE(startswith(plan[0], "stop gdm.service (display-manager.service), wait for its job"));
        ASSERT_OK(stage_display_manager.judge_unit(NULL, &ctx, -ENOENT, &empty, &pos, &none));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_TRUE(startswith(none[0], NO_BUS_LINE));
        ASSERT_EQ(stage_display_manager.judge_unit(NULL, &ctx, -EIO, &empty, &pos, &none), -EIO);
}

static void test_first_stage(void) {
        /* Its compositor must be gone before the consoles and the driver let go; only the
         * desktop session ends before it (its apps save their work while they can). */
        ASSERT_TRUE(stage_table[0] == &stage_session);
        ASSERT_TRUE(stage_table[1] == &stage_display_manager);
        ASSERT_TRUE(stage_find("display-manager") == &stage_display_manager);
}

int main(void) {
        RUN(test_unit_name);
        RUN(test_active_states);
        RUN(test_exists);
        RUN(test_verbs);
        RUN(test_label);
        RUN(test_judge);
        RUN(test_should_start);
        RUN(test_judge_start);
        RUN(test_machine_has_display);
        RUN(test_fixture_root);
        RUN(test_no_bus);
        RUN(test_judge_unit);
        RUN(test_first_stage);
        return 0;
}
