/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>

#include "libvirt-util.h"
#include "log.h"
#include "machine.h"
#include "macro.h"
#include "start.h"
#include "strv.h"

#define LIBVIRT_URI "qemu:///system"

/* The one defined domain that takes the GPU; an error naming the candidates otherwise. */
static int pick_domain(virConnectPtr conn, const Machine *m, char **ret) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *list = NULL;
        int r;

        r = libvirt_gpu_domains(conn, m, &names);
        if (r < 0)
                return log_error_errno(r, "Failed to list libvirt's domains: %m");
        if (strv_length(names) == 1) {
                *ret = strdup(names[0]);
                return *ret ? 0 : log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Out of memory");
        }
        if (!names)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                       "No libvirt domain takes the GPU %s: name one, 'baton start VM'", m->gpu->address);
        (void) strv_join(names, ", ", &list);
        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Several domains take the GPU (%s): name one, 'baton start VM'",
                               strna(list));
}

static int create(virConnectPtr conn, const char *vm) {
        _cleanup_(virDomainFreep) virDomainPtr dom = sym_virDomainLookupByName(conn, vm);
        const char *msg;
        int r;

        /* libvirt_error() first: the order in which a call's arguments are evaluated
         * is unspecified, and msg is only set by it. */
        if (!dom || sym_virDomainCreate(dom) < 0) {
                r = libvirt_error(&msg);
                return log_error_errno(r, "Failed to start domain %s: %s", vm, msg);
        }
        log_info("Domain %s started.", vm);
        return 0;
}

int baton_start(const char *vm, transition_t transition) {
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        _cleanup_(machine_freep) Machine *m = NULL;
        _cleanup_free_ char *picked = NULL, *reason = NULL;
        const char *msg;
        int r, takes;

        r = machine_load("/", MACHINE_SKIP_HOLDERS, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to read this machine's devices: %m");
        r = libvirt_dlopen();
        if (r < 0)
                return r;
        libvirt_quiet();
        conn = sym_virConnectOpen(LIBVIRT_URI);
        if (!conn) {
                r = libvirt_error(&msg);
                return log_error_errno(r, "Failed to connect to %s: %s", LIBVIRT_URI, msg);
        }
        if (!vm) {
                r = pick_domain(conn, m, &picked);
                if (r < 0)
                        return r;
                vm = picked;
        }

        dom = sym_virDomainLookupByName(conn, vm);
        if (!dom) {
                r = libvirt_error(&msg);
                return log_error_errno(r, "No domain %s: %s", vm, msg);
        }
        if (sym_virDomainIsActive(dom) > 0)
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY), "Domain %s is running already.", vm);
        takes = libvirt_domain_takes_gpu(conn, vm, m, &reason);
        if (takes == -EXDEV)
                return log_error_errno(takes, "Domain %s's baton metadata names a GPU that is not this machine's (%s).",
                                       vm, m->gpu->address);
        if (takes < 0)
                return log_error_errno(takes, "Failed to read domain %s's XML: %m", vm);
        if (takes == 0) {
                log_info("Domain %s does not take the GPU (%s): starting it without a handover.", vm, reason);
                return create(conn, vm);
        }

        log_info("Domain %s takes the GPU (%s): handing it over.", vm, reason);
        r = transition(ENGINE_HANDOVER, "Handover", vm);
        if (r < 0)
                return r;       /* rolled back, and said so */
        r = create(conn, vm);
        if (r < 0) {
                log_notice("Returning the GPU, since %s did not start.", vm);
                (void) transition(ENGINE_RETURN, "Return", NULL);
        }
        return r;
}
