/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>

#include "console.h"
#include "drm-clients.h"
#include "drm-fdinfo.h"
#include "holders.h"
#include "logind-sessions.h"
#include "pci-device.h"
#include "strv.h"
#include "sysfs-util.h"
#include "tests.h"

static char *fixture_text(const char *name) {
        char *text = NULL;

        ASSERT_OK(read_full_file(FIXTURE("text"), name, &text, NULL));
        return text;
}

static void test_clients_6_1(void) {
        _cleanup_free_ char *text = fixture_text("/clients-6.1.txt");
        DrmClient *c = NULL;
        const DrmClient *m;
        size_t n = 0;

        ASSERT_OK(drm_clients_parse(text, &c, &n));
        ASSERT_EQ(n, 4);
        ASSERT_STREQ(c[0].command, "systemd-logind");
        ASSERT_EQ(c[0].pid, 402);
        ASSERT_FALSE(c[0].master);
        ASSERT_STREQ(c[2].command, "Web Content");      /* a comm with a blank */
        ASSERT_EQ(c[2].minor, 128);
        ASSERT_EQ(c[2].uid, 1000);
        ASSERT_STREQ(c[3].command, "<unknown>");
        ASSERT_EQ(c[3].magic, 3);
        ASSERT_FALSE(c[3].authenticated);

        m = drm_clients_find_master(c, n);
        ASSERT_TRUE(m != NULL);
        ASSERT_STREQ(m->command, "Xorg");
        ASSERT_EQ(m->pid, 1187);
        drm_clients_free(c, n);
}

static void test_clients_with_name_column(void) {
        _cleanup_free_ char *text = fixture_text("/clients-name.txt");
        DrmClient *c = NULL;
        size_t n = 0;

        ASSERT_OK(drm_clients_parse(text, &c, &n));
        ASSERT_EQ(n, 2);
        ASSERT_STREQ(drm_clients_find_master(c, n)->command, "gnome-shell");
        ASSERT_EQ(c[0].pid, 1500);
        ASSERT_EQ(c[0].uid, 120);
        ASSERT_STREQ(c[1].command, "firefox");
        drm_clients_free(c, n);
}

static void test_clients_no_master_and_errors(void) {
        const char *header = "             command   pid dev master a   uid      magic\n";
        DrmClient *c = (DrmClient *) 0x1;
        size_t n = 99;
        char *text;

        /* Only a header: nobody has the device open. */
        ASSERT_OK(drm_clients_parse(header, &c, &n));
        ASSERT_EQ(n, 0);
        ASSERT_NULL(drm_clients_find_master(c, n));
        drm_clients_free(c, n);

        c = (DrmClient *) 0x1;
        n = 99;
        ASSERT_EQ(drm_clients_parse("", &c, &n), -EBADMSG);
        ASSERT_EQ(drm_clients_parse("name pid\nfoo 1\n", &c, &n), -EBADMSG);
        ASSERT_TRUE(asprintf(&text, "%s%s", header, "   cage   412   0   maybe    y     0          0\n") > 0);
        ASSERT_EQ(drm_clients_parse(text, &c, &n), -EBADMSG);
        free(text);
        ASSERT_TRUE(asprintf(&text, "%s%s", header, "  412   0   y    y     0          0\n") > 0);
        ASSERT_EQ(drm_clients_parse(text, &c, &n), -EBADMSG);       /* no command column */
        free(text);
        ASSERT_TRUE(c == (DrmClient *) 0x1);
        ASSERT_EQ(n, 99);
}

static void test_fdinfo_amdgpu(void) {
        _cleanup_free_ char *text = fixture_text("/fdinfo-amdgpu.txt");
        _cleanup_(drm_fdinfo_done) DrmFdinfo f = {};

        ASSERT_EQ(drm_fdinfo_parse(text, &f), 1);
        ASSERT_STREQ(f.driver, "amdgpu");
        ASSERT_STREQ(f.pdev, "0000:03:00.0");
        ASSERT_TRUE(f.has_client_id);
        ASSERT_EQ(f.client_id, 42);
        ASSERT_EQ(f.n_engines, 2);              /* capacity-gfx is not an engine */
        ASSERT_STREQ(f.engines[0].name, "gfx");
        ASSERT_EQ(f.engines[0].busy_ns, 1234567890);
        ASSERT_STREQ(f.engines[1].name, "compute");
        ASSERT_EQ(f.engines[1].busy_ns, 0);
}

static void test_fdinfo_bochs_and_malformed(void) {
        _cleanup_free_ char *text = fixture_text("/fdinfo-bochs.txt");
        _cleanup_(drm_fdinfo_done) DrmFdinfo f = {};

        ASSERT_EQ(drm_fdinfo_parse(text, &f), 0);
        ASSERT_NULL(f.driver);
        ASSERT_FALSE(f.has_client_id);
        ASSERT_EQ(f.n_engines, 0);

        ASSERT_EQ(drm_fdinfo_parse("drm-driver:\ti915\ndrm-engine-render:\t12 ms\n", &f), -EINVAL);
        ASSERT_EQ(drm_fdinfo_parse("drm-client-id:\tseven\n", &f), -EINVAL);
}

static void test_vtcon_names(void) {
        ASSERT_TRUE(vtcon_name_is_fb("(M) frame buffer device"));
        ASSERT_TRUE(vtcon_name_is_fb("(S) frame buffer device"));
        ASSERT_FALSE(vtcon_name_is_fb("(S) dummy device"));
        ASSERT_FALSE(vtcon_name_is_fb("(S) VGA+"));
        ASSERT_FALSE(vtcon_name_is_fb(NULL));
}

static void test_firmware_fb_names(void) {
        ASSERT_TRUE(firmware_fb_name_match("efi-framebuffer.0"));
        ASSERT_TRUE(firmware_fb_name_match("simple-framebuffer.0"));
        ASSERT_TRUE(firmware_fb_name_match("vesa-framebuffer.0"));
        ASSERT_FALSE(firmware_fb_name_match("serial8250"));
        ASSERT_FALSE(firmware_fb_name_match("efi-framebuffer"));
        ASSERT_TRUE(firmware_fb_driver_match("simpledrm"));
        ASSERT_FALSE(firmware_fb_driver_match("serial8250"));
        ASSERT_FALSE(firmware_fb_driver_match(NULL));
}

static void test_maps_lines(void) {
        ASSERT_STREQ(proc_maps_line_path("7f3a2c000000-7f3a2c300000 rw-s 100000000 00:05 187        /dev/dri/card0"),
                     "/dev/dri/card0");
        ASSERT_STREQ(proc_maps_line_path("7ffd5a3c1000-7ffd5a3e2000 rw-p 00000000 00:00 0 [stack]"), "[stack]");
        ASSERT_NULL(proc_maps_line_path("7f3a10000000-7f3a10021000 rw-p 00000000 00:00 0 "));
        ASSERT_NULL(proc_maps_line_path("garbage"));
}

static void test_node_matches(void) {
        char *nodes[] = { (char *) "/dev/dri/card0", (char *) "/dev/snd/controlC0", NULL };

        ASSERT_TRUE(holder_node_matches(nodes, "/dev/dri/card0"));
        ASSERT_TRUE(holder_node_matches(nodes, "/dev/snd/controlC0"));
        ASSERT_TRUE(holder_node_matches(nodes, "/dev/fb0"));
        ASSERT_TRUE(holder_node_matches(nodes, "/dev/nvidia-modeset"));
        ASSERT_TRUE(holder_node_matches(NULL, "/dev/kfd"));
        ASSERT_FALSE(holder_node_matches(nodes, "/dev/dri/card1"));
        ASSERT_FALSE(holder_node_matches(nodes, "/dev/snd/controlC1"));
        ASSERT_FALSE(holder_node_matches(nodes, "socket:[123]"));
}

static void test_pci_address(void) {
        PciAddress a = {};

        ASSERT_OK(pci_address_parse("0000:01:00.1", &a));
        ASSERT_EQ(a.bus, 1);
        ASSERT_EQ(a.function, 1);
        ASSERT_EQ(pci_address_parse("0000:01:00", &a), -EINVAL);
        ASSERT_EQ(pci_address_parse("0000:01:00.1x", &a), -EINVAL);
        ASSERT_EQ(pci_address_parse("0000:01:20.0", &a), -EINVAL);      /* slot > 0x1f */
        ASSERT_TRUE(pci_address_same_slot("0000:00:02.0", "0000:00:02.1"));
        ASSERT_FALSE(pci_address_same_slot("0000:00:02.0", "0000:00:03.0"));
        ASSERT_FALSE(pci_address_same_slot("0000:00:02.0", "0000:01:02.0"));
        ASSERT_FALSE(pci_address_same_slot("0000:00:02.0", "bogus"));
}

static void test_pci_classes(void) {
        ASSERT_TRUE(pci_class_is_display(0x030000));
        ASSERT_TRUE(pci_class_is_display(0x038000));
        ASSERT_FALSE(pci_class_is_display(0x040300));
        ASSERT_TRUE(pci_class_is_audio(0x040300));
        ASSERT_FALSE(pci_class_is_audio(0x040100));
        ASSERT_TRUE(pci_class_is_bridge(0x060400));
        ASSERT_FALSE(pci_class_is_bridge(0x060000));
        ASSERT_STREQ(pci_class_name(0x010802), "nvme");
        ASSERT_STREQ(pci_class_name(0x0c0330), "usb");
        ASSERT_NULL(pci_class_name(0xffff00));
}

static void test_logind_session(void) {
        _cleanup_(logind_session_done) LogindSession s = {};
        _cleanup_(logind_session_done) LogindSession bare = {};
        LogindSession untouched = { .uid = 77 };

        ASSERT_OK(logind_session_parse("2", "# This is private data. Do not parse.\nUID=1000\n"
                                       "USER=labdesk\nACTIVE=1\nTYPE=wayland\nCLASS=user\nLEADER=1290\n"
                                       "CONTROLLER=:1.41\nDEVICES=13:66 226:0 \n", &s));
        ASSERT_STREQ(s.id, "2");
        ASSERT_STREQ(s.user, "labdesk");
        ASSERT_EQ(s.uid, 1000);
        ASSERT_STREQ(s.class, "user");
        ASSERT_STREQ(s.type, "wayland");
        ASSERT_EQ(s.leader, 1290);
        ASSERT_TRUE(s.active);
        ASSERT_STREQ(s.controller, ":1.41");
        ASSERT_EQ(strv_length(s.devices), 2);
        ASSERT_STREQ(s.devices[1], "226:0");
        ASSERT_TRUE(logind_session_by_device(&s, 1, "226:0") == &s);
        ASSERT_NULL(logind_session_by_device(&s, 1, "226:128"));

        /* No controller: no devices; what is not said is said so. */
        ASSERT_OK(logind_session_parse("c1", "UID=115\n", &bare));
        ASSERT_STREQ(bare.user, "uid 115");
        ASSERT_STREQ(bare.class, "?");
        ASSERT_NULL(bare.devices);
        ASSERT_FALSE(bare.active);

        ASSERT_EQ(logind_session_parse("3", "USER=x\n", &untouched), -EBADMSG);
        ASSERT_EQ(logind_session_parse("3", "UID=-1\n", &untouched), -EBADMSG);
        ASSERT_EQ(logind_session_parse("3", "UID=1\nLEADER=zero\n", &untouched), -EBADMSG);
        ASSERT_EQ(untouched.uid, 77);
}

int main(void) {
        RUN(test_clients_6_1);
        RUN(test_clients_with_name_column);
        RUN(test_clients_no_master_and_errors);
        RUN(test_fdinfo_amdgpu);
        RUN(test_fdinfo_bochs_and_malformed);
        RUN(test_vtcon_names);
        RUN(test_firmware_fb_names);
        RUN(test_maps_lines);
        RUN(test_node_matches);
        RUN(test_pci_address);
        RUN(test_pci_classes);
        RUN(test_logind_session);
        return 0;
}
