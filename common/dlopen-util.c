/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <errno.h>

#include "dlopen-util.h"
#include "log.h"

static int dlopen_symbols(const char *soname, const char *package, const DlSymbol *syms, size_t n) {
        void *dl;

        /* RTLD_NODELETE: the resolved pointers stay valid whatever happens to dl. */
        dl = dlopen(soname, RTLD_NOW | RTLD_NODELETE);
        if (!dl)
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP), "%s is not available (%s): install %s.",
                                       soname, dlerror(), package);
        for (size_t i = 0; i < n; i++) {
                *syms[i].ptr = dlsym(dl, syms[i].name);
                if (!*syms[i].ptr) {
                        (void) dlclose(dl);
                        return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP), "%s has no %s: %s is too old.",
                                               soname, syms[i].name, package);
                }
        }
        (void) dlclose(dl);     /* NODELETE: the library stays */
        return 0;
}

int dlopen_library(DlLibrary *l) {
        if (l->result > 0)
                l->result = dlopen_symbols(l->soname, l->package, l->syms, l->n_syms);
        return l->result;
}
