/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libvirt's QEMU hook, built as hook/baton and installed as /etc/libvirt/hooks/qemu.d/baton.
 *
 * libvirt runs it as "baton VM OPERATION SUB-OPERATION EXTRA" with the domain XML
 * on stdin, and waits for it (https://libvirt.org/hooks.html):
 *   prepare begin  the domain is about to start: when it takes the GPU
 *                  (domain-xml.h), ask the daemon for the handover and wait for
 *                  it; a failure exits 1 with one line on stderr, which libvirt
 *                  shows as the reason the start failed.
 *   release end    the domain has stopped and its resources are released: ask
 *                  for the return when the domain had the GPU.
 * Anything else, and a domain that does not take the GPU: exit 0 at once.
 *
 * The hook never calls libvirt: libvirt waits for the hook with the domain's
 * job held, and a call back into it can deadlock (hooks.html, "Calling libvirt
 * functions from within a hook script"). It talks only to baton's daemon over
 * the system bus (started by D-Bus activation when it is not running). Without
 * a daemon at all it runs the baton CLI, which then does the work in-process. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "config.h"
#include "domain-xml.h"
#include "guest-marker.h"
#include "journal.h"
#include "log.h"
#include "machine.h"
#include "macro.h"

#ifndef BATON_BINDIR
#define BATON_BINDIR "/usr/bin"
#endif

/* The domain XML, up to one byte over the limit (which domain_xml_takes_gpu() refuses). */
static int read_stdin(char **ret, size_t *ret_n) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, size = 0;

        for (;;) {
                ssize_t k;

                if (n == size) {
                        char *b;

                        if (size > DOMAIN_XML_MAX)
                                break;
                        size = size ? size * 2 : 64 * 1024;
                        b = realloc(buf, size + 1);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                k = read(STDIN_FILENO, buf + n, size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (!buf && !(buf = strdup("")))
                return -ENOMEM;
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_n = n;
        return 0;
}

/* One line for virsh: the error's first line and the stages that failed on the way. */
static void print_failure(const char *vm, const char *what, const char *message) {
        const char *nl = strchr(message, '\n');
        int len = nl ? (int) (nl - message) : (int) strlen(message);

        fprintf(stderr, "baton: %s for domain %s refused: %.*s", what, vm, len, message);
        while (nl) {
                const char *line = nl + 1;
                char stage[64], dir1[16], dir2[16];
                int off = 0;

                nl = strchr(line, '\n');
                /* "  drm-idle        to guest   2003.1 ms  Connection timed out" */
                if (sscanf(line, " %63s %15s %15s %*f ms %n", stage, dir1, dir2, &off) == 3 && off > 0 &&
                    !startswith(line + off, "ok") && !startswith(stage, "total")) {
                        int l = nl ? (int) (nl - line - off) : (int) strlen(line + off);

                        fprintf(stderr, "; %s %s %s: %.*s", stage, dir1, dir2, l, line + off);
                }
        }
        fputc('\n', stderr);
}

static bool daemon_missing(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
}

/* 0 done, 1 the daemon is not there, or -errno (the reason printed). */
static int call_daemon(const char *method, const char *vm) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return 1;
        r = sd_bus_message_new_method_call(bus, &m, BATON_BUS_NAME, BATON_BUS_PATH, BATON_BUS_INTERFACE, method);
        if (r >= 0 && streq(method, "Handover"))
                r = sd_bus_message_append(m, "s", vm);
        if (r < 0) {
                fprintf(stderr, "baton: cannot build the %s call: %s\n", method, strerror(-r));
                return r;
        }
        r = sd_bus_call(bus, m, BATON_BUS_CALL_TIMEOUT_USEC, &error, &reply);
        if (r >= 0)
                return 0;
        if (daemon_missing(&error))
                return 1;
        print_failure(vm, streq(method, "Handover") ? "handover" : "return", error.message ?: strerror(-r));
        return r;
}

/* No daemon: the CLI does it in-process (or finds the daemon after all). */
static int run_cli(const char *verb, const char *vm) {
        if (streq(verb, "handover"))
                /* "--": a domain may be named "--config-dir=/tmp/x"; the CLI refuses such names. */
                execl(BATON_BINDIR "/baton", "baton", verb, "--", vm, (char *) NULL);
        else
                execl(BATON_BINDIR "/baton", "baton", verb, (char *) NULL);
        fprintf(stderr, "baton: the daemon is not running and %s/baton cannot run: %m\n", BATON_BINDIR);
        return -errno;
}

/* The domain holding the GPU now, from the marker; NULL when none is recorded. */
static char *gpu_owner(void) {
        char *vm = NULL;

        return guest_marker_read(BATON_STATEDIR, &vm) >= 0 ? vm : NULL;
}

static int prepare(const char *vm) {
        _cleanup_free_ char *owner = gpu_owner();
        int r;

        if (!isempty(owner) && !streq(owner, vm)) {
                fprintf(stderr, "baton: the GPU is in use by domain %s; stop it first\n", owner);
                return -EBUSY;
        }
        r = call_daemon("Handover", vm);
        return r == 1 ? run_cli("handover", vm) : r;
}

static int release(const char *vm) {
        _cleanup_(journal_freep) Journal *j = NULL;
        _cleanup_free_ char *owner = gpu_owner();
        int r;

        /* A domain that never got the GPU (its handover was refused, another one had
         * it) must not take it from its holder when it is released. */
        if (owner && !isempty(owner) && !streq(owner, vm))
                return 0;
        if (!owner && journal_load(BATON_RUNDIR, false, &j) == -ENOENT)
                return 0;               /* host state: nothing to return */
        r = call_daemon("Return", vm);
        return r == 1 ? run_cli("return", vm) : r;
}

/* The parse under a CPU limit: libvirt waits for the hook, and the XML comes from whoever
 * defined the domain. Past HOOK_PARSE_CPU_SEC of CPU the kernel ends the hook (SIGXCPU),
 * and libvirt refuses to start the domain. The limit is lifted afterwards: a handover
 * the hook runs in-process (without the daemon) inherits it across exec. */
#define HOOK_PARSE_CPU_SEC 10
static int parse_bounded(const char *xml, size_t n, const Machine *m, char **ret_reason) {
        struct rlimit old, cap;
        struct timespec used = {};
        int r;

        if (getrlimit(RLIMIT_CPU, &old) < 0)
                return -errno;
        (void) clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &used);
        cap = (struct rlimit) { .rlim_cur = (rlim_t) used.tv_sec + HOOK_PARSE_CPU_SEC, .rlim_max = old.rlim_max };
        if (cap.rlim_cur > old.rlim_cur)
                cap.rlim_cur = old.rlim_cur;
        if (setrlimit(RLIMIT_CPU, &cap) < 0)
                return -errno;
        r = domain_xml_takes_gpu(xml, n, m, NULL, ret_reason);
        (void) setrlimit(RLIMIT_CPU, &old);
        return r;
}

int main(int argc, char *argv[]) {
        _cleanup_(machine_freep) Machine *m = NULL;
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        const char *vm, *op, *sub;
        bool is_prepare, is_release;
        size_t n = 0;
        int r;

        if (argc < 4) {
                fprintf(stderr, "usage: %s VM OPERATION SUB-OPERATION [EXTRA] <DOMAIN-XML (libvirt's qemu hook)\n",
                        argv[0]);
                return 2;
        }
        log_set_target(LOG_TARGET_STDERR);
        vm = argv[1], op = argv[2], sub = argv[3];
        is_prepare = streq(op, "prepare") && streq(sub, "begin");
        is_release = streq(op, "release") && streq(sub, "end");
        if (!is_prepare && !is_release)
                return 0;

        r = read_stdin(&xml, &n);
        if (r < 0) {
                fprintf(stderr, "baton: cannot read the domain XML of %s: %s\n", vm, strerror(-r));
                return is_prepare ? 1 : 0;
        }
        r = machine_load("/", MACHINE_SKIP_HOLDERS, &m);
        if (r < 0) {
                fprintf(stderr, "baton: cannot read this machine's devices: %s\n", strerror(-r));
                return is_prepare ? 1 : 0;
        }
        r = parse_bounded(xml, n, m, &reason);
        if (r == -EXDEV) {
                fprintf(stderr, "baton: domain %s's baton metadata names a GPU that is not this machine's (%s)\n",
                        vm, m->gpu->address);
                return is_prepare ? 1 : 0;
        }
        if (r < 0) {
                fprintf(stderr, "baton: cannot tell whether domain %s takes the GPU: %s\n", vm,
                        r == -EBADMSG ? "malformed domain XML" :
                        r == -E2BIG ? "the domain XML is over 4 MiB, or an element has more than 64 attributes" :
                        strerror(-r));
                return is_prepare ? 1 : 0;
        }
        if (r == 0)
                return 0;

        r = is_prepare ? prepare(vm) : release(vm);
        return r < 0 ? 1 : 0;
}
