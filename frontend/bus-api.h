/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* baton's D-Bus API on the system bus, shared by the daemon and the CLI.
 *
 * Methods (each changing one is authorized with polkit first):
 *   Handover(s vm) -> (s report)   hand the GPU over; joins one in flight
 *   Return() -> (s report)         give it back; cancels a handover in flight
 *   Recover() -> (s report)        converge to the recorded host state
 *   Status() -> (s text)           everyone may ask
 *   ToggleInput() -> (s target)    move keyboard and mouse to the other side, as
 *                                  the hotkey does; returns "host" or "guest"
 * Properties: State (s: host, guest, handing-over, returning, recovering,
 *   interrupted: DaemonState's table in daemon.c), Stage (s: the stage observed or running now,
 *   or ""), InputTarget (s: host, guest, or off when input routing could not start).
 *   A change of State or Stage during a transition is announced (PropertiesChanged, and
 *   systemd's STATUS=) once the daemon's loop is idle, so a stage that runs without a wait
 *   may go unannounced there; the start and the end of a transition are announced at once.
 * Signals: StageProgress(s stage, s direction, s event, t usec)
 *   event: started, done, failed; direction: guest, host. Sent for every start and end
 *   of a stage's step. */

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
