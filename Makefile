# A thin wrapper around meson and tests/lab: `make demo` and `make check`
# install what is missing from Debian's packages, build, and run.
BUILD ?= build

.PHONY: all deps build demo check bench clean

all: build

deps:
	@tools/install-deps all

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) >/dev/null
	@ninja -C $(BUILD) >/dev/null

demo: build
	@tests/lab/run --build $(BUILD) --demo demo

check: build
	@rc=0; meson test -C $(BUILD) --print-errorlogs || rc=$$?; \
	tools/test-summary $(BUILD); exit $$rc

clean:
	rm -rf $(BUILD)

# A benchmark, not a test: per-stage durations of handover and return in the lab.
bench: build
	@tests/lab/run --build $(BUILD) --demo bench-handover
