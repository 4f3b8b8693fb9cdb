/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The input router's state machine on synthetic event streams. A recorder
 * stands for the four uinput outputs: it keeps each output's key state and
 * fails on any press of a key already down, any release or repeat of a key
 * that is up, a frame not ended by exactly one SYN_REPORT, and an output
 * that ever has all keys of a chord down. */

#include <stdint.h>

#include "input-core.h"
#include "tests.h"

static const InputChord hotkey = { 2, { KEY_LEFTCTRL, KEY_RIGHTCTRL } };
static const InputChord recover = { 3, { KEY_LEFTALT, KEY_RIGHTALT, KEY_BACKSPACE } };

typedef struct Recorder {
        bool down[_INPUT_OUTPUT_MAX][KEY_CNT];
        unsigned n_frames[_INPUT_OUTPUT_MAX];
        unsigned n_events;              /* events but SYN_REPORT, on all outputs */
        struct input_event last[_INPUT_OUTPUT_MAX][16];
        size_t n_last[_INPUT_OUTPUT_MAX];
        long rel_x[_INPUT_SIDE_MAX];
} Recorder;

static bool chord_down(const Recorder *r, unsigned o, const InputChord *ch) {
        for (unsigned i = 0; i < ch->n_keys; i++)
                if (!r->down[o][ch->keys[i]])
                        return false;
        return true;
}

static void record(unsigned o, const struct input_event *ev, size_t n, void *userdata) {
        Recorder *r = userdata;

        ASSERT_TRUE(o < _INPUT_OUTPUT_MAX);
        ASSERT_TRUE(n >= 2);
        ASSERT_TRUE(ev[n - 1].type == EV_SYN && ev[n - 1].code == SYN_REPORT);
        r->n_frames[o]++;
        r->n_last[o] = n < 16 ? n : 16;
        memcpy(r->last[o], ev, r->n_last[o] * sizeof(*ev));
        for (size_t i = 0; i + 1 < n; i++) {
                ASSERT_TRUE(ev[i].type != EV_SYN);
                r->n_events++;
                if (ev[i].type == EV_REL && ev[i].code == REL_X)
                        r->rel_x[o / _INPUT_KIND_MAX] += ev[i].value;
                if (ev[i].type != EV_KEY)
                        continue;
                ASSERT_EQ(o % _INPUT_KIND_MAX, input_key_kind(ev[i].code));
                if (ev[i].value == 1)
                        ASSERT_FALSE(r->down[o][ev[i].code]);
                else
                        ASSERT_TRUE(r->down[o][ev[i].code]);
                r->down[o][ev[i].code] = ev[i].value != 0;
                ASSERT_FALSE(chord_down(r, o, &hotkey));
                ASSERT_FALSE(chord_down(r, o, &recover));
        }
}

static unsigned send(InputCore *c, InputSource *s, unsigned type, unsigned code, int value) {
        struct input_event ev = { .type = type, .code = code, .value = value };

        return input_core_feed(c, s, &ev);
}

/* One event and its SYN_REPORT; returns the actions of both. */
static unsigned frame(InputCore *c, InputSource *s, unsigned type, unsigned code, int value) {
        unsigned a = send(c, s, type, code, value);

        return a | send(c, s, EV_SYN, SYN_REPORT, 0);
}

static unsigned key(InputCore *c, InputSource *s, unsigned code, int value) {
        return frame(c, s, EV_KEY, code, value);
}

#define HOST_KBD INPUT_OUTPUT(INPUT_HOST, INPUT_KEYBOARD)
#define HOST_MOUSE INPUT_OUTPUT(INPUT_HOST, INPUT_MOUSE)
#define GUEST_KBD INPUT_OUTPUT(INPUT_GUEST, INPUT_KEYBOARD)
#define GUEST_MOUSE INPUT_OUTPUT(INPUT_GUEST, INPUT_MOUSE)

static InputCore *core_new(Recorder *r) {
        InputCore *c;

        memset(r, 0, sizeof(*r));
        ASSERT_OK(input_core_new(&hotkey, &recover, record, r, &c));
        return c;
}

static void test_routing(void) {
        _cleanup_(input_core_freep) InputCore *c = NULL;
        InputSource s = {};
        Recorder r;

        c = core_new(&r);
        ASSERT_EQ(input_core_get_target(c), INPUT_HOST);
        key(c, &s, KEY_A, 1);
        ASSERT_TRUE(r.down[HOST_KBD][KEY_A]);
        key(c, &s, KEY_A, 2);
        key(c, &s, KEY_A, 0);
        ASSERT_FALSE(r.down[HOST_KBD][KEY_A]);
        ASSERT_EQ(r.n_frames[HOST_KBD], 3);

        frame(c, &s, EV_KEY, BTN_LEFT, 1);
        ASSERT_TRUE(r.down[HOST_MOUSE][BTN_LEFT]);
        ASSERT_EQ(input_core_set_target(c, INPUT_GUEST), INPUT_ACTION_TOGGLED);
        ASSERT_EQ(input_core_set_target(c, INPUT_GUEST), 0);
        frame(c, &s, EV_REL, REL_X, 5);
        ASSERT_EQ(r.rel_x[INPUT_GUEST], 5);
        key(c, &s, KEY_B, 1);
        ASSERT_TRUE(r.down[GUEST_KBD][KEY_B]);
        /* The button pressed on the host is released there. */
        frame(c, &s, EV_KEY, BTN_LEFT, 0);
        ASSERT_FALSE(r.down[HOST_MOUSE][BTN_LEFT]);
        ASSERT_EQ(r.n_frames[GUEST_MOUSE], 1);
        key(c, &s, KEY_B, 0);
        ASSERT_FALSE(r.down[GUEST_KBD][KEY_B]);

        /* MSC_SCAN and stray values are dropped; a release of a key that is not down too. */
        frame(c, &s, EV_MSC, MSC_SCAN, 30);
        key(c, &s, KEY_C, 0);
        key(c, &s, KEY_C, 7);
        ASSERT_EQ(r.n_frames[GUEST_KBD], 2);
}

static void test_one_frame_per_output(void) {
        _cleanup_(input_core_freep) InputCore *c = NULL;
        InputSource s = {};
        Recorder r;

        c = core_new(&r);
        send(c, &s, EV_KEY, KEY_A, 1);
        send(c, &s, EV_KEY, KEY_B, 1);
        send(c, &s, EV_KEY, BTN_RIGHT, 1);
        send(c, &s, EV_REL, REL_X, 1);
        send(c, &s, EV_REL, REL_Y, -1);
        ASSERT_EQ(r.n_frames[HOST_KBD] + r.n_frames[HOST_MOUSE], 0);
        send(c, &s, EV_SYN, SYN_REPORT, 0);
        ASSERT_EQ(r.n_frames[HOST_KBD], 1);
        ASSERT_EQ(r.n_frames[HOST_MOUSE], 1);
        ASSERT_EQ(r.n_last[HOST_KBD], 3);
        ASSERT_EQ(r.n_last[HOST_MOUSE], 4);
}

static void test_chord(void) {
        _cleanup_(input_core_freep) InputCore *c = NULL;
        InputSource s = {};
        Recorder r;

        c = core_new(&r);
        ASSERT_EQ(key(c, &s, KEY_LEFTCTRL, 1), 0);
        frame(c, &s, EV_REL, REL_X, 3);         /* motion keeps Ctrl held back */
        ASSERT_EQ(key(c, &s, KEY_RIGHTCTRL, 1), INPUT_ACTION_TOGGLED);
        key(c, &s, KEY_RIGHTCTRL, 0);
        key(c, &s, KEY_LEFTCTRL, 0);
        ASSERT_EQ(input_core_get_target(c), INPUT_GUEST);
        /* Nothing of the chord reached an output: only the motion did. */
        ASSERT_EQ(r.n_events, 1);
        ASSERT_EQ(r.n_frames[HOST_KBD] + r.n_frames[GUEST_KBD], 0);

        /* And back, pressed in the other order, both in one frame. */
        send(c, &s, EV_KEY, KEY_RIGHTCTRL, 1);
        ASSERT_EQ(send(c, &s, EV_KEY, KEY_LEFTCTRL, 1), INPUT_ACTION_TOGGLED);
        send(c, &s, EV_SYN, SYN_REPORT, 0);
        key(c, &s, KEY_LEFTCTRL, 0);
        key(c, &s, KEY_RIGHTCTRL, 0);
        ASSERT_EQ(input_core_get_target(c), INPUT_HOST);
        ASSERT_EQ(r.n_events, 1);
}

static void test_held_back_ctrl(void) {
        _cleanup_(input_core_freep) InputCore *c = NULL;
        InputSource s = {};
        Recorder r;

        c = core_new(&r);
        /* Ctrl+C: Ctrl arrives with C, before it, in one frame. */
        key(c, &s, KEY_LEFTCTRL, 1);
        ASSERT_EQ(r.n_events, 0);
        key(c, &s, KEY_C, 1);
        ASSERT_EQ(r.n_frames[HOST_KBD], 1);
        ASSERT_EQ(r.n_last[HOST_KBD], 3);
        ASSERT_EQ(r.last[HOST_KBD][0].code, KEY_LEFTCTRL);
        ASSERT_EQ(r.last[HOST_KBD][1].code, KEY_C);
        key(c, &s, KEY_C, 0);
        /* The other Ctrl now completes the chord: swallowed, the first one's
         * release still goes to the host. */
        ASSERT_EQ(key(c, &s, KEY_RIGHTCTRL, 1), INPUT_ACTION_TOGGLED);
        key(c, &s, KEY_LEFTCTRL, 0);
        key(c, &s, KEY_RIGHTCTRL, 0);
        ASSERT_FALSE(r.down[HOST_KBD][KEY_LEFTCTRL]);
        ASSERT_FALSE(r.down[HOST_KBD][KEY_RIGHTCTRL]);
        ASSERT_EQ(r.n_frames[GUEST_KBD], 0);

        /* Ctrl alone: press and release arrive at the release. */
        key(c, &s, KEY_RIGHTCTRL, 1);
        key(c, &s, KEY_RIGHTCTRL, 2);           /* its repeats are dropped while held back */
        ASSERT_EQ(r.n_frames[GUEST_KBD], 0);
        key(c, &s, KEY_RIGHTCTRL, 0);
        ASSERT_EQ(r.n_frames[GUEST_KBD], 1);
        ASSERT_EQ(r.n_last[GUEST_KBD], 3);

        /* Ctrl+wheel: Ctrl goes first, the wheel gets its hi-res twin. */
        key(c, &s, KEY_LEFTCTRL, 1);
        frame(c, &s, EV_REL, REL_WHEEL, -1);
        ASSERT_TRUE(r.down[GUEST_KBD][KEY_LEFTCTRL]);
        ASSERT_EQ(r.n_last[GUEST_MOUSE], 3);
        ASSERT_EQ(r.last[GUEST_MOUSE][1].code, REL_WHEEL_HI_RES);
        ASSERT_EQ(r.last[GUEST_MOUSE][1].value, -120);
        key(c, &s, KEY_LEFTCTRL, 0);
        ASSERT_FALSE(r.down[GUEST_KBD][KEY_LEFTCTRL]);
}

static void test_recover_chord(void) {
        _cleanup_(input_core_freep) InputCore *c = NULL;
        InputSource s = {};
        Recorder r;

        c = core_new(&r);
        ASSERT_OK(input_core_set_target(c, INPUT_GUEST));
        key(c, &s, KEY_LEFTALT, 1);
        key(c, &s, KEY_RIGHTALT, 1);
        ASSERT_EQ(key(c, &s, KEY_BACKSPACE, 1), INPUT_ACTION_RECOVER);
        ASSERT_EQ(input_core_get_target(c), INPUT_GUEST);
        key(c, &s, KEY_BACKSPACE, 0);
        key(c, &s, KEY_RIGHTALT, 0);
        key(c, &s, KEY_LEFTALT, 0);
        ASSERT_EQ(r.n_events, 0);
}

static void test_sources(void) {
        _cleanup_(input_core_freep) InputCore *c = NULL;
        InputSource a = {}, b = {};
        Recorder r;

        c = core_new(&r);
        /* Two keyboards hold the same key: one press, one release at the end. */
        key(c, &a, KEY_LEFTSHIFT, 1);
        key(c, &b, KEY_LEFTSHIFT, 1);
        key(c, &a, KEY_LEFTSHIFT, 0);
        ASSERT_TRUE(r.down[HOST_KBD][KEY_LEFTSHIFT]);
        key(c, &b, KEY_LEFTSHIFT, 0);
        ASSERT_FALSE(r.down[HOST_KBD][KEY_LEFTSHIFT]);

        /* A keyboard unplugged with keys down: they are released where they went;
         * its held-back Ctrl is forgotten. */
        key(c, &a, KEY_Q, 1);
        input_core_set_target(c, INPUT_GUEST);
        key(c, &a, KEY_W, 1);
        key(c, &a, KEY_LEFTCTRL, 1);
        key(c, &b, KEY_RIGHTCTRL, 1);   /* the chord across two keyboards */
        ASSERT_EQ(input_core_get_target(c), INPUT_HOST);
        input_core_source_gone(c, &a);
        ASSERT_FALSE(r.down[HOST_KBD][KEY_Q]);
        ASSERT_FALSE(r.down[GUEST_KBD][KEY_W]);
        key(c, &b, KEY_RIGHTCTRL, 0);
        for (unsigned o = 0; o < _INPUT_OUTPUT_MAX; o++)
                for (unsigned k = 0; k < KEY_CNT; k++)
                        ASSERT_FALSE(r.down[o][k]);
}

static void test_leds(void) {
        _cleanup_(input_core_freep) InputCore *c = NULL;
        Recorder r;

        c = core_new(&r);
        ASSERT_EQ(input_core_led(c, INPUT_GUEST, LED_CAPSL, 1), 0);
        ASSERT_EQ(input_core_leds(c), 0);
        ASSERT_EQ(input_core_led(c, INPUT_HOST, LED_NUML, 1), INPUT_ACTION_LEDS);
        ASSERT_EQ(input_core_led(c, INPUT_HOST, LED_NUML, 1), 0);
        ASSERT_EQ(input_core_leds(c), 1u << LED_NUML);
        ASSERT_EQ(input_core_set_target(c, INPUT_GUEST), INPUT_ACTION_TOGGLED | INPUT_ACTION_LEDS);
        ASSERT_EQ(input_core_leds(c), 1u << LED_CAPSL);
        ASSERT_EQ(input_core_led(c, INPUT_GUEST, LED_CAPSL, 0), INPUT_ACTION_LEDS);
        ASSERT_EQ(input_core_leds(c), 0);
}

/* xorshift64: the same sequence on every run, so a failure reproduces. */
static uint64_t rnd(uint64_t *state) {
        uint64_t x = *state;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *state = x;
}

#define N_SOURCES 3
#define N_STEPS 100000

static void test_random(void) {
        static const unsigned keys[] = {
                KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT, KEY_BACKSPACE,
                KEY_A, KEY_B, KEY_LEFTSHIFT, KEY_ENTER, BTN_LEFT, BTN_RIGHT,
        };
        _cleanup_(input_core_freep) InputCore *c = NULL;
        InputSource src[N_SOURCES] = {};
        bool held[N_SOURCES][ELEMENTSOF(keys)] = {};
        unsigned toggles = 0, recovers = 0, actions = 0;
        uint64_t seed = 0x5eed0ba70bULL;
        Recorder r;

        c = core_new(&r);
        for (unsigned step = 0; step < N_STEPS; step++) {
                unsigned s = rnd(&seed) % N_SOURCES, k = rnd(&seed) % ELEMENTSOF(keys), op = rnd(&seed) % 100;

                if (op < 40) {
                        actions |= send(c, &src[s], EV_KEY, keys[k], 1);
                        held[s][k] = true;
                } else if (op < 80) {
                        actions |= send(c, &src[s], EV_KEY, keys[k], 0);
                        held[s][k] = false;
                } else if (op < 85)
                        actions |= send(c, &src[s], EV_KEY, keys[k], 2);
                else if (op < 90)
                        actions |= send(c, &src[s], EV_REL, op % 2 ? REL_X : REL_WHEEL, 1);
                else if (op < 93)
                        actions |= input_core_set_target(c, op % 2 ? INPUT_HOST : INPUT_GUEST);
                else if (op < 94) {
                        input_core_source_gone(c, &src[s]);
                        memset(&src[s], 0, sizeof(src[s]));
                        memset(held[s], 0, sizeof(held[s]));
                }
                /* Frames of one to a few events. */
                if (rnd(&seed) % 3 == 0)
                        for (unsigned i = 0; i < N_SOURCES; i++)
                                actions |= send(c, &src[i], EV_SYN, SYN_REPORT, 0);
                toggles += !!(actions & INPUT_ACTION_TOGGLED);
                recovers += !!(actions & INPUT_ACTION_RECOVER);
                actions = 0;
        }

        /* The user lets go of everything. */
        for (unsigned s = 0; s < N_SOURCES; s++) {
                for (unsigned k = 0; k < ELEMENTSOF(keys); k++)
                        if (held[s][k])
                                send(c, &src[s], EV_KEY, keys[k], 0);
                send(c, &src[s], EV_SYN, SYN_REPORT, 0);
        }
        for (unsigned o = 0; o < _INPUT_OUTPUT_MAX; o++)
                for (unsigned k = 0; k < KEY_CNT; k++)
                        if (r.down[o][k])
                                TEST_FAIL("key %u stuck on output %u", k, o);
        printf("# %u steps: %u frames, %u toggles, %u recover chords\n", N_STEPS,
               r.n_frames[0] + r.n_frames[1] + r.n_frames[2] + r.n_frames[3], toggles, recovers);
        /* The walk did exercise the chords and both sides. */
        ASSERT_TRUE(toggles > 100);
        ASSERT_TRUE(recovers > 10);
        ASSERT_TRUE(r.n_frames[GUEST_KBD] > 1000 && r.n_frames[HOST_KBD] > 1000);
}

int main(void) {
        RUN(test_routing);
        RUN(test_one_frame_per_output);
        RUN(test_chord);
        RUN(test_held_back_ctrl);
        RUN(test_recover_chord);
        RUN(test_sources);
        RUN(test_leds);
        RUN(test_random);
        return 0;
}
