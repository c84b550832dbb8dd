# m2m: device identity provisioning toolkit.  One non-recursive Makefile.
#
#   make                  build build/libm2m.a and the commands in build/bin/
#   make check            install missing dependencies, build, run every test
#   make install          PREFIX=/usr/local DESTDIR=
#   make fuzz             libFuzzer harnesses (clang) in build/fuzz/
#   make bench            run every benchmark under bench/, print one table
#   make demo             the README's first command: the main job on defaults
#   make clean
#
# Knobs: V=1 (show commands), DEVELOPER=1 (warnings are errors),
#        SANITIZE=address,undefined (sanitizer build), CC, CFLAGS, LDFLAGS.

VERSION = 0.1.0

PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
MANDIR = $(PREFIX)/share/man
PKGCONFIGDIR = $(LIBDIR)/pkgconfig

B = build
CC ?= cc
CLANG ?= clang
PKG_CONFIG ?= pkg-config
INSTALL ?= install

DEPS_PC = libcrypto sqlite3 libpq p11-kit-1 tss2-esys tss2-tctildr tss2-mu tss2-rc
# m2m-ca serve: CMP over HTTP(S) (lib/cmp_http.c)
DEPS_PC += libssl libevent libevent_openssl libevent_pthreads
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEPS_PC) 2>/dev/null)
DEPS_LIBS := $(shell $(PKG_CONFIG) --libs $(DEPS_PC) 2>/dev/null || echo -lcrypto -lsqlite3 -lpq -lp11-kit -ltss2-esys -ltss2-tctildr -ltss2-mu -ltss2-rc -lssl -levent_openssl -levent_pthreads -levent)

CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wwrite-strings -Wvla
HARDENING = -fstack-protector-strong -fPIE
ifdef DEVELOPER
WARNINGS += -Werror
endif
ifdef SANITIZE
SAN_FLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
HARDENING += -D_FORTIFY_SOURCE=2
endif

ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(WARNINGS) $(HARDENING) $(SAN_FLAGS) \
	-Iinclude -DM2M_VERSION='"$(VERSION)"' $(DEPS_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS) -pie -Wl,-z,relro,-z,now
LIBS = $(DEPS_LIBS)

ifneq ($(V),1)
Q = @
QUIET_CC = @echo '   CC     ' $@;
QUIET_LINK = @echo '   LINK   ' $@;
QUIET_AR = @echo '   AR     ' $@;
QUIET_GEN = @echo '   GEN    ' $@;
endif

LIB_SRC = $(wildcard lib/*.c lib/*/*.c)
CMD_SRC = $(wildcard cmd/m2m-*.c)
CLI_SRC = cmd/cli.c
UNIT_SRC = $(wildcard tests/unit/test_*.c)
FUZZ_SRC = $(wildcard fuzz/fuzz_*.c)
BENCH_SRC = $(wildcard bench/*.c)

LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ = $(CLI_SRC:%.c=$(B)/%.o)
CMDS = $(CMD_SRC:cmd/%.c=$(B)/bin/%)
UNITS = $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
REPLAYS = $(FUZZ_SRC:fuzz/fuzz_%.c=$(B)/fuzz/replay_%)
FUZZERS = $(FUZZ_SRC:fuzz/fuzz_%.c=$(B)/fuzz/fuzz_%)
BENCHES = $(BENCH_SRC:bench/%.c=$(B)/bench/%)
LIBM2M = $(B)/libm2m.a
MANS = $(wildcard man/*.1 man/*.7)

all: $(LIBM2M) $(CMDS) $(B)/m2m.pc
# gen_csrs makes the requests of the tests' large batches too.
tests: all $(UNITS) $(REPLAYS) $(B)/bench/gen_csrs

# Rebuild everything when the flags change (git's GIT-CFLAGS idea).
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LIBS)' > $@.new
	@if cmp -s $@ $@.new; then rm $@.new; else mv $@.new $@; fi

$(B)/%.o: %.c $(B)/.flags
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBM2M): $(LIB_OBJ)
	@rm -f $@
	$(QUIET_AR)$(AR) rcs $@ $^

$(B)/bin/%: $(B)/cmd/%.o $(CLI_OBJ) $(LIBM2M)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@.tmp $(filter %.o,$^) $(LIBM2M) $(LIBS) && mv -f $@.tmp $@

# m2m-enroll's subcommands are in more than one file.
$(B)/bin/m2m-enroll: $(B)/cmd/enroll_ldevid.o $(B)/cmd/enroll_cmp.o
$(B)/bin/m2m-ca: $(B)/cmd/ca_serve.o

$(B)/unit/%: $(B)/tests/unit/%.o $(LIBM2M)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@.tmp $^ $(LIBS) && mv -f $@.tmp $@

# Replay drivers: each harness linked with a plain main() that runs it over
# files, built with the project's compiler and flags (sanitizers included).
$(B)/fuzz/replay_%: $(B)/fuzz/fuzz_%.o $(B)/fuzz/replay.o $(LIBM2M)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@.tmp $^ $(LIBS) && mv -f $@.tmp $@

$(B)/bench/%: $(B)/bench/%.o $(LIBM2M)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@.tmp $^ $(LIBS) && mv -f $@.tmp $@

# m2m.pc for PREFIX as it is when made (install makes its own).  libpq is
# named by its library, not its .pc, whose static dependencies (libpgcommon,
# GSSAPI, LDAP) Debian's libpq-dev does not install.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	-e 's|@REQUIRES@|$(filter-out libpq,$(DEPS_PC))|'
$(B)/m2m.pc: m2m.pc.in $(B)/.flags
	@mkdir -p $(@D)
	$(QUIET_GEN)$(PC_SED) $< > $@

# libFuzzer builds: the library compiled again with clang into an archive
# of its own, so each harness links only the objects it needs.
FUZZ_SAN = -fsanitize=address,undefined
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE -g -O1 -Iinclude \
	-DM2M_VERSION='"$(VERSION)"' $(DEPS_CFLAGS) $(FUZZ_SAN)
FUZZ_LIB_OBJ = $(LIB_SRC:%.c=$(B)/fuzz-obj/%.o)
FUZZ_LIB = $(B)/fuzz-obj/libm2m.a
fuzz: $(FUZZERS)
$(B)/fuzz-obj/%.o: %.c $(B)/.flags
	@mkdir -p $(@D)
	$(QUIET_CC)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(QUIET_AR)$(AR) rcs $@ $^
$(B)/fuzz/fuzz_%: $(B)/fuzz-obj/fuzz/fuzz_%.o $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@.tmp $^ $(LIBS) && mv -f $@.tmp $@

check:
	$(Q)scripts/install-deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)if command -v $(CLANG) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory fuzz; fi
	$(Q)B=$(B) scripts/check

bench: all $(BENCHES)
	$(Q)B=$(B) bench/run

demo:
	$(Q)B=$(B) scripts/demo

lint-man:
	$(Q)for m in $(MANS); do mandoc -Tlint -Wwarning $$m || exit 1; done

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR)/m2m $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	$(INSTALL) -m 755 $(CMDS) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 644 $(LIBM2M) $(DESTDIR)$(LIBDIR)
	$(INSTALL) -m 644 include/m2m/*.h $(DESTDIR)$(INCLUDEDIR)/m2m
	$(PC_SED) m2m.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/m2m.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/m2m.pc
	$(INSTALL) -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7

clean:
	rm -rf $(B)

FORCE:
.PHONY: all tests check fuzz bench demo lint-man install clean FORCE
.SECONDARY:
.DELETE_ON_ERROR:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
