/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The input router: grabs the physical keyboards and mice and writes their
 * events to uinput devices of the host or of the guest, from the caller's
 * sd-event loop and a thread per grabbed device. input-core.h has the
 * routing rules; this is the I/O around them.
 *
 * Outputs, created once by input_router_new() and kept until
 * input_router_free(), so that they outlive any number of VM restarts:
 *   "<prefix> keyboard", "<prefix> mouse"            the guest's; phys
 *        "baton/guest-keyboard" and "baton/guest-mouse", which
 *        data/71-baton-input.rules turns into /dev/input/by-id/
 *        baton-guest-event-kbd and baton-guest-event-mouse for libvirt's
 *        <input type='evdev'>, hidden from the host's libinput and logind
 *   "<prefix> host keyboard", "<prefix> host mouse"  the host's
 *
 * Sources: the devices named in the configuration (a /dev/input/by-id name, a
 * path, or name:NAME), or else every keyboard (KEY_A..KEY_Z, space, enter)
 * and mouse (REL_X, REL_Y, BTN_LEFT), never baton's own outputs. Existing ones
 * are found at start, new ones through uevents. A device is grabbed
 * (EVIOCGRAB) only once no key is held on it, so that nothing the host saw
 * pressed stays pressed. One that goes away is dropped at once (its keys are
 * released where they went); when it comes back it is grabbed again and
 * feeds the same outputs. An open refused with EACCES or EPERM right after
 * the uevent (udev may not have set the node's permissions yet) is retried
 * every 100 ms, 20 times at most.
 *
 * Until its grab a device is read on the loop. Once grabbed, a thread of its
 * own reads it with blocking reads, under a lock it shares with the loop (the
 * routing state and the outputs): a frame costs the read(2) that returns it
 * and one write(2) per output it feeds, at its SYN_REPORT. After a
 * SYN_DROPPED the device's state is resynchronized with libevdev's sync mode
 * and the difference goes out as one frame. A recover chord pressed in a
 * reader, and a reader that ends (the device unplugged), are passed to the
 * loop through a pipe. Readers run at o->realtime_priority (SCHED_FIFO) when it
 * is not 0 ([input] realtime-priority); where the kernel refuses it, at the
 * caller's own, with one warning. */

#include <stdint.h>

#include <systemd/sd-event.h>

#include "input-core.h"
#include "macro.h"

typedef struct InputRouter InputRouter;

typedef struct InputRouterOptions {
        const char *name_prefix;        /* "baton" when NULL or empty */
        char * const *devices;          /* NULL: detect keyboards and mice */
        InputChord hotkey;
        InputChord recover;             /* no keys: off */
        /* Each grabbed device's reader runs at this SCHED_FIFO priority (1-99); 0: at
         * the caller's own. */
        unsigned realtime_priority;
        /* The target changed, by the hotkey or input_router_set_target(). */
        void (*on_target)(InputRouter *r, InputSide side, void *userdata);
        void *userdata;
        /* The recover chord runs this executable with the argument "recover";
         * NULL: /proc/self/exe, that is baton itself. */
        const char *recover_binary;
} InputRouterOptions;

/* Creates the outputs (needs /dev/uinput: -ENOENT without the uinput module),
 * starts watching for devices and grabs the present ones. The strings of o
 * are copied. Returns 0 or a negative errno, nothing logged. */
int input_router_new(sd_event *event, const InputRouterOptions *o, InputRouter **ret);
InputRouter *input_router_free(InputRouter *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(InputRouter *, input_router_free);

/* Moves the input to side, as the hotkey does; held keys are released where
 * they were pressed. why goes to the log ("hotkey", "handover", ...).
 * Returns 1 when the target changed, 0 when it was side already. */
int input_router_set_target(InputRouter *r, InputSide side, const char *why);
InputSide input_router_get_target(InputRouter *r);

/* SYN_DROPPED events met since the start. */
uint64_t input_router_syn_dropped(InputRouter *r);
