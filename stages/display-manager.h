/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "stage.h"
#include "unit-job.h"

/* The display-manager stage's pure parts, unit-tested without a bus. */

/* The unit that is the display manager: [display-manager] unit of c, else
 * display-manager.service, the alias every display manager installs. */
const char *display_manager_unit_name(const Config *c);

/* True for the errors that mean no systemd can be asked at all: no system bus socket,
 * nobody listening on it, nobody owning org.freedesktop.systemd1 there. */
bool display_manager_systemd_unreachable(int error);

/* "gdm.service (display-manager.service)", or id alone when name is id. */
int display_manager_label(const char *name, const char *id, char **ret);

/* observe()'s answer. error is how asking systemd went: 0 (then info is what it said) or
 * a negative errno. Where systemd is unreachable there is nothing to do, with a plan line
 * saying why; any other error is returned as it is. */
int display_manager_judge(const char *name, int error, const UnitInfo *info, uint64_t wait_usec,
                          StagePosition *ret_pos, char ***ret_plan);

/* Without a record (recover from observation alone: no journal, or an unreadable one), is
 * info, what systemd says about name, a display manager that should run on this host?
 * True when it exists, is not masked, is stopped (inactive or failed) and is enabled: name
 * is an alias of it (display-manager.service exists only for the display manager the
 * machine boots into) or its unit file state is enabled, enabled-runtime or alias. */
bool display_manager_should_start(const char *name, const UnitInfo *info);

/* Row 20 of issue 19: a start job that is done proves little for a Type=simple service,
 * which is "active" as soon as it forked and may fail milliseconds later. What the stage
 * does with what systemd says after the start job (settled: the settle window passed;
 * drawing: a process is the DRM master of the GPU's card, so a compositor is up and the
 * window need not run out). */
typedef enum DisplayManagerStart {
        DM_START_SETTLE,        /* active: look again once the settle window passed */
        DM_START_WAIT,          /* activating (not ready yet, or about to restart): look again */
        DM_START_UP,            /* active for the whole window, or drawing: started */
        DM_START_DOWN,          /* inactive or failed: it did not start */
} DisplayManagerStart;

DisplayManagerStart display_manager_judge_start(const char *active_state, bool settled, bool drawing);

/* True when something on the machine can show a display manager: the GPU has a native
 * driver with a DRM card node, or a firmware framebuffer or frame-buffer console is bound.
 * False after a return to a GPU without a native driver whose firmware framebuffer the
 * kernel removed: a display manager then fails for want of a screen until the next boot. */
bool display_manager_machine_has_display(const Machine *m);
