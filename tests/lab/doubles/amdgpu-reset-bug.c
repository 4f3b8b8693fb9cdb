// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * amdgpu_reset_bug: a lab double of amdgpu on a card with the AMD "reset bug". It registers
 * a PCI driver named "amdgpu" for the lab's bochs VGA (1234:1111).
 *
 * What it reproduces: after a guest has used the card through vfio-pci, the card comes back
 * to the host in a state amdgpu cannot initialise (the SMU or PSP firmware still runs the
 * guest's session), so amdgpu's probe fails ("asic init failed", the device stays without a
 * driver) on every later bind, until the device is really reset. Rebinding, drivers_probe
 * or reloading the module change nothing.
 *
 * How: a bus notifier marks the device when vfio-pci binds it (the lab's guest stand-in
 * opens it right after; a bind alone would not dirty a real card, the double cannot see
 * the open). probe() fails with -EIO while the mark is there. What clears it is what resets
 * the card: the device's removal from the bus (remove, then a rescan makes a fresh one), or
 * a function reset through its sysfs `reset` attribute, seen here as the config space's
 * command register back at 0 while the device is unbound (the double sets the memory bit
 * while it drives the card, and a reset clears every bit of it). The lab's VGA has no reset
 * method (no FLR or PM capability, no parent bridge for a bus reset), so its `reset`
 * attribute is absent, as on many AMD cards whose FLR is missing or broken: remove + rescan
 * is what works there.
 *
 * No MODULE_DEVICE_TABLE: udev must not load it; scenarios insmod it.
 */
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/pci.h>

/* The device a guest has used, NULL when none is: the lab has one GPU. */
static struct pci_dev *dirty;
static DEFINE_SPINLOCK(dirty_lock);

static bool is_lab_gpu(struct pci_dev *pdev)
{
	return pdev->vendor == 0x1234 && pdev->device == 0x1111;
}

static bool take_dirty(struct pci_dev *pdev)
{
	bool r;

	spin_lock(&dirty_lock);
	r = dirty == pdev;
	spin_unlock(&dirty_lock);
	return r;
}

static void set_dirty(struct pci_dev *pdev, bool on)
{
	spin_lock(&dirty_lock);
	if (on)
		dirty = pdev;
	else if (dirty == pdev)
		dirty = NULL;
	spin_unlock(&dirty_lock);
}

static int on_bus_event(struct notifier_block *nb, unsigned long action, void *data)
{
	struct device *dev = data;
	struct pci_dev *pdev = to_pci_dev(dev);

	if (!is_lab_gpu(pdev))
		return NOTIFY_DONE;
	if (action == BUS_NOTIFY_BOUND_DRIVER && dev->driver && !strcmp(dev->driver->name, "vfio-pci")) {
		dev_info(dev, "amdgpu double: a guest gets the card; it will not initialise again until reset\n");
		set_dirty(pdev, true);
	} else if (action == BUS_NOTIFY_DEL_DEVICE && take_dirty(pdev)) {
		dev_info(dev, "amdgpu double: the device leaves the bus: a rescan brings a reset card\n");
		set_dirty(pdev, false);
	}
	return NOTIFY_DONE;
}

static struct notifier_block bus_nb = { .notifier_call = on_bus_event };

static int amdgpu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	u16 cmd;
	int r;

	if (take_dirty(pdev)) {
		pci_read_config_word(pdev, PCI_COMMAND, &cmd);
		if (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_IO)) {
			dev_err(&pdev->dev, "amdgpu: SMU is not responding (left running by the card's last user)\n");
			dev_err(&pdev->dev, "amdgpu: asic init failed: the card needs a reset\n");
			return -EIO;
		}
		/* Decoding off while nobody drives it: a function reset went through. */
		dev_info(&pdev->dev, "amdgpu double: the card was reset\n");
		set_dirty(pdev, false);
	}
	r = pci_enable_device(pdev);
	if (r)
		return r;
	dev_info(&pdev->dev, "amdgpu double: initialised\n");
	return 0;
}

static void amdgpu_remove(struct pci_dev *pdev)
{
	/* The card keeps decoding, as a real card left by amdgpu does until it is reset. */
}

static const struct pci_device_id amdgpu_ids[] = {
	{ PCI_DEVICE(0x1234, 0x1111) },	/* the lab's bochs VGA */
	{ }
};

static struct pci_driver amdgpu_driver = {
	.name = "amdgpu",
	.id_table = amdgpu_ids,
	.probe = amdgpu_probe,
	.remove = amdgpu_remove,
};

static int __init amdgpu_double_init(void)
{
	int r;

	r = bus_register_notifier(&pci_bus_type, &bus_nb);
	if (r)
		return r;
	r = pci_register_driver(&amdgpu_driver);
	if (r)
		bus_unregister_notifier(&pci_bus_type, &bus_nb);
	return r;
}

static void __exit amdgpu_double_exit(void)
{
	pci_unregister_driver(&amdgpu_driver);
	bus_unregister_notifier(&pci_bus_type, &bus_nb);
}

module_init(amdgpu_double_init);
module_exit(amdgpu_double_exit);
MODULE_DESCRIPTION("baton lab double of amdgpu on a card with the reset bug");
MODULE_LICENSE("GPL");
