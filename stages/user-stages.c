/* SPDX-License-Identifier: GPL-2.0-or-later */
/* user-stages: the user's own steps, the executables in stages.d/ of baton's configuration
 * directory (/etc/baton/stages.d), run in the order of their names: what used to be the rest
 * of a libvirt hook's start.sh and revert.sh (a USB hub, an RGB profile, a backup mount).
 *
 * The contract of a stage script (baton.conf(5), "STAGES OF YOUR OWN"):
 * - `SCRIPT to-guest` runs during the handover, after every built-in stage: the GPU is on
 *   vfio-pci and the host is tuned. `SCRIPT to-host` runs on the way back, first, in the
 *   reverse order of the names.
 * - BATON_VM holds the libvirt domain's name ("" when the handover named none: `baton
 *   handover`), BATON_GPU the GPU's PCI address, BATON_STAGE "to-guest" or "to-host".
 * - Standard output and error go to the system journal, as baton-stage-NAME; standard
 *   input is /dev/null. Exit status 0 is success.
 * - Each run may take up to the "stage" deadline (baton.conf [deadlines] stage, 30 s); then
 *   its process group is killed (SIGKILL) and the run counts as failed.
 * - A failing or killed to-guest fails the handover: the stages before it are rolled back,
 *   and every script's to-host runs, including the failed one's and those whose to-guest
 *   never ran, so to-host must be idempotent (safe to run any time, more than once).
 * - When baton runs as root it runs only scripts owned by root and writable by no one else,
 *   in a directory of the same kind; any other script refuses the handover with an error
 *   naming it. Names are [A-Za-z0-9_.:-]+ (the journal's keys); hidden files, directories
 *   and files that are not executable are skipped, as run-parts does.
 *
 * Journal: "vm" and "gpu" for the environment of the way back, then "script:NAME" = "" for
 * each script, in order. to_host runs to-host for every recorded script that still exists,
 * in reverse. Without a record (recover with no journal) no script is run: nothing says
 * which of them ran, and a reboot may have undone their work.
 *
 * Runs go through fork() and execve() (the child does nothing else) and are waited for on
 * the loop through a pidfd with the deadline (pidfd-wait.c): the loop never blocks.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "config.h"
#include "config-file.h"
#include "log.h"
#include "parse-util.h"
#include "pidfd-wait.h"
#include "stage.h"
#include "strv.h"
#include "sysfs-util.h"
#include "user-stages.h"

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"
/* How long a killed script's process may take to go away. */
#define KILL_WAIT_USEC (5 * 1000000ULL)

int user_stages_dir(const Config *c, char **ret) {
        const char *dir = c->dir;

        return asprintf(ret, "%s/stages.d", isempty(dir) ? BATON_SYSCONFDIR : dir) < 0 ? -ENOMEM : 0;
}

/* Why root must not run st's file: NULL when it may. */
const char *user_stages_refusal(const struct stat *st, bool as_root) {
        if (!as_root)
                return NULL;
        if (st->st_uid != 0)
                return "not owned by root";
        if (st->st_mode & S_IWGRP)
                return "writable by its group";
        if (st->st_mode & S_IWOTH)
                return "writable by everyone";
        return NULL;
}

/* The scripts to run, in order; *ret_error names the first one root must refuse, and why
 * (then the list is not returned). A missing directory has no scripts. */
static int list_scripts(const char *dir, char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **names = NULL, **scripts = NULL;
        bool as_root = geteuid() == 0;
        const char *why;
        struct stat st;
        int r;

        *ret_error = NULL;
        if (stat(dir, &st) < 0)
                return errno == ENOENT ? (*ret = NULL, 0) : -errno;
        why = user_stages_refusal(&st, as_root);
        if (why)
                return asprintf(ret_error, "%s is %s", dir, why) < 0 ? -ENOMEM : 0;
        r = sysfs_list_dir(NULL, dir, NULL, &names);
        if (r < 0)
                return r;
        STRV_FOREACH(n, names) {
                _cleanup_free_ char *path = NULL;

                if ((*n)[0] == '.')
                        continue;
                if (asprintf(&path, "%s/%s", dir, *n) < 0)
                        return -ENOMEM;
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                        continue;
                why = strspn(*n, NAME_CHARS) != strlen(*n) ? "named with characters other than [A-Za-z0-9_.:-]" :
                        user_stages_refusal(&st, as_root);
                if (why)
                        return asprintf(ret_error, "%s is %s", path, why) < 0 ? -ENOMEM : 0;
                r = strv_extend(&scripts, *n);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(scripts);
        return 0;
}

static int user_stages_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                               StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL, **scripts = NULL;
        _cleanup_free_ char *dir = NULL, *error = NULL;
        char wait[SECONDS_STRING_MAX];
        int r;

        r = user_stages_dir(ctx->config, &dir);
        if (r < 0)
                return r;
        r = list_scripts(dir, &scripts, &error);
        if (r < 0)
                r = strv_extendf(&plan, "%s cannot be read (%s): the handover will fail", dir, strerror(-r));
        else if (error)
                r = strv_extendf(&plan, "refused: %s; the handover will fail", error);
        else if (strv_length(scripts) == 0)
                r = strv_extendf(&plan, "no stages of your own in %s", dir);
        (void) format_seconds(ctx->deadline_usec[DEADLINE_STAGE], wait);
        STRV_FOREACH(s, scripts)
                if (r >= 0)
                        r = strv_extendf(&plan, "run %s/%s to-guest (up to %s s); to-host on the way back", dir, *s,
                                         wait);
        if (r < 0)
                return r;
        *ret_pos = strv_length(scripts) == 0 && !error ? STAGE_NOTHING_TO_DO : STAGE_AT_HOST;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* --- Running the scripts --- */

typedef struct Runner {
        Step *step;
        char *dir;
        char **scripts;         /* in the order they run */
        size_t next;
        const char *verb;       /* "to-guest", "to-host" */
        pid_t pid;
        PidfdWait *wait;
        bool killed;
        int error;              /* to-host: the first failure; the others still run */
} Runner;

static void runner_free(void *p) {
        Runner *u = p;

        if (!u)
                return;
        pidfd_wait_free(u->wait);
        if (u->pid > 0) {
                /* The step ends without the script (the daemon stops): it must not outlive it. */
                (void) kill(-u->pid, SIGKILL);
                (void) waitpid(u->pid, NULL, WNOHANG);
        }
        free(u->dir);
        strv_free(u->scripts);
        free(u);
}

/* The environment of a run: ours without BATON_*, plus the contract's variables. */
static int build_env(Runner *u, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        const char *vm = step_get(u->step, "vm"), *gpu = step_get(u->step, "gpu");
        int r = 0;

        for (char **e = environ; e && *e && r >= 0; e++)
                if (!startswith(*e, "BATON_"))
                        r = strv_extend(&env, *e);
        if (r >= 0)
                r = strv_extendf(&env, "BATON_VM=%s", strempty(vm));
        if (r >= 0)
                r = strv_extendf(&env, "BATON_GPU=%s", strempty(gpu));
        if (r >= 0)
                r = strv_extendf(&env, "BATON_STAGE=%s", u->verb);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(env);
        return 0;
}

/* The child's side: nothing but dup2() and execve() (the parent may have threads). */
static _Noreturn void child_exec(const char *path, const char *verb, char **env, int out) {
        char *argv[] = { (char *) path, (char *) verb, NULL };
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);

        (void) setpgid(0, 0);
        if (null >= 0)
                (void) dup2(null, STDIN_FILENO);
        if (out >= 0) {
                (void) dup2(out, STDOUT_FILENO);
                (void) dup2(out, STDERR_FILENO);
        }
        (void) sigprocmask(SIG_SETMASK, &(sigset_t) {}, NULL);
        execve(path, argv, env);
        _exit(127);
}

static int run_next(Runner *u);

static void runner_resume(Runner *u, int r) {
        if (r >= 0)
                r = run_next(u);
        if (r != STEP_PENDING)
                step_finish(u->step, r);        /* frees u */
}

/* The script's result, from its exit status: 0 or a logged error naming it. */
static int script_result(Runner *u, const char *name) {
        int status = 0;
        pid_t pid = u->pid;

        u->pid = 0;
        if (waitpid(pid, &status, WNOHANG) <= 0)
                return step_error_errno(u->step, SYNTHETIC_ERRNO(ECHILD),
                                        "Lost %s/%s %s (pid %i).", u->dir, name, u->verb,
                                        (int) pid);
        if (u->killed)
                return step_error_errno(u->step, SYNTHETIC_ERRNO(ETIMEDOUT),
                                        "%s/%s %s did not finish within %.0f s: killed.", u->dir, name, u->verb,
                                        step_deadline_usec(u->step, DEADLINE_STAGE) / 1e6);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                log_info("%s/%s %s: done.", u->dir, name, u->verb);
                return 0;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return step_error_errno(u->step, SYNTHETIC_ERRNO(ENOEXEC),
                                        "%s/%s %s could not be run (exit status 127).",
                                        u->dir, name, u->verb);
        if (WIFEXITED(status))
                return step_error_errno(u->step, SYNTHETIC_ERRNO(EIO),
                                        "%s/%s %s failed: exit status %i.", u->dir, name,
                                        u->verb, WEXITSTATUS(status));
        return step_error_errno(u->step, SYNTHETIC_ERRNO(EIO),
                                "%s/%s %s failed: killed by signal %s.", u->dir, name, u->verb,
                                strsignal(WTERMSIG(status)));
}

static void on_script_exit(PidfdWait *w, const pid_t *survivors, size_t n_survivors, void *userdata) {
        Runner *u = userdata;
        const char *name = u->scripts[u->next - 1];
        uint64_t now;
        int r;

        u->wait = pidfd_wait_free(w);
        if (n_survivors > 0 && !u->killed) {
                step_warning(u->step,
                             "%s/%s %s is still running after %.0f s: killing it.", u->dir, name, u->verb,
                             step_deadline_usec(u->step, DEADLINE_STAGE) / 1e6);
                u->killed = true;
                (void) kill(-u->pid, SIGKILL);
                (void) sd_event_now(step_event(u->step), CLOCK_MONOTONIC, &now);
                r = pidfd_wait_new(step_event(u->step), &u->pid, 1, now + KILL_WAIT_USEC, on_script_exit, u, &u->wait);
                if (r >= 0)
                        return;
        }
        if (n_survivors > 0) {
                r = step_error_errno(u->step, SYNTHETIC_ERRNO(ETIMEDOUT),
                                     "%s/%s %s (pid %i) does not go away even after "
                                     "SIGKILL.", u->dir, name, u->verb, (int) u->pid);
                u->pid = 0;
        } else
                r = script_result(u, name);
        if (r < 0 && !streq(u->verb, "to-guest")) {
                /* On the way back every script gets its turn; the first failure stands. */
                if (u->error == 0)
                        u->error = r;
                r = 0;
        }
        runner_resume(u, r);
}

static int start_script(Runner *u, const char *name) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *path = NULL, *ident = NULL;
        _cleanup_close_ int out = -EBADF;
        uint64_t now;
        int r;

        if (asprintf(&path, "%s/%s", u->dir, name) < 0 || asprintf(&ident, "baton-stage-%s", name) < 0)
                return step_error_errno(u->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        r = build_env(u, &env);
        if (r < 0)
                return step_error_errno(u->step, r, "Failed to run %s: %m", path);
        /* Without journald (a build machine) the output goes where baton's goes. */
        out = sd_journal_stream_fd(ident, LOG_INFO, false);
        if (out < 0)
                log_debug_errno(out, "No journal stream for %s (%m): its output goes to baton's.", path);

        log_info("Running %s %s.", path, u->verb);
        fflush(NULL);
        u->killed = false;
        u->pid = fork();
        if (u->pid < 0)
                return step_error_errno(u->step, errno, "Failed to run %s: %m", path);
        if (u->pid == 0)
                child_exec(path, u->verb, env, out);
        (void) setpgid(u->pid, u->pid);         /* the child does too: whoever is first */

        (void) sd_event_now(step_event(u->step), CLOCK_MONOTONIC, &now);
        r = pidfd_wait_new(step_event(u->step), &u->pid, 1, now + step_deadline_usec(u->step, DEADLINE_STAGE),
                           on_script_exit, u, &u->wait);
        if (r < 0) {
                (void) kill(-u->pid, SIGKILL);
                return step_error_errno(u->step, r, "Failed to wait for %s: %m", path);
        }
        return STEP_PENDING;
}

static int run_next(Runner *u) {
        _cleanup_free_ char *path = NULL;

        while (u->scripts && u->scripts[u->next]) {
                const char *name = u->scripts[u->next++];

                free(path);
                if (asprintf(&path, "%s/%s", u->dir, name) < 0)
                        return step_error_errno(u->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
                if (access(path, X_OK) < 0 && streq(u->verb, "to-host")) {
                        step_warning(u->step,
                                     "%s is gone or no longer executable: its to-host is not run.", path);
                        continue;
                }
                return start_script(u, name);
        }
        return u->error;
}

static int runner_new(Step *s, const char *verb, Runner **ret) {
        Runner *u = calloc(1, sizeof(Runner));

        if (!u)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *u = (Runner) { .step = s, .verb = verb };
        step_set_userdata(s, u, runner_free);
        if (user_stages_dir(step_config(s), &u->dir) < 0)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *ret = u;
        return 0;
}

static int user_stages_to_guest(Step *s) {
        _cleanup_free_ char *error = NULL;
        Runner *u;
        int r;

        r = runner_new(s, "to-guest", &u);
        if (r < 0)
                return r;
        r = list_scripts(u->dir, &u->scripts, &error);
        if (r < 0)
                return step_error_errno(s, r, "Failed to list %s: %m", u->dir);
        if (error)
                return step_error_errno(s, SYNTHETIC_ERRNO(EPERM),
                                        "Refusing to run the stages in %s: %s.", u->dir, error);

        r = step_record(s, "vm", strempty(step_context(s)->vm));
        if (r >= 0)
                r = step_record(s, "gpu", step_machine(s)->gpu ? step_machine(s)->gpu->address : "");
        STRV_FOREACH(n, u->scripts) {
                _cleanup_free_ char *key = NULL;

                if (r >= 0)
                        r = asprintf(&key, "script:%s", *n) < 0 ? -ENOMEM : step_record(s, key, "");
        }
        if (r >= 0)
                r = step_commit(s);
        if (r < 0)
                return step_error_errno(s, r, "Failed to record the stages of %s: %m", u->dir);
        return run_next(u);
}

static int user_stages_to_host(Step *s) {
        _cleanup_strv_free_ char **keys = NULL;
        Runner *u;
        int r;

        if (!step_has_record(s)) {
                log_info("No record of the stages of your own: none of their to-host is run.");
                return 0;
        }
        r = runner_new(s, "to-host", &u);
        if (r < 0)
                return r;
        keys = step_keys(s, "script:");
        for (size_t i = strv_length(keys); i > 0; i--) {
                r = strv_extend(&u->scripts, keys[i - 1] + strlen("script:"));
                if (r < 0)
                        return step_error_errno(s, r, "Out of memory.");
        }
        return run_next(u);
}

const Stage stage_user_stages = {
        .name = "user-stages",
        .observe_on_loop = true,
        .summary = "stages of your own (stages.d)",
        .observe = user_stages_observe,
        .to_guest = user_stages_to_guest,
        .to_host = user_stages_to_host,
};
