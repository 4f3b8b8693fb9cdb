// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stuck_mm: a lab double of a process stuck in the kernel with its memory map locked. It
 * registers a misc device, /dev/baton-stuck-mm.
 *
 * What it reproduces: a process that holds its mm's mmap_lock while it waits in the kernel.
 * Every reader of that process's /proc/PID/maps then waits too (mmap_read_lock_killable()),
 * for as long as it lasts. On a real machine that is a process whose page is being read
 * from a hung NFS or FUSE mount through a path that keeps the lock (get_user_pages()
 * without an unlock, as /proc/PID/mem and ptrace do), with a writer of the same mm queued
 * behind it, or a driver whose mmap handler waits: `ps` hangs on such a process.
 *
 * How: the device's mmap handler, which the kernel calls with the caller's mmap_lock held
 * for writing (mmap_region()), waits until anyone writes to the device, or until a fatal
 * signal for the caller; it then fails the mmap with -EAGAIN. The wait is the real kernel
 * path; only its cause is made up.
 *
 * No MODULE_DEVICE_TABLE: scenarios modprobe it.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/wait.h>

static DECLARE_WAIT_QUEUE_HEAD(release_wait);
static atomic_t released = ATOMIC_INIT(0);

static int stuck_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* Here under mmap_write_lock(current->mm). */
	if (wait_event_killable(release_wait, atomic_read(&released)))
		return -EINTR;
	return -EAGAIN;
}

static ssize_t stuck_write(struct file *file, const char __user *buf, size_t count, loff_t *pos)
{
	atomic_set(&released, 1);
	wake_up_all(&release_wait);
	return count;
}

static int stuck_open(struct inode *inode, struct file *file)
{
	/* A new open waits again, until the next write. */
	if (file->f_mode & FMODE_READ)
		atomic_set(&released, 0);
	return 0;
}

static const struct file_operations stuck_fops = {
	.owner = THIS_MODULE,
	.open = stuck_open,
	.mmap = stuck_mmap,
	.write = stuck_write,
	.llseek = noop_llseek,
};

static struct miscdevice stuck_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "baton-stuck-mm",
	.fops = &stuck_fops,
	.mode = 0600,
};

module_misc_device(stuck_dev);

MODULE_DESCRIPTION("baton lab double: a process stuck in the kernel with its memory map locked");
MODULE_LICENSE("GPL");
