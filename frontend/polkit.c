/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>

#include "log.h"
#include "macro.h"
#include "polkit.h"

typedef struct Pending {
        sd_bus_message *call;
        authorize_done_t done;
        void *userdata;
        char *action;
} Pending;

static void pending_free(Pending *p) {
        sd_bus_message_unref(p->call);
        free(p->action);
        free(p);
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        int authorized = 0, challenge = 0, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                log_warning("polkit could not decide about %s (%s): denying.", p->action, e->message);
                r = -sd_bus_error_get_errno(e) ?: -EACCES;
        } else {
                /* (bba{ss}): is_authorized, is_challenge, details. A format string cannot
                 * read part of a struct ("(bb" is no signature: it failed, and so denied,
                 * every caller polkit said yes to), so the struct is entered. */
                r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_STRUCT, "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        log_warning_errno(r, "Failed to read polkit's answer about %s, denying: %m", p->action);
                r = r < 0 ? r : authorized ? 1 : 0;
        }
        p->done(p->call, r, p->userdata);
        pending_free(p);
        return 0;
}

/* Whether uid is a member of admin_gid by the group database: its primary group or one of
 * the groups that list it. Never by the caller's process: its egid and groups can change
 * after it connected (a setgid program exec'd with the bus socket kept open), and only the
 * uid is what the bus vouches for. */
int uid_in_admin_group(uid_t uid, gid_t admin_gid) {
        _cleanup_free_ gid_t *gids = NULL;
        struct passwd *pw;
        int n = 32;

        if (admin_gid == (gid_t) -1)
                return 0;
        errno = 0;
        pw = getpwuid(uid);
        if (!pw)
                return errno > 0 ? -errno : 0;
        if (pw->pw_gid == admin_gid)
                return 1;
        for (;;) {
                int k = n;
                gid_t *g = reallocarray(gids, n, sizeof(gid_t));

                if (!g)
                        return -ENOMEM;
                gids = g;
                if (getgrouplist(pw->pw_name, pw->pw_gid, gids, &k) >= 0) {
                        n = k;
                        break;
                }
                if (k <= n)
                        return -EIO;
                n = k;
        }
        for (int i = 0; i < n; i++)
                if (gids[i] == admin_gid)
                        return 1;
        return 0;
}

/* The caller's uid as the bus saw it at connect time, never from /proc (no AUGMENT). */
static int sender_uid(sd_bus_message *call, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        r = sd_bus_query_sender_creds(call, SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, ret);
        if (r < 0)
                r = sd_bus_creds_get_uid(creds, ret);
        return r;
}

int caller_is_admin(sd_bus_message *call, gid_t admin_gid) {
        uid_t uid;
        int r;

        r = sender_uid(call, &uid);
        if (r < 0)
                return r;
        return uid == 0 ? 1 : uid_in_admin_group(uid, admin_gid);
}

int authorize_async(sd_bus_message *call, const char *action, gid_t admin_gid,
                    authorize_done_t done, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *check = NULL;
        sd_bus *bus = sd_bus_message_get_bus(call);
        bool interactive;
        Pending *p;
        uid_t uid;
        int r;

        r = sender_uid(call, &uid);
        if (r < 0)
                return r;
        if (uid == 0 || uid_in_admin_group(uid, admin_gid) > 0)
                return 1;

        r = sd_bus_message_new_method_call(bus, &check, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        /* Flag 1, AllowUserInteraction, only when the caller asked for it on its call
         * (the CLI does): polkit then lets the agent of the caller's session ask for a
         * password, and the policy (data/org.baton.policy) allows that only in an
         * active local session. A caller that did not ask gets a plain yes or no. */
        interactive = sd_bus_message_get_allow_interactive_authorization(call) > 0;
        r = sd_bus_message_append(check, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                                  sd_bus_message_get_sender(call), action, 0, interactive ? 1 : 0, "");
        if (r < 0)
                return r;

        p = calloc(1, sizeof(Pending));
        if (!p)
                return -ENOMEM;
        *p = (Pending) { .call = sd_bus_message_ref(call), .done = done, .userdata = userdata,
                         .action = strdup(action) };
        /* A person typing a password takes longer than polkit deciding alone. */
        r = p->action ? sd_bus_call_async(bus, NULL, check, on_check_reply, p,
                                          interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC : 25 * 1000000ULL)
                      : -ENOMEM;
        if (r < 0) {
                pending_free(p);
                return r;
        }
        return 0;
}
