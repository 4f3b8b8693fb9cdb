/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The pidfd wait helper against real processes this test forks itself: one that exits
 * when the test writes to its pipe (from a deferred event: nothing sleeps), one that never
 * exits until the test kills it after the deadline, and one already gone. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "pidfd-wait.h"
#include "tests.h"

#define DEADLINE_USEC 200000ULL         /* 200 ms: how long a survivor is waited for */
#define GENEROUS_USEC 5000000ULL        /* for processes that exit: a loaded CI is no failure */
#define SAFETY_USEC 10000000ULL         /* a wait that never reports fails the test after 10 s */

typedef struct Run {
        sd_event *event;
        unsigned calls;
        pid_t survivors[4];
        size_t n_survivors;
        uint64_t start, at;             /* CLOCK_MONOTONIC */
        int release_fd;                 /* written to from a deferred event; -EBADF: none */
} Run;

/* A child that blocks reading fd and exits 0 when a byte (or EOF) arrives. */
static pid_t fork_reader(int fds[2]) {
        pid_t pid;
        char c;

        ASSERT_OK(pipe2(fds, O_CLOEXEC));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                (void) close(fds[1]);
                _exit(read(fds[0], &c, 1) >= 0 ? 0 : 1);
        }
        (void) close(fds[0]);
        return pid;
}

static int exit_code(pid_t pid) {
        int status;

        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void on_done(PidfdWait *w, const pid_t *survivors, size_t n_survivors, void *userdata) {
        Run *run = userdata;

        run->calls++;
        run->n_survivors = n_survivors;
        for (size_t i = 0; i < n_survivors && i < ELEMENTSOF(run->survivors); i++)
                run->survivors[i] = survivors[i];
        ASSERT_OK(sd_event_now(run->event, CLOCK_MONOTONIC, &run->at));
        /* The callback may free the wait: the helper must not touch it afterwards. */
        pidfd_wait_free(w);
        ASSERT_OK(sd_event_exit(run->event, 0));
}

static int on_release(sd_event_source *s, void *userdata) {
        Run *run = userdata;

        ASSERT_EQ(write(run->release_fd, "x", 1), 1);
        return 0;
}

static int on_safety(sd_event_source *s, uint64_t usec, void *userdata) {
        TEST_FAIL("the wait never reported");
}

/* Waits for pids with the helper, releasing the reader behind release_fd from the loop. */
static void run_wait(Run *run, const pid_t *pids, size_t n, uint64_t deadline_usec) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *release = NULL, *safety = NULL;
        PidfdWait *w = NULL;

        ASSERT_OK(sd_event_new(&run->event));
        ASSERT_OK(sd_event_now(run->event, CLOCK_MONOTONIC, &run->start));
        ASSERT_OK(pidfd_wait_new(run->event, pids, n, run->start + deadline_usec, on_done, run, &w));
        ASSERT_TRUE(w != NULL);
        ASSERT_EQ(run->calls, 0);       /* never from inside pidfd_wait_new() */

        if (run->release_fd >= 0)
                ASSERT_OK(sd_event_add_defer(run->event, &release, on_release, run));
        ASSERT_OK(sd_event_add_time_relative(run->event, &safety, CLOCK_MONOTONIC, SAFETY_USEC, 0,
                                             on_safety, NULL));
        ASSERT_OK(sd_event_loop(run->event));
        release = sd_event_source_unref(release);
        safety = sd_event_source_unref(safety);
        run->event = sd_event_unref(run->event);
        ASSERT_EQ(run->calls, 1);
}

static void test_exit_before_deadline(void) {
        Run run = { .release_fd = -EBADF };
        int fds[2];
        pid_t pid = fork_reader(fds);

        run.release_fd = fds[1];
        run_wait(&run, &pid, 1, GENEROUS_USEC);

        ASSERT_EQ(run.n_survivors, 0);
        ASSERT_TRUE(run.at - run.start < GENEROUS_USEC);
        ASSERT_EQ(exit_code(pid), 0);   /* it exited because it read our byte */
        (void) close(fds[1]);
}

static void test_survivor_at_deadline(void) {
        Run run = { .release_fd = -EBADF };
        int released[2], stuck[2];
        pid_t pids[2];

        pids[0] = fork_reader(stuck);           /* nobody writes: runs until killed */
        pids[1] = fork_reader(released);
        run.release_fd = released[1];
        run_wait(&run, pids, 2, DEADLINE_USEC);

        ASSERT_EQ(run.n_survivors, 1);
        ASSERT_EQ(run.survivors[0], pids[0]);
        ASSERT_TRUE(run.at - run.start >= DEADLINE_USEC);
        ASSERT_EQ(exit_code(pids[1]), 0);

        /* The survivor really was still running: only our signal ends it. */
        ASSERT_OK(kill(pids[0], SIGKILL));
        ASSERT_EQ(exit_code(pids[0]), 128 + SIGKILL);
        (void) close(released[1]);
        (void) close(stuck[1]);
}

static void test_already_gone(void) {
        Run run = { .release_fd = -EBADF };
        int fds[2];
        pid_t pid = fork_reader(fds);

        /* EOF ends the reader; once reaped its pid names nobody: pidfd_open() says ESRCH. */
        (void) close(fds[1]);
        ASSERT_EQ(exit_code(pid), 0);
        run_wait(&run, &pid, 1, GENEROUS_USEC);

        ASSERT_EQ(run.n_survivors, 0);
        ASSERT_TRUE(run.at - run.start < GENEROUS_USEC);
}

static void test_free_before_done(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Run run = { .release_fd = -EBADF };
        int fds[2];
        pid_t pid = fork_reader(fds);
        PidfdWait *w = NULL;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(pidfd_wait_new(e, &pid, 1, 0, on_done, &run, &w));
        w = pidfd_wait_free(w);
        /* The deadline (0: long past) would fire at once; freed, nothing is dispatched. */
        ASSERT_EQ(sd_event_run(e, 0), 0);
        ASSERT_EQ(run.calls, 0);

        (void) close(fds[1]);
        ASSERT_EQ(exit_code(pid), 0);
}

int main(void) {
        RUN(test_exit_before_deadline);
        RUN(test_survivor_at_deadline);
        RUN(test_already_gone);
        RUN(test_free_before_done);
        return 0;
}
