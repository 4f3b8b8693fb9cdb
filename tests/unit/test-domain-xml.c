/* SPDX-License-Identifier: GPL-2.0-or-later */
/* domain_xml_takes_gpu() on fixture domain XMLs, against the lab machine's fixture
 * tree (GPU 0000:00:02.0 and its HDA function 0000:00:02.1 in IOMMU group 2). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain-xml.h"
#include "machine.h"
#include "tests.h"

static Machine *lab, *nogpu;

static char *read_fixture(const char *name, size_t *ret_n) {
        char path[512], *buf = NULL;
        size_t size = 0;
        FILE *f, *m;
        int c;

        snprintf(path, sizeof(path), FIXTURE("domain-xml/%s"), name);
        f = fopen(path, "re");
        if (!f)
                TEST_FAIL("cannot open %s", path);
        m = open_memstream(&buf, &size);
        while ((c = fgetc(f)) != EOF)
                fputc(c, m);
        fclose(f);
        fclose(m);
        *ret_n = size;
        return buf;
}

static int takes(const Machine *m, const char *fixture, char **ret_name, char **ret_reason) {
        _cleanup_free_ char *xml = NULL;
        size_t n;

        xml = read_fixture(fixture, &n);
        return domain_xml_takes_gpu(xml, n, m, ret_name, ret_reason);
}

static void test_gpu_hostdev(void) {
        _cleanup_free_ char *name = NULL, *reason = NULL;

        ASSERT_EQ(takes(lab, "gpu-hostdev.xml", &name, &reason), 1);
        ASSERT_STREQ(name, "win11");
        ASSERT_STREQ(reason, "hostdev 0000:00:02.0 is the GPU");
}

static void test_hda_only(void) {
        _cleanup_free_ char *name = NULL, *reason = NULL;

        /* Any function of the group: vfio-pci must own all of them. Decimal attributes. */
        ASSERT_EQ(takes(lab, "hda-only.xml", &name, &reason), 1);
        ASSERT_STREQ(name, "audio-only");
        ASSERT_STREQ(reason, "hostdev 0000:00:02.1 is in the GPU's IOMMU group");
}

static void test_metadata(void) {
        _cleanup_free_ char *reason = NULL, *reason2 = NULL;

        ASSERT_EQ(takes(lab, "metadata.xml", NULL, &reason), 1);
        ASSERT_STREQ(reason, "baton metadata asks for the GPU");
        ASSERT_EQ(takes(lab, "metadata-address.xml", NULL, &reason2), 1);
        ASSERT_STREQ(reason2, "baton metadata names 0000:00:02.0");
        ASSERT_EQ(takes(lab, "metadata-other-gpu.xml", NULL, NULL), -EXDEV);
        /* Another namespace, or none, is not baton's. */
        ASSERT_EQ(takes(lab, "metadata-wrong-ns.xml", NULL, NULL), 0);
}

static void test_no_gpu(void) {
        _cleanup_free_ char *name = NULL, *reason = NULL;

        ASSERT_EQ(takes(lab, "no-gpu.xml", &name, &reason), 0);
        ASSERT_STREQ(name, "plain");
        ASSERT_STREQ(reason, "no hostdev in the GPU's IOMMU group, no baton metadata");
        /* A machine without GPU: nothing takes it, not even the metadata. */
        ASSERT_EQ(takes(nogpu, "gpu-hostdev.xml", NULL, NULL), 0);
        ASSERT_EQ(takes(nogpu, "metadata.xml", NULL, NULL), 0);
}

static void test_malformed(void) {
        char *name = (char *) "untouched";

        ASSERT_EQ(takes(lab, "malformed.xml", &name, NULL), -EBADMSG);
        ASSERT_STREQ(name, "untouched");
        ASSERT_EQ(takes(lab, "bad-address.xml", NULL, NULL), -EBADMSG);
        ASSERT_EQ(takes(lab, "entities.xml", NULL, NULL), -EBADMSG);
        ASSERT_EQ(domain_xml_takes_gpu("", 0, lab, NULL, NULL), -EBADMSG);
        ASSERT_EQ(domain_xml_takes_gpu("<network/>", 10, lab, NULL, NULL), -EBADMSG);
        ASSERT_EQ(domain_xml_takes_gpu("<domain>", 8, lab, NULL, NULL), -EBADMSG);
        /* n counts, not the NUL: a truncated buffer is malformed. */
        ASSERT_EQ(domain_xml_takes_gpu("<domain/>", 5, lab, NULL, NULL), -EBADMSG);
        ASSERT_EQ(domain_xml_takes_gpu("<domain/>", 9, lab, NULL, NULL), 0);
}

static void test_huge(void) {
        static const char head[] = "<domain type='qemu'><name>big</name><devices>";
        static const char dev[] = "<hostdev mode='subsystem' type='pci'><source>"
                                  "<address domain='0' bus='0' slot='4' function='0'/></source></hostdev>";
        static const char gpu[] = "<hostdev mode='subsystem' type='pci'><source>"
                                  "<address domain='0' bus='0' slot='2' function='1'/></source></hostdev>";
        static const char tail[] = "</devices></domain>";
        size_t n_dev = (DOMAIN_XML_MAX - 1024) / (sizeof(dev) - 1), n = 0;
        char *xml = malloc(DOMAIN_XML_MAX + 2);

        ASSERT_TRUE(xml);
        memcpy(xml, head, sizeof(head) - 1), n += sizeof(head) - 1;
        for (size_t i = 0; i < n_dev; i++)
                memcpy(xml + n, dev, sizeof(dev) - 1), n += sizeof(dev) - 1;
        memcpy(xml + n, gpu, sizeof(gpu) - 1), n += sizeof(gpu) - 1;
        memcpy(xml + n, tail, sizeof(tail) - 1), n += sizeof(tail) - 1;
        /* Just under the limit: read to its end, the GPU's function is the last hostdev. */
        ASSERT_TRUE(n <= DOMAIN_XML_MAX);
        ASSERT_EQ(domain_xml_takes_gpu(xml, n, lab, NULL, NULL), 1);
        /* Over it: refused before parsing. */
        memset(xml, ' ', DOMAIN_XML_MAX + 1);
        ASSERT_EQ(domain_xml_takes_gpu(xml, DOMAIN_XML_MAX + 1, lab, NULL, NULL), -E2BIG);
        free(xml);
}

/* Row 8 of issue 19: libxml2 compares an element's attributes pairwise; 40000 on one element
 * took 3.3 s, 300000 in <metadata> 13 min of the hook's CPU. Refused before parsing. */
static void test_attribute_cap(void) {
        static const char head[] = "<domain type='kvm'><name>vm</name><metadata><x ";
        static const char tail[] = "/></metadata><devices/></domain>";
        size_t cap = 3 * 1024 * 1024, n = 0;
        char *xml = malloc(cap);

        ASSERT_TRUE(xml);
        n += (size_t) sprintf(xml, "%s", head);
        for (unsigned i = 0; i < 40000; i++)
                n += (size_t) sprintf(xml + n, "a%u='%u' ", i, i);
        n += (size_t) sprintf(xml + n, "%s", tail);
        ASSERT_EQ(domain_xml_takes_gpu(xml, n, lab, NULL, NULL), -E2BIG);

        /* 64 attributes, and '=' inside values, are fine. */
        n = (size_t) sprintf(xml, "%s", head);
        for (unsigned i = 0; i < DOMAIN_XML_ATTRIBUTES_MAX; i++)
                n += (size_t) sprintf(xml + n, "a%u='k=v' ", i);
        n += (size_t) sprintf(xml + n, "%s", tail);
        ASSERT_EQ(domain_xml_takes_gpu(xml, n, lab, NULL, NULL), 0);
        /* One more is not. */
        n = (size_t) sprintf(xml, "%s", head);
        for (unsigned i = 0; i <= DOMAIN_XML_ATTRIBUTES_MAX; i++)
                n += (size_t) sprintf(xml + n, "a%u=\"%u\" ", i, i);
        n += (size_t) sprintf(xml + n, "%s", tail);
        ASSERT_EQ(domain_xml_takes_gpu(xml, n, lab, NULL, NULL), -E2BIG);
        free(xml);
}

int main(void) {
        ASSERT_OK(machine_load(FIXTURE("lab"), MACHINE_SKIP_HOLDERS, &lab));
        ASSERT_OK(machine_load(FIXTURE("nogpu"), MACHINE_SKIP_HOLDERS, &nogpu));
        RUN(test_attribute_cap);
        ASSERT_STREQ(lab->gpu->address, "0000:00:02.0");

        RUN(test_gpu_hostdev);
        RUN(test_hda_only);
        RUN(test_metadata);
        RUN(test_no_gpu);
        RUN(test_malformed);
        RUN(test_huge);

        machine_free(lab);
        machine_free(nogpu);
        return 0;
}
