/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's error replies (row 19 of issue 19): the stage's reason first; its states' names. */
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

/* The State property's strings are API (bus-api.h): they stay exactly these. */
static void test_state_strings(void) {
        static const char *const api[_DAEMON_STATE_MAX] = {
                "host", "guest", "handing-over", "returning", "recovering", "interrupted",
        };

        for (DaemonState s = 0; s < _DAEMON_STATE_MAX; s++) {
                ASSERT_STREQ(daemon_state_to_string(s), api[s]);
                ASSERT_EQ(daemon_state_from_string(api[s]), s);
        }
        ASSERT_NULL(daemon_state_to_string(_DAEMON_STATE_MAX));
        ASSERT_NULL(daemon_state_to_string(_DAEMON_STATE_INVALID));
        ASSERT_EQ(daemon_state_from_string("handing_over"), -EINVAL);
        ASSERT_EQ(daemon_state_from_string(""), -EINVAL);

        /* The engine's operations, as the daemon's logs and replies name them. */
        ASSERT_STREQ(engine_op_to_string(ENGINE_HANDOVER), "handover");
        ASSERT_STREQ(engine_op_to_string(ENGINE_RETURN), "return");
        ASSERT_STREQ(engine_op_to_string(ENGINE_RECOVER), "recover");
        ASSERT_NULL(engine_op_to_string(_ENGINE_OP_MAX));
}

int main(void) {
        RUN(test_error_text);
        RUN(test_state_strings);
        return 0;
}
