/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Logging for every component. A message goes to stderr when stderr is a terminal or baton
 * was not started by systemd with stderr connected to the journal, and to the journal
 * (sd_journal_send) otherwise, with structured fields.
 *
 * The *_errno() variants take an error (either sign), make it available to %m, and return
 * it negated, so that "return log_error_errno(r, "Failed to ...: %m");" both logs and
 * propagates. */

typedef enum LogTarget {
        LOG_TARGET_AUTO,        /* decided on the first message, see log_target_resolve() */
        LOG_TARGET_STDERR,      /* "console", systemd's name */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_NULL,        /* nothing shown; sinks still keep what they keep */
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* Optional structured fields; NULL members are left out of the journal entry. */
typedef struct LogFields {
        const char *stage;              /* STAGE= */
        const char *pci_address;        /* PCI_ADDRESS= */
        const char *direction;          /* DIRECTION=guest|host */
        unsigned long long duration_usec; /* DURATION_USEC=, when > 0 */
} LogFields;

/* The most verbose level shown, LOG_INFO unless set: from --log-level or $BATON_LOG_LEVEL,
 * and in the daemon from org.freedesktop.LogControl1 (`systemctl service-log-level`). Below
 * it nothing is shown, but the sinks below still keep errors and warnings. */
void log_set_max_level(int level);
int log_get_max_level(void);
/* Level names as syslog and systemd spell them ("emerg" ... "debug"), or "0" to "7";
 * -EINVAL for anything else. */
const char *log_level_to_string(int level);
int log_level_from_string(const char *s);

void log_set_target(LogTarget target);
LogTarget log_target_resolve(void);
/* "auto", "console", "journal", "null": systemd's names for the targets baton has. */
const char *log_target_to_string(LogTarget t);
LogTarget log_target_from_string(const char *s);

/* Every message at LOG_ERR or more severe is also handed to sink, when one is set: the
 * daemon keeps the first one that refuses a transition, for its D-Bus reply. (A stage's
 * reason goes to its step instead, through a LogSink below.) */
typedef void (*log_error_sink_t)(const char *message, void *userdata);
void log_set_error_sink(log_error_sink_t sink, void *userdata);

/* Where one piece of work keeps the first error and the first warning it logged, for whoever
 * reports on it: a stage logs through its StageContext's sink (core/stage.h), and the
 * engine's timeline shows the step's first error as its reason and, when it succeeded, its
 * first warning (what it could not bring back, e.g. a console the kernel removed). */
typedef struct LogSink {
        char *error;
        char *warning;
} LogSink;

void log_sink_done(LogSink *sink);

/* Logs like log_full_errno(), and keeps the message in sink (which may be NULL) when it is
 * the first error (LOG_ERR or more severe) or the first warning (LOG_WARNING exactly). */
int log_sink_internal(LogSink *sink, int level, int error,
                      const char *file, int line, const char *func,
                      const char *format, ...) _printf_(7, 8);

#define log_sink_full_errno(sink, level, error, ...) \
        log_sink_internal((sink), (level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)

int log_internal(int level, int error, const LogFields *fields,
                 const char *file, int line, const char *func,
                 const char *format, ...) _printf_(7, 8);

#define log_full_fields(level, error, fields, ...) \
        log_internal((level), (error), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full_errno(level, error, ...) log_full_fields((level), (error), NULL, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

/* An error of our own making (not from a failed call), systemd's convention:
 * log_error_errno(SYNTHETIC_ERRNO(ENODEV), "...") logs and returns -ENODEV. */
#define SYNTHETIC_ERRNO(e) (e)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, (error), __VA_ARGS__)
