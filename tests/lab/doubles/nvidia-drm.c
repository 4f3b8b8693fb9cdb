// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nvidia_drm: a lab double of NVIDIA's nvidia-drm module loaded without fbdev emulation
 * (nvidia_drm.fbdev=0, the default before 545): it does not take the firmware
 * framebuffer over, so efifb and fbcon stay. It reproduces the module graph only: it
 * holds nvidia_modeset through a real symbol reference.
 */
#include <linux/module.h>

int nvidia_modeset_double_register(const char *name);

static int __init nvdrm_init(void)
{
	return nvidia_modeset_double_register("nvidia-drm");
}

static void __exit nvdrm_exit(void)
{
}

module_init(nvdrm_init);
module_exit(nvdrm_exit);
MODULE_DESCRIPTION("baton lab double of NVIDIA's nvidia-drm module");
MODULE_LICENSE("GPL");
