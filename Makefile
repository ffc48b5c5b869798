# usblab: the two commands of the README.
#   make run    install what usblabd needs, build it, and start it
#   make test   install what the tests need and run the whole suite
# ARGS adds usblabd options to `make run`, e.g. ARGS='--export serial=ABC'.

BUILD ?= build
LISTEN ?= 0.0.0.0:3240
VIRTUAL ?= cdc,hid,msc
ARGS ?=

.PHONY: run test build clean

run:
	tools/deps.sh run
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	ninja -C $(BUILD) src/daemon/usblabd
	exec $(BUILD)/src/daemon/usblabd --listen $(LISTEN) --virtual $(VIRTUAL) $(ARGS)

test:
	tools/deps.sh test
	tests/run.sh

build:
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)

clean:
	rm -rf $(BUILD) build-test build-cross
