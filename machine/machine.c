/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dev-nodes.h"
#include "machine.h"
#include "macro.h"
#include "strv.h"
#include "sysfs-util.h"

Machine *machine_free(Machine *m) {
        if (!m)
                return NULL;

        free(m->root);
        pci_devices_free(m->pci, m->n_pci);
        iommu_group_done(&m->group);
        vtconsoles_free(m->vtcons, m->n_vtcons);
        firmware_fbs_free(m->fbs, m->n_fbs);
        strv_free(m->drm_nodes);
        strv_free(m->snd_nodes);
        holder_scan_done(&m->holders);
        logind_sessions_free(m->sessions, m->n_sessions);
        drm_clients_free(m->clients, m->n_clients);
        free(m);
        return NULL;
}

const char *machine_card_node(const Machine *m) {
        STRV_FOREACH(n, m->drm_nodes)
                if (startswith(*n, "/dev/dri/card"))
                        return *n;
        return NULL;
}

const DrmClient *machine_drm_master(const Machine *m) {
        if (m->clients_error < 0)
                return NULL;
        return drm_clients_find_master(m->clients, m->n_clients);
}

static bool is_live(const char *root) {
        return isempty(root) || streq(root, "/");
}

static int load_drm_nodes(Machine *m, MachineFlags flags) {
        int r;

        if ((flags & MACHINE_DRM_LIBDRM) && is_live(m->root)) {
                r = dev_nodes_drm_libdrm(m->gpu->address, &m->drm_nodes);
                if (r >= 0)
                        return r;
                /* libdrm could not enumerate (no permission on /dev/dri?): sysfs knows too. */
        }
        return dev_nodes_drm_sysfs(m->root, m->gpu->address, &m->drm_nodes);
}

/* The audio functions of the group: the card's HDMI/DP audio whose /dev/snd nodes
 * PipeWire keeps open. */
static int load_snd_nodes(Machine *m) {
        int r;

        for (size_t i = 0; i < m->group.n_devices; i++) {
                _cleanup_strv_free_ char **nodes = NULL;
                const PciDevice *d = &m->group.devices[i].pci;

                if (!pci_class_is_audio(d->class))
                        continue;
                r = dev_nodes_alsa(m->root, d->address, &nodes);
                if (r < 0)
                        return r;
                r = strv_extend_strv(&m->snd_nodes, nodes);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void load_clients(Machine *m) {
        const char *card = machine_card_node(m);
        unsigned minor;

        m->clients_error = -ENODEV;
        if (!card || dev_node_card_minor(card, &minor) < 0)
                return;
        m->clients_error = drm_clients_read(m->root, minor, m->gpu->address,
                                            &m->clients, &m->n_clients);
}

static int load_gpu(Machine *m, MachineFlags flags) {
        int r;

        m->gpu = pci_select_gpu(m->pci, m->n_pci);
        if (!m->gpu)
                return 0;

        r = iommu_group_read(m->root, m->gpu, &m->group);
        if (r < 0)
                return r;
        r = load_drm_nodes(m, flags);
        if (r < 0)
                return r;
        r = load_snd_nodes(m);
        if (r < 0)
                return r;
        load_clients(m);
        return 0;
}

static int holder_nodes(const Machine *m, char ***ret) {
        _cleanup_strv_free_ char **nodes = NULL;
        int r;

        r = strv_extend_strv(&nodes, m->drm_nodes);
        if (r >= 0)
                r = strv_extend_strv(&nodes, m->snd_nodes);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(nodes);
        return 0;
}

/* "226:0" for /dev/dri/card0 from sysfs; -ENOENT for nodes logind never takes. */
static int node_devnum(const char *root, const char *node, char **ret) {
        _cleanup_free_ char *p = NULL;
        const char *name = startswith(node, "/dev/dri/");

        if (!name || strchr(name, '/'))
                return -ENOENT;
        if (asprintf(&p, "/sys/class/drm/%s/dev", name) < 0)
                return -ENOMEM;
        return sysfs_read_string(root, p, ret);
}

const LogindSession *machine_holder_session(const Machine *m, const Holder *h) {
        if (!h->session)
                return NULL;
        for (size_t i = 0; i < m->n_sessions; i++)
                if (streq(m->sessions[i].id, h->session))
                        return &m->sessions[i];
        return NULL;
}

/* Names the session each holder keeps a node for: PID 1 and systemd-logind for any
 * session logind holds the node for (TakeDevice), and a process of that session's user
 * holding the same node (the compositor it passed the fd to). */
static int attribute_sessions(Machine *m) {
        for (size_t i = 0; i < m->holders.n_holders; i++) {
                _cleanup_free_ char *devnum = NULL;
                Holder *h = &m->holders.holders[i];
                const LogindSession *s;
                int r;

                h->by_logind = logind_pid_keeps_session_devices(m->root, h->pid);
                r = node_devnum(m->root, h->node, &devnum);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                s = logind_session_by_device(m->sessions, m->n_sessions, devnum);
                if (!s || (!h->by_logind && !(h->has_uid && h->uid == s->uid)))
                        continue;
                h->session = strdup(s->id);
                if (!h->session)
                        return -ENOMEM;
        }
        return 0;
}

int machine_add_holders(Machine *m, HolderScan *scan) {
        int r;

        assert(m->holders.n_holders == 0 && m->n_sessions == 0);
        m->holders = TAKE_STRUCT(*scan);
        r = logind_sessions_read(m->root, &m->sessions, &m->n_sessions);
        if (r >= 0)
                r = attribute_sessions(m);
        return r;
}

int machine_walk_holders(const Machine *m, sd_event *event, LogSink *sink, holders_walked_t walked, void *userdata,
                         HoldersWalk **ret) {
        _cleanup_strv_free_ char **nodes = NULL;
        int r;

        r = holder_nodes(m, &nodes);
        if (r < 0)
                return r;
        return holders_scan_async(event, m->root, nodes, holders_walkers_default(), HOLDERS_STALL_USEC, sink, walked,
                                  userdata, ret);
}

static int load_holders(Machine *m) {
        _cleanup_(holder_scan_done) HolderScan scan = {};
        _cleanup_strv_free_ char **nodes = NULL;
        int r;

        r = holder_nodes(m, &nodes);
        if (r >= 0)
                r = holders_scan(m->root, nodes, &scan);
        if (r >= 0)
                r = machine_add_holders(m, &scan);
        return r;
}

int machine_load(const char *root, MachineFlags flags, Machine **ret) {
        _cleanup_(machine_freep) Machine *m = NULL;
        struct stat st;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *m = (Machine) { .group = IOMMU_GROUP_NULL, .clients_error = -ENODEV };
        m->root = strdup(isempty(root) ? "/" : root);
        if (!m->root)
                return -ENOMEM;
        /* Sections tolerate missing directories; a missing root is a typo, not a machine. */
        if (stat(m->root, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;

        r = pci_devices_read_all(m->root, &m->pci, &m->n_pci);
        if (r >= 0)
                r = load_gpu(m, flags);
        if (r >= 0)
                r = vtconsoles_read(m->root, &m->vtcons, &m->n_vtcons);
        if (r >= 0)
                r = firmware_fbs_read(m->root, &m->fbs, &m->n_fbs);
        if (r >= 0 && !(flags & MACHINE_SKIP_HOLDERS))
                r = load_holders(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}
