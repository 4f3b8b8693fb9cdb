/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every stage shares (stage.h): instances, contexts, and finding stages in the table,
 * which stages/stages.c defines. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"

const Stage *stage_find(const char *name) {
        for (const Stage *const *st = stage_table; *st; st++)
                if (streq((*st)->name, name))
                        return *st;
        return NULL;
}

int stage_order(const char *after, const Stage *ret[STAGE_TABLE_MAX]) {
        size_t n = 0, to;
        bool known = true;

        /* Every stage but the user's own, then those put back after their anchor ("begin":
         * before every stage, ""/unknown: last). */
        for (const Stage *const *st = stage_table; *st; st++)
                if (!streq((*st)->name, "user-stages"))
                        ret[n++] = *st;
        if (isempty(after))
                to = n;
        else if (streq(after, "begin"))
                to = 0;
        else {
                for (to = 0; to < n && !streq(ret[to]->name, after); to++)
                        ;
                known = to < n;
                if (known)
                        to++;
        }
        memmove(&ret[to + 1], &ret[to], (n - to) * sizeof(ret[0]));
        ret[to] = stage_find("user-stages");
        ret[n + 1] = NULL;
        return known ? 0 : -EINVAL;
}

void stage_context_init(StageContext *ctx, const Config *c, const char *root) {
        *ctx = (StageContext) { .config = c, .root = root };
        for (DeadlineKind k = 0; k < _DEADLINE_MAX; k++)
                ctx->deadline_usec[k] = c->deadline_usec[k] ?: deadline_default_usec(k);
}

StageInstance *stage_instance_new(const Stage *st) {
        StageInstance *i = calloc(1, st->instance_size ?: sizeof(StageInstance));

        if (i)
                i->stage = st;
        return i;
}

StageInstance *stage_instance_free(StageInstance *i) {
        if (!i)
                return NULL;
        if (i->stage->done)
                i->stage->done(i);
        return mfree(i);
}

int stage_observe_once(const Stage *st, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                       char ***ret_plan) {
        _cleanup_(stage_instance_freep) StageInstance *self = stage_instance_new(st);

        if (!self)
                return -ENOMEM;
        return st->observe(self, ctx, m, ret_pos, ret_plan);
}
