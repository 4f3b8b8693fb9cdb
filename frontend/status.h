/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "drm-probe.h"
#include "machine.h"

/* Prints the machine view of "baton status": one labelled line per section, the labels in
 * a 15-column field, continuation lines indented to the values. probe is the result of
 * drm_probe_card() on the GPU's card node, or NULL when not probed (probe_error then
 * says nothing); with probe NULL and probe_error < 0, the probe failed with that error. */
void status_print(FILE *f, const Machine *m, const DrmProbe *probe, int probe_error);
