/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libvirt's event loop on sd-event, and the domain that has the GPU followed through
 * lifecycle events, its QEMU's pidfd and a start deadline (libvirt-events.h). */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <systemd/sd-event.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "libvirt-events.h"
#include "libvirt-util.h"
#include "log.h"
#include "macro.h"
#include "pidfd-wait.h"

/* ---- libvirt's event implementation on sd-event ------------------------------------- */

/* One fd watch or timer libvirt asked for. Removal only unlinks it: libvirt may
 * remove a watch from inside its own callback, or with its locks held, and
 * wants its free function called later, never from inside the remove call. */
typedef struct Watch {
        int id;
        bool is_timer;
        int timeout_msec;               /* timers: -1 off, 0 every iteration, else period */
        sd_event_source *source;
        sd_event_source *release;       /* deferred free after removal */
        virEventHandleCallback io_cb;
        virEventTimeoutCallback timer_cb;
        void *opaque;
        virFreeCallback ff;
        struct Watch *next;
} Watch;

/* Process state, see the header: libvirt's callbacks carry no context. */
static sd_event *impl_event;
static Watch *watches;
static int next_watch_id = 1;

static uint32_t to_epoll(int events) {
        return (events & VIR_EVENT_HANDLE_READABLE ? EPOLLIN : 0) |
               (events & VIR_EVENT_HANDLE_WRITABLE ? EPOLLOUT : 0);
}

static int from_epoll(uint32_t revents) {
        return (revents & EPOLLIN ? VIR_EVENT_HANDLE_READABLE : 0) |
               (revents & EPOLLOUT ? VIR_EVENT_HANDLE_WRITABLE : 0) |
               (revents & EPOLLERR ? VIR_EVENT_HANDLE_ERROR : 0) |
               (revents & EPOLLHUP ? VIR_EVENT_HANDLE_HANGUP : 0);
}

static Watch *find_watch(int id, bool is_timer) {
        for (Watch *w = watches; w; w = w->next)
                if (w->id == id && w->is_timer == is_timer)
                        return w;
        return NULL;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Watch *w = userdata;

        w->io_cb(w->id, fd, from_epoll(revents), w->opaque);
        return 0;
}

static int arm_timer(Watch *w) {
        uint64_t now;
        int r;

        if (w->timeout_msec < 0)
                return sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
        r = sd_event_now(impl_event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_event_source_set_time(w->source, now + (uint64_t) w->timeout_msec * 1000);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->source, SD_EVENT_ON);
        return r;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Watch *w = userdata;
        int id = w->id;

        /* Re-armed before the callback: it may update or remove this very timer. */
        (void) arm_timer(w);
        w->timer_cb(id, w->opaque);
        return 0;
}

static int add_watch(Watch *w) {
        Watch *n = malloc(sizeof(Watch));

        if (!n)
                return -1;
        *n = *w;
        n->id = next_watch_id++;
        n->next = watches;
        watches = n;
        *w = *n;
        return n->id;
}

static int impl_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff) {
        Watch w = { .io_cb = cb, .opaque = opaque, .ff = ff };
        int id, r;

        id = add_watch(&w);
        if (id < 0)
                return -1;
        r = sd_event_add_io(impl_event, &find_watch(id, false)->source, fd, to_epoll(events), on_io,
                            find_watch(id, false));
        if (r < 0) {
                Watch *n = watches;             /* just added: the head */

                watches = n->next;
                free(n);
                return -1;
        }
        if (events == 0)
                (void) sd_event_source_set_enabled(find_watch(id, false)->source, SD_EVENT_OFF);
        return id;
}

static void impl_update_handle(int id, int events) {
        Watch *w = find_watch(id, false);

        if (!w)
                return;
        if (events == 0) {
                (void) sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(w->source, to_epoll(events));
        (void) sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

static int on_release(sd_event_source *s, void *userdata) {
        Watch *w = userdata;

        if (w->ff)
                w->ff(w->opaque);
        sd_event_source_disable_unref(w->source);
        sd_event_source_unref(w->release);
        free(w);
        return 0;
}

static int remove_watch(int id, bool is_timer) {
        Watch **p, *w;

        for (p = &watches; *p; p = &(*p)->next)
                if ((*p)->id == id && (*p)->is_timer == is_timer)
                        break;
        w = *p;
        if (!w)
                return -1;
        *p = w->next;
        (void) sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
        if (sd_event_add_defer(impl_event, &w->release, on_release, w) < 0) {
                /* Out of memory: leak the opaque data rather than free it under libvirt's locks. */
                sd_event_source_disable_unref(w->source);
                free(w);
        }
        return 0;
}

static int impl_remove_handle(int id) {
        return remove_watch(id, false);
}

static int impl_add_timeout(int timeout_msec, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff) {
        Watch w = { .is_timer = true, .timeout_msec = timeout_msec, .timer_cb = cb, .opaque = opaque, .ff = ff };
        Watch *n;
        int id, r;

        id = add_watch(&w);
        if (id < 0)
                return -1;
        n = find_watch(id, true);
        r = sd_event_add_time(impl_event, &n->source, CLOCK_MONOTONIC, 0, 0, on_timer, n);
        if (r >= 0)
                r = arm_timer(n);
        if (r < 0) {
                watches = n->next;
                sd_event_source_disable_unref(n->source);
                free(n);
                return -1;
        }
        return id;
}

static void impl_update_timeout(int id, int timeout_msec) {
        Watch *w = find_watch(id, true);

        if (!w)
                return;
        w->timeout_msec = timeout_msec;
        (void) arm_timer(w);
}

static int impl_remove_timeout(int id) {
        return remove_watch(id, true);
}

static int register_impl(sd_event *event) {
        if (impl_event)
                return impl_event == event ? 0 : -EBUSY;
        impl_event = sd_event_ref(event);
        sym_virEventRegisterImpl(impl_add_handle, impl_update_handle, impl_remove_handle,
                             impl_add_timeout, impl_update_timeout, impl_remove_timeout);
        return 0;
}

/* ---- following the domain that has the GPU ------------------------------------------ */

struct LibvirtEvents {
        sd_event *event;
        char *uri;
        uint64_t start_deadline_usec;
        libvirt_return_t request_return;
        void *userdata;

        char *vm;                       /* followed; NULL: none */
        bool started;                   /* it ran since the handover */
        virConnectPtr conn;
        int lifecycle_id;               /* -1: not registered */
        sd_event_source *deadline;
        sd_event_source *reconnect;
        PidfdWait *qemu;
        sd_event_source *pending;       /* a return request on its way out */
        bool returning;                 /* asked for the return: nothing left to follow */
        char reason[512];
};

/* The request leaves from a loop iteration of its own: the daemon may answer it
 * with unwatch() at once, which must not close the connection inside libvirt's
 * own event dispatch (where most of these requests come from). */
static int on_pending(sd_event_source *s, void *userdata) {
        LibvirtEvents *l = userdata;

        l->pending = sd_event_source_unref(l->pending);
        l->request_return(l->reason, l->userdata);
        return 0;
}

_printf_(2, 3)
static void request_return(LibvirtEvents *l, const char *format, ...) {
        char reason[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(reason, sizeof(reason), format, ap);
        va_end(ap);
        if (l->pending || l->returning)
                return;         /* one is on its way already */
        /* virConnectOpen() blocks the loop while libvirtd starts up (seconds under
         * TCG): no reconnect once the return is asked for, the engine needs the loop. */
        l->returning = true;
        l->reconnect = sd_event_source_disable_unref(l->reconnect);
        log_notice("%s: asking for the GPU's return.", reason);
        memcpy(l->reason, reason, sizeof(reason));
        if (sd_event_add_defer(l->event, &l->pending, on_pending, l) < 0)
                l->request_return(l->reason, l->userdata);      /* out of memory: now, then */
}

static void on_qemu_exit(PidfdWait *w, const pid_t *survivors, size_t n_survivors, void *userdata) {
        LibvirtEvents *l = userdata;

        l->qemu = pidfd_wait_free(l->qemu);
        if (n_survivors == 0 && l->vm)
                request_return(l, "QEMU of domain %s exited", l->vm);
}

/* QEMU's pid as libvirt wrote it: a pidfd on it sees the exit even with libvirtd
 * down. True when a QEMU is followed (a pid already gone reports its exit at once). */
static bool follow_qemu(LibvirtEvents *l) {
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        int pid = 0, r;

        if (l->qemu)
                return true;
        if (asprintf(&path, "/run/libvirt/qemu/%s.pid", l->vm) < 0)
                return false;
        f = fopen(path, "re");
        if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0)
                return false;
        r = pidfd_wait_new(l->event, &(pid_t) { pid }, 1, UINT64_MAX, on_qemu_exit, l, &l->qemu);
        if (r < 0) {
                log_warning_errno(r, "Failed to follow QEMU pid %d of %s, ignoring: %m", pid, l->vm);
                return false;
        }
        log_info("Following QEMU of %s (pid %d).", l->vm, pid);
        return true;
}

static void mark_started(LibvirtEvents *l) {
        if (!l->started)
                log_info("Domain %s runs.", l->vm);
        l->started = true;
        l->deadline = sd_event_source_disable_unref(l->deadline);
        follow_qemu(l);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        LibvirtEvents *l = opaque;
        const char *name = sym_virDomainGetName(dom);

        if (!l->vm || !name || !streq(name, l->vm))
                return 0;
        switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
                mark_started(l);
                break;
        case VIR_DOMAIN_EVENT_STOPPED:
                request_return(l, "domain %s stopped (%s)", l->vm,
                               detail == VIR_DOMAIN_EVENT_STOPPED_DESTROYED ? "destroyed" :
                               detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ? "crashed" :
                               detail == VIR_DOMAIN_EVENT_STOPPED_FAILED ? "its emulator failed" :
                               detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN ? "shut down" : "other");
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                /* The guest crashed; QEMU may stay for a dump (on_crash). Its stop follows. */
                log_notice("Domain %s crashed.", l->vm);
                break;
        }
        return 0;
}

static void disconnect(LibvirtEvents *l) {
        if (!l->conn)
                return;
        if (l->lifecycle_id >= 0)
                (void) sym_virConnectDomainEventDeregisterAny(l->conn, l->lifecycle_id);
        l->lifecycle_id = -1;
        (void) sym_virConnectClose(l->conn);
        l->conn = NULL;
}

static int arm_reconnect(LibvirtEvents *l);

static void on_close(virConnectPtr conn, int reason, void *opaque) {
        LibvirtEvents *l = opaque;

        /* Not virConnectClose() here: libvirt is inside its own close handling. */
        log_notice("The connection to libvirt closed (reason %d); reconnecting.", reason);
        (void) arm_reconnect(l);
}

/* Where the followed domain stands now: running, stopped while nobody was looking,
 * or not started yet. From libvirt's pid file, never from a libvirt call: those
 * take the domain's lock, which libvirt holds while it runs the hook, and a hook
 * waiting on this loop for a D-Bus reply would then wait forever (the deadlock
 * libvirt's hooks.html warns of, one process removed). */
static void sync_state(LibvirtEvents *l) {
        if (follow_qemu(l))
                mark_started(l);
        else if (l->started)
                request_return(l, "domain %s is not running any more", l->vm);
}

static int try_connect(LibvirtEvents *l) {
        const char *msg;
        int r;

        disconnect(l);
        l->conn = sym_virConnectOpen(l->uri);
        if (!l->conn) {
                r = libvirt_error(&msg);
                log_debug("Cannot connect to %s yet: %s", l->uri, msg);
                return r;
        }
        /* A hung libvirtd is noticed too: 5 s probes, 3 missed ones close the connection. */
        (void) sym_virConnectSetKeepAlive(l->conn, 5, 3);
        l->lifecycle_id = sym_virConnectDomainEventRegisterAny(l->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), l, NULL);
        if (l->lifecycle_id < 0 || sym_virConnectRegisterCloseCallback(l->conn, on_close, l, NULL) < 0) {
                r = libvirt_error(&msg);
                log_warning("Cannot follow domain events on %s: %s", l->uri, msg);
                disconnect(l);
                return r;
        }
        log_info("Connected to %s, following domain %s.", l->uri, l->vm);
        sync_state(l);
        return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        LibvirtEvents *l = userdata;

        l->reconnect = sd_event_source_disable_unref(l->reconnect);
        if (l->vm && try_connect(l) < 0)
                (void) arm_reconnect(l);
        return 0;
}

static int arm_reconnect(LibvirtEvents *l) {
        if (l->reconnect || l->returning)
                return 0;
        return sd_event_add_time_relative(l->event, &l->reconnect, CLOCK_MONOTONIC, LIBVIRT_RECONNECT_USEC, 0,
                                          on_reconnect, l);
}

static int on_start_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        LibvirtEvents *l = userdata;

        l->deadline = sd_event_source_disable_unref(l->deadline);
        if (l->started || !l->vm)
                return 0;
        /* Last look: a start still on its way counts once QEMU runs. */
        sync_state(l);
        if (!l->started)
                request_return(l, "domain %s did not start within %g s of the handover", l->vm,
                               l->start_deadline_usec / 1e6);
        return 0;
}

int libvirt_events_new(sd_event *event, const char *uri, uint64_t start_deadline_usec,
                       libvirt_return_t request_return_cb, void *userdata, LibvirtEvents **ret) {
        LibvirtEvents *l;

        l = malloc(sizeof(LibvirtEvents));
        if (!l)
                return -ENOMEM;
        *l = (LibvirtEvents) {
                .event = sd_event_ref(event),
                .uri = strdup(uri),
                .start_deadline_usec = start_deadline_usec ?: LIBVIRT_START_DEADLINE_USEC,
                .request_return = request_return_cb,
                .userdata = userdata,
                .lifecycle_id = -1,
        };
        if (!l->uri)
                return libvirt_events_free(l), -ENOMEM;
        *ret = l;
        return 0;
}

void libvirt_events_unwatch(LibvirtEvents *l) {
        if (!l)
                return;
        if (l->vm)
                log_info("No longer following domain %s.", l->vm);
        l->vm = mfree(l->vm);
        l->started = false;
        l->returning = false;
        l->deadline = sd_event_source_disable_unref(l->deadline);
        l->reconnect = sd_event_source_disable_unref(l->reconnect);
        l->qemu = pidfd_wait_free(l->qemu);
        l->pending = sd_event_source_disable_unref(l->pending);
        disconnect(l);
}

LibvirtEvents *libvirt_events_free(LibvirtEvents *l) {
        if (!l)
                return NULL;
        libvirt_events_unwatch(l);
        sd_event_unref(l->event);
        free(l->uri);
        free(l);
        return NULL;
}

int libvirt_events_watch(LibvirtEvents *l, const char *vm, bool running) {
        int r;

        if (l->vm && streq(l->vm, vm))
                return 0;
        /* libvirt is loaded only now, with a domain to follow (issue 17): it is most of
         * what the daemon would map, on machines where libvirtd may never run. */
        r = libvirt_dlopen();
        if (r >= 0)
                r = register_impl(l->event);
        if (r < 0)
                return r;
        libvirt_quiet();
        libvirt_events_unwatch(l);
        l->vm = strdup(vm);
        if (!l->vm)
                return -ENOMEM;
        l->started = running;
        if (!running && !follow_qemu(l)) {
                r = sd_event_add_time_relative(l->event, &l->deadline, CLOCK_MONOTONIC, l->start_deadline_usec, 0,
                                               on_start_deadline, l);
                if (r < 0) {
                        libvirt_events_unwatch(l);
                        return r;
                }
        } else
                l->started = true;
        if (try_connect(l) < 0)
                (void) arm_reconnect(l);
        return 0;
}

const char *libvirt_events_vm(const LibvirtEvents *l) {
        return l ? l->vm : NULL;
}
