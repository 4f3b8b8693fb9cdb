/* SPDX-License-Identifier: GPL-2.0-or-later */
/* config_load_string() on one baton.conf text. Beyond "no crash", the property
 * config_dump() promises: a configuration that loaded dumps to a text that loads
 * again, to the same configuration (compared through a second dump). */
#include <stdio.h>

#include "config-file.h"
#include "fuzz.h"
#include "macro.h"

/* c as baton.conf text; NULL on -ENOMEM. */
static char *dump(const Config *c) {
        char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        r = config_dump(c, f);
        if (fclose(f) != 0 || r < 0)
                return mfree(text);
        return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL, *first = NULL, *second = NULL;
        Config c, again;
        int r;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        fuzz_setup_log();
        text = fuzz_string(data, size);
        if (!text)
                return 0;

        if (config_load_string(text, "fuzz.conf", &c) < 0)
                return 0;
        (void) audio_release_to_string(c.audio_release);
        first = dump(&c);
        config_done(&c);
        if (!first)
                return 0;

        r = config_load_string(first, "dump.conf", &again);
        if (r < 0) {
                fprintf(stderr, "config_dump() wrote a text that does not load (%s):\n%s", strerror(-r), first);
                abort();
        }
        second = dump(&again);
        config_done(&again);
        if (second && !streq(first, second)) {
                fprintf(stderr, "dump, load, dump differs:\n%s---\n%s", first, second);
                abort();
        }
        return 0;
}
