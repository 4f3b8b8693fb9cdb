/* SPDX-License-Identifier: GPL-2.0-or-later */

/* What the drm-idle stage says and decides: holder lines, the deadline's error, the
 * judgement of masters and lit CRTCs, and observe() on the fixture trees. */

#include <errno.h>
#include <unistd.h>

#include "drm-idle.h"
#include "machine.h"
#include "parse-util.h"
#include "strv.h"
#include "test-stage.h"
#include "tests.h"

extern const Stage stage_drm_idle;

static Machine *load(const char *tree) {
        Machine *m = NULL;

        ASSERT_OK(machine_load(tree, 0, &m));
        return m;
}

static void test_format_usec(void) {
        char buf[32];

        format_usec(10000000, buf, sizeof(buf));
        ASSERT_STREQ(buf, "10s");
        format_usec(2500000, buf, sizeof(buf));
        ASSERT_STREQ(buf, "2.5s");
        format_usec(200000, buf, sizeof(buf));
        ASSERT_STREQ(buf, "200ms");
        format_usec(1, buf, sizeof(buf));
        ASSERT_STREQ(buf, "1ms");       /* rounded up: "0ms" would be a lie */
}

static void test_holder_lines(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        _cleanup_strv_free_ char **lines = NULL;

        /* One line per process, its nodes joined, mapped-only ones marked. */
        ASSERT_EQ(drm_idle_holder_lines(m, getpid(), 0, &lines), 4);
        ASSERT_EQ(strv_length(lines), 4);
        ASSERT_STREQ(lines[0], "pid 412 (cage) holds /dev/dri/card0");
        ASSERT_STREQ(lines[1], "pid 530 (pipewire) holds /dev/snd/controlC0, /dev/snd/pcmC0D0p");
        ASSERT_STREQ(lines[2], "pid 777 (kmscube) holds /dev/dri/renderD128 (mapped)");
        ASSERT_STREQ(lines[3], "pid 901 (fbtest) holds /dev/fb0");
        lines = strv_free(lines);

        ASSERT_EQ(drm_idle_holder_lines(m, getpid(), 10000000, &lines), 4);
        ASSERT_STREQ(lines[0], "wait up to 10s for pid 412 (cage) to release /dev/dri/card0");
        ASSERT_STREQ(lines[1], "wait up to 10s for pid 530 (pipewire) to release "
                               "/dev/snd/controlC0, /dev/snd/pcmC0D0p");
}

static void test_self_is_no_holder(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        _cleanup_strv_free_ char **lines = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n;

        /* As if baton were pipewire: it must never wait for itself. */
        ASSERT_EQ(drm_idle_holder_lines(m, 530, 0, &lines), 3);
        STRV_FOREACH(l, lines)
                ASSERT_NULL(strstr(*l, "pipewire"));

        ASSERT_OK(drm_idle_holder_pids(&m->holders, 530, &pids, &n));
        ASSERT_EQ(n, 3);
        ASSERT_EQ(pids[0], 412);
        ASSERT_EQ(pids[1], 777);        /* one pid per process, however many nodes */
        ASSERT_EQ(pids[2], 901);
        pids = mfree(pids);

        ASSERT_OK(drm_idle_holder_pids(&m->holders, getpid(), &pids, &n));
        ASSERT_EQ(n, 4);
        ASSERT_EQ(pids[1], 530);
}

static void test_no_holders(void) {
        _cleanup_strv_free_ char **lines = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        HolderScan empty = {};
        Machine none = {};
        char *message = (char *) "untouched";
        size_t n = 77;

        ASSERT_EQ(drm_idle_holder_lines(&none, getpid(), 0, &lines), 0);
        ASSERT_TRUE(lines != NULL);
        ASSERT_EQ(strv_length(lines), 0);
        ASSERT_OK(drm_idle_holder_pids(&empty, getpid(), &pids, &n));
        ASSERT_EQ(n, 0);
        ASSERT_EQ(drm_idle_timeout_message(&none, getpid(), 200000, &message), 0);
        ASSERT_NULL(message);
}

static void test_timeout_message(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        _cleanup_free_ char *message = NULL;

        ASSERT_EQ(drm_idle_timeout_message(m, getpid(), 200000, &message), 1);
        ASSERT_STREQ(message,
                     "Timed out after 200ms waiting for the GPU to be released: "
                     "pid 412 (cage) holds /dev/dri/card0; "
                     "pid 530 (pipewire) holds /dev/snd/controlC0, /dev/snd/pcmC0D0p; "
                     "pid 777 (kmscube) holds /dev/dri/renderD128 (mapped); "
                     "pid 901 (fbtest) holds /dev/fb0");
}

static void test_judge_master(void) {
        DrmClient cage = { .command = (char *) "cage", .pid = 412, .master = true };
        DrmClient hidden = { .command = (char *) "weston", .pid = 0, .master = true };
        DrmProbe idle = { .was_master = true, .n_crtcs = 1 };
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        /* debugfs names a master: an error, whatever the probe says. */
        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card0", &cage, &idle, &a), -EBUSY);
        ASSERT_STREQ(a, "/dev/dri/card0 still has a DRM master, pid 412 (cage), "
                        "though no process baton can see holds it");
        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card0", &hidden, NULL, &b), -EBUSY);
        ASSERT_TRUE(strstr(b, "weston in another PID namespace"));

        /* No debugfs, but opening the card did not make us master: someone else is. */
        idle.was_master = false;
        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card0", NULL, &idle, &c), -EBUSY);
        ASSERT_TRUE(startswith(c, "/dev/dri/card0 still has a DRM master that no process baton can see"));
}

static void test_judge_scanout(void) {
        DrmProbe one = { .was_master = true, .n_crtcs = 1, .n_active_crtcs = 1, .active_crtc_ids = { 34 } };
        DrmProbe two = { .was_master = true, .n_crtcs = 4, .n_active_crtcs = 2, .active_crtc_ids = { 34, 37 } };
        DrmProbe many = { .was_master = true, .n_crtcs = 20, .n_active_crtcs = DRM_PROBE_MAX_CRTC_IDS + 2 };
        DrmProbe dark = { .was_master = true, .n_crtcs = 1 };
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        char *d = (char *) "untouched";

        /* Lit without a master: fbdev emulation's last mode, a warning only. */
        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card0", NULL, &one, &a), 0);
        ASSERT_TRUE(startswith(a, "CRTC 34 of /dev/dri/card0 still scans out with no DRM master"));
        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card1", NULL, &two, &b), 0);
        ASSERT_TRUE(startswith(b, "CRTC 34, 37 of /dev/dri/card1 still scan out with no DRM master"));
        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card0", NULL, &many, &c), 0);
        ASSERT_TRUE(strstr(c, " and 2 more of /dev/dri/card0"));

        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card0", NULL, &dark, &d), 0);
        ASSERT_NULL(d);
        d = (char *) "untouched";
        ASSERT_EQ(drm_idle_judge_display("/dev/dri/card0", NULL, NULL, &d), 0);
        ASSERT_NULL(d);
}

static void test_observe_lab(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        _cleanup_strv_free_ char **plan = NULL;
        StagePosition pos = STAGE_MIXED;

        ASSERT_OK(stage_test_observe(&stage_drm_idle, NULL, m, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(plan), 5);
        ASSERT_STREQ(plan[0], "wait up to 10s for pid 412 (cage) to release /dev/dri/card0");
        ASSERT_STREQ(plan[4], "then check that no DRM master remains on /dev/dri/card0 and probe its "
                              "CRTCs (lit ones without a master only warn)");
}

static void test_observe_hidden_master(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        _cleanup_strv_free_ char **plan = NULL;
        StagePosition pos = STAGE_MIXED;
        HolderScan saved = m->holders;

        /* debugfs says cage is master, yet no process visible to baton holds anything. */
        m->holders = (HolderScan) {};
        ASSERT_OK(drm_idle_observe_machine(m, getpid(), 10000000, &pos, &plan));
        m->holders = saved;

        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(plan), 2);
        ASSERT_STREQ(plan[0], "pid 412 (cage) is DRM master of /dev/dri/card0 but holds no node baton "
                              "can see: the handover would fail");
}

static void test_observe_idle(void) {
        _cleanup_(machine_freep) Machine *boot = load(FIXTURE("lab-boot"));
        _cleanup_(machine_freep) Machine *nogpu = load(FIXTURE("nogpu"));
        _cleanup_(machine_freep) Machine *shared = load(FIXTURE("shared-group"));
        _cleanup_strv_free_ char **a = NULL, **b = NULL, **c = NULL;
        StagePosition pos = STAGE_MIXED;

        /* No driver yet, no processes: idle, and no card to probe. */
        ASSERT_OK(drm_idle_observe_machine(boot, getpid(), 10000000, &pos, &a));
        ASSERT_EQ(pos, STAGE_AT_GUEST);
        ASSERT_EQ(strv_length(a), 0);

        ASSERT_OK(drm_idle_observe_machine(nogpu, getpid(), 10000000, &pos, &b));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);

        /* Xorg holds card0 and the nvidia nodes; no debugfs in this tree. */
        ASSERT_OK(drm_idle_observe_machine(shared, getpid(), 2500000, &pos, &c));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_STREQ(c[0], "wait up to 2.5s for pid 1200 (Xorg) to release /dev/dri/card0, "
                           "/dev/nvidia0, /dev/nvidiactl");
}

/* Under gdm, logind opens card0 for the session (TakeDevice): /proc shows PID 1 (its fd
 * store) and systemd-logind holding it, debugfs names systemd-logind as master. Both are
 * the session's, and the wait is for the session, never for those two pids. */
static void test_gdm_session(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("gdm"));
        _cleanup_strv_free_ char **lines = NULL, **plan = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_free_ char *message = NULL;
        StagePosition pos = STAGE_MIXED;
        size_t n;

        ASSERT_EQ(drm_idle_holder_lines(m, getpid(), 0, &lines), 2);
        ASSERT_STREQ(lines[0], "session 2 (labdesk, user, wayland) holds /dev/dri/card0 through "
                               "systemd-logind (its compositor pid 1402 (gnome-shell))");
        ASSERT_STREQ(lines[1], "pid 530 (pipewire) holds /dev/snd/controlC0, /dev/snd/pcmC0D0p");

        ASSERT_OK(drm_idle_holder_pids(&m->holders, getpid(), &pids, &n));
        ASSERT_EQ(n, 2);
        ASSERT_EQ(pids[0], 530);
        ASSERT_EQ(pids[1], 1402);       /* not 1, not 218: they never exit */

        ASSERT_OK(drm_idle_observe_machine(m, getpid(), 10000000, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_STREQ(plan[0], "wait up to 10s for session 2 (labdesk, user, wayland) to release "
                              "/dev/dri/card0 (systemd-logind holds it for the session; its "
                              "compositor pid 1402 (gnome-shell))");
        STRV_FOREACH(l, plan)
                ASSERT_NULL(strstr(*l, "is DRM master"));       /* logind's master is the session's */

        /* The compositor gone, logind not yet done: still the session's, no pid to wait for. */
        for (size_t i = 0; i < m->holders.n_holders; i++)
                if (m->holders.holders[i].pid == 1402)
                        m->holders.holders[i].pid = getpid();
        ASSERT_EQ(drm_idle_timeout_message(m, getpid(), 200000, &message), 1);
        ASSERT_STREQ(message, "Timed out after 200ms waiting for the GPU to be released: "
                              "session 2 (labdesk, user, wayland) holds /dev/dri/card0 through "
                              "systemd-logind (no process of it holds it any more); "
                              "pid 530 (pipewire) holds /dev/snd/controlC0, /dev/snd/pcmC0D0p");
}

/* A session logind no longer lists: what PID 1 and logind still hold is waited for as
 * logind's, and named so. */
static void test_gdm_session_gone(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("gdm"));
        _cleanup_strv_free_ char **lines = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n;

        for (size_t i = 0; i < m->holders.n_holders; i++)
                m->holders.holders[i].session = mfree(m->holders.holders[i].session);
        ASSERT_EQ(drm_idle_holder_lines(m, getpid(), 0, &lines), 3);
        ASSERT_STREQ(lines[0], "systemd-logind holds /dev/dri/card0 for a session that is gone");
        ASSERT_STREQ(lines[2], "pid 1402 (gnome-shell) holds /dev/dri/card0");
        ASSERT_OK(drm_idle_holder_pids(&m->holders, getpid(), &pids, &n));
        ASSERT_EQ(n, 2);
}

int main(void) {
        RUN(test_format_usec);
        RUN(test_holder_lines);
        RUN(test_self_is_no_holder);
        RUN(test_no_holders);
        RUN(test_timeout_message);
        RUN(test_judge_master);
        RUN(test_judge_scanout);
        RUN(test_observe_lab);
        RUN(test_observe_hidden_master);
        RUN(test_observe_idle);
        RUN(test_gdm_session);
        RUN(test_gdm_session_gone);
        return 0;
}
