/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "engine.h"

/* How the CLI runs a transition: through the daemon when it runs, in-process otherwise. */
typedef int (*transition_t)(EngineOp op, const char *method, const char *vm);

/* `baton start [VM]`: hand the GPU over for VM, then start it with libvirt
 * (qemu:///system); on any failure after the handover, return the GPU. Without
 * VM, the one defined domain that takes the GPU (domain-xml.h). A domain that
 * does not take the GPU is started without a handover. The libvirt hook, when
 * installed, finds the handover done and has nothing to do. Blocking; logs its
 * errors; returns 0 or a negative errno. */
int baton_start(const char *vm, transition_t transition);
