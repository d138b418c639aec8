# herd -- a proxy herd in C.  See README.md.
#
#   make              install missing build packages, build bin/herd-node
#                     (and the other programs)
#   make run          the same, then run the herd of etc/herd.ini
#   make test         install missing Debian packages, build, run all tests
#   make graph        docs/herd.svg: the picture of etc/herd.ini
#   make SANITIZE=1   build with AddressSanitizer + UBSan
#   make CC=clang     build with clang (in build/clang)

CC	?= cc
PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/herd
SYSCONFDIR ?= /etc
UNITDIR	?= $(PREFIX)/lib/systemd/system
RUN_CONFIG ?= etc/herd.ini

PKGS	:= libevent libevent_openssl libcurl libcjson inih libssl libcrypto \
	   geonames
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lm

OPT	?= -O2 -g
WARN	:= -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2 \
	   -Wno-format-nonliteral
ifeq ($(SANITIZE),1)
OPT	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
FLAVOUR	:= sanitize
else
FLAVOUR	:= normal
endif
# One build directory per flavour and compiler, so that make CC=clang after
# make rebuilds everything: build/normal and build/sanitize for the default
# compiler (cc, gcc), build/clang and build/clang-sanitize for CC=clang
# (build/NAME[-sanitize] for any other CC).  BUILD=DIR picks one by hand
# (other flag changes, OPT= or CFLAGS=, need their own BUILD= or make clean).
CC_NAME	:= $(notdir $(firstword $(CC)))
ifneq ($(filter cc gcc,$(CC_NAME)),)
BUILD	:= build/$(FLAVOUR)
else ifeq ($(FLAVOUR),normal)
BUILD	:= build/$(CC_NAME)
else
BUILD	:= build/$(CC_NAME)-$(FLAVOUR)
endif

CFLAGS	+= $(OPT) $(WARN)
CPPFLAGS += -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
LDFLAGS	+= $(filter -fsanitize=%,$(OPT))
LDLIBS	+= $(PKG_LIBS) -pthread -lm

LIB_SRCS := $(wildcard src/*.c)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/src/%.o)
LIB	 := $(BUILD)/libherd.a
PROGS	 := $(notdir $(wildcard cmd/*))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

PYTEST	?= /usr/bin/python3 -m pytest

.PRECIOUS: $(BUILD)/%.o
.PHONY: all deps deps-build programs test check unit system clean install \
	uninstall run

# make (and make run, install, ...): install what the build needs when it
# is missing, then build in a fresh make, so that pkg-config sees the
# freshly installed packages (as make test does).
all: deps-build
	@$(MAKE) --no-print-directory programs

# bin/ always holds the programs of the last flavour built.
programs: $(PROGS:%=$(BUILD)/bin/%)
	@mkdir -p bin
	@for p in $(PROGS); do \
		cmp -s $(BUILD)/bin/$$p bin/$$p || cp -f $(BUILD)/bin/$$p bin/$$p; \
	done

# A program links every .c file of its cmd/NAME/ directory, whose
# objects also depend on that directory's private headers.
define prog_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard cmd/$(1)/*.c)) $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
$(patsubst %.c,$(BUILD)/%.o,$(wildcard cmd/$(1)/*.c)): $(wildcard cmd/$(1)/*.h)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(LIB): $(LIB_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c $(wildcard include/herd/*.h) $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

# herdctl's status rendering is pure: its unit test links those objects.
$(BUILD)/tests/test_herdctl_status: $(BUILD)/cmd/herdctl/status.o \
    $(BUILD)/cmd/herdctl/json.o
$(BUILD)/tests/unit/test_herdctl_status.o: cmd/herdctl/herdctl.h

deps:
	@tests/deps.sh

deps-build:
	@tests/deps.sh build

# make test: install what is missing, then build and run everything in a
# fresh make so that pkg-config sees the freshly installed packages.
test: deps
	@$(MAKE) --no-print-directory check

check: all unit system

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; $$t || fail=1; \
	done; exit $$fail

# The flavour's own bin/: tests that run make (install, run) refresh the
# top-level bin/ with the normal build, which must not end a sanitized run.
system: all
	HERD_BIN=$(CURDIR)/$(BUILD)/bin $(PYTEST) -q tests/system $(PYTEST_ARGS)

# make run: the herd of RUN_CONFIG on loopback, in the foreground; ^C stops.
# The servers keep their records in build/run/data/NAME.
run: all
	@mkdir -p build/run
	HERD_RUN_DIR=$(CURDIR)/build/run HERD_DATA_DIR=$(CURDIR)/build/run/data \
	    bin/herdctl -c $(RUN_CONFIG) start --foreground

# make graph: docs/herd.svg, the picture of RUN_CONFIG's configured topology
# (README); a run directory no supervisor uses keeps live states out of it.
graph: all
	@mkdir -p docs
	HERD_RUN_DIR=$(CURDIR)/build/graph bin/herdctl -c $(RUN_CONFIG) graph \
	    > build/herd.dot
	dot -Tsvg build/herd.dot > build/herd.svg
	mv build/herd.svg docs/herd.svg

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/herd
	install -m 755 bin/herd-node bin/herdctl $(DESTDIR)$(BINDIR)/
	install -m 644 cmd/herdctl/herdctl.8 cmd/herd-node/herd-node.8 \
	    $(DESTDIR)$(MANDIR)/man8/
	install -m 644 etc/herd.ini.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	for u in herd.service herd-node@.service; do \
		sed 's|/usr/local/bin|$(BINDIR)|g; s|/etc/herd|$(SYSCONFDIR)/herd|g' \
		    systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/herd/herd.ini ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/herd/herd.ini"; \
	else \
		install -m 644 etc/herd.ini $(DESTDIR)$(SYSCONFDIR)/herd/herd.ini; \
	fi

# The configuration in $(SYSCONFDIR)/herd is the operator's: it stays.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/herd-node $(DESTDIR)$(BINDIR)/herdctl \
	    $(DESTDIR)$(MANDIR)/man8/herdctl.8 \
	    $(DESTDIR)$(MANDIR)/man8/herd-node.8 \
	    $(DESTDIR)$(MANDIR)/man5/herd.ini.5 \
	    $(DESTDIR)$(DOCDIR)/README.md \
	    $(DESTDIR)$(UNITDIR)/herd.service \
	    $(DESTDIR)$(UNITDIR)/herd-node@.service
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf build bin

# Fuzzing (make fuzz), benchmarks (make bench) and fault injection
# (make chaos) live with their code.
-include tests/fuzz/fuzz.mk
-include tests/bench/bench.mk
-include tests/chaos/chaos.mk
