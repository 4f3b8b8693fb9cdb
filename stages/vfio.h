/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "machine.h"
#include "stage.h"

/* The vfio stage's decisions, as pure functions of an observed Machine: what observe() and
 * `baton plan` say, and what to_guest() and to_host() check the kernel's work against. */

#define VFIO_DRIVER "vfio-pci"
/* Recorded as a device's original driver when it had none. */
#define VFIO_DRIVER_NONE "none"

/* allow-foreign-devices = yes in baton.conf (or BATON_VFIO_ALLOW_FOREIGN=1, see
 * config_apply_environment()) lets the stage hand over endpoints of the GPU's IOMMU group
 * that are not part of the graphics card (an NVMe disk, a NIC): they leave the host with it. */
/* What a refusal tells the user to set: the config key, the way doctor says it too. */
#define VFIO_ALLOW_FOREIGN_ADVICE "allow-foreign-devices = yes in [gpu] of baton.conf"
bool vfio_allow_foreign(const Config *c);

/* Whether a member of the GPU's group goes to vfio-pci: every endpoint; PCI bridges keep
 * their driver (vfio-pci does not take bridges, and the group stays viable with them). */
bool vfio_is_target(const GroupDevice *d);

/* The first endpoint of the group that is not part of the card, or NULL. */
const GroupDevice *vfio_find_foreign(const IommuGroup *g);

/* Whether the driver a device has now (NULL: unbound) is the one wanted: want names a driver
 * ("vfio-pci", or a recorded host driver), is "none" for no driver, or is NULL (to_host
 * without a record) for any driver but vfio-pci, no driver included. */
bool vfio_driver_wanted(const char *want, const char *actual);

/* NOTHING_TO_DO without a GPU; else AT_HOST when no endpoint of the GPU's group is on
 * vfio-pci (also when the GPU has no group: to_guest then refuses), AT_GUEST when all are,
 * MIXED otherwise. */
StagePosition vfio_position(const Machine *m);

/* What to_guest() would do on m, one line each: a refusal when one applies (no IOMMU group;
 * an endpoint not part of the card, unless allow_foreign), the modules it loads, each group
 * member with its class and driver, the /dev/vfio node it checks. Without a GPU: no lines.
 * ret: strv, owned by the caller. */
int vfio_plan(const Machine *m, bool allow_foreign, char ***ret);

/* Whether a device address read from the journal is an endpoint of the GPU's IOMMU group g,
 * as observed now (recover touches nothing else). */
bool vfio_recorded_address_valid(const IommuGroup *g, const char *address);
