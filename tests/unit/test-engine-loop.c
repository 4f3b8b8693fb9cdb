/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Issue 14 item 2: the engine's loop never waits for a stage. A stage whose observe() takes
 * 600 ms (a stand-in for a session bus that answers late) is observed in a worker: a 10 ms
 * timer on the engine's loop keeps firing meanwhile, and the stage's answer (nothing to do)
 * still decides the step. */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "engine.h"
#include "stage.h"
#include "strv.h"
#include "tests.h"

#define SLOW_USEC (600 * 1000ULL)

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

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
        ASSERT_OK(sd_event_add_time_relative(event, &timer, CLOCK_MONOTONIC, 10000, 1000, on_tick, &t));
        ASSERT_OK(sd_event_source_set_enabled(timer, SD_EVENT_ON));
        ASSERT_EQ(engine_state(e), ENGINE_IDLE);
        ASSERT_EQ(engine_start(e, ENGINE_HANDOVER, on_done, &t), 1);
        ASSERT_EQ(engine_state(e), ENGINE_TO_GUEST);
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

static void test_state_names(void) {
        for (EngineState s = 0; s < _ENGINE_STATE_MAX; s++)
                ASSERT_EQ(engine_state_from_string(engine_state_to_string(s)), s);
        ASSERT_STREQ(engine_state_to_string(ENGINE_ROLLING_BACK), "rolling-back");
        ASSERT_EQ(engine_state_from_string("running"), -EINVAL);
}

int main(void) {
        RUN(test_state_names);
        RUN(test_slow_observe);
        return 0;
}
