/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"

/* baton.conf: DIR/baton.conf, then the *.conf files of DIR/baton.conf.d in lexical order, each
 * later value replacing an earlier one. data/baton.conf documents every key.
 *
 * (Named config-file.h, not config.h: meson generates a config.h with BATON_VERSION and
 * friends, and a core/config.h would shadow it for every file in this folder.) */

typedef enum AudioRelease {
        AUDIO_RELEASE_RESERVE,          /* ask for the device through the reservation protocol */
        AUDIO_RELEASE_STOP_UNITS,       /* stop the user's PipeWire units */
        AUDIO_RELEASE_NONE,             /* leave audio alone */
        _AUDIO_RELEASE_MAX,
        _AUDIO_RELEASE_INVALID = -EINVAL,
} AudioRelease;

#define HOTKEY_KEYS_MAX 4

/* A chord: every key held at once, in the order written. */
typedef struct Hotkey {
        unsigned n_keys;                /* 0: no hotkey */
        unsigned keys[HOTKEY_KEYS_MAX]; /* EV_KEY codes */
} Hotkey;

/* Names are short and validated, so they live in the struct: config_init() cannot fail,
 * and a Config is copied by assignment (but for input_devices). "" is the unset value. */
typedef struct Config {
        /* [gpu] */
        char gpu_address[sizeof("0000:00:00.0")];       /* "": auto, the boot_vga display device */
        bool allow_foreign_devices;
        /* [display-manager] */
        char display_manager_unit[256];
        bool console_progress;                          /* stage lines on the text console */
        /* [deadlines] */
        uint64_t deadline_usec[_DEADLINE_MAX];
        /* [audio] */
        AudioRelease audio_release;
        char audio_user[33];                            /* "": the active seat0 session's user */
        /* [session] */
        bool session_logout;                            /* false: the stage leaves the session alone */
        char session_user[33];                          /* "": the active seat0 desktop session's user */
        bool session_save;
        bool force_logout;
        uint64_t logout_timeout_usec;
        /* [input] */
        char **input_devices;                           /* NULL: auto-detect */
        Hotkey hotkey;
        Hotkey recover_hotkey;                          /* no keys: off */
        char guest_name_prefix[65];
        unsigned input_realtime_priority;               /* the readers' SCHED_FIFO priority; 0: off */
        /* [daemon] */
        char admin_group[33];                           /* "": polkit's admin rule only */
        /* [tuning] (stages/host-tuning.c) */
        char tuning_host_cpus[256];                     /* "": no CPU isolation; a cpu list */
        unsigned tuning_hugepages;                      /* 0: none reserved */
        unsigned tuning_hugepage_size_kb;
        bool tuning_hugepages_partial;
        char tuning_governor[33];                       /* "": the governor is left alone */
        char tuning_governor_cpus[256];                 /* "": every CPU */
        /* [stages] */
        char stages_after[32];                          /* a built-in stage's name, or "begin" */

        /* Not a key: the directory this was loaded from ("": none), where stages.d is. */
        char dir[1024];
} Config;

/* The defaults; config_done() is still needed afterwards only once something was loaded. */
void config_init(Config *c);
void config_done(Config *c);

/* Loads DIR/baton.conf and the drop-ins of DIR/baton.conf.d over the defaults. A missing file or
 * directory counts as empty; drop-ins are the regular files (or links to them) named
 * *.conf, hidden ones excepted. On success *ret is overwritten (not released first: pass
 * a fresh Config, or keep the old one and config_done() it yourself). On failure *ret is
 * untouched, the error has been logged once, naming file, line and key, and the result is
 * -EINVAL for content errors, -ENOMEM, or the -errno of the failed read. */
int config_load(const char *dir, Config *ret);

/* The same for one NUL-terminated text, called name in messages: the entry point for a
 * fuzzer, and for tests. */
int config_load_string(const char *text, const char *name, Config *ret);

/* Writes the effective configuration in baton.conf syntax: every section and key, so that
 * loading the output gives the same Config. Returns 0, -ENOMEM or -EIO. */
int config_dump(const Config *c, FILE *f);

/* What GetConfig shows a caller that is neither root nor in [daemon] admin-group: the same,
 * but for the names of people and groups ([session] user, [audio] user, [daemon]
 * admin-group), which read "(not shown)" (man baton.conf(5), "WHO SEES THE CONFIGURATION"). */
int config_dump_public(const Config *c, FILE *f);

/* Puts the command line's --deadline values (0: none given) over those of c, so that the
 * Config in force holds the deadlines in force: what the engine uses, and what plan, the
 * stages' observe() and config_dump() show. */
void config_override_deadlines(Config *c, const uint64_t deadline_usec[_DEADLINE_MAX]);

/* The environment's overrides, for tests, which the front ends (CLI, daemon, doctor) put over
 * the Config they load, so that the stages read them there: $BATON_DISPLAY_MANAGER (when not
 * empty) is [display-manager] unit, $BATON_VFIO_ALLOW_FOREIGN=1 is [gpu]
 * allow-foreign-devices = yes. */
#define CONFIG_DISPLAY_MANAGER_ENV "BATON_DISPLAY_MANAGER"
#define CONFIG_ALLOW_FOREIGN_ENV "BATON_VFIO_ALLOW_FOREIGN"
void config_apply_environment(Config *c);

const char *audio_release_to_string(AudioRelease a);
AudioRelease audio_release_from_string(const char *s);

/* The configuration in force in this process: what the CLI loaded, or what the
 * daemon loaded last without error (a reload that fails keeps the previous
 * one), for the front ends; stages get theirs in their StageContext. Like the
 * arg_* variables, it is process state set once per (re)load; config_get()
 * returns built-in defaults until config_set() was called. c must outlive its
 * use: the caller keeps it and calls config_set() again before freeing it. */
const Config *config_get(void);
void config_set(const Config *c);
