/* SPDX-License-Identifier: GPL-2.0-or-later */
/* drm_fdinfo_parse() on /proc/PID/fdinfo/FD text as any DRM driver may print it. */
#include "drm-fdinfo.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(drm_fdinfo_done) DrmFdinfo f = {};
        _cleanup_free_ char *text = NULL;
        int r;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        fuzz_setup_log();
        text = fuzz_string(data, size);
        if (!text)
                return 0;

        r = drm_fdinfo_parse(text, &f);
        if (r < 0)
                return 0;
        /* Touch everything the parser handed out, so that ASan sees a bad pointer. */
        if (r == 0 && (f.driver || f.pdev || f.n_engines > 0))
                abort();        /* "no drm-* keys" must come back zeroed */
        for (size_t i = 0; i < f.n_engines; i++)
                if (!f.engines[i].name || strlen(f.engines[i].name) > size)
                        abort();
        if ((f.driver && strlen(f.driver) > size) || (f.pdev && strlen(f.pdev) > size))
                abort();
        return 0;
}
