/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input-thread.h"
#include "log.h"

typedef enum InputCommandOp {
        INPUT_COMMAND_SET,
        INPUT_COMMAND_QUIT,
} InputCommandOp;

/* Smaller than PIPE_BUF: a write is whole or not at all. */
typedef struct InputCommand {
        InputCommandOp op;
        InputSide side;
        char why[48];
} InputCommand;

struct InputThread {
        sd_event *caller_event;
        sd_event_source *from_router;   /* on the caller's loop */
        input_thread_target_t on_target;
        void *userdata;
        InputSide target;               /* the caller's view */

        sd_event *event;                /* the router's loop, used only by its thread once it runs */
        sd_event_source *from_caller;
        InputRouter *router;
        pthread_t thread;
        bool running;

        int to_router[2];               /* InputCommand */
        int to_caller[2];               /* InputSide, after each change */
};

/* On the router's loop. */
static void router_on_target(InputRouter *r, InputSide side, void *userdata) {
        InputThread *t = userdata;

        /* Non-blocking: should the caller's loop not read for 64 KiB of changes, the
         * newest ones still come, as the last of those it reads. */
        (void) write(t->to_caller[1], &side, sizeof(side));
}

static int on_command(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        InputThread *t = userdata;
        InputCommand c;

        while (read(fd, &c, sizeof(c)) == (ssize_t) sizeof(c))
                switch (c.op) {
                case INPUT_COMMAND_SET:
                        c.why[sizeof(c.why) - 1] = 0;
                        (void) input_router_set_target(t->router, c.side, c.why);
                        break;
                case INPUT_COMMAND_QUIT:
                        return sd_event_exit(t->event, 0);
                }
        return 0;
}

/* On the caller's loop. */
static int on_router_changed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        InputThread *t = userdata;
        InputSide side;
        bool changed = false;

        while (read(fd, &side, sizeof(side)) == (ssize_t) sizeof(side)) {
                t->target = side;
                changed = true;
        }
        if (changed && t->on_target)
                t->on_target(t, t->target, t->userdata);
        return 0;
}

static void *thread_main(void *userdata) {
        InputThread *t = userdata;
        int r;

        r = sd_event_loop(t->event);
        if (r < 0)
                log_error_errno(r, "Input routing stopped: its event loop failed: %m");
        return NULL;
}

static int send_command(InputThread *t, const InputCommand *c) {
        if (write(t->to_router[1], c, sizeof(*c)) != (ssize_t) sizeof(*c))
                return -errno;
        return 0;
}

int input_thread_new(sd_event *event, const InputRouterOptions *o, input_thread_target_t on_target,
                     void *userdata, InputThread **ret) {
        _cleanup_(input_thread_freep) InputThread *t = NULL;
        InputRouterOptions ro = *o;
        int r;

        t = calloc(1, sizeof(InputThread));
        if (!t)
                return -ENOMEM;
        t->to_router[0] = t->to_router[1] = t->to_caller[0] = t->to_caller[1] = -EBADF;
        t->caller_event = sd_event_ref(event);
        t->on_target = on_target;
        t->userdata = userdata;
        if (pipe2(t->to_router, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(t->to_caller, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;

        r = sd_event_new(&t->event);
        if (r < 0)
                return r;
        ro.on_target = router_on_target;
        ro.userdata = t;
        r = input_router_new(t->event, &ro, &t->router);
        if (r < 0)
                return r;
        t->target = input_router_get_target(t->router);
        r = sd_event_add_io(t->event, &t->from_caller, t->to_router[0], EPOLLIN, on_command, t);
        /* A request goes before any frame of the same wakeup: the events that follow a
         * handover's reply already go to the new target. */
        if (r >= 0)
                r = sd_event_source_set_priority(t->from_caller, SD_EVENT_PRIORITY_IMPORTANT);
        if (r >= 0)
                r = sd_event_add_io(event, &t->from_router, t->to_caller[0], EPOLLIN, on_router_changed, t);
        if (r < 0)
                return r;

        r = -pthread_create(&t->thread, NULL, thread_main, t);
        if (r < 0)
                return r;
        t->running = true;
        (void) pthread_setname_np(t->thread, "baton-input");
        *ret = TAKE_PTR(t);
        return 0;
}

InputThread *input_thread_free(InputThread *t) {
        if (!t)
                return NULL;
        if (t->running) {
                InputCommand c = { .op = INPUT_COMMAND_QUIT };
                int r = send_command(t, &c);

                /* The pipe is empty or nearly: a quit that does not fit means a thread
                 * that no longer reads. */
                if (r < 0)
                        log_warning_errno(r, "Failed to ask the input thread to stop, waiting for it anyway: %m");
                (void) pthread_join(t->thread, NULL);
        }
        sd_event_source_disable_unref(t->from_router);
        sd_event_source_disable_unref(t->from_caller);
        input_router_free(t->router);
        sd_event_unref(t->event);
        sd_event_unref(t->caller_event);
        for (unsigned i = 0; i < 2; i++) {
                if (t->to_router[i] >= 0)
                        (void) close(t->to_router[i]);
                if (t->to_caller[i] >= 0)
                        (void) close(t->to_caller[i]);
        }
        return mfree(t);
}

int input_thread_set_target(InputThread *t, InputSide side, const char *why) {
        InputCommand c = { .op = INPUT_COMMAND_SET, .side = side };

        (void) strncpy(c.why, why ?: "", sizeof(c.why) - 1);
        t->target = side;
        return send_command(t, &c);
}

InputSide input_thread_get_target(const InputThread *t) {
        return t->target;
}
