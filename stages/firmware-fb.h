/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "machine.h"

/* Row 20 of issue 19, for plan and doctor alike. */
#define FIRMWARE_FB_LOST_LINE                                                                   \
        "the GPU has no native driver: the kernel removes the firmware framebuffer for good "     \
        "when vfio-pci takes the GPU, so the text console (and a display manager drawing on "     \
        "/dev/fb0) cannot come back until the next boot"

/* True when f is bound and the GPU has no native driver to give a console back once the
 * kernel removed f (as it does when vfio-pci binds a VGA device). */
bool firmware_fb_lost_for_good(const Machine *m, const FirmwareFb *f);
