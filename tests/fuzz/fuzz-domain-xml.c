/* SPDX-License-Identifier: GPL-2.0-or-later */
/* domain_xml_takes_gpu() on the input as a libvirt domain XML: what the libvirt hook
 * reads from stdin, against the lab machine's fixture tree (GPU 0000:00:02.0, HDA
 * 0000:00:02.1 in its IOMMU group) and a machine without GPU. */
#include <errno.h>

#include "domain-xml.h"
#include "fuzz.h"
#include "machine.h"
#include "macro.h"

#define DOMAIN_FUZZ_INPUT_MAX (1024 * 1024)

static Machine *lab, *nogpu;

static void check(const uint8_t *data, size_t size, const Machine *m) {
        _cleanup_free_ char *name = NULL, *reason = NULL;
        int r;

        r = domain_xml_takes_gpu((const char *) data, size, m, &name, &reason);
        if (r != 0 && r != 1 && r != -EBADMSG && r != -EXDEV && r != -ENOMEM && r != -E2BIG)
                abort();
        /* The reason is set exactly when there is a decision. */
        if ((r == 0 || r == 1) != (reason != NULL))
                abort();
        if (!machine_has_gpu(m) && r == 1)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Larger than the other targets' inputs: tests/fuzz/run lets this one reach 1 MiB. */
        if (size > DOMAIN_FUZZ_INPUT_MAX)
                return 0;
        if (!lab) {
                fuzz_setup_log();
                if (machine_load(FIXTURES "/lab", MACHINE_SKIP_HOLDERS, &lab) < 0 ||
                    machine_load(FIXTURES "/nogpu", MACHINE_SKIP_HOLDERS, &nogpu) < 0)
                        abort();
        }
        check(data, size, lab);
        check(data, size, nogpu);
        return 0;
}
