/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "machine.h"

/* The sound cards of the GPU's IOMMU group (its HDMI/DP audio functions) and how PipeWire's
 * devices are matched to them. Pure: read from sysfs below a root, never written. */

typedef struct AudioCard {
        char *pci_address;      /* the audio function: "0000:01:00.1" */
        unsigned index;         /* ALSA card number: /sys/bus/pci/devices/ADDR/sound/cardN */
} AudioCard;

void audio_cards_free(AudioCard *cards, size_t n);

/* The cards of every audio-class function of m's group, in group order; none (*ret NULL,
 * *ret_n 0) when the group has no audio function or none is bound to a sound driver. */
int audio_cards_of_group(const Machine *m, AudioCard **ret, size_t *ret_n);

/* The group's audio functions, with or without cards (strv, possibly empty). */
int audio_functions_of_group(const Machine *m, char ***ret);

/* Whether a /dev/snd node belongs to ALSA card index: controlCN, pcmCND*, hwCND*. */
bool audio_node_of_card(const char *node, unsigned index);

/* Whether a PipeWire device with these properties (any may be NULL) is the sound card of
 * the function at pci_address: device.bus-path "pci-ADDR", or device.sysfs.path
 * ".../ADDR/sound/cardN"; api.alsa.card decides only when the device names no path, and
 * only for index >= 0 (an index that is known). */
bool audio_device_matches(const char *alsa_card, const char *bus_path, const char *sysfs_path,
                          const char *pci_address, int index);

/* "Audio0": the org.freedesktop.ReserveDevice1 device name of ALSA card index. */
int audio_reserve_device_name(unsigned index, char **ret);

/* Whose session bus and PipeWire the audio stage talks to when [audio] user names nobody
 * (row 11 of issue 19): the user of the active desktop session on seat0 when there is one
 * (seat_r >= 0); only without one the owner of a process holding the card (holder_r >= 0),
 * so that another local user in group audio holding the card cannot pick the bus root talks
 * to: with a desktop user they are only a holder. -ENXIO when neither. */
int audio_pick_user(int seat_r, uid_t seat_uid, int holder_r, uid_t holder_uid, uid_t *ret);

/* Whether a process holding the card is PipeWire (pipewire, pipewire-pulse, wireplumber): by
 * the systemd unit its cgroup ends in ("0::/user.slice/.../pipewire.service"; cgroup may be
 * NULL), or by its comm where PipeWire runs outside systemd. PipeWire lets go of the card when
 * asked (the reservation, or its units stopped); any other holder has to close it by itself. */
bool audio_holder_is_pipewire(const char *comm, const char *cgroup);
