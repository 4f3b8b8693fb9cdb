/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"

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
