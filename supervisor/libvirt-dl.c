/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <errno.h>

#include "libvirt-dl.h"
#include "log.h"

#define LIBVIRT_DEFINE_SYMBOL(f) __typeof__(f) *sym_##f = NULL;
LIBVIRT_SYMBOLS(LIBVIRT_DEFINE_SYMBOL)

int libvirt_dlopen(void) {
        static int result = 1;  /* 1: not tried yet */
        void *dl;

        if (result <= 0)
                return result;
        /* RTLD_NODELETE: the pointers stay valid for the life of the process. */
        dl = dlopen("libvirt.so.0", RTLD_NOW | RTLD_NODELETE);
        if (!dl)
                return result = log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP),
                                                "libvirt is not available (%s): install libvirt0.", dlerror());
#define LIBVIRT_RESOLVE_SYMBOL(f)                                                                       \
        sym_##f = (__typeof__(f) *) dlsym(dl, #f);                                                          \
        if (!sym_##f)                                                                                   \
                return result = log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP),                            \
                                                "libvirt.so.0 has no %s: libvirt is too old.", #f);
        LIBVIRT_SYMBOLS(LIBVIRT_RESOLVE_SYMBOL)
#undef LIBVIRT_RESOLVE_SYMBOL
        return result = 0;
}
