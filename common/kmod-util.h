/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libkmod.h>

#include "macro.h"

/* libkmod is opened at run time (common/dlopen-util.h), only by what loads, unloads or
 * looks up modules (the vfio and gpu-modules stages, `baton doctor`): linked, Debian's
 * libkmod pulls libcrypto into every baton process, about 60% of the relocations the
 * dynamic loader did at each start. Every libkmod function baton calls goes through
 * sym_NAME, set by kmod_dlopen(). */
#define KMOD_SYMBOLS(X)                                 \
        X(kmod_list_next)                               \
        X(kmod_module_get_initstate)                    \
        X(kmod_module_get_module)                       \
        X(kmod_module_get_path)                         \
        X(kmod_module_initstate_str)                    \
        X(kmod_module_new_from_lookup)                  \
        X(kmod_module_new_from_name)                    \
        X(kmod_module_probe_insert_module)              \
        X(kmod_module_remove_module)                    \
        X(kmod_module_unref)                            \
        X(kmod_module_unref_list)                       \
        X(kmod_new)                                     \
        X(kmod_set_log_fn)                              \
        X(kmod_set_log_priority)                        \
        X(kmod_unref)

#define KMOD_DECLARE_SYMBOL(f) extern __typeof__(f) *sym_##f;
KMOD_SYMBOLS(KMOD_DECLARE_SYMBOL)
#undef KMOD_DECLARE_SYMBOL

/* Opens libkmod.so.2 and resolves every symbol above, once per process: 0, or
 * -EOPNOTSUPP after logging (once) that libkmod is missing and how to get it. */
int kmod_dlopen(void);

/* kmod_dlopen(), then kmod_new(NULL, NULL): the context, or NULL with errno set. */
struct kmod_ctx *kmod_context_new(void);

/* kmod_list_foreach() of libkmod.h, through sym_kmod_list_next. */
#define KMOD_LIST_FOREACH(entry, first) \
        for ((entry) = (first); (entry); (entry) = sym_kmod_list_next((first), (entry)))

/* Cleanup helpers for libkmod's objects, which ships none: _cleanup_(kmod_unrefp) and friends. */
static inline void kmod_unrefp(struct kmod_ctx **p) {
        if (*p)
                (void) sym_kmod_unref(*p);
}

static inline void kmod_module_unrefp(struct kmod_module **p) {
        if (*p)
                (void) sym_kmod_module_unref(*p);
}

static inline void kmod_module_unref_listp(struct kmod_list **p) {
        if (*p)
                (void) sym_kmod_module_unref_list(*p);
}
