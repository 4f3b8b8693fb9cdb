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
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "child.h"
#include "config.h"
#include "config-file.h"
#include "daemon.h"
#include "doctor.h"
#include "drm-probe.h"
#include "engine.h"
#include "escape.h"
#include "guest-marker.h"
#include "holders.h"
#include "history.h"
#include "vt-progress.h"
#include "journal.h"
#include "log.h"
#include "machine.h"
#include "macro.h"
#include "notify.h"
#include "outcome.h"
#include "parse-util.h"
#include "stage.h"
#include "start.h"
#include "status.h"
#include "strv.h"
#include "transition-lock.h"

#define EXIT_USAGE 2

static const char *arg_root = "/";
static bool arg_probe_scanout = false;
static const char *arg_rundir = BATON_RUNDIR;
static const char *arg_config_dir = BATON_SYSCONFDIR;
static Config arg_config;
static uint64_t arg_deadline_usec[_DEADLINE_MAX] = {};
static uint64_t arg_start_deadline_usec = 0;
static unsigned arg_lines = 10;

typedef enum VerbFlags {
        VERB_CHANGES_MACHINE = 1 << 0,  /* refuses without a display-class GPU */
        VERB_CONFIG = 1 << 1,           /* reads baton.conf; a bad one is an error */
        VERB_CONFIG_LENIENT = 1 << 2,   /* reads it; a bad one falls back to defaults (recover) */
        VERB_VM_ARG = 1 << 3,           /* its argument is a VM name (check_vm_arg()) */
} VerbFlags;

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args;
        VerbFlags flags;
        int (*run)(int argc, char *argv[]);
} Verb;

/* "holders, unbind, ...": the names of DeadlineKind's table, for --help and errors. */
static const char *deadline_names(void) {
        static char names[128];

        if (!names[0])
                for (DeadlineKind k = 0; k < _DEADLINE_MAX; k++)
                        (void) snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                                        k > 0 ? ", " : "", deadline_kind_to_string(k));
        return names;
}

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
                "  start [VM]        Hand over and start the libvirt domain VM (default:\n"
                "                    the one domain that takes the GPU)\n"
                "  doctor            Check the machine's setup\n"
                "  config            Print the configuration in force\n"
                "  history           Show the last transitions from the system journal\n"
                "  notify            Show the word baton left for this user's login\n"
                "                    (run by an autostart entry in the desktop session)\n"
                "  input toggle      Move keyboard and mouse between host and guest\n"
                "  daemon            Run the baton daemon\n\n"
                "Options:\n"
                "  -h --help         Show this help\n"
                "     --version      Show the version\n"
                "  -n --lines N      history: how many transitions (default 10)\n"
                "     --log-level LEVEL\n"
                "                    Show messages up to LEVEL: emerg, alert, crit, err,\n"
                "                    warning, notice, info (the default) or debug, or 0-7;\n"
                "                    also $BATON_LOG_LEVEL. The daemon's level at run time:\n"
                "                    systemctl service-log-level baton.service LEVEL\n"
                "     --deadline WHAT=SECONDS\n"
                "                    How long a wait may take, WHAT one of\n"
                "                    %s;\n"
                "                    SECONDS as in baton.conf (2.5, not 2.5s)\n"
                "     --start-deadline SECONDS\n"
                "                    daemon: return the GPU when the domain it was handed over\n"
                "                    for has not started by then (default 120)\n"
                "     --probe-scanout\n"
                "                    status: open the card node to see whether a CRTC is lit\n"
                "                    (may hold DRM master for an instant: lab use)\n", deadline_names());
}

static void print_journal_state(void) {
        _cleanup_(journal_freep) Journal *j = NULL;
        _cleanup_free_ char *op = NULL;
        const JournalStage *st;
        pid_t pid = 0;
        int r;

        /* A transition that runs is no interrupted one: recover would race it (row 16). */
        r = transition_lock_holder(arg_rundir, &op, &pid);
        if (r > 0 && pid > 0) {
                printf("%-15sin progress: a %s, pid %i\n", "state", op ?: "transition", (int) pid);
                return;
        }
        if (r > 0) {
                printf("%-15sin progress: a transition in another process\n", "state");
                return;
        }

        r = journal_load(arg_rundir, false, &j);
        if (r == -ENOENT) {
                printf("%-15s%s\n", "state", "host (no transition recorded)");
                return;
        }
        if (r == -EACCES || r == -EPERM) {
                /* Not interrupted: only not readable by this user. */
                printf("%-15sunknown: %s/journal cannot be read by uid %u (%s): run 'baton status' as root\n",
                       "state", arg_rundir, (unsigned) geteuid(), strerror(-r));
                return;
        }
        if (r < 0) {
                printf("%-15sunknown: %s/journal is unreadable (%s): run 'baton recover'\n", "state",
                       arg_rundir, strerror(-r));
                return;
        }
        switch (journal_state(j)) {
        case JOURNAL_STATE_GUEST:
                printf("%-15sguest: %s is handed over\n", "state", j->gpu);
                break;
        default:
                st = journal_last_pending(j);
                printf("%-15sinterrupted transition of %s (last stage that acted: %s): run 'baton recover'\n",
                       "state", j->gpu, st ? st->name : "none");
        }
}

static int connect_daemon(sd_bus **ret);

static void print_daemon_state(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;

        if (connect_daemon(&bus) <= 0)
                return;
        if (sd_bus_call_method(bus, BATON_BUS_NAME, BATON_BUS_PATH, BATON_BUS_INTERFACE, "Status", &error,
                               &reply, NULL) < 0 || sd_bus_message_read(reply, "s", &text) < 0)
                printf("%-15s%s\n", "daemon", "running, not answering");
        else
                printf("%-15srunning: %s\n", "daemon", text);
}

static int status_run(void *userdata) {
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

        print_journal_state();
        print_daemon_state();
        status_print(stdout, m, result, probe_error);
        return fflush(stdout) == 0 ? 0 : -errno;
}

/* Row 17 of issue 19: status never blocks. A device whose driver unbind is still in the
 * kernel blocks every reader of its sysfs attributes (driver_override: 42 s in the lab), so
 * the looking is done by a child, and given up on after STATUS_TIMEOUT_USEC. */
#define STATUS_TIMEOUT_USEC (5 * 1000000ULL)
static int verb_status(int argc, char *argv[]) {
        Child c;
        int r;

        r = child_start(status_run, NULL, &c);
        if (r < 0)
                return log_error_errno(r, "Failed to start looking at the machine: %m");
        r = child_wait(&c, STATUS_TIMEOUT_USEC);
        if (r == -ETIMEDOUT) {
                child_abandon(&c);
                return log_error_errno(r, "The machine's sysfs did not answer within %llu s: the kernel is still "
                                       "writing to a device (a driver unbind in flight?). Try again later; "
                                       "'baton recover' waits for it.", STATUS_TIMEOUT_USEC / 1000000ULL);
        }
        return r;       /* the child said what failed */
}

static const char *const position_names[] = {
        [STAGE_AT_HOST] = "host",
        [STAGE_AT_GUEST] = "guest",
        [STAGE_MIXED] = "mixed (partly moved)",
        [STAGE_NOTHING_TO_DO] = "nothing to do here",
};

/* The VM named on the command line (the libvirt hook passes libvirt's name after "--"). */
static int check_vm_arg(int argc, char *argv[]) {
        _cleanup_free_ char *escaped = NULL;

        if (argc < 2 || vm_name_is_valid(argv[1]))
                return 0;
        if (escape_text(argv[1], &escaped) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Refusing the VM name \"%s\": longer than 256 bytes, "
                               "starts with '-', or holds '/' or a control character.", escaped);
}

/* The deadlines in force, which config_override_deadlines() put into the Config, each
 * marked with where it came from: --deadline, or baton.conf where it is not the default. */
static void print_deadlines(void) {
        const uint64_t *usec = config_get()->deadline_usec;
        char buf[SECONDS_STRING_MAX];

        fputs("Deadlines in force, in seconds (--deadline over baton.conf over the defaults):\n     ", stdout);
        for (DeadlineKind k = 0; k < _DEADLINE_MAX; k++)
                printf("%s %s %s%s", k > 0 ? "," : "", deadline_kind_to_string(k), format_seconds(usec[k], buf),
                       arg_deadline_usec[k] > 0 ? " (--deadline)" :
                       usec[k] != deadline_default_usec(k) ? " (baton.conf)" : "");
        putchar('\n');
}

/* A dry run: what a handover would do on this machine, stage by stage. Reads only. */
static int verb_plan(int argc, char *argv[]) {
        _cleanup_(machine_freep) Machine *m = NULL;
        const Stage *order[STAGE_TABLE_MAX];
        StageContext ctx;
        unsigned i = 0;
        int r;

        r = machine_load(arg_root, streq(arg_root, "/") ? MACHINE_DRM_LIBDRM : 0, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to read the machine below %s: %m", arg_root);
        if (!machine_has_gpu(m))
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV), "no display-class GPU on this machine: nothing to plan");

        /* No IOMMU group is no number: vfio's plan below says why that refuses the handover. */
        if (m->group.number < 0)
                printf("Handover plan for GPU %s (no IOMMU group: the IOMMU is off or absent); "
                       "nothing is changed by this command.\n", m->gpu->address);
        else
                printf("Handover plan for GPU %s (IOMMU group %d); nothing is changed by this command.\n",
                       m->gpu->address, m->group.number);
        print_deadlines();
        stage_context_init(&ctx, config_get(), arg_root);
        (void) stage_order(config_get()->stages_after, order);
        for (const Stage *const *st = order; *st; st++) {
                char **lines = NULL;
                StagePosition pos;

                r = stage_observe_once(*st, &ctx, m, &pos, &lines);
                if (r < 0)
                        printf("%2u. %-14s %s: cannot observe: %s\n", ++i, (*st)->name, (*st)->summary, strerror(-r));
                else
                        printf("%2u. %-14s %s: now %s\n", ++i, (*st)->name, (*st)->summary, position_names[pos]);
                STRV_FOREACH(l, lines)
                        printf("      %s\n", *l);
                strv_free(lines);
        }
        return fflush(stdout) == 0 ? 0 : -errno;
}

typedef struct TransitionResult {
        sd_event *event;
        int r;
        VtProgress vt;
} TransitionResult;

static void on_transition_progress(Engine *e, const char *stage, bool to_guest, bool finished, int result,
                                   uint64_t usec, void *userdata) {
        TransitionResult *t = userdata;

        vt_progress_engine(&t->vt, e, stage, to_guest, finished, result, usec);
}

static void on_transition_done(Engine *e, int r, void *userdata) {
        TransitionResult *t = userdata;

        t->r = r;
        (void) sd_event_exit(t->event, 0);
}

/* bus, when there is one, is the system bus connection made to look for the daemon: the
 * engine asks systemd on it at the request (engine_set_system_bus()), so that no worker
 * connects again for that (issue 17). */
static int run_transition(EngineOp op, const char *vm, sd_bus *bus) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(engine_freep) Engine *e = NULL;
        EngineOptions o = { .root = arg_root, .rundir = arg_rundir, .config = config_get() };
        TransitionResult t = {};
        int r;

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = engine_new(event, &o, &e);
        if (r >= 0 && op == ENGINE_HANDOVER)
                r = engine_set_vm(e, vm);       /* BATON_VM of the user's stages */
        if (r < 0)
                return log_error_errno(r, "Failed to set up the engine: %m");
        /* Without the connection the stage is observed in a worker, as on fixtures. */
        if (bus && sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL) >= 0)
                engine_set_system_bus(e, bus);
        t.event = event;
        vt_progress_init(&t.vt, arg_root, config_get()->console_progress);
        engine_set_progress(e, on_transition_progress, &t);
        r = engine_start(e, op, on_transition_done, &t);
        if (r <= 0) {
                vt_progress_done(&t.vt);
                return r;
        }
        r = sd_event_loop(event);
        if (r < 0) {
                vt_progress_done(&t.vt);
                return log_error_errno(r, "Event loop failed: %m");
        }
        vt_progress_end(&t.vt, engine_op_to_string(op), t.r, engine_rollback_incomplete(e));
        vt_progress_done(&t.vt);
        if (streq(arg_root, "/")) {     /* fixture runs are no machine's history */
                (void) history_record(e, t.r, vm, "cli");
                (void) outcome_notice(e, t.r, vm);
        }
        {
                _cleanup_free_ char *report = NULL;

                if (engine_format_timeline(e, t.r, &report) >= 0)
                        fputs(report, stdout);
        }
        if (t.r < 0 && op == ENGINE_HANDOVER) {
                size_t n;

                /* Refused by a pre-flight, or its walk of /proc, before any stage began. */
                (void) engine_timeline(e, &n);
                if (n == 0)
                        log_error("Handover refused; nothing was changed.");
                else
                        log_error("Handover failed; %s", engine_rollback_incomplete(e) ?
                                  "the rollback did not finish: run 'baton recover'" : "the host state was restored");
        }
        return t.r;
}

/* The daemon, when it runs: 1 and a bus connection to it. 0 when it does not, so that the
 * CLI does the work itself: with the system bus connection in *ret if there is one. */
static int connect_daemon(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has_owner = 0;

        if (!streq(arg_root, "/") || !streq(arg_rundir, BATON_RUNDIR))
                return 0;       /* tests on fixtures never talk to a live daemon */
        if (sd_bus_open_system(&bus) < 0)
                return 0;
        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", BATON_BUS_NAME) < 0 ||
            sd_bus_message_read(reply, "b", &has_owner) < 0)
                return 0;       /* a bus that does not answer serves nothing */
        *ret = TAKE_PTR(bus);
        return has_owner;
}

static int call_daemon(sd_bus *bus, const char *method, const char *vm) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *report;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BATON_BUS_NAME, BATON_BUS_PATH, BATON_BUS_INTERFACE, method);
        /* A desktop user who is no administrator may be asked for a password by the
         * polkit agent of the session (the launcher, a terminal with pkttyagent). */
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, true);
        if (r >= 0 && vm)
                r = sd_bus_message_append(m, "s", vm);
        if (r < 0)
                return log_error_errno(r, "Failed to build the %s call: %m", method);
        r = sd_bus_call(bus, m, BATON_BUS_CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                log_error("%s", error.message ?: strerror(-r));
                return r;
        }
        r = sd_bus_message_read(reply, "s", &report);
        if (r < 0)
                return log_error_errno(r, "Failed to read the daemon's reply: %m");
        fputs(report, stdout);
        return 0;
}

/* The persistent guest-state marker (guest-marker.h) follows the journal; the daemon
 * keeps it for the transitions it runs, this is for the in-process ones. Passes r on. */
static int update_marker(int r, const char *vm) {
        _cleanup_(journal_freep) Journal *j = NULL;
        const char *dir = streq(arg_rundir, BATON_RUNDIR) ? BATON_STATEDIR : arg_rundir;
        int k;

        if (!streq(arg_root, "/"))
                return r;
        k = journal_load(arg_rundir, false, &j);
        if (k == -ENOENT)
                k = guest_marker_remove(dir);
        else if (k >= 0 && journal_state(j) == JOURNAL_STATE_GUEST)
                k = guest_marker_write(dir, vm);
        else
                k = 0;
        if (k < 0)
                log_warning_errno(k, "Failed to update %s/" GUEST_MARKER_NAME ", ignoring: %m", dir);
        return r;
}

static int transition(EngineOp op, const char *method, const char *vm) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *guest_vm = NULL;

        if (connect_daemon(&bus) > 0)
                return call_daemon(bus, method, vm);
        /* A return or recover names, in the history, the VM that had the GPU. */
        if (!vm && streq(arg_root, "/") && streq(arg_rundir, BATON_RUNDIR))
                (void) guest_marker_read(BATON_STATEDIR, &guest_vm);
        return update_marker(run_transition(op, vm ?: guest_vm, bus), vm);
}

static int verb_handover(int argc, char *argv[]) {
        return transition(ENGINE_HANDOVER, "Handover", argc > 1 ? argv[1] : "");
}

static int verb_return(int argc, char *argv[]) {
        return transition(ENGINE_RETURN, "Return", NULL);
}

static int verb_recover(int argc, char *argv[]) {
        return transition(ENGINE_RECOVER, "Recover", NULL);
}

/* The router lives in the daemon (its input thread): without the daemon nothing holds the devices. */
static int verb_input(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (connect_daemon(&bus) <= 0)
                return log_error_errno(SYNTHETIC_ERRNO(ENXIO),
                                       "input toggle: input routing needs the daemon (baton.service), which is not running");
        r = call_daemon(bus, "ToggleInput", NULL);
        if (r >= 0)
                putchar('\n');
        return r;
}

static int verb_start(int argc, char *argv[]) {
        return baton_start(argc > 1 ? argv[1] : NULL, transition);
}

static int verb_daemon(int argc, char *argv[]) {
        DaemonOptions o = { .root = arg_root, .rundir = arg_rundir, .config_dir = arg_config_dir };

        memcpy(o.deadline_usec, arg_deadline_usec, sizeof(o.deadline_usec));
        o.domain_start_deadline_usec = arg_start_deadline_usec;
        return daemon_run(&o);
}

static int verb_doctor(int argc, char *argv[]) {
        DoctorOptions o = { .root = arg_root, .config_dir = arg_config_dir };
        int r;

        r = doctor_run(&o, stdout);
        if (r < 0)
                return log_error_errno(r, "Failed to write the report: %m");
        return r > 0 ? -EINVAL : 0;     /* a failed check; the report said which */
}

static int verb_config(int argc, char *argv[]) {
        int r;

        r = config_dump(config_get(), stdout);
        if (r < 0)
                return log_error_errno(r, "Failed to print the configuration: %m");
        return fflush(stdout) == 0 ? 0 : -errno;
}

static int verb_history(int argc, char *argv[]) {
        int r;

        r = history_print(stdout, arg_lines);
        if (r < 0)
                return log_error_errno(r, "Failed to read the system journal: %m");
        if (r == 0)
                printf("No transition recorded in the system journal.\n");
        return fflush(stdout) == 0 ? 0 : -errno;
}

static int verb_notify(int argc, char *argv[]) {
        return notify_run(NOTIFY_WAIT_USEC);
}

static const Verb verbs[] = {
        { "status",   0, 0, 0,                    verb_status },
        { "plan",     0, 1, VERB_CONFIG | VERB_VM_ARG,             verb_plan },
        { "handover", 0, 1, VERB_CHANGES_MACHINE | VERB_CONFIG | VERB_VM_ARG, verb_handover },
        { "return",   0, 0, VERB_CHANGES_MACHINE | VERB_CONFIG,    verb_return },
        { "recover",  0, 0, VERB_CHANGES_MACHINE | VERB_CONFIG_LENIENT, verb_recover },
        { "start",    0, 1, VERB_CHANGES_MACHINE | VERB_CONFIG | VERB_VM_ARG, verb_start },
        { "doctor",   0, 0, 0,                    verb_doctor },
        { "config",   0, 0, VERB_CONFIG,          verb_config },
        { "history",  0, 0, 0,                    verb_history },
        { "notify",   0, 0, 0,                    verb_notify },
        { "input",    1, 1, 0,                    verb_input },
        { "daemon",   0, 0, 0,                    verb_daemon },
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

/* Without the daemon the CLI changes the machine itself: only root may (row 18 of issue 19:
 * an unprivileged handover failed halfway on the journal's permissions, a recover started
 * acting from observation). Tests on fixture trees run as anyone. */
static int check_privileges(const char *verb) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;

        if (geteuid() == 0 || !streq(arg_root, "/") || connect_daemon(&bus) > 0)
                return 0;
        return log_error_errno(SYNTHETIC_ERRNO(EPERM),
                               "%s: refusing: the daemon (baton.service) is not running, and without it baton "
                               "changes the machine from this process, which only root may (this is uid %u). "
                               "Start baton.service (polkit then decides), or run this as root.",
                               verb, (unsigned) geteuid());
}

/* --deadline WHAT=SECONDS, SECONDS as baton.conf writes them (parse_seconds()). */
static int parse_deadline(const char *arg) {
        _cleanup_free_ char *what = NULL;
        const char *eq = strchr(arg, '=');
        DeadlineKind k;

        if (!eq)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--deadline takes WHAT=SECONDS, not '%s'", arg);
        what = strndup(arg, eq - arg);
        if (!what)
                return log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Out of memory");
        k = deadline_kind_from_string(what);
        if (k < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--deadline %s: no deadline '%s', WHAT is one of %s",
                                       arg, what, deadline_names());
        if (parse_seconds(eq + 1, &arg_deadline_usec[k]) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--deadline %s: expected " SECONDS_EXPECTED, arg);
        return 0;
}

/* --lines N: 1 to 10000, plain decimal digits. */
static int parse_lines(const char *arg) {
        unsigned long v = 0;

        for (const char *p = arg; *p; p++) {
                if (*p < '0' || *p > '9' || v > 10000)
                        goto bad;
                v = v * 10 + (unsigned long) (*p - '0');
        }
        if (*arg && v >= 1 && v <= 10000) {
                arg_lines = (unsigned) v;
                return 0;
        }
bad:
        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--lines takes a number from 1 to 10000, not '%s'", arg);
}

#define LOG_LEVELS_EXPECTED "emerg, alert, crit, err, warning, notice, info, debug or 0-7"

/* --log-level LEVEL, or $BATON_LOG_LEVEL (what names it): the level, or -EINVAL said. */
static int parse_log_level(const char *what, const char *arg) {
        int level = log_level_from_string(arg);

        if (level < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s: '%s' is no log level; expected "
                                       LOG_LEVELS_EXPECTED, what, arg);
        log_set_max_level(level);
        return 0;
}

/* Returns 0 to go on, 1 when done (help, version), or -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_ROOT, ARG_PROBE_SCANOUT, ARG_RUNDIR, ARG_DEADLINE, ARG_CONFIG_DIR, ARG_START_DEADLINE,
               ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "help",          no_argument,       NULL, 'h' },
                { "version",       no_argument,       NULL, ARG_VERSION },
                /* For tests: read sysfs, /proc and debugfs from a fixture tree. */
                { "root",          required_argument, NULL, ARG_ROOT },
                { "probe-scanout", no_argument,       NULL, ARG_PROBE_SCANOUT },
                /* For tests: keep the journal elsewhere than /run/baton, read another config. */
                { "rundir",        required_argument, NULL, ARG_RUNDIR },
                { "config-dir",    required_argument, NULL, ARG_CONFIG_DIR },
                { "deadline",      required_argument, NULL, ARG_DEADLINE },
                { "start-deadline", required_argument, NULL, ARG_START_DEADLINE },
                { "lines",         required_argument, NULL, 'n' },
                { "log-level",     required_argument, NULL, ARG_LOG_LEVEL },
                {}
        };
        const char *env;
        int c;

        /* The environment first: an option overrides it. */
        env = getenv("BATON_LOG_LEVEL");
        if (env && parse_log_level("$BATON_LOG_LEVEL", env) < 0)
                return -EINVAL;

        while ((c = getopt_long(argc, argv, "hn:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return 1;
                case ARG_VERSION:
                        puts("baton " BATON_VERSION);
                        return 1;
                case 'n':
                        if (parse_lines(optarg) < 0)
                                return -EINVAL;
                        break;
                case ARG_LOG_LEVEL:
                        if (parse_log_level("--log-level", optarg) < 0)
                                return -EINVAL;
                        break;
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                case ARG_PROBE_SCANOUT:
                        arg_probe_scanout = true;
                        break;
                case ARG_RUNDIR:
                        arg_rundir = optarg;
                        break;
                case ARG_CONFIG_DIR:
                        arg_config_dir = optarg;
                        break;
                case ARG_DEADLINE:
                        if (parse_deadline(optarg) < 0)
                                return -EINVAL;
                        break;
                case ARG_START_DEADLINE:
                        if (parse_seconds(optarg, &arg_start_deadline_usec) < 0) {
                                log_error("--start-deadline %s: expected " SECONDS_EXPECTED, optarg);
                                return -EINVAL;
                        }
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

        if ((v->flags & VERB_VM_ARG) && check_vm_arg(argc, argv) < 0)
                return EXIT_FAILURE;
        if ((v->flags & VERB_CHANGES_MACHINE) && check_privileges(v->name) < 0)
                return EXIT_FAILURE;
        /* handover, return and recover: the engine checks, in the daemon or in this process,
         * from the observation it acts on (for return and recover after waiting for a device
         * whose unbind is still in the kernel: reading it here would block without a word,
         * row 17). A look of its own here read the whole machine once more for nothing. */
        if (streq(v->name, "start") && check_gpu() < 0)
                return EXIT_FAILURE;
        if (v->flags & (VERB_CONFIG | VERB_CONFIG_LENIENT)) {
                config_init(&arg_config);
                if (config_load(arg_config_dir, &arg_config) < 0) {
                        if (v->flags & VERB_CONFIG)
                                return EXIT_FAILURE;    /* config_load() named file, line and key */
                        log_warning("Going on with the built-in defaults: recovery must not depend on a valid configuration.");
                }
                config_override_deadlines(&arg_config, arg_deadline_usec);
                config_apply_environment(&arg_config);
                config_set(&arg_config);
        }
        return v->run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        int r;

        r = parse_argv(argc, argv);
        if (r < 0)
                return EXIT_USAGE;
        if (r > 0)
                return EXIT_SUCCESS;

        /* An fd of /dev/nvidiactl inherited from the parent would hold nvidia's module
         * for as long as baton runs, and make baton a holder of the GPU it hands over. */
        r = holders_close_inherited();
        if (r < 0)
                log_debug_errno(r, "Failed to list the inherited fds, ignoring: %m");
        return dispatch(argc - optind, argv + optind);
}
