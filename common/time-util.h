/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

/* The time now in µs: CLOCK_MONOTONIC for deadlines and durations, CLOCK_REALTIME for what
 * goes to the journal. */
static inline uint64_t clock_now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static inline uint64_t now_usec(void) {
        return clock_now_usec(CLOCK_MONOTONIC);
}

static inline uint64_t now_realtime_usec(void) {
        return clock_now_usec(CLOCK_REALTIME);
}
