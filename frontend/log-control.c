/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "log.h"
#include "log-control.h"

#define LOG_CONTROL_PATH        "/org/freedesktop/LogControl1"
#define LOG_CONTROL_INTERFACE   "org.freedesktop.LogControl1"

static int property_get_level(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_level_to_string(log_get_max_level()));
}

static int property_set_level(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int level, r;

        r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        level = log_level_from_string(s);
        if (level < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "'%s' is no log level: one of emerg, alert, crit, err, warning, notice, "
                                         "info, debug", s);
        log_set_max_level(level);
        /* Said at the new level's floor: a change to debug shows, one to err does not. */
        log_full(level > LOG_INFO ? LOG_INFO : level, "Log level set to %s over D-Bus.", log_level_to_string(level));
        return 0;
}

static int property_get_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_target_to_string(log_target_resolve()));
}

static int property_set_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *value, void *userdata, sd_bus_error *error) {
        LogTarget t;
        const char *s;
        int r;

        r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        t = log_target_from_string(s);
        if (t < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "'%s' is no log target baton has: one of console, journal, auto, null", s);
        log_set_target(t);
        log_info("Log target set to %s over D-Bus.", s);
        return 0;
}

static int property_get_identifier(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", "baton");        /* log_to_journal()'s SYSLOG_IDENTIFIER */
}

static const sd_bus_vtable log_control_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* Not SD_BUS_VTABLE_UNPRIVILEGED: only a caller with our uid (root) may set them. */
        SD_BUS_WRITABLE_PROPERTY("LogLevel", "s", property_get_level, property_set_level, 0, 0),
        SD_BUS_WRITABLE_PROPERTY("LogTarget", "s", property_get_target, property_set_target, 0, 0),
        SD_BUS_PROPERTY("SyslogIdentifier", "s", property_get_identifier, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END
};

int log_control_add(sd_bus *bus) {
        return sd_bus_add_object_vtable(bus, NULL, LOG_CONTROL_PATH, LOG_CONTROL_INTERFACE, log_control_vtable, NULL);
}
