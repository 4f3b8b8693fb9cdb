/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

/* `baton notify`: runs at the desktop user's login (the autostart entry session/notice.h
 * describes), as that user, in their session. Reads the notice root left in their home,
 * waits up to timeout_usec for org.freedesktop.Notifications to have an owner on the session
 * bus (GNOME Shell takes it once it is up; no service is started for it), sends the notice
 * once with Notify, then removes the notice and its autostart entry. Without a notice it
 * removes a stale entry and sends nothing. A notice that is too large or malformed is refused
 * with an error, nothing is sent and nothing removed. */
#define NOTIFY_WAIT_USEC (120 * 1000000ULL)

int notify_run(uint64_t timeout_usec);

/* The part of notify_run() on the bus: attaches bus to event, waits for
 * org.freedesktop.Notifications to have an owner, then sends Notify, asking again every
 * 250 ms while the server answers that it is not ready (GNOME Shell at login); all of it
 * within timeout_usec. Logs its failures: -ETIMEDOUT when no server came, or none took the
 * notice in time. */
int notify_send(sd_bus *bus, sd_event *event, uint64_t timeout_usec, const char *summary, const char *body,
                uint32_t *ret_id);
