/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Issue 14 item 2: the engine's loop never waits for a stage. A stage whose observe() takes
 * 600 ms (a stand-in for a session bus that answers late) is observed in a worker: a 10 ms
 * timer on the engine's loop keeps firing meanwhile, and the stage's answer (nothing to do)
 * still decides the step. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "config-file.h"
#include "engine.h"
#include "stage.h"
#include "strv.h"
#include "test-bus.h"
#include "tests.h"
#include "time-util.h"

#define SLOW_USEC (600 * 1000ULL)

static int slow_observe(StageInstance *self, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                        char ***ret_plan) {
        int fds[2];

        /* A peer that answers after SLOW_USEC: nothing ever arrives on this pipe. */
        if (pipe(fds) < 0)
                return -errno;
        (void) poll(&(struct pollfd) { .fd = fds[0], .events = POLLIN }, 1, (int) (SLOW_USEC / 1000));
        *ret_pos = STAGE_NOTHING_TO_DO;
        return strv_extend(ret_plan, "the slow peer answered: nothing to do");
}

static int never(Step *s) {
        TEST_FAIL("a stage with nothing to do ran its step");
        return -EIO;
}

static const Stage slow_stage = {
        .name = "slow",
        .summary = "a stage whose observe() waits",
        .observe = slow_observe,
        .to_guest = never,
        .to_host = never,
};

typedef struct Ticks {
        uint64_t last, worst;
        unsigned n;
        int result;
        bool done;
} Ticks;

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Ticks *t = userdata;
        uint64_t now = now_usec();

        if (now - t->last > t->worst)
                t->worst = now - t->last;
        t->last = now;
        t->n++;
        (void) sd_event_source_set_time_relative(s, 10000);
        return 0;
}

/* Starts the 10 ms timer whose ticks show the loop turning; returns when it started. */
static uint64_t ticks_start(sd_event *event, Ticks *t, sd_event_source **ret_timer) {
        ASSERT_OK(sd_event_add_time_relative(event, ret_timer, CLOCK_MONOTONIC, 10000, 1000, on_tick, t));
        ASSERT_OK(sd_event_source_set_enabled(*ret_timer, SD_EVENT_ON));
        return t->last = now_usec();
}

static void on_done(Engine *e, int r, void *userdata) {
        Ticks *t = userdata;

        uint64_t now = now_usec();

        /* The gap up to the end counts too: a loop that waited has no tick in it. */
        if (now - t->last > t->worst)
                t->worst = now - t->last;
        t->result = r;
        t->done = true;
        ASSERT_EQ(engine_state(e), ENGINE_IDLE);        /* before done() is called */
}

static void test_slow_observe(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        char rundir[] = "/tmp/baton-test-engine-loop-XXXXXX", *cmd = NULL;
        sd_event_source *timer = NULL;
        Ticks t = {};
        EngineOptions o = { .root = FIXTURE("lab"), .stages = (const Stage *const[]) { &slow_stage, NULL } };

        ASSERT_TRUE(mkdtemp(rundir) != NULL);
        o.rundir = rundir;
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(engine_new(event, &o, &e));
        (void) ticks_start(event, &t, &timer);
        ASSERT_EQ(engine_state(e), ENGINE_IDLE);
        ASSERT_EQ(engine_start(e, ENGINE_HANDOVER, on_done, &t), 1);
        ASSERT_EQ(engine_state(e), ENGINE_PREFLIGHT);   /* its walk of /proc, off the loop */
        ASSERT_EQ(engine_start(e, ENGINE_RETURN, on_done, &t), -EBUSY);
        t.last = now_usec();
        while (!t.done)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(t.result, 0);
        fprintf(stderr, "while observe() took %llu ms: %u ticks of the 10 ms timer, the longest gap %.1f ms\n",
                (unsigned long long) (SLOW_USEC / 1000), t.n, t.worst / 1e3);
        /* About 60 ticks in 600 ms; a loop that waited for observe() would see a 600 ms gap. */
        if (t.n < 15 || t.worst > 300 * 1000ULL)
                TEST_FAIL("the loop stalled: %u ticks, the longest gap %.0f ms", t.n, t.worst / 1e3);
        sd_event_source_disable_unref(timer);
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", rundir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
}

/* Row 17 of issue 19 and issue 14: a recover on a machine whose sysfs does not answer (a
 * driver unbind still in the kernel, played by a FIFO as the GPU's driver_override) waits for
 * its worker on the loop: the timer keeps ticking, and past the unbind deadline the start fails
 * with the reason, nothing changed. */
static void test_stuck_sysfs(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        char tree[] = "/tmp/baton-test-engine-tree-XXXXXX", rundir[] = "/tmp/baton-test-engine-loop-XXXXXX";
        char *cmd = NULL, *fifo = NULL;
        EngineOptions o = { .stages = (const Stage *const[]) { &slow_stage, NULL } };
        sd_event_source *timer = NULL;
        Ticks t = {};
        uint64_t begin;
        Config c;
        int fd;

        ASSERT_TRUE(mkdtemp(tree) != NULL);
        ASSERT_TRUE(mkdtemp(rundir) != NULL);
        ASSERT_TRUE(asprintf(&cmd, "cp -a '%s/.' '%s'", FIXTURE("lab"), tree) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        ASSERT_TRUE(asprintf(&fifo, "%s/sys/bus/pci/devices/0000:00:02.0/driver_override", tree) > 0);
        (void) unlink(fifo);
        ASSERT_OK(mkfifo(fifo, 0600));
        config_init(&c);
        c.deadline_usec[DEADLINE_UNBIND] = 1500 * 1000ULL;
        o.config = &c;
        o.root = tree;
        o.rundir = rundir;
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(engine_new(event, &o, &e));
        begin = ticks_start(event, &t, &timer);
        ASSERT_EQ(engine_start(e, ENGINE_RECOVER, on_done, &t), 1);
        ASSERT_EQ(engine_state(e), ENGINE_OBSERVING);
        ASSERT_EQ(engine_start(e, ENGINE_RETURN, on_done, &t), -EBUSY);
        while (!t.done)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(t.result, -ETIMEDOUT);
        ASSERT_EQ(engine_state(e), ENGINE_IDLE);
        ASSERT_TRUE(strstr(strempty(engine_refusal(e)), "The kernel is still writing to a device after 1.5s"));
        fprintf(stderr, "while sysfs did not answer for %.0f ms: %u ticks of the 10 ms timer, the longest gap "
                "%.1f ms\n", (now_usec() - begin) / 1e3, t.n, t.worst / 1e3);
        if (now_usec() - begin < 1500 * 1000ULL || t.n < 30 || t.worst > 300 * 1000ULL)
                TEST_FAIL("the loop stalled: %u ticks, the longest gap %.0f ms", t.n, t.worst / 1e3);
        /* Let the worker go: a writer opens the FIFO its open() waits on. */
        fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
                close(fd);
        sd_event_source_disable_unref(timer);
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s' '%s'", tree, rundir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        free(fifo);
}

/* --- A failure's reason travels with its step --- */

static int at_host(StageInstance *self, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                   char ***ret_plan) {
        *ret_pos = STAGE_AT_HOST;
        return 0;
}

static int acts_to_guest(Step *s) {
        ASSERT_OK(step_record(s, "done", "1"));
        ASSERT_OK(step_commit(s));
        step_warning(s, "acts: something was not quite right");
        return 0;
}

static int acts_to_host(Step *s) {
        return 0;
}

/* Says whose session it would have ended: the user of the engine's configuration. */
static int fails_to_guest(Step *s) {
        log_error("noise: logged while the step runs, but not the step's");
        return step_error_errno(s, SYNTHETIC_ERRNO(EIO), "fails: %s's device said no",
                                step_config(s)->session_user);
}

static const Stage acts_stage = {
        .name = "acts", .summary = "a stage that acts", .observe = at_host,
        .to_guest = acts_to_guest, .to_host = acts_to_host,
};

static const Stage fails_stage = {
        .name = "fails", .summary = "a stage that fails", .observe = at_host,
        .to_guest = fails_to_guest, .to_host = never,
};

static void on_failed(Engine *e, int r, void *userdata) {
        Ticks *t = userdata;

        t->result = r;
        t->done = true;
}

/* Runs a handover of first and fails with [session] user = user; *ret is the engine, for its timeline. */
static void handover_failing(const Stage *first, const char *user, Engine **ret) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        char rundir[] = "/tmp/baton-test-engine-loop-XXXXXX", *cmd = NULL;
        EngineOptions o = { .root = FIXTURE("lab"),
                            .stages = (const Stage *const[]) { first, &fails_stage, NULL } };
        Ticks t = {};
        Config c;

        config_init(&c);
        strcpy(c.session_user, user);
        o.config = &c;
        ASSERT_TRUE(mkdtemp(rundir) != NULL);
        o.rundir = rundir;
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(engine_new(event, &o, ret));
        ASSERT_EQ(engine_start(*ret, ENGINE_HANDOVER, on_failed, &t), 1);
        while (!t.done)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(t.result, -EIO);
        ASSERT_FALSE(engine_rollback_incomplete(*ret));
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", rundir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
}

/* Issue 14 item 1: the timeline's reason is what the stage logged through its step (not the
 * first error anybody logged meanwhile), its warning the step's first warning, and the step's
 * configuration is its engine's: two engines in one process, two users, two reasons. */
static void test_reason_from_step(void) {
        _cleanup_(engine_freep) Engine *a = NULL, *b = NULL;
        const StageTiming *ta, *tb;
        size_t na, nb;

        handover_failing(&acts_stage, "alice", &a);
        handover_failing(&acts_stage, "bob", &b);
        ta = engine_timeline(a, &na);
        tb = engine_timeline(b, &nb);
        ASSERT_EQ(na, 3);                       /* acts, fails, acts rolled back */
        ASSERT_EQ(nb, 3);
        ASSERT_STREQ(ta[0].stage, "acts");
        ASSERT_STREQ(ta[0].warning, "acts: something was not quite right");
        ASSERT_STREQ(ta[1].stage, "fails");
        ASSERT_EQ(ta[1].result, -EIO);
        ASSERT_STREQ(ta[1].reason, "fails: alice's device said no");
        ASSERT_STREQ(tb[1].reason, "fails: bob's device said no");
        ASSERT_FALSE(ta[2].to_guest);
        ASSERT_EQ(ta[2].result, 0);
        ASSERT_NULL(ta[2].warning);
}

/* Issue 17: a run of stages with nothing to do is observed by one worker, on one read of the
 * machine; a stage that reads the holders, which that read left out, by a worker of its own.
 * Each observe() writes its stage's name and its process to a file. */
static int observers_fd = -EBADF;

static int noting_observe(StageInstance *self, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                          char ***ret_plan) {
        dprintf(observers_fd, "%d\n", (int) getpid());
        *ret_pos = STAGE_NOTHING_TO_DO;
        return 0;
}

static int noting_at_host(StageInstance *self, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                          char ***ret_plan) {
        dprintf(observers_fd, "%d\n", (int) getpid());
        *ret_pos = STAGE_AT_HOST;
        return 0;
}

static const Stage idle_a = { .name = "idle-a", .summary = "nothing to do", .observe = noting_observe,
                              .to_guest = never, .to_host = never };
static const Stage idle_b = { .name = "idle-b", .summary = "nothing to do", .observe = noting_observe,
                              .to_guest = never, .to_host = never };
static const Stage idle_holders = { .name = "idle-holders", .summary = "nothing to do, seen from the holders",
                                    .observe = noting_observe, .to_guest = never, .to_host = never,
                                    .observes_holders = true };
static const Stage acts_last = { .name = "acts", .summary = "a stage that acts", .observe = noting_at_host,
                                 .to_guest = acts_to_guest, .to_host = acts_to_host };

/* A handover of stages, the engine on bus when there is one (*ret: the engine, for its
 * timeline). Returns how many observe() calls there were, their processes in pids (the
 * first max). */
static size_t handover_observed(sd_bus *bus, sd_event *event, const Stage *const *stages, Engine **ret, int *pids,
                                size_t max) {
        char rundir[] = "/tmp/baton-test-engine-run-XXXXXX", path[] = "/tmp/baton-test-observers-XXXXXX";
        EngineOptions o = { .root = FIXTURE("lab"), .stages = stages };
        char *cmd = NULL;
        size_t n = 0;
        Ticks t = {};
        FILE *f;
        Config c;
        int pid;

        config_init(&c);
        o.config = &c;
        ASSERT_TRUE(mkdtemp(rundir) != NULL);
        o.rundir = rundir;
        observers_fd = mkstemp(path);
        ASSERT_TRUE(observers_fd >= 0);
        ASSERT_OK(engine_new(event, &o, ret));
        if (bus)
                engine_set_system_bus(*ret, bus);
        ASSERT_EQ(engine_start(*ret, ENGINE_HANDOVER, on_failed, &t), 1);
        while (!t.done)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(t.result, 0);

        f = fopen(path, "re");
        ASSERT_TRUE(f != NULL);
        while (fscanf(f, "%d", &pid) == 1)
                if (n++ < max)
                        pids[n - 1] = pid;
        fclose(f);
        close(observers_fd);
        observers_fd = -EBADF;
        (void) unlink(path);
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", rundir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        return n;
}

static void test_observe_run(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        const StageTiming *tl;
        int pid[4];
        size_t nt;

        ASSERT_OK(sd_event_new(&event));
        ASSERT_EQ(handover_observed(NULL, event,
                                    (const Stage *const[]) { &idle_a, &idle_b, &idle_holders, &acts_last, NULL },
                                    &e, pid, ELEMENTSOF(pid)), 4);      /* each stage observed once */
        ASSERT_EQ(pid[0], pid[1]);              /* idle-a and idle-b: one worker */
        ASSERT_TRUE(pid[2] != pid[1]);          /* the holders: read anew, in a worker of its own */
        ASSERT_EQ(pid[2], pid[3]);              /* which goes on to the stage that acts */
        ASSERT_TRUE(pid[0] != getpid());        /* never on the loop's process */
        tl = engine_timeline(e, &nt);
        ASSERT_EQ(nt, 4);
        ASSERT_TRUE(tl[0].skipped && tl[1].skipped && tl[2].skipped);
        ASSERT_STREQ(tl[3].stage, "acts");
        ASSERT_FALSE(tl[3].skipped);
}

/* Issue 17: a stage whose observe() cannot wait (observe_on_loop) is observed on the loop's
 * process, with no worker forked for it, whether it has nothing to do, reads the holders
 * anew after a stage acted, or acts; a stage without the flag between them still gets a
 * worker. */
static const Stage loop_idle = { .name = "loop-idle", .summary = "nothing to do, on the loop",
                                 .observe = noting_observe, .to_guest = never, .to_host = never,
                                 .observe_on_loop = true };
static const Stage loop_holders = { .name = "loop-holders", .summary = "nothing to do, from the holders",
                                    .observe = noting_observe, .to_guest = never, .to_host = never,
                                    .observes_holders = true, .observe_on_loop = true };
static const Stage loop_acts = { .name = "loop-acts", .summary = "a stage that acts, on the loop",
                                 .observe = noting_at_host, .to_guest = acts_to_guest, .to_host = acts_to_host,
                                 .observe_on_loop = true };

static void test_observe_on_loop(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        const StageTiming *tl;
        int pid[4];
        size_t nt;

        ASSERT_OK(sd_event_new(&event));
        ASSERT_EQ(handover_observed(NULL, event,
                                    (const Stage *const[]) { &loop_idle, &acts_last, &loop_holders, &loop_acts, NULL },
                                    &e, pid, ELEMENTSOF(pid)), 4);      /* each stage observed once */
        ASSERT_EQ(pid[0], getpid());            /* loop-idle: on the loop */
        ASSERT_TRUE(pid[1] != getpid());        /* acts: in a worker */
        ASSERT_EQ(pid[2], getpid());            /* loop-holders: the machine read anew, on the loop */
        ASSERT_EQ(pid[3], getpid());            /* loop-acts */
        tl = engine_timeline(e, &nt);
        ASSERT_EQ(nt, 4);
        ASSERT_TRUE(tl[0].skipped && tl[2].skipped);
        ASSERT_FALSE(tl[1].skipped);
        ASSERT_STREQ(tl[3].stage, "loop-acts");
        ASSERT_FALSE(tl[3].skipped);
        ASSERT_EQ(tl[3].result, 0);
}

/* Issue 17: the daemon asks systemd about a stage's unit on its own connection when a handover
 * is requested (engine_set_system_bus()). While no stage has acted, that answer is the stage's
 * observation, judged on the loop: no worker observes it. Once a stage acted, its worker does.
 * The private bus has no systemd: its answer is an error, which the judgement gets. */
static unsigned n_judged;
static int judged_error;

static const char *unit_observed_unit(StageInstance *self, const StageContext *ctx) {
        return "baton-test.service";
}

static int unit_judge(StageInstance *self, const StageContext *ctx, int error, const UnitInfo *info,
                      StagePosition *ret_pos, char ***ret_plan) {
        ASSERT_TRUE(ctx->first_line_only);
        n_judged++;
        judged_error = error;
        *ret_pos = STAGE_NOTHING_TO_DO;
        return strv_extend(ret_plan, "judged from systemd's answer");
}

static const Stage unit_stage = { .name = "unit", .summary = "what systemd says of a unit",
                                  .observe = noting_observe, .observed_unit = unit_observed_unit,
                                  .judge_unit = unit_judge, .to_guest = never, .to_host = never };

/* A step's connection (step_system_bus()): the front end's when the engine has one; its unique
 * name, to tell which. */
static char *step_bus_name;

static int bus_to_guest(Step *s) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        const char *name;

        ASSERT_OK(step_system_bus(s, &bus));
        ASSERT_OK(sd_bus_get_unique_name(bus, &name));
        free(step_bus_name);
        step_bus_name = strdup(name);
        ASSERT_TRUE(step_bus_name);
        return acts_to_guest(s);
}

static const Stage bus_stage = { .name = "bus", .summary = "acts on the system bus", .observe = noting_at_host,
                                 .to_guest = bus_to_guest, .to_host = acts_to_host };

static void test_unit_answer(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(engine_freep) Engine *first = NULL, *second = NULL, *third = NULL;
        char dir[] = "/tmp/baton-test-engine-bus-XXXXXX";
        const char *name;
        const StageTiming *tl;
        TestBus b = {};
        int r, pid[4];
        size_t nt;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        r = test_bus_start(&b, dir);
        if (r == -ENOENT) {
                printf("ok # SKIP test_unit_answer: no dbus-daemon\n");
                (void) rmdir(dir);
                return;
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(test_bus_connect(b.address, &bus));
        ASSERT_OK(sd_bus_attach_event(bus, event, 0));

        /* Nothing acted before it: judged from the answer, observed by no worker. */
        n_judged = 0;
        ASSERT_EQ(handover_observed(bus, event, (const Stage *const[]) { &idle_a, &unit_stage, &acts_last, NULL },
                                    &first, pid, ELEMENTSOF(pid)), 2);  /* idle-a and acts */
        ASSERT_EQ(n_judged, 1);
        ASSERT_TRUE(judged_error < 0);          /* no systemd on this bus */
        tl = engine_timeline(first, &nt);
        ASSERT_EQ(nt, 3);
        ASSERT_STREQ(tl[1].stage, "unit");
        ASSERT_TRUE(tl[1].skipped);
        ASSERT_FALSE(tl[2].skipped);

        /* A stage acted first: the answer is older than that, so a worker observes the stage. */
        n_judged = 0;
        ASSERT_EQ(handover_observed(bus, event, (const Stage *const[]) { &acts_last, &unit_stage, &bus_stage, NULL },
                                    &second, pid, ELEMENTSOF(pid)), 3);  /* acts, unit and bus */
        ASSERT_TRUE(pid[1] != getpid());        /* unit: by its worker */
        ASSERT_EQ(n_judged, 0);
        tl = engine_timeline(second, &nt);
        ASSERT_EQ(nt, 3);
        ASSERT_STREQ(tl[1].stage, "unit");
        ASSERT_TRUE(tl[1].skipped);
        /* A step's calls go over the front end's connection: no connection of its own. */
        ASSERT_FALSE(tl[2].skipped);
        ASSERT_OK(sd_bus_get_unique_name(bus, &name));
        ASSERT_STREQ(step_bus_name, name);

        /* Without one (fixtures, no bus where the CLI looked), the step connects on its own. */
        ASSERT_OK(setenv("DBUS_SYSTEM_BUS_ADDRESS", b.address, 1));
        ASSERT_EQ(handover_observed(NULL, event, (const Stage *const[]) { &bus_stage, NULL }, &third, pid,
                                    ELEMENTSOF(pid)), 1);
        ASSERT_OK(unsetenv("DBUS_SYSTEM_BUS_ADDRESS"));
        ASSERT_TRUE(step_bus_name && !streq(step_bus_name, name));
        step_bus_name = mfree(step_bus_name);

        test_bus_stop(&b);
        (void) rmdir(dir);
}

/* A handover whose journal cannot be created fails before any stage, with its first stage
 * already being observed (engine_observe_early()), and its answer perhaps held while the
 * pre-flights walked /proc: that observation ends with it. Before,
 * its worker ran on, its machine freed under it, and the engine freed that machine again
 * (ASan: double free). journal_create() fails here on a dangling symlink in the journal's
 * place, which journal_load() reads as no journal. */
static void test_journal_create_fails(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        char rundir[] = "/tmp/baton-test-engine-nojournal-XXXXXX", *cmd = NULL, *journal = NULL;
        EngineOptions o = { .root = FIXTURE("lab"),
                            .stages = (const Stage *const[]) { &idle_a, &acts_last, NULL } };
        sd_event_source *timer = NULL;
        Ticks t = {};
        Config c;

        config_init(&c);
        o.config = &c;
        ASSERT_TRUE(mkdtemp(rundir) != NULL);
        o.rundir = rundir;
        ASSERT_TRUE(asprintf(&journal, "%s/journal", rundir) > 0);
        ASSERT_EQ(symlink("/nonexistent/baton-test", journal), 0);
        observers_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        ASSERT_TRUE(observers_fd >= 0);
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(engine_new(event, &o, &e));
        /* The journal is created once the pre-flights, after their walk of /proc, let the
         * handover begin. */
        ASSERT_EQ(engine_start(e, ENGINE_HANDOVER, on_failed, &t), 1);
        while (!t.done)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(t.result, -EEXIST);
        ASSERT_EQ(engine_state(e), ENGINE_IDLE);
        ASSERT_NULL(engine_current_stage(e));
        /* The loop runs past the time the worker took to answer: no stage follows. */
        t.done = false;
        (void) ticks_start(event, &t, &timer);
        while (t.n < 30)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_FALSE(t.done);
        ASSERT_EQ(engine_state(e), ENGINE_IDLE);
        sd_event_source_disable_unref(timer);

        close(observers_fd);
        observers_fd = -EBADF;
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", rundir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        free(journal);
}

/* Issue 17: the holders are read for a stage's way to the guest only; no to_host reads them,
 * and a walk back (here the rollback of a failed handover) walked /proc for nothing. */
static size_t holders_to_guest = SIZE_MAX, holders_to_host = SIZE_MAX;

static int holders_seen_to_guest(Step *s) {
        holders_to_guest = step_machine(s)->holders.n_holders;
        ASSERT_OK(step_record(s, "done", "1"));
        ASSERT_OK(step_commit(s));
        return 0;
}

static int holders_seen_to_host(Step *s) {
        holders_to_host = step_machine(s)->holders.n_holders;
        return 0;
}

static const Stage holders_seen = { .name = "holders-seen", .summary = "acts, reading the holders",
                                    .observe = at_host, .observes_holders = true,
                                    .to_guest = holders_seen_to_guest, .to_host = holders_seen_to_host };

static void test_holders_towards_guest_only(void) {
        _cleanup_(engine_freep) Engine *e = NULL;

        handover_failing(&holders_seen, "", &e);
        ASSERT_TRUE(holders_to_guest > 0 && holders_to_guest != SIZE_MAX);     /* the fixture's card holders */
        ASSERT_EQ(holders_to_host, 0);          /* rolled back, without a walk of /proc */
}

/* Issue 17: a step that looked at the holders after its last action offers that look
 * (step_offer_holders(), audio's last look); the next stage that reads the holders starts
 * from it, not from a walk of /proc, unless another step acted in between. The offered
 * look names a process the fixture does not have: pid 4242. */
static bool saw_offered;

static int offers_to_guest(Step *s) {
        HolderScan scan = {};
        Holder *h;

        ASSERT_OK(step_record(s, "done", "1"));
        ASSERT_OK(step_commit(s));
        h = array_append(&scan.holders, &scan.n_holders, sizeof(*scan.holders));
        ASSERT_TRUE(h != NULL);
        *h = (Holder) { .pid = 4242, .comm = strdup("offered"), .node = strdup("/dev/dri/card0") };
        ASSERT_TRUE(h->comm && h->node);
        step_offer_holders(s, &scan);
        return 0;
}

static int holders_after_to_guest(Step *s) {
        const Machine *m = step_machine(s);

        saw_offered = false;
        for (size_t i = 0; i < m->holders.n_holders; i++)
                saw_offered |= m->holders.holders[i].pid == 4242;
        ASSERT_TRUE(m->holders.n_holders > 0);
        ASSERT_OK(step_record(s, "done", "1"));
        ASSERT_OK(step_commit(s));
        return 0;
}

static const Stage offers = { .name = "offers", .summary = "acts, then offers its look at the holders",
                              .observe = at_host, .to_guest = offers_to_guest, .to_host = acts_to_host };
static const Stage holders_after = { .name = "holders-after", .summary = "acts, reading the holders",
                                     .observe = at_host, .observes_holders = true,
                                     .to_guest = holders_after_to_guest, .to_host = acts_to_host };

static void test_offered_holders(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        Engine *e = NULL;

        ASSERT_OK(sd_event_new(&event));
        /* Right after the step that offered it. */
        (void) handover_observed(NULL, event, (const Stage *const[]) { &offers, &holders_after, NULL }, &e, NULL, 0);
        ASSERT_TRUE(saw_offered);
        e = engine_free(e);
        /* Or after a stage with nothing to do, on the machine it read. */
        (void) handover_observed(NULL, event, (const Stage *const[]) { &offers, &idle_a, &holders_after, NULL }, &e,
                                 NULL, 0);
        ASSERT_TRUE(saw_offered);
        e = engine_free(e);
        /* A step acted in between: the holders are walked for again, and 4242 is not there. */
        (void) handover_observed(NULL, event, (const Stage *const[]) { &offers, &acts_last, &holders_after, NULL },
                                 &e, NULL, 0);
        ASSERT_FALSE(saw_offered);
        e = engine_free(e);
}

static void test_state_names(void) {
        for (EngineState s = 0; s < _ENGINE_STATE_MAX; s++)
                ASSERT_EQ(engine_state_from_string(engine_state_to_string(s)), s);
        ASSERT_STREQ(engine_state_to_string(ENGINE_ROLLING_BACK), "rolling-back");
        ASSERT_EQ(engine_state_from_string("running"), -EINVAL);
}

/* Row 13 of issue 19: a pre-flight that waits for a holder (-EAGAIN). The engine waits on its
 * loop, within the "holders" deadline, with nothing recorded; then asks a last time and goes on
 * or refuses, and a cancel ends the wait. */
static int preflight_answer, n_preflight[3];

static int waiting_preflight(StageInstance *self, const StageContext *ctx, const Machine *m, PreflightMode mode) {
        n_preflight[mode]++;
        if (mode != PREFLIGHT_LAST)
                return -EAGAIN;
        if (preflight_answer < 0)
                return stage_error_errno(ctx, preflight_answer, "Not handing the GPU over: pid 42 (aplay) holds it");
        return 0;
}

static int idle_observe(StageInstance *self, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                        char ***ret_plan) {
        *ret_pos = STAGE_NOTHING_TO_DO;
        return 0;
}

static const Stage waiting_stage = {
        .name = "waiting",
        .summary = "a stage whose pre-flight waits for a holder",
        .observe = idle_observe,
        .to_guest = never,
        .to_host = never,
        .preflight = waiting_preflight,
};

typedef enum CancelAt {
        CANCEL_NEVER,
        CANCEL_IN_WALK,         /* while the pre-flights wait for their walk of /proc */
        CANCEL_IN_WAIT,         /* while the pre-flight waits for its holder */
} CancelAt;

static void run_waiting(int answer, CancelAt cancel, int expect) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        char rundir[] = "/tmp/baton-test-engine-wait-XXXXXX", *journal = NULL, *cmd = NULL;
        sd_event_source *timer = NULL;
        EngineOptions o = { .root = FIXTURE("lab"),
                            .stages = (const Stage *const[]) { &waiting_stage, NULL } };
        Ticks t = {};
        uint64_t begin;
        Config c;

        config_init(&c);
        c.deadline_usec[DEADLINE_HOLDERS] = 300 * 1000ULL;
        o.config = &c;
        preflight_answer = answer;
        memset(n_preflight, 0, sizeof(n_preflight));
        ASSERT_TRUE(mkdtemp(rundir) != NULL);
        ASSERT_TRUE(asprintf(&journal, "%s/journal", rundir) > 0);
        o.rundir = rundir;
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(engine_new(event, &o, &e));
        begin = ticks_start(event, &t, &timer);
        ASSERT_EQ(engine_start(e, ENGINE_HANDOVER, on_done, &t), 1);
        ASSERT_TRUE(engine_running(e));
        /* The pre-flights wait for the walk of /proc, on the loop. */
        ASSERT_EQ(engine_state(e), ENGINE_PREFLIGHT);
        ASSERT_EQ(n_preflight[PREFLIGHT_MAY_WAIT], 0);
        if (cancel == CANCEL_IN_WALK)
                ASSERT_EQ(engine_cancel(e), 1);
        while (!t.done && n_preflight[PREFLIGHT_MAY_WAIT] == 0)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(n_preflight[PREFLIGHT_MAY_WAIT], cancel == CANCEL_IN_WALK ? 0 : 1);
        ASSERT_TRUE(access(journal, F_OK) < 0);         /* nothing recorded while it waits */
        if (cancel == CANCEL_IN_WAIT)
                ASSERT_EQ(engine_cancel(e), 1);
        while (!t.done)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(t.result, expect);
        ASSERT_FALSE(engine_running(e));
        /* A handover that ran leaves its completed journal; a refused one, none. */
        ASSERT_EQ(access(journal, F_OK) >= 0, expect == 0);
        ASSERT_EQ(n_preflight[PREFLIGHT_LAST], cancel != CANCEL_NEVER ? 0 : 1);
        /* The refusal after the wait is kept for the daemon's reply. */
        if (expect == -EBUSY)
                ASSERT_STREQ(engine_refusal(e), "Not handing the GPU over: pid 42 (aplay) holds it");
        else
                ASSERT_NULL(engine_refusal(e));
        if (cancel == CANCEL_NEVER && (now_usec() - begin < 300 * 1000ULL || t.n < 5))
                TEST_FAIL("the wait ended after %.0f ms with %u ticks: not the deadline, or not on the loop",
                          (now_usec() - begin) / 1e3, t.n);
        if (cancel != CANCEL_NEVER && now_usec() - begin >= 300 * 1000ULL)
                TEST_FAIL("the cancel did not end the wait");
        sd_event_source_disable_unref(timer);
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", rundir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        free(journal);
}

static void test_preflight_wait(void) {
        run_waiting(-EBUSY, CANCEL_NEVER, -EBUSY);      /* still held at the deadline: refused */
        run_waiting(0, CANCEL_NEVER, 0);                /* gone by then: the handover runs */
        run_waiting(0, CANCEL_IN_WAIT, -ECANCELED);
        run_waiting(0, CANCEL_IN_WALK, -ECANCELED);
}

/* Issue 17: the walks of /proc are awaited on the loop. A process of the fixture is stuck with
 * its memory map (a FIFO as its maps, test-machine.c): for 30 ticks of the loop, then until the
 * next tick each time a walker waits on it. The loop turns meanwhile. During the pre-flights'
 * walk the first stage's early observation may answer, but no stage is taken; the handover then
 * goes on from that answer. The walk before a stage that reads the holders, after one acted,
 * is awaited the same way. */
typedef struct Release {
        EngineState state;
        size_t n_timeline;
        const char *stage;
} Release;

typedef struct StuckWalk {
        Engine *engine;
        const char *fifo;
        unsigned ticks;
        Release releases[4];
        size_t n_releases;
} StuckWalk;

static int on_stuck_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        StuckWalk *w = userdata;

        if (++w->ticks >= 30 && w->n_releases < ELEMENTSOF(w->releases)) {
                /* ENXIO: no walker waits on it now. */
                int fd = open(w->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

                ASSERT_TRUE(fd >= 0 || errno == ENXIO);
                if (fd >= 0) {
                        Release *r = &w->releases[w->n_releases++];

                        r->state = engine_state(w->engine);
                        (void) engine_timeline(w->engine, &r->n_timeline);
                        r->stage = engine_current_stage(w->engine);
                        close(fd);
                }
        }
        (void) sd_event_source_set_time_relative(s, 10000);
        return 0;
}

static void test_walks_off_loop(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        char tree[] = "/tmp/baton-test-engine-walk-XXXXXX", rundir[] = "/tmp/baton-test-engine-walk-run-XXXXXX";
        char *cmd = NULL, *fifo = NULL;
        EngineOptions o = { .stages = (const Stage *const[]) { &idle_a, &acts_last, &idle_holders, NULL } };
        sd_event_source *timer = NULL;
        const StageTiming *tl;
        StuckWalk w = {};
        Ticks t = {};
        size_t nt;
        Config c;

        config_init(&c);
        o.config = &c;
        ASSERT_TRUE(mkdtemp(tree) != NULL && mkdtemp(rundir) != NULL);
        o.root = tree;
        o.rundir = rundir;
        ASSERT_TRUE(asprintf(&cmd, "cp -a '%s/.' '%s/' && mkdir -p '%s/proc/4242/fd' && ln -s /dev/null '%s/proc/4242/fd/0' "
                             "&& echo nfs-reader > '%s/proc/4242/comm'", FIXTURE("lab"), tree, tree, tree, tree) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        ASSERT_TRUE(asprintf(&fifo, "%s/proc/4242/maps", tree) > 0);
        ASSERT_OK(mkfifo(fifo, 0600) < 0 ? -errno : 0);
        observers_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        ASSERT_TRUE(observers_fd >= 0);

        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(engine_new(event, &o, &e));
        w = (StuckWalk) { .engine = e, .fifo = fifo };
        ASSERT_OK(sd_event_add_time_relative(event, &timer, CLOCK_MONOTONIC, 10000, 1000, on_stuck_tick, &w));
        ASSERT_OK(sd_event_source_set_enabled(timer, SD_EVENT_ON));
        ASSERT_EQ(engine_start(e, ENGINE_HANDOVER, on_failed, &t), 1);
        while (!t.done)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        ASSERT_EQ(t.result, 0);
        ASSERT_TRUE(w.ticks >= 30);                     /* the loop turned while the walkers waited */
        ASSERT_EQ(w.n_releases, 2);
        /* The pre-flights' walk: no stage ran yet; the first was observed early, not taken. */
        ASSERT_EQ(w.releases[0].state, ENGINE_PREFLIGHT);
        ASSERT_EQ(w.releases[0].n_timeline, 0);
        ASSERT_STREQ(w.releases[0].stage, "idle-a");
        /* The walk before idle-holders, after acts acted. */
        ASSERT_EQ(w.releases[1].state, ENGINE_TO_GUEST);
        ASSERT_EQ(w.releases[1].n_timeline, 2);
        ASSERT_STREQ(w.releases[1].stage, "idle-holders");
        tl = engine_timeline(e, &nt);
        ASSERT_EQ(nt, 3);
        ASSERT_TRUE(tl[0].skipped);
        ASSERT_STREQ(tl[1].stage, "acts");
        ASSERT_FALSE(tl[1].skipped);
        ASSERT_EQ(tl[1].result, 0);
        ASSERT_TRUE(tl[2].skipped);

        sd_event_source_disable_unref(timer);
        close(observers_fd);
        observers_fd = -EBADF;
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s' '%s'", tree, rundir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        free(fifo);
}

int main(void) {
        RUN(test_preflight_wait);
        RUN(test_state_names);
        RUN(test_slow_observe);
        RUN(test_stuck_sysfs);
        RUN(test_reason_from_step);
        RUN(test_observe_run);
        RUN(test_observe_on_loop);
        RUN(test_unit_answer);
        RUN(test_journal_create_fails);
        RUN(test_holders_towards_guest_only);
        RUN(test_walks_off_loop);
        RUN(test_offered_holders);
        return 0;
}
