/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session/notice.c: the text of the word left for the desktop user's next login, the file
 * that carries it (bad ones are refused: too large, malformed, not a regular file), and its
 * writer, which runs as the user in a forked child (as root the user is nobody). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notice.h"
#include "sysfs-util.h"
#include "tests.h"

static void check_format(const NoticeFacts *f, const char *summary, const char *body) {
        _cleanup_free_ char *s = NULL, *b = NULL;

        ASSERT_OK(notice_format(f, &s, &b));
        ASSERT_STREQ(s, summary);
        ASSERT_STREQ(b, body);
}

static void test_format(void) {
        char buf[48];

        check_format(&(NoticeFacts) { .kind = NOTICE_RETURNED, .vm = "win11", .guest_usec = 3723 * 1000000ULL,
                                      .return_usec = 12345678 },
                     "The GPU is back from win11", "win11 ran for 1 h 2 min. The return took 12.3 s.");
        check_format(&(NoticeFacts) { .kind = NOTICE_RETURNED, .vm = "win11", .guest_usec = 125 * 1000000ULL,
                                      .return_usec = 900000 },
                     "The GPU is back from win11", "win11 ran for 2 min 5 s. The return took 0.9 s.");
        /* No VM named, guest time unknown (no journal of a completed handover). */
        check_format(&(NoticeFacts) { .kind = NOTICE_RETURNED, .return_usec = 2000000 },
                     "The GPU is back from the guest", "The return took 2.0 s.");
        check_format(&(NoticeFacts) { .kind = NOTICE_HANDOVER_FAILED, .vm = "win11",
                                      .reason = "vfio: Failed to bind 0000:01:00.0 to vfio-pci: Device busy" },
                     "The GPU was not handed over to win11",
                     "vfio: Failed to bind 0000:01:00.0 to vfio-pci: Device busy. The desktop was given back.");
        check_format(&(NoticeFacts) { .kind = NOTICE_HANDOVER_FAILED, .reason = "drm-idle: timed out",
                                      .rollback_incomplete = true },
                     "The GPU was not handed over",
                     "drm-idle: timed out. The desktop is not fully back: run 'baton recover'.");
        check_format(&(NoticeFacts) { .kind = NOTICE_RETURN_FAILED, .vm = "win11", .reason = "vfio: stuck" },
                     "The GPU's return from win11 failed", "vfio: stuck. Run 'baton recover'.");
        /* A VM name and a reason from elsewhere stay one line without escape codes. */
        check_format(&(NoticeFacts) { .kind = NOTICE_HANDOVER_FAILED, .vm = "a\nb\x1b[2J",
                                      .reason = "x\ny" },
                     "The GPU was not handed over to a\\x0ab\\x1b[2J", "x\\x0ay. The desktop was given back.");

        ASSERT_OK(notice_format_duration(59 * 1000000ULL, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "59 s");
        ASSERT_OK(notice_format_duration(7200 * 1000000ULL, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "2 h 0 min");
}

static void parse_fails(const char *text, int expected) {
        _cleanup_free_ char *s = NULL, *b = NULL;

        ASSERT_EQ(notice_parse(text, strlen(text), &s, &b), expected);
        ASSERT_NULL(s);
        ASSERT_NULL(b);
}

static void test_file_text(void) {
        _cleanup_free_ char *text = NULL, *s = NULL, *b = NULL, *big = NULL;

        ASSERT_OK(notice_file_text("The GPU is back from win11", "win11 ran for 5 s.", &text));
        ASSERT_STREQ(text, "baton-notice 1\nsummary The GPU is back from win11\nbody win11 ran for 5 s.\n");
        ASSERT_OK(notice_parse(text, strlen(text), &s, &b));
        ASSERT_STREQ(s, "The GPU is back from win11");
        ASSERT_STREQ(b, "win11 ran for 5 s.");

        ASSERT_EQ(notice_file_text("a\nb", "c", &big), -EINVAL);
        ASSERT_EQ(notice_file_text("a", "c\x1b", &big), -EINVAL);
        ASSERT_EQ(notice_file_text("", "c", &big), -EINVAL);
        big = malloc(NOTICE_FILE_MAX + 1);
        ASSERT_TRUE(big);
        memset(big, 'x', NOTICE_FILE_MAX);
        big[NOTICE_FILE_MAX] = '\0';
        {
                char *t = NULL;

                ASSERT_EQ(notice_file_text("a", big, &t), -EFBIG);
                ASSERT_NULL(t);
        }

        parse_fails("", -EBADMSG);
        parse_fails("baton-notice 2\nsummary a\nbody b\n", -EBADMSG);
        parse_fails("baton-notice 1\nsummary a\nbody b", -EBADMSG);         /* no final newline */
        parse_fails("baton-notice 1\nbody b\nsummary a\n", -EBADMSG);       /* order */
        parse_fails("baton-notice 1\nsummary a\nbody b\nbody c\n", -EBADMSG);
        parse_fails("baton-notice 1\nsummary \nbody b\n", -EBADMSG);        /* empty summary */
        parse_fails("baton-notice 1\nsummary a\x1b[2J\nbody b\n", -EBADMSG);
        parse_fails("baton-notice 1\nsummary a\nbody b\xff\n", -EBADMSG);   /* not UTF-8 */
        parse_fails("baton-notice 1\r\nsummary a\nbody b\n", -EBADMSG);
        {
                static const char nul[] = "baton-notice 1\nsummary a\nbody b\n\0x\n";
                char *s2 = NULL, *b2 = NULL;

                ASSERT_EQ(notice_parse(nul, sizeof(nul) - 1, &s2, &b2), -EBADMSG);
        }
}

static void test_autostart_entry(void) {
        _cleanup_free_ char *e = NULL;
        char *bad = NULL;

        ASSERT_OK(notice_autostart_entry("/usr/bin/baton", &e));
        ASSERT_TRUE(strstr(e, "\nExec=\"/usr/bin/baton\" notify\n"));
        ASSERT_TRUE(strstr(e, "\nNoDisplay=true\n"));
        ASSERT_EQ(notice_autostart_entry("baton", &bad), -EINVAL);
        ASSERT_EQ(notice_autostart_entry("/opt/a\"b/baton", &bad), -EINVAL);
        ASSERT_EQ(notice_autostart_entry("/opt/$HOME/baton", &bad), -EINVAL);
        ASSERT_EQ(notice_autostart_entry("/opt/a%b", &bad), -EINVAL);
        ASSERT_NULL(bad);
}

static void write_text(const char *path, const char *text, size_t n) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, n), (ssize_t) n);
}

static void test_read(void) {
        char dir[] = "/tmp/test-notice.XXXXXX", path[128];
        _cleanup_free_ char *s = NULL, *b = NULL, *big = NULL;
        char *s2 = NULL, *b2 = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/notice", dir);
        ASSERT_EQ(notice_read(path, &s2, &b2), -ENOENT);

        write_text(path, "baton-notice 1\nsummary S\nbody B\n", 32);
        ASSERT_OK(notice_read(path, &s, &b));
        ASSERT_STREQ(s, "S");
        ASSERT_STREQ(b, "B");

        /* One byte past the bound. */
        big = malloc(NOTICE_FILE_MAX + 1);
        ASSERT_TRUE(big);
        memset(big, 'x', NOTICE_FILE_MAX + 1);
        write_text(path, big, NOTICE_FILE_MAX + 1);
        ASSERT_EQ(notice_read(path, &s2, &b2), -EFBIG);
        write_text(path, "garbage\n", 8);
        ASSERT_EQ(notice_read(path, &s2, &b2), -EBADMSG);

        /* A FIFO does not block the reader, a directory is no notice. */
        ASSERT_OK(unlink(path) < 0 ? -errno : 0);
        ASSERT_OK(mkfifo(path, 0600) < 0 ? -errno : 0);
        ASSERT_EQ(notice_read(path, &s2, &b2), -EBADFD);
        ASSERT_OK(unlink(path) < 0 ? -errno : 0);
        ASSERT_OK(mkdir(path, 0700) < 0 ? -errno : 0);
        ASSERT_EQ(notice_read(path, &s2, &b2), -EISDIR);
        ASSERT_OK(rmdir(path) < 0 ? -errno : 0);
        ASSERT_NULL(s2);
        ASSERT_NULL(b2);
        ASSERT_OK(rmdir(dir) < 0 ? -errno : 0);
}

/* done() of notice_write_async(): its result, in place of the 1 that means "not yet". */
static void on_written(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        child_run_free(c);
        *(int *) userdata = r;
}

static void test_write(void) {
        char dir[] = "/tmp/test-notice-home.XXXXXX", target[] = "/tmp/test-notice-target.XXXXXX", cmd[512];
        _cleanup_free_ char *file = NULL, *autostart = NULL, *s = NULL, *b = NULL, *entry = NULL;
        struct passwd *pw = getpwuid(geteuid() == 0 ? 65534 : geteuid());
        UserIdentity u = {}, root = { .uid = 0, .home = dir };
        _cleanup_close_ int tfd = -EBADF;
        struct stat st;
        size_t n;

        ASSERT_TRUE(pw);
        ASSERT_TRUE(mkdtemp(dir));
        u = (UserIdentity) { .uid = pw->pw_uid, .gid = pw->pw_gid, .name = pw->pw_name, .home = dir };
        ASSERT_OK(chown(dir, u.uid, u.gid) < 0 ? -errno : 0);
        ASSERT_OK(notice_paths(dir, &file, &autostart));

        /* Never as root in the user's home. */
        ASSERT_EQ(notice_write(&root, "/usr/bin/baton", "S", "B"), -EPERM);

        /* A symlink the user left at the notice's name is replaced, not followed. */
        tfd = mkstemp(target);
        ASSERT_TRUE(tfd >= 0);
        snprintf(cmd, sizeof(cmd), "mkdir -p %s/.local/state/baton && ln -s %s %s && chown -R %u %s/.local", dir,
                 target, file, (unsigned) u.uid, dir);
        ASSERT_EQ(system(cmd), 0);

        ASSERT_OK(notice_write(&u, "/usr/bin/baton", "The GPU is back from win11", "win11 ran for 5 s."));
        ASSERT_OK(lstat(file, &st) < 0 ? -errno : 0);
        ASSERT_TRUE(S_ISREG(st.st_mode));
        ASSERT_EQ(st.st_uid, u.uid);
        ASSERT_EQ(st.st_mode & 0777, 0600);
        ASSERT_OK(fstat(tfd, &st) < 0 ? -errno : 0);
        ASSERT_EQ(st.st_size, 0);
        ASSERT_OK(notice_read(file, &s, &b));
        ASSERT_STREQ(s, "The GPU is back from win11");
        ASSERT_STREQ(b, "win11 ran for 5 s.");
        ASSERT_OK(lstat(autostart, &st) < 0 ? -errno : 0);
        ASSERT_EQ(st.st_uid, u.uid);
        ASSERT_OK(read_regular_file(autostart, 4096, &entry, &n));
        ASSERT_TRUE(strstr(entry, "Exec=\"/usr/bin/baton\" notify\n"));

        /* Bad text is refused before anything is written. */
        ASSERT_EQ(notice_write(&u, "/usr/bin/baton", "x\ny", "B"), -EINVAL);

        /* The daemon's way: a child awaited on its loop writes the same files, as the user. */
        {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                _cleanup_free_ char *s3 = NULL, *b3 = NULL;
                ChildRun *c = NULL;
                int written = 1;

                ASSERT_OK(sd_event_new(&e));
                ASSERT_OK(unlink(file) < 0 ? -errno : 0);
                ASSERT_OK(unlink(autostart) < 0 ? -errno : 0);
                ASSERT_EQ(notice_write_async(&root, e, "/usr/bin/baton", "S", "B", on_written, &written, &c),
                          -EPERM);
                ASSERT_EQ(notice_write_async(&u, e, "/usr/bin/baton", "S\x1b", "B", on_written, &written, &c),
                          -EINVAL);
                ASSERT_OK(notice_write_async(&u, e, "/usr/bin/baton", "Second", "B2", on_written, &written, &c));
                while (written > 0)
                        ASSERT_OK(sd_event_run(e, UINT64_MAX));
                ASSERT_OK(written);
                ASSERT_OK(notice_read(file, &s3, &b3));
                ASSERT_STREQ(s3, "Second");
                ASSERT_OK(lstat(autostart, &st) < 0 ? -errno : 0);
                ASSERT_EQ(st.st_uid, u.uid);
        }

        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, target);
        ASSERT_EQ(system(cmd), 0);
}

/* One sender per notice: the first claim takes it, a second finds nothing; a failed send puts
 * it back, unless a newer notice was written meanwhile. */
static void test_claim(void) {
        char dir[] = "/tmp/baton-test-claim-XXXXXX";
        _cleanup_free_ char *file = NULL, *claimed = NULL, *again = NULL, *text = NULL, *cmd = NULL;
        size_t size;
        FILE *f;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_TRUE(asprintf(&file, "%s/notice", dir) > 0);
        ASSERT_EQ(notice_claim(file, &claimed), -ENOENT);
        ASSERT_NULL(claimed);
        ASSERT_TRUE((f = fopen(file, "we")) != NULL);
        fputs("old", f);
        fclose(f);
        ASSERT_OK(notice_claim(file, &claimed));
        ASSERT_TRUE(strlen(claimed) > strlen("/notice.sending") && streq(claimed + strlen(claimed) - strlen("/notice.sending"), "/notice.sending"));
        ASSERT_TRUE(access(file, F_OK) < 0);
        ASSERT_EQ(notice_claim(file, &again), -ENOENT);         /* the second baton notify */
        ASSERT_OK(notice_unclaim(claimed, file));               /* the send failed: kept */
        ASSERT_TRUE(access(claimed, F_OK) < 0);
        ASSERT_OK(read_full_file("/", file, &text, &size));
        ASSERT_STREQ(text, "old");
        text = mfree(text);
        claimed = mfree(claimed);
        ASSERT_OK(notice_claim(file, &claimed));
        ASSERT_TRUE((f = fopen(file, "we")) != NULL);           /* a newer word meanwhile */
        fputs("new", f);
        fclose(f);
        ASSERT_OK(notice_unclaim(claimed, file));
        ASSERT_TRUE(access(claimed, F_OK) < 0);
        ASSERT_OK(read_full_file("/", file, &text, &size));
        ASSERT_STREQ(text, "new");
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
}

int main(void) {
        RUN(test_claim);
        RUN(test_format);
        RUN(test_file_text);
        RUN(test_autostart_entry);
        RUN(test_read);
        RUN(test_write);
        return 0;
}
