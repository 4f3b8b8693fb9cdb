/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pipewire/pipewire.h>

#include "audio-cards.h"
#include "dlopen-util.h"
#include "macro.h"
#include "pw-watch.h"

/* libpipewire is opened at run time (common/dlopen-util.h), only once a user's PipeWire is
 * asked about: linked, it was a fifth of the relocations the dynamic loader did at every
 * start of every baton process. The functions below are its only ones baton calls; the
 * rest of pipewire.h (pw_loop_iterate(), pw_core_sync(), ...) are inline calls through
 * the objects' method tables. */
#define PW_SYMBOLS(X)                                   \
        X(pw_context_connect)                           \
        X(pw_context_destroy)                           \
        X(pw_context_new)                               \
        X(pw_core_disconnect)                           \
        X(pw_init)                                      \
        X(pw_loop_destroy)                              \
        X(pw_loop_new)                                  \
        X(pw_properties_new)                            \
        X(pw_proxy_add_object_listener)                 \
        X(pw_proxy_destroy)

#define PW_DEFINE_SYMBOL(f) static __typeof__(f) *sym_##f = NULL;
PW_SYMBOLS(PW_DEFINE_SYMBOL)
#undef PW_DEFINE_SYMBOL

/* 0, or -EOPNOTSUPP after logging (once) that libpipewire is missing. */
static int pipewire_dlopen(void) {
#define PW_ENTRY(f) DL_SYMBOL(f),
        static const DlSymbol syms[] = { PW_SYMBOLS(PW_ENTRY) };
#undef PW_ENTRY
        static DlLibrary lib = DL_LIBRARY("libpipewire-0.3.so.0", "libpipewire-0.3-0", syms);

        return dlopen_library(&lib);
}

typedef struct PwDevice {
        PwWatch *watch;
        uint32_t id;
        struct pw_proxy *proxy;
        struct spa_hook listener;
        bool has_info;
        char *name, *alsa_card, *bus_path, *sysfs_path;
        struct PwDevice *next;
} PwDevice;

struct PwWatch {
        sd_event_source *io;
        sd_event_source *defer;         /* calls changed() outside of libpipewire's callbacks */
        int error;
        struct pw_loop *loop;
        struct pw_context *context;
        struct pw_core *core;
        struct pw_registry *registry;
        struct spa_hook core_listener, registry_listener;
        PwDevice *devices;
        int sync_seq;
        bool ready, failed;
        pw_watch_changed_t changed;
        void *userdata;
};

static PwDevice *device_free(PwDevice *d) {
        if (!d)
                return NULL;
        if (d->proxy) {
                spa_hook_remove(&d->listener);
                sym_pw_proxy_destroy(d->proxy);
        }
        free(d->name);
        free(d->alsa_card);
        free(d->bus_path);
        free(d->sysfs_path);
        return mfree(d);
}

static void notify(PwWatch *w, int r) {
        if (w->failed)
                return;
        if (r < 0) {
                w->failed = true;
                w->error = r;
        } else if (!w->ready)
                return;
        /* Never from inside pw_loop_iterate(): the callback may free w and its loop. */
        (void) sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT);
}

static int on_defer(sd_event_source *s, void *userdata) {
        PwWatch *w = userdata;

        w->changed(w, w->error, w->userdata);   /* may free w */
        return 0;
}

static void sync_again(PwWatch *w) {
        /* A device's info arrives after the bind's round trip: ready once a sync sent after
         * the last bind comes back. */
        w->sync_seq = pw_core_sync(w->core, PW_ID_CORE, w->sync_seq);
}

static char *dict_dup(const struct spa_dict *props, const char *key) {
        const char *v = spa_dict_lookup(props, key);

        return v ? strdup(v) : NULL;
}

static void on_device_info(void *data, const struct pw_device_info *info) {
        PwDevice *d = data;

        if (!(info->change_mask & PW_DEVICE_CHANGE_MASK_PROPS) || !info->props)
                return;
        free(d->name);
        free(d->alsa_card);
        free(d->bus_path);
        free(d->sysfs_path);
        d->name = dict_dup(info->props, PW_KEY_DEVICE_NAME);
        d->alsa_card = dict_dup(info->props, "api.alsa.card");
        d->bus_path = dict_dup(info->props, PW_KEY_DEVICE_BUS_PATH);
        d->sysfs_path = dict_dup(info->props, PW_KEY_DEVICE_SYSFS_PATH);
        d->has_info = true;
        notify(d->watch, 0);
}

static const struct pw_device_events device_events = {
        PW_VERSION_DEVICE_EVENTS,
        .info = on_device_info,
};

static void on_global(void *data, uint32_t id, uint32_t permissions, const char *type, uint32_t version,
                      const struct spa_dict *props) {
        PwWatch *w = data;
        PwDevice *d;

        if (!streq(type, PW_TYPE_INTERFACE_Device))
                return;
        d = calloc(1, sizeof(PwDevice));
        if (!d)
                return notify(w, -ENOMEM);
        *d = (PwDevice) { .watch = w, .id = id, .next = w->devices };
        d->proxy = pw_registry_bind(w->registry, id, type, PW_VERSION_DEVICE, 0);
        if (!d->proxy) {
                free(d);
                return notify(w, -errno > 0 ? -errno : -ENOMEM);
        }
        sym_pw_proxy_add_object_listener(d->proxy, &d->listener, &device_events, d);
        w->devices = d;
        sync_again(w);
}

static void on_global_remove(void *data, uint32_t id) {
        PwWatch *w = data;

        for (PwDevice **p = &w->devices; *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        PwDevice *d = *p;

                        *p = d->next;
                        device_free(d);
                        notify(w, 0);
                        return;
                }
}

static const struct pw_registry_events registry_events = {
        PW_VERSION_REGISTRY_EVENTS,
        .global = on_global,
        .global_remove = on_global_remove,
};

static void on_core_done(void *data, uint32_t id, int seq) {
        PwWatch *w = data;

        if (id != PW_ID_CORE || seq != w->sync_seq || w->ready)
                return;
        w->ready = true;
        notify(w, 0);
}

static void on_core_error(void *data, uint32_t id, int seq, int res, const char *message) {
        PwWatch *w = data;

        /* Errors of single objects (a device gone before its bind) are not the watch's. */
        if (id == PW_ID_CORE)
                notify(w, res < 0 ? res : -EIO);
}

static const struct pw_core_events core_events = {
        PW_VERSION_CORE_EVENTS,
        .done = on_core_done,
        .error = on_core_error,
};

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PwWatch *w = userdata;

        pw_loop_enter(w->loop);
        (void) pw_loop_iterate(w->loop, 0);
        pw_loop_leave(w->loop);
        return 0;
}

typedef struct Connect {
        PwWatch *watch;
        const UserIdentity *user;
} Connect;

static int connect_as_user(void *userdata) {
        Connect *c = userdata;
        const char *saved = getenv("PIPEWIRE_RUNTIME_DIR");
        _cleanup_free_ char *old = saved ? strdup(saved) : NULL;
        int r = 0;

        /* libpipewire finds the socket through the environment; ours is root's. */
        if (setenv("PIPEWIRE_RUNTIME_DIR", c->user->runtime_dir, 1) < 0)
                return -errno;
        c->watch->core = sym_pw_context_connect(c->watch->context, NULL, 0);
        if (!c->watch->core)
                r = errno > 0 ? -errno : -ECONNREFUSED;
        if (old)
                (void) setenv("PIPEWIRE_RUNTIME_DIR", old, 1);
        else
                (void) unsetenv("PIPEWIRE_RUNTIME_DIR");
        return r;
}

int pw_watch_new(sd_event *e, const UserIdentity *u, pw_watch_changed_t changed, void *userdata,
                 PwWatch **ret) {
        _cleanup_(pw_watch_freep) PwWatch *w = NULL;
        int r;

        r = pipewire_dlopen();
        if (r < 0)
                return r;
        sym_pw_init(NULL, NULL);
        w = calloc(1, sizeof(PwWatch));
        if (!w)
                return -ENOMEM;
        *w = (PwWatch) { .changed = changed, .userdata = userdata };
        w->loop = sym_pw_loop_new(NULL);
        if (!w->loop)
                return -ENOMEM;
        w->context = sym_pw_context_new(w->loop, sym_pw_properties_new(PW_KEY_CONFIG_NAME, "client.conf",
                                                                       PW_KEY_APP_NAME, "baton", NULL), 0);
        if (!w->context)
                return -ENOMEM;
        r = user_run_as(u, connect_as_user, &(Connect) { .watch = w, .user = u });
        if (r < 0)
                return r;
        pw_core_add_listener(w->core, &w->core_listener, &core_events, w);
        w->registry = pw_core_get_registry(w->core, PW_VERSION_REGISTRY, 0);
        if (!w->registry)
                return -ENOMEM;
        pw_registry_add_listener(w->registry, &w->registry_listener, &registry_events, w);
        sync_again(w);

        r = sd_event_add_io(e, &w->io, pw_loop_get_fd(w->loop), EPOLLIN, on_io, w);
        if (r >= 0)
                r = sd_event_add_defer(e, &w->defer, on_defer, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

PwWatch *pw_watch_free(PwWatch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->io);
        sd_event_source_disable_unref(w->defer);
        while (w->devices) {
                PwDevice *d = w->devices;

                w->devices = d->next;
                device_free(d);
        }
        if (w->registry) {
                spa_hook_remove(&w->registry_listener);
                sym_pw_proxy_destroy((struct pw_proxy *) w->registry);
        }
        if (w->core) {
                spa_hook_remove(&w->core_listener);
                sym_pw_core_disconnect(w->core);
        }
        if (w->context)
                sym_pw_context_destroy(w->context);
        if (w->loop)
                sym_pw_loop_destroy(w->loop);
        return mfree(w);
}

bool pw_watch_has_card(PwWatch *w, const char *pci_address, int index, const char **ret_name) {
        for (PwDevice *d = w->devices; d; d = d->next)
                if (d->has_info && audio_device_matches(d->alsa_card, d->bus_path, d->sysfs_path,
                                                        pci_address, index)) {
                        if (ret_name)
                                *ret_name = d->name;
                        return true;
                }
        return false;
}
