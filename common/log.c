/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <assert.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <systemd/sd-journal.h>

#include "log.h"

/* Set by the daemon's loop (org.freedesktop.LogControl1), read by every thread. */
static _Atomic int log_max_level = LOG_INFO;
static _Atomic LogTarget log_target = LOG_TARGET_AUTO;

static const char *const log_level_table[] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(log_level, int);

/* A syslog level's name as systemd spells them, or its number, 0 to 7. */
int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        for (size_t i = 0; i < ELEMENTSOF(log_level_table); i++)
                if (streq(log_level_table[i], s))
                        return (int) i;
        return -EINVAL;
}

void log_set_max_level(int level) {
        assert(level >= LOG_EMERG && level <= LOG_DEBUG);
        atomic_store_explicit(&log_max_level, level, memory_order_relaxed);
}

int log_get_max_level(void) {
        return atomic_load_explicit(&log_max_level, memory_order_relaxed);
}

static const char *const log_target_table[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_STDERR] = "console",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_NULL] = "null",
};

DEFINE_STRING_TABLE_LOOKUP(log_target, LogTarget);

void log_set_target(LogTarget target) {
        atomic_store(&log_target, target);
}

/* systemd sets $JOURNAL_STREAM to "DEV:INODE" of the stream it connected to stderr. Only when
 * stderr still is that stream are we "under systemd"; a shell started from a unit inherits
 * the variable with a different stderr. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

LogTarget log_target_resolve(void) {
        LogTarget t = atomic_load(&log_target);

        if (t != LOG_TARGET_AUTO)
                return t;
        /* Two threads that resolve at once come to the same answer. */
        t = !isatty(STDERR_FILENO) && stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        atomic_store(&log_target, t);
        return t;
}

static void iov_add(struct iovec *iov, size_t *n, char **bufs, const char *fmt, ...) _printf_(4, 5);
static void iov_add(struct iovec *iov, size_t *n, char **bufs, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&bufs[*n], fmt, ap);
        va_end(ap);
        if (k < 0) {
                bufs[*n] = NULL;
                return;
        }
        iov[*n] = (struct iovec) { .iov_base = bufs[*n], .iov_len = (size_t) k };
        (*n)++;
}

static void log_to_journal(int level, int error, const LogFields *fields,
                           const char *file, int line, const char *func, const char *message) {
        struct iovec iov[11];
        char *bufs[ELEMENTSOF(iov)];
        size_t n = 0;

        iov_add(iov, &n, bufs, "MESSAGE=%s", message);
        iov_add(iov, &n, bufs, "PRIORITY=%i", level);
        iov_add(iov, &n, bufs, "SYSLOG_IDENTIFIER=baton");
        iov_add(iov, &n, bufs, "CODE_FILE=%s", file);
        iov_add(iov, &n, bufs, "CODE_LINE=%i", line);
        iov_add(iov, &n, bufs, "CODE_FUNC=%s", func);
        if (error != 0)
                iov_add(iov, &n, bufs, "ERRNO=%i", error);
        if (fields && fields->stage)
                iov_add(iov, &n, bufs, "STAGE=%s", fields->stage);
        if (fields && fields->pci_address)
                iov_add(iov, &n, bufs, "PCI_ADDRESS=%s", fields->pci_address);
        if (fields && fields->direction)
                iov_add(iov, &n, bufs, "DIRECTION=%s", fields->direction);
        if (fields && fields->duration_usec > 0)
                iov_add(iov, &n, bufs, "DURATION_USEC=%llu", (unsigned long long) fields->duration_usec);

        /* Nowhere to report a failure to log: the message is lost either way. */
        (void) sd_journal_sendv(iov, (int) n);
        for (size_t i = 0; i < n; i++)
                free(bufs[i]);
}

/* Per thread: the sink a caller sets catches its own thread's errors, never those of
 * the input router's thread (evdev/input-thread.h). */
static _Thread_local log_error_sink_t error_sink;
static _Thread_local void *error_sink_userdata;

void log_set_error_sink(log_error_sink_t sink, void *userdata) {
        error_sink = sink;
        error_sink_userdata = userdata;
}

void log_sink_done(LogSink *sink) {
        sink->error = mfree(sink->error);
        sink->warning = mfree(sink->warning);
}

static void sink_keep(char **kept, const char *message) {
        if (!*kept)
                *kept = strdup(message);        /* informational: a failed copy loses only the words */
}

static int log_internalv(LogSink *keep, int level, int error, const LogFields *fields,
                         const char *file, int line, const char *func,
                         const char *format, va_list ap) _printf_(8, 0);
static int log_internalv(LogSink *keep, int level, int error, const LogFields *fields,
                         const char *file, int line, const char *func,
                         const char *format, va_list ap) {
        bool shown = level <= log_get_max_level();
        char message[2048];

        if (error < 0)
                error = -error;
        /* The level says what is shown, not what is kept: a sink still gets its error and
         * warning (the daemon's refusal, a stage's reason) under a quieter level. */
        if (!shown && !(keep && level <= LOG_WARNING) && !(error_sink && level <= LOG_ERR))
                return -error;

        /* For %m. Set right before formatting, nothing in between may touch errno. */
        errno = error;
        (void) vsnprintf(message, sizeof(message), format, ap);

        if (keep && level <= LOG_ERR)
                sink_keep(&keep->error, message);
        if (keep && level == LOG_WARNING)
                sink_keep(&keep->warning, message);
        if (level <= LOG_ERR && error_sink) {
                log_error_sink_t sink = error_sink;

                error_sink = NULL;      /* a sink that logs does not call itself */
                sink(message, error_sink_userdata);
                error_sink = sink;
        }
        if (shown)
                switch (log_target_resolve()) {
                case LOG_TARGET_JOURNAL:
                        log_to_journal(level, error, fields, file, line, func, message);
                        break;
                case LOG_TARGET_STDERR:
                        (void) fprintf(stderr, "baton: %s\n", message);
                        break;
                default:
                        break;
                }

        errno = error;
        return -error;
}

int log_internal(int level, int error, const LogFields *fields,
                 const char *file, int line, const char *func,
                 const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_internalv(NULL, level, error, fields, file, line, func, format, ap);
        va_end(ap);
        return r;
}

int log_sink_internal(LogSink *sink, int level, int error,
                      const char *file, int line, const char *func,
                      const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_internalv(sink, level, error, NULL, file, line, func, format, ap);
        va_end(ap);
        return r;
}
