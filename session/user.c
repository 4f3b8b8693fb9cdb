/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>

#include "child.h"
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

bool user_logged_out(uid_t uid) {
        _cleanup_free_ char *state = NULL;

        /* sd-login's states: offline, lingering, online, active, closing. */
        if (sd_uid_get_state(uid, &state) < 0)
                return false;
        return streq(state, "offline") || streq(state, "closing");
}

/* The user's groups by the group database: their primary group and every group listing them. */
static int user_groups(const UserIdentity *u, gid_t **ret, int *ret_n) {
        _cleanup_free_ gid_t *gids = NULL;
        int n = 32;

        for (;;) {
                gid_t *g = reallocarray(gids, n, sizeof(gid_t));
                int k = n;

                if (!g)
                        return -ENOMEM;
                gids = g;
                if (getgrouplist(u->name, u->gid, gids, &k) >= 0) {
                        *ret_n = k;
                        break;
                }
                if (k <= n)
                        return -EIO;
                n = k;
        }
        *ret = TAKE_PTR(gids);
        return 0;
}

int user_drop_privileges(const UserIdentity *u) {
        _cleanup_free_ gid_t *gids = NULL;
        int n, r;

        r = user_groups(u, &gids, &n);
        if (r < 0)
                return r;
        if (setgroups((size_t) n, gids) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
            setresuid(u->uid, u->uid, u->uid) < 0)
                return -errno;
        /* Verify: a process that could regain root here must not go on. */
        if (setresuid(0, 0, 0) >= 0 && u->uid != 0)
                return -EPERM;
        return 0;
}

int user_run_as(const UserIdentity *u, int (*f)(void *userdata), void *userdata) {
        _cleanup_free_ gid_t *gids = NULL, *root_gids = NULL;
        uid_t euid = geteuid();
        gid_t egid = getegid();
        int n, n_root, r;

        if (euid == u->uid || euid != 0)
                return f(userdata);
        /* Root's supplementary groups go too (group 0 under sudo would open root-group files). */
        n_root = getgroups(0, NULL);
        if (n_root < 0)
                return -errno;
        root_gids = calloc((size_t) n_root + 1, sizeof(gid_t));
        if (!root_gids)
                return -ENOMEM;
        n_root = getgroups(n_root, root_gids);
        if (n_root < 0)
                return -errno;
        r = user_groups(u, &gids, &n);
        if (r < 0)
                return r;
        if (setgroups((size_t) n, gids) < 0)
                return -errno;
        if (setegid(u->gid) < 0 || seteuid(u->uid) < 0) {
                r = -errno;
                if (seteuid(euid) < 0 || setegid(egid) < 0 || setgroups((size_t) n_root, root_gids) < 0)
                        abort();
                return r;
        }
        r = f(userdata);
        /* Back to root: failing here would leave a root daemon running as the user. */
        if (seteuid(euid) < 0 || setegid(egid) < 0 || setgroups((size_t) n_root, root_gids) < 0)
                abort();
        return r;
}

typedef struct AsUser {
        const UserIdentity *user;
        int (*f)(int out_fd, void *userdata);
        void *userdata;
} AsUser;

/* In the child (common/child.h): drops to the user for good, then runs f. */
static int as_user(int out_fd, void *userdata) {
        const AsUser *a = userdata;
        int r;

        r = geteuid() == 0 || geteuid() != a->user->uid ? user_drop_privileges(a->user) : 0;
        /* After the drop: a change of credentials clears the parent-death signal. */
        if (r >= 0 && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                r = -errno;
        if (r >= 0)
                r = a->f(out_fd, a->userdata);
        return r;
}

int user_run_child(const UserIdentity *u, uint64_t timeout_usec, int (*f)(int out_fd, void *userdata),
                   void *userdata, size_t max_out, char **ret_out, size_t *ret_size) {
        AsUser a = { u, f, userdata };

        return child_run(timeout_usec, as_user, &a, max_out, ret_out, ret_size);
}

int user_child_async(const UserIdentity *u, sd_event *e, uint64_t timeout_usec, int (*f)(int out_fd, void *userdata),
                     void *userdata, size_t max_out, child_run_done_t done, void *done_userdata, ChildRun **ret) {
        /* The fork happens in the call: a on the stack is what the child sees. */
        AsUser a = { u, f, userdata };

        return child_run_async(e, timeout_usec, as_user, &a, max_out, done, done_userdata, ret);
}

typedef struct BusConnect {
        struct sockaddr_un sa;
        int fd;
} BusConnect;

/* In the child, as the user: connect()s the socket the parent made, so that the bus reads the
 * user's credentials, all of them and only theirs. */
static int bus_connect(int out_fd, void *userdata) {
        BusConnect *c = userdata;

        if (connect(c->fd, (const struct sockaddr *) &c->sa, SUN_LEN(&c->sa)) < 0)
                return -errno;
        return 0;
}

/* The socket to the user's bus, not yet connected. */
static int bus_socket(const UserIdentity *u, BusConnect *c) {
        *c = (BusConnect) { .sa.sun_family = AF_UNIX, .fd = -EBADF };
        if (snprintf(c->sa.sun_path, sizeof(c->sa.sun_path), "%s/bus", u->runtime_dir) >= (int) sizeof(c->sa.sun_path))
                return -ENAMETOOLONG;
        if (access(c->sa.sun_path, F_OK) < 0)
                return -errno;
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        return 0;
}

/* Takes fd, connected as the user: the bus client on it, Hello in flight. */
static int bus_from_fd(int fd, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        _cleanup_close_ int owned = fd;
        int r;

        r = fd_set_nonblock(fd, true);
        if (r >= 0)
                r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, fd, fd);
        if (r >= 0)
                TAKE_FD(owned);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_set_description(bus, "user-bus");
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int user_bus_open(const UserIdentity *u, sd_bus **ret) {
        _cleanup_close_ int fd = -EBADF;
        BusConnect c;
        int r;

        r = bus_socket(u, &c);
        fd = c.fd;
        if (r < 0)
                return r;
        /* A bus whose listener never accepts (a user's own socket there) costs the deadline. */
        r = user_run_child(u, USER_CONNECT_TIMEOUT_USEC, bus_connect, &c, 0, NULL, NULL);
        if (r < 0)
                return r;
        return bus_from_fd(TAKE_FD(fd), ret);
}

struct UserBusOpen {
        BusConnect connect;
        ChildRun *child;
        user_bus_open_done_t done;
        void *userdata;
};

UserBusOpen *user_bus_open_free(UserBusOpen *o) {
        if (!o)
                return NULL;
        child_run_free(o->child);
        if (o->connect.fd >= 0)
                close(o->connect.fd);
        free(o);
        return NULL;
}

static void on_bus_connected(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        UserBusOpen *o = userdata;
        sd_bus *bus = NULL;

        o->child = child_run_free(c);
        if (r >= 0)
                r = bus_from_fd(TAKE_FD(o->connect.fd), &bus);
        o->done(o, r, bus, o->userdata);      /* may free o */
}

int user_bus_open_async(const UserIdentity *u, sd_event *e, user_bus_open_done_t done, void *userdata,
                        UserBusOpen **ret) {
        UserBusOpen *o = calloc(1, sizeof(UserBusOpen));
        int r;

        if (!o)
                return -ENOMEM;
        *o = (UserBusOpen) { .done = done, .userdata = userdata };
        r = bus_socket(u, &o->connect);
        if (r >= 0)
                r = user_child_async(u, e, USER_CONNECT_TIMEOUT_USEC, bus_connect, &o->connect, 0, on_bus_connected,
                                     o, &o->child);
        if (r < 0) {
                user_bus_open_free(o);
                return r;
        }
        *ret = o;
        return 0;
}
