/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <sys/inotify.h>

#include "snd-idle.h"
#include "strv.h"

struct SndWatch {
        sd_event_source **sources;
        size_t n_sources;
        void (*closed)(void *userdata);
        void *userdata;
};

static int on_inotify(sd_event_source *s, const struct inotify_event *event, void *userdata) {
        SndWatch *w = userdata;

        w->closed(w->userdata);
        return 0;
}

int snd_watch_new(sd_event *e, char * const *nodes, void (*closed)(void *userdata), void *userdata,
                  SndWatch **ret) {
        _cleanup_(snd_watch_freep) SndWatch *w = NULL;
        int r;

        w = calloc(1, sizeof(SndWatch));
        if (!w)
                return -ENOMEM;
        *w = (SndWatch) { .closed = closed, .userdata = userdata };
        STRV_FOREACH(node, nodes) {
                sd_event_source **s = array_append(&w->sources, &w->n_sources, sizeof(sd_event_source *));

                if (!s)
                        return -ENOMEM;
                r = sd_event_add_inotify(e, s, *node, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_DELETE_SELF,
                                         on_inotify, w);
                if (r == -ENOENT) {
                        w->n_sources--;         /* gone already: nobody can hold it */
                        continue;
                }
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(w);
        return 0;
}

SndWatch *snd_watch_free(SndWatch *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_sources; i++)
                sd_event_source_disable_unref(w->sources[i]);
        free(w->sources);
        return mfree(w);
}

int snd_holders_format(const HolderScan *scan, char * const *nodes, pid_t self, char **ret) {
        _cleanup_strv_free_ char **lines = NULL;
        int r;

        /* A walk of /proc also finds /dev/fb* and friends, which are not the card's. */
        for (size_t i = 0; i < scan->n_holders; i++) {
                const Holder *h = &scan->holders[i];

                if (h->pid == self || !strv_contains(nodes, h->node))
                        continue;
                r = strv_extendf(&lines, "pid %d (%s) holds %s", (int) h->pid, strna(h->comm), h->node);
                if (r < 0)
                        return r;
        }
        if (strv_length(lines) == 0) {
                *ret = NULL;
                return 0;
        }
        return strv_join(lines, "; ", ret);
}
