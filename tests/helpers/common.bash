# Shared setup and helpers for every tests/*.bats file:
#
#   load 'helpers/common'
#
# Sets ROOT (the source tree) and BUILD (the build tree: $M2M_BUILD, which
# scripts/check exports, else $ROOT/build), puts $BUILD/bin first on PATH so
# that tests run the tools just built, and loads bats-support, bats-assert
# and bats-file.  Tests use `run --separate-stderr` and assert stdout with
# assert_output and stderr with assert_stderr below.

bats_require_minimum_version 1.5.0

# The libraries' load.bash files run dirname once per source file, and a
# fork costs ~10 ms here: 17 of them per test made the suite three times
# slower.  So source their files directly, support first, falling back on
# `load` if the layout ever changes.
BATS_LIBS=${BATS_LIBS:-/usr/lib/bats}
if [ -d "$BATS_LIBS/bats-support/src" ] && [ -d "$BATS_LIBS/bats-assert/src" ] &&
	[ -d "$BATS_LIBS/bats-file/src" ]; then
	for _lib in "$BATS_LIBS"/bats-support/src/*.bash \
		"$BATS_LIBS"/bats-assert/src/*.bash \
		"$BATS_LIBS"/bats-file/src/*.bash; do
		# shellcheck disable=SC1090
		source "$_lib"
	done
	unset _lib
else
	load "$BATS_LIBS/bats-support/load"
	load "$BATS_LIBS/bats-assert/load"
	load "$BATS_LIBS/bats-file/load"
fi

# $BATS_TEST_DIRNAME/.., without a subshell.
case $BATS_TEST_DIRNAME in
/*/tests) ROOT=${BATS_TEST_DIRNAME%/tests} ;;
*) ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd) ;;
esac
BUILD=${M2M_BUILD:-$ROOT/build}
PATH=$BUILD/bin:$PATH
export ROOT BUILD PATH

# Messages must not depend on the tester's locale (strerror texts).
export LC_ALL=C

# ---- assertions --------------------------------------------------------------

# assert_stderr EXPECTED | assert_stderr - <<EOF
# The standard error of the last `run --separate-stderr` is exactly
# EXPECTED (all lines; bats drops the white space, final newline included,
# at either end of stderr).
assert_stderr() {
	local expected

	if [ "${1-}" = - ]; then
		expected=$(cat)
	else
		expected=${1-}
	fi
	if [ "${stderr-}" != "$expected" ]; then
		batslib_print_kv_single_or_multi 8 \
			'expected' "$expected" 'actual' "${stderr-}" |
			batslib_decorate 'stderr differs' | fail
	fi
}

# assert_stderr_line [-p] TEXT
# Some line of stderr is exactly TEXT (with -p: contains TEXT).
assert_stderr_line() {
	local partial=0 line

	if [ "$1" = -p ]; then
		partial=1
		shift
	fi
	# shellcheck disable=SC2154 # set by run --separate-stderr
	for line in "${stderr_lines[@]}"; do
		if [ "$line" = "$1" ] ||
			{ [ $partial = 1 ] && [[ $line == *"$1"* ]]; }; then
			return 0
		fi
	done
	batslib_print_kv_single_or_multi 6 'line' "$1" 'stderr' "${stderr-}" |
		batslib_decorate 'no such line in stderr' | fail
}

# assert_error STATUS LINE
# The command exited with STATUS, wrote nothing on standard output, and
# exactly the one line LINE on standard error.
assert_error() {
	assert_failure "$1"
	assert_output ''
	assert_stderr "$2"
}

# assert_error_prefix STATUS PREFIX
# As assert_error, but the one line on standard error need only start with
# PREFIX: for messages that end in a detail of OpenSSL's.
assert_error_prefix() {
	assert_failure "$1"
	assert_output ''
	# shellcheck disable=SC2154 # set by run --separate-stderr
	if [ "${#stderr_lines[@]}" -ne 1 ] || [[ ${stderr-} != "$2"* ]]; then
		batslib_print_kv_single_or_multi 8 \
			'prefix' "$2" 'stderr' "${stderr-}" |
			batslib_decorate 'stderr is not one line starting with prefix' |
			fail
	fi
}

# assert_ok EXPECTED | assert_ok - <<EOF
# The command succeeded, wrote EXPECTED on stdout and nothing on stderr.
assert_ok() {
	assert_success
	assert_output "$@"
	assert_stderr ''
}

# ---- files and values ----------------------------------------------------------

# write_file NAME < CONTENT: write stdin, byte for byte, to NAME under
# $BATS_TEST_TMPDIR.  For bytes a here-document cannot hold (CR, NUL, a
# BOM), use printf > "$BATS_TEST_TMPDIR/NAME" instead.
write_file() {
	local path=$BATS_TEST_TMPDIR/$1

	mkdir -p "${path%/*}"
	cat > "$path"
}

# repeat CHAR N: CHAR written N times, no newline.
repeat() {
	local s

	printf -v s '%*s' "$2" ''
	printf '%s' "${s// /$1}"
}

# project_version: VERSION from the Makefile ("0.1.0").
project_version() {
	sed -n 's/^VERSION[[:space:]]*=[[:space:]]*//p' "$ROOT/Makefile"
}

# project_tools: the name of every command, one per line (m2m-idgen, ...),
# from cmd/m2m-*.c, so that tests loop over tools added later.
project_tools() {
	local f

	for f in "$ROOT"/cmd/m2m-*.c; do
		[ -e "$f" ] || continue
		f=${f##*/}
		printf '%s\n' "${f%.c}"
	done
}
