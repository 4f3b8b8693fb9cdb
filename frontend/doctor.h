/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* `baton doctor`: a preflight of this machine's setup. Strictly read-only, like machine_load():
 * it reads sysfs, /proc and the configuration, asks libkmod where modules are (without loading
 * any) and systemd about the display manager's unit; it never writes, binds, loads or starts
 * anything. */

typedef enum DoctorVerdict {
        DOCTOR_PASS,
        DOCTOR_WARN,            /* works, but something will get in the way or is unknown */
        DOCTOR_FAIL,            /* a handover cannot work until this is fixed */
        DOCTOR_SKIP,            /* does not apply: no GPU, or the machine is read from a fixture root */
        _DOCTOR_VERDICT_MAX,
} DoctorVerdict;

const char *doctor_verdict_to_string(DoctorVerdict v);

typedef struct DoctorOptions {
        const char *root;               /* "/" for this machine; a fixture tree in tests */
        const char *config_dir;         /* where baton.conf and baton.conf.d/ are */
} DoctorOptions;

/* Runs every check and prints one line each to f: "VERDICT  CHECK  what was found; fix: how",
 * then a summary line. Checks that need the live system (libkmod, systemd) are skipped when
 * root is not "/". Returns the number of failed checks, or a negative errno when f could not
 * be written. */
int doctor_run(const DoctorOptions *o, FILE *f);

/* Input devices by their sysfs capability bitmaps (capabilities/ev, key, rel: blank-separated
 * hex words of the kernel's long, most significant first). */
bool input_caps_is_keyboard(const char *ev, const char *key);
bool input_caps_is_mouse(const char *ev, const char *key, const char *rel);
