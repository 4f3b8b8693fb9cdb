/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Kernel consoles that hold the GPU: fbcon's vtconsole binding and the firmware framebuffer
 * platform device (efifb, simplefb, vesafb) that still maps the card's memory. */

typedef struct VtConsole {
        char *id;                       /* "vtcon1" */
        char *name;                     /* "(M) frame buffer device" */
        bool bound;
        bool is_fb;                     /* a frame-buffer console: it keeps the GPU busy */
} VtConsole;

typedef struct FirmwareFb {
        char *name;                     /* "efi-framebuffer.0" */
        char *driver;                   /* "efi-framebuffer" (efifb), NULL when unbound */
} FirmwareFb;

/* fbcon names its console "(M) frame buffer device"; the VGA text and dummy consoles say
 * "(S) VGA+" and "(S) dummy device". */
bool vtcon_name_is_fb(const char *name);

/* /sys/class/vtconsole/vtcon*, by number. A machine without the class gives none. */
int vtconsoles_read(const char *root, VtConsole **ret, size_t *ret_n);
void vtconsoles_free(VtConsole *v, size_t n);

/* Whether a platform device name is one of sysfb's firmware framebuffers. */
bool firmware_fb_name_match(const char *name);
/* Whether a platform driver is one that drives a firmware framebuffer. */
bool firmware_fb_driver_match(const char *driver);
int firmware_fbs_read(const char *root, FirmwareFb **ret, size_t *ret_n);
void firmware_fbs_free(FirmwareFb *f, size_t n);
