# wpo — build, run, test.
#
#   make run          install missing Debian packages, build, run the main job
#   make check        install what the tests need, build, run every test
#   make lint         luacheck (.luacheckrc) over every Lua file; part of make check
#   make check-asan   the whole test suite under AddressSanitizer + UBSan
#   make check-oom    out of memory at every allocation of each C module's
#                     entry points, under ASan with leak checking (~5 s)
#   make chaos        the longer fault suites against fakeaws, with their figures
#   make bench        the benchmarks, each figure beside its goal
#   make models       regenerate stdlib/wpo/aws/models from Debian's botocore
#   make install      PREFIX=/usr/local (binary in bin/, stdlib in share/wpo/)
#   make runner-root  build/runner-root: the fleet runner image's layer (stacks/fleet.lua)
#
# BUILDDIR=DIR keeps objects and the binary out of the tree (./wpo is a copy
# of $(BUILDDIR)/wpo when BUILDDIR is the default).

VERSION  := 0.1.0
PREFIX   ?= /usr/local
BUILDDIR ?= build
DESTDIR  ?=

# Debian packages: to build, to run, to test.
BUILD_PKGS := gcc libc6-dev pkg-config liblua5.4-dev lua-cjson-dev \
              libcurl4-openssl-dev libssl-dev libexpat1-dev libgit2-dev \
              zlib1g-dev
RUN_PKGS   := ca-certificates git
TEST_PKGS  := lua5.4 lua-busted python3-botocore awscli openssl luarocks strace lua-check \
              docker-registry skopeo python3-cryptography util-linux

PKGS     = lua5.4 libcurl openssl expat libgit2 zlib
# libcurl's, libcrypto's and libgit2's headers only: each is loaded with
# dlopen at its first use (engine/curlapi.c, engine/cryptoapi.c,
# engine/gitapi.c), so a run that sends no request never maps libcurl, one
# that neither hashes nor encrypts never maps libcrypto, and one that opens
# no repository never maps libgit2. Lua itself is linked in from Debian's static library (as
# lua-cjson is): no dynamic relocation of the Lua API at every start and no
# PLT call into it from the C modules, about 2 ms of an offline plan; the
# executable exports the API (EXPORT) for C modules loaded at run time.
LINK_PKGS = expat zlib
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wno-unused-parameter
DEFS     = -D_GNU_SOURCE -DWPO_VERSION='"$(VERSION)"' -DWPO_DATADIR='"$(PREFIX)/share/wpo"'
CPPFLAGS = -I$(BUILDDIR) -Iengine $(shell pkg-config --cflags $(PKGS))
LDLIBS   = -l:liblua5.4-cjson.a -l:liblua5.4.a $(shell pkg-config --libs $(LINK_PKGS)) -lpthread -lm -ldl
LDFLAGS ?=
# C modules loaded by Lua code at run time (busted's lfs, luasystem) need
# the Lua API exported from the executable.
EXPORT   = -Wl,-E

ENGINE_SRC  := $(wildcard engine/*.c)
# The stdlib compiled to bytecode and linked in (tools/embed.c): used unless
# WPO_STDLIB names a directory to load the Lua files from.
STDLIB_SRC  := $(shell cd stdlib && find wpo -name '*.lua' | LC_ALL=C sort)
EMBED_OBJ   := $(BUILDDIR)/stdlib_embed.o
ENGINE_OBJ  := $(patsubst engine/%.c,$(BUILDDIR)/engine/%.o,$(ENGINE_SRC)) $(EMBED_OBJ)
LIB_OBJ     := $(filter-out $(BUILDDIR)/engine/main.o,$(ENGINE_OBJ))
CTEST_SRC   := $(wildcard tests/c/test_*.c)
CTEST_BIN   := $(patsubst tests/c/%.c,$(BUILDDIR)/tests/%,$(CTEST_SRC))

.PHONY: all deps deps-test run check lint check-asan check-oom chaos iam-check test tests-c bench models docs install uninstall clean runner-root

all: $(BUILDDIR)/wpo
ifeq ($(BUILDDIR),build)
all: wpo
# a new file renamed over the old: a wpo still running keeps its own copy
wpo: $(BUILDDIR)/wpo
	cp $< $@.tmp && mv -f $@.tmp $@
endif

deps:
	@scripts/deps $(BUILD_PKGS) $(RUN_PKGS)

deps-test:
	@scripts/deps $(BUILD_PKGS) $(RUN_PKGS) $(TEST_PKGS)

# The main job: a dry-run plan of the production stack with the local state
# backend (no AWS account needed); wpo version until the stacks exist.
run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@if [ -f stacks/prod.lua ] && ./wpo help plan >/dev/null 2>&1; then \
	    ./wpo plan stacks/prod.lua; else ./wpo version; fi

check:
	@$(MAKE) --no-print-directory deps-test
	@$(MAKE) --no-print-directory all tests-c
	@WPO=$(BUILDDIR)/wpo BUILDDIR=$(BUILDDIR) tests/run

# luacheck over the Lua of the repository (.luacheckrc: std lua54, busted in the
# specs, the generated models left out). Any warning fails it; its last line is
# a summary tests/run counts as one suite: "lint: 1 passed, 0 failed".
LUA_DIRS := $(wildcard stdlib stacks tests bench tools)
lint:
	@scripts/deps lua-check
	@if luacheck -q --no-color $(LUA_DIRS); then echo "lint: 1 passed, 0 failed"; \
	 else echo "lint: 0 passed, 1 failed"; exit 1; fi

# Every suite with the engine and C tests built under ASan + UBSan.
check-asan:
	@$(MAKE) --no-print-directory deps-test
	@$(MAKE) --no-print-directory BUILDDIR=build-asan \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" build-asan/wpo tests-c
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/tests/test_oom
	@ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    WPO=build-asan/wpo BUILDDIR=build-asan tests/run

# tests/c/test_oom.c alone, under ASan with leak checking on.
check-oom:
	@$(MAKE) --no-print-directory BUILDDIR=build-asan \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" build-asan/tests/test_oom
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/tests/test_oom

# The lost-answer matrix: every write of the staging stack's apply, its answer
# lost after the work (LOST_MODES: close, error, garbled); then kill -9 at
# KILL_APPLY points of its apply and KILL_DESTROY of its destroy, deletes in
# flight, 20% throttling + 5% 5xx, a full disk (tests/chaos/kill.lua).
LOST_MODES ?= close
KILL_APPLY ?= 30
KILL_DESTROY ?= 24
chaos:
	@$(MAKE) --no-print-directory deps-test
	@$(MAKE) --no-print-directory all
	@WPO=$(BUILDDIR)/wpo WPO_STDLIB=$(CURDIR)/stdlib WPO_REPO=$(CURDIR) NO_COLOR=1 \
	    $(BUILDDIR)/wpo lua tests/chaos/lost_answers.lua --modes $(LOST_MODES)
	@WPO=$(BUILDDIR)/wpo WPO_STDLIB=$(CURDIR)/stdlib WPO_REPO=$(CURDIR) NO_COLOR=1 \
	    $(BUILDDIR)/wpo lua tests/chaos/kill.lua --apply $(KILL_APPLY) --destroy $(KILL_DESTROY)

# The staging stack under fakeaws IAM enforcement with every action of the
# printed apply and destroy policies removed in turn (make check samples a few).
iam-check:
	@$(MAKE) --no-print-directory deps-test
	@$(MAKE) --no-print-directory all
	@WPO=$(BUILDDIR)/wpo WPO_STDLIB=$(CURDIR)/stdlib WPO_REPO=$(CURDIR) WPO_IAM_ALL=1 \
	    $(BUILDDIR)/wpo lua tests/busted.lua tests/iam_enforced_spec.lua

test: check

tests-c: $(CTEST_BIN)

bench: all
	@bench/run

models:
	/usr/bin/python3 tools/genmodels.py

$(BUILDDIR)/wpo: $(ENGINE_OBJ)
	$(CC) $(LDFLAGS) $(EXPORT) -o $@ $^ $(LDLIBS)

$(BUILDDIR)/engine/%.o: engine/%.c $(wildcard engine/*.h) $(BUILDDIR)/modules.h $(BUILDDIR)/gitcalls.h \
    $(BUILDDIR)/cryptocalls.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEFS) $(WARN) $(CFLAGS) -c -o $@ $<

$(BUILDDIR)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs lua5.4)

$(BUILDDIR)/stdlib_embed.c: $(BUILDDIR)/tools/embed $(addprefix stdlib/,$(STDLIB_SRC))
	@echo "embed $(words $(STDLIB_SRC)) stdlib files -> $@"
	@$(BUILDDIR)/tools/embed $(CURDIR)/stdlib $@ $(abspath $(BUILDDIR))/stdlib.bin $(STDLIB_SRC)

$(EMBED_OBJ): $(BUILDDIR)/stdlib_embed.c engine/embedded.h
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

$(BUILDDIR)/tests/%: tests/c/%.c tests/c/test.h $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEFS) $(WARN) $(CFLAGS) $(LDFLAGS) $(EXPORT) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# Every engine/*.c that defines luaopen_wpo_core_NAME is preloaded as
# wpo.core.NAME: adding a module needs no edit anywhere else.
$(BUILDDIR)/modules.h: $(ENGINE_SRC)
	@mkdir -p $(BUILDDIR)
	@{ echo '/* generated by the Makefile from the engine sources */'; \
	   printf '#define WPO_CORE_MODULES(X)'; \
	   grep -ho '^int luaopen_wpo_core_[a-z0-9_]*' $(ENGINE_SRC) | sed 's/^int luaopen_wpo_core_/ X(/; s/$$/)/' | sort | tr -d '\n'; \
	   echo; } > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@

# The libraries opened with dlopen, called by their own names: for each
# X(NAME) of a header's list, "#define PREFIXNAME (STRUCT.NAME)".
#   $(call calls_header,HEADER,LIST,PREFIX,STRUCT)
define calls_header
	@mkdir -p $(BUILDDIR)
	@{ echo '/* generated by the Makefile from $(1): include it after that header */'; \
	   sed -n '/^#define $(2)/,/^$$/p' $(1) | grep -o 'X([A-Za-z0-9_]*)' | \
	   sed 's/^X(\(.*\))$$/#define $(3)\1 ($(4).\1)/'; } > $@.tmp
	@mv $@.tmp $@
endef

# libgit2 (gitapi.h) for git.c and sys.c; libcrypto (cryptoapi.h) for crypto.c and sys.c
$(BUILDDIR)/gitcalls.h: engine/gitapi.h
	$(call calls_header,$<,WPO_GIT_FUNCTIONS,git_,wpo_git)

$(BUILDDIR)/cryptocalls.h: engine/cryptoapi.h
	$(call calls_header,$<,WPO_LIBCRYPTO_FUNCTIONS,,wpo_libcrypto)

# The resource-type reference (docs/types/), generated from the definitions;
# tests/interface_spec.lua fails when it is not current.
docs: all
	mkdir -p docs/types
	WPO_STDLIB=$(CURDIR)/stdlib ./wpo lua tools/typedocs.lua docs/types

# The fleet runner's root (stacks/fleet.lua makes it a layer over
# debian:12-slim): the binary at usr/local/bin/wpo and the Debian packages of
# the libraries it loads, unpacked (apt-get download + dpkg-deb -x); under
# build/, which git ignores.
runner-root: all
	tools/runner-root.sh $(BUILDDIR)/wpo $(BUILDDIR)/runner-root

# the binary, its Lua library, the manual page made from the command modules
# and the bash completion script
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/wpo $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(BUILDDIR)/wpo $(DESTDIR)$(PREFIX)/bin/wpo
	cd stdlib && find . -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(PREFIX)/share/wpo/{} \;
	$(BUILDDIR)/wpo lua tools/manpage.lua > $(DESTDIR)$(PREFIX)/share/man/man1/wpo.1
	$(BUILDDIR)/wpo completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/wpo

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/wpo
	rm -rf $(DESTDIR)$(PREFIX)/share/wpo
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/wpo.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/wpo

clean:
	rm -rf build build-asan wpo
