/* SPDX-License-Identifier: GPL-2.0-or-later */

/* baton doctor on fixture trees: each check's verdict and the words a user acts on. The
 * checks that need the live system (libkmod, systemd) say skip under a fixture root; the
 * lab scenario "doctor" runs them for real. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "doctor.h"
#include "tests.h"

#define KEYBOARD_KEYS "402000000 3803078f800d001 feffffdfffefffff fffffffffffffffe"
#define MOUSE_KEYS "70000 0 0 0 0"

static char *run(const char *root, const char *config_dir, int *ret_fails) {
        DoctorOptions o = { .root = root, .config_dir = config_dir };
        char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        ASSERT_TRUE(f);
        *ret_fails = doctor_run(&o, f);
        ASSERT_EQ(fclose(f), 0);
        fputs(text, stdout);
        return text;
}

#define ASSERT_LINE(text, line)                                                 \
        do {                                                                    \
                if (!strstr((text), (line)))                                    \
                        TEST_FAIL("no line with \"%s\" in the report", (line)); \
        } while (0)

static char *write_config(const char *body) {
        char *dir = strdup("/tmp/test-doctor-XXXXXX"), *path = NULL;
        FILE *f;

        ASSERT_TRUE(dir && mkdtemp(dir));
        ASSERT_TRUE(asprintf(&path, "%s/baton.conf", dir) > 0);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs(body, f);
        ASSERT_EQ(fclose(f), 0);
        free(path);
        return dir;
}

static void remove_config(char *dir) {
        char *path = NULL;

        ASSERT_TRUE(asprintf(&path, "%s/baton.conf", dir) > 0);
        (void) unlink(path);
        (void) rmdir(dir);
        free(path);
        free(dir);
}

static void test_verdict_strings(void) {
        ASSERT_STREQ(doctor_verdict_to_string(DOCTOR_PASS), "pass");
        ASSERT_STREQ(doctor_verdict_to_string(DOCTOR_WARN), "warn");
        ASSERT_STREQ(doctor_verdict_to_string(DOCTOR_FAIL), "fail");
        ASSERT_STREQ(doctor_verdict_to_string(DOCTOR_SKIP), "skip");
        ASSERT_NULL(doctor_verdict_to_string(_DOCTOR_VERDICT_MAX));
}

static void test_input_caps(void) {
        ASSERT_TRUE(input_caps_is_keyboard("120013", KEYBOARD_KEYS));
        ASSERT_FALSE(input_caps_is_mouse("120013", KEYBOARD_KEYS, "0"));
        ASSERT_TRUE(input_caps_is_mouse("17", MOUSE_KEYS, "903"));
        ASSERT_FALSE(input_caps_is_keyboard("17", MOUSE_KEYS));
        /* A power button has keys, not a keyboard's. */
        ASSERT_FALSE(input_caps_is_keyboard("3", "10000000000000 0"));
        /* A touchpad without REL_X/REL_Y is no mouse for the router. */
        ASSERT_FALSE(input_caps_is_mouse("b", "e520 10000 0 0 0 0", "0"));
        ASSERT_FALSE(input_caps_is_keyboard(NULL, NULL));
        ASSERT_FALSE(input_caps_is_mouse("", "", ""));
}

static void test_lab(void) {
        _cleanup_free_ char *text = NULL;
        int fails;

        text = run(FIXTURES "/lab", FIXTURES "/config/none", &fails);
        ASSERT_LINE(text, "pass  iommu               the IOMMU is on: 4 IOMMU groups");
        ASSERT_LINE(text, "pass  gpu                 0000:00:02.0 [1234:1111] display, driver bochs-drm");
        ASSERT_LINE(text, "pass  iommu-group         group 2 holds only the card: 0000:00:02.0 display "
                    "(bochs-drm), 0000:00:02.1 audio (snd_hda_intel)");
        ASSERT_LINE(text, "pass  firmware-fb         no firmware framebuffer (the GPU's driver took");
        ASSERT_LINE(text, "skip  vfio-modules        not looked up");
        ASSERT_LINE(text, "skip  display-manager     display-manager.service not looked up");
        ASSERT_LINE(text, "fail  libvirt-hook        /etc/libvirt/hooks/qemu.d/baton is not installed");
        ASSERT_LINE(text, "pass  audio               0000:00:02.1 (driver snd_hda_intel) is ALSA card0");
        ASSERT_LINE(text, "pass  host-tuning         no host tuning configured ([tuning] in baton.conf)");
        ASSERT_LINE(text, "pass  user-stages         no stages of your own in " FIXTURES "/config/none/stages.d");
        ASSERT_EQ(fails, 1);
}

static void test_lab_boot(void) {
        _cleanup_free_ char *text = NULL;
        int fails;

        text = run(FIXTURES "/lab-boot", FIXTURES "/config/none", &fails);
        ASSERT_LINE(text, "pass  firmware-fb         efi-framebuffer.0 (EFI GOP, efifb) is bound to "
                    "efi-framebuffer: it maps the GPU's memory and must be unbound");
        /* Row 20 of issue 19: said before the handover, with what to do about it. */
        ASSERT_LINE(text, "warn  firmware-fb         efi-framebuffer.0: the GPU has no native driver: the kernel "
                    "removes the firmware framebuffer for good when vfio-pci takes the GPU, so the text console "
                    "(and a display manager drawing on /dev/fb0) cannot come back until the next boot; fix: "
                    "install and load the GPU's own driver");
}

static void test_nogpu(void) {
        _cleanup_free_ char *text = NULL;
        int fails;

        text = run(FIXTURES "/nogpu", FIXTURES "/config/none", &fails);
        ASSERT_LINE(text, "fail  gpu                 no GPU: this machine has no display-class PCI device");
        ASSERT_LINE(text, "skip  iommu-group         no GPU");
        ASSERT_LINE(text, "skip  audio               no GPU");
        ASSERT_TRUE(fails >= 2);
}

static void test_shared_group(void) {
        _cleanup_free_ char *text = NULL;
        char *dir;
        int fails;

        text = run(FIXTURES "/shared-group", FIXTURES "/config/none", &fails);
        ASSERT_LINE(text, "fail  iommu-group         group 1 is not viable for the card alone: it also holds "
                    "0000:02:00.0 nvme (nvme); fix: put the card in a slot");
        ASSERT_LINE(text, "simple-framebuffer.0 (simple framebuffer, simpledrm or simplefb) is bound");
        free(text);

        dir = write_config("[gpu]\nallow-foreign-devices = yes\n");
        text = run(FIXTURES "/shared-group", dir, &fails);
        ASSERT_LINE(text, "warn  iommu-group         group 1 also holds 0000:02:00.0 nvme (nvme)");
        remove_config(dir);
}

static void test_input_hook_persistenced(void) {
        _cleanup_free_ char *text = NULL;
        char *dir;
        int fails;

        text = run(FIXTURES "/doctor", FIXTURES "/config/none", &fails);
        ASSERT_LINE(text, "fail  iommu               the IOMMU is off");
        ASSERT_LINE(text, "intel_iommu=on");
        ASSERT_LINE(text, "pass  libvirt-hook        /etc/libvirt/hooks/qemu.d/baton is installed and executable");
        ASSERT_LINE(text, "warn  nvidia-persistenced running (pid 77)");
        /* baton's own guest devices ("baton keyboard") are left out; the power button is no keyboard. */
        ASSERT_LINE(text, "pass  input               keyboards: \"AT Translated Set 2 keyboard\" (event1); "
                    "mice: \"Logitech USB Optical Mouse\" (event2)\n");
        free(text);

        dir = write_config("[input]\ndevices = usb-Fake_Keyboard-event-kbd name:\"Logitech USB Optical Mouse\" "
                           "usb-Gone-event-mouse /dev/input/event9\n");
        text = run(FIXTURES "/doctor", dir, &fails);
        ASSERT_LINE(text, "fail  input               configured devices not found: usb-Gone-event-mouse, "
                    "/dev/input/event9; fix:");
        remove_config(dir);
}

static void test_bad_config(void) {
        _cleanup_free_ char *text = NULL;
        char *dir;
        int fails;

        dir = write_config("[gpu]\n\nnope = 1\n");
        text = run(FIXTURES "/lab", dir, &fails);
        ASSERT_LINE(text, "fail  config              ");
        ASSERT_LINE(text, "/baton.conf:3: unknown key 'nope' in section [gpu]; doctor goes on with the built-in "
                    "defaults; fix:");
        /* The other checks still ran. */
        ASSERT_LINE(text, "pass  gpu ");
        ASSERT_EQ(fails, 2);
        remove_config(dir);
}

int main(void) {
        RUN(test_verdict_strings);
        RUN(test_input_caps);
        RUN(test_lab);
        RUN(test_lab_boot);
        RUN(test_nogpu);
        RUN(test_shared_group);
        RUN(test_input_hook_persistenced);
        RUN(test_bad_config);
        return EXIT_SUCCESS;
}
