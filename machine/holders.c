/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drm-fdinfo.h"
#include "escape.h"
#include "holders.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "strv.h"
#include "sysfs-util.h"

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
static void read_uid(const char *root, pid_t pid, Holder *h) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        const char *line;
        unsigned uid;

        if (asprintf(&p, "/proc/%i/status", (int) pid) < 0 ||
            read_full_file(root, p, &text, NULL) < 0)
                return;
        line = strstr(text, "\nUid:");
        if (!line || sscanf(line + 5, "%u", &uid) != 1)
                return;
        h->has_uid = true;
        h->uid = (uid_t) uid;
}

static int add_holder(const char *root, HolderScan *s, pid_t pid, const char *node,
                      bool mapped_only, Holder **ret) {
        _cleanup_free_ char *p = NULL, *raw = NULL, *comm = NULL, *copy = NULL;
        Holder *h;

        h = find_holder(s, pid, node);
        if (h) {
                *ret = h;
                return 0;
        }

        /* A process gone before we read its comm still held the node a moment ago. */
        if (asprintf(&p, "/proc/%i/comm", (int) pid) < 0)
                return -ENOMEM;
        /* The process names itself: escaped (common/escape.h) wherever it is printed. */
        if (sysfs_read_string(root, p, &raw) < 0 ? !(comm = strdup("?")) : escape_text(raw, &comm) < 0)
                return -ENOMEM;
        copy = strdup(node);
        if (!copy)
                return -ENOMEM;

        h = array_append(&s->holders, &s->n_holders, sizeof(*s->holders));
        if (!h)
                return -ENOMEM;
        *h = (Holder) { .pid = pid, .comm = TAKE_PTR(comm), .node = TAKE_PTR(copy),
                        .mapped_only = mapped_only };
        read_uid(root, pid, h);
        *ret = h;
        return 0;
}

/* Attaches the drm-client-id of a DRM fd. Drivers without fdinfo keys leave it unset. */
static void read_drm_client(const char *root, pid_t pid, const char *fd, Holder *h) {
        _cleanup_(drm_fdinfo_done) DrmFdinfo info = {};
        _cleanup_free_ char *p = NULL, *text = NULL;

        if (!startswith(h->node, "/dev/dri/"))
                return;
        if (asprintf(&p, "/proc/%i/fdinfo/%s", (int) pid, fd) < 0 ||
            read_full_file(root, p, &text, NULL) < 0 ||
            drm_fdinfo_parse(text, &info) <= 0 || !info.has_client_id)
                return;

        h->has_drm_client_id = true;
        h->drm_client_id = info.client_id;
}

/* Returns -EACCES when the process's fds are not ours to read, -ENOENT when it is gone. */
static int scan_fds(const char *root, HolderScan *s, pid_t pid, char * const *nodes) {
        _cleanup_strv_free_ char **fds = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "/proc/%i/fd", (int) pid) < 0)
                return -ENOMEM;
        r = sysfs_list_dir(root, dir, NULL, &fds);
        if (r < 0)
                return r;

        STRV_FOREACH(fd, fds) {
                _cleanup_free_ char *link = NULL, *target = NULL;
                Holder *h;

                if (asprintf(&link, "%s/%s", dir, *fd) < 0)
                        return -ENOMEM;
                if (read_link(root, link, &target) < 0)
                        continue;       /* closed meanwhile */
                if (!holder_node_matches(nodes, target))
                        continue;
                r = add_holder(root, s, pid, target, false, &h);
                if (r < 0)
                        return r;
                if (!h->has_drm_client_id)
                        read_drm_client(root, pid, *fd, h);
        }
        return 0;
}

static int scan_maps(const char *root, HolderScan *s, pid_t pid, char * const *nodes) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        char *line, *save = NULL;
        int r;

        if (asprintf(&p, "/proc/%i/maps", (int) pid) < 0)
                return -ENOMEM;
        r = read_full_file(root, p, &text, NULL);
        if (r < 0)
                return r;

        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const char *path = proc_maps_line_path(line);
                Holder *h;

                if (!path || !holder_node_matches(nodes, path))
                        continue;
                r = add_holder(root, s, pid, path, true, &h);
                if (r < 0)
                        return r;
        }
        return 0;
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

int holders_scan(const char *root, char * const *nodes, HolderScan *ret) {
        _cleanup_(holder_scan_done) HolderScan s = {};
        _cleanup_strv_free_ char **pids = NULL;
        pid_t self;
        int r;

        /* A fixture tree without /proc has no processes; the live one always has it. */
        r = sysfs_list_dir(root, "/proc", NULL, &pids);
        if (r < 0 && r != -ENOENT)
                return r;

        /* baton is never a holder of its own: a handover would wait for itself. It may
         * have inherited a node's fd from its parent (main() closes those it finds). */
        self = scanner_pid(root);
        STRV_FOREACH(name, pids) {
                pid_t pid;

                if (parse_pid(*name, &pid) < 0 || pid == self)
                        continue;
                r = scan_fds(root, &s, pid, nodes);
                if (r >= 0)
                        r = scan_maps(root, &s, pid, nodes);
                if (r == -EACCES || r == -EPERM)
                        s.n_unreadable++;
                else if (r == -ENOMEM)
                        return r;
                /* Anything else: the process exited while we looked. */
        }

        if (s.holders)
                qsort(s.holders, s.n_holders, sizeof(*s.holders), cmp_holder);
        *ret = TAKE_STRUCT(s);
        return 0;
}
