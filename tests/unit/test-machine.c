/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "dev-nodes.h"
#include "drm-probe.h"
#include "holders.h"
#include "log.h"
#include "machine.h"
#include "status.h"
#include "strv.h"
#include "tests.h"
#include "time-util.h"

static Machine *load(const char *tree) {
        Machine *m = NULL;

        ASSERT_OK(machine_load(tree, 0, &m));
        ASSERT_TRUE(m != NULL);
        return m;
}

static char *status_text(const Machine *m) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        ASSERT_TRUE(f != NULL);
        status_print(f, m, NULL, 0);
        ASSERT_EQ(fclose(f), 0);
        return buf;
}

static void test_lab_gpu_and_group(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));

        ASSERT_EQ(m->n_pci, 5);
        ASSERT_TRUE(machine_has_gpu(m));
        ASSERT_STREQ(m->gpu->address, "0000:00:02.0");
        ASSERT_EQ(m->gpu->vendor, 0x1234);
        ASSERT_EQ(m->gpu->device, 0x1111);
        ASSERT_EQ(m->gpu->class, 0x030000);
        ASSERT_STREQ(m->gpu->driver, "bochs-drm");
        ASSERT_NULL(m->gpu->driver_override);         /* "(null)" in sysfs */
        ASSERT_EQ(m->gpu->boot_vga, 1);

        ASSERT_EQ(m->group.number, 2);
        ASSERT_EQ(m->group.n_devices, 2);
        ASSERT_STREQ(m->group.devices[1].pci.address, "0000:00:02.1");
        ASSERT_STREQ(m->group.devices[1].pci.driver, "snd_hda_intel");
        ASSERT_EQ(m->group.devices[1].pci.class, 0x040300);
        ASSERT_EQ(m->group.devices[1].pci.boot_vga, -1);
        ASSERT_EQ(m->group.devices[1].pci.iommu_group, 2);     /* a group member is read whole */
        ASSERT_FALSE(m->group.devices[1].pci.brief);
        ASSERT_TRUE(m->group.devices[0].is_card_function);
        ASSERT_TRUE(m->group.devices[1].is_card_function);
        ASSERT_FALSE(m->group.devices[1].is_bridge);
        ASSERT_EQ(iommu_group_count_foreign(&m->group), 0);

        /* In the list of every device, the GPU is read whole, the others up to their driver. */
        ASSERT_FALSE(m->gpu->brief);
        ASSERT_EQ(m->gpu->iommu_group, 2);
        ASSERT_STREQ(m->pci[3].address, "0000:00:04.0");
        ASSERT_TRUE(m->pci[3].brief);
        ASSERT_EQ(m->pci[3].class, 0x0c0330);
        ASSERT_STREQ(m->pci[3].driver, "xhci_hcd");
        ASSERT_EQ(m->pci[3].iommu_group, -1);   /* not read: its iommu_group links to 3 */
}

static void test_lab_consoles_and_nodes(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));

        ASSERT_EQ(m->n_vtcons, 2);
        ASSERT_STREQ(m->vtcons[0].id, "vtcon0");
        ASSERT_FALSE(m->vtcons[0].is_fb);
        ASSERT_STREQ(m->vtcons[1].name, "(M) frame buffer device");
        ASSERT_TRUE(m->vtcons[1].is_fb);
        ASSERT_TRUE(m->vtcons[1].bound);
        ASSERT_EQ(m->n_fbs, 0);         /* bochs took the aperture over from efifb */

        ASSERT_EQ(strv_length(m->drm_nodes), 2);
        ASSERT_STREQ(m->drm_nodes[0], "/dev/dri/card0");
        ASSERT_STREQ(m->drm_nodes[1], "/dev/dri/renderD128");
        ASSERT_STREQ(machine_card_node(m), "/dev/dri/card0");
        ASSERT_EQ(strv_length(m->snd_nodes), 4);
        ASSERT_TRUE(strv_contains(m->snd_nodes, "/dev/snd/controlC0"));
        ASSERT_TRUE(strv_contains(m->snd_nodes, "/dev/snd/pcmC0D0p"));
        ASSERT_FALSE(strv_contains(m->snd_nodes, "/dev/snd/id"));
}

static void test_lab_holders_and_master(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        const HolderScan *s = &m->holders;
        const DrmClient *master;

        /* cage twice on card0 (two fds and a mapping) counts once; systemd holds nothing, and
         * pipewire's fd on another card's node (controlC1) is not the GPU's. */
        ASSERT_EQ(s->n_holders, 5);
        ASSERT_EQ(s->holders[0].pid, 412);
        ASSERT_STREQ(s->holders[0].comm, "cage");
        ASSERT_STREQ(s->holders[0].node, "/dev/dri/card0");
        ASSERT_FALSE(s->holders[0].mapped_only);
        ASSERT_FALSE(s->holders[0].has_drm_client_id);  /* bochs prints no drm-* keys */
        ASSERT_STREQ(s->holders[1].node, "/dev/snd/controlC0");
        ASSERT_STREQ(s->holders[2].node, "/dev/snd/pcmC0D0p");
        ASSERT_EQ(s->holders[3].pid, 777);
        ASSERT_TRUE(s->holders[3].mapped_only);
        ASSERT_STREQ(s->holders[4].node, "/dev/fb0");

        ASSERT_EQ(m->clients_error, 0);
        master = machine_drm_master(m);
        ASSERT_TRUE(master != NULL);
        ASSERT_EQ(master->pid, 412);
        ASSERT_STREQ(master->command, "cage");
}

static void test_lab_boot(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab-boot"));

        ASSERT_STREQ(m->gpu->address, "0000:00:02.0");
        ASSERT_NULL(m->gpu->driver);
        ASSERT_EQ(strv_length(m->drm_nodes), 0);
        ASSERT_NULL(machine_card_node(m));
        ASSERT_NULL(machine_drm_master(m));
        ASSERT_EQ(m->n_fbs, 1);
        ASSERT_STREQ(m->fbs[0].name, "efi-framebuffer.0");
        ASSERT_STREQ(m->fbs[0].driver, "efi-framebuffer");
        ASSERT_EQ(m->holders.n_holders, 0);     /* no /proc in this tree */
}

static void test_nogpu(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("nogpu"));
        _cleanup_free_ char *text = NULL;

        ASSERT_EQ(m->n_pci, 3);
        ASSERT_FALSE(machine_has_gpu(m));
        ASSERT_EQ(m->group.number, -1);
        ASSERT_EQ(m->group.n_devices, 0);
        ASSERT_EQ(strv_length(m->drm_nodes), 0);
        ASSERT_EQ(m->holders.n_holders, 0);
        ASSERT_EQ(m->n_vtcons, 1);

        text = status_text(m);
        ASSERT_TRUE(strstr(text, "GPU            no display-class GPU found\n"));
        ASSERT_TRUE(strstr(text, "0000:00:03.0 (network, virtio-pci)"));
        ASSERT_TRUE(strstr(text, "holders        none\n"));
}

static void test_shared_group(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("shared-group"));
        const IommuGroup *g = &m->group;

        /* The iGPU at 00:02.0 comes first by address; boot_vga picks the dGPU. */
        ASSERT_STREQ(m->gpu->address, "0000:01:00.0");
        ASSERT_EQ(g->number, 1);
        ASSERT_EQ(g->n_devices, 5);
        ASSERT_TRUE(g->devices[0].is_bridge);
        ASSERT_FALSE(g->devices[0].is_card_function);
        ASSERT_TRUE(g->devices[1].is_bridge);
        ASSERT_TRUE(g->devices[2].is_card_function);
        ASSERT_TRUE(g->devices[3].is_card_function);
        ASSERT_STREQ(g->devices[4].pci.address, "0000:02:00.0");
        ASSERT_EQ(g->devices[4].pci.class, 0x010802);
        ASSERT_FALSE(g->devices[4].is_bridge);
        ASSERT_FALSE(g->devices[4].is_card_function);
        ASSERT_EQ(iommu_group_count_foreign(g), 1);

        ASSERT_EQ(m->n_fbs, 1);
        ASSERT_STREQ(m->fbs[0].driver, "simple-framebuffer");
        ASSERT_EQ(m->clients_error, -ENOENT);           /* no debugfs in this tree */
        ASSERT_NULL(machine_drm_master(m));
}

static void test_shared_group_holders(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("shared-group"));
        const HolderScan *s = &m->holders;
        _cleanup_free_ char *text = NULL;

        ASSERT_EQ(s->n_holders, 3);
        ASSERT_STREQ(s->holders[0].node, "/dev/dri/card0");
        ASSERT_TRUE(s->holders[0].has_drm_client_id);
        ASSERT_EQ(s->holders[0].drm_client_id, 7);
        ASSERT_STREQ(s->holders[1].node, "/dev/nvidia0");
        ASSERT_STREQ(s->holders[2].node, "/dev/nvidiactl");

        text = status_text(m);
        ASSERT_TRUE(strstr(text, "0000:02:00.0 (nvme, nvme; not part of the card)"));
        ASSERT_TRUE(strstr(text, "shared: 1 endpoint(s) not part of the card"));
}

/* The real NVIDIA machine (tests/unit/fixtures/README.md, nvidia-noiommu): baton had
 * inherited an fd of /dev/nvidiactl and listed itself as a holder. /proc/self names it. */
static void test_never_own_holder(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("nvidia-noiommu"));
        const HolderScan *s = &m->holders;
        _cleanup_free_ char *text = NULL;

        ASSERT_EQ(s->n_holders, 4);
        for (size_t i = 0; i < s->n_holders; i++) {
                ASSERT_EQ(s->holders[i].pid, 1377);
                ASSERT_STREQ(s->holders[i].comm, "nvidia-persiste");
        }
        ASSERT_STREQ(s->holders[0].node, "/dev/nvidia-caps/nvidia-cap2");
        ASSERT_STREQ(s->holders[3].node, "/dev/nvidiactl");

        text = status_text(m);
        ASSERT_TRUE(strstr(text, "pid 1377 nvidia-persiste /dev/nvidiactl"));
        ASSERT_FALSE(strstr(text, "2051"));
        ASSERT_TRUE(strstr(text, "IOMMU group    none (the GPU has no IOMMU group: IOMMU off?)\n"));
        /* nvidia and nvidia_uvm are live without refcnt: loaded for good. */
        ASSERT_TRUE(strstr(text, "modules        nvidia_uvm: loaded, cannot be unloaded (no refcnt: a kernel "
                                 "without module unloading)\n"
                                 "               nvidia: loaded, cannot be unloaded (no refcnt"));
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f != NULL);
        ASSERT_TRUE(fputs(text, f) >= 0);
        ASSERT_EQ(fclose(f), 0);
}

/* A process with no fd and a mapping of the card is a holder; one with no fd and no "exe"
 * (a kernel thread, or a process that exited) has no memory, and the walk reads no maps
 * of it: this tree's maps say otherwise, so that the skip shows. */
static void test_holders_without_fds(void) {
        const char *map = "7f3a2c000000-7f3a2c300000 rw-s 100000000 00:05 187 /dev/dri/card0\n";
        char tree[] = "/tmp/baton-holders-XXXXXX", p[PATH_MAX];
        char *nodes[] = { (char *) "/dev/dri/card0", NULL };
        _cleanup_(holder_scan_done) HolderScan s = {};

        ASSERT_TRUE(mkdtemp(tree) != NULL);
        (void) snprintf(p, sizeof(p), "%s/proc", tree);
        ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
        for (int pid = 100; pid <= 101; pid++) {
                (void) snprintf(p, sizeof(p), "%s/proc/%d", tree, pid);
                ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
                (void) snprintf(p, sizeof(p), "%s/proc/%d/fd", tree, pid);
                ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
                (void) snprintf(p, sizeof(p), "%s/proc/%d/maps", tree, pid);
                write_file(p, map);
                (void) snprintf(p, sizeof(p), "%s/proc/%d/comm", tree, pid);
                write_file(p, pid == 100 ? "kworker/0:1\n" : "mapper\n");
        }
        (void) snprintf(p, sizeof(p), "%s/proc/101/exe", tree);
        ASSERT_OK(symlink("/usr/bin/mapper", p) < 0 ? -errno : 0);

        ASSERT_OK(holders_scan(tree, nodes, &s));
        ASSERT_EQ(s.n_holders, 1);
        ASSERT_EQ(s.holders[0].pid, 101);
        ASSERT_STREQ(s.holders[0].comm, "mapper");
        ASSERT_TRUE(s.holders[0].mapped_only);
        ASSERT_EQ(s.n_unreadable, 0);

        (void) snprintf(p, sizeof(p), "rm -rf '%s'", tree);
        ASSERT_EQ(system(p), 0);
}

/* The walk by one walker and by several: the same holders, in the same order. A tree of 120
 * processes: every third holds card0 by an fd, every fifth maps renderD128, every seventh
 * has its fds unreadable (no fd directory: "not ours" and "gone" look alike here, and are
 * skipped alike). */
/* holders_scan_async() on a loop of its own, with a 10 ms timer whose ticks show the loop
 * turning while the walk runs; open_fifo_after ticks (0: never) a writer opens the FIFO at
 * fifo, which lets a walker stuck on it go on. */
typedef struct AsyncScan {
        sd_event *event;
        int r;
        bool walked;
        HolderScan scan;
        unsigned ticks, open_fifo_after;
        const char *fifo;
        bool fifo_opened;
} AsyncScan;

static void on_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata) {
        AsyncScan *a = userdata;

        a->walked = true;
        a->r = r;
        if (scan)
                a->scan = TAKE_STRUCT(*scan);
        holders_walk_free(hw);
}

static int on_scan_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        AsyncScan *a = userdata;

        if (++a->ticks >= a->open_fifo_after && a->open_fifo_after > 0 && !a->fifo_opened) {
                /* ENXIO: the walker has not reached its open yet. */
                int fd = open(a->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

                ASSERT_TRUE(fd >= 0 || errno == ENXIO);
                a->fifo_opened = fd >= 0;
                if (fd >= 0)
                        close(fd);
        }
        (void) sd_event_source_set_time_relative(s, 10000);
        return 0;
}

static void scan_on_loop(const char *tree, char **nodes, unsigned n_walkers, uint64_t stall_usec, LogSink *sink,
                         AsyncScan *a) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sd_event_source *tick = NULL;
        HoldersWalk *hw = NULL;

        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(sd_event_add_time_relative(event, &tick, CLOCK_MONOTONIC, 10000, 1000, on_scan_tick, a));
        ASSERT_OK(sd_event_source_set_enabled(tick, SD_EVENT_ON));
        ASSERT_OK(holders_scan_async(event, tree, nodes, n_walkers, stall_usec, sink, on_walked, a, &hw));
        while (!a->walked)
                ASSERT_OK(sd_event_run(event, UINT64_MAX));
        sd_event_source_disable_unref(tick);
}

static void test_holders_walkers(void) {
        char tree[] = "/tmp/baton-walkers-XXXXXX", p[PATH_MAX];
        char *nodes[] = { (char *) "/dev/dri/card0", (char *) "/dev/dri/renderD128", NULL };
        HolderScan one = {}, many = {};
        AsyncScan a = {};
        size_t expected = 0;

        ASSERT_TRUE(mkdtemp(tree) != NULL);
        (void) snprintf(p, sizeof(p), "%s/proc", tree);
        ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
        for (int pid = 200; pid < 320; pid++) {
                char comm[32];

                (void) snprintf(p, sizeof(p), "%s/proc/%d", tree, pid);
                ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
                (void) snprintf(comm, sizeof(comm), "proc-%d\n", pid);
                (void) snprintf(p, sizeof(p), "%s/proc/%d/comm", tree, pid);
                write_file(p, comm);
                (void) snprintf(p, sizeof(p), "%s/proc/%d/exe", tree, pid);
                ASSERT_OK(symlink("/usr/bin/app", p) < 0 ? -errno : 0);
                (void) snprintf(p, sizeof(p), "%s/proc/%d/maps", tree, pid);
                write_file(p, pid % 5 == 0 ? "7f00-7f10 rw-s 0 00:05 9 /dev/dri/renderD128\n" : "");
                expected += pid % 5 == 0;
                if (pid % 7 == 0)
                        continue;
                (void) snprintf(p, sizeof(p), "%s/proc/%d/fd", tree, pid);
                ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
                (void) snprintf(p, sizeof(p), "%s/proc/%d/fd/0", tree, pid);
                ASSERT_OK(symlink("/dev/null", p) < 0 ? -errno : 0);
                if (pid % 3 == 0) {
                        (void) snprintf(p, sizeof(p), "%s/proc/%d/fd/5", tree, pid);
                        ASSERT_OK(symlink("/dev/dri/card0", p) < 0 ? -errno : 0);
                        expected++;
                }
        }
        /* pid % 7 == 0 has no fds to read, and the walk stops there: its maps are not read. */
        for (int pid = 200; pid < 320; pid++)
                expected -= pid % 7 == 0 && pid % 5 == 0;

        ASSERT_OK(holders_scan_walkers(tree, nodes, 1, HOLDERS_STALL_USEC, &one));
        ASSERT_OK(holders_scan_walkers(tree, nodes, 4, HOLDERS_STALL_USEC, &many));
        ASSERT_EQ(one.n_holders, expected);
        ASSERT_EQ(many.n_holders, expected);
        for (size_t i = 0; i < one.n_holders; i++) {
                ASSERT_EQ(many.holders[i].pid, one.holders[i].pid);
                ASSERT_STREQ(many.holders[i].node, one.holders[i].node);
                ASSERT_STREQ(many.holders[i].comm, one.holders[i].comm);
                ASSERT_EQ(many.holders[i].mapped_only, one.holders[i].mapped_only);
                ASSERT_TRUE(i == 0 || one.holders[i - 1].pid <= one.holders[i].pid);
        }
        ASSERT_EQ(one.holders[0].pid, 200);             /* maps renderD128 */
        ASSERT_TRUE(one.holders[0].mapped_only);
        ASSERT_EQ(one.holders[1].pid, 201);             /* card0 by fd 5 */
        ASSERT_STREQ(one.holders[1].comm, "proc-201");
        ASSERT_FALSE(one.holders[1].mapped_only);
        ASSERT_EQ(many.n_unreadable, one.n_unreadable);
        ASSERT_TRUE(holders_walkers_default() >= 1 && holders_walkers_default() <= HOLDERS_WALKERS_MAX);

        /* The same walk awaited on a loop finds the same. */
        scan_on_loop(tree, nodes, 4, HOLDERS_STALL_USEC, NULL, &a);
        ASSERT_OK(a.r);
        ASSERT_EQ(a.scan.n_holders, expected);
        for (size_t i = 0; i < one.n_holders; i++) {
                ASSERT_EQ(a.scan.holders[i].pid, one.holders[i].pid);
                ASSERT_STREQ(a.scan.holders[i].node, one.holders[i].node);
                ASSERT_EQ(a.scan.holders[i].mapped_only, one.holders[i].mapped_only);
        }
        ASSERT_EQ(a.scan.n_unreadable, one.n_unreadable);

        holder_scan_done(&a.scan);
        holder_scan_done(&one);
        holder_scan_done(&many);
        (void) snprintf(p, sizeof(p), "rm -rf '%s'", tree);
        ASSERT_EQ(system(p), 0);
}

static unsigned own_threads(void) {
        DIR *d = opendir("/proc/self/task");
        unsigned n = 0;

        ASSERT_TRUE(d != NULL);
        while (readdir(d))
                n++;
        (void) closedir(d);
        return n - 2;   /* . and .. */
}

/* own_threads() once it is n, or after 10 s: a walker that reported still has to end. */
static unsigned threads_settle(unsigned n) {
        uint64_t deadline = now_usec() + 10 * 1000000ULL;

        while (own_threads() != n && now_usec() < deadline)
                (void) poll(NULL, 0, 10);
        return own_threads();
}

/* A tree (a mkdtemp() template) whose one process, 100 (nfs-reader), has its fd 0 on fd0 and
 * a FIFO as its maps (its path in fifo, PATH_MAX bytes): a reader of those maps waits for a
 * writer, as for a process stuck in the kernel holding its memory map (a hung NFS mount). */
static void make_stuck_tree(char *tree, const char *fd0, char *fifo) {
        char p[PATH_MAX];

        ASSERT_TRUE(mkdtemp(tree) != NULL);
        (void) snprintf(p, sizeof(p), "%s/proc", tree);
        ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
        (void) snprintf(p, sizeof(p), "%s/proc/100", tree);
        ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
        (void) snprintf(p, sizeof(p), "%s/proc/100/fd", tree);
        ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
        (void) snprintf(p, sizeof(p), "%s/proc/100/fd/0", tree);
        ASSERT_OK(symlink(fd0, p) < 0 ? -errno : 0);
        (void) snprintf(p, sizeof(p), "%s/proc/100/comm", tree);
        write_file(p, "nfs-reader\n");
        (void) snprintf(fifo, PATH_MAX, "%s/proc/100/maps", tree);
        ASSERT_OK(mkfifo(fifo, 0600) < 0 ? -errno : 0);
}

/* A process stuck in the kernel holding its memory map stops whoever reads its maps (a
 * hung NFS mount): here a FIFO as maps, whose open waits for a writer. The walk fails once
 * it made no progress for its bound, names the process, and leaves its walker behind,
 * which finishes (and frees the walk) once the FIFO opens. */
static void test_holders_stuck(void) {
        char tree[] = "/tmp/baton-stuck-XXXXXX", p[PATH_MAX], fifo[PATH_MAX];
        char *nodes[] = { (char *) "/dev/dri/card0", NULL };
        _cleanup_free_ char *kept = NULL;
        HolderScan s = { .n_unreadable = 77 };
        uint64_t t0, deadline;
        unsigned threads = own_threads();
        int fd;

        make_stuck_tree(tree, "/dev/null", fifo);

        log_set_error_sink(keep_first, &kept);
        t0 = now_usec();
        ASSERT_EQ(holders_scan_walkers(tree, nodes, 1, 200 * 1000ULL, &s), -ETIMEDOUT);
        log_set_error_sink(NULL, NULL);
        ASSERT_TRUE(now_usec() - t0 >= 200 * 1000ULL);
        ASSERT_EQ(s.n_unreadable, 77);                  /* untouched on failure */
        ASSERT_TRUE(kept != NULL);
        ASSERT_TRUE(strstr(kept, "Reading /proc/100 (nfs-reader) for the holders of the GPU's nodes made no "
                              "progress in 200ms") != NULL);
        ASSERT_EQ(own_threads(), threads + 1);          /* the walker, still waiting */

        /* A writer lets the walker's open return: it reads an empty maps and ends. */
        fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        deadline = now_usec() + 10 * 1000000ULL;
        while (own_threads() > threads && now_usec() < deadline)
                (void) poll(NULL, 0, 10);
        ASSERT_EQ(own_threads(), threads);

        (void) snprintf(p, sizeof(p), "rm -rf '%s'", tree);
        ASSERT_EQ(system(p), 0);
}

/* The stuck process of test_holders_stuck() with the walk awaited on a loop: the loop turns
 * while the walker waits; the walk goes on once the process does, or fails at its bound with
 * the message in the caller's sink; a walk freed before it ends says nothing more; and while
 * a walker left behind still waits, a later walk fails at once, naming the process, without
 * a thread more waiting on it. */
static void test_holders_stuck_async(void) {
        char tree[] = "/tmp/baton-stuck-async-XXXXXX", p[PATH_MAX], fifo[PATH_MAX];
        char *nodes[] = { (char *) "/dev/dri/card0", NULL };
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(log_sink_done) LogSink sink = {}, later = {};
        unsigned threads = own_threads();
        AsyncScan a = {}, freed = {};
        HoldersWalk *hw = NULL;
        uint64_t deadline;
        pid_t child;
        int status;

        make_stuck_tree(tree, "/dev/dri/card0", fifo);

        /* The process moves again after 20 ticks, well within the bound. */
        a = (AsyncScan) { .open_fifo_after = 20, .fifo = fifo };
        scan_on_loop(tree, nodes, 1, 10 * 1000000ULL, &sink, &a);
        ASSERT_OK(a.r);
        ASSERT_TRUE(a.ticks >= 20);                     /* the loop turned while the walker waited */
        ASSERT_EQ(a.scan.n_holders, 1);
        ASSERT_EQ(a.scan.holders[0].pid, 100);
        ASSERT_STREQ(a.scan.holders[0].comm, "nfs-reader");
        ASSERT_NULL(sink.error);
        holder_scan_done(&a.scan);

        /* A walk freed while its walker waits: walked() is never called (checked once the
         * walker has ended, below). */
        a = (AsyncScan) {};
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(holders_scan_async(event, tree, nodes, 1, 200 * 1000ULL, NULL, on_walked, &freed, &hw));
        hw = holders_walk_free(hw);
        ASSERT_EQ(threads_settle(threads + 1), threads + 1);

        /* It stays stuck: the walk fails at its bound, the message in the sink. */
        scan_on_loop(tree, nodes, 1, 200 * 1000ULL, &sink, &a);
        ASSERT_EQ(a.r, -ETIMEDOUT);
        ASSERT_TRUE(a.ticks >= 10);
        ASSERT_EQ(a.scan.n_holders, 0);
        ASSERT_TRUE(sink.error != NULL);
        ASSERT_TRUE(strstr(sink.error, "Reading /proc/100 (nfs-reader) for the holders of the GPU's nodes made no "
                                       "progress in 200ms") != NULL);
        ASSERT_EQ(threads_settle(threads + 2), threads + 2);    /* both walkers, still waiting */

        /* A later walk, whose bound (a minute) it never reaches: it does not wait on the
         * process again, and says so. */
        a = (AsyncScan) {};
        scan_on_loop(tree, nodes, 1, 60 * 1000000ULL, &later, &a);
        ASSERT_EQ(a.r, -ETIMEDOUT);
        ASSERT_TRUE(later.error != NULL);
        ASSERT_TRUE(strstr(later.error, "Reading /proc/100 (nfs-reader) for the holders of the GPU's nodes: an "
                                        "earlier look still waits for that process") != NULL);
        ASSERT_EQ(threads_settle(threads + 2), threads + 2);    /* its walker has ended */

        /* A child forked meanwhile has none of those walkers: its walk reads the process
         * itself, and gives up at its own bound. */
        child = fork();
        ASSERT_TRUE(child >= 0);
        if (child == 0) {
                _cleanup_free_ char *kept = NULL;
                HolderScan s = {};
                int r;

                log_set_error_sink(keep_first, &kept);
                r = holders_scan_walkers(tree, nodes, 1, 200 * 1000ULL, &s);
                _exit(r == -ETIMEDOUT && kept && strstr(kept, "made no progress in 200ms") ? 0 : 1);
        }
        ASSERT_EQ(waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);

        /* A writer lets the walkers' open return: they read an empty maps and end. */
        deadline = now_usec() + 10 * 1000000ULL;
        while (own_threads() > threads && now_usec() < deadline) {
                int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

                if (fd >= 0)
                        close(fd);
                (void) sd_event_run(event, 10000);
        }
        ASSERT_EQ(own_threads(), threads);
        ASSERT_FALSE(freed.walked);

        /* Off the list with them: the next walk reads the process again, and finds it. */
        a = (AsyncScan) { .open_fifo_after = 5, .fifo = fifo };
        scan_on_loop(tree, nodes, 1, 10 * 1000000ULL, NULL, &a);
        ASSERT_OK(a.r);
        ASSERT_EQ(a.scan.n_holders, 1);
        holder_scan_done(&a.scan);

        (void) snprintf(p, sizeof(p), "rm -rf '%s'", tree);
        ASSERT_EQ(system(p), 0);
}

static void test_gpu_device_nodes(void) {
        const char *gpu[] = { "/dev/nvidiactl", "/dev/nvidia0", "/dev/nvidia-caps/nvidia-cap2", "/dev/dri/card0",
                              "/dev/dri/renderD128", "/dev/fb0", "/dev/kfd", "/dev/snd/controlC1", "/dev/vfio/2" };
        const char *other[] = { "/dev/null", "/dev/pts/0", "/dev/tty1", "/dev/input/event3", "/dev/nvme0n1",
                                "pipe:[123]", "/home/u/dev/nvidia0", "" };

        for (size_t i = 0; i < ELEMENTSOF(gpu); i++)
                ASSERT_TRUE(holder_node_is_gpu_device(gpu[i]));
        for (size_t i = 0; i < ELEMENTSOF(other); i++)
                ASSERT_FALSE(holder_node_is_gpu_device(other[i]));
}

static void test_close_inherited(void) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        /* Nothing of a GPU here (build machines have none): other fds stay open. */
        ASSERT_TRUE(fd >= 3);
        ASSERT_TRUE(holders_close_inherited() >= 0);
        ASSERT_TRUE(fcntl(fd, F_GETFD) >= 0);
        ASSERT_EQ(close(fd), 0);
}

static void test_select_gpu(void) {
        PciDevice d[] = {
                { .address = (char *) "0000:00:01.0", .class = 0x060400, .boot_vga = -1 },
                { .address = (char *) "0000:00:02.0", .class = 0x038000, .boot_vga = -1 },
                { .address = (char *) "0000:01:00.0", .class = 0x030000, .boot_vga = 0 },
                { .address = (char *) "0000:02:00.0", .class = 0x030000, .boot_vga = 1 },
        };

        ASSERT_TRUE(pci_select_gpu(d, 4) == &d[3]);     /* boot_vga wins */
        ASSERT_TRUE(pci_select_gpu(d, 3) == &d[1]);     /* else the first display device */
        ASSERT_NULL(pci_select_gpu(d, 1));              /* a bridge is no GPU */
        ASSERT_NULL(pci_select_gpu(d, 0));
}

static void test_lab_status_text(void) {
        _cleanup_(machine_freep) Machine *m = load(FIXTURE("lab"));
        _cleanup_free_ char *text = status_text(m);

        ASSERT_TRUE(strstr(text,
                "GPU            0000:00:02.0  [1234:1111] class 030000  driver bochs-drm  boot_vga 1\n"));
        ASSERT_TRUE(strstr(text,
                "IOMMU group    2: 0000:00:02.0 (display, bochs-drm), 0000:00:02.1 (audio, snd_hda_intel)\n"));
        ASSERT_TRUE(strstr(text, "vtcon1 (M) frame buffer device: bound (fb)\n"));
        ASSERT_TRUE(strstr(text, "DRM nodes      /dev/dri/card0 /dev/dri/renderD128\n"));
        ASSERT_TRUE(strstr(text, "DRM master     pid 412 (cage)\n"));
        ASSERT_TRUE(strstr(text, "holders        pid 412 cage /dev/dri/card0\n"));
        ASSERT_TRUE(strstr(text, "               pid 777 kmscube /dev/dri/renderD128 (mapped)\n"));
}

static void test_missing_root(void) {
        Machine *m = (Machine *) 0x1;

        /* A tree with nothing in it is a machine without a GPU, not an error. */
        ASSERT_OK(machine_load(FIXTURE("text"), MACHINE_SKIP_HOLDERS, &m));
        ASSERT_FALSE(machine_has_gpu(m));
        ASSERT_EQ(m->n_pci, 0);
        machine_free(m);

        m = (Machine *) 0x1;
        ASSERT_EQ(machine_load(FIXTURE("no-such-tree"), 0, &m), -ENOENT);
        ASSERT_TRUE(m == (Machine *) 0x1);
        ASSERT_EQ(machine_load(FIXTURE("text/fdinfo-bochs.txt"), 0, &m), -ENOTDIR);
}

static void test_libdrm_nodes_live(void) {
        _cleanup_strv_free_ char **nodes = NULL;

        /* Whatever this machine has, the call must not fail; without /dev/dri it is empty. */
        ASSERT_OK(dev_nodes_drm_libdrm("0000:00:02.0", &nodes));
        ASSERT_TRUE(nodes != NULL);
        if (access("/dev/dri", F_OK) < 0)
                ASSERT_EQ(strv_length(nodes), 0);
        ASSERT_EQ(dev_nodes_drm_libdrm("not-an-address", &nodes), -EINVAL);
}

static void test_drm_probe_errors(void) {
        DrmProbe p = { .n_crtcs = 77 };

        /* Failures come back as errno and leave the result alone. /dev/null is no DRM
         * device: its ioctls fail with ENOTTY. */
        ASSERT_EQ(drm_probe_card("/dev/dri/no-such-card", &p), -ENOENT);
        ASSERT_EQ(drm_probe_card("/dev/null", &p), -ENOTTY);
        ASSERT_EQ(p.n_crtcs, 77);
}

int main(void) {
        RUN(test_lab_gpu_and_group);
        RUN(test_lab_consoles_and_nodes);
        RUN(test_lab_holders_and_master);
        RUN(test_lab_boot);
        RUN(test_nogpu);
        RUN(test_shared_group);
        RUN(test_shared_group_holders);
        RUN(test_never_own_holder);
        RUN(test_holders_without_fds);
        RUN(test_holders_walkers);
        RUN(test_holders_stuck);
        RUN(test_holders_stuck_async);
        RUN(test_gpu_device_nodes);
        RUN(test_close_inherited);
        RUN(test_select_gpu);
        RUN(test_lab_status_text);
        RUN(test_missing_root);
        RUN(test_libdrm_nodes_live);
        RUN(test_drm_probe_errors);
        return 0;
}
