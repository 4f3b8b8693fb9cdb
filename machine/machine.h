/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "console.h"
#include "drm-clients.h"
#include "holders.h"
#include "iommu-group.h"
#include "logind-sessions.h"
#include "macro.h"
#include "pci-device.h"

/* The machine as baton sees it: everything the handover will touch, read in one go from a
 * root ("/" for the live system, a fixture tree in tests). Strictly read-only: loading a
 * Machine never writes, binds or opens a device node. The engine observes with it before
 * and after every stage. */

typedef enum MachineFlags {
        MACHINE_DRM_LIBDRM = 1 << 0,    /* find DRM nodes with drmGetDevices2() (live root only) */
        MACHINE_SKIP_HOLDERS = 1 << 1,  /* do not walk /proc */
} MachineFlags;

typedef struct Machine {
        char *root;

        PciDevice *pci;                 /* every PCI device, by address */
        size_t n_pci;
        const PciDevice *gpu;           /* into pci[]; NULL: no display-class GPU, refuse */

        IommuGroup group;               /* the GPU's; IOMMU_GROUP_NULL without GPU or IOMMU */

        VtConsole *vtcons;
        size_t n_vtcons;
        FirmwareFb *fbs;
        size_t n_fbs;

        char **drm_nodes;               /* the GPU's /dev/dri nodes; empty without a driver */
        char **snd_nodes;               /* /dev/snd nodes of the group's audio functions */

        HolderScan holders;             /* of drm_nodes, snd_nodes, /dev/fb*, /dev/nvidia*, /dev/kfd */
        LogindSession *sessions;        /* logind's, with the devices it holds for each */
        size_t n_sessions;

        DrmClient *clients;             /* the card's debugfs clients, when clients_error == 0 */
        size_t n_clients;
        int clients_error;              /* why clients are unknown: -ENOENT (no debugfs), -EACCES */
} Machine;

/* Reads the whole machine below root. Sections whose sysfs directory is absent come back
 * empty (a machine without PCI is a machine without a GPU). Fails when root is not a
 * directory (-ENOENT, -ENOTDIR), on -ENOMEM, or on an unreadable tree. */
int machine_load(const char *root, MachineFlags flags, Machine **ret);
/* Adds what MACHINE_SKIP_HOLDERS left out to m, in two steps, for a walk awaited on event's
 * loop: the walk for the holders of m's nodes (holders_scan_async(), with its defaults), then
 * its scan added to m (taken, even on failure) with logind's sessions read now. */
int machine_walk_holders(const Machine *m, sd_event *event, LogSink *sink, holders_walked_t walked, void *userdata,
                         HoldersWalk **ret);
int machine_add_holders(Machine *m, HolderScan *scan);
Machine *machine_free(Machine *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Machine *, machine_free);

static inline bool machine_has_gpu(const Machine *m) {
        return m->gpu != NULL;
}

/* The GPU's current DRM master as debugfs reports it; NULL when none or unknown. */
const DrmClient *machine_drm_master(const Machine *m);

/* The logind session a holder's node is held for (holders.h), NULL when none. */
const LogindSession *machine_holder_session(const Machine *m, const Holder *h);

/* The node to probe for scan-out: the GPU's first /dev/dri/cardN, or NULL. */
const char *machine_card_node(const Machine *m);
