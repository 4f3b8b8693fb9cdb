/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "log.h"
#include "macro.h"

/* Processes that keep the GPU busy: an open fd on one of its device nodes, or a mapping of
 * one. A driver cannot be unbound safely while any remain (nvidia blocks forever). */

typedef struct Holder {
        pid_t pid;
        char *comm;
        char *node;                     /* "/dev/dri/card0", as the fd link or mapping names it */
        bool mapped_only;               /* only a mapping, the fd was closed */
        bool has_drm_client_id;         /* from fdinfo's drm-client-id, where the driver has it */
        uint64_t drm_client_id;
        bool has_uid;                   /* from /proc/PID/status */
        uid_t uid;
        /* Set by machine_load() from logind's sessions (logind-sessions.h): by_logind for
         * PID 1 and systemd-logind, which keep the node open for session (NULL when no
         * session claims it); a process of the session's user holding a node logind
         * holds for that session (its compositor) has session set too. */
        bool by_logind;
        char *session;
} Holder;

typedef struct HolderScan {
        Holder *holders;                /* by pid, then node; one entry per (pid, node) */
        size_t n_holders;
        unsigned n_unreadable;          /* processes whose fds we were not allowed to read */
} HolderScan;

/* Whether path is one of nodes, or a node that always means the GPU: /dev/fb*,
 * /dev/nvidia*, /dev/kfd. */
bool holder_node_matches(char * const *nodes, const char *path);

/* Whether path is a node of a GPU or its functions, as an fd baton might inherit:
 * holder_node_matches()'s own nodes plus the nodes below /dev/dri, /dev/snd and /dev/vfio. */
bool holder_node_is_gpu_device(const char *path);

/* Closes every fd above 2 of this process that holder_node_is_gpu_device() names: one
 * inherited from the parent would keep the driver busy and its module referenced through
 * the handover. Returns how many it closed, or a negative errno when /proc/self/fd cannot
 * be read. */
int holders_close_inherited(void);

/* The pathname column of a /proc/PID/maps line, NULL for anonymous mappings. Points into
 * line. */
const char *proc_maps_line_path(const char *line);

/* Walks /proc below root. Processes that vanish meanwhile are skipped; ones we may not
 * inspect are counted; the scanning process itself (/proc/self below root) is never a
 * holder. Read-only. A process stuck in the kernel with its memory map locked (a hung NFS
 * or FUSE mount) stops a reader of that map for as long as it is stuck: a walk that makes
 * no progress for HOLDERS_STALL_USEC fails with -ETIMEDOUT, after logging which process it
 * waits for. Its walker waits on, left behind, until the process moves; meanwhile a later
 * walk in this process that comes to that process fails with -ETIMEDOUT at once, saying an
 * earlier look still waits for it. */
#define HOLDERS_STALL_USEC (5 * 1000000ULL)
int holders_scan(const char *root, char * const *nodes, HolderScan *ret);

/* The same walk by n_walkers threads that share the list of processes, while this one
 * waits for them, up to stall_usec without progress; one walker when there are fewer than
 * HOLDERS_WALKERS_MIN_PIDS processes, fewer when a thread cannot be started, and this
 * thread alone, with no bound, when none can. The result is the same whatever their number.
 * holders_scan() takes holders_walkers_default(): one per CPU this process may use, at
 * most HOLDERS_WALKERS_MAX. */
#define HOLDERS_WALKERS_MAX 4u
#define HOLDERS_WALKERS_MIN_PIDS 32u
int holders_scan_walkers(const char *root, char * const *nodes, unsigned n_walkers, uint64_t stall_usec,
                         HolderScan *ret);
unsigned holders_walkers_default(void);
void holder_scan_done(HolderScan *s);

/* holders_scan_walkers() awaited on event's loop instead of this thread, which goes on: the
 * daemon's loop answers its bus while /proc is walked (issue 17). walked() is called on the
 * loop once, with 0 and the scan (which it may take with TAKE_STRUCT), or with a negative
 * errno and NULL: -ETIMEDOUT after stall_usec without progress, the process the walk waits
 * for then named in a message kept in sink (which may be NULL) as its first error. Without a
 * thread, the walk is done here before this returns, and reported on the loop all the same.
 * holders_walk_free() before walked() ends the wait: walked() is not called. */
typedef struct HoldersWalk HoldersWalk;
typedef void (*holders_walked_t)(HoldersWalk *hw, int r, HolderScan *scan, void *userdata);
int holders_scan_async(sd_event *event, const char *root, char * const *nodes, unsigned n_walkers,
                       uint64_t stall_usec, LogSink *sink, holders_walked_t walked, void *userdata,
                       HoldersWalk **ret);
HoldersWalk *holders_walk_free(HoldersWalk *hw);
DEFINE_TRIVIAL_CLEANUP_FUNC(HoldersWalk *, holders_walk_free);
