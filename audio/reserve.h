/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include <systemd/sd-bus.h>

#include "macro.h"

/* One device reservation of the org.freedesktop.ReserveDevice1 protocol, taken with the
 * highest priority: the name org.freedesktop.ReserveDevice1.<device> on the user's session
 * bus. The owner (WirePlumber) is asked to give the device up with RequestRelease and then
 * replaced; WirePlumber closes the card when it loses the name. baton answers RequestRelease
 * from others with false: while the guest has the card, nobody gets it back.
 *
 * The reservation lasts as long as the Reservation (and its bus connection): freeing it
 * releases the name. Never logs; never blocks. */

typedef struct Reservation Reservation;

/* Called once from the loop: r is 0 when the name is ours; otherwise a negative errno
 * (-EBUSY: the owner refused; -ETIMEDOUT) and message says what failed. May free rv. */
typedef void (*reservation_done_t)(Reservation *rv, int r, const char *message, void *userdata);

/* Takes the reservation of device ("Audio0") on bus, which must be attached to a loop and
 * is from then on owned by the Reservation. Each D-Bus call may take timeout_usec. */
int reservation_new(sd_bus *bus, const char *device, uint64_t timeout_usec,
                    reservation_done_t done, void *userdata, Reservation **ret);
/* Releases the name (closes the connection). NULL is fine. */
Reservation *reservation_free(Reservation *rv);
DEFINE_TRIVIAL_CLEANUP_FUNC(Reservation *, reservation_free);

const char *reservation_device(const Reservation *rv);
