/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* Readers for sysfs and /proc that take a root prefix: "/" (or NULL) reads the live system,
 * any other directory reads a fixture tree laid out the same way. path is always absolute
 * ("/sys/bus/pci/devices"). All return 0 or a negative errno; ret_* are untouched on failure.
 * They never write and never log. */

/* root + path, without doubling the slash. */
int root_path(const char *root, const char *path, char **ret);

/* 1 when path exists below root (a symlink counts only when its target exists), 0 when it
 * does not, negative errno when that cannot be told (-EACCES). */
int sysfs_exists(const char *root, const char *path);

/* Whole file, NUL-terminated (for /proc files whose size stat() reports as 0); -EFBIG past
 * READ_FULL_FILE_MAX bytes. */
#define READ_FULL_FILE_MAX (16u * 1024 * 1024)
int read_full_file(const char *root, const char *path, char **ret, size_t *ret_size);
/* All of fd, up to max bytes, into *buf (of *allocated bytes, grown as needed and kept for the
 * next read: a scan of many files allocates once), NUL-terminated; -EFBIG past max. */
int read_fd_into(int fd, size_t max, char **buf, size_t *allocated, size_t *ret_size);
/* An O_PATH fd of the directory path below root, for the *_at() readers; negative errno. */
int open_dir_path(const char *root, const char *path);
/* Same as read_full_file(), for name below the directory dir_fd (which may be an O_PATH fd). */
int read_full_file_at(int dir_fd, const char *name, char **ret, size_t *ret_size);

/* A file that someone else controls (a user's .desktop file): opened without waiting (a FIFO
 * does not block), refused unless it is a regular file (-EISDIR, -EBADFD: a FIFO, a device
 * such as /dev/zero behind a symlink), and -EFBIG when it holds more than max bytes. */
int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_size);

/* First line of a one-line attribute, trailing whitespace removed. */
int sysfs_read_string(const char *root, const char *path, char **ret);
/* Same, for name below the directory dir_fd. */
int sysfs_read_string_at(int dir_fd, const char *name, char **ret);
/* Same, parsed as an unsigned number in base (0: "0x" means hex). */
int sysfs_read_unsigned(const char *root, const char *path, unsigned base, unsigned *ret);
/* Basename of a symlink's target: "driver" -> "bochs-drm", "iommu_group" -> "2".
 * -ENOENT when there is no such link (an unbound device has no "driver"). */
int sysfs_read_link_basename(const char *root, const char *path, char **ret);
/* Same, for name below the directory dir_fd. */
int sysfs_read_link_basename_at(int dir_fd, const char *name, char **ret);
/* Raw symlink target, for /proc/PID/fd/N. */
int read_link(const char *root, const char *path, char **ret);
/* Sorted names in a directory, without "." and "..", only those starting with prefix
 * (all when prefix is NULL). A missing directory is an error (-ENOENT). */
int sysfs_list_dir(const char *root, const char *path, const char *prefix, char ***ret);

/* DIR/NAME variants of the two above for optional attributes and links: 1 when read,
 * 0 when absent (ret untouched), negative errno otherwise. */
int sysfs_read_attr(const char *root, const char *dir, const char *attr, char **ret);
int sysfs_read_attr_link(const char *root, const char *dir, const char *link, char **ret);
/* Same two, for attr and link below the directory dir_fd (a device's, opened once for all
 * its attributes: each read walks one name, not the whole path). */
int sysfs_read_attr_at(int dir_fd, const char *attr, char **ret);
int sysfs_read_attr_link_at(int dir_fd, const char *link, char **ret);

/* Reads one element for directory entry name into ret (zeroed memory of the element's
 * size). Returns 1 to keep it, 0 to skip the entry (ret left as it was), negative errno. */
typedef int (*sysfs_entry_reader_t)(const char *root, const char *name, void *ret);

/* Builds an array of elements of size, one per entry of dir (filtered by prefix, in name
 * order) that read_one keeps. A missing dir yields an empty array (*ret NULL, *ret_n 0).
 * On failure the elements read so far are released with done, and ret_* are untouched. */
int sysfs_read_entries(const char *root, const char *dir, const char *prefix, size_t size,
                       sysfs_entry_reader_t read_one, void (*done)(void *element),
                       void *ret, size_t *ret_n);
