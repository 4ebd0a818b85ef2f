# The two commands a user needs: `make demo` and `make test`. Both install
# missing Debian packages first (tools/install-deps), then configure and build.
BUILD    ?= build
SANBUILD ?= build-san
JOBS     ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps build build-san demo test test-san bench clean

all: build

deps:
	@tools/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(SANBUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(SANBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTACHYON_SANITIZE=address,undefined

build-san: deps $(SANBUILD)/CMakeCache.txt
	cmake --build $(SANBUILD) -j $(JOBS)

# The default guest: Debian's i386 kernel and a busybox initramfs, built from Debian
# packages by tools/mkinitramfs. You get a shell on the terminal; `poweroff` (or Ctrl-A x)
# ends tachyon.
GUEST ?= out/guest
demo: build
	tools/mkinitramfs $(GUEST)
	./$(BUILD)/tachyon -m 256 -nographic -kernel $(GUEST)/vmlinuz \
		-initrd $(GUEST)/initramfs.cpio.gz -append "console=ttyS0 quiet"

test: build build-san
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	cd $(SANBUILD) && ctest --output-on-failure -j $(JOBS) -L unit $(CTEST_ARGS)

bench: build
	tools/bench

clean:
	rm -rf $(BUILD) $(SANBUILD)
