/* SPDX-License-Identifier: GPL-2.0-or-later */
/* audio: PipeWire's hold on the GPU's HDMI/DP audio function (audio/).
 *
 * WirePlumber keeps every sound card open, the GPU's audio function's too, and a driver
 * cannot be unbound from a card that is held. to_guest takes the card from the user's
 * PipeWire the way the device reservation protocol means it to be taken: it owns
 * org.freedesktop.ReserveDevice1.Audio<N> on the user's session bus (WirePlumber is asked
 * to release it, loses the name and closes that card only; the other cards keep playing).
 * With [audio] release = stop-units, or when the reservation fails, it stops the user's
 * PipeWire units instead through the user's systemd manager, sockets first so that nothing
 * starts PipeWire again. Either way it then waits, within the "holders" deadline and on
 * inotify close events and PipeWire's registry (never by polling), until no process holds
 * the card's /dev/snd nodes and PipeWire lists no device for the card.
 *
 * The reservation lasts as long as the stage's instance (the engine's, so this process): it
 * is kept in the AudioStage, the only state that outlives a step, and freed when a walk
 * towards the host begins (before_host). The daemon holds it until the return. A CLI that hands over without
 * the daemon frees it when it exits: WirePlumber then lists the card's Device again
 * (profile "off", the card itself being gone) until the card comes back.
 *
 * to_host releases the names this process holds, starts the recorded units that were
 * running (a no-op job for running ones), then waits within the "probe" deadline until
 * PipeWire lists a device for each recorded function again; past the deadline it warns
 * and is done (the card is back with its driver either way). It does not wait for the
 * PipeWire of a user logind has logged out (the session stage's logout): that one ends with
 * their systemd manager, and their next login's takes the card up. The units are still
 * started: the next login may reuse a manager that has not stopped yet. Without a record it
 * does nothing: PipeWire takes every card that appears by itself.
 *
 * Journal: "user" = the user whose PipeWire held the card; "method" = reserve or
 * stop-units; "card.ADDR" = the function's ALSA card number; "unit.NAME" = "1" for each
 * PipeWire unit that was active.
 *
 * observe() reads the holders of the group's sound nodes from the Machine: nothing to do
 * when nobody holds them, or with [audio] release = none.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "audio-cards.h"
#include "parse-util.h"
#include "pw-watch.h"
#include "reserve.h"
#include "snd-idle.h"
#include "config-file.h"
#include "drm-idle.h"
#include "log.h"
#include "user.h"
#include "stage.h"
#include "strv.h"
#include "sysfs-util.h"
#include "unit-job.h"

/* Sockets first: a socket left listening would start its service again. */
static const char *const pipewire_units[] = {
        "pipewire.socket", "pipewire-pulse.socket",
        "pipewire.service", "pipewire-pulse.service", "wireplumber.service",
        NULL,
};

/* The stage's instance: the reservations it holds (see the comment at the top). */
typedef struct AudioStage {
        StageInstance base;
        Reservation **kept;
        size_t n_kept;
} AudioStage;

static void kept_release_all(StageInstance *self, bool say) {
        AudioStage *st = (AudioStage *) self;

        for (size_t i = 0; i < st->n_kept; i++) {
                if (say)
                        log_info("Releasing org.freedesktop.ReserveDevice1.%s.", reservation_device(st->kept[i]));
                reservation_free(st->kept[i]);
        }
        st->kept = mfree(st->kept);
        st->n_kept = 0;
}

/* The process lets go of them anyway when it exits, right after. */
static void audio_stage_done(StageInstance *self) {
        kept_release_all(self, false);
}

typedef struct Audio Audio;

struct Audio {
        Step *step;
        UserIdentity user;
        AudioCard *cards;
        size_t n_cards;
        char **nodes;                   /* the cards' /dev/snd nodes */
        char **units;                   /* units to stop or start, in order */
        size_t next_unit;
        bool to_guest;
        Reservation **pending;          /* reservations in flight */
        size_t n_pending, n_waiting;
        UnitJob *job;
        sd_bus *bus;                    /* the user's bus, for the unit queries and jobs */
        UserBusOpen *open;              /* a connection being made, by a child as the user */
        int (*then)(Audio *a, sd_bus *bus);     /* what the connection is for (takes it) */
        int (*connect_failed)(Audio *a, int r);
        UnitQuery *query;
        size_t next_query, next_card;
        AudioRelease release;
        bool fell_back;                 /* a reservation failed: the units are stopped instead */
        bool logged_out;                /* to_host: logind has the user logged out */
        PwWatch *pw;
        SndWatch *snd;
        sd_event_source *timer;
        uint64_t timeout_usec;
        /* A look at who holds the cards' nodes: a walk of /proc awaited on the loop. Something
         * changed while it walked (walk_again): look again. The deadline passed (walk_final):
         * its answer is the error's. */
        HoldersWalk *walk;
        bool walk_again, walk_final;
};

static void audio_free(void *p) {
        Audio *a = p;

        if (!a)
                return;
        for (size_t i = 0; i < a->n_pending; i++)
                reservation_free(a->pending[i]);
        free(a->pending);
        unit_job_free(a->job);
        unit_query_free(a->query);
        user_bus_open_free(a->open);
        sd_bus_unref(a->bus);
        pw_watch_free(a->pw);
        snd_watch_free(a->snd);
        holders_walk_free(a->walk);
        sd_event_source_disable_unref(a->timer);
        user_identity_done(&a->user);
        audio_cards_free(a->cards, a->n_cards);
        strv_free(a->nodes);
        strv_free(a->units);
        free(a);
}

/* --- Who: the configured user, else the seat0 desktop user, else a holder's owner --- */

static int holder_uid(const Machine *m, uid_t *ret) {
        for (size_t i = 0; i < m->holders.n_holders; i++) {
                const Holder *h = &m->holders.holders[i];
                char path[64];
                struct stat st;

                if (!strv_contains(m->snd_nodes, h->node))
                        continue;
                snprintf(path, sizeof(path), "/proc/%d", (int) h->pid);
                if (stat(path, &st) >= 0 && st.st_uid != 0) {
                        *ret = st.st_uid;
                        return 0;
                }
        }
        return -ENXIO;
}

static int find_user(const Config *c, const Machine *m, UserIdentity *ret) {
        const char *name = c->audio_user;
        uid_t seat = 0, holder = 0, uid;
        int seat_r, holder_r, r;

        if (!isempty(name))
                return user_identity_from_name(name, ret);
        seat_r = user_seat0_desktop_uid(&seat);
        holder_r = seat_r >= 0 ? -ENXIO : holder_uid(m, &holder);
        r = audio_pick_user(seat_r, seat, holder_r, holder, &uid);
        if (r < 0)
                return r;
        return user_identity_from_uid(uid, ret);
}

static size_t count_holders(const Machine *m) {
        size_t n = 0;

        for (size_t i = 0; i < m->holders.n_holders; i++)
                if (strv_contains(m->snd_nodes, m->holders.holders[i].node))
                        n++;
        return n;
}

/* --- observe --- */

static int audio_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                         StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL, **functions = NULL;
        AudioRelease release = ctx->config->audio_release;
        AudioCard *cards = NULL;
        size_t n_cards = 0, n_holders;
        StagePosition pos = STAGE_NOTHING_TO_DO;
        int r;

        r = audio_functions_of_group(m, &functions);
        if (r < 0)
                return r;
        r = audio_cards_of_group(m, &cards, &n_cards);
        if (r < 0)
                return r;
        n_holders = count_holders(m);

        if (strv_length(functions) == 0)
                r = strv_extend(&plan, "the GPU's IOMMU group has no audio function");
        else if (release == AUDIO_RELEASE_NONE)
                r = strv_extend(&plan, "[audio] release = none: PipeWire is left alone");
        else if (n_cards == 0)
                r = strv_extend(&plan, "no sound card on the group's audio functions: nothing to release");
        else if (n_holders == 0)
                r = strv_extend(&plan, "no process holds the group's sound cards: nothing to release");
        else {
                pos = STAGE_AT_HOST;
                r = 0;
                for (size_t i = 0; r >= 0 && i < n_cards; i++)
                        r = release == AUDIO_RELEASE_RESERVE ?
                                strv_extendf(&plan, "take org.freedesktop.ReserveDevice1.Audio%u on the user's "
                                             "session bus (card %u, %s); stop the user's PipeWire units "
                                             "if that fails", cards[i].index, cards[i].index,
                                             cards[i].pci_address) :
                                strv_extendf(&plan, "stop the user's PipeWire units, sockets first (card %u, %s)",
                                             cards[i].index, cards[i].pci_address);
                if (r >= 0)
                        r = strv_extendf(&plan, "wait for %zu holder(s) of the cards' /dev/snd nodes to close them",
                                         n_holders);
        }
        audio_cards_free(cards, n_cards);
        if (r < 0)
                return r;
        *ret_pos = pos;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* --- Waiting: until the cards are free (to_guest) or back in PipeWire (to_host) --- */

static void audio_done(Audio *a, int r) {
        AudioStage *st = (AudioStage *) step_instance(a->step);

        if (r >= 0 && a->to_guest)
                for (size_t i = 0; i < a->n_pending; i++) {
                        Reservation **k = array_append(&st->kept, &st->n_kept, sizeof(Reservation *));

                        if (!k) {
                                r = step_error_errno(a->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
                                break;
                        }
                        *k = TAKE_PTR(a->pending[i]);
                }
        step_finish(a->step, r);        /* frees a */
}

static void on_card_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata);

/* For the holders of every node of the GPU's group, not only the cards': the last look, the
 * one that finds the cards free, is what drm-idle would walk for next (step_offer_holders()). */
static int look_at_holders(Audio *a) {
        return machine_walk_holders(step_machine(a->step), step_event(a->step), NULL, on_card_walked, a, &a->walk);
}

static void evaluate(Audio *a) {
        const char *name;
        int r;

        if (a->pw && !a->to_guest) {
                for (size_t i = 0; i < a->n_cards; i++)
                        if (!pw_watch_has_card(a->pw, a->cards[i].pci_address, -1, NULL))
                                return;
                log_info("PipeWire has the GPU's sound card again.");
                return audio_done(a, 0);
        }
        if (a->pw)
                for (size_t i = 0; i < a->n_cards; i++)
                        if (pw_watch_has_card(a->pw, a->cards[i].pci_address, a->cards[i].index, &name)) {
                                log_debug("PipeWire still lists %s.", strna(name));
                                return;
                        }
        if (a->walk) {
                a->walk_again = true;
                return;
        }
        r = look_at_holders(a);
        if (r < 0)
                audio_done(a, step_error_errno(a->step, r, "Failed to look for holders of the sound card: %m"));
}

/* Whether the walk found the cards free: done; else wait for the next change. */
static void on_card_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata) {
        _cleanup_free_ char *holders = NULL;
        Audio *a = userdata;
        char wait[32];

        a->walk = holders_walk_free(hw);
        if (r >= 0)
                r = snd_holders_format(scan, a->nodes, getpid(), &holders);
        if (a->walk_final) {
                format_usec(a->timeout_usec, wait, sizeof(wait));
                return audio_done(a, step_error_errno(a->step, SYNTHETIC_ERRNO(ETIMEDOUT),
                                                      "Timed out after %s waiting for the GPU's sound card to be "
                                                      "released: %s", wait,
                                                      holders ?: "PipeWire still lists its device"));
        }
        if (r < 0)
                return audio_done(a, step_error_errno(a->step, r, "Failed to look for holders of the sound card: %s",
                                                      step_observe_error(r)));
        if (a->walk_again) {
                /* A node closed, or PipeWire changed, while it walked: this look may be stale. */
                a->walk_again = false;
                return evaluate(a);
        }
        if (holders) {
                log_debug("Still held: %s", holders);
                return;
        }
        log_info("No process holds the GPU's sound card any more.");
        step_offer_holders(a->step, scan);
        audio_done(a, 0);
}

/* On the way home the user's PipeWire may be gone with their systemd manager (a logout's,
 * seconds after the session): the card is back with its driver, and their next PipeWire takes
 * it up by itself, as after the deadline. A warning, never a failed return (what: what was
 * seen of it). */
static int home_without_pipewire(Audio *a, int r, const char *what) {
        step_warning_errno(a->step, r, "%s's PipeWire %s (%m): the GPU's sound card is back with its driver, and "
                           "their next PipeWire takes it up.", a->user.name, what);
        return 0;
}

/* The session stage logged the user out, or they did: their PipeWire ends with their systemd
 * manager (logind stops it UserStopDelaySec after the last session, 10 s by default), and the
 * PipeWire of their next login takes the card up. In the lab, waiting for the one that was
 * ending took 3.3 s to 8 s of GNOME's return, and ended in its going away. */
static int home_logged_out(Audio *a) {
        log_info("%s is logged out: the GPU's sound card is back with its driver, and the PipeWire of their "
                 "next login takes it up.", a->user.name);
        return 0;
}

static void on_pw_changed(PwWatch *w, int r, void *userdata) {
        Audio *a = userdata;

        if (r < 0 && a->to_guest) {
                /* PipeWire stopped (stop-units): only the holders count now. */
                a->pw = pw_watch_free(a->pw);
                return evaluate(a);
        }
        if (r < 0)
                return audio_done(a, home_without_pipewire(a, r, "went away before it listed the card again"));
        evaluate(a);
}

static void on_closed(void *userdata) {
        evaluate(userdata);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Audio *a = userdata;
        char wait[32];
        int r;

        format_usec(a->timeout_usec, wait, sizeof(wait));
        if (!a->to_guest) {
                /* Row 13 of issue 19: the card is back with its driver (vfio's to_host ran
                 * first); PipeWire listing it is only the confirmation. A slow WirePlumber
                 * failed the return or rollback and kept the journal even after recover. */
                step_warning(a->step,
                             "%s's PipeWire did not list the GPU's sound card (%s) again within %s: the card "
                             "is back with its driver, and PipeWire takes it up by itself.",
                             a->user.name, a->cards[0].pci_address, wait);
                audio_done(a, 0);
                return 0;
        }
        /* The error names the holders a last look finds: the one under way, or a new one. */
        a->walk_final = true;
        r = a->walk ? 0 : look_at_holders(a);
        if (r < 0)
                audio_done(a, step_error_errno(a->step, SYNTHETIC_ERRNO(ETIMEDOUT),
                                               "Timed out after %s waiting for the GPU's sound card to be released: "
                                               "PipeWire still lists its device", wait));
        return 0;
}

static int start_wait(Audio *a, DeadlineKind deadline) {
        Step *s = a->step;
        int r;

        a->timeout_usec = step_deadline_usec(s, deadline);
        r = sd_event_add_time_relative(step_event(s), &a->timer, CLOCK_MONOTONIC, a->timeout_usec, 0,
                                       on_timeout, a);
        if (r < 0)
                return step_error_errno(a->step, r, "Failed to set up a deadline: %m");
        if (a->to_guest) {
                r = snd_watch_new(step_event(s), a->nodes, on_closed, a, &a->snd);
                if (r < 0)
                        return step_error_errno(a->step, r, "Failed to watch the sound card's nodes: %m");
        }
        r = pw_watch_new(step_event(s), &a->user, on_pw_changed, a, &a->pw);
        if (r < 0 && a->to_guest) {
                log_debug_errno(r, "PipeWire of %s not reachable (%m): waiting for the holders only.",
                                a->user.name);
                evaluate(a);
                return STEP_PENDING;
        }
        if (r < 0) {
                audio_done(a, home_without_pipewire(a, r, "is not reachable"));
                return STEP_PENDING;
        }
        return STEP_PENDING;
}

/* --- Units: stopped in order for the guest, started in order for the host --- */

static int next_unit(Audio *a);

static void on_unit_job(UnitJob *j, int r, const char *message, void *userdata) {
        Audio *a = userdata;

        a->job = unit_job_free(j);
        if (r < 0)
                return audio_done(a, step_error_errno(a->step, r, "%s", message));
        step_crash_point(a->step, a->to_guest ? "a PipeWire unit stopped, before the next"
                                              : "a PipeWire unit started, before the next");
        r = next_unit(a);
        if (r != STEP_PENDING)
                audio_done(a, r);
}

/* The connections to the user's bus are made by a child as the user (session/user.h),
 * awaited on the loop: then() gets the connection, attached to the loop. */
static void on_bus_open(UserBusOpen *o, int r, sd_bus *bus, void *userdata) {
        Audio *a = userdata;

        a->open = user_bus_open_free(o);
        if (r >= 0)
                r = sd_bus_attach_event(bus, step_event(a->step), SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                sd_bus_unref(bus);
                r = a->connect_failed(a, r);
        } else
                r = a->then(a, bus);
        if (r != STEP_PENDING)
                audio_done(a, r);
}

static int open_bus(Audio *a, int (*then)(Audio *a, sd_bus *bus), int (*connect_failed)(Audio *a, int r)) {
        int r;

        a->then = then;
        a->connect_failed = connect_failed;
        r = user_bus_open_async(&a->user, step_event(a->step), on_bus_open, a, &a->open);
        return r < 0 ? connect_failed(a, r) : STEP_PENDING;
}

static int units_connect_failed(Audio *a, int r) {
        if (!a->to_guest)       /* logged out: no bus and no systemd manager left */
                return a->logged_out ? home_logged_out(a) : home_without_pipewire(a, r, "has no session bus left");
        return step_error_errno(a->step, r, "Failed to connect to %s's session bus: %m", a->user.name);
}

static int next_unit_on_bus(Audio *a, sd_bus *bus) {
        a->bus = bus;
        return next_unit(a);
}

static int next_unit(Audio *a) {
        const char *method = a->to_guest ? "StopUnit" : "StartUnit";
        const char *unit;
        int r;

        if (!a->units || !a->units[a->next_unit])
                return !a->to_guest && a->logged_out ? home_logged_out(a) :
                       start_wait(a, a->to_guest ? DEADLINE_HOLDERS : DEADLINE_PROBE);
        if (!a->bus)
                return open_bus(a, next_unit_on_bus, units_connect_failed);
        unit = a->units[a->next_unit++];
        log_info("%s %s of %s.", a->to_guest ? "Stopping" : "Starting", unit, a->user.name);
        r = unit_job_run(a->bus, step_event(a->step), method, unit, step_deadline_usec(a->step, DEADLINE_UNIT),
                         on_unit_job, a, &a->job);
        if (r < 0)
                return step_error_errno(a->step, r, "Failed to %s %s of %s: %m", unit_job_verb(method), unit,
                                        a->user.name);
        return STEP_PENDING;
}

/* --- to_guest --- */

static void on_reserved(Reservation *rv, int r, const char *message, void *userdata) {
        Audio *a = userdata;

        if (r < 0) {
                step_warning_errno(a->step, r,
                                   "%s: stopping %s's PipeWire units instead.", message, a->user.name);
                for (size_t i = 0; i < a->n_pending; i++)
                        if (a->pending[i] == rv)
                                a->pending[i] = reservation_free(rv);
                a->n_waiting = 0;
                a->fell_back = true;
                r = next_unit(a);
                if (r != STEP_PENDING)
                        audio_done(a, r);
                return;
        }
        log_info("Took org.freedesktop.ReserveDevice1.%s from %s's PipeWire.", reservation_device(rv),
                 a->user.name);
        if (a->fell_back || --a->n_waiting > 0)
                return;
        step_crash_point(a->step, "reserved, before the holders are checked");
        r = start_wait(a, DEADLINE_HOLDERS);
        if (r != STEP_PENDING)
                audio_done(a, r);
}

static int reserve_connect_failed(Audio *a, int r) {
        step_warning_errno(a->step, r,
                           "Failed to connect to %s's session bus (%m): stopping the PipeWire units instead.",
                           a->user.name);
        a->n_waiting = 0;
        a->fell_back = true;
        return next_unit(a);
}

/* Each reservation holds its name on a connection of its own (closing it releases the name):
 * one connection per card, each made when the one before is. */
static int reserve_on_bus(Audio *a, sd_bus *bus) {
        _cleanup_free_ char *device = NULL;
        Reservation **rv;
        int r;

        if (a->fell_back) {
                sd_bus_unref(bus);
                return STEP_PENDING;
        }
        r = audio_reserve_device_name(a->cards[a->next_card++].index, &device);
        if (r < 0) {
                sd_bus_unref(bus);
                return step_error_errno(a->step, r, "Out of memory.");
        }
        rv = array_append(&a->pending, &a->n_pending, sizeof(Reservation *));
        if (!rv) {
                sd_bus_unref(bus);
                return step_error_errno(a->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        }
        r = reservation_new(bus, device, step_deadline_usec(a->step, DEADLINE_UNIT), on_reserved, a, rv);
        if (r < 0)
                return step_error_errno(a->step, r,
                                        "Failed to request org.freedesktop.ReserveDevice1.%s: %m", device);
        if (a->next_card < a->n_cards)
                return open_bus(a, reserve_on_bus, reserve_connect_failed);
        return STEP_PENDING;
}

static int reserve_all(Audio *a) {
        if (a->n_cards == 0)
                return start_wait(a, DEADLINE_HOLDERS);
        a->n_waiting = a->n_cards;
        return open_bus(a, reserve_on_bus, reserve_connect_failed);
}

/* --- Which of the PipeWire units are running: asked once, before anything changes --- */

static int record(Audio *a, AudioRelease release);

static int units_known(Audio *a) {
        int r;

        r = record(a, a->release);
        if (r < 0)
                return step_error_errno(a->step, r, "Failed to record the audio state: %m");
        if (a->release == AUDIO_RELEASE_STOP_UNITS)
                return next_unit(a);
        return reserve_all(a);
}

static int query_next(Audio *a);

static void on_unit_info(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata) {
        Audio *a = userdata;
        const char *unit = pipewire_units[a->next_query++];

        a->query = unit_query_free(q);
        if (r < 0)
                r = step_error_errno(a->step, r,
                                     "Failed to ask %s's systemd manager about PipeWire: %s", a->user.name,
                                     message);
        else if (unit_info_exists(info) && unit_active_state_is_up(info->active_state) &&
                 strv_extend(&a->units, unit) < 0)
                r = step_error_errno(a->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        else
                r = query_next(a);
        if (r != STEP_PENDING)
                audio_done(a, r);
}

static int query_next(Audio *a) {
        const char *unit = pipewire_units[a->next_query];
        int r;

        if (!unit)
                return units_known(a);
        r = unit_query_new(a->bus, unit, step_deadline_usec(a->step, DEADLINE_UNIT), on_unit_info, a, &a->query);
        if (r < 0)
                return step_error_errno(a->step, r,
                                        "Failed to ask %s's systemd manager about %s: %m", a->user.name, unit);
        return STEP_PENDING;
}

static int query_on_bus(Audio *a, sd_bus *bus) {
        a->bus = bus;
        return query_next(a);
}

static int query_connect_failed(Audio *a, int r) {
        return step_error_errno(a->step, r,
                                "Failed to ask %s's systemd manager about PipeWire: %m", a->user.name);
}

static int audio_new(Step *s, bool to_guest, Audio **ret) {
        Audio *a = calloc(1, sizeof(Audio));

        if (!a)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *a = (Audio) { .step = s, .to_guest = to_guest };
        step_set_userdata(s, a, audio_free);
        *ret = a;
        return 0;
}

static int record(Audio *a, AudioRelease release) {
        Step *s = a->step;
        int r;

        r = step_record(s, "user", a->user.name);
        if (r >= 0)
                r = step_record(s, "method", audio_release_to_string(release));
        for (size_t i = 0; r >= 0 && i < a->n_cards; i++) {
                _cleanup_free_ char *key = NULL;

                if (asprintf(&key, "card.%s", a->cards[i].pci_address) < 0)
                        return -ENOMEM;
                r = step_recordf(s, key, "%u", a->cards[i].index);
        }
        STRV_FOREACH(unit, a->units) {
                _cleanup_free_ char *key = NULL;

                if (r < 0)
                        break;
                if (asprintf(&key, "unit.%s", *unit) < 0)
                        return -ENOMEM;
                r = step_record(s, key, "1");
        }
        if (r >= 0)
                r = step_commit(s);
        return r;
}

static int audio_to_guest(Step *s) {
        const Machine *m = step_machine(s);
        AudioRelease release = step_config(s)->audio_release;
        Audio *a = NULL;
        int r;

        if (!step_is_live(s) || release == AUDIO_RELEASE_NONE || count_holders(m) == 0)
                return 0;
        r = audio_new(s, true, &a);
        if (r < 0)
                return r;
        r = audio_cards_of_group(m, &a->cards, &a->n_cards);
        if (r < 0)
                return step_error_errno(s, r, "Failed to read the sound cards of the GPU's group: %m");
        for (size_t i = 0; i < a->n_cards; i++)
                STRV_FOREACH(node, m->snd_nodes)
                        if (audio_node_of_card(*node, a->cards[i].index) && strv_extend(&a->nodes, *node) < 0)
                                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        r = find_user(step_config(s), m, &a->user);
        if (r < 0)
                return step_error_errno(s, r,
                                        "Failed to find whose PipeWire holds the GPU's sound card (set "
                                        "[audio] user): %m");
        a->release = release;
        return open_bus(a, query_on_bus, query_connect_failed);
}

/* --- to_host --- */

/* WirePlumber takes a freed name again at once. Held while vfio gives the card back,
 * the name made WirePlumber (0.4) give up on the returning card in the lab: it asked
 * while the name was busy and did not ask again once it was free. Freed before the
 * card comes back, WirePlumber owns the name when the card appears. */
static void audio_before_host(StageInstance *self, const StageContext *ctx) {
        kept_release_all(self, true);
}

static int audio_to_host(Step *s) {
        _cleanup_strv_free_ char **cards = NULL, **units = NULL;
        const char *user = step_get(s, "user");
        Audio *a = NULL;
        int r;

        kept_release_all(step_instance(s), true);
        if (!step_is_live(s))
                return 0;
        if (!step_has_record(s)) {
                log_notice("No record of the audio stage: PipeWire takes the GPU's sound card back by itself.");
                return 0;
        }
        if (!user)
                return step_error_errno(s, SYNTHETIC_ERRNO(EBADMSG), "The audio record names no user.");
        r = audio_new(s, false, &a);
        if (r < 0)
                return r;
        r = user_identity_from_name(user, &a->user);
        if (r < 0)
                return step_error_errno(s, r, "Failed to look up user %s: %m", user);
        a->logged_out = user_logged_out(a->user.uid);

        cards = step_keys(s, "card.");
        STRV_FOREACH(k, cards) {
                AudioCard *c = array_append(&a->cards, &a->n_cards, sizeof(AudioCard));

                if (!c || !(c->pci_address = strdup(*k + strlen("card."))))
                        return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        }
        /* Sockets first for the way back too: a service is started by its socket's activation. */
        units = step_keys(s, "unit.");
        STRV_FOREACH(k, units)
                if (strv_extend(&a->units, *k + strlen("unit.")) < 0)
                        return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        return next_unit(a);
}

/* Row 13 of issue 19: a process that holds the GPU's sound card while no user's PipeWire can
 * be asked to let go of it (a plain ALSA client: aplay as root, or of a user without a
 * systemd --user) failed the handover after the display manager had stopped, without naming
 * it. The PipeWire of the user whose bus the stage talks to lets go when asked; any other
 * holder is waited for like a card's holder, before anything changes (the engine observes
 * again after every close), and refused by name once the "holders" deadline has passed. */
static bool holder_askable(const Holder *h, const UserIdentity *u) {
        _cleanup_free_ char *path = NULL, *cgroup = NULL;

        if (!u || !h->has_uid || h->uid != u->uid)
                return false;
        if (asprintf(&path, "/proc/%i/cgroup", (int) h->pid) < 0)
                return false;
        (void) sysfs_read_string("/", path, &cgroup);   /* none: gone, or only its comm tells */
        return audio_holder_is_pipewire(h->comm, cgroup);
}

static int audio_preflight(StageInstance *self, const StageContext *ctx, const Machine *m, PreflightMode mode) {
        _cleanup_(user_identity_done) UserIdentity u = {};
        _cleanup_free_ char *bus = NULL, *text = NULL, *why = NULL;
        bool askable = false;
        size_t size = 0, n = 0;
        FILE *f;
        int r;

        if (!streq(m->root, "/") || ctx->config->audio_release == AUDIO_RELEASE_NONE || count_holders(m) == 0)
                return 0;
        r = find_user(ctx->config, m, &u);
        if (r >= 0 && asprintf(&bus, "%s/bus", u.runtime_dir) < 0)
                return stage_error_errno(ctx, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        askable = r >= 0 && access(bus, F_OK) >= 0;

        f = open_memstream(&text, &size);
        if (!f)
                return stage_error_errno(ctx, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        for (size_t i = 0; i < m->holders.n_holders; i++) {
                const Holder *h = &m->holders.holders[i];

                if (strv_contains(m->snd_nodes, h->node) && !holder_askable(h, askable ? &u : NULL))
                        fprintf(f, "%spid %i (%s) holds %s", n++ > 0 ? ", " : "", (int) h->pid, h->comm, h->node);
        }
        if (fclose(f) != 0)
                return stage_error_errno(ctx, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        if (n == 0)
                return 0;

        if (askable)
                r = asprintf(&why, "it is not %s's PipeWire, which baton can ask to let go", u.name);
        else if (r >= 0)
                r = asprintf(&why, "%s has no session bus (%s), so there is no PipeWire to ask", u.name, bus);
        else if (!isempty(ctx->config->audio_user))
                r = asprintf(&why, "[audio] user = %s: %s", ctx->config->audio_user, strerror(-r));
        else
                r = asprintf(&why, "nobody is logged in to a desktop on seat0 and no holder belongs to a user "
                             "whose PipeWire could be asked");
        if (r < 0)
                return stage_error_errno(ctx, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        if (mode == PREFLIGHT_MAY_WAIT)
                log_info("Waiting for the GPU's sound card to be closed: %s; %s.", text, why);
        if (mode != PREFLIGHT_LAST)
                return -EAGAIN;
        return stage_error_errno(ctx, SYNTHETIC_ERRNO(EBUSY), "Not handing the GPU over: %s, the GPU's sound card, "
                                 "still after the \"holders\" deadline: %s. Close it, or set [audio] user to "
                                 "whose PipeWire holds it.", text, why);
}

const Stage stage_audio = {
        .name = "audio",
        .observe_on_loop = true,
        .instance_size = sizeof(AudioStage),
        .done = audio_stage_done,
        .observes_holders = true,
        .summary = "PipeWire's hold on the GPU's audio function",
        .observe = audio_observe,
        .to_guest = audio_to_guest,
        .to_host = audio_to_host,
        .before_host = audio_before_host,
        .preflight = audio_preflight,
};
