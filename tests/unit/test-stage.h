/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Calling a stage's methods from a test, with a context of the test's own (core/stage.h). */

#include "stage.h"

/* c, or the built-in configuration when c is NULL. */
static inline const Config *stage_test_config(const Config *c) {
        static Config defaults;

        if (c)
                return c;
        config_init(&defaults);
        return &defaults;
}

/* observe() of st on m in a context made of c (NULL: the defaults) and m's root. */
static inline int stage_test_observe(const Stage *st, const Config *c, const Machine *m, StagePosition *ret_pos,
                                     char ***ret_plan) {
        StageContext ctx;

        stage_context_init(&ctx, stage_test_config(c), m->root);
        return stage_observe_once(st, &ctx, m, ret_pos, ret_plan);
}

/* preflight() of st on m, the same way. */
static inline int stage_test_preflight(const Stage *st, const Config *c, const Machine *m) {
        _cleanup_(stage_instance_freep) StageInstance *self = stage_instance_new(st);
        StageContext ctx;

        if (!self)
                return -ENOMEM;
        stage_context_init(&ctx, stage_test_config(c), m->root);
        return st->preflight(self, &ctx, m, PREFLIGHT_LAST);
}
