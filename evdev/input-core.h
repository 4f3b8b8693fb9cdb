/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The input router's decisions, without devices: events of the grabbed physical
 * devices in, frames for the four outputs (host and guest, keyboard and mouse)
 * out. No I/O here: input-router.c feeds it from libevdev and writes its frames
 * to uinput; the unit tests feed it synthetic streams.
 *
 * The rules:
 * - Presses (and the mouse's relative motion) go to the active side, the
 *   target. A key's release and repeats go where its press went, whatever the
 *   target is by then, so no key stays pressed on either side.
 * - A key held by two sources at once is pressed once and released when the
 *   last source lets go.
 * - Hotkey chords never reach an output. The press of a chord key is held back
 *   while it may still become part of a chord; any other key or button press,
 *   the release of a held-back key, or a wheel event sends the held-back
 *   presses on first, in order, to the target. Plain motion does not, so a mouse that never stops
 *   moving does not make the chord unpressable (the price: a held-back Ctrl is
 *   not seen while merely hovering). Once every key of a chord is down, the
 *   held-back presses are dropped with their releases and the chord acts.
 *   Because the key that completes a chord is never delivered, no output ever
 *   has all the keys of a chord down at once.
 * - Each source frame (up to SYN_REPORT) becomes at most one frame per output,
 *   handed to the emit callback with its SYN_REPORT, whole (the router
 *   writes the frames of one wakeup together).
 * - Keyboard LEDs: each side sets its own (the host's compositor on the host
 *   keyboard, the guest on the guest's); the physical keyboards show the
 *   target's. */

#include <linux/input.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef enum InputSide {
        INPUT_HOST,
        INPUT_GUEST,
        _INPUT_SIDE_MAX,
} InputSide;

typedef enum InputKind {
        INPUT_KEYBOARD,
        INPUT_MOUSE,
        _INPUT_KIND_MAX,
} InputKind;

/* The four outputs: INPUT_OUTPUT(side, kind). */
#define INPUT_OUTPUT(side, kind) ((side) * _INPUT_KIND_MAX + (kind))
#define _INPUT_OUTPUT_MAX (_INPUT_SIDE_MAX * _INPUT_KIND_MAX)

#define INPUT_CHORD_KEYS_MAX 4

typedef struct InputChord {
        unsigned n_keys;                /* 0: off */
        unsigned keys[INPUT_CHORD_KEYS_MAX];
} InputChord;

/* What a call asks the caller to do besides writing frames. */
typedef enum InputAction {
        INPUT_ACTION_TOGGLED = 1 << 0,  /* the hotkey switched the target */
        INPUT_ACTION_RECOVER = 1 << 1,  /* the recover chord was pressed: run `baton recover` */
        INPUT_ACTION_LEDS = 1 << 2,     /* input_core_leds() changed: set them on the physical keyboards */
} InputAction;

/* The keys one source holds as the core saw them; embedded in the caller's
 * per-device object, zeroed when the device is grabbed. */
typedef struct InputSource {
        uint8_t down[KEY_CNT / 8];
} InputSource;

/* Called once per output frame; events ends with SYN_REPORT. */
typedef void (*InputEmit)(unsigned output, const struct input_event *events, size_t n, void *userdata);

typedef struct InputCore InputCore;

/* Returns 0 or -ENOMEM. The target starts at the host. */
int input_core_new(const InputChord *hotkey, const InputChord *recover, InputEmit emit, void *userdata,
                   InputCore **ret);
InputCore *input_core_free(InputCore *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(InputCore *, input_core_free);

/* One event read from source s; frames are emitted at its SYN_REPORT. Returns
 * the InputAction flags it caused. Events the outputs have no use for (EV_MSC,
 * EV_LED echoes, EV_REP) are dropped. */
unsigned input_core_feed(InputCore *c, InputSource *s, const struct input_event *ev);

/* The source went away, or is let go: releases what it held, on the sides
 * that got the presses, and emits the frames. */
void input_core_source_gone(InputCore *c, InputSource *s);

/* Switches the target (the D-Bus method, the handover). Returns the actions
 * (INPUT_ACTION_TOGGLED, INPUT_ACTION_LEDS), 0 when it was already side. */
unsigned input_core_set_target(InputCore *c, InputSide side);
InputSide input_core_get_target(const InputCore *c);

/* An LED event (EV_LED code value) that side set on its keyboard output.
 * Returns INPUT_ACTION_LEDS when the physical keyboards must follow. */
unsigned input_core_led(InputCore *c, InputSide side, unsigned code, int value);
/* The LEDs the physical keyboards should show: bit n is LED code n. */
unsigned input_core_leds(const InputCore *c);

/* Which output kind an EV_KEY code belongs to (buttons go to the mouse). */
InputKind input_key_kind(unsigned code);

const char *input_side_to_string(InputSide s);
