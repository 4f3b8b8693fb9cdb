/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* org.freedesktop.LogControl1 on /org/freedesktop/LogControl1, systemd's interface for a
 * service's logging: `systemctl service-log-level baton.service debug` turns the daemon's
 * debug messages on while it runs (a restart would drop its state), and
 * `systemctl service-log-target` moves them. Properties:
 *   LogLevel (s, writable): emerg ... debug (common/log.h)
 *   LogTarget (s, writable): console, journal, auto or null
 *   SyslogIdentifier (s): baton
 * Only root may set them (sd-bus refuses other callers of a privileged property); a value
 * that is no level or target is refused and changes nothing. */
int log_control_add(sd_bus *bus);
