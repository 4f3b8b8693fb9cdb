/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "config-file.h"

/* The user's own stages (stages/user-stages.c). */

/* The VM the handover is for, BATON_VM of the scripts, is the StageContext's vm
 * (engine_set_vm()). */

/* CONFIG_DIR/stages.d, CONFIG_DIR being where c (baton.conf) was read from. */
int user_stages_dir(const Config *c, char **ret);

/* Why root must not run a file (or use a directory) with this stat: "not owned by root",
 * "writable by its group", "writable by everyone"; NULL when it may, and always when
 * as_root is false. */
const char *user_stages_refusal(const struct stat *st, bool as_root);
