/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* baton's D-Bus API on the system bus, shared by the daemon and the CLI. Its users'
 * description is man/org.baton.Baton1.5.scd: every method, signal and property with its
 * arguments, the errors, who may call what, and when State and Stage changes are
 * announced. The lab's daemon scenario compares that page with what the daemon serves
 * (tests/lab/tools/bus-api-members): a member added to the daemon (daemon.c) is described
 * there. */

#define BATON_BUS_NAME          "org.baton.Baton1"
#define BATON_BUS_PATH          "/org/baton/Baton1"
#define BATON_BUS_INTERFACE     "org.baton.Baton1"

#define BATON_BUS_ERROR_FAILED  "org.baton.Baton1.Error.Failed"
#define BATON_BUS_ERROR_BUSY    "org.baton.Baton1.Error.Busy"
#define BATON_BUS_ERROR_NO_GPU  "org.baton.Baton1.Error.NoGpu"

/* polkit actions (data/org.baton.policy) */
#define BATON_ACTION_HANDOVER   "org.baton.handover"
#define BATON_ACTION_RETURN     "org.baton.return"
#define BATON_ACTION_RECOVER    "org.baton.recover"
#define BATON_ACTION_INPUT      "org.baton.input-toggle"

/* How long the CLI waits for a transition the daemon runs: every stage has
 * its own deadline; this only bounds a daemon that stopped answering. */
#define BATON_BUS_CALL_TIMEOUT_USEC (10ULL * 60 * 1000000)
