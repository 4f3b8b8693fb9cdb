/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio-cards.h"
#include "parse-util.h"
#include "strv.h"
#include "sysfs-util.h"

void audio_cards_free(AudioCard *cards, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(cards[i].pci_address);
        free(cards);
}

int audio_functions_of_group(const Machine *m, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        for (size_t i = 0; i < m->group.n_devices; i++) {
                const PciDevice *d = &m->group.devices[i].pci;

                if (!pci_class_is_audio(d->class))
                        continue;
                r = strv_extend(&l, d->address);
                if (r < 0)
                        return r;
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int add_cards(const char *root, const char *address, AudioCard **cards, size_t *n) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "/sys/bus/pci/devices/%s/sound", address) < 0)
                return -ENOMEM;
        r = sysfs_list_dir(root, dir, "card", &names);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        STRV_FOREACH(name, names) {
                AudioCard *c;
                unsigned index;

                if (safe_atou(*name + strlen("card"), 10, &index) < 0)
                        continue;
                c = array_append(cards, n, sizeof(AudioCard));
                if (!c)
                        return -ENOMEM;
                c->index = index;
                c->pci_address = strdup(address);
                if (!c->pci_address)
                        return -ENOMEM;
        }
        return 0;
}

int audio_cards_of_group(const Machine *m, AudioCard **ret, size_t *ret_n) {
        _cleanup_strv_free_ char **functions = NULL;
        AudioCard *cards = NULL;
        size_t n = 0;
        int r;

        r = audio_functions_of_group(m, &functions);
        if (r < 0)
                return r;
        STRV_FOREACH(f, functions) {
                r = add_cards(m->root, *f, &cards, &n);
                if (r < 0) {
                        audio_cards_free(cards, n);
                        return r;
                }
        }
        *ret = cards;
        *ret_n = n;
        return 0;
}

bool audio_node_of_card(const char *node, unsigned index) {
        const char *name = startswith(node, "/dev/snd/");
        const char *rest = NULL;
        char *end;
        unsigned long v;

        if (!name)
                return false;
        if (startswith(name, "controlC"))
                rest = name + strlen("controlC");
        else if (startswith(name, "pcmC"))
                rest = name + strlen("pcmC");
        else if (startswith(name, "hwC"))
                rest = name + strlen("hwC");
        if (!rest || !(*rest >= '0' && *rest <= '9'))
                return false;
        errno = 0;
        v = strtoul(rest, &end, 10);
        if (errno != 0 || v != index)
                return false;
        /* controlCN ends there; the others go on with DM. */
        return *end == '\0' ? startswith(name, "controlC") != NULL : *end == 'D';
}

bool audio_device_matches(const char *alsa_card, const char *bus_path, const char *sysfs_path,
                          const char *pci_address, int index) {
        const char *p;
        size_t l = strlen(pci_address);
        unsigned card;

        if (bus_path) {
                p = startswith(bus_path, "pci-");
                return p && streq(p, pci_address);
        }
        if (sysfs_path) {
                for (p = strstr(sysfs_path, pci_address); p; p = strstr(p + 1, pci_address))
                        if ((p == sysfs_path || p[-1] == '/') && startswith(p + l, "/sound/card"))
                                return true;
                return false;
        }
        return index >= 0 && alsa_card && safe_atou(alsa_card, 10, &card) >= 0 && card == (unsigned) index;
}

int audio_reserve_device_name(unsigned index, char **ret) {
        return asprintf(ret, "Audio%u", index) < 0 ? -ENOMEM : 0;
}

int audio_pick_user(int seat_r, uid_t seat_uid, int holder_r, uid_t holder_uid, uid_t *ret) {
        if (seat_r >= 0)
                *ret = seat_uid;
        else if (holder_r >= 0)
                *ret = holder_uid;
        else
                return -ENXIO;
        return 0;
}

bool audio_holder_is_pipewire(const char *comm, const char *cgroup) {
        static const char *const names[] = { "pipewire", "pipewire-pulse", "wireplumber", NULL };
        const char *unit = cgroup ? strrchr(cgroup, '/') : NULL;
        const char *suffix;

        if (unit)
                for (const char *const *n = names; *n; n++)
                        if ((suffix = startswith(unit + 1, *n)) && streq(suffix, ".service"))
                                return true;
        return comm && strv_contains((char **) names, comm);
}
