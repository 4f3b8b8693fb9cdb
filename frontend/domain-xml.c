/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The domain XML reader (domain-xml.h): libxml2 on a memory buffer, no network, no
 * entity substitution, no DTD loading, errors kept off stderr. */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "dlopen-util.h"
#include "domain-xml.h"
#include "macro.h"

/* libxml2 is opened at run time (common/dlopen-util.h): with ICU and the C++ runtime
 * behind it, it was half of what the dynamic loader did for every baton command,
 * and only the hook and `baton start` read a domain's XML. */
static __typeof__(xmlReadMemory) *sym_xmlReadMemory;
static __typeof__(xmlDocGetRootElement) *sym_xmlDocGetRootElement;
static __typeof__(xmlGetNoNsProp) *sym_xmlGetNoNsProp;
static __typeof__(xmlFreeDoc) *sym_xmlFreeDoc;
static xmlFreeFunc *sym_xmlFree;        /* libxml2's variable: the free() its strings need */

static int xml_dlopen(void) {
        static const DlSymbol syms[] = {
                DL_SYMBOL(xmlReadMemory),
                DL_SYMBOL(xmlDocGetRootElement),
                DL_SYMBOL(xmlGetNoNsProp),
                DL_SYMBOL(xmlFreeDoc),
                DL_SYMBOL(xmlFree),
        };
        static DlLibrary lib = DL_LIBRARY("libxml2.so.2", "libxml2", syms);

        return dlopen_library(&lib);
}

static void xml_doc_freep(xmlDoc **d) {
        if (*d)
                sym_xmlFreeDoc(*d);
}

static void xml_charp_freep(xmlChar **s) {
        if (*s)
                (*sym_xmlFree)(*s);
}

#define _cleanup_xml_ _cleanup_(xml_charp_freep)

static bool is_element(const xmlNode *n, const char *name) {
        return n->type == XML_ELEMENT_NODE && !n->ns && streq((const char *) n->name, name);
}

static const xmlNode *child_element(const xmlNode *n, const char *name) {
        for (const xmlNode *c = n->children; c; c = c->next)
                if (is_element(c, name))
                        return c;
        return NULL;
}

/* libvirt reads these attributes with base 0 ("0x02", "2"); so do we, within PCI's ranges. */
static int parse_attr_number(const xmlNode *n, const char *attr, unsigned max, unsigned *ret) {
        _cleanup_xml_ xmlChar *v = sym_xmlGetNoNsProp(n, (const xmlChar *) attr);
        unsigned long u;
        char *end;

        if (!v)
                return -EBADMSG;
        errno = 0;
        u = strtoul((const char *) v, &end, 0);
        if (errno != 0 || end == (const char *) v || *end || v[0] == '-' || u > max)
                return -EBADMSG;
        *ret = (unsigned) u;
        return 0;
}

static int parse_source_address(const xmlNode *address, PciAddress *ret) {
        PciAddress a;
        int r;

        r = parse_attr_number(address, "domain", 0xffff, &a.domain);
        if (r >= 0)
                r = parse_attr_number(address, "bus", 0xff, &a.bus);
        if (r >= 0)
                r = parse_attr_number(address, "slot", 0x1f, &a.slot);
        if (r >= 0)
                r = parse_attr_number(address, "function", 7, &a.function);
        if (r < 0)
                return r;
        *ret = a;
        return 0;
}

static bool address_eq(const PciAddress *a, const char *s) {
        PciAddress b;

        return pci_address_parse(s, &b) >= 0 && a->domain == b.domain && a->bus == b.bus &&
               a->slot == b.slot && a->function == b.function;
}

/* The GPU itself, or another member of its IOMMU group. */
static bool address_in_group(const Machine *m, const PciAddress *a) {
        if (address_eq(a, m->gpu->address))
                return true;
        for (size_t i = 0; i < m->group.n_devices; i++)
                if (address_eq(a, m->group.devices[i].pci.address))
                        return true;
        return false;
}

/* 1 and the address of the first PCI hostdev in the GPU's group; 0 when there is none. */
static int find_hostdev(const xmlNode *devices, const Machine *m, PciAddress *ret) {
        for (const xmlNode *h = devices->children; h; h = h->next) {
                _cleanup_xml_ xmlChar *mode = NULL, *type = NULL;
                const xmlNode *source, *address;
                PciAddress a;
                int r;

                if (!is_element(h, "hostdev"))
                        continue;
                mode = sym_xmlGetNoNsProp(h, (const xmlChar *) "mode");
                type = sym_xmlGetNoNsProp(h, (const xmlChar *) "type");
                /* mode defaults to subsystem; capabilities hostdevs are for containers. */
                if ((mode && !streq((const char *) mode, "subsystem")) || !type || !streq((const char *) type, "pci"))
                        continue;
                source = child_element(h, "source");
                address = source ? child_element(source, "address") : NULL;
                if (!address)
                        return -EBADMSG;        /* libvirt refuses a PCI hostdev without one, so do we */
                r = parse_source_address(address, &a);
                if (r < 0)
                        return r;
                if (address_in_group(m, &a)) {
                        *ret = a;
                        return 1;
                }
        }
        return 0;
}

/* baton's element in <metadata>: 1 with *ret_address set (NULL: no address given), 0 when absent. */
static int find_metadata(const xmlNode *metadata, xmlChar **ret_address) {
        for (const xmlNode *c = metadata->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
                    streq((const char *) c->ns->href, BATON_XML_NAMESPACE) && streq((const char *) c->name, "gpu")) {
                        *ret_address = sym_xmlGetNoNsProp(c, (const xmlChar *) "address");
                        return 1;
                }
        return 0;
}

static int decide(const xmlNode *root, const Machine *m, char **ret_reason) {
        const xmlNode *devices = child_element(root, "devices");
        const xmlNode *metadata = child_element(root, "metadata");
        _cleanup_xml_ xmlChar *meta_address = NULL;
        PciAddress a;
        int r;

        if (!machine_has_gpu(m))
                return asprintf(ret_reason, "no display-class GPU on this machine") < 0 ? -ENOMEM : 0;

        r = devices ? find_hostdev(devices, m, &a) : 0;
        if (r < 0)
                return r;
        if (r > 0)
                return asprintf(ret_reason, "hostdev %04x:%02x:%02x.%x is %s", a.domain, a.bus, a.slot, a.function,
                                address_eq(&a, m->gpu->address) ? "the GPU" : "in the GPU's IOMMU group") < 0 ? -ENOMEM : 1;

        r = metadata ? find_metadata(metadata, &meta_address) : 0;
        if (r == 0)
                return asprintf(ret_reason, "no hostdev in the GPU's IOMMU group, no baton metadata") < 0 ? -ENOMEM : 0;
        if (!meta_address)
                return asprintf(ret_reason, "baton metadata asks for the GPU") < 0 ? -ENOMEM : 1;
        if (pci_address_parse((const char *) meta_address, &a) < 0 || !address_in_group(m, &a))
                return -EXDEV;
        return asprintf(ret_reason, "baton metadata names %s", m->gpu->address) < 0 ? -ENOMEM : 1;
}

/* The text of <name>; its text nodes only (libvirt's names hold nothing else). */
static int read_name(const xmlNode *root, char **ret) {
        const xmlNode *name = child_element(root, "name");
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        *ret = NULL;
        if (!name)
                return 0;
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (const xmlNode *c = name->children; c; c = c->next)
                if (c->type == XML_TEXT_NODE && c->content)
                        fputs((const char *) c->content, f);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}

/* The most attributes a start tag has, counted without parsing (in linear time): '='
 * outside quotes between '<' and '>'. Text in comments counts too, which only errs on the
 * side of refusing. */
static size_t max_attributes(const char *xml, size_t n) {
        size_t most = 0, count = 0;
        bool in_tag = false;
        char quote = 0;

        for (size_t i = 0; i < n; i++) {
                char c = xml[i];

                if (quote) {
                        if (c == quote)
                                quote = 0;
                } else if (!in_tag) {
                        if (c == '<')
                                in_tag = true, count = 0;
                } else if (c == '\'' || c == '"')
                        quote = c;
                else if (c == '=' && ++count > most)
                        most = count;
                else if (c == '>')
                        in_tag = false;
        }
        return most;
}

int domain_xml_takes_gpu(const char *xml, size_t n, const Machine *m, char **ret_name, char **ret_reason) {
        _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
        _cleanup_free_ char *name = NULL, *reason = NULL;
        const xmlNode *root;
        int r, takes;

        if (n > DOMAIN_XML_MAX)
                return -E2BIG;
        /* libxml2 checks an element's attributes for duplicates pairwise: 40000 on one
         * element took 3.3 s of CPU, 300000 in <metadata> 13 min. libvirt writes a handful. */
        if (max_attributes(xml, n) > DOMAIN_XML_ATTRIBUTES_MAX)
                return -E2BIG;
        r = xml_dlopen();
        if (r < 0)
                return r;
        /* No XML_PARSE_NOENT: entities stay references, nothing expands. No DTD loads
         * without XML_PARSE_DTDLOAD, and NONET forbids any fetch. */
        doc = sym_xmlReadMemory(xml, (int) n, "domain.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
        if (!doc)
                return -EBADMSG;
        /* libvirt never writes a DOCTYPE. Refusing one keeps entity definitions out,
         * and with them every expansion (xmlGetProp() would expand references). */
        if (doc->intSubset || doc->extSubset)
                return -EBADMSG;
        root = sym_xmlDocGetRootElement(doc);
        if (!root || !is_element(root, "domain"))
                return -EBADMSG;

        takes = decide(root, m, &reason);
        if (takes < 0)
                return takes;
        r = read_name(root, &name);
        if (r < 0)
                return r;
        if (ret_name)
                *ret_name = TAKE_PTR(name);
        if (ret_reason)
                *ret_reason = TAKE_PTR(reason);
        return takes;
}
