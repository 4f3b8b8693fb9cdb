/* SPDX-License-Identifier: GPL-2.0-or-later */
/* input-lab: "physical" keyboards and mice for the lab, and ways to look at
 * what baton's router makes of them. Guest only: it creates uinput devices.
 *
 *   input-lab device keyboard|mouse NAME
 *       Creates the device, prints its node, then runs the commands read from
 *       stdin until EOF (which unplugs it):
 *         CODE VALUE [CODE VALUE...]   one frame (KEY_A 1, REL_X -3, ...)
 *         flood N                      N frames: KEY_X press and release, or REL_X 1
 *         gen SECONDS HZ               a mouse moving at HZ frames a second; prints
 *                                      "gen frames F events E seconds S skipped K"
 *                                      (K: report slots missed while late, not replayed)
 *         sync                         prints "ok" once everything before is written
 *         lag NODE SECONDS HZ          a mouse moving at HZ frames a second for SECONDS, frame
 *                                      N moving REL_X by N (told apart by it), while NODE (the
 *                                      router's output) is read; waits up to 60 s more for
 *                                      late frames, then prints "lag frames F arrived A
 *                                      max_ms M" (M: the largest delay from a frame's write
 *                                      to its arrival on NODE)
 *   input-lab find NAME        the node(s) of the event devices called NAME
 *   input-lab keys NODE        the keys held on NODE, by name
 *   input-lab leds NODE        the LEDs lit on NODE, by name
 *   input-lab led NODE LED_X 0|1   sets an LED, as a compositor or a guest does
 *   input-lab grabbed NODE     exit 0 when someone else holds a grab on NODE
 *   input-lab record NODE      prints "# recording NODE", then every frame as a line
 *                              ("KEY_A 1 KEY_B 0 ")
 *   input-lab count NODE IDLE_MS   counts events until IDLE_MS without one (after
 *                              the first); prints "events E frames F syn_dropped D" */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libevdev/libevdev.h>
#include <libevdev/libevdev-uinput.h>

#include "lab-mouse.h"

static int fail(const char *what, int error) {
        fprintf(stderr, "input-lab: %s: %s\n", what, strerror(error < 0 ? -error : error));
        return 1;
}

static int open_dev(const char *node, int flags, struct libevdev **ret) {
        int fd = open(node, flags | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = libevdev_new_from_fd(fd, ret);
        if (r < 0)
                close(fd);
        return r;
}

static int write_events(int fd, const struct input_event *ev, size_t n) {
        ssize_t k = write(fd, ev, n * sizeof(*ev));

        return k < 0 ? -errno : 0;
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int gen(int fd, double seconds, unsigned hz) {
        uint64_t start = now_ns(), period = 1000000000ULL / hz, frames = 0, slot = 0,
                 total = (uint64_t) (seconds * hz);

        /* Like a real mouse, one report per poll interval at most: a report that is late
         * (this process was not scheduled in time) is sent once, and the slots it missed
         * are skipped rather than replayed as a burst. */
        while (slot < total) {
                uint64_t due = start + slot * period, now;
                struct timespec ts = { .tv_sec = (time_t) (due / 1000000000ULL), .tv_nsec = (long) (due % 1000000000ULL) };
                struct input_event ev[3] = {
                        { .type = EV_REL, .code = REL_X, .value = frames % 2 ? 1 : -1 },
                        { .type = EV_REL, .code = REL_Y, .value = frames % 2 ? -1 : 1 },
                        { .type = EV_SYN, .code = SYN_REPORT },
                };

                /* A test tool may sleep: it stands for a mouse's report interval. */
                (void) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
                if (write_events(fd, ev, 3) < 0)
                        return -errno;
                frames++;
                now = now_ns();
                slot = now > due + period ? (now - start) / period + 1 : slot + 1;
        }
        printf("gen frames %llu events %llu seconds %.3f skipped %llu\n", (unsigned long long) frames,
               (unsigned long long) frames * 3, (double) (now_ns() - start) / 1e9,
               (unsigned long long) (total - frames));
        return 0;
}

static int flood(int fd, bool keyboard, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                struct input_event k[4] = {
                        { .type = EV_KEY, .code = KEY_X, .value = 1 }, { .type = EV_SYN, .code = SYN_REPORT },
                        { .type = EV_KEY, .code = KEY_X, .value = 0 }, { .type = EV_SYN, .code = SYN_REPORT },
                };
                struct input_event m[2] = {
                        { .type = EV_REL, .code = REL_X, .value = 1 }, { .type = EV_SYN, .code = SYN_REPORT },
                };
                int r = keyboard ? write_events(fd, k, 4) : write_events(fd, m, 2);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* Reads what arrived on out: the REL_X value v is frame v-1. */
static void lag_read(int out, const uint64_t *sent, unsigned n_sent, unsigned *arrived, uint64_t *max_ns) {
        struct input_event ev[256];
        ssize_t k;

        while ((k = read(out, ev, sizeof(ev))) > 0)
                for (size_t i = 0; i < (size_t) k / sizeof(ev[0]); i++) {
                        uint64_t d;

                        if (ev[i].type != EV_REL || ev[i].code != REL_X || ev[i].value < 1 ||
                            (unsigned) ev[i].value > n_sent)
                                continue;
                        d = now_ns() - sent[ev[i].value - 1];
                        *max_ns = d > *max_ns ? d : *max_ns;
                        (*arrived)++;
                }
}

static int lag(int fd, const char *node, double seconds, unsigned hz) {
        unsigned total = (unsigned) (seconds * hz), n_sent = 0, arrived = 0;
        uint64_t period = 1000000000ULL / hz, start, end = 0, max_ns = 0;
        uint64_t *sent = calloc(total + 1, sizeof(uint64_t));
        struct pollfd p = { .fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC), .events = POLLIN };

        if (p.fd < 0 || !sent)
                return -errno;
        lag_read(p.fd, sent, 0, &arrived, &max_ns);     /* what came before */
        start = now_ns();
        while (n_sent < total || (arrived < total && now_ns() < end + 60000000000ULL)) {
                uint64_t now = now_ns(), due = start + n_sent * period;
                int timeout = n_sent < total ? (now >= due ? 0 : (int) ((due - now) / 1000000) + 1) : 1000;

                if (n_sent < total && now >= due) {
                        struct input_event ev[2] = {
                                { .type = EV_REL, .code = REL_X, .value = (int) n_sent + 1 },
                                { .type = EV_SYN, .code = SYN_REPORT },
                        };

                        sent[n_sent++] = now_ns();
                        if (write_events(fd, ev, 2) < 0)
                                return -errno;
                        if (n_sent == total)
                                end = now_ns();
                        continue;
                }
                if (poll(&p, 1, timeout) > 0)
                        lag_read(p.fd, sent, n_sent, &arrived, &max_ns);
        }
        printf("lag frames %u arrived %u max_ms %llu\n", total, arrived,
               (unsigned long long) (max_ns / 1000000ULL));
        close(p.fd);
        free(sent);
        return 0;
}

/* "CODE VALUE ..." as one frame. */
static int frame(int fd, char *line) {
        struct input_event ev[32];
        size_t n = 0;
        char *save = NULL;

        for (char *name = strtok_r(line, " \t\n", &save); name; name = strtok_r(NULL, " \t\n", &save)) {
                char *value = strtok_r(NULL, " \t\n", &save);
                int type = libevdev_event_type_from_code_name(name), code = libevdev_event_code_from_code_name(name);

                if (type < 0 || code < 0 || !value || n >= 31) {
                        fprintf(stderr, "input-lab: bad event '%s'\n", name);
                        return -EINVAL;
                }
                ev[n++] = (struct input_event) { .type = (uint16_t) type, .code = (uint16_t) code, .value = atoi(value) };
        }
        if (n == 0)
                return 0;
        ev[n++] = (struct input_event) { .type = EV_SYN, .code = SYN_REPORT };
        return write_events(fd, ev, n);
}

static int cmd_device(const char *type, const char *name) {
        struct libevdev_uinput *ui = NULL;
        struct libevdev *dev = libevdev_new();
        bool keyboard = strcmp(type, "keyboard") == 0;
        char line[512];
        int r, fd;

        libevdev_set_name(dev, name);
        libevdev_set_id_bustype(dev, BUS_USB);
        libevdev_set_id_vendor(dev, 0x1d6b);
        libevdev_set_id_product(dev, keyboard ? 0x0101 : 0x0102);
        if (keyboard) {
                for (unsigned c = KEY_ESC; c <= KEY_MICMUTE; c++)
                        libevdev_enable_event_code(dev, EV_KEY, c, NULL);
                libevdev_enable_event_code(dev, EV_LED, LED_NUML, NULL);
                libevdev_enable_event_code(dev, EV_LED, LED_CAPSL, NULL);
                libevdev_enable_event_code(dev, EV_LED, LED_SCROLLL, NULL);
                libevdev_enable_event_code(dev, EV_MSC, MSC_SCAN, NULL);
        } else {
                lab_mouse_enable(dev);
        }
        r = libevdev_uinput_create_from_device(dev, LIBEVDEV_UINPUT_OPEN_MANAGED, &ui);
        if (r < 0)
                return fail("creating the uinput device", r);
        fd = libevdev_uinput_get_fd(ui);
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("%s\n", libevdev_uinput_get_devnode(ui));

        while (fgets(line, sizeof(line), stdin)) {
                unsigned n;
                double s;

                char node[256];

                if (sscanf(line, "lag %255s %lf %u", node, &s, &n) == 3 && n > 0)
                        r = lag(fd, node, s, n);
                else if (sscanf(line, "flood %u", &n) == 1)
                        r = flood(fd, keyboard, n);
                else if (sscanf(line, "gen %lf %u", &s, &n) == 2 && n > 0)
                        r = gen(fd, s, n);
                else if (strncmp(line, "sync", 4) == 0) {
                        printf("ok\n");
                        r = 0;
                } else
                        r = frame(fd, line);
                if (r < 0)
                        fprintf(stderr, "input-lab: %s", line);
        }
        libevdev_uinput_destroy(ui);
        libevdev_free(dev);
        return 0;
}

static int cmd_find(const char *name) {
        DIR *d = opendir("/dev/input");
        struct dirent *de;
        int found = 0;

        if (!d)
                return fail("/dev/input", errno);
        while ((de = readdir(d))) {
                struct libevdev *dev;
                char node[300];

                if (strncmp(de->d_name, "event", 5) != 0)
                        continue;
                snprintf(node, sizeof(node), "/dev/input/%s", de->d_name);
                if (open_dev(node, O_RDONLY | O_NONBLOCK, &dev) < 0)
                        continue;
                if (strcmp(libevdev_get_name(dev), name) == 0) {
                        printf("%s\n", node);
                        found = 1;
                }
                close(libevdev_get_fd(dev));
                libevdev_free(dev);
        }
        closedir(d);
        return found ? 0 : 1;
}

static int cmd_state(const char *node, unsigned type) {
        struct libevdev *dev;
        const char *sep = "";
        int r;

        r = open_dev(node, O_RDONLY | O_NONBLOCK, &dev);
        if (r < 0)
                return fail(node, r);
        for (unsigned c = 0; c <= (unsigned) libevdev_event_type_get_max(type); c++)
                if (libevdev_has_event_code(dev, type, c) && libevdev_get_event_value(dev, type, c)) {
                        printf("%s%s", sep, libevdev_event_code_get_name(type, c));
                        sep = " ";
                }
        printf("\n");
        close(libevdev_get_fd(dev));
        libevdev_free(dev);
        return 0;
}

static int cmd_led(const char *node, const char *led, const char *value) {
        int fd = open(node, O_WRONLY | O_CLOEXEC), code = libevdev_event_code_from_name(EV_LED, led);
        struct input_event ev[2] = {
                { .type = EV_LED, .code = (uint16_t) code, .value = atoi(value) },
                { .type = EV_SYN, .code = SYN_REPORT },
        };

        if (fd < 0 || code < 0)
                return fail(node, fd < 0 ? errno : EINVAL);
        if (write_events(fd, ev, 2) < 0)
                return fail("write", errno);
        return 0;
}

static int cmd_grabbed(const char *node) {
        struct libevdev *dev;
        int r;

        r = open_dev(node, O_RDONLY | O_NONBLOCK, &dev);
        if (r < 0)
                return fail(node, r);
        r = libevdev_grab(dev, LIBEVDEV_GRAB);
        if (r == 0)
                libevdev_grab(dev, LIBEVDEV_UNGRAB);
        close(libevdev_get_fd(dev));
        libevdev_free(dev);
        return r == -EBUSY ? 0 : 1;
}

static int cmd_record(const char *node) {
        struct input_event ev[256];
        int fd = open(node, O_RDONLY | O_CLOEXEC);
        ssize_t k;

        if (fd < 0)
                return fail(node, errno);
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("# recording %s\n", node);
        while ((k = read(fd, ev, sizeof(ev))) > 0)
                for (size_t i = 0; i < (size_t) k / sizeof(ev[0]); i++) {
                        if (ev[i].type == EV_SYN)
                                printf("%s\n", ev[i].code == SYN_DROPPED ? "SYN_DROPPED" : "");
                        else
                                printf("%s %d ", libevdev_event_code_get_name(ev[i].type, ev[i].code), ev[i].value);
                }
        return 0;
}

static int cmd_count(const char *node, int idle_ms) {
        static struct input_event ev[4096];
        unsigned long long events = 0, frames = 0, dropped = 0;
        struct pollfd p = { .fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC), .events = POLLIN };

        if (p.fd < 0)
                return fail(node, errno);
        for (;;) {
                ssize_t k;
                int n = poll(&p, 1, events == 0 ? 60000 : idle_ms);

                if (n <= 0)
                        break;
                while ((k = read(p.fd, ev, sizeof(ev))) > 0)
                        for (size_t i = 0; i < (size_t) k / sizeof(ev[0]); i++) {
                                if (ev[i].type == EV_SYN && ev[i].code == SYN_DROPPED) {
                                        dropped++;
                                        continue;
                                }
                                events++;
                                frames += ev[i].type == EV_SYN && ev[i].code == SYN_REPORT;
                        }
        }
        printf("events %llu frames %llu syn_dropped %llu\n", events, frames, dropped);
        return 0;
}

int main(int argc, char *argv[]) {
        const char *cmd = argc > 1 ? argv[1] : "";

        if (strcmp(cmd, "device") == 0 && argc == 4)
                return cmd_device(argv[2], argv[3]);
        if (strcmp(cmd, "find") == 0 && argc == 3)
                return cmd_find(argv[2]);
        if (strcmp(cmd, "keys") == 0 && argc == 3)
                return cmd_state(argv[2], EV_KEY);
        if (strcmp(cmd, "leds") == 0 && argc == 3)
                return cmd_state(argv[2], EV_LED);
        if (strcmp(cmd, "led") == 0 && argc == 5)
                return cmd_led(argv[2], argv[3], argv[4]);
        if (strcmp(cmd, "grabbed") == 0 && argc == 3)
                return cmd_grabbed(argv[2]);
        if (strcmp(cmd, "record") == 0 && argc == 3)
                return cmd_record(argv[2]);
        if (strcmp(cmd, "count") == 0 && argc == 4)
                return cmd_count(argv[2], atoi(argv[3]));
        fprintf(stderr, "usage: see the comment at the top of input-lab.c\n");
        return 2;
}
