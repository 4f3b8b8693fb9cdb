/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <xf86drm.h>

#include "dev-nodes.h"
#include "macro.h"
#include "parse-util.h"
#include "pci-device.h"
#include "strv.h"
#include "sysfs-util.h"

static int empty_strv(char ***ret) {
        *ret = calloc(1, sizeof(char *));
        return *ret ? 0 : -ENOMEM;
}

/* Hands over *nodes sorted, or an empty list when none were found. */
static int take_sorted(char ***nodes, char ***ret) {
        if (!*nodes)
                return empty_strv(ret);
        strv_sort(*nodes);
        *ret = TAKE_PTR(*nodes);
        return 0;
}

/* Lists dir below root, keeps entries starting with one of prefixes as DEVDIR/entry. */
static int list_nodes(const char *root, const char *dir, const char *const *prefixes,
                      const char *devdir, char ***nodes) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = sysfs_list_dir(root, dir, NULL, &names);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        STRV_FOREACH(name, names)
                for (const char *const *p = prefixes; *p; p++) {
                        char *node;

                        if (!startswith(*name, *p))
                                continue;
                        if (asprintf(&node, "%s/%s", devdir, *name) < 0)
                                return -ENOMEM;
                        r = strv_consume(nodes, node);
                        if (r < 0)
                                return r;
                        break;
                }
        return 0;
}

int dev_nodes_drm_sysfs(const char *root, const char *pci_address, char ***ret) {
        static const char *const prefixes[] = { "card", "renderD", NULL };
        _cleanup_strv_free_ char **nodes = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "/sys/bus/pci/devices/%s/drm", pci_address) < 0)
                return -ENOMEM;
        r = list_nodes(root, dir, prefixes, "/dev/dri", &nodes);
        if (r < 0)
                return r;

        return take_sorted(&nodes, ret);
}

static bool drm_device_is(const drmDevice *d, const PciAddress *a) {
        return d->bustype == DRM_BUS_PCI && d->businfo.pci &&
               d->businfo.pci->domain == a->domain && d->businfo.pci->bus == a->bus &&
               d->businfo.pci->dev == a->slot && d->businfo.pci->func == a->function;
}

static int collect_libdrm_nodes(drmDevice **devices, int n, const PciAddress *a, char ***nodes) {
        static const int types[] = { DRM_NODE_PRIMARY, DRM_NODE_RENDER };
        int r;

        for (int i = 0; i < n; i++) {
                if (!drm_device_is(devices[i], a))
                        continue;
                for (size_t t = 0; t < ELEMENTSOF(types); t++) {
                        if (!(devices[i]->available_nodes & (1 << types[t])))
                                continue;
                        r = strv_extend(nodes, devices[i]->nodes[types[t]]);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int dev_nodes_drm_libdrm(const char *pci_address, char ***ret) {
        _cleanup_strv_free_ char **nodes = NULL;
        _cleanup_free_ drmDevice **devices = NULL;
        PciAddress a;
        int n, r;

        r = pci_address_parse(pci_address, &a);
        if (r < 0)
                return r;

        /* First call counts, second fills; libdrm returns -errno of opendir("/dev/dri"). */
        n = drmGetDevices2(0, NULL, 0);
        if (n == -ENOENT || n == 0)
                return empty_strv(ret);
        if (n < 0)
                return n;
        devices = calloc((size_t) n, sizeof(drmDevice *));
        if (!devices)
                return -ENOMEM;
        n = drmGetDevices2(0, devices, n);
        if (n < 0)
                return n;

        r = collect_libdrm_nodes(devices, n, &a, &nodes);
        drmFreeDevices(devices, n);
        if (r < 0)
                return r;

        return take_sorted(&nodes, ret);
}

int dev_nodes_alsa(const char *root, const char *pci_address, char ***ret) {
        static const char *const prefixes[] = { "controlC", "pcmC", "hwC", NULL };
        _cleanup_strv_free_ char **cards = NULL, **nodes = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "/sys/bus/pci/devices/%s/sound", pci_address) < 0)
                return -ENOMEM;
        r = sysfs_list_dir(root, dir, "card", &cards);
        if (r == -ENOENT)
                return empty_strv(ret);
        if (r < 0)
                return r;

        STRV_FOREACH(card, cards) {
                _cleanup_free_ char *carddir = NULL;

                if (asprintf(&carddir, "%s/%s", dir, *card) < 0)
                        return -ENOMEM;
                r = list_nodes(root, carddir, prefixes, "/dev/snd", &nodes);
                if (r < 0)
                        return r;
        }

        return take_sorted(&nodes, ret);
}

int dev_node_card_minor(const char *node, unsigned *ret) {
        const char *n = startswith(node, "/dev/dri/card");

        if (!n)
                return -EINVAL;
        return safe_atou(n, 10, ret);
}
