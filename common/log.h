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
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
} LogTarget;

/* Optional structured fields; NULL members are left out of the journal entry. */
typedef struct LogFields {
        const char *stage;              /* STAGE= */
        const char *pci_address;        /* PCI_ADDRESS= */
        const char *direction;          /* DIRECTION=guest|host */
        unsigned long long duration_usec; /* DURATION_USEC=, when > 0 */
} LogFields;

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget target);
LogTarget log_target_resolve(void);

/* Every message at LOG_ERR or more severe is also handed to sink, when one is set: the
 * engine keeps the first one of a failing stage as the stage's reason (engine.h). */
typedef void (*log_error_sink_t)(const char *message, void *userdata);
void log_set_error_sink(log_error_sink_t sink, void *userdata);
/* Every message at LOG_WARNING exactly goes to this sink, when one is set: the engine keeps
 * the first one of a stage that succeeded, so its timeline says what it did not bring back
 * (a console the kernel removed) instead of a bare "ok". */
void log_set_warning_sink(log_error_sink_t sink, void *userdata);

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
