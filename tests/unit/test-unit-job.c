/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The unit helpers (common/unit-job.c) and the display-manager stage's observe() against
 * a real D-Bus daemon: this test starts a private dbus-daemon and points the "system bus"
 * at it (DBUS_SYSTEM_BUS_ADDRESS), so the code opens its bus exactly as it does on a
 * machine.
 *
 * The fake "org.freedesktop.systemd1" below stands in for systemd only because the build
 * machine has no systemd (PID 1 is not systemd, there is no system bus). It implements
 * just what baton asks: Subscribe (AlreadySubscribed the second time, like systemd), Unsubscribe,
 * ListUnitsByNames, StartUnit/StopUnit returning a job path, the Unit properties, and JobRemoved,
 * sent after the method's reply or, for one unit, BEFORE it (the race the job helper must
 * survive), preceded every time by another job's JobRemoved. The real systemd path is
 * exercised in the lab (tests/lab/), against systemd and weston.
 *
 * Nothing sleeps: every wait is the sd-event loop with a deadline; a wait that never ends
 * fails the test after SAFETY_USEC. */

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "machine.h"
#include "stage.h"
#include "strv.h"
#include "test-stage.h"
#include "tests.h"
#include "unit-job.h"

#define GENEROUS_USEC 5000000ULL        /* for jobs that end: a loaded CI is no failure */
#define DEADLINE_USEC 200000ULL         /* 200 ms: a job that never ends */
#define SAFETY_USEC 10000000ULL         /* any wait that never reports fails after 10 s */

extern const Stage stage_display_manager;

static pid_t daemon_pid;

/* RUN() for tests that take the bus and the fake. */
#define RUN_WITH(call)                                                          \
        do {                                                                    \
                call;                                                           \
                printf("ok %s\n", #call);                                       \
        } while (0)

/* --- The private bus --- */

static char bus_dir[] = "/tmp/baton-test-unit-job-XXXXXX";

/* dbus-daemon's own session.conf would make org.freedesktop.systemd1 activatable (the user
 * manager's service file): asking for it with no fake on the bus would spawn systemctl. This
 * bus is a session bus with no service directories, listening in a directory of its own. */
static char *bus_config_write(void) {
        char *path = NULL;
        FILE *f;

        ASSERT_TRUE(mkdtemp(bus_dir));
        ASSERT_TRUE(asprintf(&path, "%s/bus.conf", bus_dir) > 0);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fprintf(f, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                "  \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>session</type>\n"
                "  <listen>unix:dir=%s</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                "    <allow eavesdrop=\"true\"/>\n"
                "    <allow own=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n", bus_dir);
        ASSERT_EQ(fclose(f), 0);
        return path;
}

/* Starts dbus-daemon with its address on a pipe; the address is read with a deadline. */
static char *bus_daemon_start(void) {
        _cleanup_free_ char *config = bus_config_write(), *option = NULL;
        char address[512] = {}, *nl;
        int fds[2], status;
        size_t n = 0;

        ASSERT_TRUE(asprintf(&option, "--config-file=%s", config) > 0);
        ASSERT_OK(pipe2(fds, O_CLOEXEC));
        daemon_pid = fork();
        ASSERT_TRUE(daemon_pid >= 0);
        if (daemon_pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (dup2(fds[1], STDOUT_FILENO) < 0)
                        _exit(126);
                execlp("dbus-daemon", "dbus-daemon", option, "--print-address", "--nofork", (char *) NULL);
                _exit(127);
        }
        (void) close(fds[1]);
        while (!memchr(address, '\n', n)) {
                struct pollfd p = { .fd = fds[0], .events = POLLIN };
                ssize_t k;

                ASSERT_EQ(poll(&p, 1, SAFETY_USEC / 1000), 1);
                k = read(fds[0], address + n, sizeof(address) - 1 - n);
                ASSERT_TRUE(k >= 0);
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        (void) close(fds[0]);
        nl = memchr(address, '\n', n);
        if (!nl) {
                ASSERT_EQ(waitpid(daemon_pid, &status, 0), daemon_pid);
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
                        printf("SKIP: dbus-daemon is not installed (package dbus)\n");
                        exit(77);
                }
                TEST_FAIL("dbus-daemon printed no address");
        }
        *nl = 0;
        return strdup(address);
}

static void bus_daemon_kill(void) {
        if (daemon_pid <= 0)
                return;
        ASSERT_OK(kill(daemon_pid, SIGTERM));
        ASSERT_EQ(waitpid(daemon_pid, NULL, 0), daemon_pid);
        daemon_pid = 0;
}

static sd_bus *bus_open(sd_event *e) {
        sd_bus *bus = NULL;

        ASSERT_OK(sd_bus_open_system(&bus));
        if (e)
                ASSERT_OK(sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL));
        return bus;
}

/* --- The fake systemd --- */

typedef struct FakeUnit {
        const char *id, *alias;
        const char *description;        /* a property nobody asked for, to be skipped */
        const char *load_state, *active_state;
        const char *unit_file_state;    /* NULL: the property is not there */
        uint32_t job_id;                /* a queued job; 0: none */
        const char *job_result;         /* how its jobs end; NULL: never */
        bool signal_first;              /* JobRemoved before the method's reply */
        bool then_disconnect;           /* after the reply: a marker, and the bus goes away */
} FakeUnit;

static const FakeUnit fake_units[] = {
        { .id = "lab-compositor.service", .alias = "display-manager.service", .load_state = "loaded",
          .active_state = "active", .unit_file_state = "enabled", .job_result = "done" },
        { .id = "booting.service", .load_state = "loaded", .active_state = "inactive",
          .unit_file_state = "disabled", .job_id = 7, .job_result = "done" },
        { .id = "racy.service", .load_state = "loaded", .active_state = "active", .job_result = "done",
          .signal_first = true },
        { .id = "broken.service", .load_state = "loaded", .active_state = "active", .job_result = "failed" },
        { .id = "hang.service", .load_state = "loaded", .active_state = "active" },
        { .id = "sddm.service", .load_state = "loaded", .active_state = "inactive", .job_result = "done" },
        { .id = "gone.service", .load_state = "not-found", .active_state = "inactive", .job_result = "done" },
        { .id = "doomed.service", .load_state = "loaded", .active_state = "active", .then_disconnect = true },
};

typedef struct Fake {
        sd_bus *bus;
        FakeUnit units[ELEMENTSOF(fake_units)];
        unsigned next_job;
        char **subscribers;
        unsigned n_subscribe, n_already, n_unsubscribe;
} Fake;

static FakeUnit *fake_find(Fake *f, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(f->units); i++)
                if (streq(f->units[i].id, name) || streq_ptr(f->units[i].alias, name))
                        return &f->units[i];
        return NULL;
}

static int no_such_unit(sd_bus_error *error, const char *name) {
        return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit", "Unit %s not found.", name);
}

static int fake_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *sender = sd_bus_message_get_sender(m);

        f->n_subscribe++;
        if (strv_contains(f->subscribers, sender)) {
                f->n_already++;
                return sd_bus_error_set(error, "org.freedesktop.systemd1.AlreadySubscribed",
                                        "Client is already subscribed.");
        }
        ASSERT_OK(strv_extend(&f->subscribers, sender));
        return sd_bus_reply_method_return(m, "");
}

/* Drops the sender's subscription, if it has one; true if it had. */
static bool fake_forget(Fake *f, const char *sender) {
        size_t n = strv_length(f->subscribers);

        for (size_t i = 0; i < n; i++)
                if (streq(f->subscribers[i], sender)) {
                        free(f->subscribers[i]);
                        memmove(f->subscribers + i, f->subscribers + i + 1, (n - i) * sizeof(char *));
                        return true;
                }
        return false;
}

static int fake_unsubscribe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *sender = sd_bus_message_get_sender(m);

        if (!fake_forget(f, sender))
                return sd_bus_error_set(error, "org.freedesktop.systemd1.NotSubscribed",
                                        "Client is not subscribed.");
        f->n_unsubscribe++;
        return sd_bus_reply_method_return(m, "");
}

/* Like systemd, a name that is not a unit name is left out of the answer; the fake takes
 * one without a '.' for that. */
static int fake_list_units_by_names(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **names = NULL;

        ASSERT_OK(sd_bus_message_read_strv(m, &names));
        ASSERT_OK(sd_bus_message_new_method_return(m, &reply));
        ASSERT_OK(sd_bus_message_open_container(reply, 'a', "(ssssssouso)"));
        STRV_FOREACH(name, names) {
                _cleanup_free_ char *path = NULL, *job = NULL;
                FakeUnit *u;

                if (!strchr(*name, '.'))
                        continue;
                u = fake_find(userdata, *name);
                if (!u)
                        return no_such_unit(error, *name);
                ASSERT_OK(sd_bus_path_encode("/org/freedesktop/systemd1/unit", u->id, &path));
                ASSERT_TRUE(asprintf(&job, "/org/freedesktop/systemd1/job/%" PRIu32, u->job_id) > 0);
                ASSERT_OK(sd_bus_message_append(reply, "(ssssssouso)", u->id, u->description, u->load_state,
                                                u->active_state, "running", "", path, u->job_id,
                                                u->job_id ? "start" : "", u->job_id ? job : "/"));
        }
        ASSERT_OK(sd_bus_message_close_container(reply));
        return sd_bus_send(NULL, reply, NULL);
}

static void fake_job_removed(Fake *f, unsigned id, const char *unit, const char *result) {
        _cleanup_free_ char *path = NULL;

        ASSERT_TRUE(asprintf(&path, "/org/freedesktop/systemd1/job/%u", id) > 0);
        ASSERT_OK(sd_bus_emit_signal(f->bus, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                     "JobRemoved", "uoss", id, path, unit, result));
}

static void fake_job_ends(Fake *f, FakeUnit *u, unsigned id, bool stop) {
        if (streq(u->job_result, "done"))
                u->active_state = stop ? "inactive" : "active";
        /* Someone else's job ends first, with a result that would fail ours. */
        fake_job_removed(f, id + 1000, "noise.service", "failed");
        fake_job_removed(f, id, u->id, u->job_result);
}

static int fake_job(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *path = NULL;
        bool stop = sd_bus_message_is_method_call(m, NULL, "StopUnit");
        const char *name, *mode;
        Fake *f = userdata;
        unsigned id;
        FakeUnit *u;

        ASSERT_OK(sd_bus_message_read(m, "ss", &name, &mode));
        ASSERT_STREQ(mode, "replace");
        u = fake_find(f, name);
        if (!u || (!stop && streq(u->load_state, "not-found")))
                return no_such_unit(error, name);
        id = ++f->next_job;
        ASSERT_TRUE(asprintf(&path, "/org/freedesktop/systemd1/job/%u", id) > 0);

        if (u->job_result && u->signal_first)
                fake_job_ends(f, u, id, stop);
        ASSERT_OK(sd_bus_reply_method_return(m, "o", path));
        if (u->job_result && !u->signal_first)
                fake_job_ends(f, u, id, stop);
        if (u->then_disconnect)
                /* Sent after the reply, so it arrives after it: the test kills the bus then. */
                ASSERT_OK(sd_bus_emit_signal(f->bus, "/", "org.example.BatonTest", "Replied", ""));
        return 1;
}

static int fake_find_unit(sd_bus *bus, const char *path, const char *interface, void *userdata,
                          void **found, sd_bus_error *error) {
        _cleanup_free_ char *name = NULL;
        FakeUnit *u;
        int r;

        r = sd_bus_path_decode(path, "/org/freedesktop/systemd1/unit", &name);
        if (r <= 0)
                return r;
        u = fake_find(userdata, name);
        if (!u || !streq(u->id, name))
                return 0;
        *found = u;
        return 1;
}

static const sd_bus_vtable fake_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Subscribe", "", "", fake_subscribe, 0),
        SD_BUS_METHOD("Unsubscribe", "", "", fake_unsubscribe, 0),
        SD_BUS_METHOD("ListUnitsByNames", "as", "a(ssssssouso)", fake_list_units_by_names, 0),
        SD_BUS_METHOD("StartUnit", "ss", "o", fake_job, 0),
        SD_BUS_METHOD("StopUnit", "ss", "o", fake_job, 0),
        SD_BUS_SIGNAL("JobRemoved", "uoss", 0),
        SD_BUS_VTABLE_END,
};

static int fake_get_job(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const FakeUnit *u = userdata;
        _cleanup_free_ char *job = NULL;

        ASSERT_TRUE(asprintf(&job, "/org/freedesktop/systemd1/job/%" PRIu32, u->job_id) > 0);
        return sd_bus_message_append(reply, "(uo)", u->job_id, u->job_id ? job : "/");
}

static unsigned n_file_state_reads;

static int fake_get_unit_file_state(sd_bus *bus, const char *path, const char *interface,
                                    const char *property, sd_bus_message *reply, void *userdata,
                                    sd_bus_error *error) {
        const FakeUnit *u = userdata;

        n_file_state_reads++;
        return sd_bus_message_append(reply, "s", strempty(u->unit_file_state));
}

static const sd_bus_vtable fake_unit_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", NULL, offsetof(FakeUnit, id), 0),
        SD_BUS_PROPERTY("Description", "s", NULL, offsetof(FakeUnit, description), 0),
        SD_BUS_PROPERTY("LoadState", "s", NULL, offsetof(FakeUnit, load_state), 0),
        SD_BUS_PROPERTY("ActiveState", "s", NULL, offsetof(FakeUnit, active_state), 0),
        SD_BUS_PROPERTY("UnitFileState", "s", fake_get_unit_file_state, 0, 0),
        SD_BUS_PROPERTY("Job", "(uo)", fake_get_job, 0, 0),
        SD_BUS_VTABLE_END,
};

static Fake *fake_new(sd_event *e) {
        Fake *f = calloc(1, sizeof(Fake));

        ASSERT_TRUE(f);
        memcpy(f->units, fake_units, sizeof(fake_units));
        for (size_t i = 0; i < ELEMENTSOF(f->units); i++)
                f->units[i].description = "a unit of the fake systemd";
        f->bus = bus_open(e);
        ASSERT_OK(sd_bus_add_object_vtable(f->bus, NULL, "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", fake_manager_vtable, f));
        ASSERT_OK(sd_bus_add_fallback_vtable(f->bus, NULL, "/org/freedesktop/systemd1/unit",
                                             "org.freedesktop.systemd1.Unit", fake_unit_vtable,
                                             fake_find_unit, f));
        ASSERT_OK(sd_bus_request_name(f->bus, "org.freedesktop.systemd1", 0));
        return f;
}

static void fake_free(Fake *f) {
        /* Released before the connection goes: once this returns, nobody owns the name. */
        (void) sd_bus_release_name(f->bus, "org.freedesktop.systemd1");
        sd_bus_flush_close_unref(f->bus);
        strv_free(f->subscribers);
        free(f);
}

/* --- Driving the loop --- */

typedef struct Outcome {
        unsigned calls;
        int r;
        char *message;
        UnitInfo info;
} Outcome;

static void outcome_done(Outcome *o) {
        free(o->message);
        unit_info_done(&o->info);
}

static int on_safety(sd_event_source *s, uint64_t usec, void *userdata) {
        TEST_FAIL("nothing reported within %llu s", SAFETY_USEC / 1000000);
}

static void run_until(sd_event *e, const unsigned *calls) {
        sd_event_source *safety = NULL;

        ASSERT_OK(sd_event_add_time_relative(e, &safety, CLOCK_MONOTONIC, SAFETY_USEC, 0, on_safety, NULL));
        while (*calls == 0)
                ASSERT_OK(sd_event_run(e, UINT64_MAX));
        sd_event_source_disable_unref(safety);
}

static unsigned n_job_reports, n_jobs_run;

static void on_job(UnitJob *j, int r, const char *message, void *userdata) {
        Outcome *o = userdata;

        n_job_reports++;
        o->calls++;
        o->r = r;
        o->message = message ? strdup(message) : NULL;
        ASSERT_TRUE(r >= 0 || o->message);
        unit_job_free(j);       /* freeing from inside the callback is allowed */
}

static void run_job(sd_event *e, sd_bus *bus, const char *method, const char *unit, uint64_t timeout,
                    Outcome *o) {
        UnitJob *j = NULL;

        ASSERT_OK(unit_job_run(bus, e, method, unit, timeout, on_job, o, &j));
        ASSERT_TRUE(j);
        ASSERT_EQ(o->calls, 0);         /* never from inside unit_job_run() */
        n_jobs_run++;
        run_until(e, &o->calls);
}

/* Frees q before it reads the answer, as the stages do: info and message outlive q (under
 * ASan, a read of freed memory fails the test). */
static void on_query(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata) {
        Outcome *o = userdata;

        unit_query_free(q);
        o->calls++;
        o->r = r;
        if (info)
                o->info = TAKE_STRUCT(*info);
        o->message = message ? strdup(message) : NULL;
}

static void query(sd_event *e, sd_bus *bus, const char *unit, Outcome *o) {
        UnitQuery *q = NULL;

        ASSERT_OK(unit_query_new(bus, unit, GENEROUS_USEC, on_query, o, &q));
        run_until(e, &o->calls);
}

/* --- Jobs and lookups --- */

static void test_query(sd_event *e, sd_bus *bus) {
        Outcome alias = {}, gone = {}, unknown = {}, booting = {}, invalid = {};
        unsigned reads = n_file_state_reads;

        /* A unit that is up: one call, its unit file state not asked (issue 17). */
        query(e, bus, "display-manager.service", &alias);
        ASSERT_OK(alias.r);
        ASSERT_STREQ(alias.info.id, "lab-compositor.service");
        ASSERT_STREQ(alias.info.load_state, "loaded");
        ASSERT_STREQ(alias.info.active_state, "active");
        ASSERT_NULL(alias.info.unit_file_state);
        ASSERT_EQ(n_file_state_reads, reads);
        ASSERT_EQ(alias.info.job_id, 0);
        ASSERT_TRUE(unit_info_exists(&alias.info));

        /* A start job queued at boot, waiting for units ordered before it; the unit is down,
         * so its unit file state is asked. */
        query(e, bus, "booting.service", &booting);
        ASSERT_OK(booting.r);
        ASSERT_STREQ(booting.info.id, "booting.service");
        ASSERT_STREQ(booting.info.active_state, "inactive");
        ASSERT_STREQ(booting.info.unit_file_state, "disabled");
        ASSERT_EQ(n_file_state_reads, reads + 1);
        ASSERT_EQ(booting.info.job_id, 7);
        outcome_done(&booting);

        /* systemd answers nothing for a name that is not a unit name. */
        query(e, bus, "nonsense", &invalid);
        ASSERT_EQ(invalid.r, -EINVAL);
        ASSERT_STREQ(invalid.message, "Failed to look up nonsense: systemd does not take it for a unit name");
        ASSERT_NULL(invalid.info.id);
        outcome_done(&invalid);

        query(e, bus, "gone.service", &gone);
        ASSERT_OK(gone.r);
        ASSERT_FALSE(unit_info_exists(&gone.info));

        query(e, bus, "nonsense.service", &unknown);
        ASSERT_TRUE(unknown.r < 0);
        ASSERT_STREQ(unknown.message, "Failed to look up nonsense.service: Unit nonsense.service not found.");

        outcome_done(&alias);
        outcome_done(&gone);
        outcome_done(&unknown);
}

/* A query on bus, answered only once the fake has handled what went on bus before it. */
static void bus_settle(sd_event *e, sd_bus *bus) {
        Outcome o = {};

        query(e, bus, "lab-compositor.service", &o);
        ASSERT_OK(o.r);
        outcome_done(&o);
}

static int on_subscribed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        unsigned *calls = userdata;

        ASSERT_FALSE(sd_bus_message_is_method_error(m, NULL));
        (*calls)++;
        return 0;
}

static void test_stop_start(sd_event *e, sd_bus *bus, Fake *f) {
        Outcome stop = {}, start = {}, again = {};
        unsigned subscribed = 0;

        run_job(e, bus, "StopUnit", "lab-compositor.service", GENEROUS_USEC, &stop);
        ASSERT_OK(stop.r);
        ASSERT_NULL(stop.message);
        ASSERT_STREQ(fake_find(f, "lab-compositor.service")->active_state, "inactive");
        /* The subscription ended with the job: the connection (the daemon's) lives on. */
        bus_settle(e, bus);
        ASSERT_EQ(f->n_unsubscribe, 1);
        ASSERT_EQ(strv_length(f->subscribers), 0);

        /* A second job on the same connection subscribes anew, and ends its subscription too. */
        run_job(e, bus, "StartUnit", "lab-compositor.service", GENEROUS_USEC, &start);
        ASSERT_OK(start.r);
        ASSERT_STREQ(fake_find(f, "lab-compositor.service")->active_state, "active");
        bus_settle(e, bus);
        ASSERT_EQ(f->n_subscribe, 2);
        ASSERT_EQ(f->n_unsubscribe, 2);
        ASSERT_EQ(f->n_already, 0);

        /* On a connection that was subscribed before the job, systemd says AlreadySubscribed,
         * which is fine, and the subscription is not the job's to end. */
        ASSERT_OK(sd_bus_call_method_async(bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "Subscribe", on_subscribed,
                                           &subscribed, ""));
        run_until(e, &subscribed);
        run_job(e, bus, "StopUnit", "lab-compositor.service", GENEROUS_USEC, &again);
        ASSERT_OK(again.r);
        bus_settle(e, bus);
        ASSERT_EQ(f->n_already, 1);
        ASSERT_EQ(f->n_unsubscribe, 2);
        ASSERT_EQ(strv_length(f->subscribers), 1);
        /* Back as the tests after this one expect it: started, nobody subscribed. */
        ASSERT_TRUE(fake_forget(f, f->subscribers[0]));
        {
                Outcome back = {};

                run_job(e, bus, "StartUnit", "lab-compositor.service", GENEROUS_USEC, &back);
                ASSERT_OK(back.r);
                outcome_done(&back);
        }

        outcome_done(&stop);
        outcome_done(&start);
        outcome_done(&again);
}

static void test_signal_before_reply(sd_event *e, sd_bus *bus, Fake *f) {
        Outcome o = {};

        /* Without the JobRemoved kept from before the reply this would wait for the deadline. */
        run_job(e, bus, "StopUnit", "racy.service", GENEROUS_USEC, &o);
        ASSERT_OK(o.r);
        ASSERT_STREQ(fake_find(f, "racy.service")->active_state, "inactive");
        outcome_done(&o);
}

static void test_job_failed(sd_event *e, sd_bus *bus) {
        Outcome o = {};

        run_job(e, bus, "StopUnit", "broken.service", GENEROUS_USEC, &o);
        ASSERT_EQ(o.r, -EIO);
        ASSERT_STREQ(o.message, "Failed to stop broken.service: job result 'failed'");
        outcome_done(&o);
}

static void test_deadline(sd_event *e, sd_bus *bus, Fake *f) {
        _cleanup_free_ char *expected = NULL;
        uint64_t start, end;
        Outcome o = {};

        ASSERT_OK(sd_event_now(e, CLOCK_MONOTONIC, &start));
        run_job(e, bus, "StopUnit", "hang.service", DEADLINE_USEC, &o);
        ASSERT_OK(sd_event_now(e, CLOCK_MONOTONIC, &end));
        ASSERT_EQ(o.r, -ETIMEDOUT);
        ASSERT_TRUE(asprintf(&expected, "Timed out after 200ms waiting for job "
                             "/org/freedesktop/systemd1/job/%u (stop hang.service)", f->next_job) > 0);
        ASSERT_STREQ(o.message, expected);
        ASSERT_TRUE(end - start >= DEADLINE_USEC);
        outcome_done(&o);
}

static void test_method_error(sd_event *e, sd_bus *bus) {
        Outcome o = {};
        UnitJob *j = NULL;

        run_job(e, bus, "StartUnit", "gone.service", GENEROUS_USEC, &o);
        ASSERT_TRUE(o.r < 0);
        ASSERT_STREQ(o.message, "Failed to start gone.service: Unit gone.service not found.");
        outcome_done(&o);

        ASSERT_EQ(unit_job_run(bus, e, "KillUnit", "gdm.service", GENEROUS_USEC, on_job, &o, &j), -EINVAL);
        ASSERT_NULL(j);
}

/* --- observe(), which blocks: it runs in a thread while the loop serves the fake --- */

typedef struct Observe {
        const char *name;               /* [display-manager] unit; NULL: the default */
        int done_fd;
        int r;
        StagePosition pos;
        char **plan;
} Observe;

static void *observe_thread(void *userdata) {
        Machine m = { .root = (char *) "/" };
        Observe *ob = userdata;
        Config c;

        config_init(&c);
        if (ob->name)
                strcpy(c.display_manager_unit, ob->name);
        ob->r = stage_test_observe(&stage_display_manager, &c, &m, &ob->pos, &ob->plan);
        ASSERT_EQ(eventfd_write(ob->done_fd, 1), 0);
        return NULL;
}

static int on_observed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        unsigned *calls = userdata;

        (*calls)++;
        return 0;
}

static void observe(sd_event *e, const char *name, Observe *ob) {
        sd_event_source *done = NULL;
        unsigned calls = 0;
        pthread_t t;

        *ob = (Observe) { .name = name, .done_fd = eventfd(0, EFD_CLOEXEC), .pos = (StagePosition) -1 };
        ASSERT_TRUE(ob->done_fd >= 0);
        ASSERT_OK(sd_event_add_io(e, &done, ob->done_fd, EPOLLIN, on_observed, &calls));
        ASSERT_EQ(pthread_create(&t, NULL, observe_thread, ob), 0);
        run_until(e, &calls);
        ASSERT_EQ(pthread_join(t, NULL), 0);
        sd_event_source_disable_unref(done);
        (void) close(ob->done_fd);
}

static void test_observe(sd_event *e) {
        Observe running, stopped, gone;

        observe(e, NULL, &running);
        ASSERT_OK(running.r);
        ASSERT_EQ(running.pos, STAGE_AT_HOST);
        ASSERT_EQ(strv_length(running.plan), 1);
        ASSERT_STREQ(running.plan[0], "stop lab-compositor.service (display-manager.service), "
                     "wait for its job (up to 30s)");

        observe(e, "sddm.service", &stopped);
        ASSERT_OK(stopped.r);
        ASSERT_EQ(stopped.pos, STAGE_AT_GUEST);
        ASSERT_STREQ(stopped.plan[0], "sddm.service is inactive: nothing to stop");

        observe(e, "gone.service", &gone);
        ASSERT_OK(gone.r);
        ASSERT_EQ(gone.pos, STAGE_NOTHING_TO_DO);
        ASSERT_STREQ(gone.plan[0], "no gone.service on this machine: no display manager to stop");

        strv_free(running.plan);
        strv_free(stopped.plan);
        strv_free(gone.plan);
}

static void test_observe_without_systemd(void) {
        _cleanup_strv_free_ char **plan = NULL;
        Machine m = { .root = (char *) "/" };
        StagePosition pos = (StagePosition) -1;
        _cleanup_free_ char *message = NULL;
        UnitInfo info = {};
        sd_bus *bus;

        /* A bus, but nobody owns org.freedesktop.systemd1 on it: nothing to stop. */
        ASSERT_OK(stage_test_observe(&stage_display_manager, NULL, &m, &pos, &plan));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_TRUE(startswith(plan[0], "systemd cannot be reached on the system bus"));

        /* The blocking lookup names the unit when it fails. */
        bus = bus_open(NULL);
        ASSERT_TRUE(unit_info_get(bus, "gdm.service", GENEROUS_USEC, &info, &message) < 0);
        ASSERT_TRUE(startswith(message, "Failed to look up gdm.service: "));
        ASSERT_NULL(info.id);
        /* Row 14 of issue 19: the connection stays usable after the lookup. Ending its
         * private loop with sd_event_exit() ran the bus's exit source, which closed it, so
         * unit_stop_timeout() failed on it and plan's and doctor's line never showed. */
        ASSERT_TRUE(sd_bus_is_open(bus) > 0);
        sd_bus_flush_close_unref(bus);
}

/* --- The bus going away while a job runs --- */

static int on_replied(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        /* The job's reply came before this marker: the helper waits for JobRemoved now. */
        bus_daemon_kill();
        {
                _cleanup_free_ char *cmd = NULL;

                ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", bus_dir) > 0);
                ASSERT_EQ(system(cmd), 0);
        }
        return 0;
}

static void test_disconnect(sd_event *e, sd_bus *bus, Fake *f) {
        _cleanup_free_ char *expected = NULL;
        sd_bus_slot *marker = NULL;
        Outcome o = {};

        ASSERT_OK(sd_bus_match_signal(bus, &marker, NULL, "/", "org.example.BatonTest", "Replied",
                                      on_replied, NULL));
        run_job(e, bus, "StopUnit", "doomed.service", GENEROUS_USEC, &o);
        ASSERT_EQ(o.r, -ECONNRESET);
        ASSERT_TRUE(asprintf(&expected, "Lost the bus connection while waiting for job "
                             "/org/freedesktop/systemd1/job/%u (stop doomed.service)", f->next_job) > 0);
        ASSERT_STREQ(o.message, expected);
        sd_bus_slot_unref(marker);
        outcome_done(&o);
}

int main(void) {
        _cleanup_free_ char *address = NULL;
        sd_event *e = NULL;
        sd_bus *bus;
        Fake *f;

        setvbuf(stdout, NULL, _IOLBF, 0);
        address = bus_daemon_start();
        ASSERT_OK(setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1));
        ASSERT_OK(sd_event_new(&e));
        f = fake_new(e);
        bus = bus_open(e);

        RUN_WITH(test_query(e, bus));
        RUN_WITH(test_stop_start(e, bus, f));
        RUN_WITH(test_signal_before_reply(e, bus, f));
        RUN_WITH(test_job_failed(e, bus));
        RUN_WITH(test_deadline(e, bus, f));
        RUN_WITH(test_method_error(e, bus));
        RUN_WITH(test_observe(e));

        /* Without the fake on the bus. */
        fake_free(f);
        RUN_WITH(test_observe_without_systemd());

        /* Last: kills the bus. */
        f = fake_new(e);
        RUN_WITH(test_disconnect(e, bus, f));

        /* Every job reported exactly once, and nothing fired after its report. */
        ASSERT_EQ(n_job_reports, n_jobs_run);

        fake_free(f);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(e);
        bus_daemon_kill();
        {
                _cleanup_free_ char *cmd = NULL;

                ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", bus_dir) > 0);
                ASSERT_EQ(system(cmd), 0);
        }
        return 0;
}
