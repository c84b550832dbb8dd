# SoftHSM2 tokens for bats tests: a PKCS#11 token in a temporary
# directory, standing in for a smartcard or HSM.
#
#   load 'helpers/softhsm'
#
#   softhsm_setup [DIR [LABEL]]
#       Make a token directory under DIR (default: $BATS_TEST_TMPDIR, else
#       a new mktemp -d), write DIR/softhsm2.conf pointing at it, export
#       SOFTHSM2_CONF, and initialise a token labelled LABEL (default
#       m2m-test) in the first free slot.  Exports:
#         SOFTHSM_DIR        DIR
#         SOFTHSM_TOKEN      the token's label
#         SOFTHSM_PIN        the user PIN (for pkcs11-tool; tools read it
#                            from a file)
#         SOFTHSM_SO_PIN     the security officer's PIN
#         SOFTHSM_PIN_FILE   a file (mode 0600) holding the user PIN, for
#                            pin-source=file:... or --pin-source file:...
#         SOFTHSM_MODULE     the module library (for module-path= and
#                            pkcs11-tool --module)
#       Returns 1 (after saying why on stderr) if softhsm2-util or the
#       module is missing: call it as `softhsm_setup || skip "no SoftHSM"`.
#   softhsm_add_token LABEL
#       Initialise one more token (same PINs) in the same directory.
#   softhsm_objects
#       pkcs11-tool --list-objects of $SOFTHSM_TOKEN, logged in.
#   softhsm_teardown
#       Remove the token directory (only if softhsm_setup made it) and
#       unset what softhsm_setup exported.

softhsm_module() {
	local m
	for m in /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/lib/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so \
		/usr/lib64/pkcs11/libsofthsm2.so; do
		[ -f "$m" ] && { printf '%s\n' "$m"; return 0; }
	done
	return 1
}

softhsm_setup() {
	local base=${1:-} label=${2:-m2m-test}

	if ! command -v softhsm2-util >/dev/null 2>&1; then
		echo "softhsm_setup: softhsm2-util is not installed" >&2
		return 1
	fi
	SOFTHSM_MODULE=$(softhsm_module) || {
		echo "softhsm_setup: libsofthsm2.so not found" >&2
		return 1
	}
	_SOFTHSM_MADE=
	if [ -z "$base" ]; then
		if [ -n "${BATS_TEST_TMPDIR:-}" ]; then
			base=$BATS_TEST_TMPDIR/softhsm
		else
			base=$(mktemp -d) || return 1
		fi
		_SOFTHSM_MADE=1
	fi
	mkdir -p "$base/tokens" || return 1
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$base" > "$base/softhsm2.conf" || return 1
	SOFTHSM_DIR=$base
	SOFTHSM2_CONF=$base/softhsm2.conf
	SOFTHSM_TOKEN=$label
	SOFTHSM_PIN=1234
	SOFTHSM_SO_PIN=12345678
	SOFTHSM_PIN_FILE=$base/pin
	export SOFTHSM_DIR SOFTHSM2_CONF SOFTHSM_TOKEN SOFTHSM_PIN \
		SOFTHSM_SO_PIN SOFTHSM_PIN_FILE SOFTHSM_MODULE
	(umask 077 && printf '%s\n' "$SOFTHSM_PIN" > "$SOFTHSM_PIN_FILE") || return 1
	softhsm_add_token "$label"
}

softhsm_add_token() {
	softhsm2-util --init-token --free --label "$1" --pin "$SOFTHSM_PIN" \
		--so-pin "$SOFTHSM_SO_PIN" >/dev/null
}

softhsm_objects() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$SOFTHSM_TOKEN" \
		--login --pin "$SOFTHSM_PIN" --list-objects 2>/dev/null
}

softhsm_teardown() {
	if [ -n "${_SOFTHSM_MADE:-}" ] && [ -n "${SOFTHSM_DIR:-}" ]; then
		rm -rf "$SOFTHSM_DIR"
	fi
	unset SOFTHSM_DIR SOFTHSM2_CONF SOFTHSM_TOKEN SOFTHSM_PIN \
		SOFTHSM_SO_PIN SOFTHSM_PIN_FILE SOFTHSM_MODULE _SOFTHSM_MADE
}
