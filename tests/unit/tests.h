/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A small assert helper: a failed check prints where and what, then aborts, so meson
 * reports the test as failed with the message in its log. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

#define TEST_FAIL(...)                                                          \
        do {                                                                    \
                fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, __func__);   \
                fprintf(stderr, __VA_ARGS__);                                   \
                fputc('\n', stderr);                                            \
                abort();                                                        \
        } while (0)

#define ASSERT_TRUE(expr)                                                       \
        do {                                                                    \
                if (!(expr))                                                    \
                        TEST_FAIL("expected true: %s", #expr);                  \
        } while (0)

#define ASSERT_FALSE(expr) ASSERT_TRUE(!(expr))

#define ASSERT_EQ(a, b)                                                         \
        do {                                                                    \
                long long _a_ = (long long) (a), _b_ = (long long) (b);         \
                if (_a_ != _b_)                                                 \
                        TEST_FAIL("%s == %s: %lld != %lld", #a, #b, _a_, _b_);  \
        } while (0)

/* r is a return value: 0 or positive is success, negative an errno. */
#define ASSERT_OK(r)                                                            \
        do {                                                                    \
                int _r_ = (r);                                                  \
                if (_r_ < 0)                                                    \
                        TEST_FAIL("%s failed: %s", #r, strerror(-_r_));         \
        } while (0)

#define ASSERT_STREQ(a, b)                                                      \
        do {                                                                    \
                const char *_a_ = (a), *_b_ = (b);                              \
                if (!_a_ || !_b_ || strcmp(_a_, _b_) != 0)                      \
                        TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,         \
                                  _a_ ? _a_ : "(null)", _b_ ? _b_ : "(null)");  \
        } while (0)

#define ASSERT_NULL(p) ASSERT_TRUE((p) == NULL)

#define RUN(test)                                                               \
        do {                                                                    \
                test();                                                         \
                printf("ok %s\n", #test);                                       \
        } while (0)

/* A log error sink (log.h) that keeps the first message in *(char **) userdata. */
static inline void keep_first(const char *message, void *userdata) {
        char **kept = userdata;

        if (!*kept)
                *kept = strdup(message);
}

/* FIXTURES is set by meson to tests/unit/fixtures in the source tree. */
#define FIXTURE(name) FIXTURES "/" name
