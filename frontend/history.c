/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "history.h"
#include "log.h"
#include "macro.h"

static const char *result_word(const Engine *e, int result) {
        if (result >= 0)
                return "ok";
        return engine_rollback_incomplete(e) ? "incomplete" : "failed";
}

static int stages_word_list(const Engine *e, char **ret_stages, uint64_t *ret_total, const char **ret_reason) {
        _cleanup_free_ char *text = NULL;
        const StageTiming *t;
        const char *reason = NULL;
        uint64_t total = 0;
        size_t n, size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -errno;
        t = engine_timeline(e, &n);
        for (size_t i = 0; i < n; i++) {
                total += t[i].usec;
                if (t[i].result < 0 && !reason)
                        reason = t[i].reason ?: strerror(-t[i].result);
                fprintf(f, "%s%s:%s:%s:%" PRIu64, i > 0 ? " " : "", t[i].stage, t[i].to_guest ? "guest" : "host",
                        t[i].skipped ? "skip" : t[i].result < 0 ? "failed" : "ok", t[i].usec);
        }
        if (fclose(f) != 0)
                return -errno;
        *ret_stages = TAKE_PTR(text);
        *ret_total = total;
        *ret_reason = reason;
        return 0;
}

int history_record(const Engine *e, int result, const char *vm, const char *origin) {
        _cleanup_free_ char *stages = NULL;
        const char *op = engine_op_to_string(engine_op(e)), *res = result_word(e, result);
        const char *reason = NULL;
        uint64_t total = 0;
        int r;

        r = stages_word_list(e, &stages, &total, &reason);
        if (r < 0)
                return log_warning_errno(r, "Failed to put the %s in the history, ignoring: %m", op);
        if (result < 0 && !reason)
                reason = strerror(-result);

        /* Sent whatever the log target is: a CLI run logs to its terminal, but its
         * transition belongs in the history as much as the daemon's. */
        r = sd_journal_send("MESSAGE=%s of %s%s%s: %s in %.1f ms%s%s", op, strna(engine_gpu(e)),
                            isempty(vm) ? "" : " for ", strempty(vm), res, total / 1000.0,
                            reason ? ": " : "", strempty(reason),
                            "MESSAGE_ID=" HISTORY_MESSAGE_ID,
                            "PRIORITY=%i", result < 0 ? LOG_ERR : LOG_INFO,
                            "SYSLOG_IDENTIFIER=baton",
                            "BATON_OP=%s", op,
                            "BATON_VM=%s", strempty(vm),
                            "BATON_GPU=%s", strempty(engine_gpu(e)),
                            "BATON_RESULT=%s", res,
                            "BATON_REASON=%s", strempty(reason),
                            "BATON_TOTAL_USEC=%" PRIu64, total,
                            "BATON_PREPARE_USEC=%" PRIu64, engine_prepare_usec(e),
                            "BATON_DURATION_USEC=%" PRIu64, engine_duration_usec(e),
                            "BATON_STAGES=%s", stages,
                            "BATON_ORIGIN=%s", origin,
                            NULL);
        if (r < 0)
                return log_warning_errno(r, "Failed to put the %s in the history, ignoring: %m", op);
        return 0;
}

void history_entry_done(HistoryEntry *h) {
        free(h->op);
        free(h->vm);
        free(h->gpu);
        free(h->result);
        free(h->reason);
        free(h->stages);
        *h = (HistoryEntry) {};
}

/* Text from the journal is anybody's text as far as a terminal goes: control bytes
 * become '?', so that an entry cannot move the cursor or fake further lines. */
static void put_clean(FILE *f, const char *s) {
        for (; s && *s; s++)
                fputc(iscntrl((unsigned char) *s) ? '?' : *s, f);
}

static void format_duration(FILE *f, uint64_t usec) {
        uint64_t s = usec / 1000000;

        if (s >= 3600)
                fprintf(f, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s % 3600 / 60);
        else if (s >= 60)
                fprintf(f, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
        else
                fprintf(f, "%" PRIu64 " s", s);
}

/* "NAME:DIRECTION:RESULT:USEC ..." as "NAME 12.3 ms, NAME failed after 4.0 ms, ..." */
static void format_stages(FILE *f, const char *stages) {
        _cleanup_free_ char *copy = strdup(strempty(stages));
        char *save = NULL;
        bool first = true;

        if (!copy)
                return;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                char *name = w, *dir = strchr(name, ':'), *res = dir ? strchr(dir + 1, ':') : NULL,
                     *usec = res ? strchr(res + 1, ':') : NULL;

                if (!usec)
                        continue;
                *dir++ = *res++ = *usec++ = '\0';
                if (streq(res, "skip"))
                        continue;
                fputs(first ? "    " : ", ", f);
                first = false;
                put_clean(f, name);
                fprintf(f, " %.1f ms%s", strtoull(usec, NULL, 10) / 1000.0, streq(res, "ok") ? "" : " FAILED");
        }
        if (first)
                fputs("    no stage had anything to do", f);
        fputc('\n', f);
}

int history_format(FILE *f, const HistoryEntry *h) {
        time_t t = (time_t) (h->realtime_usec / 1000000);
        char when[32] = "?";
        struct tm tm;

        if (localtime_r(&t, &tm))
                (void) strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(f, "%s  %-8s ", when, strna(h->op));
        put_clean(f, isempty(h->vm) ? "(no VM named)" : h->vm);
        fputs("  ", f);
        put_clean(f, strna(h->result));
        fprintf(f, " in %.1f ms", h->total_usec / 1000.0);
        if (h->guest_usec > 0) {
                fputs(" (the guest had the GPU for ", f);
                format_duration(f, h->guest_usec);
                fputc(')', f);
        }
        if (!isempty(h->reason)) {
                fputs(": ", f);
                put_clean(f, h->reason);
        }
        fputc('\n', f);
        format_stages(f, h->stages);
        return ferror(f) ? -EIO : 0;
}

/* A field's value as a new string; "" when the entry lacks it. */
static int get_field(sd_journal *j, const char *field, char **ret) {
        const void *data;
        size_t len, flen = strlen(field);
        int r;

        r = sd_journal_get_data(j, field, &data, &len);
        if (r == -ENOENT) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        if (len <= flen || ((const char *) data)[flen] != '=')
                return -EBADMSG;
        *ret = strndup((const char *) data + flen + 1, len - flen - 1);
        return *ret ? 0 : -ENOMEM;
}

static int read_entry(sd_journal *j, HistoryEntry *ret) {
        _cleanup_free_ char *total = NULL;
        HistoryEntry h = {};
        int r;

        r = sd_journal_get_realtime_usec(j, &h.realtime_usec);
        if (r >= 0)
                r = get_field(j, "BATON_OP", &h.op);
        if (r >= 0)
                r = get_field(j, "BATON_VM", &h.vm);
        if (r >= 0)
                r = get_field(j, "BATON_GPU", &h.gpu);
        if (r >= 0)
                r = get_field(j, "BATON_RESULT", &h.result);
        if (r >= 0)
                r = get_field(j, "BATON_REASON", &h.reason);
        if (r >= 0)
                r = get_field(j, "BATON_STAGES", &h.stages);
        if (r >= 0)
                r = get_field(j, "BATON_TOTAL_USEC", &total);
        if (r < 0) {
                history_entry_done(&h);
                return r;
        }
        h.total_usec = strtoull(total, NULL, 10);
        *ret = h;
        return 0;
}

int history_print(FILE *f, unsigned n) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        HistoryEntry *entries = NULL;
        size_t k = 0;
        int r;

        if (n == 0)
                return 0;
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;
        /* Two matches on different fields must both hold. */
        r = sd_journal_add_match(j, "MESSAGE_ID=" HISTORY_MESSAGE_ID, 0);
        if (r >= 0)
                r = sd_journal_add_match(j, "_UID=0", 0);
        if (r >= 0)
                r = sd_journal_seek_tail(j);
        if (r < 0)
                return r;

        /* Newest first, one more than asked: the handover before the oldest return shown
         * tells how long that guest ran. */
        entries = calloc((size_t) n + 1, sizeof(HistoryEntry));
        if (!entries)
                return -ENOMEM;
        while (k < (size_t) n + 1 && (r = sd_journal_previous(j)) > 0)
                if (read_entry(j, &entries[k]) >= 0)
                        k++;

        for (size_t i = 0; i < k; i++) {
                if (streq(entries[i].op, "handover"))
                        continue;
                for (size_t o = i + 1; o < k; o++)
                        if (streq(entries[o].op, "handover")) {
                                /* From the end of that handover to the start of this transition. */
                                if (streq(entries[o].result, "ok") &&
                                    entries[i].realtime_usec > entries[o].realtime_usec + entries[i].total_usec)
                                        entries[i].guest_usec = entries[i].realtime_usec - entries[i].total_usec -
                                                                entries[o].realtime_usec;
                                break;
                        }
        }
        for (size_t i = k > n ? n : k; i > 0; i--)
                (void) history_format(f, &entries[i - 1]);
        for (size_t i = 0; i < k; i++)
                history_entry_done(&entries[i]);
        free(entries);
        return r < 0 ? r : (int) (k > n ? n : k);
}
