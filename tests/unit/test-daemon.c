/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's error replies (row 19 of issue 19): the stage's reason first. */
#include <errno.h>
#include <stdlib.h>

#include "daemon.h"
#include "tests.h"

static void test_error_text(void) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        ASSERT_OK(daemon_error_text(-ENXIO, "audio: Failed to find whose PipeWire holds the GPU's sound card",
                                    "timeline\n", "handover", &a));
        ASSERT_STREQ(a, "handover failed: audio: Failed to find whose PipeWire holds the GPU's sound card\ntimeline\n");
        ASSERT_OK(daemon_error_text(-ETIMEDOUT, NULL, NULL, "return", &b));
        ASSERT_STREQ(b, "return failed: Connection timed out\n");
}

int main(void) {
        RUN(test_error_text);
        return 0;
}
