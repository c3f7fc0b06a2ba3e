# callconnect: `make demo` shows a whole callback against the built-in simulator,
# `make test` runs every test suite and ends with one line `N passed, N failed`.

CARGO ?= cargo
TARGET := target/debug
SIM_STEP_MS ?= 700

.PHONY: all lib header demo test check lint clean examples

all: lib

lib:
	$(CARGO) build --workspace
	@ln -sf libcallconnect.so $(TARGET)/libcallconnect.so.0

# Copies the headers that build.rs generated with cbindgen into include/.
header: lib
	@out=$$(dirname $$(ls -t $(TARGET)/build/callconnect-*/out/callconnect.h | head -1)); \
	cp $$out/callconnect.h $$out/callconnect_php.h include/ && echo "include/ updated from $$out"

examples: lib
	$(MAKE) -s -C examples-c LIBDIR=$(abspath $(TARGET))

demo: lib examples
	@bash tools/demo.sh

test:
	@python3 tests/run_all.py

# The quality bar of every commit.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	$(MAKE) -s -C examples-c clean
