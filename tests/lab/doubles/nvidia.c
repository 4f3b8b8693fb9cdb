// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nvidia: a lab double of NVIDIA's proprietary (and open) kernel driver, module "nvidia".
 *
 * What it reproduces, on the lab's bochs VGA (1234:1111), for baton's gpu-modules,
 * firmware-fb, drm-idle and vfio stages:
 * - a PCI driver named "nvidia" that binds the GPU and leaves the firmware framebuffer
 *   (efifb) alone: like NVIDIA's driver without fbdev emulation, it never takes the
 *   aperture over, so efifb and fbcon stay on top of it;
 * - /dev/nvidiactl and /dev/nvidia0, made when the GPU is probed; each open fd takes a
 *   reference on this module (the fops' owner), so `rmmod nvidia` fails with EBUSY while
 *   one is open, as with the real module;
 * - its remove() does not return while any /dev/nvidia* fd is open: the real nv_pci_remove()
 *   prints "Attempting to remove device ... with non-zero usage count!" and waits for the
 *   usage count to reach zero. A driver unbind with a holder left therefore hangs. (The
 *   wait here is killable, so that a lab run can still end; the real one is not.)
 * - exported symbols that nvidia_modeset and nvidia_uvm call, so the kernel records real
 *   module references: /sys/module/nvidia/refcnt and holders/ are the kernel's own.
 *
 * No MODULE_DEVICE_TABLE: udev must not load it on its own in the lab's default boot,
 * where bochs-drm drives the GPU. Scenarios load it with modprobe after depmod.
 */
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/wait.h>

static atomic_t usage_count = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(usage_wait);
static atomic_t clients = ATOMIC_INIT(0);

/* The upper modules register here: a call into this module is what makes the kernel
 * count them as its holders (ref_module() at symbol resolution). */
int nvidia_double_client_register(const char *name)
{
	atomic_inc(&clients);
	pr_info("NVRM: %s registered\n", name);
	return 0;
}
EXPORT_SYMBOL(nvidia_double_client_register);

void nvidia_double_client_unregister(const char *name)
{
	atomic_dec(&clients);
	pr_info("NVRM: %s unregistered\n", name);
}
EXPORT_SYMBOL(nvidia_double_client_unregister);

/* Every /dev/nvidia* node of the stack counts here, uvm's included. */
void nvidia_double_usage_get(void)
{
	atomic_inc(&usage_count);
}
EXPORT_SYMBOL(nvidia_double_usage_get);

void nvidia_double_usage_put(void)
{
	if (atomic_dec_and_test(&usage_count))
		wake_up_all(&usage_wait);
}
EXPORT_SYMBOL(nvidia_double_usage_put);

static int nv_open(struct inode *inode, struct file *file)
{
	nvidia_double_usage_get();
	return 0;
}

static int nv_release(struct inode *inode, struct file *file)
{
	nvidia_double_usage_put();
	return 0;
}

static const struct file_operations nv_fops = {
	.owner = THIS_MODULE,
	.open = nv_open,
	.release = nv_release,
	.llseek = noop_llseek,
};

static struct miscdevice nv_ctl = {
	.minor = MISC_DYNAMIC_MINOR, .name = "nvidiactl", .fops = &nv_fops, .mode = 0666,
};
static struct miscdevice nv_dev0 = {
	.minor = MISC_DYNAMIC_MINOR, .name = "nvidia0", .fops = &nv_fops, .mode = 0666,
};

static int nv_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int r;

	r = pci_enable_device(pdev);
	if (r)
		return r;
	r = misc_register(&nv_ctl);
	if (r)
		goto fail_disable;
	r = misc_register(&nv_dev0);
	if (r)
		goto fail_ctl;
	dev_info(&pdev->dev, "NVRM: loading the lab's nvidia double\n");
	return 0;

fail_ctl:
	misc_deregister(&nv_ctl);
fail_disable:
	pci_disable_device(pdev);
	return r;
}

static void nv_remove(struct pci_dev *pdev)
{
	if (atomic_read(&usage_count) != 0) {
		dev_err(&pdev->dev, "NVRM: Attempting to remove device %s with non-zero usage count!\n",
			pci_name(pdev));
		/* The real driver waits here for good; see the header. */
		if (wait_event_killable(usage_wait, atomic_read(&usage_count) == 0))
			dev_err(&pdev->dev, "NVRM: remove interrupted with the device still in use\n");
	}
	misc_deregister(&nv_dev0);
	misc_deregister(&nv_ctl);
	pci_disable_device(pdev);
}

static const struct pci_device_id nv_ids[] = {
	{ PCI_DEVICE(0x1234, 0x1111) },	/* the lab's bochs VGA */
	{ }
};

static struct pci_driver nv_driver = {
	.name = "nvidia",
	.id_table = nv_ids,
	.probe = nv_probe,
	.remove = nv_remove,
};

module_pci_driver(nv_driver);
MODULE_DESCRIPTION("baton lab double of NVIDIA's nvidia module");
MODULE_LICENSE("GPL");
