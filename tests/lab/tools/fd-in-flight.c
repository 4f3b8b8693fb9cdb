/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fd-in-flight PATH: opens PATH, sends the open file over a socketpair of its own
 * (SCM_RIGHTS) without ever receiving it, closes its own descriptor, prints "ready"
 * and waits to be killed. The file then stays open, referenced only by the message
 * in the socket's queue: no process has it in /proc/PID/fd or /proc/PID/maps, so no
 * scan of processes finds the holder (the same happens to a device fd on its way
 * from logind to a compositor). When the process dies, its sockets and the message
 * go, and the file is closed. A lab tool: run in the guest only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char byte = 0;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
        struct cmsghdr *c;
        int pair[2], fd;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH\n", argv[0]);
                return 2;
        }
        fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0) {
                fprintf(stderr, "socketpair: %s\n", strerror(errno));
                return 1;
        }
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        if (sendmsg(pair[0], &msg, 0) != 1) {
                fprintf(stderr, "sendmsg: %s\n", strerror(errno));
                return 1;
        }
        close(fd);
        printf("ready\n");
        fflush(stdout);
        for (;;)
                pause();
}
