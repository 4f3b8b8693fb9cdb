/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "drm-fdinfo.h"
#include "escape.h"
#include "holders.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strv.h"
#include "sysfs-util.h"
#include "time-util.h"

bool holder_node_matches(char * const *nodes, const char *path) {
        return strv_contains(nodes, path) || startswith(path, "/dev/fb") ||
               startswith(path, "/dev/nvidia") || streq(path, "/dev/kfd");
}

bool holder_node_is_gpu_device(const char *path) {
        return holder_node_matches(NULL, path) || startswith(path, "/dev/dri/") ||
               startswith(path, "/dev/snd/") || startswith(path, "/dev/vfio/");
}

int holders_close_inherited(void) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int n = 0;

        d = opendir("/proc/self/fd");
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char link[64], target[PATH_MAX];
                unsigned fd;
                ssize_t l;

                if (safe_atou(de->d_name, 10, &fd) < 0 || fd < 3 || fd > INT_MAX || (int) fd == dirfd(d))
                        continue;
                (void) snprintf(link, sizeof(link), "/proc/self/fd/%u", fd);
                l = readlink(link, target, sizeof(target) - 1);
                if (l < 0)
                        continue;
                target[l] = '\0';
                if (!holder_node_is_gpu_device(target))
                        continue;
                log_debug("Closing fd %u of %s, inherited from the parent process.", fd, target);
                (void) close((int) fd);
                n++;
        }
        return n;
}

const char *proc_maps_line_path(const char *line) {
        const char *p = line;

        /* address perms offset dev inode, then the path padded with blanks. */
        for (int field = 0; field < 5; field++) {
                p += strspn(p, " \t");
                if (*p == '\0')
                        return NULL;
                p += strcspn(p, " \t");
        }
        p += strspn(p, " \t");
        return *p == '\0' || *p == '\n' ? NULL : p;
}

void holder_scan_done(HolderScan *s) {
        for (size_t i = 0; i < s->n_holders; i++) {
                free(s->holders[i].comm);
                free(s->holders[i].node);
                free(s->holders[i].session);
        }
        free(s->holders);
        *s = (HolderScan) {};
}

static Holder *find_holder(HolderScan *s, pid_t pid, const char *node) {
        for (size_t i = 0; i < s->n_holders; i++)
                if (s->holders[i].pid == pid && streq(s->holders[i].node, node))
                        return &s->holders[i];
        return NULL;
}

/* The real uid from /proc/PID/status' "Uid:" line; unknown when it cannot be read. */
static void read_uid(int pid_dir, Holder *h) {
        _cleanup_free_ char *text = NULL;
        const char *line;
        unsigned uid;

        if (read_full_file_at(pid_dir, "status", &text, NULL) < 0)
                return;
        line = strstr(text, "\nUid:");
        if (!line || sscanf(line + 5, "%u", &uid) != 1)
                return;
        h->has_uid = true;
        h->uid = (uid_t) uid;
}

static int add_holder(int pid_dir, HolderScan *s, pid_t pid, const char *node, bool mapped_only, Holder **ret) {
        _cleanup_free_ char *raw = NULL, *comm = NULL, *copy = NULL;
        Holder *h;

        h = find_holder(s, pid, node);
        if (h) {
                *ret = h;
                return 0;
        }

        /* A process gone before we read its comm still held the node a moment ago. */
        /* The process names itself: escaped (common/escape.h) wherever it is printed. */
        if (sysfs_read_string_at(pid_dir, "comm", &raw) < 0 ? !(comm = strdup("?")) : escape_text(raw, &comm) < 0)
                return -ENOMEM;
        copy = strdup(node);
        if (!copy)
                return -ENOMEM;

        h = array_append(&s->holders, &s->n_holders, sizeof(*s->holders));
        if (!h)
                return -ENOMEM;
        *h = (Holder) { .pid = pid, .comm = TAKE_PTR(comm), .node = TAKE_PTR(copy),
                        .mapped_only = mapped_only };
        read_uid(pid_dir, h);
        *ret = h;
        return 0;
}

/* Attaches the drm-client-id of a DRM fd. Drivers without fdinfo keys leave it unset. */
static void read_drm_client(int pid_dir, const char *fd, Holder *h) {
        _cleanup_(drm_fdinfo_done) DrmFdinfo info = {};
        _cleanup_free_ char *text = NULL;
        char p[sizeof("fdinfo/") + NAME_MAX];

        if (!startswith(h->node, "/dev/dri/"))
                return;
        (void) snprintf(p, sizeof(p), "fdinfo/%s", fd);
        if (read_full_file_at(pid_dir, p, &text, NULL) < 0 ||
            drm_fdinfo_parse(text, &info) <= 0 || !info.has_client_id)
                return;

        h->has_drm_client_id = true;
        h->drm_client_id = info.client_id;
}

/* Returns how many fds the process has, -EACCES when they are not ours to read, -ENOENT when
 * it is gone. Every lookup is relative to the process's directory (issue 17: a walk from /
 * for each fd link was most of a handover's observation). */
static int scan_fds(int pid_dir, HolderScan *s, pid_t pid, char * const *nodes, _Atomic uint64_t *progress) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd, n = 0;

        fd = openat(pid_dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }

        while ((de = readdir(d))) {
                char target[PATH_MAX];
                Holder *h;
                ssize_t l;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                n++;
                atomic_fetch_add_explicit(progress, 1, memory_order_relaxed);
                l = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (l < 0)
                        continue;       /* closed meanwhile */
                target[l] = '\0';
                if (!holder_node_matches(nodes, target))
                        continue;
                r = add_holder(pid_dir, s, pid, target, false, &h);
                if (r < 0)
                        return r;
                if (!h->has_drm_client_id)
                        read_drm_client(pid_dir, de->d_name, h);
        }
        return n;
}

/* *buf is the scan's one buffer for every process's maps, which can run to hundreds of KiB. */
static int scan_maps(int pid_dir, HolderScan *s, pid_t pid, char * const *nodes, char **buf, size_t *allocated) {
        _cleanup_close_ int fd = -EBADF;
        char *line, *save = NULL;
        int r;

        fd = openat(pid_dir, "maps", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = read_fd_into(fd, READ_FULL_FILE_MAX, buf, allocated, NULL);
        if (r < 0)
                return r;

        for (line = strtok_r(*buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const char *path = proc_maps_line_path(line);
                Holder *h;

                if (!path || !holder_node_matches(nodes, path))
                        continue;
                r = add_holder(pid_dir, s, pid, path, true, &h);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Whether a process without fds has no memory either: a kernel thread, or a process that
 * has exited. Its "exe" link then names nothing (ENOENT) and its maps are empty, so the walk
 * does not read them: one readlinkat instead of an open, a read and a close for each of the
 * lab's 80 kernel threads (issue 17; ARCHITECTURE.md has the measurement). */
static bool has_no_memory(int pid_dir) {
        char c;         /* what it names does not matter */

        return readlinkat(pid_dir, "exe", &c, 1) < 0 && errno == ENOENT;
}

static int cmp_holder(const void *a, const void *b) {
        const Holder *x = a, *y = b;

        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        return strcmp(x->node, y->node);
}

/* The scanning process as the scanned /proc names it (its "self" link; a fixture tree may
 * have one), 0 when it has none. */
static pid_t scanner_pid(const char *root) {
        _cleanup_free_ char *self = NULL;
        pid_t pid;

        if (read_link(root, "/proc/self", &self) < 0 || parse_pid(self, &pid) < 0)
                return 0;
        return pid;
}

/* A walk of /proc shared by its walkers: each takes the next pid from the list until none is
 * left, so a walker held up by one process with thousands of fds leaves the rest to others.
 *
 * The walkers are threads, and the caller waits for them with a bound (HOLDERS_STALL_USEC):
 * reading a process's maps takes its memory lock, which a process stuck in the kernel
 * may hold or wait for (a hung NFS or FUSE mount), and a reader then waits with it, for
 * as long as it lasts. A walk that makes no progress for that long fails, naming the
 * process; the walkers still waiting are left behind, and the last one to finish frees
 * the walk, which keeps its own copy of everything they read. The caller waits on its own
 * thread (walk_wait()), or on its loop, woken by done_fd (holders_scan_async()). */
typedef struct Walker Walker;
typedef struct Walk {
        _Atomic unsigned refs;          /* the caller's and each started walker's */
        DIR *dir;
        int proc_fd;
        char *proc;                     /* the path of /proc below root: the stuck list's key */
        char **nodes;
        pid_t *pids;
        size_t n_pids;
        _Atomic size_t next;
        _Atomic uint64_t progress;      /* fds and processes read so far */
        _Atomic pid_t listed_stuck;     /* a process this walk did not read: on the stuck list */
        pthread_mutex_t lock;
        pthread_cond_t done;            /* n_running reached 0 */
        unsigned n_running;
        uint64_t stall_usec;
        Walker *walkers;
        unsigned n_walkers;
        int done_fd;                    /* an eventfd the last walker to finish writes to, or -EBADF */
} Walk;

/* One walker: its holders, its buffer for maps, its first fatal error. */
struct Walker {
        Walk *walk;
        HolderScan scan;
        char *buf;
        size_t allocated;
        int error;
        _Atomic pid_t current;          /* the process it reads now, 0 between two */
        pid_t listed;                   /* current, in the stuck list (under stuck_lock) */
};

/* The processes that walkers of a walk given up still read (walk_give_up()), by /proc path
 * and pid, each with how many walkers read it. A later walk does not wait on one of them
 * again, leaving one more thread behind for each look: it fails at once, naming it. A
 * walker takes its process off the list when its read returns. */
typedef struct StuckRead {
        char *proc;
        pid_t pid;
        unsigned n_walkers;
} StuckRead;

static pthread_mutex_t stuck_lock = PTHREAD_MUTEX_INITIALIZER;
static StuckRead *stuck_reads;
static size_t n_stuck_reads;
static _Atomic size_t n_stuck_listed;   /* n_stuck_reads, read without the lock */

static StuckRead *stuck_find(const char *proc, pid_t pid) {
        for (size_t i = 0; i < n_stuck_reads; i++)
                if (stuck_reads[i].pid == pid && streq(stuck_reads[i].proc, proc))
                        return &stuck_reads[i];
        return NULL;
}

/* Under stuck_lock. On -ENOMEM the process is not listed: a later walk waits on it again. */
static int stuck_add(const char *proc, pid_t pid) {
        StuckRead *r = stuck_find(proc, pid);
        char *copy;

        if (r) {
                r->n_walkers++;
                return 0;
        }
        copy = strdup(proc);
        if (!copy)
                return -ENOMEM;
        r = array_append(&stuck_reads, &n_stuck_reads, sizeof(*stuck_reads));
        if (!r) {
                free(copy);
                return -ENOMEM;
        }
        *r = (StuckRead) { .proc = copy, .pid = pid, .n_walkers = 1 };
        atomic_store(&n_stuck_listed, n_stuck_reads);
        return 0;
}

/* Under stuck_lock. */
static void stuck_remove(const char *proc, pid_t pid) {
        StuckRead *r = stuck_find(proc, pid);

        if (!r || --r->n_walkers > 0)
                return;
        free(r->proc);
        *r = stuck_reads[--n_stuck_reads];
        if (n_stuck_reads == 0)
                stuck_reads = mfree(stuck_reads);
        atomic_store(&n_stuck_listed, n_stuck_reads);
}

/* A child forked from this process has none of its walkers: nothing there takes a process off
 * the list, and the lock may have been a walker's at the fork. The child starts with none. */
static void stuck_atfork_prepare(void) {
        (void) pthread_mutex_lock(&stuck_lock);
}

static void stuck_atfork_parent(void) {
        (void) pthread_mutex_unlock(&stuck_lock);
}

static void stuck_atfork_child(void) {
        for (size_t i = 0; i < n_stuck_reads; i++)
                free(stuck_reads[i].proc);
        stuck_reads = mfree(stuck_reads);
        n_stuck_reads = 0;
        atomic_store(&n_stuck_listed, 0);
        (void) pthread_mutex_unlock(&stuck_lock);
}

static void stuck_atfork_register(void) {
        (void) pthread_atfork(stuck_atfork_prepare, stuck_atfork_parent, stuck_atfork_child);
}

static bool stuck_listed(const char *proc, pid_t pid) {
        bool listed;

        if (atomic_load(&n_stuck_listed) == 0)
                return false;
        (void) pthread_mutex_lock(&stuck_lock);
        listed = stuck_find(proc, pid);
        (void) pthread_mutex_unlock(&stuck_lock);
        return listed;
}

static void walk_unref(Walk *w) {
        if (atomic_fetch_sub(&w->refs, 1) != 1)
                return;
        for (unsigned i = 0; i < w->n_walkers; i++) {
                holder_scan_done(&w->walkers[i].scan);
                free(w->walkers[i].buf);
        }
        free(w->walkers);
        (void) pthread_cond_destroy(&w->done);
        (void) pthread_mutex_destroy(&w->lock);
        if (w->dir)
                (void) closedir(w->dir);
        if (w->done_fd >= 0)
                (void) close(w->done_fd);
        free(w->pids);
        free(w->proc);
        strv_free(w->nodes);
        free(w);
}

static int walk_process(Walker *k, pid_t pid) {
        _cleanup_close_ int pid_dir = -EBADF;
        char name[sizeof("-2147483648")];
        int r;

        (void) snprintf(name, sizeof(name), "%i", (int) pid);
        pid_dir = openat(k->walk->proc_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        r = pid_dir < 0 ? -errno : scan_fds(pid_dir, &k->scan, pid, k->walk->nodes, &k->walk->progress);
        if (r == 0 && has_no_memory(pid_dir))
                return 0;
        if (r >= 0)
                r = scan_maps(pid_dir, &k->scan, pid, k->walk->nodes, &k->buf, &k->allocated);
        if (r == -EACCES || r == -EPERM)
                k->scan.n_unreadable++;
        else if (r == -ENOMEM)
                return r;
        /* Anything else: the process exited while we looked. */
        return 0;
}

static void walker_walk(Walker *k) {
        Walk *w = k->walk;

        for (;;) {
                size_t i = atomic_fetch_add(&w->next, 1);

                if (i >= w->n_pids)
                        break;
                if (stuck_listed(w->proc, w->pids[i])) {
                        /* An earlier walk's walker still waits on it: so would this one. */
                        pid_t none = 0;

                        (void) atomic_compare_exchange_strong(&w->listed_stuck, &none, w->pids[i]);
                        k->error = -ETIMEDOUT;
                        break;
                }
                atomic_store(&k->current, w->pids[i]);
                k->error = walk_process(k, w->pids[i]);
                (void) pthread_mutex_lock(&stuck_lock);
                atomic_store(&k->current, 0);
                if (k->listed > 0)
                        stuck_remove(w->proc, k->listed);
                k->listed = 0;
                (void) pthread_mutex_unlock(&stuck_lock);
                atomic_fetch_add_explicit(&w->progress, 1, memory_order_relaxed);
                if (k->error < 0)
                        break;
        }
}

static void *walker_run(void *userdata) {
        Walker *k = userdata;
        Walk *w = k->walk;

        walker_walk(k);
        (void) pthread_mutex_lock(&w->lock);
        if (--w->n_running == 0) {
                (void) pthread_cond_signal(&w->done);
                if (w->done_fd >= 0)
                        (void) eventfd_write(w->done_fd, 1);
        }
        (void) pthread_mutex_unlock(&w->lock);
        walk_unref(w);
        return NULL;
}

/* What pid's comm says, escaped for a message; NULL when it cannot be read. */
static char *walk_comm(Walk *w, pid_t pid) {
        _cleanup_free_ char *comm = NULL;
        char path[64], *escaped = NULL;

        (void) snprintf(path, sizeof(path), "%i/comm", (int) pid);
        if (pid > 0 && sysfs_read_string_at(w->proc_fd, path, &comm) >= 0)
                (void) escape_text(comm, &escaped);
        return escaped;
}

/* Ends a walk that made no progress for w->stall_usec: the processes its walkers still read
 * go on the stuck list, and the first is named in a message kept in sink (which may be NULL)
 * as the first error. */
static void walk_give_up(Walk *w, LogSink *sink) {
        _cleanup_free_ char *comm = NULL;
        char t[32];
        pid_t pid = 0;

        (void) pthread_mutex_lock(&stuck_lock);
        for (unsigned i = 0; i < w->n_walkers; i++) {
                Walker *k = &w->walkers[i];
                pid_t p = atomic_load(&k->current);

                if (p == 0 || k->listed > 0)
                        continue;
                if (pid == 0)
                        pid = p;
                if (stuck_add(w->proc, p) >= 0)
                        k->listed = p;
        }
        (void) pthread_mutex_unlock(&stuck_lock);
        comm = walk_comm(w, pid);
        format_usec(w->stall_usec, t, sizeof(t));
        log_sink_full_errno(sink, LOG_ERR, 0, "Reading /proc/%i (%s) for the holders of the GPU's nodes made no "
                            "progress in %s: that process is stuck in the kernel, holding its memory map (a hung "
                            "NFS or FUSE mount, or a driver), and what it holds cannot be known until it moves "
                            "again.", (int) pid, strna(comm), t);
}

/* For a walk that did not read a process on the stuck list: names it in sink. */
static void walk_log_listed(Walk *w, LogSink *sink) {
        pid_t pid = atomic_load(&w->listed_stuck);
        _cleanup_free_ char *comm = walk_comm(w, pid);

        log_sink_full_errno(sink, LOG_ERR, 0, "Reading /proc/%i (%s) for the holders of the GPU's nodes: an earlier "
                            "look still waits for that process, stuck in the kernel, holding its memory map (a hung "
                            "NFS or FUSE mount, or a driver), and what it holds cannot be known until it moves "
                            "again.", (int) pid, strna(comm));
}

/* A waiter looks at the walkers' progress five times per w->stall_usec, only while they
 * are still walking (a walk of the lab's desktop is over before the first look). */
static uint64_t walk_window_usec(const Walk *w) {
        return w->stall_usec / 5 > 1000 ? w->stall_usec / 5 : 1000;
}

/* One look at the walkers' progress: whether they made none for w->stall_usec since *changed,
 * when the count was *seen (both updated when it moved). */
static bool walk_stalled(Walk *w, uint64_t *seen, uint64_t *changed) {
        uint64_t progress = atomic_load(&w->progress), now = now_usec();

        if (progress != *seen) {
                *seen = progress;
                *changed = now;
                return false;
        }
        return now - *changed >= w->stall_usec;
}

/* Waits for the walkers, while they make progress; -ETIMEDOUT once they made none for
 * w->stall_usec. */
static int walk_wait(Walk *w) {
        uint64_t seen = atomic_load(&w->progress), changed = now_usec();
        int r = 0;

        (void) pthread_mutex_lock(&w->lock);
        while (w->n_running > 0) {
                uint64_t until_usec = now_usec() + walk_window_usec(w);
                struct timespec until = {
                        .tv_sec = (time_t) (until_usec / 1000000ULL),
                        .tv_nsec = (long) (until_usec % 1000000ULL) * 1000L,
                };

                if (pthread_cond_timedwait(&w->done, &w->lock, &until) != ETIMEDOUT)
                        continue;
                if (walk_stalled(w, &seen, &changed)) {
                        r = -ETIMEDOUT;
                        break;
                }
        }
        (void) pthread_mutex_unlock(&w->lock);
        return r;
}

/* Starts n walkers on w, each with a reference; how many started. */
static unsigned walk_start(Walk *w, unsigned n) {
        pthread_condattr_t attr;
        pthread_attr_t thread_attr;
        unsigned started = 0;

        if (pthread_condattr_init(&attr) != 0)
                return 0;
        (void) pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (pthread_cond_init(&w->done, &attr) != 0 || pthread_attr_init(&thread_attr) != 0) {
                (void) pthread_condattr_destroy(&attr);
                return 0;
        }
        (void) pthread_condattr_destroy(&attr);
        (void) pthread_attr_setdetachstate(&thread_attr, PTHREAD_CREATE_DETACHED);
        (void) pthread_mutex_lock(&w->lock);
        for (unsigned i = 0; i < n; i++) {
                pthread_t thread;

                atomic_fetch_add(&w->refs, 1);
                w->n_running++;
                if (pthread_create(&thread, &thread_attr, walker_run, &w->walkers[i]) != 0) {
                        atomic_fetch_sub(&w->refs, 1);
                        w->n_running--;
                        break;
                }
                started++;
        }
        (void) pthread_mutex_unlock(&w->lock);
        (void) pthread_attr_destroy(&thread_attr);
        return started;
}

/* How many walk /proc: one per CPU this process may run on, at most HOLDERS_WALKERS_MAX. The
 * walk is syscalls on /proc, one readlinkat per fd, that the kernel serves in parallel
 * (issue 17: most of the time before a handover's first action). */
unsigned holders_walkers_default(void) {
        cpu_set_t set;
        int n;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return 1;
        n = CPU_COUNT(&set);
        return n < 1 ? 1 : (unsigned) n > HOLDERS_WALKERS_MAX ? HOLDERS_WALKERS_MAX : (unsigned) n;
}

static int list_pids(DIR *d, pid_t self, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ pid_t *pids = NULL;
        struct dirent *de;
        size_t n = 0;

        while ((de = readdir(d))) {
                pid_t pid, *p;

                if (parse_pid(de->d_name, &pid) < 0 || pid == self)
                        continue;
                p = array_append(&pids, &n, sizeof(*pids));
                if (!p)
                        return -ENOMEM;
                *p = pid;
        }
        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

/* Moves the holders of from to the end of to's. */
static int scan_merge(HolderScan *to, HolderScan *from) {
        Holder *h;

        to->n_unreadable += from->n_unreadable;
        if (from->n_holders == 0)
                return 0;
        h = realloc(to->holders, (to->n_holders + from->n_holders) * sizeof(*h));
        if (!h)
                return -ENOMEM;
        memcpy(h + to->n_holders, from->holders, from->n_holders * sizeof(*h));
        to->holders = h;
        to->n_holders += from->n_holders;
        from->holders = mfree(from->holders);   /* its strings are to's now */
        from->n_holders = 0;
        return 0;
}

/* A walk of /proc below root for nodes, its processes listed, its walkers not started. */
static int walk_new(const char *root, char * const *nodes, unsigned n_walkers, uint64_t stall_usec, Walk **ret) {
        static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
        _cleanup_free_ char *proc = NULL;
        Walk *w;
        int r;

        assert(n_walkers >= 1);
        (void) pthread_once(&atfork_once, stuck_atfork_register);
        r = root_path(root, "/proc", &proc);
        if (r < 0)
                return r;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (Walk) { .refs = 1, .proc_fd = -EBADF, .lock = PTHREAD_MUTEX_INITIALIZER, .stall_usec = stall_usec,
                      .done_fd = -EBADF };
        /* A fixture tree without /proc has no processes; the live one always has it. */
        w->dir = opendir(proc);
        if (!w->dir && errno != ENOENT)
                r = -errno;
        w->proc = TAKE_PTR(proc);
        /* baton is never a holder of its own: a handover would wait for itself. It may
         * have inherited a node's fd from its parent (main() closes those it finds). */
        if (r >= 0)
                r = strv_extend_strv(&w->nodes, nodes);
        if (r >= 0 && w->dir) {
                r = list_pids(w->dir, scanner_pid(root), &w->pids, &w->n_pids);
                w->proc_fd = dirfd(w->dir);
        }
        /* A walker of its own costs a thread: not more than one for a handful of processes. */
        if (w->n_pids < HOLDERS_WALKERS_MIN_PIDS)
                n_walkers = 1;
        if (r >= 0) {
                w->walkers = calloc(n_walkers, sizeof(*w->walkers));
                if (!w->walkers)
                        r = -ENOMEM;
        }
        if (r < 0) {
                walk_unref(w);
                return r;
        }
        w->n_walkers = n_walkers;
        for (unsigned i = 0; i < n_walkers; i++)
                w->walkers[i].walk = w;
        *ret = w;
        return 0;
}

/* What the walkers of a finished walk found, in one scan by pid and node; -ETIMEDOUT, said in
 * sink (which may be NULL), when it did not read a process on the stuck list. */
static int walk_collect(Walk *w, LogSink *sink, HolderScan *ret) {
        _cleanup_(holder_scan_done) HolderScan s = {};
        int r = 0;

        for (unsigned i = 0; i < w->n_walkers; i++) {
                if (r >= 0 && w->walkers[i].error < 0)
                        r = w->walkers[i].error;
                if (r >= 0)
                        r = scan_merge(&s, &w->walkers[i].scan);
        }
        if (r == -ETIMEDOUT)
                walk_log_listed(w, sink);
        if (r < 0)
                return r;
        if (s.holders)
                /* Each process was one walker's: no (pid, node) twice. */
                qsort(s.holders, s.n_holders, sizeof(*s.holders), cmp_holder);
        *ret = TAKE_STRUCT(s);
        return 0;
}

int holders_scan_walkers(const char *root, char * const *nodes, unsigned n_walkers, uint64_t stall_usec,
                         HolderScan *ret) {
        Walk *w;
        int r;

        r = walk_new(root, nodes, n_walkers, stall_usec, &w);
        if (r < 0)
                return r;
        if (walk_start(w, w->n_walkers) == 0)
                /* Without a thread this one walks it all, with no bound. */
                walker_walk(&w->walkers[0]);
        else if (walk_wait(w) < 0) {
                walk_give_up(w, NULL);
                walk_unref(w);
                return -ETIMEDOUT;
        }
        r = walk_collect(w, NULL, ret);
        walk_unref(w);
        return r;
}

/* --- The same walk awaited on a loop --- */

struct HoldersWalk {
        Walk *walk;
        sd_event_source *done_source;   /* on walk->done_fd */
        sd_event_source *stall_timer;   /* looks at the progress five times per stall_usec */
        uint64_t seen, changed_usec;
        LogSink *sink;
        holders_walked_t walked;
        void *userdata;
};

HoldersWalk *holders_walk_free(HoldersWalk *hw) {
        if (!hw)
                return NULL;
        sd_event_source_disable_unref(hw->done_source);
        sd_event_source_disable_unref(hw->stall_timer);
        if (hw->walk)
                walk_unref(hw->walk);   /* walkers still running keep it, and free it last */
        free(hw);
        return NULL;
}

/* Ends the walk for its owner, who may free hw in walked(). */
static void walk_report(HoldersWalk *hw, int r, HolderScan *scan) {
        hw->done_source = sd_event_source_disable_unref(hw->done_source);
        hw->stall_timer = sd_event_source_disable_unref(hw->stall_timer);
        hw->walked(hw, r, scan, hw->userdata);
}

static int on_walk_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        _cleanup_(holder_scan_done) HolderScan scan = {};
        HoldersWalk *hw = userdata;
        unsigned running;
        eventfd_t v;
        int r;

        (void) eventfd_read(fd, &v);
        /* Under the walkers' lock: what they wrote before they let go of it is seen here. */
        (void) pthread_mutex_lock(&hw->walk->lock);
        running = hw->walk->n_running;
        (void) pthread_mutex_unlock(&hw->walk->lock);
        if (running > 0)
                return 0;
        r = walk_collect(hw->walk, hw->sink, &scan);
        walk_report(hw, r, r < 0 ? NULL : &scan);
        return 0;
}

static int on_walk_stall_check(sd_event_source *s, uint64_t usec, void *userdata) {
        HoldersWalk *hw = userdata;

        if (walk_stalled(hw->walk, &hw->seen, &hw->changed_usec)) {
                walk_give_up(hw->walk, hw->sink);
                walk_report(hw, -ETIMEDOUT, NULL);
                return 0;
        }
        if (sd_event_source_set_time_relative(s, walk_window_usec(hw->walk)) < 0 ||
            sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                /* Without the timer the walk is awaited with no bound, as without threads. */
                log_warning("Failed to keep watching the walk of /proc for progress, ignoring.");
        return 0;
}

int holders_scan_async(sd_event *event, const char *root, char * const *nodes, unsigned n_walkers,
                       uint64_t stall_usec, LogSink *sink, holders_walked_t walked, void *userdata,
                       HoldersWalk **ret) {
        HoldersWalk *hw;
        int r;

        hw = calloc(1, sizeof(*hw));
        if (!hw)
                return -ENOMEM;
        *hw = (HoldersWalk) { .sink = sink, .walked = walked, .userdata = userdata, .changed_usec = now_usec() };
        r = walk_new(root, nodes, n_walkers, stall_usec, &hw->walk);
        if (r < 0) {
                free(hw);
                return r;
        }
        hw->walk->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (hw->walk->done_fd < 0)
                r = -errno;
        if (r >= 0)
                r = sd_event_add_io(event, &hw->done_source, hw->walk->done_fd, EPOLLIN, on_walk_done, hw);
        if (r >= 0)
                /* 1 ms of slack, not sd-event's default 250: the timer fires five times per
                 * bound, and each firing's slack would add up. */
                r = sd_event_add_time_relative(event, &hw->stall_timer, CLOCK_MONOTONIC,
                                               walk_window_usec(hw->walk), 1000, on_walk_stall_check, hw);
        if (r < 0) {
                holders_walk_free(hw);
                return r;
        }
        if (walk_start(hw->walk, hw->walk->n_walkers) == 0) {
                /* Without a thread this one walks it all, with no bound, and the loop hears
                 * of it as of the walkers. */
                walker_walk(&hw->walk->walkers[0]);
                (void) eventfd_write(hw->walk->done_fd, 1);
        }
        *ret = hw;
        return 0;
}

int holders_scan(const char *root, char * const *nodes, HolderScan *ret) {
        return holders_scan_walkers(root, nodes, holders_walkers_default(), HOLDERS_STALL_USEC, ret);
}
