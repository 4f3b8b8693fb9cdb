/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Device nodes in /dev that belong to one PCI function. The returned paths are always the
 * live ones ("/dev/dri/card0"), whatever root the sysfs tree was read from: they are what
 * /proc/PID/fd links point at. Lists are sorted and may be empty (never NULL on success). */

/* From /sys/bus/pci/devices/ADDR/drm/{cardN,renderDN}. */
int dev_nodes_drm_sysfs(const char *root, const char *pci_address, char ***ret);

/* The same through libdrm's drmGetDevices2(), for the live system only. A machine without
 * /dev/dri yields an empty list. */
int dev_nodes_drm_libdrm(const char *pci_address, char ***ret);

/* ALSA nodes of the function's sound cards, from /sys/bus/pci/devices/ADDR/sound/cardN/:
 * /dev/snd/controlCN, pcmCNDM[pc], hwCNDM. A function without sound cards gives none. */
int dev_nodes_alsa(const char *root, const char *pci_address, char ***ret);

/* "/dev/dri/card1" -> 1. -EINVAL for any other node. */
int dev_node_card_minor(const char *node, unsigned *ret);
