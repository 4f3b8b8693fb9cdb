/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>
#include <libevdev/libevdev.h>

#include "config-file.h"
#include "cpu-list.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "pci-device.h"
#include "strv.h"
#include "stage.h"
#include "sysfs-util.h"

#define WHITESPACE " \t"

/* How to read and write one kind of value. parse() returns -EINVAL for a value it does not
 * take (the caller names the key and says what was expected), or -ENOMEM. */
typedef struct ValueType {
        int (*parse)(const char *v, void *field, size_t size);
        void (*format)(const void *field, FILE *f);
        const char *expected;
} ValueType;

typedef struct ConfigKey {
        const char *section;
        const char *name;
        const ValueType *type;
        size_t offset;
        size_t size;
} ConfigKey;

static const char *const audio_release_table[_AUDIO_RELEASE_MAX] = {
        [AUDIO_RELEASE_RESERVE] = "reserve",
        [AUDIO_RELEASE_STOP_UNITS] = "stop-units",
        [AUDIO_RELEASE_NONE] = "none",
};

DEFINE_STRING_TABLE_LOOKUP(audio_release, AudioRelease);

static int copy_string(const char *v, void *field, size_t size) {
        if (strlen(v) >= size)
                return -EINVAL;
        strcpy(field, v);
        return 0;
}

static void format_string(const void *field, FILE *f) {
        fputs(field, f);
}

static int parse_bool(const char *v, void *field, size_t size) {
        static const char *const words[] = { "no", "yes", "false", "true", "off", "on", "0", "1" };

        /* Even entries say no, odd ones yes. */
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcasecmp(v, words[i]) == 0) {
                        *(bool *) field = i % 2;
                        return 0;
                }
        return -EINVAL;
}

static void format_bool(const void *field, FILE *f) {
        fputs(*(const bool *) field ? "yes" : "no", f);
}

static int parse_seconds_value(const char *v, void *field, size_t size) {
        int r = parse_seconds(v, field);

        return r == -ERANGE ? -EINVAL : r;
}

static void format_seconds_value(const void *field, FILE *f) {
        char buf[SECONDS_STRING_MAX];

        fputs(format_seconds(*(const uint64_t *) field, buf), f);
}

/* Exactly DDDD:BB:SS.F as sysfs names devices, lower case; pci_address_parse() alone would
 * take "0:0:2.0" and other spellings no sysfs path has. */
static int parse_gpu_address(const char *v, void *field, size_t size) {
        const char *shape = "hhhh:hh:hh.h";
        char *out = field;
        PciAddress a;

        if (streq(v, "auto")) {
                out[0] = '\0';
                return 0;
        }
        if (strlen(v) != strlen(shape) || strlen(v) >= size)
                return -EINVAL;
        for (size_t i = 0; shape[i]; i++)
                if (shape[i] == 'h' ? !isxdigit((unsigned char) v[i]) : v[i] != shape[i])
                        return -EINVAL;
        if (pci_address_parse(v, &a) < 0)
                return -EINVAL;

        for (size_t i = 0; v[i]; i++)
                out[i] = (char) tolower((unsigned char) v[i]);
        out[strlen(v)] = '\0';
        return 0;
}

static void format_gpu_address(const void *field, FILE *f) {
        fputs(isempty(field) ? "auto" : field, f);
}

/* systemd's unit name rules for a service we can stop: NAME.service or NAME@INSTANCE.service,
 * no template. */
static int parse_service_unit(const char *v, void *field, size_t size) {
        const char *at = strchr(v, '@');
        size_t n = strlen(v), stem;

        if (n <= strlen(".service") || !streq(v + n - strlen(".service"), ".service"))
                return -EINVAL;
        stem = n - strlen(".service");
        if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") != n)
                return -EINVAL;
        if (at && (at == v || at == v + stem - 1 || strchr(at + 1, '@')))
                return -EINVAL;
        return copy_string(v, field, size);
}

/* A user or group name, [a-z_][a-z0-9_-]*; empty means unset. */
static int parse_name(const char *v, void *field, size_t size) {
        if (!isempty(v) && (!strchr("abcdefghijklmnopqrstuvwxyz_", v[0]) ||
                            strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(v)))
                return -EINVAL;
        return copy_string(v, field, size);
}

/* Not starting with ';': written back as "key = ;..." that would be a comment. */
static int parse_printable(const char *v, void *field, size_t size) {
        if (isempty(v) || v[0] == ';')
                return -EINVAL;
        for (const char *p = v; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        return -EINVAL;
        return copy_string(v, field, size);
}

/* A CPU list ("0-3,8"), stored the way cpu_set_format() writes it. */
static int parse_cpu_list(const char *v, void *field, size_t size) {
        _cleanup_free_ char *text = NULL;
        CpuSet c;
        int r;

        r = cpu_set_parse(v, &c);
        if (r < 0)
                return r;
        r = cpu_set_format(&c, &text);
        if (r < 0)
                return r;
        return copy_string(text, field, size);
}

/* A decimal count, 0 to 10^8 (no hugepage pool is bigger). */
static int parse_count(const char *v, void *field, size_t size) {
        unsigned long n = 0;

        if (isempty(v) || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
                return -EINVAL;
        for (const char *p = v; *p; p++)
                n = n * 10 + (unsigned long) (*p - '0');
        if (n > 100000000UL)
                return -EINVAL;
        *(unsigned *) field = (unsigned) n;
        return 0;
}

static void format_count(const void *field, FILE *f) {
        fprintf(f, "%u", *(const unsigned *) field);
}

/* A SCHED_FIFO priority, 1 to 99 as sched_get_priority_max(SCHED_FIFO) says on Linux; 0: off. */
static int parse_rt_priority(const char *v, void *field, size_t size) {
        int r = parse_count(v, field, size);

        return r < 0 || *(unsigned *) field > 99 ? -EINVAL : 0;
}

/* The size the kernel names its pools by, in kB: hugepages-2048kB, hugepages-1048576kB. */
static int parse_page_size(const char *v, void *field, size_t size) {
        int r = parse_count(v, field, size);

        return r < 0 || *(unsigned *) field < 8 ? -EINVAL : 0;
}

/* A cpufreq governor's name as sysfs lists it: performance, schedutil, ...; "": unset. */
static int parse_governor(const char *v, void *field, size_t size) {
        if (strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(v))
                return -EINVAL;
        return copy_string(v, field, size);
}

/* Where the user's stages go: after a built-in stage, or "begin". */
static int parse_stage_anchor(const char *v, void *field, size_t size) {
        if (!streq(v, "begin") && (!stage_find(v) || streq(v, "user-stages")))
                return -EINVAL;
        return copy_string(v, field, size);
}

static int parse_audio_release(const char *v, void *field, size_t size) {
        AudioRelease a = audio_release_from_string(v);

        if (a < 0)
                return -EINVAL;
        *(AudioRelease *) field = a;
        return 0;
}

static void format_audio_release(const void *field, FILE *f) {
        fputs(audio_release_to_string(*(const AudioRelease *) field), f);
}

/* One entry of [input] devices at *s: a by-id name, an absolute path, name:WORD or
 * name:"WORDS WITH BLANKS". Stored without quotes; *s moves past it. */
static int device_next(const char **s, char **ret) {
        const char *p = *s, *name = startswith(p, "name:"), *end;
        size_t n;

        if (name && name[0] == '"') {
                end = strchr(name + 1, '"');
                if (!end || end == name + 1 || (end[1] != '\0' && !strchr(WHITESPACE, end[1])))
                        return -EINVAL;
                *s = end + 1;
                return asprintf(ret, "name:%.*s", (int) (end - name - 1), name + 1) < 0 ? -ENOMEM : 0;
        }

        n = strcspn(p, WHITESPACE);
        /* ';' after a blank starts a comment, so no entry can start with it and be written back. */
        if (p[0] == ';' || memchr(p, '"', n) || (name && n == strlen("name:")))
                return -EINVAL;
        /* A by-id name is a bare file name; anything with a slash must be a whole path. */
        if (!name && p[0] != '/' && memchr(p, '/', n))
                return -EINVAL;
        *s = p + n;
        *ret = strndup(p, n);
        return *ret ? 0 : -ENOMEM;
}

static int parse_devices(const char *v, void *field, size_t size) {
        _cleanup_strv_free_ char **l = NULL;
        char ***devices = field;
        int r;

        /* No device is named with a control character, and the reader strips one at a
         * line's end (a '\r' there), so a name ending in it could not be written back. */
        for (const char *p = v; *p; p++)
                if ((*p > 0 && *p < 0x20 && *p != '\t') || *p == 0x7f)
                        return -EINVAL;

        for (const char *s = v + strspn(v, WHITESPACE); *s; s += strspn(s, WHITESPACE)) {
                char *d;

                r = device_next(&s, &d);
                if (r >= 0)
                        r = strv_consume(&l, d);
                if (r < 0)
                        return r;
        }

        strv_free(*devices);
        *devices = TAKE_PTR(l);
        return 0;
}

static void format_devices(const void *field, FILE *f) {
        char * const *devices = *(char * const * const *) field;
        const char *name;

        STRV_FOREACH(d, devices) {
                if (d != devices)
                        fputc(' ', f);
                name = startswith(*d, "name:");
                /* Quote only where needed, so that no dumped line is longer than the one read. */
                if (name && name[strcspn(name, WHITESPACE)] != '\0')
                        fprintf(f, "name:\"%s\"", name);
                else
                        fputs(*d, f);
        }
}

static bool hotkey_has(const Hotkey *h, unsigned code) {
        for (unsigned i = 0; i < h->n_keys; i++)
                if (h->keys[i] == code)
                        return true;
        return false;
}

/* Order does not matter in a chord: KEY_A+KEY_B is KEY_B+KEY_A. */
static bool hotkey_same(const Hotkey *a, const Hotkey *b) {
        if (a->n_keys != b->n_keys)
                return false;
        for (unsigned i = 0; i < a->n_keys; i++)
                if (!hotkey_has(b, a->keys[i]))
                        return false;
        return true;
}

/* A key of a keyboard: the router watches the keyboards it grabbed for the chord, so a mouse
 * button (BTN_LEFT), a joystick's or a code that is no key (KEY_MAX) could make the way back
 * from the guest unreachable. KEY_ESC..KEY_MICMUTE and KEY_OK..KEY_KBD_LCD_MENU5, without the
 * BTN_DPAD_* codes that sit among the latter. */
static bool code_is_keyboard_key(int code) {
        if (code >= KEY_ESC && code <= KEY_MICMUTE)
                return true;
        if (code >= BTN_DPAD_UP && code <= BTN_DPAD_RIGHT)
                return false;
        return code >= KEY_OK && code < BTN_TRIGGER_HAPPY;
}

static int parse_chord(const char *v, Hotkey *ret) {
        Hotkey h = {};

        for (const char *s = v;; s++) {
                size_t n = strcspn(s, "+");
                const char *next = s + n;
                int code;

                s += strspn(s, WHITESPACE);
                while (next > s && strchr(WHITESPACE, next[-1]))
                        next--;
                if (h.n_keys == HOTKEY_KEYS_MAX)
                        return -EINVAL;
                code = libevdev_event_code_from_name_n(EV_KEY, s, (size_t) (next - s));
                /* KEY_RESERVED (0) is never reported. */
                if (code <= 0 || !code_is_keyboard_key(code) || hotkey_has(&h, (unsigned) code))
                        return -EINVAL;
                h.keys[h.n_keys++] = (unsigned) code;

                s = next + strspn(next, WHITESPACE);
                if (*s == '\0')
                        break;
        }

        *ret = h;
        return 0;
}

static int parse_hotkey(const char *v, void *field, size_t size) {
        return parse_chord(v, field);
}

static int parse_hotkey_or_none(const char *v, void *field, size_t size) {
        if (isempty(v)) {
                *(Hotkey *) field = (Hotkey) {};
                return 0;
        }
        return parse_chord(v, field);
}

static void format_hotkey(const void *field, FILE *f) {
        const Hotkey *h = field;

        for (unsigned i = 0; i < h->n_keys; i++)
                fprintf(f, "%s%s", i > 0 ? "+" : "", libevdev_event_code_get_name(EV_KEY, h->keys[i]));
}

static const ValueType
        type_bool = { parse_bool, format_bool, "expected yes, no, true, false, on, off, 1 or 0" },
        type_seconds = { parse_seconds_value, format_seconds_value, "expected " SECONDS_EXPECTED },
        type_gpu_address = { parse_gpu_address, format_gpu_address,
                             "expected auto or a PCI address DDDD:BB:SS.F" },
        type_service_unit = { parse_service_unit, format_string,
                              "expected a unit name ending in .service" },
        type_audio_release = { parse_audio_release, format_audio_release,
                               "expected reserve, stop-units or none" },
        type_name = { parse_name, format_string,
                      "expected nothing or a name matching [a-z_][a-z0-9_-]*, at most 32 characters" },
        type_prefix = { parse_printable, format_string,
                        "expected 1 to 64 printable ASCII characters, the first not ';'" },
        type_devices = { parse_devices, format_devices,
                         "expected nothing, or by-id names, absolute paths and name:\"...\" "
                         "separated by blanks, no control characters" },
        type_hotkey = { parse_hotkey, format_hotkey,
                        "expected 1 to 4 distinct keyboard key names joined by '+', "
                        "e.g. KEY_LEFTCTRL+KEY_RIGHTCTRL" },
        type_hotkey_or_none = { parse_hotkey_or_none, format_hotkey,
                                "expected nothing (off) or 1 to 4 distinct keyboard key names joined by '+'" };

#define KEY(s, n, t, field) \
        { s, n, &t, offsetof(Config, field), sizeof(((Config *) NULL)->field) }

/* In the order config_dump() writes them, grouped by section. */
static const ValueType type_cpu_list = {
        parse_cpu_list, format_string, "expected a CPU list such as 0-3,8, or nothing" };
static const ValueType type_count = { parse_count, format_count, "expected a number from 0 to 100000000" };
static const ValueType type_page_size = {
        parse_page_size, format_count, "expected a page size in kB as the kernel names its pools, e.g. 2048" };
static const ValueType type_governor = {
        parse_governor, format_string, "expected a cpufreq governor's name such as performance, or nothing" };

static const ValueType type_rt_priority = {
        parse_rt_priority, format_count, "expected 0 (off) or a real-time priority from 1 to 99" };

static const ValueType type_stage_anchor = {
        parse_stage_anchor, format_string, "expected begin or the name of a stage baton has, e.g. vfio" };

static const ConfigKey keys[] = {
        KEY("gpu", "address", type_gpu_address, gpu_address),
        KEY("gpu", "allow-foreign-devices", type_bool, allow_foreign_devices),
        KEY("display-manager", "unit", type_service_unit, display_manager_unit),
        KEY("display-manager", "console-progress", type_bool, console_progress),
        KEY("deadlines", "holders", type_seconds, deadline_usec[DEADLINE_HOLDERS]),
        KEY("deadlines", "unbind", type_seconds, deadline_usec[DEADLINE_UNBIND]),
        KEY("deadlines", "probe", type_seconds, deadline_usec[DEADLINE_PROBE]),
        KEY("deadlines", "module", type_seconds, deadline_usec[DEADLINE_MODULE]),
        KEY("deadlines", "unit", type_seconds, deadline_usec[DEADLINE_UNIT]),
        KEY("deadlines", "tuning", type_seconds, deadline_usec[DEADLINE_TUNING]),
        KEY("deadlines", "stage", type_seconds, deadline_usec[DEADLINE_STAGE]),
        KEY("audio", "release", type_audio_release, audio_release),
        KEY("audio", "user", type_name, audio_user),
        KEY("session", "logout", type_bool, session_logout),
        KEY("session", "user", type_name, session_user),
        KEY("session", "save", type_bool, session_save),
        KEY("session", "force-logout", type_bool, force_logout),
        KEY("session", "logout-timeout", type_seconds, logout_timeout_usec),
        KEY("input", "devices", type_devices, input_devices),
        KEY("input", "hotkey", type_hotkey, hotkey),
        KEY("input", "recover-hotkey", type_hotkey_or_none, recover_hotkey),
        KEY("input", "guest-name-prefix", type_prefix, guest_name_prefix),
        KEY("input", "realtime-priority", type_rt_priority, input_realtime_priority),
        KEY("daemon", "admin-group", type_name, admin_group),
        KEY("tuning", "host-cpus", type_cpu_list, tuning_host_cpus),
        KEY("tuning", "hugepages", type_count, tuning_hugepages),
        KEY("tuning", "hugepage-size", type_page_size, tuning_hugepage_size_kb),
        KEY("tuning", "hugepages-partial", type_bool, tuning_hugepages_partial),
        KEY("tuning", "governor", type_governor, tuning_governor),
        KEY("tuning", "governor-cpus", type_cpu_list, tuning_governor_cpus),
        KEY("stages", "after", type_stage_anchor, stages_after),
};

static const ConfigKey *key_find(const char *section, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].section, section) && streq(keys[i].name, name))
                        return &keys[i];
        return NULL;
}

static bool section_known(const char *section, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (strlen(keys[i].section) == n && strncmp(keys[i].section, section, n) == 0)
                        return true;
        return false;
}

void config_init(Config *c) {
        *c = (Config) {
                .display_manager_unit = "display-manager.service",
                .console_progress = true,
                .audio_release = AUDIO_RELEASE_RESERVE,
                .session_logout = true,
                .session_save = true,
                .logout_timeout_usec = 60 * USEC_PER_SEC,
                .hotkey = { 2, { KEY_LEFTCTRL, KEY_RIGHTCTRL } },
                .guest_name_prefix = "baton",
                .input_realtime_priority = 15,
                .tuning_hugepage_size_kb = 2048,
                .stages_after = "vfio",
        };
        for (DeadlineKind k = 0; k < _DEADLINE_MAX; k++)
                c->deadline_usec[k] = deadline_default_usec(k);
}

void config_done(Config *c) {
        c->input_devices = strv_free(c->input_devices);
}

void config_override_deadlines(Config *c, const uint64_t deadline_usec[_DEADLINE_MAX]) {
        for (DeadlineKind k = 0; k < _DEADLINE_MAX; k++)
                if (deadline_usec[k] > 0)
                        c->deadline_usec[k] = deadline_usec[k];
}

/* The value of key k in c as baton.conf writes it. */
static int format_value(const ConfigKey *k, const Config *c, char **ret) {
        char *v = NULL;
        size_t n = 0;
        FILE *m;

        m = open_memstream(&v, &n);
        if (!m)
                return -ENOMEM;
        k->type->format((const char *) c + k->offset, m);
        if (fclose(m) != 0) {
                free(v);
                return -ENOMEM;
        }
        *ret = v;
        return 0;
}

int config_dump(const Config *c, FILE *f) {
        const char *section = NULL;
        int r;

        for (const ConfigKey *k = keys; k < keys + ELEMENTSOF(keys); k++) {
                _cleanup_free_ char *v = NULL;

                r = format_value(k, c, &v);
                if (r < 0)
                        return r;

                if (!streq_ptr(section, k->section))
                        fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
                section = k->section;
                /* inih reads at most INI_MAX_LINE - 1 characters a line; drop the blanks of
                 * "key = value" rather than write a line it cannot read back. */
                if (isempty(v))
                        fprintf(f, "%s =\n", k->name);
                else if (strlen(k->name) + strlen(" = ") + strlen(v) < INI_MAX_LINE)
                        fprintf(f, "%s = %s\n", k->name, v);
                else
                        fprintf(f, "%s=%s\n", k->name, v);
        }
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

int config_dump_public(const Config *c, FILE *f) {
        Config pub = *c;        /* input_devices is shared, read only */
        static const char hidden[] = "(not shown)";

        if (!isempty(pub.session_user))
                strcpy(pub.session_user, hidden);
        if (!isempty(pub.audio_user))
                strcpy(pub.audio_user, hidden);
        if (!isempty(pub.admin_group))
                strcpy(pub.admin_group, hidden);
        return config_dump(&pub, f);
}

/* Where a key was set during one load: a file (an index into Parser.files, from 1; 0 when
 * never set) and a line. */
typedef struct Where {
        unsigned file;
        unsigned line;
} Where;

typedef struct Parser {
        Config config;
        char **files;           /* names of the files read so far, for messages */
        const char *text;       /* what is left of the current file */
        unsigned line;          /* the line inih is working on */
        int error;              /* the first error: 0, -EINVAL or -ENOMEM */
        unsigned error_line;
        char *message;          /* what is wrong there */
        Where set[ELEMENTSOF(keys)];
} Parser;

static void parser_done(Parser *p) {
        config_done(&p->config);
        strv_free(p->files);
        free(p->message);
}

static int parser_fail(Parser *p, int error, const char *format, ...) _printf_(3, 4);
static int parser_fail(Parser *p, int error, const char *format, ...) {
        va_list ap;

        /* The reader stops at the first error, so there is no second one; should inih still
         * call us, the first one stands. */
        if (p->error != 0)
                return 0;
        p->error = error;
        p->error_line = p->line;
        va_start(ap, format);
        if (vasprintf(&p->message, format, ap) < 0) {
                p->message = NULL;
                p->error = -ENOMEM;
        }
        va_end(ap);
        return 0;
}

/* inih only calls the handler for keys (Debian builds it without
 * INI_CALL_HANDLER_ON_NEW_SECTION), so section headers are checked as lines are read: the
 * error then names the header's line, and an empty unknown section is caught too. */
static void check_section(Parser *p, const char *line) {
        const char *end = strchr(line, ']'), *rest;
        int n;

        /* Without ']' it is inih's syntax error. */
        if (line[0] != '[' || !end)
                return;
        n = (int) (end - line - 1);
        if (!section_known(line + 1, (size_t) n)) {
                (void) parser_fail(p, -EINVAL, "unknown section [%.*s]", n, line + 1);
                return;
        }
        rest = end + 1 + strspn(end + 1, WHITESPACE);
        if (*rest != '\0' && *rest != ';')
                (void) parser_fail(p, -EINVAL, "unexpected text after [%.*s]", n, line + 1);
}

/* inih's fgets()-like reader, one line a call, which is what lets us count lines: Debian's
 * inih is built without INI_HANDLER_LINENO. Leading blanks are dropped here so that inih
 * never takes an indented line for the continuation of the previous value (its multi-line
 * mode is on and cannot be turned off portably): indented keys are plain keys, and a
 * continuation line is a syntax error. A line that does not fit inih's buffer is an error
 * rather than being split in two. */
static char *read_line(char *buf, int size, void *userdata) {
        Parser *p = userdata;
        const char *s = p->text, *eol;
        size_t n;

        if (p->error != 0 || *s == '\0')
                return NULL;
        eol = strchrnul(s, '\n');
        p->text = *eol ? eol + 1 : eol;
        p->line++;

        if (p->line == 1 && startswith(s, "\xef\xbb\xbf"))
                s += 3;         /* a UTF-8 byte order mark */
        s += strspn(s, WHITESPACE);
        n = (size_t) (eol - s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;
        if (n >= (size_t) size) {
                (void) parser_fail(p, -EINVAL, "line too long (more than %i characters)", size - 1);
                return NULL;
        }
        memcpy(buf, s, n);
        buf[n] = '\0';

        check_section(p, buf);
        return p->error == 0 ? buf : NULL;
}

static int handle_key(void *userdata, const char *section, const char *name, const char *value) {
        Parser *p = userdata;
        const ConfigKey *k;
        Where *w;
        int r;

        if (isempty(section))
                return parser_fail(p, -EINVAL, "key '%s' before any section", name);
        k = key_find(section, name);
        if (!k)
                return parser_fail(p, -EINVAL, "unknown key '%s' in section [%s]", name, section);
        w = &p->set[k - keys];
        if (w->file == strv_length(p->files))
                return parser_fail(p, -EINVAL, "duplicate key '%s' in [%s], first set on line %u",
                                   name, section, w->line);

        r = k->type->parse(value, (char *) &p->config + k->offset, k->size);
        if (r == -ENOMEM)
                return parser_fail(p, r, "out of memory");
        if (r < 0)
                return parser_fail(p, -EINVAL, "invalid value '%s' for '%s' in [%s]: %s",
                                   value, name, section, k->type->expected);

        *w = (Where) { strv_length(p->files), p->line };
        return 1;
}

/* Parses one file's text over p->config, logging the first error. */
static int parse_text(Parser *p, const char *name, const char *text) {
        int r;

        r = strv_extend(&p->files, name);
        if (r < 0)
                return log_error_errno(r, "Failed to parse %s: %m", name);
        p->text = text;
        p->line = 0;

        r = ini_parse_stream(read_line, p, handle_key, p);
        /* inih reports the first line it could not parse; that may come before ours. */
        if (r > 0 && (p->error == 0 || (unsigned) r < p->error_line))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "%s:%i: syntax error: expected '[section]', 'key = value' or a comment",
                                       name, r);
        if (p->error == -ENOMEM || r == -2)
                return log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Failed to parse %s: %m", name);
        if (p->error < 0)
                return log_error_errno(p->error, "%s:%u: %s", name, p->error_line, p->message);
        return 0;
}

/* The keys are checked one at a time; this is what only the final values can tell. Named
 * is whichever of the two was set last. */
static int parser_check(Parser *p) {
        const ConfigKey *hotkey = key_find("input", "hotkey"), *recover = key_find("input", "recover-hotkey");
        const Where *h = &p->set[hotkey - keys], *rh = &p->set[recover - keys], *w;
        _cleanup_free_ char *keys_text = NULL;
        int r;

        if (!hotkey_same(&p->config.hotkey, &p->config.recover_hotkey))
                return 0;

        w = h->file > rh->file || (h->file == rh->file && h->line > rh->line) ? h : rh;
        if (w->file == 0)
                return 0;       /* the defaults differ; only a changed default could get here */
        r = format_value(hotkey, &p->config, &keys_text);
        if (r < 0)
                return log_error_errno(r, "Failed to check the configuration: %m");
        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                               "%s:%u: 'hotkey' and 'recover-hotkey' in [input] are the same keys, %s",
                               p->files[w->file - 1], w->line, keys_text);
}

static int parser_finish(Parser *p, Config *ret) {
        int r;

        r = parser_check(p);
        if (r < 0)
                return r;
        *ret = TAKE_STRUCT(p->config);
        return 0;
}

int config_load_string(const char *text, const char *name, Config *ret) {
        _cleanup_(parser_done) Parser p = {};
        int r;

        config_init(&p.config);
        r = parse_text(&p, name, text);
        if (r < 0)
                return r;
        return parser_finish(&p, ret);
}

/* Reads dir + path when it is a regular file (or a link to one): a missing one, or one
 * masked by a link to /dev/null, is no error and adds nothing. */
static int load_file(Parser *p, const char *dir, const char *path) {
        _cleanup_free_ char *name = NULL, *text = NULL;
        struct stat st;
        size_t size;
        int r;

        r = root_path(dir, path, &name);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        if (stat(name, &st) < 0)
                return errno == ENOENT ? 0 : log_error_errno(errno, "Failed to read %s: %m", name);
        if (!S_ISREG(st.st_mode)) {
                log_debug("Not reading %s: not a regular file (masked).", name);
                return 0;
        }
        log_debug("Reading the configuration from %s.", name);
        r = read_full_file(dir, path, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", name);

        if (strlen(text) != size) {
                unsigned line = 1;

                for (const char *s = text; (s = strchr(s, '\n')); s++)
                        line++;
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s:%u: NUL byte in the text", name, line);
        }
        return parse_text(p, name, text);
}

static bool is_dropin(const char *name) {
        size_t n = strlen(name);

        return name[0] != '.' && n > strlen(".conf") && streq(name + n - strlen(".conf"), ".conf");
}

int config_load(const char *dir, Config *ret) {
        _cleanup_(parser_done) Parser p = {};
        _cleanup_strv_free_ char **dropins = NULL;
        _cleanup_free_ char *dropin_dir = NULL;
        int r;

        config_init(&p.config);
        r = load_file(&p, dir, "/baton.conf");
        if (r < 0)
                return r;

        /* sysfs_list_dir() sorts with strcmp(): "100-x.conf" comes before "20-y.conf". */
        r = sysfs_list_dir(dir, "/baton.conf.d", NULL, &dropins);
        if (r < 0 && r != -ENOENT) {
                (void) root_path(dir, "/baton.conf.d", &dropin_dir);
                return log_error_errno(r, "Failed to list %s: %m", strna(dropin_dir));
        }
        STRV_FOREACH(d, dropins) {
                _cleanup_free_ char *path = NULL;

                if (!is_dropin(*d))
                        continue;
                if (asprintf(&path, "/baton.conf.d/%s", *d) < 0)
                        return log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Failed to read %s: %m", *d);
                r = load_file(&p, dir, path);
                if (r < 0)
                        return r;
        }

        /* For the user's stages in DIR/stages.d: a longer name only loses those. */
        if (dir && strlen(dir) < sizeof(p.config.dir))
                strcpy(p.config.dir, dir);
        return parser_finish(&p, ret);
}

void config_apply_environment(Config *c) {
        const char *e = getenv(CONFIG_DISPLAY_MANAGER_ENV);

        /* A longer name is no unit systemd has: the stage says so when it looks it up. */
        if (!isempty(e))
                (void) snprintf(c->display_manager_unit, sizeof(c->display_manager_unit), "%s", e);
        e = getenv(CONFIG_ALLOW_FOREIGN_ENV);
        if (e && streq(e, "1"))
                c->allow_foreign_devices = true;
}

static const Config *config_current = NULL;

const Config *config_get(void) {
        static Config defaults;
        static bool initialized = false;

        if (config_current)
                return config_current;
        if (!initialized) {
                config_init(&defaults);
                initialized = true;
        }
        return &defaults;
}

void config_set(const Config *c) {
        config_current = c;
}
