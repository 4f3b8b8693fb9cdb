/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-bus.h>

#include "reserve.h"

#define NAME_FLAG_ALLOW_REPLACEMENT 1u
#define NAME_FLAG_REPLACE_EXISTING 2u
#define NAME_FLAG_DO_NOT_QUEUE 4u
#define NAME_REPLY_PRIMARY_OWNER 1u
#define NAME_REPLY_EXISTS 3u
#define NAME_REPLY_ALREADY_OWNER 4u

struct Reservation {
        sd_bus *bus;
        sd_bus_slot *object, *call;
        char *device, *name, *path;
        uint64_t timeout_usec;
        bool asked_owner;
        reservation_done_t done;
        void *userdata;
};

static int method_request_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        /* The guest has the device: whatever the priority asking, it stays reserved. */
        return sd_bus_reply_method_return(m, "b", 0);
}

static int property_application_name(sd_bus *bus, const char *path, const char *interface,
                                     const char *property, sd_bus_message *reply, void *userdata,
                                     sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", "baton");
}

static int property_device_name(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", "the VFIO guest's GPU audio");
}

static int property_priority(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        return sd_bus_message_append(reply, "i", INT32_MAX);
}

static const sd_bus_vtable reserve_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("RequestRelease", "i", "b", method_request_release, 0),
        SD_BUS_PROPERTY("ApplicationName", "s", property_application_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ApplicationDeviceName", "s", property_device_name, 0,
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Priority", "i", property_priority, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

_printf_(3, 4)
static void finish(Reservation *rv, int r, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        rv->call = sd_bus_slot_unref(rv->call);
        if (r < 0 && format) {
                va_start(ap, format);
                if (vasprintf(&message, format, ap) < 0)
                        message = NULL;
                va_end(ap);
        }
        rv->done(rv, r, r < 0 ? strna(message) : NULL, rv->userdata);   /* may free rv */
}

static int request_name(Reservation *rv, uint32_t flags);

static int on_request_release(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Reservation *rv = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int released = 0, r;

        rv->call = sd_bus_slot_unref(rv->call);
        if (e) {
                finish(rv, -sd_bus_message_get_errno(m), "The owner of %s did not answer RequestRelease: %s",
                       rv->name, e->message ?: e->name);
                return 0;
        }
        r = sd_bus_message_read(m, "b", &released);
        if (r < 0) {
                finish(rv, r, "Bad RequestRelease reply from the owner of %s", rv->name);
                return 0;
        }
        if (!released) {
                finish(rv, -EBUSY, "The owner of %s refused to release it", rv->name);
                return 0;
        }
        r = request_name(rv, NAME_FLAG_DO_NOT_QUEUE | NAME_FLAG_REPLACE_EXISTING);
        if (r < 0)
                finish(rv, r, "Failed to request %s again", rv->name);
        return 0;
}

static int ask_owner(Reservation *rv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        rv->asked_owner = true;
        r = sd_bus_message_new_method_call(rv->bus, &m, rv->name, rv->path, "org.freedesktop.ReserveDevice1",
                                           "RequestRelease");
        if (r >= 0)
                r = sd_bus_message_append(m, "i", INT32_MAX);
        if (r >= 0)
                r = sd_bus_call_async(rv->bus, &rv->call, m, on_request_release, rv, rv->timeout_usec);
        return r;
}

static int on_request_name(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Reservation *rv = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        uint32_t reply = 0;
        int r;

        rv->call = sd_bus_slot_unref(rv->call);
        if (e) {
                finish(rv, -sd_bus_message_get_errno(m), "Failed to request %s: %s", rv->name,
                       e->message ?: e->name);
                return 0;
        }
        r = sd_bus_message_read(m, "u", &reply);
        if (r < 0) {
                finish(rv, r, "Bad RequestName reply for %s", rv->name);
                return 0;
        }
        if (reply == NAME_REPLY_PRIMARY_OWNER || reply == NAME_REPLY_ALREADY_OWNER) {
                finish(rv, 0, NULL);
                return 0;
        }
        if (reply != NAME_REPLY_EXISTS || rv->asked_owner) {
                finish(rv, -EBUSY, "%s is still owned by another application", rv->name);
                return 0;
        }
        r = ask_owner(rv);
        if (r < 0)
                finish(rv, r, "Failed to ask the owner of %s to release it", rv->name);
        return 0;
}

static int request_name(Reservation *rv, uint32_t flags) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(rv->bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "RequestName");
        if (r >= 0)
                r = sd_bus_message_append(m, "su", rv->name, flags);
        if (r >= 0)
                r = sd_bus_call_async(rv->bus, &rv->call, m, on_request_name, rv, rv->timeout_usec);
        return r;
}

int reservation_new(sd_bus *bus, const char *device, uint64_t timeout_usec,
                    reservation_done_t done, void *userdata, Reservation **ret) {
        _cleanup_(reservation_freep) Reservation *rv = NULL;
        int r;

        rv = calloc(1, sizeof(Reservation));
        if (!rv) {
                sd_bus_flush_close_unref(bus);
                return -ENOMEM;
        }
        *rv = (Reservation) { .bus = bus, .timeout_usec = timeout_usec, .done = done, .userdata = userdata };
        rv->device = strdup(device);
        if (!rv->device || asprintf(&rv->name, "org.freedesktop.ReserveDevice1.%s", device) < 0 ||
            asprintf(&rv->path, "/org/freedesktop/ReserveDevice1/%s", device) < 0)
                return -ENOMEM;
        r = sd_bus_add_object_vtable(bus, &rv->object, rv->path, "org.freedesktop.ReserveDevice1",
                                     reserve_vtable, rv);
        if (r < 0)
                return r;
        /* No ALLOW_REPLACEMENT: baton's reservation is not for the taking. */
        r = request_name(rv, NAME_FLAG_DO_NOT_QUEUE);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(rv);
        return 0;
}

Reservation *reservation_free(Reservation *rv) {
        if (!rv)
                return NULL;
        sd_bus_slot_unref(rv->call);
        sd_bus_slot_unref(rv->object);
        sd_bus_flush_close_unref(rv->bus);
        free(rv->device);
        free(rv->name);
        free(rv->path);
        return mfree(rv);
}

const char *reservation_device(const Reservation *rv) {
        return rv->device;
}
