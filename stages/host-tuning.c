/* SPDX-License-Identifier: GPL-2.0-or-later */
/* host-tuning: what libvirt hook scripts tune on the host for a VM, as a stage ([tuning] in
 * baton.conf).
 *
 * - CPU isolation: AllowedCPUs of user.slice, system.slice and init.scope, set at runtime
 *   through systemd's SetUnitProperties on the system bus (what `systemctl set-property
 *   --runtime` does), so the host keeps to host-cpus and the guest's vCPUs have the others.
 *   Each value is read back from systemd after it was set.
 * - Hugepages: the pool /sys/kernel/mm/hugepages/hugepages-<size>kB grows to the configured
 *   count after memory was compacted (/proc/sys/vm/compact_memory); how many pages the kernel
 *   really gave is read back, and fewer than asked fails with the figure unless
 *   hugepages-partial = yes. Both writes may take long in the kernel: they run in the engine's
 *   workers (step_write_async), with the "tuning" deadline.
 * - The cpufreq governor of the configured CPUs (all by default). Where no CPU has cpufreq
 *   (no driver, as in the lab's virtual machine) the step is skipped and says so.
 *
 * Its place is right before vfio: the stages before it stop the desktop, which frees the
 * memory the hugepages come from and lets the session's logout use every CPU; and on the way
 * back it runs right after the GPU returned, so the display manager starts on every CPU with
 * the hugepages' memory free again.
 *
 * Journal: "cpus.UNIT" = the unit's AllowedCPUs before, as a CPU list ("" when unrestricted)
 * for each of the three units when host-cpus is set; "hugepages.pool" = the pool's directory
 * name and "hugepages.count" = its nr_hugepages before; "governor.cpuN" = CPU N's governor
 * before. Everything is recorded before the first change.
 *
 * to_host puts every recorded value back, verified the same way, in reverse order (CPUs,
 * governors, hugepages); setting a value that is already there is harmless, so it may run any
 * number of times. Without a record it only resets the AllowedCPUs of a unit whose value is
 * exactly host-cpus (what baton sets); hugepages and governors, whose previous values nobody
 * knows, are left as they are.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "config-file.h"
#include "cpu-list.h"
#include "log.h"
#include "stage.h"
#include "strv.h"
#include "sysfs-util.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define CPU_DIR "/sys/devices/system/cpu"
#define HUGEPAGES_DIR "/sys/kernel/mm/hugepages"
#define COMPACT_MEMORY "/proc/sys/vm/compact_memory"

static const struct {
        const char *unit, *interface;
} slices[] = {
        { "user.slice", "org.freedesktop.systemd1.Slice" },
        { "system.slice", "org.freedesktop.systemd1.Slice" },
        { "init.scope", "org.freedesktop.systemd1.Scope" },
};

#define N_SLICES ELEMENTSOF(slices)

/* --- Reading the machine --- */

static int read_cpu_list(const char *root, const char *path, CpuSet *ret) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = sysfs_read_string(root, path, &text);
        if (r < 0)
                return r;
        return cpu_set_parse(text, ret);
}

/* The CPUs whose governor the stage sets: governor-cpus, or every online CPU. */
static int governor_cpus(const Config *c, const char *root, CpuSet *ret) {
        const char *list = c->tuning_governor_cpus;

        if (!isempty(list))
                return cpu_set_parse(list, ret);
        return read_cpu_list(root, CPU_DIR "/online", ret);
}

static int governor_path(unsigned cpu, char **ret) {
        return asprintf(ret, CPU_DIR "/cpu%u/cpufreq/scaling_governor", cpu) < 0 ? -ENOMEM : 0;
}

/* How many of cpus have a cpufreq governor at all. */
static unsigned count_cpufreq(const char *root, const CpuSet *cpus) {
        unsigned n = 0;

        for (unsigned cpu = 0; cpu < CPU_SET_MAX; cpu++) {
                _cleanup_free_ char *path = NULL;

                if (cpu_set_has(cpus, cpu) && governor_path(cpu, &path) >= 0 && sysfs_exists(root, path) > 0)
                        n++;
        }
        return n;
}

static int hugepages_path(unsigned size_kb, const char *attr, char **ret) {
        return asprintf(ret, HUGEPAGES_DIR "/hugepages-%ukB%s%s", size_kb, attr ? "/" : "", strempty(attr)) < 0 ?
                -ENOMEM : 0;
}

static int read_hugepages(const char *root, unsigned size_kb, unsigned *ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = hugepages_path(size_kb, "nr_hugepages", &path);
        if (r < 0)
                return r;
        return sysfs_read_unsigned(root, path, 10, ret);
}

/* --- observe --- */

static int plan_cpus(const Config *c, char ***plan) {
        if (isempty(c->tuning_host_cpus))
                return 0;
        return strv_extendf(plan, "keep the host on CPUs %s: AllowedCPUs of user.slice, system.slice and "
                            "init.scope at runtime (systemd, SetUnitProperties)", c->tuning_host_cpus);
}

static int plan_hugepages(const Machine *m, const Config *c, char ***plan) {
        unsigned now;
        int r;

        if (c->tuning_hugepages == 0)
                return 0;
        r = read_hugepages(m->root, c->tuning_hugepage_size_kb, &now);
        if (r == -ENOENT)
                return strv_extendf(plan, "no hugepages-%ukB pool on this machine: reserving %u hugepages "
                                    "will fail", c->tuning_hugepage_size_kb, c->tuning_hugepages);
        if (r < 0)
                return strv_extendf(plan, "hugepages-%ukB cannot be read (%s): reserving will fail",
                                    c->tuning_hugepage_size_kb, strerror(-r));
        return strv_extendf(plan, "reserve %u hugepages of %u kB (%u now), compacting memory first%s",
                            c->tuning_hugepages, c->tuning_hugepage_size_kb, now,
                            c->tuning_hugepages_partial ? "; fewer is accepted" : "");
}

/* Returns 1 when there is something to do. */
static int plan_governor(const Machine *m, const Config *c, char ***plan) {
        CpuSet cpus;
        int r;

        if (isempty(c->tuning_governor))
                return 0;
        r = governor_cpus(c, m->root, &cpus);
        if (r < 0)
                return strv_extendf(plan, "the CPUs cannot be listed (%s): the governor step is skipped",
                                    strerror(-r));
        if (count_cpufreq(m->root, &cpus) == 0) {
                r = strv_extendf(plan, "no cpufreq driver on this machine: setting the %s governor is skipped",
                                 c->tuning_governor);
                return r < 0 ? r : 0;
        }
        r = strv_extendf(plan, "set the cpufreq governor to %s on %s", c->tuning_governor,
                         isempty(c->tuning_governor_cpus) ? "every CPU" : c->tuning_governor_cpus);
        return r < 0 ? r : 1;
}

static int host_tuning_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                               StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL;
        const Config *c = ctx->config;
        bool work = !isempty(c->tuning_host_cpus) || c->tuning_hugepages > 0;
        int r;

        r = plan_cpus(c, &plan);
        if (r >= 0)
                r = plan_hugepages(m, c, &plan);
        if (r >= 0) {
                r = plan_governor(m, c, &plan);
                work = work || r > 0;
        }
        if (r < 0)
                return r;
        if ((strv_length(plan) == 0)) {
                r = strv_extend(&plan, "no host tuning configured ([tuning] in baton.conf)");
                if (r < 0)
                        return r;
        }
        *ret_pos = work ? STAGE_AT_HOST : STAGE_NOTHING_TO_DO;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* --- The running step --- */

typedef struct Tuning Tuning;
/* A phase returns 0 when done, STEP_PENDING while it waits, or a logged negative errno. */
typedef int (*phase_t)(Tuning *t);

struct Tuning {
        Step *step;
        sd_bus *bus;
        sd_bus_slot *slot;
        uint64_t timeout_usec;

        const phase_t *phases;
        size_t phase;
        size_t unit;                    /* the slice the current bus call is about */
        unsigned hugepages_state;       /* how far the hugepages phase got: 0, 1, 2 */
        bool compacting;

        CpuSet current[N_SLICES];       /* AllowedCPUs as read */
        bool set[N_SLICES];             /* which to set, to what */
        CpuSet target[N_SLICES];
};

static void tuning_free(void *p) {
        Tuning *t = p;

        if (!t)
                return;
        sd_bus_slot_unref(t->slot);
        sd_bus_unref(t->bus);
        free(t);
}

/* Runs the phases from the current one on, until one waits or all are done. */
static int advance(Tuning *t) {
        int r;

        for (; t->phases[t->phase]; t->phase++) {
                r = t->phases[t->phase](t);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* An asynchronous part of the current phase ended with r. */
static void resume(Tuning *t, int r) {
        if (r >= 0)
                r = advance(t);
        if (r != STEP_PENDING)
                step_finish(t->step, r);        /* frees t */
}

static int tuning_new(Step *s, const phase_t *phases, Tuning **ret) {
        Tuning *t = calloc(1, sizeof(Tuning));

        if (!t)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *t = (Tuning) { .step = s, .phases = phases, .timeout_usec = step_deadline_usec(s, DEADLINE_TUNING) };
        step_set_userdata(s, t, tuning_free);
        *ret = t;
        return 0;
}

static int tuning_bus(Tuning *t) {
        return t->bus ? 0 : step_system_bus(t->step, &t->bus);
}

static int reply_error(Tuning *t, sd_bus_message *reply, const char *what, const char *unit) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int k = sd_bus_message_get_errno(reply);

        return step_error_errno(t->step, k > 0 ? -k : -EIO, "Failed to %s AllowedCPUs of %s: %s", what, unit,
                                e->message ?: e->name);
}

/* --- AllowedCPUs --- */

static int get_allowed_cpus(Tuning *t, sd_bus_message_handler_t callback) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", slices[t->unit].unit, &path);
        if (r >= 0)
                r = sd_bus_message_new_method_call(t->bus, &m, SYSTEMD_SERVICE, path,
                                                   "org.freedesktop.DBus.Properties", "Get");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", slices[t->unit].interface, "AllowedCPUs");
        if (r >= 0)
                r = sd_bus_call_async(t->bus, &t->slot, m, callback, t, t->timeout_usec);
        if (r < 0)
                return step_error_errno(t->step, r,
                                        "Failed to ask for AllowedCPUs of %s: %m", slices[t->unit].unit);
        return STEP_PENDING;
}

static int parse_allowed_cpus(Tuning *t, sd_bus_message *reply, CpuSet *ret) {
        const void *bytes;
        size_t n;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL))
                return reply_error(t, reply, "read", slices[t->unit].unit);
        r = sd_bus_message_enter_container(reply, 'v', "ay");
        if (r >= 0)
                r = sd_bus_message_read_array(reply, 'y', &bytes, &n);
        if (r >= 0)
                r = cpu_set_from_bytes(bytes, n, ret);
        if (r < 0)
                return step_error_errno(t->step, r,
                                        "Failed to parse AllowedCPUs of %s: %m", slices[t->unit].unit);
        return 0;
}

static int on_read(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Tuning *t = userdata;
        int r;

        t->slot = sd_bus_slot_unref(t->slot);
        r = parse_allowed_cpus(t, reply, &t->current[t->unit]);
        if (r >= 0)
                t->unit++;
        resume(t, r);
        return 0;
}

/* Phase: AllowedCPUs of every slice into t->current. */
static int phase_read_cpus(Tuning *t) {
        int r;

        if (t->unit >= N_SLICES) {
                t->unit = 0;
                return 0;
        }
        r = tuning_bus(t);
        if (r < 0)
                return r;
        return get_allowed_cpus(t, on_read);
}

static int on_verified(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_free_ char *want = NULL, *got = NULL, *label = NULL;
        const char *unit = slices[((Tuning *) userdata)->unit].unit;
        Tuning *t = userdata;
        CpuSet now;
        int r;

        t->slot = sd_bus_slot_unref(t->slot);
        r = parse_allowed_cpus(t, reply, &now);
        if (r >= 0 && (cpu_set_format(&t->target[t->unit], &want) < 0 || cpu_set_format(&now, &got) < 0))
                r = step_error_errno(t->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        if (r >= 0 && !cpu_set_equal(&now, &t->target[t->unit]))
                r = step_error_errno(t->step, SYNTHETIC_ERRNO(EIO),
                                     "AllowedCPUs of %s is '%s' after setting it to '%s'.",
                                     unit, got, want);
        if (r >= 0) {
                log_info("AllowedCPUs of %s is '%s'%s.", unit, want, isempty(want) ? " (every CPU)" : "");
                if (asprintf(&label, "AllowedCPUs of %s set", unit) >= 0)
                        step_crash_point(t->step, label);
                t->unit++;
        }
        resume(t, r);
        return 0;
}

static int on_set(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Tuning *t = userdata;
        int r;

        t->slot = sd_bus_slot_unref(t->slot);
        if (sd_bus_message_is_method_error(reply, NULL))
                r = reply_error(t, reply, "set", slices[t->unit].unit);
        else
                r = get_allowed_cpus(t, on_verified);   /* what systemd applied, not what it said */
        if (r != STEP_PENDING)
                resume(t, r);
        return 0;
}

static int set_allowed_cpus(Tuning *t) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const CpuSet *c = &t->target[t->unit];
        int r;

        r = sd_bus_message_new_method_call(t->bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH,
                                           "org.freedesktop.systemd1.Manager", "SetUnitProperties");
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", slices[t->unit].unit, 1);   /* runtime: gone at reboot */
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "AllowedCPUs");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "ay");
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', c->bits, cpu_set_bytes(c));
        for (unsigned i = 0; i < 3 && r >= 0; i++)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call_async(t->bus, &t->slot, m, on_set, t, t->timeout_usec);
        if (r < 0)
                return step_error_errno(t->step, r,
                                        "Failed to set AllowedCPUs of %s: %m", slices[t->unit].unit);
        return STEP_PENDING;
}

/* Phase: AllowedCPUs of each slice marked in t->set to its target, each read back. */
static int phase_set_cpus(Tuning *t) {
        int r;

        while (t->unit < N_SLICES && !t->set[t->unit])
                t->unit++;
        if (t->unit >= N_SLICES) {
                t->unit = 0;
                return 0;
        }
        r = tuning_bus(t);
        if (r < 0)
                return r;
        return set_allowed_cpus(t);
}

/* --- Hugepages --- */

static void on_hugepages_write(Step *s, int r, void *userdata) {
        Tuning *t = userdata;

        if (t->compacting && r >= 0)
                log_info("Memory compacted.");

        if (r < 0 && t->compacting) {
                /* Compaction only helps; a kernel without it still reserves what it can. */
                step_warning_errno(s, r, "Failed to compact memory (%s), going on: %m", COMPACT_MEMORY);
                r = 0;
        } else if (r < 0)
                r = step_error_errno(s, r, "Failed to write the hugepage count: %m%s",
                                     r == -ETIMEDOUT ? " (the tuning deadline passed)" : "");
        resume(t, r);
}

/* Writes count to the pool of size_kb pages, in a worker (the kernel may take long). */
static int write_hugepages(Tuning *t, unsigned size_kb, unsigned count) {
        _cleanup_free_ char *path = NULL;
        char value[16];
        int r;

        r = hugepages_path(size_kb, "nr_hugepages", &path);
        if (r < 0)
                return step_error_errno(t->step, r, "Out of memory.");
        (void) snprintf(value, sizeof(value), "%u", count);
        r = step_write_async(t->step, path, value, t->timeout_usec, on_hugepages_write, t);
        if (r < 0)
                return step_error_errno(t->step, r, "Failed to start writing %s to %s: %m", value, path);
        return STEP_PENDING;
}

/* Phase (to guest): compact, reserve, check what the kernel gave. */
static int phase_reserve_hugepages(Tuning *t) {
        const Config *c = step_config(t->step);
        unsigned got;
        int r;

        if (c->tuning_hugepages == 0)
                return 0;
        switch (t->hugepages_state++) {
        case 0:
                log_info("Compacting memory before reserving %u hugepages of %u kB.", c->tuning_hugepages,
                         c->tuning_hugepage_size_kb);
                t->compacting = true;
                r = step_write_async(t->step, COMPACT_MEMORY, "1", t->timeout_usec, on_hugepages_write, t);
                if (r < 0)
                        return step_error_errno(t->step, r, "Failed to start compacting memory: %m");
                return STEP_PENDING;
        case 1:
                t->compacting = false;
                return write_hugepages(t, c->tuning_hugepage_size_kb, c->tuning_hugepages);
        default:
                r = read_hugepages(step_root(t->step), c->tuning_hugepage_size_kb, &got);
                if (r < 0)
                        return step_error_errno(t->step, r,
                                                "Failed to read back hugepages-%ukB: %m", c->tuning_hugepage_size_kb);
                step_crash_point(t->step, "hugepages reserved");
                if (got < c->tuning_hugepages && !c->tuning_hugepages_partial)
                        return step_error_errno(t->step, SYNTHETIC_ERRNO(ENOMEM),
                                                "The kernel reserved only %u of %u hugepages of %u kB (memory "
                                                "too fragmented or too little free); hugepages-partial = yes "
                                                "accepts that.", got, c->tuning_hugepages, c->tuning_hugepage_size_kb);
                if (got < c->tuning_hugepages)
                        step_warning(t->step,
                                     "The kernel reserved only %u of %u hugepages of %u kB; going on "
                                     "(hugepages-partial = yes).", got, c->tuning_hugepages, c->tuning_hugepage_size_kb);
                else
                        log_info("Reserved %u hugepages of %u kB.", got, c->tuning_hugepage_size_kb);
                return 0;
        }
}

/* Phase (to host): the recorded count back. */
static int phase_restore_hugepages(Tuning *t) {
        const char *pool = step_get(t->step, "hugepages.pool"), *count = step_get(t->step, "hugepages.count");
        unsigned size_kb, want, got;
        int r;

        if (!pool || !count)
                return 0;
        if (sscanf(pool, "hugepages-%ukB", &size_kb) != 1 || sscanf(count, "%u", &want) != 1)
                return step_error_errno(t->step, SYNTHETIC_ERRNO(EBADMSG),
                                        "The hugepages record is unreadable: %s %s.",
                                        pool, count);
        if (t->hugepages_state++ == 0)
                return write_hugepages(t, size_kb, want);
        r = read_hugepages(step_root(t->step), size_kb, &got);
        if (r < 0)
                return step_error_errno(t->step, r, "Failed to read back %s: %m", pool);
        /* Pages still in use (a guest that has not quite gone) are freed when released. */
        if (got != want)
                return step_error_errno(t->step, SYNTHETIC_ERRNO(EBUSY),
                                        "%s holds %u hugepages after writing %u "
                                        "(pages still in use?).", pool, got, want);
        log_info("%s is back to %u hugepages.", pool, want);
        return 0;
}

/* --- Governors --- */

static int set_governor(Step *s, unsigned cpu, const char *governor) {
        _cleanup_free_ char *path = NULL, *now = NULL, *label = NULL;
        int r;

        r = governor_path(cpu, &path);
        if (r < 0)
                return step_error_errno(s, r, "Out of memory.");
        r = step_write(s, path, governor);
        if (r < 0)
                return step_error_errno(s, r,
                                        "Failed to set the cpufreq governor of CPU %u to %s: %m", cpu, governor);
        r = sysfs_read_string(step_root(s), path, &now);
        if (r < 0)
                return step_error_errno(s, r, "Failed to read back %s: %m", path);
        if (!streq(now, governor))
                return step_error_errno(s, SYNTHETIC_ERRNO(EIO),
                                        "CPU %u's governor is %s after setting it to %s.",
                                        cpu, now, governor);
        if (asprintf(&label, "governor of cpu%u set", cpu) >= 0)
                step_crash_point(s, label);
        return 0;
}

static int phase_set_governors(Tuning *t) {
        const char *governor = step_config(t->step)->tuning_governor;
        _cleanup_strv_free_ char **keys = step_keys(t->step, "governor.cpu");
        unsigned cpu;
        int r;

        if (isempty(governor))
                return 0;
        if ((strv_length(keys) == 0)) {
                log_info("No cpufreq driver on the configured CPUs: setting the %s governor is skipped.", governor);
                return 0;
        }
        STRV_FOREACH(k, keys) {
                if (sscanf(*k, "governor.cpu%u", &cpu) != 1)
                        continue;
                r = set_governor(t->step, cpu, governor);
                if (r < 0)
                        return r;
        }
        log_info("cpufreq governor %s set on %zu CPU(s).", governor, strv_length(keys));
        return 0;
}

static int phase_restore_governors(Tuning *t) {
        _cleanup_strv_free_ char **keys = step_keys(t->step, "governor.cpu");
        unsigned cpu;
        int r;

        STRV_FOREACH(k, keys) {
                if (sscanf(*k, "governor.cpu%u", &cpu) != 1)
                        continue;
                r = set_governor(t->step, cpu, step_get(t->step, *k));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- to_guest --- */

static int record_governors(Step *s, const Config *c) {
        CpuSet cpus;
        int r;

        if (isempty(c->tuning_governor))
                return 0;
        r = governor_cpus(c, step_root(s), &cpus);
        if (r < 0)
                return step_error_errno(s, r, "Failed to list the CPUs for the governor: %m");
        for (unsigned cpu = 0; cpu < CPU_SET_MAX; cpu++) {
                _cleanup_free_ char *path = NULL, *governor = NULL, *key = NULL;

                if (!cpu_set_has(&cpus, cpu))
                        continue;
                r = governor_path(cpu, &path);
                if (r >= 0)
                        r = sysfs_read_string(step_root(s), path, &governor);
                if (r == -ENOENT)
                        continue;       /* no cpufreq on this CPU */
                if (r >= 0)
                        r = asprintf(&key, "governor.cpu%u", cpu) < 0 ? -ENOMEM : step_record(s, key, governor);
                if (r < 0)
                        return step_error_errno(s, r, "Failed to record the governor of CPU %u: %m", cpu);
        }
        return 0;
}

static int record_hugepages(Step *s, const Config *c) {
        unsigned count;
        int r;

        if (c->tuning_hugepages == 0)
                return 0;
        r = read_hugepages(step_root(s), c->tuning_hugepage_size_kb, &count);
        if (r == -ENOENT)
                return step_error_errno(s, r, "There is no hugepages-%ukB pool on this machine (%s): check "
                                        "hugepage-size in [tuning].", c->tuning_hugepage_size_kb, HUGEPAGES_DIR);
        if (r < 0)
                return step_error_errno(s, r,
                                        "Failed to read hugepages-%ukB: %m", c->tuning_hugepage_size_kb);
        r = step_recordf(s, "hugepages.pool", "hugepages-%ukB", c->tuning_hugepage_size_kb);
        if (r >= 0)
                r = step_recordf(s, "hugepages.count", "%u", count);
        if (r < 0)
                return step_error_errno(s, r, "Failed to record the hugepages: %m");
        return 0;
}

/* Phase: everything found is recorded and committed; the CPU targets are set up. */
static int phase_record(Tuning *t) {
        const Config *c = step_config(t->step);
        Step *s = t->step;
        CpuSet host;
        int r;

        if (!isempty(c->tuning_host_cpus)) {
                r = cpu_set_parse(c->tuning_host_cpus, &host);
                if (r < 0)
                        return step_error_errno(t->step, r,
                                                "Invalid host-cpus '%s' in [tuning].", c->tuning_host_cpus);
                for (size_t i = 0; i < N_SLICES; i++) {
                        _cleanup_free_ char *text = NULL, *key = NULL;

                        r = cpu_set_format(&t->current[i], &text);
                        if (r >= 0)
                                r = asprintf(&key, "cpus.%s", slices[i].unit) < 0 ? -ENOMEM : step_record(s, key, text);
                        if (r < 0)
                                return step_error_errno(t->step, r,
                                                        "Failed to record AllowedCPUs of %s: %m", slices[i].unit);
                        t->set[i] = true;
                        t->target[i] = host;
                }
        }
        r = record_hugepages(s, c);
        if (r < 0)
                return r;
        r = record_governors(s, c);
        if (r < 0)
                return r;
        r = step_commit(s);
        if (r < 0)
                return step_error_errno(t->step, r, "Failed to commit the host tuning record: %m");
        return 0;
}

/* Refuses a CPU list that names CPUs this machine does not have online: systemd would take
 * it, and the host would end up on fewer CPUs than asked, or none. */
static int check_host_cpus(Step *s, const char *root, const char *list) {
        CpuSet host, online;
        int r;

        if (isempty(list))
                return 0;
        r = cpu_set_parse(list, &host);
        if (r < 0)
                return step_error_errno(s, r, "Invalid host-cpus '%s' in [tuning].", list);
        r = read_cpu_list(root, CPU_DIR "/online", &online);
        if (r < 0)
                return step_error_errno(s, r, "Failed to read %s/online: %m", CPU_DIR);
        for (unsigned cpu = 0; cpu < CPU_SET_MAX; cpu++)
                if (cpu_set_has(&host, cpu) && !cpu_set_has(&online, cpu))
                        return step_error_errno(s, SYNTHETIC_ERRNO(EINVAL),
                                                "host-cpus '%s' in [tuning] names CPU %u, which is not online.",
                                                list, cpu);
        return 0;
}

static int phase_read_cpus_if_isolating(Tuning *t) {
        return isempty(step_config(t->step)->tuning_host_cpus) ? 0 : phase_read_cpus(t);
}

static const phase_t to_guest_phases[] = {
        phase_read_cpus_if_isolating,
        phase_record,
        phase_reserve_hugepages,
        phase_set_governors,
        phase_set_cpus,
        NULL,
};

static int host_tuning_to_guest(Step *s) {
        Tuning *t;
        int r;

        if (!step_is_live(s) && !isempty(step_config(s)->tuning_host_cpus))
                return step_error_errno(s, SYNTHETIC_ERRNO(EOPNOTSUPP),
                                        "Not isolating CPUs: the machine is read "
                                        "from %s, and this system's slices are not its.", step_root(s));
        r = check_host_cpus(s, step_root(s), step_config(s)->tuning_host_cpus);
        if (r < 0)
                return r;
        r = tuning_new(s, to_guest_phases, &t);
        if (r < 0)
                return r;
        return advance(t);
}

/* --- to_host --- */

/* Phase: the recorded AllowedCPUs as targets. */
static int phase_cpu_targets(Tuning *t) {
        for (size_t i = 0; i < N_SLICES; i++) {
                _cleanup_free_ char *key = NULL;
                const char *v;

                if (asprintf(&key, "cpus.%s", slices[i].unit) < 0)
                        return step_error_errno(t->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
                v = step_get(t->step, key);
                if (!v)
                        continue;
                if (cpu_set_parse(v, &t->target[i]) < 0)
                        return step_error_errno(t->step, SYNTHETIC_ERRNO(EBADMSG),
                                                "The record of %s is unreadable: '%s'.",
                                                key, v);
                t->set[i] = true;
        }
        return 0;
}

/* Phase, without a record: reset only the slices that hold exactly what baton sets. */
static int phase_unrecorded_targets(Tuning *t) {
        const char *list = step_config(t->step)->tuning_host_cpus;
        CpuSet host;

        if (cpu_set_parse(list, &host) < 0)
                return 0;
        for (size_t i = 0; i < N_SLICES; i++)
                if (cpu_set_equal(&t->current[i], &host)) {
                        log_notice("No record of the host tuning: AllowedCPUs of %s is host-cpus (%s); "
                                   "resetting it.", slices[i].unit, list);
                        t->set[i] = true;
                        t->target[i] = (CpuSet) {};
                }
        return 0;
}

static const phase_t to_host_phases[] = {
        phase_cpu_targets,
        phase_set_cpus,
        phase_restore_governors,
        phase_restore_hugepages,
        NULL,
};

static const phase_t unrecorded_phases[] = {
        phase_read_cpus,
        phase_unrecorded_targets,
        phase_set_cpus,
        NULL,
};

static int host_tuning_to_host(Step *s) {
        Tuning *t;
        int r;

        if (!step_has_record(s)) {
                if (isempty(step_config(s)->tuning_host_cpus) || !step_is_live(s)) {
                        log_debug("No record of the host tuning, and nothing to infer from observation.");
                        return 0;
                }
                r = tuning_new(s, unrecorded_phases, &t);
        } else
                r = tuning_new(s, to_host_phases, &t);
        if (r < 0)
                return r;
        return advance(t);
}

const Stage stage_host_tuning = {
        .name = "host-tuning",
        .observe_on_loop = true,
        .summary = "host tuning: CPU isolation, hugepages, cpufreq governor",
        .observe = host_tuning_observe,
        .to_guest = host_tuning_to_guest,
        .to_host = host_tuning_to_host,
};
