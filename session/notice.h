/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "child.h"
#include "user.h"

/* Word of what happened, for the desktop user at their next login (issue 16, item 4).
 *
 * The desktop user was logged out while the guest had the GPU (or while a handover failed and
 * rolled back): the daemon's log is no place they look. At the end of such a transition root
 * writes, as the user (user_run_child(), never as root in their home), two files:
 *   ~/.local/state/baton/notice             the text: "baton-notice 1", "summary TEXT",
 *                                           "body TEXT", one a line
 *   ~/.config/autostart/baton-notify.desktop runs `baton notify` at the next login
 * and `baton notify`, in the user's session as the user, sends the text once through
 * org.freedesktop.Notifications and removes both.
 *
 * The paths are fixed below the home directory: root writes them without the session's
 * environment (no $XDG_STATE_HOME to read), and `baton notify` must find what root wrote. The
 * final names are never followed: each file is written aside and renamed over the name. */

#define NOTICE_FILE_MAX 4096u
#define NOTICE_HEADER "baton-notice 1"
#define NOTICE_AUTOSTART_NAME "baton-notify.desktop"
/* How long writing the two files as the user may take; it blocks the caller. */
#define NOTICE_WRITE_TIMEOUT_USEC (5 * 1000000ULL)

/* What the notice tells. */
typedef enum NoticeKind {
        NOTICE_HANDOVER_FAILED,         /* reason; rollback_incomplete */
        NOTICE_RETURNED,                /* vm, guest_usec (0: unknown), return_usec */
        NOTICE_RETURN_FAILED,           /* vm, reason */
} NoticeKind;

typedef struct NoticeFacts {
        NoticeKind kind;
        const char *vm;                 /* the libvirt domain; NULL or "" when none was named */
        const char *reason;             /* the failure's one line */
        bool rollback_incomplete;
        uint64_t guest_usec;            /* from the end of the handover to the start of the return */
        uint64_t return_usec;           /* how long the return took */
} NoticeFacts;

/* The notification's summary and body, plain text on one line each: the VM name and the reason
 * come from elsewhere and are escaped (common/escape.h). */
int notice_format(const NoticeFacts *f, char **ret_summary, char **ret_body);

/* "1 h 2 min", "3 min 4 s", "5 s": how long a guest ran. */
int notice_format_duration(uint64_t usec, char *buf, size_t size);

/* The file's text for summary and body; -EINVAL when either holds a control byte. */
int notice_file_text(const char *summary, const char *body, char **ret);

/* Parses the file's text (size bytes, NUL-terminated): -EBADMSG when it is not one header line,
 * one summary and one body line, each ended by a newline, without control bytes, with a
 * non-empty summary. */
int notice_parse(const char *text, size_t size, char **ret_summary, char **ret_body);

/* Reads and parses path (read_regular_file(): a FIFO does not block): -EFBIG past
 * NOTICE_FILE_MAX bytes, -EBADMSG when malformed (above), -ENOENT when absent, -EISDIR or
 * -EBADFD when not a regular file. */
int notice_read(const char *path, char **ret_summary, char **ret_body);

/* HOME/.local/state/baton/notice and HOME/.config/autostart/baton-notify.desktop. */
int notice_paths(const char *home, char **ret_file, char **ret_autostart);

/* One sender per notice, however many `baton notify` run at a login (gnome-session and an
 * xdg-autostart unit may both start the entry): the notice is renamed to *ret_claimed
 * (FILE.sending) before it is read; rename() is atomic, so a second caller gets -ENOENT and
 * sends nothing. notice_unclaim() puts it back for the next login when sending failed, unless
 * a newer notice was written meanwhile (that one wins). */
int notice_claim(const char *file, char **ret_claimed);
int notice_unclaim(const char *claimed, const char *file);

/* The autostart entry that runs `BINARY notify`; -EINVAL when binary needs quoting beyond "...". */
int notice_autostart_entry(const char *binary, char **ret);

/* Writes the notice and its autostart entry as the user, in a child that dropped to them for good,
 * within NOTICE_WRITE_TIMEOUT_USEC; the entry last (it is what makes the next login send it). */
int notice_write(const UserIdentity *u, const char *binary, const char *summary, const char *body);

/* The same, awaited on e (the daemon's loop): the child of user_child_async() (session/user.h)
 * writes, within NOTICE_WRITE_TIMEOUT_USEC; done() gets its result. Text that would be refused
 * is refused before the fork. */
int notice_write_async(const UserIdentity *u, sd_event *e, const char *binary, const char *summary,
                       const char *body, child_run_done_t done, void *userdata, ChildRun **ret);
