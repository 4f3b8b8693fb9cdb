/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

#include "gpu-modules.h"
#include "macro.h"
#include "status.h"
#include "strv.h"
#include "sysfs-util.h"

#define LABEL_WIDTH 15

static void label(FILE *f, const char *l) {
        fprintf(f, "%-*s", LABEL_WIDTH, l);
}

/* "display, bochs-drm" or "ffff00, virtio-pci": the class by name where we know it. */
static void print_class_driver(FILE *f, const PciDevice *d) {
        const char *name = pci_class_name(d->class);

        if (name)
                fputs(name, f);
        else
                fprintf(f, "%06x", d->class);
        fprintf(f, ", %s", d->driver ?: "no driver");
}

static void print_gpu(FILE *f, const Machine *m) {
        const PciDevice *g = m->gpu;

        label(f, "GPU");
        fprintf(f, "%s  [%04x:%04x] class %06x  driver %s  boot_vga %s",
                g->address, g->vendor, g->device, g->class, g->driver ?: "none",
                g->boot_vga < 0 ? "n/a" : g->boot_vga ? "1" : "0");
        if (g->driver_override)
                fprintf(f, "  driver_override %s", g->driver_override);
        fputc('\n', f);
}

/* Without a GPU, what PCI devices there are: the reason is then visible. */
static void print_pci(FILE *f, const Machine *m) {
        label(f, "GPU");
        fputs("no display-class GPU found\n", f);
        label(f, "PCI devices");
        if (m->n_pci == 0)
                fputs("none", f);
        for (size_t i = 0; i < m->n_pci; i++) {
                fprintf(f, "%s%s (", i > 0 ? ", " : "", m->pci[i].address);
                print_class_driver(f, &m->pci[i]);
                fputc(')', f);
        }
        fputc('\n', f);
}

static void print_group(FILE *f, const Machine *m) {
        const IommuGroup *g = &m->group;
        size_t foreign = iommu_group_count_foreign(g);

        label(f, "IOMMU group");
        if (!m->gpu) {
                fputs("-\n", f);
                return;
        }
        if (g->number < 0) {
                fputs("none (the GPU has no IOMMU group: IOMMU off?)\n", f);
                return;
        }

        fprintf(f, "%i:", g->number);
        for (size_t i = 0; i < g->n_devices; i++) {
                const GroupDevice *d = &g->devices[i];

                fprintf(f, "%s %s (", i > 0 ? "," : "", d->pci.address);
                print_class_driver(f, &d->pci);
                if (!d->is_bridge && !d->is_card_function)
                        fputs("; not part of the card", f);
                fputc(')', f);
        }
        fputc('\n', f);
        if (foreign > 0)
                fprintf(f, "%-*sshared: %zu endpoint(s) not part of the card would go to the guest too\n",
                        LABEL_WIDTH, "", foreign);
}

static void print_vtcons(FILE *f, const Machine *m) {
        label(f, "vtconsoles");
        if (m->n_vtcons == 0)
                fputs("none", f);
        for (size_t i = 0; i < m->n_vtcons; i++) {
                const VtConsole *v = &m->vtcons[i];

                fprintf(f, "%s%s %s: %s%s", i > 0 ? "; " : "", v->id, v->name,
                        v->bound ? "bound" : "unbound", v->is_fb ? " (fb)" : "");
        }
        fputc('\n', f);
}

static void print_fbs(FILE *f, const Machine *m) {
        label(f, "firmware fb");
        if (m->n_fbs == 0)
                fputs("none", f);
        for (size_t i = 0; i < m->n_fbs; i++)
                fprintf(f, "%s%s: %s", i > 0 ? "; " : "", m->fbs[i].name,
                        m->fbs[i].driver ?: "no driver");
        fputc('\n', f);
}

static void print_nodes(FILE *f, const char *l, char * const *nodes) {
        label(f, l);
        if (strv_length(nodes) == 0)
                fputs("none", f);
        STRV_FOREACH(n, nodes)
                fprintf(f, "%s%s", n == nodes ? "" : " ", *n);
        fputc('\n', f);
}

/* The holder of the card node that is logind's for a session, when the master is the
 * fd logind opened for that session (debugfs names the DRM file's opener). */
static const Holder *logind_holder(const Machine *m, pid_t pid) {
        for (size_t i = 0; i < m->holders.n_holders; i++) {
                const Holder *h = &m->holders.holders[i];

                if (h->pid == pid && h->by_logind && h->session)
                        return h;
        }
        return NULL;
}

/* "session 2 (labdesk, user, wayland) through systemd-logind (pid 218); its compositor
 * pid 1402 (gnome-shell)": the session logind made master, not logind itself. */
static void print_session_master(FILE *f, const Machine *m, const DrmClient *master, const Holder *lh) {
        const LogindSession *ls = machine_holder_session(m, lh);
        bool first = true;

        if (ls)
                fprintf(f, "session %s (%s, %s, %s)", ls->id, ls->user, ls->class, ls->type);
        else
                fprintf(f, "session %s", lh->session);
        fprintf(f, " through %s (pid %i)", master->command, (int) master->pid);
        for (size_t i = 0; i < m->holders.n_holders; i++) {
                const Holder *h = &m->holders.holders[i];

                if (h->by_logind || !streq_ptr(h->session, lh->session) || !streq(h->node, lh->node))
                        continue;
                fprintf(f, "%s pid %i (%s)", first ? "; its compositor" : ",", (int) h->pid, h->comm);
                first = false;
        }
}

static void print_master(FILE *f, const Machine *m, const DrmProbe *probe, int probe_error) {
        const DrmClient *master = machine_drm_master(m);

        label(f, "DRM master");
        if (!m->gpu || !machine_card_node(m))
                fputs("-", f);
        else if (m->clients_error == -ENOENT)
                fputs("unknown (debugfs not mounted)", f);
        else if (m->clients_error < 0)
                fprintf(f, "unknown (debugfs: %s)", strerror(-m->clients_error));
        else if (master && logind_holder(m, master->pid))
                print_session_master(f, m, master, logind_holder(m, master->pid));
        else if (master)
                fprintf(f, "pid %i (%s)", (int) master->pid, master->command);
        else
                fputs("none", f);

        if (probe)
                fprintf(f, "  | scanning out: %s (%u of %u CRTCs lit)",
                        drm_probe_scanning_out(probe) ? "yes" : "no",
                        probe->n_active_crtcs, probe->n_crtcs);
        else if (probe_error < 0)
                fprintf(f, "  | scanning out: unknown (%s)", strerror(-probe_error));
        fputc('\n', f);
}

static void print_holders(FILE *f, const Machine *m) {
        const HolderScan *s = &m->holders;

        label(f, "holders");
        if (s->n_holders == 0)
                fputs("none\n", f);
        for (size_t i = 0; i < s->n_holders; i++) {
                const Holder *h = &s->holders[i];

                if (i > 0)
                        label(f, "");
                fprintf(f, "pid %i %s %s", (int) h->pid, h->comm, h->node);
                if (h->mapped_only)
                        fputs(" (mapped)", f);
                if (h->has_drm_client_id)
                        fprintf(f, " (drm-client-id %" PRIu64 ")", h->drm_client_id);
                if (h->by_logind && h->session)
                        fprintf(f, " (kept by logind for session %s)", h->session);
                else if (h->by_logind)
                        fputs(" (kept by logind for a session that is gone)", f);
                else if (h->session)
                        fprintf(f, " (session %s, from logind)", h->session);
                fputc('\n', f);
        }
        if (s->n_unreadable > 0)
                fprintf(f, "%-*s(%u process(es) not fully inspected: permission denied)\n",
                        LABEL_WIDTH, "", s->n_unreadable);
}

/* One module of the GPU driver's stack that must leave the kernel for a handover. */
static void print_module(FILE *f, const char *root, const char *name) {
        _cleanup_(gpu_module_state_done) GpuModuleState st = {};
        int r;

        r = gpu_module_query(root, name, &st);
        if (r < 0)
                fprintf(f, "%s: unreadable (%s)", name, strerror(-r));
        else if (st.initstate == KMOD_MODULE_BUILTIN)
                fprintf(f, "%s: built in, cannot be unloaded", name);
        else if (st.no_unload)
                fprintf(f, "%s: loaded, cannot be unloaded (no refcnt: a kernel without module unloading)", name);
        else
                fprintf(f, "%s: loaded, refcnt %d", name, st.refcnt);
}

/* The loaded modules of the GPU driver's stack, for drivers whose modules a handover
 * unloads (nvidia); nothing for others. */
static void print_modules(FILE *f, const Machine *m) {
        const char *const *policy = gpu_modules_for_driver(m->gpu ? m->gpu->driver : NULL);
        size_t n = 0;

        if (!policy)
                return;
        label(f, "modules");
        if (sysfs_exists(m->root, "/sys/module") <= 0) {
                fputs("unknown (no /sys/module)\n", f);
                return;
        }
        for (const char *const *name = policy; *name; name++) {
                _cleanup_free_ char *dir = NULL;

                if (asprintf(&dir, "/sys/module/%s", *name) < 0 || sysfs_exists(m->root, dir) <= 0)
                        continue;
                if (n++ > 0)
                        label(f, "");
                print_module(f, m->root, *name);
                fputc('\n', f);
        }
        if (n == 0)
                fputs("none loaded\n", f);
}

void status_print(FILE *f, const Machine *m, const DrmProbe *probe, int probe_error) {
        if (m->gpu)
                print_gpu(f, m);
        else
                print_pci(f, m);
        print_group(f, m);
        print_vtcons(f, m);
        print_fbs(f, m);
        print_nodes(f, "DRM nodes", m->drm_nodes);
        if (strv_length(m->snd_nodes) > 0)
                print_nodes(f, "audio nodes", m->snd_nodes);
        print_master(f, m, probe, probe_error);
        print_modules(f, m);
        print_holders(f, m);
}
