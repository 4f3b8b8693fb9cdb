/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "macro.h"

/* sd-event's default timer accuracy is 250 ms: more than a short deadline itself. */
#define CHILD_ACCURACY_USEC 10000ULL

int child_start(int (*f)(void *userdata), void *userdata, Child *ret) {
        pid_t pid;
        int fd, r;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                r = f(userdata);
                fflush(NULL);
                _exit(r < 0 ? (-r & 0xff) ?: EIO : 0);
        }
        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0) {
                r = -errno;
                (void) kill(pid, SIGKILL);
                return r;
        }
        *ret = (Child) { .pid = pid, .pidfd = fd };
        return 0;
}

int child_wait(Child *c, uint64_t timeout_usec) {
        struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
        siginfo_t si = {};
        int r;

        do
                r = poll(&p, 1, (int) ((timeout_usec + 999) / 1000));
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED) < 0)
                return -errno;
        close(c->pidfd);
        c->pidfd = -EBADF;
        if (si.si_code != CLD_EXITED)
                return -EPROTO;
        return -si.si_status;
}

void child_abandon(Child *c) {
        if (c->pidfd < 0)
                return;
        (void) kill(c->pid, SIGKILL);
        close(c->pidfd);
        c->pidfd = -EBADF;
}

/* --- A child awaited on a loop --- */

struct ChildRun {
        pid_t pid;
        ChildFlags flags;
        int pidfd, out_fd;
        sd_event_source *out_io, *exit_io, *timer;
        char *buf;
        size_t n, max;
        bool eof, exited;
        int result;
        child_run_done_t done;
        void *userdata;
};

static void child_run_reap(ChildRun *c) {
        if (c->pidfd < 0 || c->exited)
                return;
        /* One stuck in the kernel is neither killed nor waited for; reaped if it is done. */
        if (c->flags & CHILD_LEAVE_BEHIND) {
                siginfo_t si = {};

                if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) >= 0 && si.si_pid != 0)
                        c->exited = true;
                return;
        }
        /* A child past its deadline waits in a bus call or an open(): SIGKILL ends it at once. */
        (void) kill(c->pid, SIGKILL);
        (void) waitid(P_PIDFD, (id_t) c->pidfd, &(siginfo_t) {}, WEXITED);
        c->exited = true;
}

ChildRun *child_run_free(ChildRun *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->out_io);
        sd_event_source_disable_unref(c->exit_io);
        sd_event_source_disable_unref(c->timer);
        child_run_reap(c);
        if (c->pidfd >= 0)
                close(c->pidfd);
        if (c->out_fd >= 0)
                close(c->out_fd);
        free(c->buf);
        free(c);
        return NULL;
}

/* Ends the wait: c is not touched after done() (which may free it). */
static void child_run_end(ChildRun *c, int r) {
        _cleanup_free_ char *out = NULL;
        size_t n = c->n;

        c->out_io = sd_event_source_disable_unref(c->out_io);
        c->exit_io = sd_event_source_disable_unref(c->exit_io);
        c->timer = sd_event_source_disable_unref(c->timer);
        child_run_reap(c);
        if (r >= 0)
                r = c->result;
        if (r >= 0) {
                c->buf[c->n] = '\0';
                out = TAKE_PTR(c->buf);
        }
        c->done(c, r, out, r >= 0 ? n : 0, c->userdata);
}

static int on_child_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ChildRun *c = userdata;
        ssize_t k;

        k = read(fd, c->buf + c->n, c->max + 1 - c->n);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (k < 0) {
                child_run_end(c, -errno);
                return 0;
        }
        c->n += (size_t) k;
        if (c->n > c->max) {
                child_run_end(c, -EFBIG);
                return 0;
        }
        if (k == 0) {
                c->eof = true;
                c->out_io = sd_event_source_disable_unref(c->out_io);
                if (c->exited)
                        child_run_end(c, 0);
        }
        return 0;
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ChildRun *c = userdata;
        siginfo_t si = {};

        if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0) {
                c->exited = true;
                child_run_end(c, -errno);
                return 0;
        }
        if (si.si_pid == 0)
                return 0;       /* not yet */
        c->exited = true;
        c->result = si.si_code != CLD_EXITED ? -EPROTO : -si.si_status;
        c->exit_io = sd_event_source_disable_unref(c->exit_io);
        if (c->eof)
                child_run_end(c, 0);
        return 0;
}

static int on_child_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        child_run_end(userdata, -ETIMEDOUT);
        return 0;
}

/* CHILD_NULL_STDIO (child.h says why). */
static int null_stdio(void) {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return -errno;
        for (int i = STDIN_FILENO; i <= STDERR_FILENO; i++)
                if (dup2(fd, i) < 0)
                        return -errno;
        if (fd > STDERR_FILENO)
                close(fd);
        return 0;
}

static _Noreturn void child_run_child(ChildFlags flags, int (*f)(int out_fd, void *userdata), void *f_userdata,
                                      int out_fd) {
        int r = 0;

        /* Nothing outlives the process that waits for it (a daemon killed meanwhile), unless
         * it must finish what it started (CHILD_OUTLIVE). */
        if (!(flags & CHILD_OUTLIVE) && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                r = -errno;
        if (r >= 0 && (flags & CHILD_NULL_STDIO))
                r = null_stdio();
        if (r >= 0)
                r = f(out_fd, f_userdata);
        _exit(r < 0 ? (-r & 0xff) ?: EIO : 0);
}

int child_run_async(sd_event *e, uint64_t timeout_usec, int (*f)(int out_fd, void *userdata), void *f_userdata,
                    size_t max_out, child_run_done_t done, void *userdata, ChildRun **ret) {
        return child_run_async_flags(e, timeout_usec, 0, f, f_userdata, max_out, done, userdata, ret);
}

int child_run_async_flags(sd_event *e, uint64_t timeout_usec, ChildFlags flags, int (*f)(int out_fd, void *userdata),
                          void *f_userdata, size_t max_out, child_run_done_t done, void *userdata, ChildRun **ret) {
        ChildRun *c;
        int fds[2], r;

        c = calloc(1, sizeof(ChildRun));
        if (!c)
                return -ENOMEM;
        *c = (ChildRun) { .flags = flags, .pidfd = -EBADF, .out_fd = -EBADF, .max = max_out, .done = done,
                          .userdata = userdata };
        c->buf = malloc(max_out + 1);
        if (!c->buf || pipe2(fds, O_CLOEXEC) < 0) {
                r = c->buf ? -errno : -ENOMEM;
                child_run_free(c);
                return r;
        }
        c->out_fd = fds[0];
        fflush(NULL);
        c->pid = fork();
        if (c->pid < 0) {
                r = -errno;
                close(fds[1]);
                child_run_free(c);
                return r;
        }
        if (c->pid == 0) {
                close(fds[0]);
                child_run_child(flags, f, f_userdata, fds[1]);
        }
        close(fds[1]);
        c->pidfd = (int) syscall(SYS_pidfd_open, c->pid, 0);
        if (c->pidfd < 0) {
                r = -errno;
                (void) kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
                c->exited = true;
                child_run_free(c);
                return r;
        }
        /* Only the read end: the child writes blocking, into a pipe this loop drains. */
        r = fd_set_nonblock(c->out_fd, true);
        if (r >= 0)
                r = sd_event_add_io(e, &c->out_io, c->out_fd, EPOLLIN, on_child_output, c);
        if (r >= 0)
                r = sd_event_add_io(e, &c->exit_io, c->pidfd, EPOLLIN, on_child_exit, c);
        if (r >= 0 && timeout_usec != UINT64_MAX)
                r = sd_event_add_time_relative(e, &c->timer, CLOCK_MONOTONIC, timeout_usec, CHILD_ACCURACY_USEC,
                                               on_child_deadline, c);
        if (r < 0) {
                child_run_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

pid_t child_run_pid(const ChildRun *c) {
        return c->pid;
}

int child_run_take_pidfd(ChildRun *c) {
        if (c->exited)
                return -EBADF;
        c->exit_io = sd_event_source_disable_unref(c->exit_io);
        c->exited = true;       /* not ours to reap any more */
        return TAKE_FD(c->pidfd);
}

/* A worker says nothing but its result: its output pipe is closed at once. */
typedef struct Worker {
        int (*f)(void *userdata);
        void *userdata;
} Worker;

static int worker_run(int out_fd, void *userdata) {
        Worker *w = userdata;

        close(out_fd);
        return w->f(w->userdata);
}

int child_worker_async(sd_event *e, uint64_t timeout_usec, ChildFlags flags, int (*f)(void *userdata),
                       void *f_userdata, child_run_done_t done, void *userdata, ChildRun **ret) {
        /* Read by the child, in its copy of this frame, before this returns. */
        Worker w = { .f = f, .userdata = f_userdata };

        return child_run_async_flags(e, timeout_usec, flags, worker_run, &w, 0, done, userdata, ret);
}

typedef struct ChildRunSync {
        sd_event *event;
        int r;
        char *out;
        size_t size;
} ChildRunSync;

static void on_child_run_sync(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        ChildRunSync *s = userdata;

        s->r = r;
        /* The output may hold NUL bytes of its own (records): copied whole. */
        if (r >= 0 && (s->out = malloc(size + 1)))
                memcpy(s->out, out, size + 1);
        else if (r >= 0)
                s->r = -ENOMEM;
        s->size = size;
        (void) sd_event_exit(s->event, 0);
}

int child_run(uint64_t timeout_usec, int (*f)(int out_fd, void *userdata), void *f_userdata, size_t max_out,
              char **ret_out, size_t *ret_size) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ChildRun *c = NULL;
        ChildRunSync s = {};
        int r;

        r = sd_event_new(&e);
        if (r < 0)
                return r;
        s.event = e;
        r = child_run_async(e, timeout_usec, f, f_userdata, max_out, on_child_run_sync, &s, &c);
        if (r >= 0)
                r = sd_event_loop(e);
        child_run_free(c);
        if (r >= 0)
                r = s.r;
        if (r < 0) {
                free(s.out);
                return r;
        }
        if (ret_out)
                *ret_out = s.out;
        else
                free(s.out);
        if (ret_size)
                *ret_size = s.size;
        return 0;
}
