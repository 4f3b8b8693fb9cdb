/* SPDX-License-Identifier: GPL-2.0-or-later */
/* input-latency: the latency an input path adds to each event, for bench-input.
 * Guest only: it creates a uinput mouse.
 *
 *   input-latency source NAME
 *       Creates the mouse NAME, prints its node, then runs the commands read
 *       from stdin until EOF (which unplugs it):
 *         run SECONDS HZ DUMP NODE...
 *             A mouse moving at HZ frames a second for SECONDS (REL_X, REL_Y,
 *             SYN_REPORT, one write a frame; REL_X of frame N is N, which tells
 *             the frames apart), while NODE... (the path's outputs, or the
 *             source itself for the floor) are read. Prints one line of
 *             key=value figures (below). DUMP: a file that gets one line per
 *             frame that arrived, "INJECT_NS LATENCY_NS", or - for none.
 *   input-latency now      prints CLOCK_MONOTONIC in ns (to mark a window in DUMP)
 *
 * A frame's latency runs from its injection (CLOCK_MONOTONIC taken just before
 * the write(2) to uinput that makes the kernel stamp the source's events) to
 * the moment the reader's read(2) of its SYN_REPORT returned. The reader asks
 * for CLOCK_MONOTONIC stamps (EVIOCSCLOCKID), so each latency splits in two:
 * "stamp", injection to the kernel's stamp on the event read, which on an
 * output is the moment the path wrote it to uinput, and "wake", that stamp to
 * the reader's return from read(2), the evdev wakeup and the scheduler.
 *
 * Like a real mouse, a report that is late (this process was not scheduled in
 * time) is sent once and the slots it missed are skipped, not replayed. The
 * generator and the reader run at real-time priorities (10 and 20) when they
 * may: they stand for the device's interrupt and for a compositor that keeps
 * up, so that what is measured is the path between them.
 *
 * Figures: frames, events_in (written), seconds, skipped, events_out (read,
 * SYN_DROPPED excluded), frames_out, syn_dropped, arrived (frames told apart by
 * their REL_X), lost (frames - arrived), then for lat, stamp and wake: _p50_us,
 * _p99_us, _max_us. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <libevdev/libevdev.h>
#include <libevdev/libevdev-uinput.h>

#include "lab-mouse.h"

#define NODES_MAX 4

typedef struct Run {
        unsigned total;                 /* frames planned */
        uint64_t *inject;               /* [frame]: injection time, 0 until written */
        uint64_t *lat, *stamp;          /* [frame]: receipt - injection, stamp - injection; 0 until arrived */
        int fds[NODES_MAX];
        size_t n_fds;
        int stop;                       /* atomic: the reader ends */
        unsigned long long events_out, frames_out, syn_dropped, arrived;
} Run;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void set_fifo(int priority) {
        struct sched_param p = { .sched_priority = priority };

        /* Without the privilege the figures are still figures, only noisier. */
        (void) pthread_setschedparam(pthread_self(), priority > 0 ? SCHED_FIFO : SCHED_OTHER, &p);
}

/* One read's events: a frame's REL_X names it, its SYN_REPORT completes it. */
static void take(Run *run, const struct input_event *ev, size_t n, uint64_t recv, int *current) {
        for (size_t i = 0; i < n; i++) {
                if (ev[i].type == EV_SYN && ev[i].code == SYN_DROPPED) {
                        run->syn_dropped++;
                        *current = 0;
                        continue;
                }
                run->events_out++;
                if (ev[i].type == EV_REL && ev[i].code == REL_X)
                        *current = ev[i].value;
                if (ev[i].type != EV_SYN || ev[i].code != SYN_REPORT)
                        continue;
                run->frames_out++;
                if (*current >= 1 && (unsigned) *current <= run->total && run->lat[*current - 1] == 0) {
                        unsigned f = (unsigned) *current - 1;
                        uint64_t inj = __atomic_load_n(&run->inject[f], __ATOMIC_ACQUIRE),
                                 st = (uint64_t) ev[i].input_event_sec * 1000000000ULL +
                                      (uint64_t) ev[i].input_event_usec * 1000ULL;

                        if (inj != 0) {
                                run->lat[f] = recv > inj ? recv - inj : 1;
                                run->stamp[f] = st > inj ? st - inj : 1;
                                run->arrived++;
                        }
                }
                *current = 0;
        }
}

static void *reader(void *userdata) {
        Run *run = userdata;
        struct pollfd p[NODES_MAX];
        int current[NODES_MAX] = {};

        set_fifo(20);
        for (size_t i = 0; i < run->n_fds; i++)
                p[i] = (struct pollfd) { .fd = run->fds[i], .events = POLLIN };
        while (!__atomic_load_n(&run->stop, __ATOMIC_ACQUIRE)) {
                if (poll(p, run->n_fds, 50) <= 0)
                        continue;
                for (size_t i = 0; i < run->n_fds; i++) {
                        struct input_event ev[256];
                        ssize_t k;

                        if (!(p[i].revents & POLLIN))
                                continue;
                        while ((k = read(p[i].fd, ev, sizeof(ev))) > 0)
                                take(run, ev, (size_t) k / sizeof(ev[0]), now_ns(), &current[i]);
                }
        }
        return NULL;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Prints NAME_p50_us, _p99_us, _max_us of the arrived frames' values. */
static void print_stats(const char *name, const uint64_t *v, unsigned total) {
        uint64_t *s = malloc((total + 1) * sizeof(uint64_t));
        size_t n = 0;

        if (!s)
                return;
        for (unsigned i = 0; i < total; i++)
                if (v[i] != 0)
                        s[n++] = v[i];
        qsort(s, n, sizeof(uint64_t), cmp_u64);
        if (n == 0)
                printf(" %s_p50_us=- %s_p99_us=- %s_max_us=-", name, name, name);
        else
                printf(" %s_p50_us=%.0f %s_p99_us=%.0f %s_max_us=%.0f", name, s[(n - 1) / 2] / 1e3, name,
                       s[(n * 99 - 1) / 100] / 1e3, name, s[n - 1] / 1e3);
        free(s);
}

static int open_reader(const char *node) {
        int fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC), clock = CLOCK_MONOTONIC;

        if (fd < 0)
                return -errno;
        if (ioctl(fd, EVIOCSCLOCKID, &clock) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/* Writes the frames at hz, returns the number written (or a negative errno). */
static long generate(Run *run, int fd, unsigned hz, uint64_t *ret_start, unsigned *ret_skipped) {
        uint64_t start = now_ns(), period = 1000000000ULL / hz, slot = 0;
        unsigned frames = 0;

        set_fifo(10);
        while (slot < run->total) {
                uint64_t due = start + slot * period, now;
                struct timespec ts = { .tv_sec = (time_t) (due / 1000000000ULL), .tv_nsec = (long) (due % 1000000000ULL) };
                struct input_event ev[3] = {
                        { .type = EV_REL, .code = REL_X, .value = (int) frames + 1 },
                        { .type = EV_REL, .code = REL_Y, .value = frames % 2 ? -1 : 1 },
                        { .type = EV_SYN, .code = SYN_REPORT },
                };

                /* A test tool may sleep: it stands for a mouse's report interval. */
                (void) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
                __atomic_store_n(&run->inject[frames], now_ns(), __ATOMIC_RELEASE);
                if (write(fd, ev, sizeof(ev)) < 0) {
                        set_fifo(0);
                        return -errno;
                }
                frames++;
                now = now_ns();
                slot = now > due + period ? (now - start) / period + 1 : slot + 1;
        }
        set_fifo(0);
        *ret_start = start;
        *ret_skipped = run->total - frames;
        return frames;
}

static int cmd_run(int fd, double seconds, unsigned hz, const char *dump, char **nodes, size_t n_nodes) {
        Run run = { .total = (unsigned) (seconds * hz) };
        unsigned skipped = 0, last = 0;
        uint64_t start = 0, end, quiet;
        pthread_t thread;
        long frames;
        int r = 0;

        if (run.total == 0 || n_nodes == 0 || n_nodes > NODES_MAX)
                return -EINVAL;
        run.inject = calloc(run.total, sizeof(uint64_t));
        run.lat = calloc(run.total, sizeof(uint64_t));
        run.stamp = calloc(run.total, sizeof(uint64_t));
        if (!run.inject || !run.lat || !run.stamp)
                return -ENOMEM;
        for (size_t i = 0; i < n_nodes; i++) {
                int k = open_reader(nodes[i]);

                if (k < 0) {
                        fprintf(stderr, "input-latency: %s: %s\n", nodes[i], strerror(-k));
                        r = k;
                        goto finish;
                }
                run.fds[run.n_fds++] = k;
        }
        r = -pthread_create(&thread, NULL, reader, &run);
        if (r < 0)
                goto finish;
        frames = generate(&run, fd, hz, &start, &skipped);
        end = now_ns();
        /* Late frames: wait while they still come, up to 2 s of nothing. */
        quiet = end;
        while (frames > 0 && __atomic_load_n(&run.arrived, __ATOMIC_RELAXED) < (unsigned long long) frames &&
               now_ns() < quiet + 2000000000ULL) {
                unsigned a = (unsigned) __atomic_load_n(&run.arrived, __ATOMIC_RELAXED);

                if (a != last) {
                        last = a;
                        quiet = now_ns();
                }
                (void) usleep(20000);   /* a test tool's poll of a counter */
        }
        __atomic_store_n(&run.stop, 1, __ATOMIC_RELEASE);
        pthread_join(thread, NULL);
        if (frames < 0) {
                r = (int) frames;
                goto finish;
        }
        printf("frames=%ld events_in=%ld seconds=%.3f skipped=%u events_out=%llu frames_out=%llu syn_dropped=%llu "
               "arrived=%llu lost=%llu",
               frames, frames * 3, (double) (end - start) / 1e9, skipped, run.events_out, run.frames_out,
               run.syn_dropped, run.arrived, (unsigned long long) frames - run.arrived);
        print_stats("lat", run.lat, run.total);
        print_stats("stamp", run.stamp, run.total);
        for (unsigned i = 0; i < run.total; i++)
                run.stamp[i] = run.lat[i] && run.lat[i] > run.stamp[i] ? run.lat[i] - run.stamp[i] : run.lat[i] ? 1 : 0;
        print_stats("wake", run.stamp, run.total);
        printf("\n");
        if (strcmp(dump, "-") != 0) {
                FILE *f = fopen(dump, "we");

                if (!f)
                        r = -errno;
                else {
                        for (unsigned i = 0; i < run.total; i++)
                                if (run.lat[i] != 0)
                                        fprintf(f, "%llu %llu\n", (unsigned long long) run.inject[i],
                                                (unsigned long long) run.lat[i]);
                        fclose(f);
                }
        }
finish:
        for (size_t i = 0; i < run.n_fds; i++)
                close(run.fds[i]);
        free(run.inject);
        free(run.lat);
        free(run.stamp);
        return r;
}

static int cmd_source(const char *name) {
        struct libevdev_uinput *ui = NULL;
        struct libevdev *dev = libevdev_new();
        char line[1024];
        int r;

        libevdev_set_name(dev, name);
        libevdev_set_id_bustype(dev, BUS_USB);
        libevdev_set_id_vendor(dev, 0x1d6b);
        libevdev_set_id_product(dev, 0x0103);
        lab_mouse_enable(dev);
        r = libevdev_uinput_create_from_device(dev, LIBEVDEV_UINPUT_OPEN_MANAGED, &ui);
        if (r < 0) {
                fprintf(stderr, "input-latency: creating the uinput device: %s\n", strerror(-r));
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("%s\n", libevdev_uinput_get_devnode(ui));

        while (fgets(line, sizeof(line), stdin)) {
                char *save = NULL, *argv[4 + NODES_MAX];
                size_t n = 0;

                for (char *w = strtok_r(line, " \t\n", &save); w && n < sizeof(argv) / sizeof(argv[0]); w = strtok_r(NULL, " \t\n", &save))
                        argv[n++] = w;
                if (n >= 5 && strcmp(argv[0], "run") == 0 && atof(argv[1]) > 0 && atoi(argv[2]) > 0)
                        r = cmd_run(libevdev_uinput_get_fd(ui), atof(argv[1]), (unsigned) atoi(argv[2]), argv[3],
                                    argv + 4, n - 4);
                else
                        r = -EINVAL;
                if (r < 0)
                        printf("error=%s\n", strerror(-r));
        }
        libevdev_uinput_destroy(ui);
        libevdev_free(dev);
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc == 3 && strcmp(argv[1], "source") == 0)
                return cmd_source(argv[2]);
        if (argc == 2 && strcmp(argv[1], "now") == 0) {
                printf("%llu\n", (unsigned long long) now_ns());
                return 0;
        }
        fprintf(stderr, "usage: see the comment at the top of input-latency.c\n");
        return 2;
}
