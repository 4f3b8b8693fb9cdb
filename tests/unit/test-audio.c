/* SPDX-License-Identifier: GPL-2.0-or-later */
/* audio/audio-cards: the group's sound cards, their nodes, and PipeWire's devices matched
 * to them, with the properties the lab's PipeWire 0.3.65 gives its ALSA devices. */
#include <errno.h>

#include "audio-cards.h"
#include "tests.h"

static void test_nodes(void) {
        ASSERT_TRUE(audio_node_of_card("/dev/snd/controlC0", 0));
        ASSERT_TRUE(audio_node_of_card("/dev/snd/pcmC0D3p", 0));
        ASSERT_TRUE(audio_node_of_card("/dev/snd/hwC0D0", 0));
        ASSERT_TRUE(audio_node_of_card("/dev/snd/pcmC12D0c", 12));
        ASSERT_FALSE(audio_node_of_card("/dev/snd/controlC1", 0));
        ASSERT_FALSE(audio_node_of_card("/dev/snd/pcmC10D0p", 1));
        ASSERT_FALSE(audio_node_of_card("/dev/snd/pcmC1", 1));
        ASSERT_FALSE(audio_node_of_card("/dev/snd/seq", 0));
        ASSERT_FALSE(audio_node_of_card("/dev/snd/timer", 0));
        ASSERT_FALSE(audio_node_of_card("/dev/dri/card0", 0));
}

static void test_matches(void) {
        const char *gpu = "0000:00:02.1", *other = "0000:00:04.0";

        ASSERT_TRUE(audio_device_matches("0", "pci-0000:00:02.1", "/devices/pci0000:00/0000:00:02.1/sound/card0",
                                         gpu, 0));
        /* The path wins over a card number that changed on rebind. */
        ASSERT_TRUE(audio_device_matches("3", "pci-0000:00:02.1", NULL, gpu, -1));
        ASSERT_FALSE(audio_device_matches("1", "pci-0000:00:04.0", "/devices/pci0000:00/0000:00:04.0/sound/card1",
                                          gpu, 0));
        ASSERT_TRUE(audio_device_matches(NULL, NULL, "/devices/pci0000:00/0000:00:04.0/sound/card1", other, 1));
        ASSERT_FALSE(audio_device_matches(NULL, NULL, "/devices/pci0000:00/0000:00:02.10/sound/card1", gpu, 1));
        ASSERT_FALSE(audio_device_matches(NULL, NULL, "/devices/pci0000:00/10000:00:02.1/sound/card1", gpu, 1));
        /* No path at all: the card number, when known. */
        ASSERT_TRUE(audio_device_matches("0", NULL, NULL, gpu, 0));
        ASSERT_FALSE(audio_device_matches("0", NULL, NULL, gpu, -1));
        ASSERT_FALSE(audio_device_matches(NULL, NULL, NULL, gpu, 0));
        /* A USB card's bus path is not a PCI function's. */
        ASSERT_FALSE(audio_device_matches("2", "pci-0000:00:14.0-usb-0:1:1.0", NULL, "0000:00:14.0", 2));
}

static void test_names(void) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        ASSERT_OK(audio_reserve_device_name(0, &a));
        ASSERT_STREQ(a, "Audio0");
        ASSERT_OK(audio_reserve_device_name(17, &b));
        ASSERT_STREQ(b, "Audio17");
}

/* Row 11 of issue 19: a holder from another account does not pick the bus root talks to. */
static void test_pick_user(void) {
        uid_t u = 0;

        ASSERT_OK(audio_pick_user(0, 1000, 0, 1001, &u));
        ASSERT_EQ(u, 1000);
        ASSERT_OK(audio_pick_user(-ENXIO, 0, 0, 1001, &u));
        ASSERT_EQ(u, 1001);
        ASSERT_EQ(audio_pick_user(-ENXIO, 0, -ENXIO, 0, &u), -ENXIO);
}

/* Row 13 of issue 19: which holders PipeWire's release takes away, and which are waited for. */
static void test_holder_is_pipewire(void) {
        const char *pw = "0::/user.slice/user-1000.slice/user@1000.service/session.slice/pipewire.service";
        const char *wp = "0::/user.slice/user-1000.slice/user@1000.service/session.slice/wireplumber.service";
        const char *app = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-aplay-1.scope";

        ASSERT_TRUE(audio_holder_is_pipewire("pipewire", pw));
        ASSERT_TRUE(audio_holder_is_pipewire("wireplumber", wp));
        ASSERT_TRUE(audio_holder_is_pipewire("data-loop.0", pw));       /* a thread's name: the unit tells */
        ASSERT_TRUE(audio_holder_is_pipewire("pipewire-pulse", NULL));  /* outside systemd: the comm tells */
        ASSERT_TRUE(audio_holder_is_pipewire("wireplumber", "0::/user.slice/user-1000.slice/session-2.scope"));
        ASSERT_FALSE(audio_holder_is_pipewire("aplay", app));
        ASSERT_FALSE(audio_holder_is_pipewire("aplay", "0::/system.slice/pipewire.service.d"));
        ASSERT_FALSE(audio_holder_is_pipewire("aplay", "0::/user.slice/fake-pipewire.service"));
        ASSERT_FALSE(audio_holder_is_pipewire("pipewire2", NULL));
        ASSERT_FALSE(audio_holder_is_pipewire(NULL, NULL));
}

int main(void) {
        RUN(test_holder_is_pipewire);
        RUN(test_pick_user);
        RUN(test_nodes);
        RUN(test_matches);
        RUN(test_names);
        return 0;
}
