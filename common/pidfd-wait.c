/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pidfd-wait.h"

/* A deadline is a promise to the user, not a measurement: 10 ms of slack lets the loop
 * coalesce wake-ups without making a short deadline noticeably late. */
#define DEADLINE_ACCURACY_USEC 10000ULL

typedef struct WaitedPid {
        PidfdWait *wait;
        pid_t pid;
        int fd;                         /* -EBADF once the process exited */
        sd_event_source *source;
} WaitedPid;

struct PidfdWait {
        WaitedPid *pids;
        size_t n_pids;
        size_t n_running;
        sd_event_source *timer;
        sd_event_source *defer;         /* reports "all gone" when nobody was running at all */
        pid_t *survivors;               /* room for n_pids, allocated up front: finish() cannot fail */
        pidfd_wait_done_t done;
        void *userdata;
};

static void waited_pid_release(WaitedPid *p) {
        p->source = sd_event_source_disable_unref(p->source);
        if (p->fd >= 0)
                (void) close(p->fd);
        p->fd = -EBADF;
}

PidfdWait *pidfd_wait_free(PidfdWait *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_pids; i++)
                waited_pid_release(&w->pids[i]);
        sd_event_source_disable_unref(w->timer);
        sd_event_source_disable_unref(w->defer);
        free(w->survivors);
        free(w->pids);
        free(w);
        return NULL;
}

/* Stops every source, then reports. Calling done() is the last thing that touches w: the
 * callback owns it from there and may free it, so the survivors leave w first. */
static void finish(PidfdWait *w) {
        _cleanup_free_ pid_t *survivors = TAKE_PTR(w->survivors);
        size_t n = 0;

        for (size_t i = 0; i < w->n_pids; i++) {
                if (w->pids[i].fd >= 0)
                        survivors[n++] = w->pids[i].pid;
                waited_pid_release(&w->pids[i]);
        }
        w->timer = sd_event_source_disable_unref(w->timer);
        w->defer = sd_event_source_disable_unref(w->defer);

        w->done(w, survivors, n, w->userdata);
}

static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        WaitedPid *p = userdata;
        PidfdWait *w = p->wait;

        waited_pid_release(p);
        if (--w->n_running == 0)
                finish(w);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        finish(userdata);
        return 0;
}

static int on_nobody(sd_event_source *s, void *userdata) {
        finish(userdata);
        return 0;
}

/* Opens the pidfd and watches it. 0 when the process is already gone. */
static int watch(sd_event *e, WaitedPid *p) {
        int r;

        p->fd = (int) syscall(SYS_pidfd_open, p->pid, 0);
        if (p->fd < 0) {
                r = -errno;
                p->fd = -EBADF;
                return r == -ESRCH ? 0 : r;
        }
        r = sd_event_add_io(e, &p->source, p->fd, EPOLLIN, on_pidfd, p);
        if (r < 0)
                return r;
        return 1;
}

int pidfd_wait_new(sd_event *e, const pid_t *pids, size_t n_pids, uint64_t deadline_usec,
                   pidfd_wait_done_t done, void *userdata, PidfdWait **ret) {
        _cleanup_(pidfd_wait_freep) PidfdWait *w = NULL;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (PidfdWait) { .done = done, .userdata = userdata };
        /* calloc(0) may return NULL: ask for one element at least. */
        w->pids = calloc(n_pids ?: 1, sizeof(WaitedPid));
        w->survivors = calloc(n_pids ?: 1, sizeof(pid_t));
        if (!w->pids || !w->survivors)
                return -ENOMEM;
        for (size_t i = 0; i < n_pids; i++) {
                w->pids[i] = (WaitedPid) { .wait = w, .pid = pids[i], .fd = -EBADF };
                w->n_pids++;
                r = watch(e, &w->pids[i]);
                if (r < 0)
                        return r;
                if (r > 0)
                        w->n_running++;
        }

        if (w->n_running == 0)
                r = sd_event_add_defer(e, &w->defer, on_nobody, w);
        else
                r = sd_event_add_time(e, &w->timer, CLOCK_MONOTONIC, deadline_usec,
                                      DEADLINE_ACCURACY_USEC, on_deadline, w);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(w);
        return 0;
}
