/* SPDX-License-Identifier: GPL-2.0-or-later */
/* machine_load() on the lab fixture tree (tests/unit/fixtures/lab: sysfs, /proc and
 * debugfs) with the contents of its files taken from the input: every reader of
 * PCI attributes, IOMMU groups, vtconsoles, DRM and sound nodes, /proc/PID/fdinfo,
 * maps and the debugfs clients file sees text it did not expect. The tree's shape
 * and its links stay as they are.
 *
 * Input: records, each one byte choosing a file (modulo their number, in name order)
 * followed by its new contents up to a 0x1e byte or the end. Files no record names
 * keep their fixture contents. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "machine.h"
#include "macro.h"
#include "strv.h"
#include "sysfs-util.h"

#define RECORD_SEPARATOR 0x1e
#define FILES_MAX 256

typedef struct TreeFile {
        char *path;             /* absolute, below root */
        char *fixture;          /* its original contents */
        size_t fixture_size;
} TreeFile;

static char root[] = "/tmp/baton-fuzz-sysfs.XXXXXX";
static TreeFile files[FILES_MAX];
static size_t n_files;
static bool dirty[FILES_MAX];         /* holds the previous input's contents */

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        TreeFile *f;

        if (type != FTW_F)
                return 0;
        if (n_files >= FILES_MAX)
                abort();
        f = &files[n_files++];
        f->path = strdup(path);
        if (!f->path || read_full_file(NULL, path, &f->fixture, &f->fixture_size) < 0)
                abort();
        return 0;
}

static int cmp_files(const void *a, const void *b) {
        return strcmp(((const TreeFile *) a)->path, ((const TreeFile *) b)->path);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void remove_tree(void) {
        (void) nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_tree(void) {
        _cleanup_free_ char *cmd = NULL;

        if (!mkdtemp(root))
                abort();
        (void) atexit(remove_tree);
        /* cp -a keeps the relative links of the fixture, which is all they need. */
        if (asprintf(&cmd, "cp -a '%s'/. '%s'/", FIXTURES "/lab", root) < 0 || system(cmd) != 0)
                abort();
        if (nftw(root, collect, 16, FTW_PHYS) != 0 || n_files == 0)
                abort();
        qsort(files, n_files, sizeof(TreeFile), cmp_files);
}

static void write_file(const TreeFile *f, const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = open(f->path, O_WRONLY | O_TRUNC | O_CLOEXEC);

        if (fd < 0)
                abort();
        while (size > 0) {
                ssize_t k = write(fd, data, size);

                if (k < 0)
                        abort();
                data += k;
                size -= (size_t) k;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(machine_freep) Machine *m = NULL;
        bool written[FILES_MAX] = {};
        const uint8_t *p = data, *end = data + size;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        fuzz_setup_log();
        if (n_files == 0)
                setup_tree();

        while (p < end) {
                size_t i = *p++ % n_files;
                const uint8_t *sep = memchr(p, RECORD_SEPARATOR, (size_t) (end - p));
                const uint8_t *stop = sep ?: end;

                write_file(&files[i], p, (size_t) (stop - p));
                written[i] = dirty[i] = true;
                p = sep ? sep + 1 : end;
        }
        for (size_t i = 0; i < n_files; i++)
                if (dirty[i] && !written[i]) {
                        write_file(&files[i], (const uint8_t *) files[i].fixture, files[i].fixture_size);
                        dirty[i] = false;
                }

        if (machine_load(root, 0, &m) < 0)
                return 0;
        (void) machine_drm_master(m);
        (void) machine_card_node(m);
        if (m->gpu && (m->gpu < m->pci || m->gpu >= m->pci + m->n_pci))
                abort();
        return 0;
}
