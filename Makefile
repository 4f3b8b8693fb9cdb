# A thin wrapper around meson and tests/lab: `make demo` and `make check`
# install what is missing from Debian's packages, build, and run.
BUILD ?= build
# The unit tests again under ASan and UBSan, and the libFuzzer targets (clang), each in
# a build directory of its own; FUZZ_SECONDS bounds each target's run (they run at once).
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps build demo check check-asan fuzz bench bench-gnome bench-input deb clean

all: build

deps:
	@tools/install-deps all

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) >/dev/null
	@ninja -C $(BUILD) >/dev/null

demo: build
	@tests/lab/run --build $(BUILD) --demo demo

# The last line is the whole run's: meson's tests (each lab check counted),
# the unit tests under the sanitizers, and the fuzz run as one result.
# Only this run's testlogs count (--since): a suite that fails before its tests run
# leaves an earlier run's log behind. Without the lab the closing lines say so, and
# under CI=true that fails the run.
check: build
	@rc=0; since=$$(date +%s); meson test -C $(BUILD) --print-errorlogs || rc=$$?; \
	tools/test-summary --since $$since $(BUILD) || rc=1; \
	$(MAKE) --no-print-directory check-asan || rc=1; \
	frc=0; $(MAKE) --no-print-directory fuzz || { rc=1; frc=1; }; \
	echo "make check: unit and lab suites, unit suite under ASan and UBSan, fuzz targets:"; \
	tools/test-summary --since $$since $(BUILD) $(ASAN_BUILD) --also fuzz=$$frc || rc=1; exit $$rc

check-asan: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Dlab=disabled \
		-Db_sanitize=address,undefined -Dc_args=-fno-sanitize-recover=all >/dev/null
	@ninja -C $(ASAN_BUILD) >/dev/null
	@rc=0; since=$$(date +%s); meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs || rc=$$?; \
	echo "under ASan and UBSan: $$(tools/test-summary --since $$since --without-lab $(ASAN_BUILD))"; exit $$rc

fuzz: deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dlab=disabled >/dev/null
	@ninja -C $(FUZZ_BUILD) fuzz >/dev/null
	@tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The Debian package, checked by lintian (no error, no warning): $(BUILD)/deb/baton_*.deb.
deb:
	@tools/install-deps deb
	@tools/build-deb $(BUILD)/deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# A benchmark, not a test: per-stage durations of handover and return in the lab.
bench: build
	@tests/lab/run --build $(BUILD) --demo bench-handover

# The same figures for the users' desktop: gdm3, GNOME Shell, gnome-session, PipeWire.
bench-gnome: build
	@tests/lab/run --build $(BUILD) --demo bench-gnome

# A benchmark, not a test: baton's input router against interception-tools, 8 kHz mouse,
# in two boots: the default one, and one whose idle vCPUs poll (bench-input-poll). Then the
# host's side: how long the lab's vCPU threads slept on QEMU's locks and waited for this
# machine's CPUs (tests/lab/host-waits).
bench-input: build
	@tests/lab/host-waits tests/lab/run --build $(BUILD) --demo bench-input bench-input-poll
