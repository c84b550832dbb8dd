#!/usr/bin/env bats
# make install into a DESTDIR, and a program built against that install
# with pkg-config.  Installs what the build tree holds; never rebuilds it.

load 'helpers/common'

setup() {
	DESTDIR=$BATS_TEST_TMPDIR/root
}

# install_tree: make -s install DESTDIR=$DESTDIR PREFIX=/usr, from $ROOT.
#
# `make install` depends on `all`, and the build tree's objects depend on
# $(B)/.flags, which is rewritten (FORCE) whenever the knobs differ from the
# ones the tree was built with (DEVELOPER=1, SANITIZE=...): a plain
# `make install` would then rebuild everything.  `-o FORCE` keeps .flags as
# it is, so make installs what is there; a tree that is out of date
# for other reasons (sources newer than objects) is refused instead.
install_tree() {
	if ! make -s -q -C "$ROOT" B="$BUILD" -o FORCE all >/dev/null 2>&1; then
		fail "the build tree $BUILD is out of date: run make first"
		return 1
	fi
	run --separate-stderr make -s -C "$ROOT" B="$BUILD" -o FORCE install \
		DESTDIR="$DESTDIR" PREFIX=/usr
	assert_success
	assert_stderr ''
}

@test "make install puts every file in DESTDIR under PREFIX" {
	local h tool
	install_tree
	assert_file_executable "$DESTDIR/usr/bin/m2m-idgen"
	assert_file_exists "$DESTDIR/usr/lib/libm2m.a"
	for h in "$ROOT"/include/m2m/*.h; do
		assert_file_exists "$DESTDIR/usr/include/m2m/${h##*/}"
		cmp -s "$h" "$DESTDIR/usr/include/m2m/${h##*/}" ||
			fail "installed ${h##*/} differs from include/m2m/${h##*/}"
	done
	assert_file_exists "$DESTDIR/usr/include/m2m/ppid.h"
	assert_file_exists "$DESTDIR/usr/include/m2m/ctx.h"
	assert_file_exists "$DESTDIR/usr/lib/pkgconfig/m2m.pc"
	assert_file_exists "$DESTDIR/usr/share/man/man1/m2m-idgen.1"
	assert_file_exists "$DESTDIR/usr/share/man/man7/m2m.7"
	# Every tool and its page.
	for tool in $(project_tools); do
		assert_file_executable "$DESTDIR/usr/bin/$tool"
		assert_file_exists "$DESTDIR/usr/share/man/man1/$tool.1"
	done
	# Nothing outside PREFIX.
	run find "$DESTDIR" -mindepth 1 -maxdepth 1
	assert_output "$DESTDIR/usr"
}

@test "the installed binary runs" {
	install_tree
	run --separate-stderr "$DESTDIR/usr/bin/m2m-idgen" --version
	assert_ok "m2m-idgen $(project_version)"
	run --separate-stderr "$DESTDIR/usr/bin/m2m-idgen" --bluetooth 00:1A:7D:DA:71:13
	assert_ok 01001a7dda7113
}

@test "the installed m2m.pc names PREFIX, the version and libcrypto" {
	install_tree
	local pc=$DESTDIR/usr/lib/pkgconfig/m2m.pc
	assert_file_exists "$pc"
	run grep -E '^(prefix|libdir|includedir)=' "$pc"
	assert_output - <<-'EOF'
	prefix=/usr
	libdir=/usr/lib
	includedir=/usr/include
	EOF
	run grep -E '^Version:' "$pc"
	assert_output "Version: $(project_version)"
	# The library calls libcrypto; every module it requires must exist.
	local requires mod
	requires=$(sed -n 's/^Requires.private:[[:space:]]*//p' "$pc")
	[[ " $requires " == *" libcrypto "* ]] ||
		fail "Requires.private does not name libcrypto: '$requires'"
	for mod in $requires; do
		pkg-config --exists "$mod" || fail "Requires.private: no module $mod"
	done
}

@test "a program using <m2m/ppid.h> builds with pkg-config against the install and encodes vector 1" {
	install_tree
	local pc_dir=$DESTDIR/usr/lib/pkgconfig cflags libs san
	# Point the paths of m2m.pc into DESTDIR whatever prefix it was made
	# with (the test above checks that prefix); libcrypto's own .pc comes
	# from the system path.
	cflags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags m2m \
		--define-variable=includedir="$DESTDIR/usr/include") ||
		fail 'pkg-config --cflags m2m failed'
	libs=$(PKG_CONFIG_PATH=$pc_dir pkg-config --static --libs m2m \
		--define-variable=libdir="$DESTDIR/usr/lib") ||
		fail 'pkg-config --static --libs m2m failed'
	[[ $cflags == *"-I$DESTDIR/usr/include"* ]] || fail "cflags: $cflags"
	[[ $libs == *"-L$DESTDIR/usr/lib"* ]] || fail "libs: $libs"
	[[ $libs == *-lcrypto* ]] || fail "libs without -lcrypto: $libs"
	# A sanitizer build's library needs the sanitizer at link time.
	san=$(grep -oE -- '-fsanitize=[^ ]+' "$BUILD/.flags" 2>/dev/null | head -n 1)

	cat > "$BATS_TEST_TMPDIR/vector.c" <<-'EOF'
	#include <stdio.h>
	#include <string.h>

	#include <m2m/ctx.h>
	#include <m2m/ppid.h>

	int main(void)
	{
		static const char addr[] = "00:1A:7D:DA:71:13";
		struct m2m_ctx *ctx = NULL;
		struct m2m_ppid p;
		char hex[M2M_PPID_HEX_MAX];
		int status = 1;

		if (m2m_ctx_new(&ctx) != M2M_OK)
			return 2;
		m2m_ppid_init(&p);
		if (m2m_ppid_set_text(ctx, &p, M2M_TECH_BLUETOOTH, addr,
				      strlen(addr)) == M2M_OK &&
		    m2m_ppid_to_hex(ctx, &p, hex, sizeof(hex), NULL) == M2M_OK) {
			printf("%s %s\n", hex, m2m_version());
			status = 0;
		} else {
			fprintf(stderr, "%s\n", m2m_ctx_detail(ctx));
		}
		m2m_ctx_free(ctx);
		return status;
	}
	EOF
	# shellcheck disable=SC2086
	run --separate-stderr cc -std=c99 -Wall -Wextra -Werror $san $cflags \
		-o "$BATS_TEST_TMPDIR/vector" "$BATS_TEST_TMPDIR/vector.c" $libs
	assert_success
	assert_stderr ''
	run --separate-stderr "$BATS_TEST_TMPDIR/vector"
	assert_ok "01001a7dda7113 $(project_version)"
}

@test "scripts/install-deps --check finds every dependency" {
	run --separate-stderr "$ROOT/scripts/install-deps" --check
	assert_success
	assert_output ''
	assert_stderr ''
}
