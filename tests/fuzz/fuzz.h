/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared by the libFuzzer targets: each defines LLVMFuzzerTestOneInput() and calls the
 * parser it covers on the input. A crash, a sanitizer report or an abort() of a checked
 * property is a finding; returning is not. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Inputs larger than any file baton reads in practice only slow the fuzzer down. */
#define FUZZ_INPUT_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string: the parsers take NUL-terminated text, so an embedded NUL ends it
 * early, just as it would for a file read with read_full_file(). NULL on -ENOMEM. */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                return NULL;
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

/* Errors about the input are expected by the thousand: keep them quiet unless
 * $BATON_FUZZ_LOG is set (to replay a single input). */
static inline void fuzz_setup_log(void) {
        log_set_target(LOG_TARGET_STDERR);
        if (!getenv("BATON_FUZZ_LOG"))
                log_set_max_level(LOG_CRIT);
}
