/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfio-group-status /dev/vfio/N: asks the kernel whether a VFIO group is
 * viable (every device of the group bound to a VFIO driver or none), the way
 * QEMU does before it takes the group. Exit 0 when viable, 1 when not, 2 on
 * errors. A lab tool: run in the guest only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

int main(int argc, char *argv[]) {
        struct vfio_group_status status = { .argsz = sizeof(status) };
        int container, group;

        if (argc != 2) {
                fprintf(stderr, "usage: %s /dev/vfio/GROUP\n", argv[0]);
                return 2;
        }
        container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
        if (container < 0) {
                fprintf(stderr, "open /dev/vfio/vfio: %s\n", strerror(errno));
                return 2;
        }
        if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
                fprintf(stderr, "unknown VFIO API version\n");
                return 2;
        }
        group = open(argv[1], O_RDWR | O_CLOEXEC);
        if (group < 0) {
                fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) < 0) {
                fprintf(stderr, "VFIO_GROUP_GET_STATUS: %s\n", strerror(errno));
                return 2;
        }
        printf("%s: flags 0x%x: %s\n", argv[1], status.flags,
               status.flags & VFIO_GROUP_FLAGS_VIABLE ? "viable" : "not viable");
        close(group);
        close(container);
        return status.flags & VFIO_GROUP_FLAGS_VIABLE ? 0 : 1;
}
