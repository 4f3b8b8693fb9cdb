/* SPDX-License-Identifier: GPL-2.0-or-later */

/* `baton history`'s rendering of journal entries (frontend/history.c); the entries
 * themselves come from the real journal in the lab (tests/lab/scenarios/history). */

#include <stdlib.h>
#include <time.h>

#include "history.h"
#include "tests.h"

static char *format(const HistoryEntry *h) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT_TRUE(f);
        ASSERT_OK(history_format(f, h));
        ASSERT_EQ(fclose(f), 0);
        return text;
}

static void test_handover(void) {
        HistoryEntry h = {
                .realtime_usec = 0, .op = (char *) "handover", .vm = (char *) "win11",
                .result = (char *) "ok", .reason = (char *) "", .total_usec = 911300,
                .stages = (char *) "session:guest:skip:12 display-manager:guest:ok:397900 vfio:guest:ok:226100",
        };
        _cleanup_free_ char *text = format(&h);

        /* The time is local; everything after it is fixed. */
        ASSERT_TRUE(strstr(text, "  handover win11  ok in 911.3 ms\n"
                                 "    display-manager 397.9 ms, vfio 226.1 ms\n"));
        ASSERT_NULL(strstr(text, "session"));
}

static void test_return_with_guest_time(void) {
        HistoryEntry h = {
                .op = (char *) "return", .vm = (char *) "win11", .result = (char *) "ok",
                .total_usec = 735800, .guest_usec = (uint64_t) 3725 * 1000000,
                .stages = (char *) "vfio:host:ok:286200",
        };
        _cleanup_free_ char *text = format(&h);

        ASSERT_TRUE(strstr(text, "  return   win11  ok in 735.8 ms (the guest had the GPU for 1 h 2 min)\n"
                                 "    vfio 286.2 ms\n"));
}

static void test_failed_and_hostile_text(void) {
        HistoryEntry h = {
                .op = (char *) "handover", .vm = (char *) "evil\n2026-01-01 fake\x1b[2J",
                .result = (char *) "failed", .reason = (char *) "pid 7 (hog\r) holds /dev/dri/card0",
                .total_usec = 2000000, .stages = (char *) "drm-idle:guest:failed:2000000 broken-word",
        };
        _cleanup_free_ char *text = format(&h);

        ASSERT_TRUE(strstr(text, "  handover evil?2026-01-01 fake?[2J  failed in 2000.0 ms: "
                                 "pid 7 (hog?) holds /dev/dri/card0\n"
                                 "    drm-idle 2000.0 ms FAILED\n"));
        /* Exactly two lines: nothing in the entry starts a line of its own. */
        ASSERT_EQ(strchr(strchr(text, '\n') + 1, '\n')[1], '\0');
}

static void test_nothing_to_do(void) {
        HistoryEntry h = { .op = (char *) "recover", .result = (char *) "ok", .stages = (char *) "" };
        _cleanup_free_ char *text = format(&h);

        ASSERT_TRUE(strstr(text, "  recover  (no VM named)  ok in 0.0 ms\n    no stage had anything to do\n"));
}

int main(void) {
        RUN(test_handover);
        RUN(test_return_with_guest_time);
        RUN(test_failed_and_hostile_text);
        RUN(test_nothing_to_do);
        return 0;
}
