/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "log.h"
#include "macro.h"
#include "vt-progress.h"

void vt_progress_init(VtProgress *p, const char *root, bool enabled) {
        *p = (VtProgress) { .enabled = enabled };
        p->root = strdup(root);
        if (!p->root || asprintf(&p->tty, "%s/dev/tty0", streq(root, "/") ? "" : root) < 0) {
                p->tty = NULL;
                p->enabled = false;     /* progress is a courtesy, not worth failing for */
        }
}

void vt_progress_done(VtProgress *p) {
        free(p->root);
        free(p->tty);
        free(p->failure);
        *p = (VtProgress) {};
}

bool vt_progress_console_visible(const char *root) {
        VtConsole *v = NULL;
        size_t n = 0;
        bool visible = false;

        if (vtconsoles_read(root, &v, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (v[i].is_fb && v[i].bound)
                        visible = true;
        vtconsoles_free(v, n);
        return visible;
}

static void write_line(VtProgress *p, char *text) {
        _cleanup_close_ int fd = -EBADF;

        /* Reasons quote names from the machine (a holder's comm): no byte of them may
         * act on the terminal. */
        for (char *c = text; *c; c++)
                if (iscntrl((unsigned char) *c))
                        *c = '?';
        fd = open(p->tty, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                log_debug_errno(errno, "Failed to open %s for progress, ignoring: %m", p->tty);
                return;
        }
        /* One write per line, so that lines from elsewhere cannot cut into it. */
        if (dprintf(fd, "baton: %s\n", text) < 0)
                log_debug_errno(errno, "Failed to write progress to %s, ignoring: %m", p->tty);
}

/* A line for the screen, when somebody can read it: the display manager is down and
 * fbcon shows the console. A failure that happened while nothing showed comes first,
 * once something does. */
static void put_line(VtProgress *p, const char *fmt, ...) _printf_(2, 3);
static void put_line(VtProgress *p, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int k;

        if (!p->enabled || !p->dm_down || !vt_progress_console_visible(p->root))
                return;
        if (p->failure) {
                write_line(p, p->failure);
                p->failure = mfree(p->failure);
        }
        va_start(ap, fmt);
        k = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (k >= 0)
                write_line(p, text);
}

void vt_progress_stage(VtProgress *p, const char *stage, bool to_guest, bool finished, int result,
                       uint64_t usec, const char *reason) {
        bool dm = streq(stage, "display-manager");

        /* A return or recover starts with the display manager down (the handover
         * stopped it); a handover stops it itself. */
        if (!p->active) {
                p->active = true;
                p->dm_down = !to_guest;
        }
        if (!finished) {
                if (to_guest && streq(stage, "vtconsoles"))
                        put_line(p, "the GPU goes to the guest now");
                return;
        }
        if (dm && to_guest && result >= 0)
                p->dm_down = true;
        if (result < 0) {
                if (!p->failure && asprintf(&p->failure, "%s %s failed after %.1f ms: %s; undoing what was done",
                                            stage, to_guest ? "to guest" : "to host", usec / 1000.0,
                                            reason ?: strerror(-result)) < 0)
                        p->failure = NULL;
                put_line(p, "%s", "the desktop comes back");
        } else
                put_line(p, "%s %s: done in %.1f ms", stage, to_guest ? "to guest" : "to host", usec / 1000.0);
        if (dm && !to_guest && result >= 0)
                p->dm_down = false;     /* the display manager has the screen again */
}

void vt_progress_engine(VtProgress *p, Engine *e, const char *stage, bool to_guest, bool finished, int result,
                        uint64_t usec) {
        const StageTiming *t;
        size_t n;

        t = engine_timeline(e, &n);
        vt_progress_stage(p, stage, to_guest, finished, result, usec,
                          finished && n > 0 && result < 0 ? t[n - 1].reason : NULL);
}

void vt_progress_end(VtProgress *p, const char *op, int result, bool rollback_incomplete) {
        if (result >= 0 && streq(op, "handover"))
                return;         /* fbcon has gone; the guest has the screen */
        if (rollback_incomplete)
                put_line(p, "the machine is not fully back; run 'baton recover' (over SSH if need be)");
        else
                put_line(p, "%s done", op);
        p->dm_down = p->active = false;
        p->failure = mfree(p->failure);
}
