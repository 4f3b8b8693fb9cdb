/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"

/* libvirt in the daemon's loop: the safety net behind the hook (hook/hook.c). The
 * hook returns the GPU when libvirt runs it as the domain ends; when libvirt does
 * not (QEMU crashed, libvirtd was down or restarted, the domain never started),
 * this does.
 *
 * The first libvirt_events_watch() loads libvirt (dlopen: a daemon that never
 * follows a domain never maps it) and registers an event implementation with
 * libvirt (virEventRegisterImpl) that puts libvirt's fd watches and timers on the
 * daemon's sd-event loop, so libvirt's client code (keepalive, incoming
 * events) runs there like any other source. That registration is per process
 * and cannot be undone: the first call binds it to its loop, and the
 * watches/timers table behind it is the one piece of process state this
 * module keeps (libvirt's callbacks carry no context of ours).
 *
 * Once the GPU is handed over for a domain (libvirt_events_watch()), it
 * follows that domain and asks for the return (the request_return callback,
 * with a one-line reason) when
 *   - libvirt reports it stopped or crashed (a destroy, a libvirtd restart that
 *     found QEMU gone, a release hook that never came),
 *   - its QEMU process exits (a pidfd on the pid libvirt wrote to
 *     /run/libvirt/qemu/NAME.pid: works while libvirtd is down),
 *   - it did not start within the start deadline after the handover,
 *   - after a reconnect, its QEMU is not running any more.
 * The connection (qemu:///system) is opened only while a domain is followed,
 * and re-opened every few seconds when libvirtd goes away.
 *
 * The loop never makes a libvirt call that touches a domain (lookup, state):
 * libvirt holds the domain's lock while it runs the hook, the hook waits for
 * the daemon's D-Bus reply, and a loop blocked on that lock would never send
 * it (the lab ran into exactly this when a restarted libvirtd ran the release
 * hook). Whether the domain runs comes from events and from libvirt's pid file;
 * the calls made here are the connection's own (open, keepalive, event and
 * close callbacks). virConnectOpen() does block while libvirtd starts up, so
 * no reconnect is tried once the return has been asked for. */

typedef struct LibvirtEvents LibvirtEvents;

typedef void (*libvirt_return_t)(const char *reason, void *userdata);

#define LIBVIRT_START_DEADLINE_USEC (120ULL * 1000000)
#define LIBVIRT_RECONNECT_USEC (2ULL * 1000000)

/* start_deadline_usec 0: LIBVIRT_START_DEADLINE_USEC. Neither loads libvirt nor connects. */
int libvirt_events_new(sd_event *event, const char *uri, uint64_t start_deadline_usec,
                       libvirt_return_t request_return, void *userdata, LibvirtEvents **ret);
LibvirtEvents *libvirt_events_free(LibvirtEvents *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(LibvirtEvents *, libvirt_events_free);

/* Follow vm, which now has the GPU. running: it is known to run already (a daemon
 * restart), so no start deadline. A second call for the same vm is a no-op.
 * Returns 0, or a negative errno (nothing is followed then). */
int libvirt_events_watch(LibvirtEvents *l, const char *vm, bool running);
/* The GPU is back: stop following, close the connection. NULL is fine. */
void libvirt_events_unwatch(LibvirtEvents *l);
/* The domain followed now, or NULL. */
const char *libvirt_events_vm(const LibvirtEvents *l);
