/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drm-fdinfo.h"
#include "macro.h"
#include "parse-util.h"

void drm_fdinfo_done(DrmFdinfo *f) {
        free(f->driver);
        free(f->pdev);
        for (size_t i = 0; i < f->n_engines; i++)
                free(f->engines[i].name);
        free(f->engines);
        *f = (DrmFdinfo) {};
}

/* "1234 ns" -> 1234. The unit is fixed by the spec; anything else is malformed. */
static int parse_engine_ns(const char *value, uint64_t *ret) {
        _cleanup_free_ char *copy = strdup(value);
        char *unit;

        if (!copy)
                return -ENOMEM;
        unit = strstr(copy, " ns");
        if (!unit || !streq(unit, " ns"))
                return -EINVAL;
        *unit = '\0';
        return safe_atou64(copy, 10, ret);
}

static int add_engine(DrmFdinfo *f, const char *name, const char *value) {
        DrmEngine *e;
        uint64_t ns;
        int r;

        /* drm-engine-capacity-<name> is a count of engines, not a time. */
        if (startswith(name, "capacity-"))
                return 0;
        r = parse_engine_ns(value, &ns);
        if (r < 0)
                return r;
        e = array_append(&f->engines, &f->n_engines, sizeof(*f->engines));
        if (!e)
                return -ENOMEM;
        e->busy_ns = ns;
        e->name = strdup(name);
        return e->name ? 0 : -ENOMEM;
}

/* Applies one "key: value" line; returns 1 when it was a drm-* key we keep. */
static int apply_line(DrmFdinfo *f, const char *key, const char *value) {
        const char *engine;
        int r;

        if (streq(key, "drm-driver"))
                r = free_and_strdup(&f->driver, value);
        else if (streq(key, "drm-pdev"))
                r = free_and_strdup(&f->pdev, value);
        else if (streq(key, "drm-client-id")) {
                r = safe_atou64(value, 10, &f->client_id);
                f->has_client_id = r >= 0;
        } else if ((engine = startswith(key, "drm-engine-")))
                r = add_engine(f, engine, value);
        else
                return 0;

        return r < 0 ? r : 1;
}

int drm_fdinfo_parse(const char *text, DrmFdinfo *ret) {
        _cleanup_(drm_fdinfo_done) DrmFdinfo f = {};
        _cleanup_free_ char *copy = strdup(text);
        bool found = false;
        char *line, *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;

        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(line, ':'), *value;

                if (!colon)
                        continue;
                *colon = '\0';
                value = colon + 1;
                value += strspn(value, " \t");
                r = apply_line(&f, line, strstrip_end(value));
                if (r < 0)
                        return r;
                if (r > 0)
                        found = true;
        }

        *ret = TAKE_STRUCT(f);
        return found;
}
