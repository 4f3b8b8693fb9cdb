/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>

#include "user.h"

void user_identity_done(UserIdentity *u) {
        if (!u)
                return;
        u->name = mfree(u->name);
        u->home = mfree(u->home);
        u->runtime_dir = mfree(u->runtime_dir);
}

static int from_passwd(const struct passwd *pw, UserIdentity *ret) {
        _cleanup_(user_identity_done) UserIdentity u = { .uid = pw->pw_uid, .gid = pw->pw_gid };

        u.name = strdup(pw->pw_name);
        u.home = strdup(pw->pw_dir);
        if (!u.name || !u.home || asprintf(&u.runtime_dir, "/run/user/%u", (unsigned) pw->pw_uid) < 0)
                return -ENOMEM;
        *ret = TAKE_STRUCT(u);
        return 0;
}

int user_identity_from_name(const char *name, UserIdentity *ret) {
        struct passwd *pw;

        errno = 0;
        pw = getpwnam(name);
        if (!pw)
                return errno > 0 ? -errno : -ESRCH;
        return from_passwd(pw, ret);
}

int user_identity_from_uid(uid_t uid, UserIdentity *ret) {
        struct passwd *pw;

        errno = 0;
        pw = getpwuid(uid);
        if (!pw)
                return errno > 0 ? -errno : -ESRCH;
        return from_passwd(pw, ret);
}

/* What sd-login answers where nobody is logged in on seat0, or there is no seat0 or no logind. */
#define IN_SET_NOSEAT(r) ((r) == -ENODATA || (r) == -ENXIO || (r) == -ENOENT)

static int seat0_uid(bool desktop_only, uid_t *ret) {
        _cleanup_free_ char *session = NULL, *class = NULL;
        uid_t uid;
        int r;

        r = sd_seat_get_active("seat0", &session, &uid);
        if (IN_SET_NOSEAT(r))
                return -ENXIO;
        if (r < 0)
                return r;
        if (desktop_only) {
                r = sd_session_get_class(session, &class);
                if (IN_SET_NOSEAT(r))
                        return -ENXIO;
                if (r < 0)
                        return r;
                if (!streq(class, "user"))
                        return -ENXIO;
        }
        if (uid == 0)
                return -ENXIO;
        *ret = uid;
        return 0;
}

int user_seat0_uid(uid_t *ret) {
        return seat0_uid(false, ret);
}

int user_seat0_desktop_uid(uid_t *ret) {
        return seat0_uid(true, ret);
}

int user_run_as(const UserIdentity *u, int (*f)(void *userdata), void *userdata) {
        uid_t euid = geteuid();
        gid_t egid = getegid();
        int r;

        if (euid == u->uid || euid != 0)
                return f(userdata);
        if (setegid(u->gid) < 0)
                return -errno;
        if (seteuid(u->uid) < 0) {
                r = -errno;
                (void) setegid(egid);
                return r;
        }
        r = f(userdata);
        /* Back to root: failing here would leave a root daemon running as the user. */
        if (seteuid(euid) < 0 || setegid(egid) < 0)
                abort();
        return r;
}

static int bus_start(void *userdata) {
        return sd_bus_start(userdata);
}

int user_bus_open(const UserIdentity *u, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *address = NULL;
        int r;

        if (asprintf(&path, "%s/bus", u->runtime_dir) < 0)
                return -ENOMEM;
        if (access(path, F_OK) < 0)
                return -errno;
        if (asprintf(&address, "unix:path=%s", path) < 0)
                return -ENOMEM;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_set_description(bus, "user-bus");
        if (r < 0)
                return r;
        r = user_run_as(u, bus_start, bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}
