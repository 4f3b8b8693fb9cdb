/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libvirt-events against libvirt's in-process test driver (test:///default: a
 * running domain "test", no daemon): its lifecycle events travel through the
 * sd-event implementation registered with virEventRegisterImpl(), and a domain
 * that does not start is returned at the start deadline. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-event.h>

#include <libvirt/libvirt.h>

#include "libvirt-events.h"
#include "libvirt-util.h"
#include "tests.h"

#define URI "test:///default"

typedef struct Result {
        char reason[512];
        unsigned n;
} Result;

static void on_return(const char *reason, void *userdata) {
        Result *res = userdata;

        snprintf(res->reason, sizeof(res->reason), "%s", reason);
        res->n++;
}

static int on_destroy(sd_event_source *s, uint64_t usec, void *userdata) {
        virConnectPtr conn = userdata;
        _cleanup_(virDomainFreep) virDomainPtr dom = virDomainLookupByName(conn, "test");

        ASSERT_TRUE(dom);
        ASSERT_EQ(virDomainDestroy(dom), 0);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        TEST_FAIL("no return request within 5 s");
}

/* One loop for the whole test: libvirt's event implementation is bound to it for
 * the process's life, so it runs until the request came instead of exiting. */
static void run_loop(sd_event *e, Result *res) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *timeout = NULL;

        ASSERT_OK(sd_event_add_time_relative(e, &timeout, CLOCK_MONOTONIC, 5000000, 0, on_timeout, NULL));
        while (res->n == 0)
                ASSERT_OK(sd_event_run(e, UINT64_MAX));
}

static void test_stopped_event(sd_event *e) {
        _cleanup_(libvirt_events_freep) LibvirtEvents *l = NULL;
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        Result res = {};

        ASSERT_OK(libvirt_events_new(e, URI, 60000000, on_return, &res, &l));
        /* "test" runs already in the test driver: no start deadline. */
        ASSERT_OK(libvirt_events_watch(l, "test", false));
        ASSERT_STREQ(libvirt_events_vm(l), "test");
        conn = virConnectOpen(URI);
        ASSERT_TRUE(conn);
        /* Destroyed from the loop, by another connection, as virsh would. */
        ASSERT_OK(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 100000, 0, on_destroy, conn));
        run_loop(e, &res);
        ASSERT_EQ(res.n, 1);
        ASSERT_STREQ(res.reason, "domain test stopped (destroyed)");
        libvirt_events_unwatch(l);
        ASSERT_NULL(libvirt_events_vm(l));
}

static void test_start_deadline(sd_event *e) {
        _cleanup_(libvirt_events_freep) LibvirtEvents *l = NULL;
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        Result res = {};

        /* The test driver's state lives while a connection is open: keep one. */
        conn = virConnectOpen(URI);
        ASSERT_TRUE(conn);
        dom = virDomainDefineXML(conn, "<domain type='test'><name>idle</name><memory>65536</memory>"
                                       "<os><type>hvm</type></os></domain>");
        ASSERT_TRUE(dom);
        /* Defined, never started: returned after 0.3 s. */
        ASSERT_OK(libvirt_events_new(e, URI, 300000, on_return, &res, &l));
        ASSERT_OK(libvirt_events_watch(l, "idle", false));
        run_loop(e, &res);
        ASSERT_EQ(res.n, 1);
        ASSERT_STREQ(res.reason, "domain idle did not start within 0.3 s of the handover");
}

static void test_no_libvirt(sd_event *e) {
        _cleanup_(libvirt_events_freep) LibvirtEvents *l = NULL;
        Result res = {};

        /* An unreachable libvirt is retried, and the deadline still holds. */
        ASSERT_OK(libvirt_events_new(e, "test:///nonexistent-file.xml", 300000, on_return, &res, &l));
        ASSERT_OK(libvirt_events_watch(l, "gone", false));
        run_loop(e, &res);
        ASSERT_STREQ(res.reason, "domain gone did not start within 0.3 s of the handover");
}

int main(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(libvirt_dlopen());
        test_stopped_event(e);
        printf("ok test_stopped_event\n");
        test_start_deadline(e);
        printf("ok test_start_deadline\n");
        test_no_libvirt(e);
        printf("ok test_no_libvirt\n");
        return 0;
}
