/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include "machine.h"

/* Reads a libvirt domain XML (what a hook gets on stdin, what virDomainGetXMLDesc
 * returns) and decides whether the domain takes this machine's GPU. A pure function
 * on a memory buffer: no file, no network, no libvirt call; the fuzzer's entry point.
 *
 * A domain takes the GPU when
 *   - it has a <hostdev mode='subsystem' type='pci'> whose <source><address .../>
 *     is the GPU or any other function of the GPU's IOMMU group (its HDMI audio, a
 *     USB-C controller on the card): vfio-pci must own the whole group, or
 *   - its <metadata> holds baton's element, in baton's namespace:
 *
 *         <metadata>
 *           <baton:gpu xmlns:baton="https://baton.invalid/1"/>
 *         </metadata>
 *
 *     An optional address="0000:01:00.0" names the GPU; without it the domain
 *     means whatever GPU baton manages. The metadata is for domains that get the
 *     card some other way (a <qemu:commandline>, a managed='no' script) or none at
 *     all (the lab runs one to exercise the hooks without a passthrough device).
 *
 * The namespace URI is https://baton.invalid/1 (".invalid" never resolves: it is a
 * name, not a location); the prefix is free, libvirt keeps one element per
 * namespace. Version 1 knows only the element "gpu" and its attribute "address".
 *
 * Returns 1 when the domain takes the GPU, 0 when it does not (also on a machine
 * without GPU), -EBADMSG when the XML is malformed or is not a <domain>, -E2BIG
 * when it is larger than DOMAIN_XML_MAX or an element has more than
 * DOMAIN_XML_ATTRIBUTES_MAX attributes (both checked before parsing), -EXDEV when baton's metadata names a GPU
 * that is not this machine's (a config meant for another machine must not start
 * the VM without its GPU, or with the wrong one), -ENOMEM. ret_name (the domain's
 * <name>, may be NULL when it has none) and ret_reason (one line: why it takes the
 * GPU, or why not) are set on 0 and 1 only, and are optional. */

#define DOMAIN_XML_MAX (4u * 1024 * 1024)
#define DOMAIN_XML_ATTRIBUTES_MAX 64u
#define BATON_XML_NAMESPACE "https://baton.invalid/1"

int domain_xml_takes_gpu(const char *xml, size_t n, const Machine *m, char **ret_name, char **ret_reason);
