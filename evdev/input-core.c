/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The router's state machine; the rules are in input-core.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "input-core.h"

typedef enum Owner {
        OWNER_NONE,
        OWNER_HOST,             /* = INPUT_HOST + 1 */
        OWNER_GUEST,            /* = INPUT_GUEST + 1 */
        OWNER_HELD,             /* a chord key's press, held back */
        OWNER_SWALLOWED,        /* part of a chord that acted: its release is dropped */
} Owner;

/* A frame of a keyboard that changed every key at once (a resync) is split
 * in several; everything else fits. */
#define FRAME_MAX 128
#define HELD_MAX (2 * INPUT_CHORD_KEYS_MAX)

typedef struct Frame {
        struct input_event events[FRAME_MAX];
        size_t n;
} Frame;

struct InputCore {
        InputSide target;
        InputChord chords[2];           /* [0] recover (checked first), [1] hotkey */
        InputEmit emit;
        void *userdata;
        unsigned actions;               /* collected during one call */

        uint8_t owner[KEY_CNT];         /* Owner */
        uint8_t n_down[KEY_CNT];        /* how many sources hold the key */
        unsigned held[HELD_MAX];        /* held-back chord key presses, in order */
        size_t n_held;
        unsigned leds[_INPUT_SIDE_MAX];

        Frame frames[_INPUT_OUTPUT_MAX];
};

static const InputAction chord_action[2] = { INPUT_ACTION_RECOVER, INPUT_ACTION_TOGGLED };

static bool bit_test(const uint8_t *bits, unsigned n) {
        return bits[n / 8] & (1u << (n % 8));
}

static void bit_set(uint8_t *bits, unsigned n, bool on) {
        if (on)
                bits[n / 8] |= (uint8_t) (1u << (n % 8));
        else
                bits[n / 8] &= (uint8_t) ~(1u << (n % 8));
}

InputKind input_key_kind(unsigned code) {
        /* BTN_MISC up to KEY_OK are buttons: mouse, joystick, gamepad, digitizer. */
        return code >= BTN_MISC && code < KEY_OK ? INPUT_MOUSE : INPUT_KEYBOARD;
}

const char *input_side_to_string(InputSide s) {
        return s == INPUT_GUEST ? "guest" : "host";
}

int input_core_new(const InputChord *hotkey, const InputChord *recover, InputEmit emit, void *userdata,
                   InputCore **ret) {
        InputCore *c;

        c = calloc(1, sizeof(InputCore));
        if (!c)
                return -ENOMEM;
        c->target = INPUT_HOST;
        if (recover)
                c->chords[0] = *recover;
        if (hotkey)
                c->chords[1] = *hotkey;
        c->emit = emit;
        c->userdata = userdata;
        *ret = c;
        return 0;
}

InputCore *input_core_free(InputCore *c) {
        return mfree(c);
}

static void frame_flush(InputCore *c, unsigned output) {
        Frame *f = &c->frames[output];

        if (f->n == 0)
                return;
        f->events[f->n++] = (struct input_event) { .type = EV_SYN, .code = SYN_REPORT };
        c->emit(output, f->events, f->n, c->userdata);
        f->n = 0;
}

static void frame_append(InputCore *c, unsigned output, unsigned type, unsigned code, int value) {
        Frame *f = &c->frames[output];

        if (f->n >= FRAME_MAX - 3)      /* room for the wheels' hi-res twins and SYN_REPORT */
                frame_flush(c, output);
        f->events[f->n++] = (struct input_event) { .type = type, .code = code, .value = value };
}

/* The outputs declare the high-resolution wheel: libinput then ignores the
 * plain one. A mouse without it sends only REL_WHEEL; a mouse with it sends
 * REL_WHEEL_HI_RES in every frame that has REL_WHEEL. So a frame with the
 * plain wheel alone gets its hi-res twin (120 units per detent). */
static void frame_add_hires(InputCore *c, unsigned output) {
        Frame *f = &c->frames[output];
        int wheel[2] = {}, hires[2] = {};

        for (size_t i = 0; i < f->n; i++) {
                const struct input_event *e = &f->events[i];

                if (e->type != EV_REL)
                        continue;
                if (e->code == REL_WHEEL || e->code == REL_HWHEEL)
                        wheel[e->code == REL_HWHEEL] += e->value;
                else if (e->code == REL_WHEEL_HI_RES || e->code == REL_HWHEEL_HI_RES)
                        hires[e->code == REL_HWHEEL_HI_RES] = 1;
        }
        if (wheel[0] != 0 && !hires[0])
                f->events[f->n++] = (struct input_event) { .type = EV_REL, .code = REL_WHEEL_HI_RES,
                                                           .value = wheel[0] * 120 };
        if (wheel[1] != 0 && !hires[1])
                f->events[f->n++] = (struct input_event) { .type = EV_REL, .code = REL_HWHEEL_HI_RES,
                                                           .value = wheel[1] * 120 };
}

static void end_frame(InputCore *c) {
        for (unsigned o = 0; o < _INPUT_OUTPUT_MAX; o++) {
                if (o % _INPUT_KIND_MAX == INPUT_MOUSE && c->frames[o].n > 0)
                        frame_add_hires(c, o);
                frame_flush(c, o);
        }
}

static void key_send(InputCore *c, InputSide side, unsigned code, int value) {
        frame_append(c, INPUT_OUTPUT(side, input_key_kind(code)), EV_KEY, code, value);
}

static bool chord_has(const InputChord *ch, unsigned code) {
        for (unsigned i = 0; i < ch->n_keys; i++)
                if (ch->keys[i] == code)
                        return true;
        return false;
}

static bool chord_key(const InputCore *c, unsigned code) {
        return chord_has(&c->chords[0], code) || chord_has(&c->chords[1], code);
}

/* The held-back presses go to the target, in the order they were pressed. */
static void flush_held(InputCore *c) {
        for (size_t i = 0; i < c->n_held; i++) {
                unsigned code = c->held[i];

                c->owner[code] = (uint8_t) (OWNER_HOST + c->target);
                key_send(c, c->target, code, 1);
        }
        c->n_held = 0;
}

static void held_remove(InputCore *c, unsigned code) {
        size_t j = 0;

        for (size_t i = 0; i < c->n_held; i++)
                if (c->held[i] != code)
                        c->held[j++] = c->held[i];
        c->n_held = j;
}

static void act(InputCore *c, InputAction a) {
        c->actions |= a;
        if (a == INPUT_ACTION_TOGGLED) {
                c->target = c->target == INPUT_HOST ? INPUT_GUEST : INPUT_HOST;
                if (c->leds[INPUT_HOST] != c->leds[INPUT_GUEST])
                        c->actions |= INPUT_ACTION_LEDS;
        }
}

/* After chord key code went down: the first chord of code with all its keys
 * down acts; its held-back keys are swallowed, those it already delivered
 * (pressed before another key) keep their owner and get their releases there.
 * Only chords of code: another chord still down from its last action must not
 * act again and leave code held back, to be delivered as the key completing
 * its own chord. */
static void check_chords(InputCore *c, unsigned code) {
        for (size_t k = 0; k < ELEMENTSOF(c->chords); k++) {
                const InputChord *ch = &c->chords[k];
                bool all = chord_has(ch, code);

                for (unsigned i = 0; all && i < ch->n_keys; i++)
                        all = c->n_down[ch->keys[i]] > 0;
                if (!all)
                        continue;
                for (unsigned i = 0; i < ch->n_keys; i++)
                        if (c->owner[ch->keys[i]] == OWNER_HELD) {
                                c->owner[ch->keys[i]] = OWNER_SWALLOWED;
                                held_remove(c, ch->keys[i]);
                        }
                act(c, chord_action[k]);
                return;
        }
}

static void key_press(InputCore *c, InputSource *s, unsigned code) {
        if (bit_test(s->down, code))
                return;
        bit_set(s->down, code, true);
        if (c->n_down[code]++ > 0)
                return;         /* another source holds it: pressed already */

        if (chord_key(c, code) && c->n_held < HELD_MAX) {
                c->owner[code] = OWNER_HELD;
                c->held[c->n_held++] = code;
                check_chords(c, code);
                return;
        }
        flush_held(c);
        c->owner[code] = (uint8_t) (OWNER_HOST + c->target);
        key_send(c, c->target, code, 1);
}

/* deliver_held: a held-back key released by the user was no chord: deliver
 * its press (and the others held before it) first. A source that went away
 * did not mean anything: its held-back keys are just forgotten. */
static void key_release(InputCore *c, InputSource *s, unsigned code, bool deliver_held) {
        if (!bit_test(s->down, code))
                return;
        bit_set(s->down, code, false);
        if (--c->n_down[code] > 0)
                return;         /* another source still holds it */

        switch (c->owner[code]) {
        case OWNER_HELD:
                if (!deliver_held) {
                        held_remove(c, code);
                        c->owner[code] = OWNER_NONE;
                        return;
                }
                flush_held(c);
                break;
        case OWNER_SWALLOWED:
        case OWNER_NONE:
                c->owner[code] = OWNER_NONE;
                return;
        default:
                break;
        }
        key_send(c, (InputSide) (c->owner[code] - OWNER_HOST), code, 0);
        c->owner[code] = OWNER_NONE;
}

static void key_repeat(InputCore *c, InputSource *s, unsigned code) {
        if (!bit_test(s->down, code))
                return;
        if (c->owner[code] == OWNER_HOST || c->owner[code] == OWNER_GUEST)
                key_send(c, (InputSide) (c->owner[code] - OWNER_HOST), code, 2);
}

static void rel(InputCore *c, unsigned code, int value) {
        /* A wheel turned with a held-back Ctrl is a zoom: Ctrl goes first. */
        if (code != REL_X && code != REL_Y)
                flush_held(c);
        frame_append(c, INPUT_OUTPUT(c->target, INPUT_MOUSE), EV_REL, code, value);
}

static unsigned take_actions(InputCore *c) {
        unsigned a = c->actions;

        c->actions = 0;
        return a;
}

unsigned input_core_feed(InputCore *c, InputSource *s, const struct input_event *ev) {
        switch (ev->type) {
        case EV_SYN:
                if (ev->code == SYN_REPORT)
                        end_frame(c);
                break;
        case EV_KEY:
                if (ev->code >= KEY_CNT)
                        break;
                if (ev->value == 1)
                        key_press(c, s, ev->code);
                else if (ev->value == 0)
                        key_release(c, s, ev->code, true);
                else if (ev->value == 2)
                        key_repeat(c, s, ev->code);
                break;
        case EV_REL:
                rel(c, ev->code, ev->value);
                break;
        default:
                break;
        }
        return take_actions(c);
}

void input_core_source_gone(InputCore *c, InputSource *s) {
        for (unsigned code = 0; code < KEY_CNT; code++)
                if (bit_test(s->down, code))
                        key_release(c, s, code, false);
        end_frame(c);
}

unsigned input_core_set_target(InputCore *c, InputSide side) {
        if (c->target == side)
                return 0;
        act(c, INPUT_ACTION_TOGGLED);
        return take_actions(c);
}

InputSide input_core_get_target(const InputCore *c) {
        return c->target;
}

unsigned input_core_led(InputCore *c, InputSide side, unsigned code, int value) {
        unsigned old;

        if (code >= 8 * sizeof(unsigned) || code > LED_MAX)
                return 0;
        old = c->leds[side];
        if (value)
                c->leds[side] |= 1u << code;
        else
                c->leds[side] &= ~(1u << code);
        return side == c->target && c->leds[side] != old ? INPUT_ACTION_LEDS : 0;
}

unsigned input_core_leds(const InputCore *c) {
        return c->leds[c->target];
}
