// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nvidia_modeset: a lab double of NVIDIA's nvidia-modeset module. It reproduces only the
 * module graph: it calls into nvidia (so nvidia's holders list it and its refcnt counts
 * it) and exports what nvidia_drm calls (so nvidia_drm holds it). baton must unload
 * nvidia_drm first, then this, then nvidia.
 */
#include <linux/module.h>

int nvidia_double_client_register(const char *name);
void nvidia_double_client_unregister(const char *name);

int nvidia_modeset_double_register(const char *name)
{
	pr_info("nvidia-modeset: %s registered\n", name);
	return 0;
}
EXPORT_SYMBOL(nvidia_modeset_double_register);

static int __init nvkms_init(void)
{
	return nvidia_double_client_register("nvidia-modeset");
}

static void __exit nvkms_exit(void)
{
	nvidia_double_client_unregister("nvidia-modeset");
}

module_init(nvkms_init);
module_exit(nvkms_exit);
MODULE_DESCRIPTION("baton lab double of NVIDIA's nvidia-modeset module");
MODULE_LICENSE("GPL");
