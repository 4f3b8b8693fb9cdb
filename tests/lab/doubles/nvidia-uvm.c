// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nvidia_uvm: a lab double of NVIDIA's nvidia-uvm module (CUDA's unified memory). It holds
 * nvidia through real symbol references and makes /dev/nvidia-uvm, whose open fds count
 * in nvidia's usage (as the real uvm's GPU retain does) and reference this module.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

int nvidia_double_client_register(const char *name);
void nvidia_double_client_unregister(const char *name);
void nvidia_double_usage_get(void);
void nvidia_double_usage_put(void);

static int uvm_open(struct inode *inode, struct file *file)
{
	nvidia_double_usage_get();
	return 0;
}

static int uvm_release(struct inode *inode, struct file *file)
{
	nvidia_double_usage_put();
	return 0;
}

static const struct file_operations uvm_fops = {
	.owner = THIS_MODULE,
	.open = uvm_open,
	.release = uvm_release,
	.llseek = noop_llseek,
};

static struct miscdevice uvm_dev = {
	.minor = MISC_DYNAMIC_MINOR, .name = "nvidia-uvm", .fops = &uvm_fops, .mode = 0666,
};

static int __init uvm_init(void)
{
	int r;

	r = nvidia_double_client_register("nvidia-uvm");
	if (r)
		return r;
	r = misc_register(&uvm_dev);
	if (r)
		nvidia_double_client_unregister("nvidia-uvm");
	return r;
}

static void __exit uvm_exit(void)
{
	misc_deregister(&uvm_dev);
	nvidia_double_client_unregister("nvidia-uvm");
}

module_init(uvm_init);
module_exit(uvm_exit);
MODULE_DESCRIPTION("baton lab double of NVIDIA's nvidia-uvm module");
MODULE_LICENSE("GPL");
