/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include <stdbool.h>

#include "macro.h"

/* The user's running applications, as their systemd manager knows them, and the one-shot
 * autostart entry that relaunches them. Pure: strings and files, no bus.
 *
 * GNOME Shell and flatpak start each application in a scope of its own, named after the
 * XDG standard (systemd.io/DESKTOP_ENVIRONMENTS): app-<launcher>-<escaped app id>-<random>.scope,
 * the app id escaped like systemd-escape does ('-' becomes \x2d). */

/* "app-gnome-org.gnome.Nautilus-3417.scope" -> "org.gnome.Nautilus";
 * "app-flatpak-org.gimp.GIMP-21203.scope" -> "org.gimp.GIMP";
 * "app-gnome-firefox\x2desr-2216.scope" -> "firefox-esr";
 * "app-baton-org.gnome.Nautilus-812_0.scope" -> "org.gnome.Nautilus" (relaunched by baton: they
 * are saved again at the next handover).
 * -EINVAL for any other unit (another launcher, a service, no random part). */
int session_desktop_id_from_scope(const char *unit, char **ret);

/* What the relaunch needs of a .desktop file's [Desktop Entry] group. */
typedef struct DesktopEntry {
        bool no_display;        /* NoDisplay=true */
        bool hidden;            /* Hidden=true: deleted, for autostart entries */
        bool autostart_disabled; /* X-GNOME-Autostart-enabled=false */
        char *exec;             /* Exec=, NULL when absent */
} DesktopEntry;

void desktop_entry_done(DesktopEntry *e);
/* Parses the [Desktop Entry] group of text (other groups are skipped). */
int desktop_entry_parse(const char *text, DesktopEntry *ret);
/* The largest .desktop file read (GNOME's own, with every translation, hold about 40 KiB). */
#define DESKTOP_ENTRY_MAX (256u * 1024)
/* Loads and parses a .desktop file: refused unless a regular file of at most
 * DESKTOP_ENTRY_MAX bytes (a FIFO or a link to /dev/zero in the user's applications
 * directory is refused at once, see read_regular_file()). */
int desktop_entry_load(const char *path, DesktopEntry *ret);

/* Finds ID.desktop in the applications/ folder of each of data_dirs (first wins). Returns 1
 * and the entry when the app is to be relaunched; 0 when it is left out: no .desktop file,
 * NoDisplay=true, no Exec, or the app starts by itself at login (a visible, enabled
 * ID.desktop in one of autostart_dirs). ret_entry may be NULL. */
int session_app_wanted(char * const *data_dirs, char * const *autostart_dirs, const char *id,
                       DesktopEntry *ret_entry);

/* The Exec line without the field codes of the desktop entry spec (%f %F %u %U %i %c %k
 * dropped, %% kept as %). */
int desktop_exec_strip_field_codes(const char *exec, char **ret);

/* The relaunch script for apps ids (with their stripped Exec lines, same order): removes
 * autostart_path and itself first, then starts each app in its own scope,
 * app-baton-<escaped id>-<pid>_<n>.scope, with systemd-run --user --scope. */
int session_relaunch_script(char * const *ids, char * const *execs, const char *autostart_path,
                            char **ret);

/* The one-shot autostart entry that runs script_path at the next login. */
int session_autostart_entry(const char *script_path, char **ret);

/* The XDG base directories of a user whose session environment is env (KEY=VALUE strv, as the
 * user's systemd manager holds it; NULL for none): the data directories, most important first
 * ($XDG_DATA_HOME, then $XDG_DATA_DIRS, then flatpak's exports where the list lacks them), and
 * the autostart directories ($XDG_CONFIG_HOME/autostart, then $XDG_CONFIG_DIRS' autostart). The
 * spec's defaults apply to unset or empty variables; relative paths are ignored. */
int session_xdg_dirs(const char *home, char * const *env, char ***ret_data_dirs, char ***ret_autostart_dirs);

/* One line naming the apps that inhibit a logout, each with its reason, for the error:
 * "org.gnome.TextEditor (Unsaved document), foo (no reason given)". */
int session_inhibitors_describe(char * const *app_ids, char * const *reasons, char **ret);

/* The one-shot autostart entry's file name. */
#define SESSION_AUTOSTART_NAME "baton-relaunch.desktop"

/* Row 9 of issue 19, what recover takes from the session's record: 1 when uid is not root,
 * autostart (may be NULL) is HOME/.config/autostart/baton-relaunch.desktop and script (may
 * be NULL) is below HOME, ends in /baton/relaunch-session and has no "." or ".." component;
 * 0 when not, -ENOMEM. */
int session_record_valid(uid_t uid, const char *home, const char *autostart, const char *script);
