/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "macro.h"
#include "parse-util.h"
#include "strv.h"
#include "sysfs-util.h"

#define VTCONSOLE_DIR "/sys/class/vtconsole"
#define PLATFORM_DEVICES_DIR "/sys/bus/platform/devices"

bool vtcon_name_is_fb(const char *name) {
        return name && strstr(name, "frame buffer");
}

static void vtconsole_done(VtConsole *v) {
        free(v->id);
        free(v->name);
}

DEFINE_ARRAY_FREE_FUNC(vtconsoles_free, VtConsole, vtconsole_done);

static int vtconsole_read(const char *root, const char *id, VtConsole *ret) {
        _cleanup_free_ char *dir = NULL, *name = NULL, *bind = NULL, *copy = NULL;
        unsigned bound;
        bool is_fb;
        int r;

        if (asprintf(&dir, VTCONSOLE_DIR "/%s", id) < 0)
                return -ENOMEM;
        r = sysfs_read_attr(root, dir, "name", &name);
        if (r > 0)
                r = sysfs_read_attr(root, dir, "bind", &bind);
        if (r == 0)
                return -ENOENT;
        if (r < 0)
                return r;
        r = safe_atou(bind, 10, &bound);
        if (r < 0)
                return r;

        copy = strdup(id);
        if (!copy)
                return -ENOMEM;
        /* Initializers are evaluated in no fixed order: classify before name moves. */
        is_fb = vtcon_name_is_fb(name);
        *ret = (VtConsole) {
                .id = TAKE_PTR(copy),
                .name = TAKE_PTR(name),
                .bound = bound != 0,
                .is_fb = is_fb,
        };
        return 0;
}

/* "vtcon10" sorts before "vtcon2" as a string; the console number is what a user reads. */
static int cmp_vtcon(const void *a, const void *b) {
        const VtConsole *x = a, *y = b;
        size_t lx = strlen(x->id), ly = strlen(y->id);

        return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->id, y->id);
}

static int read_one_vtcon(const char *root, const char *id, void *ret) {
        int r = vtconsole_read(root, id, ret);

        return r < 0 ? r : 1;
}

static void vtcon_done(void *v) {
        vtconsole_done(v);
}

int vtconsoles_read(const char *root, VtConsole **ret, size_t *ret_n) {
        VtConsole *list = NULL;
        size_t n = 0;
        int r;

        r = sysfs_read_entries(root, VTCONSOLE_DIR, "vtcon", sizeof(VtConsole),
                               read_one_vtcon, vtcon_done, &list, &n);
        if (r < 0)
                return r;

        if (n > 1)
                qsort(list, n, sizeof(*list), cmp_vtcon);
        *ret = list;
        *ret_n = n;
        return 0;
}

bool firmware_fb_name_match(const char *name) {
        static const char *const prefixes[] = {
                "efi-framebuffer.", "simple-framebuffer.", "vesa-framebuffer.",
                "vga-framebuffer.", "platform-framebuffer.",
        };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (startswith(name, prefixes[i]))
                        return true;
        return false;
}

static void firmware_fb_done(FirmwareFb *f) {
        free(f->name);
        free(f->driver);
}

DEFINE_ARRAY_FREE_FUNC(firmware_fbs_free, FirmwareFb, firmware_fb_done);

/* On device-tree machines the simple-framebuffer node has its own name; its driver tells. */
bool firmware_fb_driver_match(const char *driver) {
        static const char *const drivers[] = {
                "efi-framebuffer", "simple-framebuffer", "simplefb", "simpledrm", "vesa-framebuffer",
        };

        for (size_t i = 0; driver && i < ELEMENTSOF(drivers); i++)
                if (streq(driver, drivers[i]))
                        return true;
        return false;
}

/* Returns 1 and fills ret for a firmware framebuffer, 0 for any other platform device. */
static int firmware_fb_read(const char *root, const char *name, FirmwareFb *ret) {
        _cleanup_free_ char *dir = NULL, *driver = NULL, *copy = NULL;
        int r;

        if (asprintf(&dir, PLATFORM_DEVICES_DIR "/%s", name) < 0)
                return -ENOMEM;
        r = sysfs_read_attr_link(root, dir, "driver", &driver);
        if (r < 0)
                return r;
        if (!firmware_fb_name_match(name) && !firmware_fb_driver_match(driver))
                return 0;

        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        *ret = (FirmwareFb) { .name = TAKE_PTR(copy), .driver = TAKE_PTR(driver) };
        return 1;
}

static int read_one_fb(const char *root, const char *name, void *ret) {
        return firmware_fb_read(root, name, ret);
}

static void fb_done(void *f) {
        firmware_fb_done(f);
}

int firmware_fbs_read(const char *root, FirmwareFb **ret, size_t *ret_n) {
        return sysfs_read_entries(root, PLATFORM_DEVICES_DIR, NULL, sizeof(FirmwareFb),
                                  read_one_fb, fb_done, ret, ret_n);
}
