/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* libvirt is opened at run time (common/dlopen-util.h), only by what talks to
 * libvirtd (`baton start`, the daemon's domain events): linked, it pulled 44 more
 * shared objects (GnuTLS, GLib, curl, Kerberos, ...) into every baton process.
 * Every libvirt function baton calls goes through sym_NAME, set by
 * libvirt_dlopen(). */
#define LIBVIRT_SYMBOLS(X)                              \
        X(virConnectClose)                              \
        X(virConnectDomainEventDeregisterAny)           \
        X(virConnectDomainEventRegisterAny)             \
        X(virConnectListAllDomains)                     \
        X(virConnectOpen)                               \
        X(virConnectRegisterCloseCallback)              \
        X(virConnectSetKeepAlive)                       \
        X(virDomainCreate)                              \
        X(virDomainFree)                                \
        X(virDomainGetName)                             \
        X(virDomainGetXMLDesc)                          \
        X(virDomainIsActive)                            \
        X(virDomainLookupByName)                        \
        X(virEventRegisterImpl)                         \
        X(virGetLastError)                              \
        X(virSetErrorFunc)

#define LIBVIRT_DECLARE_SYMBOL(f) extern __typeof__(f) *sym_##f;
LIBVIRT_SYMBOLS(LIBVIRT_DECLARE_SYMBOL)

/* Opens libvirt.so.0 and resolves every symbol above, once per process: 0, or
 * -EOPNOTSUPP after logging (once) that libvirt is missing and how to get it. */
int libvirt_dlopen(void);

static inline void virConnectClosep(virConnectPtr *p) {
        if (*p)
                (void) sym_virConnectClose(*p);
}

static inline void virDomainFreep(virDomainPtr *p) {
        if (*p)
                (void) sym_virDomainFree(*p);
}
