/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libevdev/libevdev.h>

/* The lab's synthetic mouse, as input-lab and input-latency create it: what the router
 * takes for a mouse (REL_X, REL_Y, BTN_LEFT; evdev/input-router.h), three buttons and a
 * wheel. */
static inline void lab_mouse_enable(struct libevdev *dev) {
        libevdev_enable_event_code(dev, EV_KEY, BTN_LEFT, NULL);
        libevdev_enable_event_code(dev, EV_KEY, BTN_RIGHT, NULL);
        libevdev_enable_event_code(dev, EV_KEY, BTN_MIDDLE, NULL);
        libevdev_enable_event_code(dev, EV_REL, REL_X, NULL);
        libevdev_enable_event_code(dev, EV_REL, REL_Y, NULL);
        libevdev_enable_event_code(dev, EV_REL, REL_WHEEL, NULL);
}
