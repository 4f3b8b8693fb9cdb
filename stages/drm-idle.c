/* SPDX-License-Identifier: GPL-2.0-or-later */
/* drm-idle: a check, not a change. A driver must not let go of the GPU while a process
 * still uses it: nvidia's unbind blocks forever on a held node, bochs-drm leaves the
 * holder a dead fd, and a compositor that is still DRM master is still drawing.
 *
 * to_guest waits for every process holding the GPU's DRM nodes, /dev/fb*, /dev/nvidia*,
 * /dev/kfd or the group's ALSA nodes to exit: one pidfd each on the loop, one deadline
 * ("holders") for the whole wait. After every round it scans again, because a compositor
 * may respawn; when the deadline passes, its one error names every remaining holder. With
 * no holder left it checks that no DRM master remains and probes the CRTCs.
 *
 * It changes nothing on the host: it records nothing in the journal and never commits, so
 * the engine never rolls it back, and to_host returns 0 at once. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "drm-idle.h"
#include "engine.h"
#include "log.h"
#include "parse-util.h"
#include "pidfd-wait.h"
#include "stage.h"
#include "strv.h"

/* --- What the stage says: pure functions, unit-tested --- */

/* The scan is sorted by pid: a process's holders are consecutive. */
static size_t process_run(const Holder *h, size_t n) {
        size_t k = 1;

        while (k < n && h[k].pid == h[0].pid)
                k++;
        return k;
}

/* One process's line, from its holders h[0..n). wait: the deadline text, or NULL. */
static int process_line(const Holder *h, size_t n, const char *wait, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        if (wait)
                fprintf(f, "wait up to %s for pid %i (%s) to release ", wait, (int) h[0].pid, h[0].comm);
        else
                fprintf(f, "pid %i (%s) holds ", (int) h[0].pid, h[0].comm);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s%s", i > 0 ? ", " : "", h[i].node, h[i].mapped_only ? " (mapped)" : "");
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* "session 2 (labdesk, user, wayland)", or the id alone once logind forgot it. */
static void format_session(const Machine *m, const Holder *h, char *buf, size_t size) {
        const LogindSession *ls = machine_holder_session(m, h);

        if (ls)
                (void) snprintf(buf, size, "session %s (%s, %s, %s)", ls->id, ls->user, ls->class, ls->type);
        else
                (void) snprintf(buf, size, "session %s", h->session);
}

/* A line for what logind keeps open for one session, or for none (session NULL): the
 * nodes, and the session's own processes that hold them (its compositor). */
static int logind_line(const Machine *m, const char *session, pid_t self, const char *wait, char **ret) {
        const HolderScan *s = &m->holders;
        _cleanup_strv_free_ char **nodes = NULL, **procs = NULL;
        _cleanup_free_ char *joined = NULL, *who = NULL;
        char name[160] = "";
        int r = 0;

        for (size_t i = 0; i < s->n_holders && r >= 0; i++) {
                const Holder *h = &s->holders[i];

                if (h->pid == self || !streq_ptr(h->session, session) || (!session && !h->by_logind))
                        continue;
                if (session && !name[0])
                        format_session(m, h, name, sizeof(name));
                if (!strv_contains(nodes, h->node))
                        r = strv_extend(&nodes, h->node);
                if (r >= 0 && !h->by_logind)
                        r = strv_extendf(&procs, "pid %i (%s)", (int) h->pid, h->comm);
        }
        if (r >= 0)
                r = strv_join(nodes, ", ", &joined);
        if (r >= 0 && procs) {
                _cleanup_strv_free_ char **uniq = NULL;

                STRV_FOREACH(p, procs)
                        if (r >= 0 && !strv_contains(uniq, *p))
                                r = strv_extend(&uniq, *p);
                if (r >= 0)
                        r = strv_join(uniq, ", ", &who);
        }
        if (r < 0)
                return r;

        if (!session)
                r = wait ? asprintf(ret, "wait up to %s for systemd-logind to release %s (kept for a "
                                    "session that is gone)", wait, joined)
                         : asprintf(ret, "systemd-logind holds %s for a session that is gone", joined);
        else if (wait)
                r = asprintf(ret, "wait up to %s for %s to release %s (systemd-logind holds it for the "
                             "session; %s%s)", wait, name, joined, who ? "its compositor " : "",
                             who ?: "no process of the session holds it any more");
        else
                r = asprintf(ret, "%s holds %s through systemd-logind (%s%s)", name, joined,
                             who ? "its compositor " : "", who ?: "no process of it holds it any more");
        return r < 0 ? -ENOMEM : 0;
}

/* The session ids among s's holders, in pid order of their first holder; NULL first
 * when logind holds nodes for no session. */
static int holder_sessions(const HolderScan *s, pid_t self, char ***ret, bool *ret_orphaned) {
        _cleanup_strv_free_ char **ids = NULL;
        bool orphaned = false;

        for (size_t i = 0; i < s->n_holders; i++) {
                const Holder *h = &s->holders[i];

                if (h->pid == self)
                        continue;
                if (h->session && !strv_contains(ids, h->session)) {
                        if (strv_extend(&ids, h->session) < 0)
                                return -ENOMEM;
                } else if (!h->session && h->by_logind)
                        orphaned = true;
        }
        *ret = TAKE_PTR(ids);
        *ret_orphaned = orphaned;
        return 0;
}

int drm_idle_holder_lines(const Machine *m, pid_t self, uint64_t wait_usec, char ***ret) {
        const HolderScan *s = &m->holders;
        _cleanup_strv_free_ char **lines = NULL, **sessions = NULL;
        bool orphaned;
        char wait[32];
        int n = 0, r;

        format_usec(wait_usec, wait, sizeof(wait));
        lines = calloc(1, sizeof(char *));
        if (!lines)
                return -ENOMEM;
        r = holder_sessions(s, self, &sessions, &orphaned);
        if (r < 0)
                return r;
        /* What logind holds for a session is the session's: one line each, not one for
         * PID 1 and one for systemd-logind, which never exit. */
        STRV_FOREACH(id, sessions) {
                char *line;

                r = logind_line(m, *id, self, wait_usec > 0 ? wait : NULL, &line);
                if (r >= 0)
                        r = strv_consume(&lines, line);
                if (r < 0)
                        return r;
                n++;
        }
        if (orphaned) {
                char *line;

                r = logind_line(m, NULL, self, wait_usec > 0 ? wait : NULL, &line);
                if (r >= 0)
                        r = strv_consume(&lines, line);
                if (r < 0)
                        return r;
                n++;
        }
        for (size_t i = 0, k; i < s->n_holders; i += k) {
                const Holder *h = s->holders + i;
                char *line;

                k = process_run(h, s->n_holders - i);
                if (h->pid == self || h->session || h->by_logind)
                        continue;
                r = process_line(h, k, wait_usec > 0 ? wait : NULL, &line);
                if (r >= 0)
                        r = strv_consume(&lines, line);
                if (r < 0)
                        return r;
                n++;
        }
        *ret = TAKE_PTR(lines);
        return n;
}

int drm_idle_holder_pids(const HolderScan *s, pid_t self, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;

        pids = calloc(s->n_holders ?: 1, sizeof(pid_t));
        if (!pids)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_holders; i += process_run(s->holders + i, s->n_holders - i))
                if (s->holders[i].pid != self && !s->holders[i].by_logind)
                        pids[n++] = s->holders[i].pid;
        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

/* Every holder but self on one line, "; " between processes; NULL when there is none. */
static int holders_text(const Machine *m, pid_t self, char **ret) {
        _cleanup_strv_free_ char **lines = NULL;
        int r;

        r = drm_idle_holder_lines(m, self, 0, &lines);
        if (r <= 0) {
                *ret = NULL;
                return r;
        }
        return strv_join(lines, "; ", ret);
}

int drm_idle_timeout_message(const Machine *m, pid_t self, uint64_t wait_usec, char **ret) {
        _cleanup_free_ char *holders = NULL;
        char wait[32];
        int r;

        r = holders_text(m, self, &holders);
        if (r < 0)
                return r;
        if (!holders) {
                *ret = NULL;
                return 0;
        }
        format_usec(wait_usec, wait, sizeof(wait));
        if (asprintf(ret, "Timed out after %s waiting for the GPU to be released: %s", wait, holders) < 0)
                return -ENOMEM;
        return 1;
}

/* "pid 412 (cage)", or the comm alone for a client in another PID namespace (pid 0). */
static void format_client(const DrmClient *c, char *buf, size_t size) {
        if (c->pid > 0)
                (void) snprintf(buf, size, "pid %i (%s)", (int) c->pid, c->command);
        else
                (void) snprintf(buf, size, "%s in another PID namespace", c->command);
}

static int lit_crtcs_message(const char *card, const DrmProbe *p, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        unsigned n = p->n_active_crtcs < DRM_PROBE_MAX_CRTC_IDS ? p->n_active_crtcs : DRM_PROBE_MAX_CRTC_IDS;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("CRTC ", f);
        for (unsigned i = 0; i < n; i++)
                fprintf(f, "%s%" PRIu32, i > 0 ? ", " : "", p->active_crtc_ids[i]);
        if (p->n_active_crtcs > n)
                fprintf(f, " and %u more", p->n_active_crtcs - n);
        fprintf(f, " of %s still %s with no DRM master: the fbdev emulation keeps its last mode "
                "after fbcon lets go; vfio-pci takes the device over as it is",
                card, p->n_active_crtcs > 1 ? "scan out" : "scans out");
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

int drm_idle_judge_display(const char *card, const DrmClient *master, const DrmProbe *probe,
                           char **ret_message) {
        char who[64];
        int r;

        *ret_message = NULL;
        if (master) {
                format_client(master, who, sizeof(who));
                if (asprintf(ret_message, "%s still has a DRM master, %s, though no process "
                             "baton can see holds it", card, who) < 0)
                        return -ENOMEM;
                return -EBUSY;
        }
        /* Opening the card made us master unless someone else is: one we cannot see. */
        if (probe && !probe->was_master) {
                if (asprintf(ret_message, "%s still has a DRM master that no process baton can see "
                             "holds (another PID namespace, or a process baton may not inspect)",
                             card) < 0)
                        return -ENOMEM;
                return -EBUSY;
        }
        if (probe && probe->n_active_crtcs > 0) {
                r = lit_crtcs_message(card, probe, ret_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool holds_something(const HolderScan *s, pid_t pid) {
        for (size_t i = 0; i < s->n_holders; i++)
                if (s->holders[i].pid == pid)
                        return true;
        return false;
}

int drm_idle_observe_machine(const Machine *m, pid_t self, uint64_t wait_usec,
                             StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL;
        const char *card = machine_card_node(m);
        const DrmClient *master = machine_drm_master(m);
        bool busy;
        int r;

        if (!machine_has_gpu(m)) {
                *ret_pos = STAGE_NOTHING_TO_DO;
                *ret_plan = NULL;
                return 0;
        }

        r = drm_idle_holder_lines(m, self, wait_usec, &plan);
        if (r < 0)
                return r;
        busy = r > 0;
        if (master && !holds_something(&m->holders, master->pid)) {
                char who[64];

                format_client(master, who, sizeof(who));
                r = strv_extendf(&plan, "%s is DRM master of %s but holds no node baton can see: "
                                 "the handover would fail", who, card);
                if (r < 0)
                        return r;
                busy = true;
        }
        if (m->holders.n_unreadable > 0) {
                r = strv_extendf(&plan, "%u process(es) could not be inspected: what they hold is unknown",
                                 m->holders.n_unreadable);
                if (r < 0)
                        return r;
        }
        if (card) {
                r = strv_extendf(&plan, "%s that no DRM master remains on %s and probe its CRTCs "
                                 "(lit ones without a master only warn)", busy ? "then check" : "check", card);
                if (r < 0)
                        return r;
        }

        *ret_pos = busy ? STAGE_AT_HOST : STAGE_AT_GUEST;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* --- The stage --- */

/* How often to look again while only logind keeps a session's devices: it has no pid to
 * wait for that would exit, and it lets go of them when the session's compositor (a pid
 * waited for first) is gone or the session ends, a moment later. */
#define LOGIND_RECHECK_USEC (200 * 1000)

typedef struct IdleWait {
        Step *step;
        PidfdWait *wait;
        sd_event_source *recheck;       /* while only logind holds nodes */
        size_t n_survivors;             /* of the last wait, while the machine is read again */
        uint64_t wait_usec;             /* the whole wait, for messages */
        uint64_t deadline;              /* CLOCK_MONOTONIC; one for every round */
} IdleWait;

static void idle_wait_free(void *p) {
        IdleWait *iw = p;

        if (!iw)
                return;
        pidfd_wait_free(iw->wait);
        sd_event_source_disable_unref(iw->recheck);
        free(iw);
}

static int drm_idle_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                            StagePosition *ret_pos, char ***ret_plan) {
        return drm_idle_observe_machine(m, getpid(), ctx->deadline_usec[DEADLINE_HOLDERS], ret_pos, ret_plan);
}

/* No process holds the GPU's nodes any more: judge what is left on the display. */
static int check_display(Step *s, const Machine *m) {
        _cleanup_free_ char *message = NULL;
        const char *card = machine_card_node(m);
        DrmProbe probe;
        bool probed = false;
        int r;

        if (!card) {
                log_debug("The GPU has no DRM card node: no DRM master or scan-out to check.");
                return 0;
        }
        if (m->clients_error < 0)
                log_debug_errno(m->clients_error, "DRM clients of %s unknown (%m): the probe looks for a master.",
                                card);

        /* A fixture root describes another machine: its card is not this one's. */
        if (!step_is_live(s))
                log_debug("Not probing %s: the machine is read from %s.", card, step_root(s));
        else {
                r = drm_probe_card(card, &probe);
                if (r < 0)
                        step_warning_errno(s, r,
                                           "Failed to probe %s for a DRM master and lit CRTCs, ignoring: %m",
                                           card);
                probed = r >= 0;
        }

        r = drm_idle_judge_display(card, machine_drm_master(m), probed ? &probe : NULL, &message);
        if (r < 0 && !message)
                return step_error_errno(s, r, "Failed to judge the display of %s: %m", card);
        if (r < 0)
                return step_error_errno(s, r, "%s", message);
        if (message)
                step_warning(s, "%s", message);
        return 0;
}

static void on_holders_gone(PidfdWait *w, const pid_t *survivors, size_t n_survivors, void *userdata);
static int on_recheck(sd_event_source *source, uint64_t usec, void *userdata);

/* The wait is over with holders left: the error naming them (fallback when the scan names
 * nobody), or 0 when there is neither. */
static int holders_timed_out(const IdleWait *iw, const Machine *m, const char *fallback) {
        _cleanup_free_ char *message = NULL;
        int r;

        r = drm_idle_timeout_message(m, getpid(), iw->wait_usec, &message);
        if (r < 0)
                return step_error_errno(iw->step, r, "Failed to describe the GPU's holders: %m");
        if (!message && !fallback)
                return 0;
        return step_error_errno(iw->step, SYNTHETIC_ERRNO(EBUSY), "%s", message ?: fallback);
}

/* One round: wait for the processes that hold the GPU now, or, when none do, check the
 * display. Returns STEP_PENDING while waiting. */
static int wait_or_check(IdleWait *iw, const Machine *m) {
        _cleanup_free_ char *holders = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        char left[32];
        uint64_t now;
        size_t n;
        int r;

        r = drm_idle_holder_pids(&m->holders, getpid(), &pids, &n);
        if (r < 0)
                return step_error_errno(iw->step, r, "Failed to list the GPU's holders: %m");
        r = holders_text(m, getpid(), &holders);
        if (r < 0)
                return step_error_errno(iw->step, r, "Failed to describe the GPU's holders: %m");
        if (n == 0 && !holders)
                return check_display(iw->step, m);
        r = sd_event_now(step_event(iw->step), CLOCK_MONOTONIC, &now);
        if (r < 0)
                return step_error_errno(iw->step, r, "Failed to read the loop's clock: %m");
        /* Listed as holders, yet not there to wait for (a pid of another pid namespace,
         * a fixture's /proc): each round would end at once, forever. */
        if (now >= iw->deadline)
                return holders_timed_out(iw, m, holders);
        format_usec(iw->deadline > now ? iw->deadline - now : 0, left, sizeof(left));
        if (n == 0) {
                log_info("Waiting up to %s for systemd-logind to let go: %s", left, holders);
                r = sd_event_add_time(step_event(iw->step), &iw->recheck, CLOCK_MONOTONIC,
                                      now + LOGIND_RECHECK_USEC < iw->deadline ? now + LOGIND_RECHECK_USEC : iw->deadline, 0, on_recheck, iw);
                if (r < 0)
                        return step_error_errno(iw->step, r, "Failed to arm a timer: %m");
                return STEP_PENDING;
        }
        log_info("Waiting up to %s for %zu process(es) to exit: %s", left, n, holders);

        r = pidfd_wait_new(step_event(iw->step), pids, n, iw->deadline, on_holders_gone, iw, &iw->wait);
        if (r < 0)
                return step_error_errno(iw->step, r, "Failed to watch the processes holding the GPU: %m");
        return STEP_PENDING;
}

/* What holds the nodes now is what counts, exited or not: a compositor may have respawned, a
 * survivor may have closed its fds without exiting. The machine is read again, its walk of
 * /proc awaited on the loop. */
static void on_reobserved(Step *s, int r, const Machine *m, void *userdata) {
        IdleWait *iw = userdata;

        if (r < 0) {
                step_finish(s, step_error_errno(s, r, "Failed to observe the machine again: %s",
                                                step_observe_error(r)));
                return;
        }
        if (iw->n_survivors > 0) {
                r = holders_timed_out(iw, m, NULL);
                if (r < 0) {
                        step_finish(s, r);
                        return;
                }
        }
        r = wait_or_check(iw, m);
        if (r != STEP_PENDING)
                step_finish(s, r);
}

static void reobserve(IdleWait *iw, size_t n_survivors) {
        int r;

        iw->n_survivors = n_survivors;
        r = step_reobserve_async(iw->step, on_reobserved, iw);
        if (r < 0)
                step_finish(iw->step, step_error_errno(iw->step, r, "Failed to observe the machine again: %s",
                                                       step_observe_error(r)));
}

static void on_holders_gone(PidfdWait *w, const pid_t *survivors, size_t n_survivors, void *userdata) {
        IdleWait *iw = userdata;

        iw->wait = pidfd_wait_free(w);
        reobserve(iw, n_survivors);
}

static int on_recheck(sd_event_source *source, uint64_t usec, void *userdata) {
        IdleWait *iw = userdata;

        iw->recheck = sd_event_source_disable_unref(iw->recheck);
        reobserve(iw, 0);
        return 0;
}

static int drm_idle_to_guest(Step *s) {
        const Machine *m = step_machine(s);
        IdleWait *iw;
        uint64_t now;
        int r;

        if (m->holders.n_unreadable > 0)
                step_warning(s, "%u process(es) could not be inspected for the GPU's nodes; "
                             "waiting only for the ones baton can see.", m->holders.n_unreadable);

        r = sd_event_now(step_event(s), CLOCK_MONOTONIC, &now);
        if (r < 0)
                return step_error_errno(s, r, "Failed to read the loop's clock: %m");
        iw = calloc(1, sizeof(*iw));
        if (!iw)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *iw = (IdleWait) { .step = s, .wait_usec = step_deadline_usec(s, DEADLINE_HOLDERS) };
        iw->deadline = now + iw->wait_usec;
        /* The step owns the wait from here: its sources and pidfds go when the step ends. */
        step_set_userdata(s, iw, idle_wait_free);

        return wait_or_check(iw, m);
}

static int drm_idle_to_host(Step *s) {
        return 0;       /* nothing was changed */
}

const Stage stage_drm_idle = {
        .name = "drm-idle",
        .observe_on_loop = true,
        .observes_holders = true,
        .summary = "wait until no process, DRM master or scan-out uses the GPU",
        .observe = drm_idle_observe,
        .to_guest = drm_idle_to_guest,
        .to_host = drm_idle_to_host,
};
