/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "libvirt-dl.h"
#include "machine.h"
#include "macro.h"

/* libvirt reports -1 (or NULL) and keeps the reason in a thread-local virError;
 * baton speaks negative errno. libvirt_error() converts once, at the call site:
 *     if (virDomainCreate(dom) < 0)
 *             return log_error_errno(libvirt_error(&msg), "Failed to start %s: %s", vm, msg);
 * It maps "no such domain" to -ENOENT, "cannot reach the daemon" to -ECONNREFUSED,
 * a refusal to -EACCES, anything else to -EIO; *ret_message (optional) points at
 * libvirt's message, valid until the next libvirt call on this thread. */
int libvirt_error(const char **ret_message);

/* Keep libvirt's default handler from printing every error to stderr: baton logs
 * the ones it decides on. Idempotent. */
void libvirt_quiet(void);

/* The defined domains whose XML takes m's GPU (domain-xml.h), as a strv (NULL
 * when there is none). Blocking libvirt calls: the CLI's, never the daemon loop's. */
int libvirt_gpu_domains(virConnectPtr conn, const Machine *m, char ***ret);

/* Whether vm takes m's GPU: 1, 0, or a negative errno (-ENOENT: no such domain). */
int libvirt_domain_takes_gpu(virConnectPtr conn, const char *vm, const Machine *m, char **ret_reason);
