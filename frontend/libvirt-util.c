/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "domain-xml.h"
#include "libvirt-util.h"
#include "strv.h"

int libvirt_error(const char **ret_message) {
        virErrorPtr e = sym_virGetLastError();

        if (ret_message)
                *ret_message = e && e->message ? e->message : "unknown libvirt error";
        if (!e)
                return -EIO;
        switch (e->code) {
        case VIR_ERR_NO_DOMAIN:
                return -ENOENT;
        case VIR_ERR_NO_CONNECT:
        case VIR_ERR_SYSTEM_ERROR:
        case VIR_ERR_RPC:
                return -ECONNREFUSED;
        case VIR_ERR_AUTH_FAILED:
        case VIR_ERR_AUTH_CANCELLED:
        case VIR_ERR_ACCESS_DENIED:
        case VIR_ERR_OPERATION_DENIED:
                return -EACCES;
        default:
                return -EIO;
        }
}

static void ignore_error(void *userdata, virErrorPtr e) {
}

void libvirt_quiet(void) {
        sym_virSetErrorFunc(NULL, ignore_error);
}

int libvirt_domain_takes_gpu(virConnectPtr conn, const char *vm, const Machine *m, char **ret_reason) {
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        _cleanup_free_ char *xml = NULL;

        dom = sym_virDomainLookupByName(conn, vm);
        if (!dom)
                return libvirt_error(NULL);
        /* The persistent definition: what the next start will use. */
        xml = sym_virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
        if (!xml)
                return libvirt_error(NULL);
        return domain_xml_takes_gpu(xml, strlen(xml), m, NULL, ret_reason);
}

int libvirt_gpu_domains(virConnectPtr conn, const Machine *m, char ***ret) {
        _cleanup_strv_free_ char **found = NULL;
        virDomainPtr *doms = NULL;
        int n, r = 0;

        n = sym_virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_PERSISTENT);
        if (n < 0)
                return libvirt_error(NULL);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *xml = sym_virDomainGetXMLDesc(doms[i], VIR_DOMAIN_XML_INACTIVE);

                /* A domain whose XML we cannot read or that names another GPU is not a candidate. */
                if (r >= 0 && xml && domain_xml_takes_gpu(xml, strlen(xml), m, NULL, NULL) > 0)
                        r = strv_extend(&found, sym_virDomainGetName(doms[i]));
                sym_virDomainFree(doms[i]);
        }
        free(doms);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(found);
        return 0;
}
