/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure parts of the host-tuning and user-stages stages: CPU lists both ways, the D-Bus
 * bitmask of AllowedCPUs, the [tuning] keys, which files root refuses to run, and the plan
 * lines on the lab fixture. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config-file.h"
#include "cpu-list.h"
#include "log.h"
#include "machine.h"
#include "user-stages.h"
#include "stage.h"
#include "strv.h"
#include "test-stage.h"
#include "tests.h"

extern const Stage stage_host_tuning;

static char *format(const char *list) {
        char *text = NULL;
        CpuSet c;

        ASSERT_OK(cpu_set_parse(list, &c));
        ASSERT_OK(cpu_set_format(&c, &text));
        return text;
}

static void test_cpu_list(void) {
        static const struct { const char *in, *out; } ok[] = {
                { "", "" }, { "  ", "" }, { "0", "0" }, { "0-3", "0-3" }, { "3,2,1,0", "0-3" },
                { "0-1,6-7", "0-1,6-7" }, { "0 2 4", "0,2,4" }, { "5-5", "5" }, { "1,1-2", "1-2" },
                { "4095", "4095" }, { "0-2,4,6-8", "0-2,4,6-8" },
        };
        static const char *const bad[] = { "a", "-1", "3-1", "0-", "4096", "0x1", "1;2", "1-2-3", "+1" };
        CpuSet c = {};

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_free_ char *text = format(ok[i].in);

                ASSERT_STREQ(text, ok[i].out);
        }
        cpu_set_add(&c, 7);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (cpu_set_parse(bad[i], &c) != -EINVAL)
                        TEST_FAIL("'%s' was taken as a CPU list", bad[i]);
                ASSERT_TRUE(cpu_set_has(&c, 7));        /* untouched on failure */
        }
}

static void test_cpu_bytes(void) {
        /* systemd's "ay": bit i of byte j is CPU 8j+i. */
        static const uint8_t bytes[] = { 0x03, 0x00, 0x81 };
        static const uint8_t big[CPU_SET_MAX / 8 + 2] = { [CPU_SET_MAX / 8 + 1] = 1 };
        _cleanup_free_ char *text = NULL;
        CpuSet c, d;

        ASSERT_OK(cpu_set_from_bytes(bytes, sizeof(bytes), &c));
        ASSERT_OK(cpu_set_format(&c, &text));
        ASSERT_STREQ(text, "0-1,16,23");
        ASSERT_EQ(cpu_set_bytes(&c), 3);
        ASSERT_OK(cpu_set_parse("0-1 16 23", &d));
        ASSERT_TRUE(cpu_set_equal(&c, &d));
        ASSERT_OK(cpu_set_from_bytes(NULL, 0, &c));
        ASSERT_TRUE(cpu_set_is_empty(&c));
        ASSERT_EQ(cpu_set_bytes(&c), 0);
        ASSERT_EQ(cpu_set_from_bytes(big, sizeof(big), &c), -EINVAL);
}

static void test_config(void) {
        _cleanup_(config_done) Config c = {};

        config_init(&c);
        ASSERT_TRUE(c.tuning_hugepage_size_kb == 2048);
        ASSERT_TRUE(c.tuning_hugepages == 0);
        config_done(&c);
        ASSERT_OK(config_load_string("[tuning]\nhost-cpus = 3,0-1\nhugepages = 8192\nhugepage-size = 1048576\n"
                                     "hugepages-partial = yes\ngovernor = performance\ngovernor-cpus = 2-3\n"
                                     "[deadlines]\ntuning = 5\nstage = 0.5\n", "test.conf", &c));
        ASSERT_STREQ(c.tuning_host_cpus, "0-1,3");
        ASSERT_TRUE(c.tuning_hugepages == 8192);
        ASSERT_TRUE(c.tuning_hugepage_size_kb == 1048576);
        ASSERT_TRUE(c.tuning_hugepages_partial);
        ASSERT_STREQ(c.tuning_governor, "performance");
        ASSERT_STREQ(c.tuning_governor_cpus, "2-3");
        ASSERT_TRUE(c.deadline_usec[DEADLINE_TUNING] == 5000000);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_STAGE] == 500000);

        static const char *const bad[] = {
                "[tuning]\nhost-cpus = 1-0\n", "[tuning]\nhugepages = -1\n", "[tuning]\nhugepages = 100000001\n",
                "[tuning]\nhugepage-size = 2M\n", "[tuning]\ngovernor = Performance\n",
                "[tuning]\ngovernor-cpus = all\n", "[deadlines]\nstage = 0\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Config d = {};

                if (config_load_string(bad[i], "test.conf", &d) != -EINVAL)
                        TEST_FAIL("taken: %s", bad[i]);
        }
}

static void test_refusal(void) {
        struct stat st = { .st_uid = 0, .st_mode = S_IFREG | 0755 };

        ASSERT_NULL(user_stages_refusal(&st, true));
        st.st_mode = S_IFREG | 0775;
        ASSERT_STREQ(user_stages_refusal(&st, true), "writable by its group");
        st.st_mode = S_IFREG | 0757;
        ASSERT_STREQ(user_stages_refusal(&st, true), "writable by everyone");
        st.st_mode = S_IFREG | 0755;
        st.st_uid = 1000;
        ASSERT_STREQ(user_stages_refusal(&st, true), "not owned by root");
        ASSERT_NULL(user_stages_refusal(&st, false));
}

static void test_observe(void) {
        _cleanup_(machine_freep) Machine *m = NULL;
        _cleanup_strv_free_ char **plan = NULL, **none = NULL;
        _cleanup_(config_done) Config c = {};
        StagePosition pos;

        ASSERT_OK(machine_load(FIXTURE("lab"), 0, &m));
        config_init(&c);
        ASSERT_OK(stage_test_observe(&stage_host_tuning, &c, m, &pos, &none));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_STREQ(none[0], "no host tuning configured ([tuning] in baton.conf)");

        /* A governor alone, on a machine without cpufreq, is nothing to do. */
        strcpy(c.tuning_governor, "performance");
        strv_free(none);
        none = NULL;
        ASSERT_OK(stage_test_observe(&stage_host_tuning, &c, m, &pos, &none));
        ASSERT_EQ(pos, STAGE_NOTHING_TO_DO);
        ASSERT_STREQ(none[0], "no cpufreq driver on this machine: setting the performance governor is skipped");

        c.tuning_hugepages = 3;
        c.tuning_hugepage_size_kb = 1048576;
        ASSERT_OK(stage_test_observe(&stage_host_tuning, &c, m, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_STREQ(plan[0], "no hugepages-1048576kB pool on this machine: reserving 3 hugepages will fail");
}

/* A machine with cpufreq on CPU 1 only: the governor step plans for it. */
static void test_observe_cpufreq(void) {
        _cleanup_(machine_freep) Machine *m = NULL;
        _cleanup_strv_free_ char **plan = NULL;
        _cleanup_(config_done) Config c = {};
        _cleanup_free_ char *cmd = NULL;
        char dir[] = "/tmp/baton-test-tuning-XXXXXX";
        StagePosition pos;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_TRUE(asprintf(&cmd, "cp -a '%s/.' '%s' && mkdir -p '%s/sys/devices/system/cpu/cpu1/cpufreq' && "
                             "echo schedutil >'%s/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor'",
                             FIXTURE("lab"), dir, dir, dir) > 0);
        ASSERT_EQ(system(cmd), 0);
        ASSERT_OK(machine_load(dir, 0, &m));
        config_init(&c);
        strcpy(c.tuning_governor, "performance");
        ASSERT_OK(stage_test_observe(&stage_host_tuning, &c, m, &pos, &plan));
        ASSERT_EQ(pos, STAGE_AT_HOST);
        ASSERT_STREQ(plan[0], "set the cpufreq governor to performance on every CPU");
        free(cmd);
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
}

static size_t position(const Stage *const *order, const char *name) {
        size_t i = 0;

        while (order[i] && !streq(order[i]->name, name))
                i++;
        ASSERT_TRUE(order[i] != NULL);
        return i;
}

static void test_placement(void) {
        _cleanup_(config_done) Config c = {};
        const Stage *o[STAGE_TABLE_MAX];
        size_t n = 0;

        while (stage_table[n])
                n++;
        ASSERT_EQ(position(stage_table, "user-stages"), n - 1);        /* the built-in order: the last */
        ASSERT_OK(stage_order("begin", o));
        ASSERT_EQ(position(o, "user-stages"), 0);
        ASSERT_EQ(position(o, "session"), 1);
        ASSERT_OK(stage_order("display-manager", o));
        ASSERT_EQ(position(o, "user-stages"), position(o, "display-manager") + 1);
        ASSERT_EQ(position(o, "session"), 0);
        ASSERT_EQ(stage_order("nope", o), -EINVAL);
        ASSERT_EQ(position(o, "user-stages"), n - 1);
        ASSERT_TRUE(o[n] == NULL);

        /* [stages] after places them; the default is after vfio; unknown names are refused. */
        ASSERT_OK(config_load_string("[stages]\nafter = host-tuning\n", "test.conf", &c));
        ASSERT_OK(stage_order(c.stages_after, o));
        ASSERT_EQ(position(o, "user-stages"), position(o, "host-tuning") + 1);
        ASSERT_EQ(position(o, "vfio"), n - 1);
        config_done(&c);
        config_init(&c);
        ASSERT_OK(stage_order(c.stages_after, o));
        ASSERT_EQ(position(o, "user-stages"), n - 1);
        for (const char *const *v = (const char *const[]) { "user-stages", "Vfio", "", "end", NULL }; *v; v++) {
                Config d = {};
                _cleanup_free_ char *text = NULL;

                ASSERT_TRUE(asprintf(&text, "[stages]\nafter = %s\n", *v) > 0);
                if (config_load_string(text, "test.conf", &d) != -EINVAL)
                        TEST_FAIL("after = %s was taken", *v);
        }
}

int main(void) {
        log_set_target(LOG_TARGET_STDERR);

        RUN(test_cpu_list);
        RUN(test_cpu_bytes);
        RUN(test_config);
        RUN(test_refusal);
        RUN(test_observe);
        RUN(test_observe_cpufreq);
        RUN(test_placement);
        return 0;
}
