/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The input router (input-router.h) in a thread of its own, on an sd-event loop of its
 * own: nothing the caller's loop does (a stage's sysfs reads and writes, a transition's
 * journal, a slow D-Bus peer) delays a frame. The caller talks to it through two pipes:
 * its requests go to the router's loop, and the router's changes of target come back to
 * the caller's loop, where on_target runs. */

#include <systemd/sd-event.h>

#include "input-router.h"
#include "macro.h"

typedef struct InputThread InputThread;

/* The target changed (the hotkey, or a request), called on the caller's loop. */
typedef void (*input_thread_target_t)(InputThread *t, InputSide side, void *userdata);

/* Creates the router as input_router_new() does (o's on_target is not used), then
 * starts its thread. Returns 0 or a negative errno, nothing logged. */
int input_thread_new(sd_event *event, const InputRouterOptions *o, input_thread_target_t on_target,
                     void *userdata, InputThread **ret);

/* Stops the thread, waits for it, then frees the router (its grabs go with it). */
InputThread *input_thread_free(InputThread *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(InputThread *, input_thread_free);

/* Asks the router to move the input to side (why goes to its log). The router acts on
 * its loop at once; input_thread_get_target() says side from now on. */
int input_thread_set_target(InputThread *t, InputSide side, const char *why);

/* The target as this side knows it: the last one asked for, or reported by the router. */
InputSide input_thread_get_target(const InputThread *t);
