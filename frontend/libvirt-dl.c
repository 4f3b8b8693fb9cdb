/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dlopen-util.h"
#include "libvirt-dl.h"
#include "macro.h"

#define LIBVIRT_DEFINE_SYMBOL(f) __typeof__(f) *sym_##f = NULL;
LIBVIRT_SYMBOLS(LIBVIRT_DEFINE_SYMBOL)

int libvirt_dlopen(void) {
#define LIBVIRT_ENTRY(f) DL_SYMBOL(f),
        static const DlSymbol syms[] = { LIBVIRT_SYMBOLS(LIBVIRT_ENTRY) };
#undef LIBVIRT_ENTRY
        static DlLibrary lib = DL_LIBRARY("libvirt.so.0", "libvirt0", syms);

        return dlopen_library(&lib);
}
