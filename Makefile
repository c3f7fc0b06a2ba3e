# callconnect: `make demo` shows a whole callback against the built-in simulator,
# `make test` runs every test suite and ends with one line `N passed, N failed`.

CARGO ?= cargo
TARGET := target/debug
SIM_STEP_MS ?= 700

.PHONY: all lib header demo test check lint clean examples release install uninstall fuzz bench load mutants hot-symbols

# `make install PREFIX=/opt/callconnect [DESTDIR=/staging]`: the release library with its
# soname links, the static archive, both headers, pkg-config metadata, the PHP and
# Python wrappers, and the `callconnect` command. Every directory can be overridden.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PHPDIR ?= $(DATADIR)/callconnect/php
PYTHONDIR ?= $(DATADIR)/callconnect/python
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME := libcallconnect.so.$(MAJOR)
RELEASE := target/release

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

# The release build. rustc names the system libraries a static link needs
# (native-static-libs); cargo repeats that note on a fresh build, so it is always read.
# `CALLCONNECT_RELR=1 make release`: a smaller library (packed relocations, DT_RELR) for
# systems with glibc 2.36 or newer (BENCHMARKS.md, "Size").
release:
	@mkdir -p $(RELEASE)
	@if ! $(CARGO) rustc --release --lib --color never -- --print native-static-libs \
	    > $(RELEASE)/callconnect-build.log 2>&1; then cat $(RELEASE)/callconnect-build.log; exit 1; fi
	@sed -n 's/^note: native-static-libs: //p' $(RELEASE)/callconnect-build.log | tail -n 1 \
	    > $(RELEASE)/native-static-libs
	@test -s $(RELEASE)/native-static-libs || { echo "rustc did not name the native libraries"; exit 1; }
	@echo "release build ready: $(RELEASE)/libcallconnect.so, $(RELEASE)/libcallconnect.a"

# -lgcc_s becomes -lgcc_eh in Libs.private: the static unwinder serves a fully static
# link (`cc -static`, where no libgcc_s exists) as well as a static libcallconnect in a
# dynamic program.
install: release
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(PHPDIR) $(DESTDIR)$(PYTHONDIR)
	install -m 755 $(RELEASE)/libcallconnect.so $(DESTDIR)$(LIBDIR)/libcallconnect.so.$(VERSION)
	ln -sf libcallconnect.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcallconnect.so
	install -m 644 $(RELEASE)/libcallconnect.a $(DESTDIR)$(LIBDIR)/libcallconnect.a
	install -m 644 include/callconnect.h $(DESTDIR)$(INCLUDEDIR)/callconnect.h
	sed 's|^#define FFI_LIB .*|#define FFI_LIB "$(LIBDIR)/$(SONAME)"|' include/callconnect_php.h \
	    > $(DESTDIR)$(INCLUDEDIR)/callconnect_php.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' \
	    -e "s|@LIBS_PRIVATE@|$$(sed 's/-lgcc_s/-lgcc_eh/g' $(RELEASE)/native-static-libs)|" \
	    tools/callconnect.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/callconnect.pc
	sed "s|^    private const INSTALLED_HEADER = null;|    private const INSTALLED_HEADER = '$(INCLUDEDIR)/callconnect_php.h';|" \
	    bindings/php/CallConnect.php > $(DESTDIR)$(PHPDIR)/CallConnect.php
	sed 's|^_INSTALLED_LIB: Optional\[str\] = None|_INSTALLED_LIB: Optional[str] = "$(LIBDIR)/$(SONAME)"|' \
	    bindings/python/callconnect.py > $(DESTDIR)$(PYTHONDIR)/callconnect.py
	@grep -q "INSTALLED_HEADER = '" $(DESTDIR)$(PHPDIR)/CallConnect.php
	@grep -q '^_INSTALLED_LIB: Optional\[str\] = "' $(DESTDIR)$(PYTHONDIR)/callconnect.py
	$(CARGO) build --release -p callconnect-cli
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(RELEASE)/callconnect $(DESTDIR)$(BINDIR)/callconnect
	@echo "installed callconnect $(VERSION) into $(DESTDIR)$(PREFIX)"

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libcallconnect.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libcallconnect.so $(DESTDIR)$(LIBDIR)/libcallconnect.a \
	    $(DESTDIR)$(INCLUDEDIR)/callconnect.h $(DESTDIR)$(INCLUDEDIR)/callconnect_php.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/callconnect.pc $(DESTDIR)$(PHPDIR)/CallConnect.php \
	    $(DESTDIR)$(PYTHONDIR)/callconnect.py $(DESTDIR)$(BINDIR)/callconnect

# A bounded coverage-guided run of every fuzz target (FUZZ_SECONDS each, default 20).
fuzz:
	@bash tools/fuzz.sh

# The library next to raw libcurl and Python requests (release build); see BENCHMARKS.md.
bench:
	@bash tools/bench-deps.sh
	@python3 bench/run.py --write

# tools/hot-symbols.txt made again (valgrind): the functions a process's first client and
# calls run, which the linker lays out together (build.rs). Needed when the install suite
# says the file no longer matches the library (a version or compiler change).
hot-symbols:
	@python3 tools/hot_symbols.py

# The load test at full size, against the release build.
load:
	$(CARGO) build --release --workspace
	@ln -sf libcallconnect.so target/release/libcallconnect.so.0
	@python3 tests/load/run_load.py --threads 16 --cycles 500 --lib target/release

# The quality bar of every commit.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	$(MAKE) -s -C examples-c clean

# Mutation testing of the high-stakes files (slow: not part of `make test`); writes
# target/mutants/summary.md. MUTANTS_ONLY=src/model.rs limits it to matching files.
mutants:
	@python3 tools/mutants.py --only "$(MUTANTS_ONLY)"
