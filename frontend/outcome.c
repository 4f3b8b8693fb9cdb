/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-file.h"
#include "log.h"
#include "macro.h"
#include "outcome.h"
#include "notice.h"
#include "user.h"

char *outcome_reason(const Engine *e, int result) {
        const StageTiming *t;
        char *s = NULL;
        size_t n;

        if (result >= 0)
                return NULL;
        t = engine_timeline(e, &n);
        for (size_t i = 0; i < n; i++)
                if (t[i].result < 0)
                        return asprintf(&s, "%s: %s", t[i].stage, t[i].reason ?: strerror(-t[i].result)) < 0 ?
                                NULL : s;
        if (result == -ECANCELED)
                return strdup("a return was asked for during the handover");
        return strdup(strerror(-result));
}

/* The running binary, for the autostart entry: /usr/bin/baton once installed, the build
 * directory's in the lab. */
static int self_path(char **ret) {
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        char *deleted;

        if (n < 0)
                return -errno;
        buf[n] = '\0';
        /* Replaced by an upgrade while it runs: the new file has the same name. */
        deleted = strstr(buf, " (deleted)");
        if (deleted && deleted[strlen(" (deleted)")] == '\0')
                *deleted = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

static int outcome_facts(const Engine *e, int result, const char *vm, const char *reason, NoticeFacts *ret) {
        switch (engine_op(e)) {
        case ENGINE_HANDOVER:
                if (result >= 0)
                        return 0;       /* the guest has the screen: nothing to tell yet */
                *ret = (NoticeFacts) { .kind = NOTICE_HANDOVER_FAILED, .vm = vm, .reason = reason,
                                       .rollback_incomplete = engine_rollback_incomplete(e) };
                return 1;
        case ENGINE_RETURN:
                *ret = (NoticeFacts) { .kind = result < 0 ? NOTICE_RETURN_FAILED : NOTICE_RETURNED, .vm = vm,
                                       .reason = reason, .guest_usec = engine_guest_usec(e),
                                       .return_usec = engine_duration_usec(e) };
                return 1;
        default:
                return 0;
        }
}

void outcome_notice_done(OutcomeNotice *n) {
        user_identity_done(&n->user);
        n->summary = mfree(n->summary);
        n->body = mfree(n->body);
        n->binary = mfree(n->binary);
}

int outcome_notice_prepare(const Engine *e, int result, const char *vm, OutcomeNotice *ret) {
        _cleanup_(outcome_notice_done) OutcomeNotice n = {};
        _cleanup_free_ char *reason = outcome_reason(e, result);
        const char *user = engine_record_get(e, "session", "user");
        NoticeFacts f;
        int r;

        if (outcome_facts(e, result, vm, reason, &f) <= 0)
                return 0;
        if (!engine_stage_acted(e, "session") && !engine_stage_acted(e, "display-manager")) {
                log_debug("No word for the desktop user: the %s did not take the desktop away.",
                          engine_op_to_string(engine_op(e)));
                return 0;
        }
        if (isempty(user))
                user = config_get()->session_user;
        if (isempty(user)) {
                log_debug("No word for the desktop user: the handover logged nobody out and [session] user "
                          "names nobody.");
                return 0;
        }
        r = user_identity_from_name(user, &n.user);
        if (r < 0)
                return log_warning_errno(r, "Failed to look up user %s for the word at their next login, "
                                         "ignoring: %m", user);
        if (n.user.uid == 0) {
                log_debug("No word for root's next login.");
                return 0;
        }
        r = notice_format(&f, &n.summary, &n.body);
        if (r >= 0)
                r = self_path(&n.binary);
        if (r < 0)
                return log_warning_errno(r, "Failed to put the word for %s's next login together, ignoring: %m",
                                         user);
        *ret = TAKE_STRUCT(n);
        return 1;
}

void outcome_notice_log(const OutcomeNotice *n, int r) {
        if (r < 0)
                log_warning_errno(r, "Failed to leave word for %s's next login, ignoring: %m", n->user.name);
        else
                log_info("Left word for %s's next login: %s. %s", n->user.name, n->summary, n->body);
}

int outcome_notice(const Engine *e, int result, const char *vm) {
        _cleanup_(outcome_notice_done) OutcomeNotice n = {};
        int r;

        r = outcome_notice_prepare(e, result, vm, &n);
        if (r <= 0)
                return r;
        r = notice_write(&n.user, n.binary, n.summary, n.body);
        outcome_notice_log(&n, r);
        return r < 0 ? r : 1;
}
