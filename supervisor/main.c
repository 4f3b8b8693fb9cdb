/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The baton command line. Exit codes, for scripts and the lab:
 *   0  success (status printed)
 *   1  failure, or a refusal: no display-class GPU for a command that would change the
 *      machine, or a command not implemented yet
 *   2  usage error: unknown command or option, wrong number of arguments
 *      (the LSB's "invalid or excess arguments", as systemctl uses it) */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "drm-probe.h"
#include "log.h"
#include "machine.h"
#include "macro.h"
#include "status.h"

#define EXIT_USAGE 2

static const char *arg_root = "/";
static bool arg_probe_scanout = false;

typedef enum VerbFlags {
        VERB_CHANGES_MACHINE = 1 << 0,  /* refuses without a display-class GPU */
} VerbFlags;

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args;
        VerbFlags flags;
        int (*run)(int argc, char *argv[]);
} Verb;

static void help(FILE *f) {
        fprintf(f,
                "Usage: baton [OPTIONS] COMMAND [ARGS]\n"
                "Hand the GPU from this desktop to a VFIO guest and back.\n\n"
                "Commands:\n"
                "  status            Show the machine as baton sees it\n"
                "  plan [VM]         Print the steps a handover would take here\n"
                "  handover [VM]     Give the GPU to the guest\n"
                "  return            Give the GPU back to the host\n"
                "  recover           Converge to the recorded host state\n"
                "  start VM          Hand over and start VM\n"
                "  doctor            Check the machine's setup\n"
                "  input toggle      Move keyboard and mouse between host and guest\n"
                "  daemon            Run the baton daemon\n\n"
                "Options:\n"
                "  -h --help         Show this help\n"
                "     --version      Show the version\n"
                "     --probe-scanout\n"
                "                    status: open the card node to see whether a CRTC is lit\n"
                "                    (may hold DRM master for an instant: lab use)\n");
}

static int verb_status(int argc, char *argv[]) {
        _cleanup_(machine_freep) Machine *m = NULL;
        const DrmProbe *result = NULL;
        int probe_error = 0, r;
        const char *card;
        DrmProbe probe;

        r = machine_load(arg_root, MACHINE_DRM_LIBDRM, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to read the machine below %s: %m", arg_root);

        /* The node names are live paths: under --root they belong to another machine. */
        card = machine_card_node(m);
        if (arg_probe_scanout && card && !streq(arg_root, "/"))
                log_warning("--probe-scanout ignored with --root: %s is a node of this machine", card);
        else if (arg_probe_scanout && card) {
                probe_error = drm_probe_card(card, &probe);
                if (probe_error >= 0)
                        result = &probe;
        }

        status_print(stdout, m, result, probe_error);
        return fflush(stdout) == 0 ? 0 : -errno;
}

static int verb_not_implemented(int argc, char *argv[]) {
        log_error("%s: not implemented yet", argv[0]);
        return -EOPNOTSUPP;
}

static const Verb verbs[] = {
        { "status",   0, 0, 0,                    verb_status },
        { "plan",     0, 1, 0,                    verb_not_implemented },
        { "handover", 0, 1, VERB_CHANGES_MACHINE, verb_not_implemented },
        { "return",   0, 0, VERB_CHANGES_MACHINE, verb_not_implemented },
        { "recover",  0, 0, VERB_CHANGES_MACHINE, verb_not_implemented },
        { "start",    1, 1, VERB_CHANGES_MACHINE, verb_not_implemented },
        { "doctor",   0, 0, 0,                    verb_not_implemented },
        { "input",    1, 1, 0,                    verb_not_implemented },
        { "daemon",   0, 0, 0,                    verb_not_implemented },
};

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

/* baton only ever acts on a display-class device; without one, nothing may change. */
static int check_gpu(void) {
        _cleanup_(machine_freep) Machine *m = NULL;
        int r;

        r = machine_load(arg_root, MACHINE_SKIP_HOLDERS, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to read the machine below %s: %m", arg_root);
        if (!machine_has_gpu(m)) {
                log_error("refusing: no display-class GPU on this machine");
                return -ENODEV;
        }
        return 0;
}

/* Returns 0 to go on, 1 when done (help, version), or -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_ROOT, ARG_PROBE_SCANOUT };
        static const struct option options[] = {
                { "help",          no_argument,       NULL, 'h' },
                { "version",       no_argument,       NULL, ARG_VERSION },
                /* For tests: read sysfs, /proc and debugfs from a fixture tree. */
                { "root",          required_argument, NULL, ARG_ROOT },
                { "probe-scanout", no_argument,       NULL, ARG_PROBE_SCANOUT },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return 1;
                case ARG_VERSION:
                        puts("baton " BATON_VERSION);
                        return 1;
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                case ARG_PROBE_SCANOUT:
                        arg_probe_scanout = true;
                        break;
                default:
                        return -EINVAL;         /* getopt_long() said why */
                }
        return 0;
}

/* Runs the command named by argv[0]; returns the exit code. */
static int dispatch(int argc, char *argv[]) {
        const Verb *v;
        unsigned n;

        if (argc <= 0) {
                log_error("missing command; see 'baton --help'");
                return EXIT_USAGE;
        }
        v = find_verb(argv[0]);
        if (!v) {
                log_error("unknown command '%s'; see 'baton --help'", argv[0]);
                return EXIT_USAGE;
        }
        n = (unsigned) argc - 1;
        if (n < v->min_args || n > v->max_args) {
                log_error("%s: wrong number of arguments; see 'baton --help'", v->name);
                return EXIT_USAGE;
        }
        if (streq(v->name, "input") && !streq(argv[1], "toggle")) {
                log_error("input: unknown action '%s', expected 'toggle'", argv[1]);
                return EXIT_USAGE;
        }

        if ((v->flags & VERB_CHANGES_MACHINE) && check_gpu() < 0)
                return EXIT_FAILURE;
        return v->run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        int r;

        r = parse_argv(argc, argv);
        if (r < 0)
                return EXIT_USAGE;
        if (r > 0)
                return EXIT_SUCCESS;

        return dispatch(argc - optind, argv + optind);
}
