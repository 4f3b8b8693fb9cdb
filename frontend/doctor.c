/* SPDX-License-Identifier: GPL-2.0-or-later */
/* doctor: one read-only check after the other, each printed as one line with its verdict and,
 * when it is not a pass, what to do about it. The checks reuse the machine model the engine
 * observes with, so what doctor says is what a handover would find. */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <systemd/sd-bus.h>


#include "config-file.h"
#include "display-manager.h"
#include "doctor.h"
#include "engine.h"
#include "drm-idle.h"
#include "firmware-fb.h"
#include "kmod-util.h"
#include "log.h"
#include "machine.h"
#include "parse-util.h"
#include "stage.h"
#include "macro.h"
#include "strv.h"
#include "sysfs-util.h"
#include "unit-job.h"

#define LIBVIRT_HOOK "/etc/libvirt/hooks/qemu.d/baton"
#define DOCTOR_UNIT_TIMEOUT_USEC (5ULL * 1000 * 1000)

/* Event types and codes of linux/input-event-codes.h that the heuristics need. */
#define EV_KEY_BIT 1u
#define EV_REL_BIT 2u
#define REL_X_BIT 0u
#define REL_Y_BIT 1u
#define BTN_LEFT_BIT 0x110u

typedef struct Doctor {
        const DoctorOptions *options;
        FILE *f;
        const Config *config;
        unsigned count[_DOCTOR_VERDICT_MAX];
} Doctor;

static const char *const doctor_verdict_table[_DOCTOR_VERDICT_MAX] = {
        [DOCTOR_PASS] = "pass",
        [DOCTOR_WARN] = "warn",
        [DOCTOR_FAIL] = "fail",
        [DOCTOR_SKIP] = "skip",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(doctor_verdict, DoctorVerdict);

static bool live(const Doctor *d) {
        return streq(d->options->root, "/");
}

/* One line: verdict, check, what was found, and the fix when there is one. */
static void report(Doctor *d, DoctorVerdict v, const char *check, const char *fix, const char *format, ...)
        _printf_(5, 6);
static void report(Doctor *d, DoctorVerdict v, const char *check, const char *fix, const char *format, ...) {
        va_list ap;

        d->count[v]++;
        fprintf(d->f, "%s  %-19s ", doctor_verdict_to_string(v), check);
        va_start(ap, format);
        vfprintf(d->f, format, ap);
        va_end(ap);
        if (fix)
                fprintf(d->f, "; fix: %s", fix);
        fputc('\n', d->f);
}

/* --- Bit maps as sysfs prints them --- */

static bool bitmap_test(const char *map, unsigned bit) {
        _cleanup_strv_free_ char **words = NULL;
        const unsigned word_bits = sizeof(unsigned long) * 8;
        const char *p = map;
        size_t n, index;

        if (!map)
                return false;
        while (*p) {
                size_t l;

                p += strspn(p, " \t\n");
                l = strcspn(p, " \t\n");
                if (l == 0)
                        break;
                if (strv_consume(&words, strndup(p, l)) < 0)
                        return false;
                p += l;
        }
        n = strv_length(words);
        index = bit / word_bits;
        if (index >= n)
                return false;
        /* The most significant word comes first. */
        return (strtoul(words[n - 1 - index], NULL, 16) >> (bit % word_bits)) & 1;
}

bool input_caps_is_keyboard(const char *ev, const char *key) {
        /* Letters, digits row, space and enter: what a keyboard has and a power button lacks. */
        static const unsigned keys[] = { 2, 16, 28, 30, 44, 57 };  /* KEY_1, _Q, _ENTER, _A, _Z, _SPACE */

        if (!bitmap_test(ev, EV_KEY_BIT))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (!bitmap_test(key, keys[i]))
                        return false;
        return true;
}

bool input_caps_is_mouse(const char *ev, const char *key, const char *rel) {
        return bitmap_test(ev, EV_KEY_BIT) && bitmap_test(ev, EV_REL_BIT) && bitmap_test(key, BTN_LEFT_BIT) &&
                bitmap_test(rel, REL_X_BIT) && bitmap_test(rel, REL_Y_BIT);
}

/* --- Configuration --- */

/* config_load() logs its one error; doctor shows it on its own line instead, so stderr is
 * diverted to a temporary file for the call. Returns config_load()'s result. */
static int load_config_captured(const char *dir, Config *c, char **ret_message) {
        _cleanup_fclose_ FILE *tmp = NULL;
        _cleanup_close_ int saved = -EBADF;
        LogTarget target = log_target_resolve();
        char line[2048] = "";
        int r;

        tmp = tmpfile();
        saved = dup(STDERR_FILENO);
        if (!tmp || saved < 0)
                return config_load(dir, c);     /* then the error is on stderr as usual */

        fflush(stderr);
        if (dup2(fileno(tmp), STDERR_FILENO) < 0)
                return config_load(dir, c);
        log_set_target(LOG_TARGET_STDERR);
        r = config_load(dir, c);
        fflush(stderr);
        (void) dup2(saved, STDERR_FILENO);
        log_set_target(target);

        rewind(tmp);
        if (r < 0 && fgets(line, sizeof(line), tmp)) {
                const char *m = startswith(line, "baton: ") ?: line;

                line[strcspn(line, "\n")] = 0;
                *ret_message = strdup(m);
        }
        return r;
}

static void check_config(Doctor *d, Config *c) {
        _cleanup_free_ char *path = NULL, *message = NULL;
        int r;

        if (asprintf(&path, "%s/baton.conf", d->options->config_dir) < 0)
                path = NULL;
        r = load_config_captured(d->options->config_dir, c, &message);
        if (r < 0) {
                report(d, DOCTOR_FAIL, "config", "correct that line (data/baton.conf documents every key); "
                       "until then baton refuses to start", "%s; doctor goes on with the built-in defaults",
                       message ?: strerror(-r));
                return;
        }
        if (path && access(path, F_OK) < 0)
                report(d, DOCTOR_PASS, "config", NULL, "%s: no such file: the built-in defaults apply", path);
        else
                report(d, DOCTOR_PASS, "config", NULL, "%s and its drop-ins are valid", strna(path));
}

/* --- IOMMU, GPU and its group --- */

static void check_iommu(Doctor *d) {
        _cleanup_strv_free_ char **groups = NULL;
        int r;

        r = sysfs_list_dir(d->options->root, "/sys/kernel/iommu_groups", NULL, &groups);
        if (r < 0 && r != -ENOENT) {
                report(d, DOCTOR_FAIL, "iommu", NULL, "cannot read /sys/kernel/iommu_groups: %s", strerror(-r));
                return;
        }
        if (strv_length(groups) == 0) {
                report(d, DOCTOR_FAIL, "iommu", "enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup "
                       "and boot with intel_iommu=on (Intel) or amd_iommu=on (AMD) on the kernel command line",
                       "the IOMMU is off: /sys/kernel/iommu_groups is empty");
                return;
        }
        report(d, DOCTOR_PASS, "iommu", NULL, "the IOMMU is on: %zu IOMMU groups", strv_length(groups));
}

static const char *class_name(unsigned class) {
        return pci_class_name(class) ?: "other";
}

static void check_gpu(Doctor *d, const Machine *m) {
        _cleanup_free_ char *list = NULL;
        _cleanup_strv_free_ char **names = NULL;
        const PciDevice *g = m->gpu;

        if (g) {
                report(d, DOCTOR_PASS, "gpu", NULL, "%s [%04x:%04x] %s, driver %s%s", g->address, g->vendor,
                       g->device, class_name(g->class), g->driver ?: "none",
                       g->boot_vga > 0 ? ", the boot display" : "");
                return;
        }
        for (size_t i = 0; i < m->n_pci; i++)
                if (strv_extendf(&names, "%s %s", m->pci[i].address, class_name(m->pci[i].class)) < 0)
                        break;
        if (strv_join(names, ", ", &list) < 0)
                list = NULL;
        report(d, DOCTOR_FAIL, "gpu", "nothing to fix here: baton needs a PC whose display runs on a GPU",
               "no GPU: this machine has no display-class PCI device, so there is nothing to hand over "
               "(PCI devices: %s)", isempty(list) ? "none" : list);
}

static void check_group(Doctor *d, const Machine *m) {
        _cleanup_strv_free_ char **members = NULL, **foreign = NULL;
        _cleanup_free_ char *members_text = NULL, *foreign_text = NULL;
        const IommuGroup *g = &m->group;

        if (!m->gpu) {
                report(d, DOCTOR_SKIP, "iommu-group", NULL, "no GPU");
                return;
        }
        if (g->number < 0) {
                report(d, DOCTOR_FAIL, "iommu-group", "turn the IOMMU on (see the iommu check)",
                       "the GPU %s has no IOMMU group", m->gpu->address);
                return;
        }
        for (size_t i = 0; i < g->n_devices; i++) {
                const GroupDevice *gd = &g->devices[i];
                char ***l = gd->is_bridge || gd->is_card_function ? &members : &foreign;

                if (strv_extendf(l, "%s %s (%s)", gd->pci.address, class_name(gd->pci.class),
                                 gd->pci.driver ?: "no driver") < 0)
                        return;
        }
        if (strv_join(members, ", ", &members_text) < 0 || strv_join(foreign, ", ", &foreign_text) < 0)
                return;
        if (!foreign)
                report(d, DOCTOR_PASS, "iommu-group", NULL, "group %d holds only the card: %s", g->number,
                       members_text);
        else if (config_get()->allow_foreign_devices)
                report(d, DOCTOR_WARN, "iommu-group", "put the card in a slot with its own IOMMU group, or accept "
                       "that these devices leave the host with it", "group %d also holds %s, not part of the "
                       "card; allow-foreign-devices = yes hands them to the guest too", g->number, foreign_text);
        else
                report(d, DOCTOR_FAIL, "iommu-group", "put the card in a slot with its own IOMMU group (see the "
                       "mainboard's manual), or set allow-foreign-devices = yes in [gpu] of baton.conf to hand "
                       "them to the guest as well", "group %d is not viable for the card alone: it also holds %s",
                       g->number, foreign_text);
}

static const char *fb_type(const char *name) {
        if (startswith(name, "efi-framebuffer"))
                return "EFI GOP, efifb";
        if (startswith(name, "simple-framebuffer"))
                return "simple framebuffer, simpledrm or simplefb";
        if (startswith(name, "vesa-framebuffer"))
                return "VESA, vesafb";
        return "unknown type";
}

static void check_firmware_fb(Doctor *d, const Machine *m) {
        if (m->n_fbs == 0) {
                report(d, DOCTOR_PASS, "firmware-fb", NULL, "no firmware framebuffer%s: nothing to unbind",
                       m->gpu && m->gpu->driver ? " (the GPU's driver took the boot framebuffer over)" : "");
                return;
        }
        for (size_t i = 0; i < m->n_fbs; i++) {
                const FirmwareFb *fb = &m->fbs[i];

                if (fb->driver)
                        report(d, DOCTOR_PASS, "firmware-fb", NULL, "%s (%s) is bound to %s: it maps the GPU's "
                               "memory and must be unbound before vfio-pci takes the GPU; the firmware-fb stage "
                               "does that", fb->name, fb_type(fb->name), fb->driver);
                if (firmware_fb_lost_for_good(m, fb))
                        report(d, DOCTOR_WARN, "firmware-fb", "install and load the GPU's own driver, which "
                               "gives the console back after the return", "%s: " FIRMWARE_FB_LOST_LINE,
                               fb->name);
                if (!fb->driver)
                        report(d, DOCTOR_PASS, "firmware-fb", NULL, "%s (%s) is not bound: nothing to unbind",
                               fb->name, fb_type(fb->name));
        }
}

/* --- Kernel modules, looked up and never loaded --- */

static void check_module(Doctor *d, struct kmod_ctx *ctx, const char *name, const char *release) {
        _cleanup_(kmod_module_unref_listp) struct kmod_list *list = NULL;
        _cleanup_free_ char *fix = NULL;
        struct kmod_module *mod;
        const char *path;
        int r, state;

        if (asprintf(&fix, "install the modules of the running kernel (/lib/modules/%s); a kernel of your own "
                     "needs CONFIG_VFIO, CONFIG_VFIO_PCI and CONFIG_VFIO_IOMMU_TYPE1", release) < 0)
                fix = NULL;
        r = sym_kmod_module_new_from_lookup(ctx, name, &list);
        if (r < 0 || !list) {
                report(d, DOCTOR_FAIL, "vfio-modules", fix, "%s: not found for kernel %s%s%s", name, release,
                       r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
                return;
        }
        mod = sym_kmod_module_get_module(list);
        state = sym_kmod_module_get_initstate(mod);
        path = sym_kmod_module_get_path(mod);
        if (state == KMOD_MODULE_BUILTIN)
                report(d, DOCTOR_PASS, "vfio-modules", NULL, "%s: built into the kernel", name);
        else if (state == KMOD_MODULE_LIVE)
                report(d, DOCTOR_PASS, "vfio-modules", NULL, "%s: loaded", name);
        else if (path)
                report(d, DOCTOR_PASS, "vfio-modules", NULL, "%s: available (%s), loaded at the handover", name, path);
        else
                report(d, DOCTOR_FAIL, "vfio-modules", fix, "%s: known to modules.alias but its file is missing", name);
        sym_kmod_module_unref(mod);
}

static void check_modules(Doctor *d) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        struct utsname u;

        if (!live(d)) {
                report(d, DOCTOR_SKIP, "vfio-modules", NULL, "not looked up: the machine is read from %s",
                       d->options->root);
                return;
        }
        (void) uname(&u);
        ctx = kmod_context_new();
        if (!ctx) {
                report(d, DOCTOR_FAIL, "vfio-modules", errno == EOPNOTSUPP ? "install libkmod2" : NULL,
                       "cannot set up libkmod: %s", strerror(errno));
                return;
        }
        check_module(d, ctx, "vfio-pci", u.release);
        check_module(d, ctx, "vfio_iommu_type1", u.release);
}

/* --- systemd, libvirt, other processes --- */

/* Row 14 of issue 19: the same comparison as plan's note, with what to do about it. */
static void check_stop_timeout(Doctor *d, sd_bus *bus, UnitInfo *info) {
        uint64_t wait_usec = config_get()->deadline_usec[DEADLINE_UNIT] ?: deadline_default_usec(DEADLINE_UNIT);
        char stop[32], wait[32];

        if (unit_stop_timeout(bus, DOCTOR_UNIT_TIMEOUT_USEC, info) < 0 || info->timeout_stop_usec <= wait_usec)
                return;
        format_usec(info->timeout_stop_usec, stop, sizeof(stop));
        format_usec(wait_usec, wait, sizeof(wait));
        report(d, DOCTOR_WARN, "display-manager", "lower its TimeoutStopSec (systemctl edit) or raise unit = in "
               "[deadlines] of baton.conf", "%s may take up to %s to stop (TimeoutStopSec), longer than baton "
               "waits (%s): one that ignores SIGTERM is killed by baton after %s", info->id, stop, wait, wait);
}

static void check_display_manager(Doctor *d) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_info_done) UnitInfo info = {};
        _cleanup_free_ char *message = NULL;
        const char *name = display_manager_unit_name(config_get());
        bool configured = !isempty(config_get()->display_manager_unit);
        int r;

        if (!live(d)) {
                report(d, DOCTOR_SKIP, "display-manager", NULL, "%s not looked up: the machine is read from %s",
                       name, d->options->root);
                return;
        }
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = unit_info_get(bus, name, DOCTOR_UNIT_TIMEOUT_USEC, &info, &message);
        if (r < 0 && display_manager_systemd_unreachable(r))
                report(d, DOCTOR_WARN, "display-manager", "run doctor on the booted desktop, where systemd runs",
                       "%s not checked: systemd cannot be asked (no system bus: %s)", name, strerror(-r));
        else if (r < 0)
                report(d, DOCTOR_WARN, "display-manager", NULL, "%s not checked: %s", name, message ?: strerror(-r));
        else if (!unit_info_exists(&info))
                report(d, configured ? DOCTOR_FAIL : DOCTOR_WARN, "display-manager",
                       "set unit = to your display manager's service (gdm.service, sddm.service, "
                       "lightdm.service) in [display-manager] of baton.conf",
                       "%s: no such unit, so baton stops no display manager and a desktop on the GPU keeps "
                       "it busy", name);
        else {
                report(d, DOCTOR_PASS, "display-manager", NULL, "%s%s%s%s: %s, %s", name,
                       streq(info.id, name) ? "" : " (", streq(info.id, name) ? "" : info.id,
                       streq(info.id, name) ? "" : ")", info.load_state, info.active_state);
                check_stop_timeout(d, bus, &info);
        }
}

/* The host-tuning and user-stages steps as the plan shows them: a line that says the
 * handover will fail fails here too, a skipped step is a skip. */
static void check_stage_plan(Doctor *d, const Machine *m, const char *name) {
        _cleanup_strv_free_ char **plan = NULL;
        const Stage *st = stage_find(name);
        StageContext ctx;
        StagePosition pos;
        int r;

        if (!st || !m)
                return;
        stage_context_init(&ctx, config_get(), m->root);
        r = stage_observe_once(st, &ctx, m, &pos, &plan);
        if (r < 0) {
                report(d, DOCTOR_FAIL, name, NULL, "cannot be planned: %s", strerror(-r));
                return;
        }
        STRV_FOREACH(line, plan) {
                size_t n = strlen(*line);
                DoctorVerdict v = n >= 9 && streq(*line + n - 9, "will fail") ? DOCTOR_FAIL :
                        strstr(*line, " is skipped") ? DOCTOR_SKIP : DOCTOR_PASS;

                report(d, v, name, NULL, "%s", *line);
        }
}

static void check_libvirt_hook(Doctor *d) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (root_path(d->options->root, LIBVIRT_HOOK, &path) < 0) {
                report(d, DOCTOR_FAIL, "libvirt-hook", NULL, "%s", strerror(ENOMEM));
                return;
        }
        if (stat(path, &st) < 0)
                report(d, DOCTOR_FAIL, "libvirt-hook", "install baton (meson install puts the hook there), then "
                       "systemctl restart libvirtd so that libvirt sees it", "%s is not installed (%s): libvirt "
                       "would start a VM with the GPU without a handover", LIBVIRT_HOOK, strerror(errno));
        else if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0)
                report(d, DOCTOR_FAIL, "libvirt-hook", "chmod 755 " LIBVIRT_HOOK, "%s is not an executable file",
                       LIBVIRT_HOOK);
        else
                report(d, DOCTOR_PASS, "libvirt-hook", NULL, "%s is installed and executable", LIBVIRT_HOOK);
}

/* The pid of a process whose comm is comm (at most 15 characters, as the kernel keeps it), or 0. */
static unsigned find_process(const char *root, const char *comm) {
        _cleanup_strv_free_ char **pids = NULL;

        if (sysfs_list_dir(root, "/proc", NULL, &pids) < 0)
                return 0;
        STRV_FOREACH(p, pids) {
                _cleanup_free_ char *path = NULL, *c = NULL;
                unsigned pid;

                if (!isdigit((unsigned char) (*p)[0]) || sscanf(*p, "%u", &pid) != 1)
                        continue;
                if (asprintf(&path, "/proc/%s/comm", *p) < 0)
                        return 0;
                if (sysfs_read_string(root, path, &c) >= 0 && streq(c, comm))
                        return pid;
        }
        return 0;
}

static void check_nvidia_persistenced(Doctor *d) {
        unsigned pid = find_process(d->options->root, "nvidia-persiste");

        if (pid == 0)
                report(d, DOCTOR_PASS, "nvidia-persistenced", NULL, "not running");
        else
                report(d, DOCTOR_WARN, "nvidia-persistenced", "systemctl disable --now nvidia-persistenced.service "
                       "(or stop it before each handover)", "running (pid %u): it keeps /dev/nvidia* open, and "
                       "the nvidia modules cannot be unloaded while it does", pid);
}

/* --- Audio and input devices --- */

static void check_audio(Doctor *d, const Machine *m) {
        unsigned n = 0;

        if (!m->gpu) {
                report(d, DOCTOR_SKIP, "audio", NULL, "no GPU");
                return;
        }
        for (size_t i = 0; i < m->group.n_devices; i++) {
                const PciDevice *p = &m->group.devices[i].pci;
                _cleanup_strv_free_ char **cards = NULL;
                _cleanup_free_ char *dir = NULL, *id = NULL, *idpath = NULL;

                if (!pci_class_is_audio(p->class))
                        continue;
                n++;
                if (asprintf(&dir, "/sys/bus/pci/devices/%s/sound", p->address) < 0)
                        return;
                if (sysfs_list_dir(d->options->root, dir, "card", &cards) < 0 || !cards) {
                        report(d, DOCTOR_WARN, "audio", p->driver ? NULL : "load snd_hda_intel (modprobe "
                               "snd_hda_intel) to hear the host's sound through the card",
                               "%s (driver %s) has no ALSA card", p->address, p->driver ?: "none");
                        continue;
                }
                if (asprintf(&idpath, "%s/%s/id", dir, cards[0]) < 0)
                        return;
                (void) sysfs_read_string(d->options->root, idpath, &id);
                report(d, DOCTOR_PASS, "audio", NULL, "%s (driver %s) is ALSA %s \"%s\"; config [audio] release "
                       "= %s frees it", p->address, p->driver ?: "none", cards[0], strna(id),
                       audio_release_to_string(config_get()->audio_release));
        }
        if (n == 0)
                report(d, DOCTOR_PASS, "audio", NULL, "the GPU has no audio function");
}

typedef struct InputDevice {
        char *event;                    /* "event3" */
        char *name;                     /* "AT Translated Set 2 keyboard" */
        bool keyboard, mouse;
} InputDevice;

static void input_device_done(void *p) {
        InputDevice *i = p;

        free(i->event);
        free(i->name);
}

static int read_input_device(const char *root, const char *event, void *ret) {
        _cleanup_free_ char *dir = NULL, *name = NULL, *ev = NULL, *key = NULL, *rel = NULL;
        InputDevice *i = ret;

        if (asprintf(&dir, "/sys/class/input/%s/device", event) < 0)
                return -ENOMEM;
        if (sysfs_read_attr(root, dir, "name", &name) <= 0)
                return 0;       /* gone, or not an input device: skip it */
        (void) sysfs_read_attr(root, dir, "capabilities/ev", &ev);
        (void) sysfs_read_attr(root, dir, "capabilities/key", &key);
        (void) sysfs_read_attr(root, dir, "capabilities/rel", &rel);
        i->keyboard = input_caps_is_keyboard(ev, key);
        i->mouse = input_caps_is_mouse(ev, key, rel);
        if (!i->keyboard && !i->mouse)
                return 0;
        i->event = strdup(event);
        if (!i->event)
                return -ENOMEM;
        i->name = TAKE_PTR(name);
        return 1;
}

/* Whether a configured [input] devices entry names a present device. */
static bool input_entry_present(const Doctor *d, const char *entry, const InputDevice *devs, size_t n) {
        _cleanup_free_ char *path = NULL;
        const char *name = startswith(entry, "name:");

        if (name) {
                for (size_t i = 0; i < n; i++)
                        if (streq(devs[i].name, name))
                                return true;
                return false;
        }
        if (entry[0] != '/' && asprintf(&path, "/dev/input/by-id/%s", entry) < 0)
                return false;
        return sysfs_exists(d->options->root, path ?: entry) > 0;
}

static int list_inputs(const Doctor *d, const InputDevice *devs, size_t n, bool keyboards, char **ret) {
        const char *prefix = config_get()->guest_name_prefix;
        _cleanup_strv_free_ char **l = NULL;

        for (size_t i = 0; i < n; i++) {
                const char *rest = startswith(devs[i].name, prefix);

                /* baton's own devices for the guest are no physical devices. */
                if (!isempty(prefix) && rest && rest[0] == ' ')
                        continue;
                if ((keyboards ? devs[i].keyboard : devs[i].mouse) &&
                    strv_extendf(&l, "\"%s\" (%s)", devs[i].name, devs[i].event) < 0)
                        return -ENOMEM;
        }
        if (!l)
                return 0;
        return strv_join(l, ", ", ret) < 0 ? -ENOMEM : 1;
}

static void check_input(Doctor *d) {
        _cleanup_free_ char *keyboards = NULL, *mice = NULL;
        _cleanup_strv_free_ char **missing = NULL;
        InputDevice *devs = NULL;
        size_t n = 0;
        int r;

        r = sysfs_read_entries(d->options->root, "/sys/class/input", "event", sizeof(InputDevice),
                               read_input_device, input_device_done, &devs, &n);
        if (r < 0) {
                report(d, DOCTOR_WARN, "input", NULL, "cannot read /sys/class/input: %s", strerror(-r));
                return;
        }
        STRV_FOREACH(e, config_get()->input_devices)
                if (!input_entry_present(d, *e, devs, n))
                        (void) strv_extend(&missing, *e);
        if (list_inputs(d, devs, n, true, &keyboards) < 0 || list_inputs(d, devs, n, false, &mice) < 0)
                goto out;

        if (missing) {
                _cleanup_free_ char *text = NULL;

                (void) strv_join(missing, ", ", &text);
                report(d, DOCTOR_FAIL, "input", "correct [input] devices in baton.conf: by-id names are those in "
                       "/dev/input/by-id, names those of /sys/class/input/event*/device/name",
                       "configured devices not found: %s", strna(text));
        } else if (!keyboards || !mice)
                report(d, DOCTOR_WARN, "input", "plug in a USB keyboard and mouse, or name them in [input] "
                       "devices", "%s%s%s%s", keyboards ? "keyboards: " : "no keyboard found",
                       strempty(keyboards), mice ? "; mice: " : "; no mouse found", strempty(mice));
        else
                report(d, DOCTOR_PASS, "input", NULL, "keyboards: %s; mice: %s", keyboards, mice);
out:
        for (size_t i = 0; i < n; i++)
                input_device_done(&devs[i]);
        free(devs);
}

int doctor_run(const DoctorOptions *o, FILE *f) {
        _cleanup_(machine_freep) Machine *m = NULL;
        Doctor d = { .options = o, .f = f };
        Config c;
        int r;

        config_init(&c);
        check_config(&d, &c);
        config_apply_environment(&c);
        config_set(&c);

        r = machine_load(o->root, MACHINE_SKIP_HOLDERS, &m);
        if (r < 0)
                report(&d, DOCTOR_FAIL, "machine", NULL, "cannot read the machine below %s: %s", o->root,
                       strerror(-r));
        check_iommu(&d);
        if (m) {
                check_gpu(&d, m);
                check_group(&d, m);
                check_firmware_fb(&d, m);
        }
        check_modules(&d);
        check_display_manager(&d);
        check_stage_plan(&d, m, "host-tuning");
        check_stage_plan(&d, m, "user-stages");
        check_libvirt_hook(&d);
        check_nvidia_persistenced(&d);
        if (m)
                check_audio(&d, m);
        check_input(&d);

        fprintf(f, "%u pass, %u warn, %u fail, %u skip\n", d.count[DOCTOR_PASS], d.count[DOCTOR_WARN],
                d.count[DOCTOR_FAIL], d.count[DOCTOR_SKIP]);
        config_set(NULL);
        config_done(&c);
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return (int) d.count[DOCTOR_FAIL];
}
