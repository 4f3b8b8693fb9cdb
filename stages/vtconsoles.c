/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vtconsoles: fbcon's frame-buffer consoles.
 *
 * On the host, a bound frame-buffer vtconsole (/sys/class/vtconsole/vtconN whose name says
 * "frame buffer") draws the text console into the GPU's framebuffer and so keeps the card in
 * use. to_guest unbinds every bound one: it writes 0 to its bind attribute and reads the
 * attribute back, because the kernel reports success for a write it ignored.
 *
 * to_host binds again exactly the recorded consoles that were bound and are unbound now.
 * fbcon may be back by itself: when vfio-pci took the VGA device the firmware framebuffer
 * went away, and once the native driver binds again fbcon comes back on that driver's
 * framebuffer (the lab's handover-return scenario sees vtcon1 bound again with bochs-drm),
 * so a console that is bound already counts as done. Without a
 * record it binds every unbound frame-buffer console.
 *
 * Journal: one key per frame-buffer console, "vtconN" = "1" when it was bound (to_guest
 * unbinds it, to_host binds it again) or "0" when it was unbound already (left alone).
 */

#include <errno.h>
#include <stdio.h>

#include "log.h"
#include "stage.h"
#include "strv.h"
#include "sysfs-util.h"

#define VTCONSOLE_DIR "/sys/class/vtconsole"

static int vtconsoles_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                              StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL;
        size_t n_fb = 0, n_bound = 0;
        int r;

        for (size_t i = 0; i < m->n_vtcons; i++) {
                const VtConsole *v = &m->vtcons[i];

                if (!v->is_fb)
                        continue;
                n_fb++;
                if (v->bound) {
                        n_bound++;
                        r = strv_extendf(&plan, "unbind %s (%s)", v->id, v->name);
                } else
                        r = strv_extendf(&plan, "%s (%s) is unbound already", v->id, v->name);
                if (r < 0)
                        return r;
        }

        /* A host may well keep some frame-buffer consoles unbound: one bound is the host. */
        *ret_pos = n_fb == 0 ? STAGE_NOTHING_TO_DO : n_bound > 0 ? STAGE_AT_HOST : STAGE_AT_GUEST;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* Writes the bind attribute and reads it back: the write alone proves nothing. */
static int set_bound(Step *s, const char *id, bool bind) {
        _cleanup_free_ char *path = NULL, *label = NULL;
        unsigned bound;
        int r;

        if (asprintf(&path, VTCONSOLE_DIR "/%s/bind", id) < 0 ||
            asprintf(&label, "%s %s", bind ? "bound" : "unbound", id) < 0)
                return -ENOMEM;
        r = step_write(s, path, bind ? "1" : "0");
        if (r < 0)
                return step_error_errno(s, r, "Failed to %s %s: %m", bind ? "bind" : "unbind", id);
        r = sysfs_read_unsigned(step_root(s), path, 10, &bound);
        if (r < 0)
                return step_error_errno(s, r, "Failed to read back %s: %m", path);
        if ((bound != 0) != bind)
                return step_error_errno(s, SYNTHETIC_ERRNO(EBUSY),
                                        "%s is still %s after writing %s to its bind attribute",
                                        id, bound ? "bound" : "unbound", bind ? "1" : "0");

        step_crash_point(s, label);
        return 0;
}

static int vtconsoles_to_guest(Step *s) {
        const Machine *m = step_machine(s);
        int r;

        /* Every console is recorded before the first is touched: a crash after unbinding
         * vtcon1 must still find vtcon2 in the journal. */
        for (size_t i = 0; i < m->n_vtcons; i++) {
                const VtConsole *v = &m->vtcons[i];

                if (!v->is_fb)
                        continue;
                r = step_record(s, v->id, v->bound ? "1" : "0");
                if (r < 0)
                        return step_error_errno(s, r, "Failed to record %s: %m", v->id);
        }
        r = step_commit(s);
        if (r < 0)
                return step_error_errno(s, r, "Failed to commit the vtconsole record: %m");

        for (size_t i = 0; i < m->n_vtcons; i++)
                if (m->vtcons[i].is_fb && m->vtcons[i].bound) {
                        r = set_bound(s, m->vtcons[i].id, false);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static const VtConsole *find_vtcon(const Machine *m, const char *id) {
        for (size_t i = 0; i < m->n_vtcons; i++)
                if (streq(m->vtcons[i].id, id))
                        return &m->vtcons[i];
        return NULL;
}

/* The recorded consoles that were bound before the handover. */
static int rebind_recorded(Step *s) {
        _cleanup_strv_free_ char **ids = step_keys(s, "vtcon");
        const Machine *m = step_machine(s);
        int r;

        STRV_FOREACH(id, ids) {
                const VtConsole *v = find_vtcon(m, *id);

                if (!streq_ptr(step_get(s, *id), "1"))
                        continue;
                if (!v) {
                        /* Row 20 of issue 19: not restored, and said so in the timeline. */
                        step_warning(s,
                                     "%s was bound before the handover and is gone now (the kernel removed "
                                     "its framebuffer): not restored.", *id);
                        continue;
                }
                if (v->bound) {
                        log_info("%s is bound again already (fbcon came back with the native driver).", *id);
                        continue;
                }
                r = set_bound(s, *id, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int vtconsoles_to_host(Step *s) {
        const Machine *m = step_machine(s);
        int r;

        if (step_has_record(s))
                return rebind_recorded(s);

        /* No record: a host keeps its frame-buffer consoles bound. */
        for (size_t i = 0; i < m->n_vtcons; i++)
                if (m->vtcons[i].is_fb && !m->vtcons[i].bound) {
                        r = set_bound(s, m->vtcons[i].id, true);
                        if (r < 0)
                                return r;
                }
        return 0;
}

const Stage stage_vtconsoles = {
        .name = "vtconsoles",
        .observe_on_loop = true,
        .summary = "frame-buffer vtconsoles",
        .observe = vtconsoles_observe,
        .to_guest = vtconsoles_to_guest,
        .to_host = vtconsoles_to_host,
};
