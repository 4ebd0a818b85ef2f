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

# The default guest: until Linux boots, the guest test kit's hello kernel.
demo: build
	./$(BUILD)/tachyon -nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=1 \
		-kernel $(BUILD)/tests/guest/hello.elf; status=$$?; \
		echo "tachyon exited with status $$status"; [ $$status -eq 1 ]

test: build build-san
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	cd $(SANBUILD) && ctest --output-on-failure -j $(JOBS) -L unit $(CTEST_ARGS)

bench: build
	tools/bench

clean:
	rm -rf $(BUILD) $(SANBUILD)
