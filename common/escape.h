/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Text from the user's side (an inhibitor's app id and reason, a scope name, a process's comm,
 * a VM name) printed or logged by root: C0 controls (newline, ESC, ...), DEL, the C1 controls
 * U+0080-U+009F and bytes that are not UTF-8 become \xNN, and a backslash becomes \\, so a
 * line stays one line and a terminal draws what it gets. Other UTF-8 passes as it is. */
int escape_text(const char *s, char **ret);

/* Whether s holds a control character (C0, DEL or C1, as UTF-8) or is not valid UTF-8. */
bool text_has_control(const char *s);
