/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The input router's I/O: physical devices in through libevdev, frames out to
 * uinput, devices found with sd-device. The contract is in input-router.h,
 * the routing rules in input-core.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include <libevdev/libevdev.h>
#include <libevdev/libevdev-uinput.h>
#include <linux/uinput.h>

#include "child.h"
#include "input-router.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

#define OUTPUT_PHYS_PREFIX "baton/"
#define OUTPUT_VENDOR 0xba70
#define RETRY_USEC (100 * 1000ULL)
#define RETRY_MAX 20
/* Events an output collects in one wakeup before they go out in one write: a
 * third of the smallest buffer the kernel keeps for each reader of an event
 * device (64 events), so that one write cannot overflow a compositor's. */
#define PENDING_MAX 24

typedef struct Source {
        InputRouter *router;
        uint64_t id;                    /* unique for the router's life: a note names it */
        char *devnode;
        int fd;
        struct libevdev *dev;
        sd_event_source *io;            /* before the grab */
        sd_event_source *retry;
        unsigned attempts;
        bool grabbed;
        bool reading;                   /* once grabbed: a thread of its own reads it */
        pthread_t reader;
        InputSource state;
} Source;

/* From a reader thread to the router's loop. */
typedef struct ReaderNote {
        uint64_t source;                /* the source whose reader ended, or 0 */
        int error;                      /* why it ended */
        bool recover;                   /* the recover chord was pressed */
} ReaderNote;

struct InputRouter {
        sd_event *event;
        /* The core, the frames pending, the outputs and the list of sources are shared
         * between the loop and the readers of the grabbed sources. */
        pthread_mutex_t lock;
        int notes[2];                   /* ReaderNote, readers -> loop */
        sd_event_source *notes_io;
        uint64_t next_id;
        char *prefix;
        char **devices;
        char *recover_binary;
        unsigned realtime_priority;
        atomic_bool realtime_failed;    /* said once */
        void (*on_target)(InputRouter *r, InputSide side, void *userdata);
        void *userdata;

        InputCore *core;
        struct libevdev_uinput *outputs[_INPUT_OUTPUT_MAX];
        int output_fds[_INPUT_OUTPUT_MAX];
        /* The frames of this wakeup, written together by outputs_flush(). */
        struct input_event pending[_INPUT_OUTPUT_MAX][PENDING_MAX];
        size_t n_pending[_INPUT_OUTPUT_MAX];
        sd_event_source *led_io[_INPUT_SIDE_MAX];
        sd_device_monitor *monitor;
        Source **sources;
        size_t n_sources;
        uint64_t n_syn_dropped;

        ChildRun *recover;              /* `baton recover`, while it runs */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct libevdev *, libevdev_free);

static const char *const output_phys[_INPUT_OUTPUT_MAX] = {
        [INPUT_OUTPUT(INPUT_HOST, INPUT_KEYBOARD)] = OUTPUT_PHYS_PREFIX "host-keyboard",
        [INPUT_OUTPUT(INPUT_HOST, INPUT_MOUSE)] = OUTPUT_PHYS_PREFIX "host-mouse",
        [INPUT_OUTPUT(INPUT_GUEST, INPUT_KEYBOARD)] = OUTPUT_PHYS_PREFIX "guest-keyboard",
        [INPUT_OUTPUT(INPUT_GUEST, INPUT_MOUSE)] = OUTPUT_PHYS_PREFIX "guest-mouse",
};

static const unsigned leds[] = { LED_NUML, LED_CAPSL, LED_SCROLLL, LED_COMPOSE, LED_KANA };

static void outputs_flush(InputRouter *r);
static void source_stop_reader(Source *s);

/* --- Sources --- */

static Source *source_free(Source *s) {
        if (!s)
                return NULL;
        source_stop_reader(s);
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->retry);
        if (s->dev && s->grabbed)
                (void) libevdev_grab(s->dev, LIBEVDEV_UNGRAB);
        libevdev_free(s->dev);
        if (s->fd >= 0)
                (void) close(s->fd);
        free(s->devnode);
        return mfree(s);
}

static Source *source_find(InputRouter *r, const char *devnode) {
        for (size_t i = 0; i < r->n_sources; i++)
                if (streq(r->sources[i]->devnode, devnode))
                        return r->sources[i];
        return NULL;
}

/* Forgets s: what it held is released where it went. On the loop. */
static void source_drop(Source *s) {
        InputRouter *r = s->router;

        /* Its reader first, without the lock, which that reader may be waiting for. */
        source_stop_reader(s);
        pthread_mutex_lock(&r->lock);
        if (s->grabbed) {
                input_core_source_gone(r->core, &s->state);
                outputs_flush(r);
        }
        for (size_t i = 0; i < r->n_sources; i++)
                if (r->sources[i] == s) {
                        r->sources[i] = r->sources[--r->n_sources];
                        break;
                }
        pthread_mutex_unlock(&r->lock);
        source_free(s);
}

static bool has_keys(const struct libevdev *dev, const unsigned *codes, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!libevdev_has_event_code(dev, EV_KEY, codes[i]))
                        return false;
        return true;
}

static bool is_keyboard(const struct libevdev *dev) {
        static const unsigned keys[] = { KEY_A, KEY_Z, KEY_SPACE, KEY_ENTER };

        return has_keys(dev, keys, ELEMENTSOF(keys));
}

static bool is_mouse(const struct libevdev *dev) {
        static const unsigned buttons[] = { BTN_LEFT };

        return libevdev_has_event_code(dev, EV_REL, REL_X) && libevdev_has_event_code(dev, EV_REL, REL_Y) &&
               has_keys(dev, buttons, ELEMENTSOF(buttons));
}

/* A configured entry: name:NAME, an absolute path (to the node or a link to
 * it), or a /dev/input/by-id name. */
static bool entry_matches(const char *entry, const char *devnode, const struct libevdev *dev) {
        _cleanup_free_ char *link = NULL;
        char resolved[PATH_MAX];
        const char *name = startswith(entry, "name:");

        if (name)
                return streq(name, strempty(libevdev_get_name(dev)));
        if (entry[0] != '/') {
                if (asprintf(&link, "/dev/input/by-id/%s", entry) < 0)
                        return false;
                entry = link;
        }
        return streq(entry, devnode) || (realpath(entry, resolved) && streq(resolved, devnode));
}

static bool source_wanted(InputRouter *r, Source *s) {
        const char *phys = libevdev_get_phys(s->dev);

        if ((phys && startswith(phys, OUTPUT_PHYS_PREFIX)) ||
            (libevdev_get_id_bustype(s->dev) == BUS_VIRTUAL && libevdev_get_id_vendor(s->dev) == OUTPUT_VENDOR))
                return false;           /* ours: routing them to themselves would loop */
        if (r->devices) {
                STRV_FOREACH(e, r->devices)
                        if (entry_matches(*e, s->devnode, s->dev))
                                return true;
                return false;
        }
        return is_keyboard(s->dev) || is_mouse(s->dev);
}

static bool any_key_down(const struct libevdev *dev) {
        for (unsigned code = 0; code < KEY_CNT; code++)
                if (libevdev_has_event_code(dev, EV_KEY, code) && libevdev_get_event_value(dev, EV_KEY, code))
                        return true;
        return false;
}

/* Shows the target's LEDs on a keyboard: one write, only LEDs it has. */
static void source_set_leds(Source *s, unsigned mask) {
        struct input_event ev[ELEMENTSOF(leds) + 1];
        size_t n = 0;

        if (!s->grabbed || !libevdev_has_event_type(s->dev, EV_LED))
                return;
        for (size_t i = 0; i < ELEMENTSOF(leds); i++)
                if (libevdev_has_event_code(s->dev, EV_LED, leds[i]))
                        ev[n++] = (struct input_event) { .type = EV_LED, .code = leds[i],
                                                         .value = !!(mask & (1u << leds[i])) };
        if (n == 0)
                return;
        ev[n++] = (struct input_event) { .type = EV_SYN, .code = SYN_REPORT };
        if (write(s->fd, ev, n * sizeof(ev[0])) < 0)
                log_debug_errno(errno, "Failed to set the LEDs of %s, ignoring: %m", s->devnode);
}

static void apply_leds(InputRouter *r) {
        unsigned mask = input_core_leds(r->core);

        for (size_t i = 0; i < r->n_sources; i++)
                source_set_leds(r->sources[i], mask);
}

static void spawn_recover(InputRouter *r);

static _Thread_local bool in_reader;

/* With the lock held. */
static void handle_actions(InputRouter *r, unsigned actions, const char *why) {
        if (actions & INPUT_ACTION_TOGGLED) {
                InputSide side = input_core_get_target(r->core);

                log_info("Input to the %s (%s).", input_side_to_string(side), why);
                if (r->on_target)
                        r->on_target(r, side, r->userdata);
        }
        if (actions & INPUT_ACTION_LEDS)
                apply_leds(r);
        if (!(actions & INPUT_ACTION_RECOVER))
                return;
        if (!in_reader)
                spawn_recover(r);
        else    /* a child is the loop's to start and await */
                (void) write(r->notes[1], &(ReaderNote) { .recover = true }, sizeof(ReaderNote));
}

static int source_start_reader(Source *s);

static int source_grab(Source *s) {
        InputRouter *router = s->router;
        int r;

        r = libevdev_grab(s->dev, LIBEVDEV_GRAB);
        if (r < 0)
                return log_warning_errno(r, "Failed to grab %s (%s), leaving it to the host: %m",
                                         s->devnode, libevdev_get_name(s->dev));
        pthread_mutex_lock(&router->lock);
        s->grabbed = true;
        memset(&s->state, 0, sizeof(s->state));
        source_set_leds(s, input_core_leds(router->core));
        pthread_mutex_unlock(&router->lock);
        log_info("Grabbed %s (%s).", s->devnode, libevdev_get_name(s->dev));
        return source_start_reader(s);
}

/* The next event of s into ev. After a SYN_DROPPED the device's state is
 * resynchronized with libevdev's sync mode (*flag keeps the mode between
 * calls; start with LIBEVDEV_READ_FLAG_NORMAL), and the resync's end comes as a
 * SYN_REPORT, so that its events go out as one frame. libevdev's resync first
 * reads what is queued until a read finds nothing: on a blocking fd that read
 * would wait for the next key, so the fd does not block during a resync.
 * Returns 0 with an event, -EAGAIN when a non-blocking fd has nothing more,
 * or a negative errno. */
static int source_next(Source *s, bool blocking, unsigned *flag, struct input_event *ev) {
        unsigned normal = LIBEVDEV_READ_FLAG_NORMAL | (blocking ? LIBEVDEV_READ_FLAG_BLOCKING : 0);
        int rc;

        for (;;) {
                rc = libevdev_next_event(s->dev, *flag == LIBEVDEV_READ_FLAG_SYNC ? *flag : normal, ev);
                if (rc == -EAGAIN && (*flag & LIBEVDEV_READ_FLAG_SYNC)) {
                        *flag = LIBEVDEV_READ_FLAG_NORMAL;
                        if (blocking)
                                (void) fd_set_nonblock(s->fd, false);
                        *ev = (struct input_event) { .type = EV_SYN, .code = SYN_REPORT };
                        return 0;
                }
                if (rc == -EINTR || (rc == -EAGAIN && blocking))
                        continue;
                if (rc < 0)
                        return rc;
                if (rc == LIBEVDEV_READ_STATUS_SYNC && !(*flag & LIBEVDEV_READ_FLAG_SYNC)) {
                        /* ev is the SYN_DROPPED: the kernel's buffer for us overflowed. */
                        pthread_mutex_lock(&s->router->lock);
                        s->router->n_syn_dropped++;
                        pthread_mutex_unlock(&s->router->lock);
                        log_info("SYN_DROPPED on %s: resynchronizing.", s->devnode);
                        rc = blocking ? fd_set_nonblock(s->fd, true) : 0;
                        if (rc < 0)
                                log_warning_errno(rc, "Failed to make %s non-blocking for the resync: %m",
                                                  s->devnode);
                        *flag = LIBEVDEV_READ_FLAG_SYNC;
                        continue;
                }
                return 0;
        }
}

/* Before the grab, on the loop: the events only update libevdev's view of the
 * keys, to see when none is held. */
static int source_read_ungrabbed(Source *s) {
        unsigned flag = LIBEVDEV_READ_FLAG_NORMAL;
        struct input_event ev;
        int rc;

        do
                rc = source_next(s, false, &flag, &ev);
        while (rc >= 0);
        return rc == -EAGAIN ? 0 : rc;
}

/* A reader runs ahead of ordinary processes when asked to: the kernel keeps only a
 * few dozen frames for it, and a real-time process (the lab's generator in
 * bench-input) otherwise starves it into SYN_DROPPED. SCHED_RESET_ON_FORK: nothing
 * it starts inherits the priority. The reader blocks in read(2) between frames,
 * and the kernel's real-time throttling bounds it if it did not. */
static void reader_set_priority(Source *s) {
        InputRouter *r = s->router;
        struct sched_param p = { .sched_priority = (int) r->realtime_priority };

        if (r->realtime_priority == 0)
                return;
        if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) < 0) {
                if (!atomic_exchange(&r->realtime_failed, true))
                        log_warning_errno(errno, "Failed to read input devices at real-time priority %u (%m): "
                                          "their readers run at the daemon's own priority.",
                                          r->realtime_priority);
                return;
        }
        log_debug("Reading %s at real-time priority %u.", s->devnode, r->realtime_priority);
}

/* A grabbed source's own thread. Its fd blocks: a frame costs the read(2)
 * that returns it (libevdev reads only once its queue is empty) and the
 * write(2) of each output it feeds, at its SYN_REPORT (issue 17: no poll, no
 * empty read, no clock). It ends when the read fails: unplugged, or revoked
 * by source_stop_reader(). */
static void *source_reader(void *userdata) {
        unsigned flag = LIBEVDEV_READ_FLAG_NORMAL;
        Source *s = userdata;
        InputRouter *r = s->router;
        struct input_event ev;
        int rc;

        in_reader = true;
        reader_set_priority(s);
        while ((rc = source_next(s, true, &flag, &ev)) >= 0) {
                pthread_mutex_lock(&r->lock);
                handle_actions(r, input_core_feed(r->core, &s->state, &ev), "hotkey");
                if (ev.type == EV_SYN && ev.code == SYN_REPORT)
                        outputs_flush(r);
                pthread_mutex_unlock(&r->lock);
        }
        (void) write(r->notes[1], &(ReaderNote) { .source = s->id, .error = rc }, sizeof(ReaderNote));
        return NULL;
}

/* Makes the reader's blocked read(2) fail (EVIOCREVOKE wakes it with ENODEV)
 * and waits for it to end. On the loop, without the lock. */
static void source_stop_reader(Source *s) {
        if (!s->reading)
                return;
        if (ioctl(s->fd, EVIOCREVOKE, NULL) < 0 && errno != ENODEV)
                log_warning_errno(errno, "Failed to revoke %s: %m", s->devnode);
        (void) pthread_join(s->reader, NULL);
        s->reading = false;
}

/* Hands the grabbed s over to a reader thread of its own. */
static int source_start_reader(Source *s) {
        int r;

        s->io = sd_event_source_disable_unref(s->io);
        r = fd_set_nonblock(s->fd, false);
        if (r < 0)
                return log_warning_errno(r, "Failed to make %s blocking: %m", s->devnode);
        r = -pthread_create(&s->reader, NULL, source_reader, s);
        if (r < 0)
                return log_warning_errno(r, "Failed to start a reader for %s: %m", s->devnode);
        s->reading = true;
        return 0;
}

/* A read of s failed: ENODEV, it was unplugged. It is dropped. */
static void source_failed(Source *s, int error) {
        if (error == -ENODEV)
                log_info("%s (%s) went away.", s->devnode, libevdev_get_name(s->dev));
        else
                log_warning_errno(error, "Failed to read %s, dropping it: %m", s->devnode);
        source_drop(s);
}

static int on_source_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Source *s = userdata;
        int r;

        r = source_read_ungrabbed(s);
        if (r < 0) {
                /* Dropped at once: a dead fd would wake the loop forever. */
                source_failed(s, r);
                return 0;
        }
        if (!any_key_down(s->dev) && source_grab(s) < 0)
                source_drop(s);
        return 0;
}

static Source *source_find_id(InputRouter *r, uint64_t id) {
        for (size_t i = 0; i < r->n_sources; i++)
                if (r->sources[i]->id == id)
                        return r->sources[i];
        return NULL;
}

static int on_reader_note(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        InputRouter *r = userdata;
        ReaderNote n;
        Source *s;

        while (read(fd, &n, sizeof(n)) == (ssize_t) sizeof(n)) {
                if (n.recover)
                        spawn_recover(r);
                /* A source dropped meanwhile (its uevent came first) is not found. */
                if (n.source != 0 && (s = source_find_id(r, n.source)))
                        source_failed(s, n.error);
        }
        return 0;
}

static int source_open(Source *s);

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        Source *s = userdata;

        s->retry = sd_event_source_disable_unref(s->retry);
        if (source_open(s) < 0)
                source_drop(s);
        return 0;
}

/* Returns 0 when s is open or will be retried, negative when it is to be dropped. */
static int source_open(Source *s) {
        _cleanup_(libevdev_freep) struct libevdev *dev = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open(s->devnode, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if ((r == -EACCES || r == -EPERM) && ++s->attempts < RETRY_MAX)
                        return sd_event_add_time_relative(s->router->event, &s->retry, CLOCK_MONOTONIC, RETRY_USEC,
                                                          0, on_retry, s);
                if (r != -ENOENT && r != -ENODEV)
                        log_warning_errno(r, "Failed to open %s, ignoring it: %m", s->devnode);
                return r;
        }
        r = libevdev_new_from_fd(fd, &dev);
        if (r < 0)
                return r;       /* not an evdev node after all */
        s->dev = TAKE_PTR(dev);
        s->fd = TAKE_FD(fd);
        if (!source_wanted(s->router, s))
                return -ENOTTY;
        r = sd_event_add_io(s->router->event, &s->io, s->fd, EPOLLIN, on_source_io, s);
        if (r < 0)
                return log_warning_errno(r, "Failed to watch %s: %m", s->devnode);
        if (any_key_down(s->dev)) {
                log_info("%s (%s): waiting until no key is held to grab it.", s->devnode, libevdev_get_name(s->dev));
                return 0;
        }
        return source_grab(s);
}

static void source_add(InputRouter *r, const char *devnode) {
        Source **a, *s;

        if (source_find(r, devnode))
                return;
        s = calloc(1, sizeof(Source));
        if (s)
                *s = (Source) { .router = r, .id = ++r->next_id, .fd = -EBADF, .devnode = strdup(devnode) };
        pthread_mutex_lock(&r->lock);
        a = s && s->devnode ? reallocarray(r->sources, r->n_sources + 1, sizeof(Source *)) : NULL;
        if (a) {
                r->sources = a;
                r->sources[r->n_sources++] = s;
        }
        pthread_mutex_unlock(&r->lock);
        if (!a) {
                log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Out of memory, ignoring %s.", devnode);
                if (s)
                        free(s->devnode);
                free(s);
                return;
        }
        if (source_open(s) < 0)
                source_drop(s);
}

/* --- Devices: the present ones and uevents --- */

static bool is_event_node(sd_device *d, const char **ret_devnode) {
        const char *sysname;

        return sd_device_get_sysname(d, &sysname) >= 0 && startswith(sysname, "event") &&
               sd_device_get_devname(d, ret_devnode) >= 0;
}

static int on_uevent(sd_device_monitor *m, sd_device *d, void *userdata) {
        InputRouter *r = userdata;
        sd_device_action_t action;
        const char *devnode;
        Source *s;

        if (!is_event_node(d, &devnode) || sd_device_get_action(d, &action) < 0)
                return 0;
        if (action == SD_DEVICE_ADD)
                source_add(r, devnode);
        else if (action == SD_DEVICE_REMOVE && (s = source_find(r, devnode))) {
                log_info("%s was removed.", devnode);
                source_drop(s);
        }
        return 0;
}

static int watch_devices(InputRouter *r) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        const char *devnode;
        int k;

        /* The monitor first: a device plugged in between is then seen twice, not never. */
        k = sd_device_monitor_new(&r->monitor);
        if (k >= 0)
                k = sd_device_monitor_filter_add_match_subsystem_devtype(r->monitor, "input", NULL);
        if (k >= 0)
                k = sd_device_monitor_attach_event(r->monitor, r->event);
        if (k >= 0)
                k = sd_device_monitor_start(r->monitor, on_uevent, r);
        if (k < 0)
                return k;

        k = sd_device_enumerator_new(&e);
        if (k >= 0)
                k = sd_device_enumerator_add_match_subsystem(e, "input", true);
        if (k >= 0)
                k = sd_device_enumerator_add_match_sysname(e, "event*");
        if (k < 0)
                return k;
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e))
                if (is_event_node(d, &devnode))
                        source_add(r, devnode);
        return 0;
}

/* --- Outputs --- */

static void output_write(InputRouter *r, unsigned output, const struct input_event *events, size_t n) {
        ssize_t k;

        k = write(libevdev_uinput_get_fd(r->outputs[output]), events, n * sizeof(events[0]));
        if (k < 0)
                log_debug_errno(errno, "Failed to write frames to %s, ignoring: %m", output_phys[output]);
}

static void outputs_flush(InputRouter *r) {
        for (unsigned o = 0; o < _INPUT_OUTPUT_MAX; o++)
                if (r->n_pending[o] > 0) {
                        output_write(r, o, r->pending[o], r->n_pending[o]);
                        r->n_pending[o] = 0;
                }
}

/* A frame is kept until the end of the wakeup, so that the frames of one read
 * (a mouse polled faster than the loop turns) cost one write, not one each. */
static void emit(unsigned output, const struct input_event *events, size_t n, void *userdata) {
        InputRouter *r = userdata;

        if (r->n_pending[output] + n > PENDING_MAX && r->n_pending[output] > 0) {
                output_write(r, output, r->pending[output], r->n_pending[output]);
                r->n_pending[output] = 0;
        }
        if (n > PENDING_MAX) {
                output_write(r, output, events, n);
                return;
        }
        memcpy(r->pending[output] + r->n_pending[output], events, n * sizeof(events[0]));
        r->n_pending[output] += n;
}

/* A side set LEDs on its keyboard: uinput hands them to us as events. */
static int on_output_leds(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        InputRouter *r = userdata;
        InputSide side = es == r->led_io[INPUT_GUEST] ? INPUT_GUEST : INPUT_HOST;
        struct input_event ev[64];
        unsigned actions = 0;
        ssize_t k;

        pthread_mutex_lock(&r->lock);
        while ((k = read(fd, ev, sizeof(ev))) > 0)
                for (size_t i = 0; i < (size_t) k / sizeof(ev[0]); i++)
                        if (ev[i].type == EV_LED)
                                actions |= input_core_led(r->core, side, ev[i].code, ev[i].value);
        handle_actions(r, actions, "leds");
        pthread_mutex_unlock(&r->lock);
        return 0;
}

static int output_create(InputRouter *r, InputSide side, InputKind kind) {
        _cleanup_(libevdev_freep) struct libevdev *dev = NULL;
        _cleanup_free_ char *name = NULL;
        unsigned o = INPUT_OUTPUT(side, kind);
        int fd, k;

        dev = libevdev_new();
        if (!dev)
                return -ENOMEM;
        if (asprintf(&name, "%s%s %s", r->prefix, side == INPUT_HOST ? " host" : "",
                     kind == INPUT_KEYBOARD ? "keyboard" : "mouse") < 0)
                return -ENOMEM;
        libevdev_set_name(dev, name);
        libevdev_set_id_bustype(dev, BUS_VIRTUAL);
        libevdev_set_id_vendor(dev, OUTPUT_VENDOR);
        libevdev_set_id_product(dev, o + 1);
        if (kind == INPUT_KEYBOARD) {
                for (unsigned code = KEY_ESC; code < KEY_CNT; code++)
                        if (input_key_kind(code) == INPUT_KEYBOARD)
                                (void) libevdev_enable_event_code(dev, EV_KEY, code, NULL);
                for (size_t i = 0; i < ELEMENTSOF(leds); i++)
                        (void) libevdev_enable_event_code(dev, EV_LED, leds[i], NULL);
        } else {
                static const unsigned rels[] = { REL_X, REL_Y, REL_WHEEL, REL_HWHEEL,
                                                 REL_WHEEL_HI_RES, REL_HWHEEL_HI_RES };

                /* Mouse buttons only: joystick or tablet buttons would make udev call it one. */
                for (unsigned code = BTN_LEFT; code <= BTN_TASK; code++)
                        (void) libevdev_enable_event_code(dev, EV_KEY, code, NULL);
                for (size_t i = 0; i < ELEMENTSOF(rels); i++)
                        (void) libevdev_enable_event_code(dev, EV_REL, rels[i], NULL);
        }
        /* libevdev (1.13) does not pass phys on to uinput; the udev rule and
         * source_wanted() go by it, so it is set on the fd before libevdev
         * creates the device through it. */
        fd = r->output_fds[o] = open("/dev/uinput", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, UI_SET_PHYS, output_phys[o]) < 0)
                return -errno;
        k = libevdev_uinput_create_from_device(dev, fd, &r->outputs[o]);
        if (k < 0)
                return k;
        log_info("Created %s (%s) for the %s.", strna(libevdev_uinput_get_devnode(r->outputs[o])), name,
                 input_side_to_string(side));
        if (kind == INPUT_KEYBOARD)
                return sd_event_add_io(r->event, &r->led_io[side], fd, EPOLLIN, on_output_leds, r);
        return 0;
}

/* --- The recover chord --- */

static void on_recover_exit(ChildRun *c, int k, const char *out, size_t size, void *userdata) {
        InputRouter *r = userdata;
        pid_t pid = child_run_pid(c);

        r->recover = child_run_free(c);
        if (k >= 0)
                log_info("baton recover (pid %d) succeeded.", (int) pid);
        else if (k == -EPROTO)
                log_error("baton recover (pid %d) was killed by a signal.", (int) pid);
        else
                log_error("baton recover (pid %d) failed with status %d.", (int) pid, -k);
}

typedef struct RecoverExec {
        const char *binary;
} RecoverExec;

/* In the child: its result is exec's errno, or recover's exit status. */
static int exec_recover(void *userdata) {
        const RecoverExec *x = userdata;
        char *argv[] = { (char *) "baton", (char *) "recover", NULL };
        sigset_t none;

        /* The daemon blocks the signals its loop handles; recover must not inherit that. */
        (void) sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                return -errno;
        (void) execve(x->binary, argv, environ);
        return -errno;
}

static void spawn_recover(InputRouter *r) {
        RecoverExec x = { .binary = r->recover_binary ?: "/proc/self/exe" };
        int k;

        if (r->recover) {
                log_notice("Recover chord: baton recover (pid %d) still runs.", (int) child_run_pid(r->recover));
                return;
        }
        /* No deadline, and it finishes what it started even if the daemon goes away. */
        k = child_worker_async(r->event, UINT64_MAX, CHILD_LEAVE_BEHIND | CHILD_OUTLIVE, exec_recover, &x,
                               on_recover_exit, r, &r->recover);
        if (k < 0) {
                log_error_errno(k, "Recover chord: failed to run %s recover: %m", x.binary);
                return;
        }
        log_notice("Recover chord: running baton recover (pid %d).", (int) child_run_pid(r->recover));
}

/* --- The router --- */

int input_router_new(sd_event *event, const InputRouterOptions *o, InputRouter **ret) {
        _cleanup_(input_router_freep) InputRouter *r = NULL;
        pthread_mutexattr_t attr;
        int k;

        r = calloc(1, sizeof(InputRouter));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        r->notes[0] = r->notes[1] = -EBADF;
        /* Priority inheritance: a real-time reader waiting for the lock lends its priority
         * to the loop holding it, which ordinary processes could otherwise keep off the
         * CPU. */
        (void) pthread_mutexattr_init(&attr);
        (void) pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
        (void) pthread_mutex_init(&r->lock, &attr);
        (void) pthread_mutexattr_destroy(&attr);
        for (unsigned i = 0; i < _INPUT_OUTPUT_MAX; i++)
                r->output_fds[i] = -EBADF;
        r->on_target = o->on_target;
        r->userdata = o->userdata;
        r->realtime_priority = o->realtime_priority;
        r->prefix = strdup(isempty(o->name_prefix) ? "baton" : o->name_prefix);
        if (!r->prefix || (o->recover_binary && !(r->recover_binary = strdup(o->recover_binary))))
                return -ENOMEM;
        if (o->devices) {
                k = strv_extend_strv(&r->devices, o->devices);
                if (k < 0)
                        return k;
        }
        k = input_core_new(&o->hotkey, &o->recover, emit, r, &r->core);
        if (k < 0)
                return k;
        if (pipe2(r->notes, O_NONBLOCK | O_CLOEXEC) < 0)
                return -errno;
        k = sd_event_add_io(event, &r->notes_io, r->notes[0], EPOLLIN, on_reader_note, r);
        if (k < 0)
                return k;

        for (InputSide side = 0; side < _INPUT_SIDE_MAX; side++)
                for (InputKind kind = 0; kind < _INPUT_KIND_MAX; kind++) {
                        k = output_create(r, side, kind);
                        if (k < 0)
                                return k;
                }
        k = watch_devices(r);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

InputRouter *input_router_free(InputRouter *r) {
        if (!r)
                return NULL;
        /* Release what is held before the devices go, then let go of the grabs. */
        while (r->n_sources > 0)
                source_drop(r->sources[0]);
        free(r->sources);
        sd_event_source_disable_unref(r->notes_io);
        for (unsigned i = 0; i < 2; i++)
                if (r->notes[i] >= 0)
                        (void) close(r->notes[i]);
        sd_device_monitor_unref(r->monitor);
        for (InputSide side = 0; side < _INPUT_SIDE_MAX; side++)
                sd_event_source_disable_unref(r->led_io[side]);
        for (unsigned o = 0; o < _INPUT_OUTPUT_MAX; o++) {
                libevdev_uinput_destroy(r->outputs[o]);
                if (r->output_fds[o] >= 0)
                        (void) close(r->output_fds[o]);
        }
        child_run_free(r->recover);    /* a recover under way goes on */
        input_core_free(r->core);
        strv_free(r->devices);
        free(r->prefix);
        free(r->recover_binary);
        sd_event_unref(r->event);
        (void) pthread_mutex_destroy(&r->lock);
        return mfree(r);
}

int input_router_set_target(InputRouter *r, InputSide side, const char *why) {
        unsigned actions;

        pthread_mutex_lock(&r->lock);
        actions = input_core_set_target(r->core, side);
        handle_actions(r, actions, why);
        outputs_flush(r);       /* the releases on the side left go out now */
        pthread_mutex_unlock(&r->lock);
        return !!(actions & INPUT_ACTION_TOGGLED);
}

InputSide input_router_get_target(InputRouter *r) {
        InputSide side;

        pthread_mutex_lock(&r->lock);
        side = input_core_get_target(r->core);
        pthread_mutex_unlock(&r->lock);
        return side;
}

uint64_t input_router_syn_dropped(InputRouter *r) {
        uint64_t n;

        pthread_mutex_lock(&r->lock);
        n = r->n_syn_dropped;
        pthread_mutex_unlock(&r->lock);
        return n;
}
