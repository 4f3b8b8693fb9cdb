/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "desktop.h"
#include "escape.h"
#include "notice.h"
#include "sysfs-util.h"

int notice_format_duration(uint64_t usec, char *buf, size_t size) {
        uint64_t s = usec / 1000000;
        int n;

        if (s >= 3600)
                n = snprintf(buf, size, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s % 3600 / 60);
        else if (s >= 60)
                n = snprintf(buf, size, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
        else
                n = snprintf(buf, size, "%" PRIu64 " s", s);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

static int format_returned(const char *vm, const NoticeFacts *f, char **ret_summary, char **ret_body) {
        char ran[48];
        int r;

        if (asprintf(ret_summary, "The GPU is back from %s", isempty(vm) ? "the guest" : vm) < 0)
                return -ENOMEM;
        if (f->guest_usec == 0)
                return asprintf(ret_body, "The return took %.1f s.", f->return_usec / 1e6) < 0 ? -ENOMEM : 0;
        r = notice_format_duration(f->guest_usec, ran, sizeof(ran));
        if (r < 0)
                return r;
        return asprintf(ret_body, "%s ran for %s. The return took %.1f s.", isempty(vm) ? "The guest" : vm, ran,
                        f->return_usec / 1e6) < 0 ? -ENOMEM : 0;
}

int notice_format(const NoticeFacts *f, char **ret_summary, char **ret_body) {
        _cleanup_free_ char *vm = NULL, *reason = NULL, *summary = NULL, *body = NULL;
        int r = 0;

        if (escape_text(strempty(f->vm), &vm) < 0 || escape_text(strempty(f->reason), &reason) < 0)
                return -ENOMEM;
        switch (f->kind) {
        case NOTICE_HANDOVER_FAILED:
                if (asprintf(&summary, "The GPU was not handed over%s%s", isempty(vm) ? "" : " to ", vm) < 0 ||
                    asprintf(&body, "%s. %s", isempty(reason) ? "The handover failed" : reason,
                             f->rollback_incomplete ? "The desktop is not fully back: run 'baton recover'." :
                                                      "The desktop was given back.") < 0)
                        r = -ENOMEM;
                break;
        case NOTICE_RETURNED:
                r = format_returned(vm, f, &summary, &body);
                break;
        case NOTICE_RETURN_FAILED:
                if (asprintf(&summary, "The GPU's return from %s failed", isempty(vm) ? "the guest" : vm) < 0 ||
                    asprintf(&body, "%s. Run 'baton recover'.", isempty(reason) ? "The return failed" : reason) < 0)
                        r = -ENOMEM;
                break;
        default:
                r = -EINVAL;
        }
        if (r < 0)
                return r;
        *ret_summary = TAKE_PTR(summary);
        *ret_body = TAKE_PTR(body);
        return 0;
}

int notice_file_text(const char *summary, const char *body, char **ret) {
        if (isempty(summary) || text_has_control(summary) || text_has_control(body))
                return -EINVAL;
        if (asprintf(ret, NOTICE_HEADER "\nsummary %s\nbody %s\n", summary, body) < 0)
                return -ENOMEM;
        return strlen(*ret) > NOTICE_FILE_MAX ? (*ret = mfree(*ret), -EFBIG) : 0;
}

/* The next line of *p (its newline required) with prefix, as a new string. */
static int take_line(const char **p, const char *end, const char *prefix, char **ret) {
        const char *nl = memchr(*p, '\n', end - *p), *v;
        _cleanup_free_ char *line = NULL;

        if (!nl)
                return -EBADMSG;
        line = strndup(*p, nl - *p);
        if (!line)
                return -ENOMEM;
        v = startswith(line, prefix);
        if (!v || text_has_control(v))
                return -EBADMSG;
        *ret = strdup(v);
        if (!*ret)
                return -ENOMEM;
        *p = nl + 1;
        return 0;
}

int notice_parse(const char *text, size_t size, char **ret_summary, char **ret_body) {
        _cleanup_free_ char *header = NULL, *summary = NULL, *body = NULL;
        const char *p = text, *end = text + size;
        int r;

        /* A NUL inside would end the strings early: what follows it would go unchecked. */
        if (strlen(text) != size)
                return -EBADMSG;
        r = take_line(&p, end, "", &header);
        if (r >= 0 && !streq(header, NOTICE_HEADER))
                r = -EBADMSG;
        if (r >= 0)
                r = take_line(&p, end, "summary ", &summary);
        if (r >= 0)
                r = take_line(&p, end, "body ", &body);
        if (r >= 0 && (p != end || isempty(summary)))
                r = -EBADMSG;
        if (r < 0)
                return r;
        *ret_summary = TAKE_PTR(summary);
        *ret_body = TAKE_PTR(body);
        return 0;
}

int notice_read(const char *path, char **ret_summary, char **ret_body) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_regular_file(path, NOTICE_FILE_MAX, &text, &size);
        if (r < 0)
                return r;
        return notice_parse(text, size, ret_summary, ret_body);
}

int notice_paths(const char *home, char **ret_file, char **ret_autostart) {
        _cleanup_free_ char *file = NULL, *autostart = NULL;

        if (asprintf(&file, "%s/.local/state/baton/notice", home) < 0 ||
            asprintf(&autostart, "%s/.config/autostart/" NOTICE_AUTOSTART_NAME, home) < 0)
                return -ENOMEM;
        *ret_file = TAKE_PTR(file);
        *ret_autostart = TAKE_PTR(autostart);
        return 0;
}

int notice_claim(const char *file, char **ret_claimed) {
        _cleanup_free_ char *claimed = NULL;

        if (asprintf(&claimed, "%s.sending", file) < 0)
                return -ENOMEM;
        if (rename(file, claimed) < 0)
                return -errno;
        *ret_claimed = TAKE_PTR(claimed);
        return 0;
}

int notice_unclaim(const char *claimed, const char *file) {
        if (renameat2(AT_FDCWD, claimed, AT_FDCWD, file, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        return unlink(claimed) < 0 ? -errno : 0;       /* a newer notice is there */
}

int notice_autostart_entry(const char *binary, char **ret) {
        /* Quoted for Exec: refuse what would need escaping inside the quotes (the spec's \" \` \$ \\). */
        if (isempty(binary) || binary[0] != '/' || strpbrk(binary, "\"`$\\\n%") || text_has_control(binary))
                return -EINVAL;
        return asprintf(ret,
                        "[Desktop Entry]\n"
                        "Type=Application\n"
                        "Name=Tell what happened while the guest had the GPU (baton)\n"
                        "NoDisplay=true\n"
                        "X-GNOME-Autostart-Phase=Applications\n"
                        "Exec=\"%s\" notify\n", binary) < 0 ? -ENOMEM : 0;
}

typedef struct NoticeWrite {
        const UserIdentity *user;
        char *text, *entry;
} NoticeWrite;

static void notice_write_done(NoticeWrite *w) {
        w->text = mfree(w->text);
        w->entry = mfree(w->entry);
}

static int notice_write_prepare(const UserIdentity *u, const char *binary, const char *summary, const char *body,
                                NoticeWrite *ret) {
        _cleanup_free_ char *text = NULL, *entry = NULL;
        int r;

        if (u->uid == 0)
                return -EPERM;
        r = notice_file_text(summary, body, &text);
        if (r >= 0)
                r = notice_autostart_entry(binary, &entry);
        if (r < 0)
                return r;
        *ret = (NoticeWrite) { .user = u, .text = TAKE_PTR(text), .entry = TAKE_PTR(entry) };
        return 0;
}

/* In the child, as the user. */
static int write_files(const NoticeWrite *w) {
        _cleanup_free_ char *file = NULL, *autostart = NULL;
        int r;

        r = notice_paths(w->user->home, &file, &autostart);
        if (r >= 0)
                r = desktop_write_file(file, w->text, 0600);
        if (r >= 0)
                r = desktop_write_file(autostart, w->entry, 0644);
        return r;
}

static int write_child(int out_fd, void *userdata) {
        return write_files(userdata);
}

int notice_write(const UserIdentity *u, const char *binary, const char *summary, const char *body) {
        _cleanup_(notice_write_done) NoticeWrite w = {};
        int r;

        r = notice_write_prepare(u, binary, summary, body, &w);
        if (r < 0)
                return r;
        return user_run_child(u, NOTICE_WRITE_TIMEOUT_USEC, write_child, &w, 0, NULL, NULL);
}

int notice_write_async(const UserIdentity *u, sd_event *e, const char *binary, const char *summary,
                       const char *body, child_run_done_t done, void *userdata, ChildRun **ret) {
        _cleanup_(notice_write_done) NoticeWrite w = {};
        int r;

        r = notice_write_prepare(u, binary, summary, body, &w);
        if (r < 0)
                return r;
        /* The fork happens in the call: w on the stack is what the child sees. */
        return user_child_async(u, e, NOTICE_WRITE_TIMEOUT_USEC, write_child, &w, 0, done, userdata, ret);
}
