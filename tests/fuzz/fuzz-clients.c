/* SPDX-License-Identifier: GPL-2.0-or-later */
/* drm_clients_parse() on the text of debugfs' dri/N/clients. */
#include "drm-clients.h"
#include "escape.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        const DrmClient *master;
        DrmClient *c = NULL;
        size_t n = 0;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        fuzz_setup_log();
        text = fuzz_string(data, size);
        if (!text)
                return 0;

        if (drm_clients_parse(text, &c, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                /* The command is escaped (common/escape.h): each input byte is at most
                 * the four of \xNN, and no control byte is left. */
                if (!c[i].command || strlen(c[i].command) > 4 * size || text_has_control(c[i].command))
                        abort();
        master = drm_clients_find_master(c, n);
        if (master && !master->master)
                abort();
        drm_clients_free(c, n);
        return 0;
}
