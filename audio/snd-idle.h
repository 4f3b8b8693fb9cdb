/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "holders.h"
#include "macro.h"

/* Waiting, without polling, for processes to close a sound card's /dev/snd nodes: inotify
 * reports every close of a device node, whoever opened it. Never logs. */

typedef struct SndWatch SndWatch;

/* closed() is called from the loop after any of nodes was closed by anyone (and once more
 * when a node goes away); the caller scans the holders again. */
int snd_watch_new(sd_event *e, char * const *nodes, void (*closed)(void *userdata), void *userdata,
                  SndWatch **ret);
SndWatch *snd_watch_free(SndWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(SndWatch *, snd_watch_free);

/* The processes of a walk of /proc for nodes (holders.h) other than self that hold any of
 * nodes: one "pid N (comm) holds NODE" line each, joined with "; ". *ret is NULL when there are
 * none. */
int snd_holders_format(const HolderScan *scan, char * const *nodes, pid_t self, char **ret);
