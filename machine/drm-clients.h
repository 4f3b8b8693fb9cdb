/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* /sys/kernel/debug/dri/N/clients, written by drm_clients_info() in the kernel's
 * drivers/gpu/drm/drm_debugfs.c. On 6.1 the header is
 *     "%20s %5s %3s master a %5s %10s\n" with command, pid, dev, uid, magic
 * and each row "%20s %5d %3d   %c    %c %5d %10u\n". Later kernels call the second column
 * "tgid" and append a "%20s" client name column; both layouts parse. The command is the
 * task's comm and may itself contain spaces, so rows are read from the right. */

typedef struct DrmClient {
        char *command;                  /* comm, or "<unknown>" once the task is gone */
        pid_t pid;                      /* tgid; 0 when not visible from our pid namespace */
        unsigned minor;                 /* the node's minor index: 0 for card0, 128 for renderD128 */
        bool master;                    /* the current DRM master of the device */
        bool authenticated;
        unsigned uid;
        unsigned magic;
} DrmClient;

/* Parses the whole file. -EBADMSG when the header or a row is not in a known layout. */
int drm_clients_parse(const char *text, DrmClient **ret, size_t *ret_n);
void drm_clients_free(DrmClient *c, size_t n);

/* The client that is master, NULL when none is (nobody holds the display). */
const DrmClient *drm_clients_find_master(const DrmClient *c, size_t n);

/* Reads and parses the clients file of DRM minor card_minor, trying the debugfs directory
 * named by the minor and then the one named by the PCI address (newer kernels).
 * -ENOENT when debugfs is not mounted or has no such device; -EACCES when not root. */
int drm_clients_read(const char *root, unsigned card_minor, const char *pci_address,
                     DrmClient **ret, size_t *ret_n);
