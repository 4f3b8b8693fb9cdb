/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drm-clients.h"
#include "escape.h"
#include "macro.h"
#include "parse-util.h"
#include "sysfs-util.h"

/* Columns right of the command: pid dev master a uid magic. */
#define N_FIXED_COLUMNS 6
#define MAX_TOKENS 32

typedef struct Token {
        const char *start;
        size_t len;
} Token;

static size_t tokenize(const char *line, Token *t, size_t max) {
        size_t n = 0;

        for (const char *p = line; *p && n < max;) {
                size_t l;

                p += strspn(p, " \t");
                l = strcspn(p, " \t");
                if (l == 0)
                        break;
                t[n++] = (Token) { .start = p, .len = l };
                p += l;
        }
        return n;
}

static bool token_is(const Token *t, const char *s) {
        return t->len == strlen(s) && strncmp(t->start, s, t->len) == 0;
}

/* Returns the number of trailing columns after "magic" (0 or 1 for "name"), or -EBADMSG. */
static int parse_header(const char *line) {
        Token t[MAX_TOKENS];
        size_t n = tokenize(line, t, MAX_TOKENS);

        if (n < 7 || !token_is(&t[0], "command") ||
            !(token_is(&t[1], "pid") || token_is(&t[1], "tgid")) ||
            !token_is(&t[2], "dev") || !token_is(&t[3], "master") || !token_is(&t[4], "a") ||
            !token_is(&t[5], "uid") || !token_is(&t[6], "magic"))
                return -EBADMSG;
        return (int) n - 7;
}

static int token_unsigned(const Token *t, unsigned *ret) {
        char buf[24];

        if (t->len >= sizeof(buf))
                return -EBADMSG;
        memcpy(buf, t->start, t->len);
        buf[t->len] = '\0';
        return safe_atou(buf, 10, ret) < 0 ? -EBADMSG : 0;
}

static int token_flag(const Token *t, bool *ret) {
        if (t->len != 1 || (t->start[0] != 'y' && t->start[0] != 'n'))
                return -EBADMSG;
        *ret = t->start[0] == 'y';
        return 0;
}

static int parse_row(const char *line, int n_trailing, DrmClient *ret) {
        Token t[MAX_TOKENS];
        size_t n = tokenize(line, t, MAX_TOKENS);
        unsigned pid;
        DrmClient c = {};
        Token *f;

        if (n < (size_t) (1 + N_FIXED_COLUMNS + n_trailing))
                return -EBADMSG;
        f = &t[n - n_trailing - N_FIXED_COLUMNS];
        if (token_unsigned(&f[0], &pid) < 0 || token_unsigned(&f[1], &c.minor) < 0 ||
            token_flag(&f[2], &c.master) < 0 || token_flag(&f[3], &c.authenticated) < 0 ||
            token_unsigned(&f[4], &c.uid) < 0 || token_unsigned(&f[5], &c.magic) < 0)
                return -EBADMSG;

        /* Everything from the first word to the end of the word before the pid is the comm. */
        _cleanup_free_ char *command = strndup(t[0].start, (size_t) (f[-1].start + f[-1].len - t[0].start));
        /* The task names itself: escaped (common/escape.h) wherever it is printed. */
        if (!command || escape_text(command, &c.command) < 0)
                return -ENOMEM;
        c.pid = (pid_t) pid;
        *ret = c;
        return 0;
}

void drm_clients_free(DrmClient *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(c[i].command);
        free(c);
}

int drm_clients_parse(const char *text, DrmClient **ret, size_t *ret_n) {
        _cleanup_free_ char *copy = strdup(text);
        DrmClient *list = NULL, *slot;
        char *line, *save = NULL;
        int n_trailing = -1, r = 0;
        size_t n = 0;

        if (!copy)
                return -ENOMEM;

        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (line[strspn(line, " \t")] == '\0')
                        continue;
                if (n_trailing < 0) {
                        n_trailing = r = parse_header(line);
                        if (r < 0)
                                break;
                        continue;
                }
                slot = array_append(&list, &n, sizeof(*list));
                if (!slot) {
                        r = -ENOMEM;
                        break;
                }
                r = parse_row(line, n_trailing, slot);
                if (r < 0)
                        break;
        }
        if (r >= 0 && n_trailing < 0)
                r = -EBADMSG;   /* an empty file: not the clients file we know */
        if (r < 0) {
                drm_clients_free(list, n);
                return r;
        }

        *ret = list;
        *ret_n = n;
        return 0;
}

const DrmClient *drm_clients_find_master(const DrmClient *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (c[i].master)
                        return &c[i];
        return NULL;
}

int drm_clients_read(const char *root, unsigned card_minor, const char *pci_address,
                     DrmClient **ret, size_t *ret_n) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        int r;

        if (asprintf(&p, "/sys/kernel/debug/dri/%u/clients", card_minor) < 0)
                return -ENOMEM;
        r = read_full_file(root, p, &text, NULL);
        if (r == -ENOENT && pci_address) {
                free(p);
                if (asprintf(&p, "/sys/kernel/debug/dri/%s/clients", pci_address) < 0)
                        return -ENOMEM;
                r = read_full_file(root, p, &text, NULL);
        }
        if (r < 0)
                return r;

        return drm_clients_parse(text, ret, ret_n);
}
