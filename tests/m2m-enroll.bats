#!/usr/bin/env bats
# m2m-enroll: keys generated at file locations, requests signed by them,
# certificates and chains installed, read back and shown, and the whole
# station flow with m2m-ca.  Every test runs the real binary and asserts
# its exact exit status, stdout and stderr; keys, requests and
# certificates are judged by openssl.
#
# setup_file makes one CA hierarchy (root, factory) in $BATS_FILE_TMPDIR
# and one device key with its certificate and chain; each test works in
# its own $BATS_TEST_TMPDIR.

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'

HW=1.3.6.1.4.1.99999.1.1
SUBCOMMANDS='keygen csr install show'

setup_file() {
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null
	m2m-ca init factory --parent root --hw-type "$HW" \
		--device-subject 'O=Example,OU=Devices' > /dev/null
	# A device: its key, request, and certificate with the chain after it.
	m2m-enroll keygen --key dev.key > /dev/null
	m2m-enroll csr --key dev.key --out dev.csr
	m2m-ca issue --ca factory --csr dev.csr --bluetooth 00:1A:7D:DA:71:13 \
		--serial SN-1 --chain --out dev.pem
	openssl x509 -in dev.pem -out dev.crt
	openssl x509 -in dev.pem -outform DER -out dev.der
	cp factory/ca.crt chain.pem
	# Another key, whose certificate is not dev.key's.
	m2m-enroll keygen --key other.key > /dev/null
	m2m-enroll csr --key other.key --out other.csr
	m2m-ca issue --ca factory --csr other.csr --bluetooth 00:1A:7D:DA:71:14 \
		--serial SN-2 --chain --out other.pem
}

setup() {
	F=$BATS_FILE_TMPDIR
	unset M2M_TCTI
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ---- helpers -------------------------------------------------------------------

# spki_sha256 KEY [openssl pkey options]: the SHA-256 of the key's DER
# SubjectPublicKeyInfo, lower-case hex.
spki_sha256() {
	local key=$1
	shift
	openssl pkey -in "$key" "$@" -pubout -outform DER | sha256sum | cut -d' ' -f1
}

# cert_sha256 FILE: the SHA-256 of a PEM certificate's DER, lower-case hex.
cert_sha256() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

# serial_of FILE: the certificate's serial, lower case.
serial_of() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial)
	s=${s#serial=}
	printf '%s\n' "${s,,}"
}

# here: the names in the current directory, one per line, but for the
# files bats keeps there for run --separate-stderr.
here() {
	local f
	for f in * .[!.]* ..?*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		case $f in separate-stderr-*) continue ;; esac
		printf '%s\n' "$f"
	done
}

# ---- help and usage --------------------------------------------------------------

@test "--help prints every subcommand's usage lines and exits 0" {
	run --separate-stderr m2m-enroll --help
	assert_success
	assert_stderr ''
	assert_line --index 0 'usage: m2m-enroll keygen --key URI [--algorithm ALG] [--force] [--json]'
	assert_line --index 1 '   or: m2m-enroll csr --key URI [--subject DN] [--out FILE] [--der]'
	assert_line --index 2 '   or: m2m-enroll install --cert URI --in FILE [--chain FILE] [--key URI] [--force] [--json]'
	assert_line --index 3 '   or: m2m-enroll show --key URI [--cert URI] [--json]'
	assert_line --regexp '^ +-h, --help '
	assert_line --regexp '^ +-V, --version '
	run --separate-stderr m2m-enroll -h
	assert_success
	assert_line --index 0 --partial 'usage: m2m-enroll keygen '
}

@test "every subcommand's --help: its usage line, its options and the common ones" {
	local sub opt top
	top=$(m2m-enroll --help)
	for sub in $SUBCOMMANDS; do
		run --separate-stderr m2m-enroll "$sub" --help
		assert_success
		assert_stderr ''
		assert_line --index 0 --regexp "^usage: m2m-enroll $sub "
		[[ $top == *"${lines[0]#usage: }"* ]] ||
			fail "'${lines[0]}' is not in m2m-enroll --help"
		for opt in --passin --tcti --auth; do
			assert_line --regexp "^ +$opt SOURCE|^ +$opt CONFIG"
		done
		assert_line --regexp '^ +-h, --help +show this help and exit$'
	done
	run --separate-stderr m2m-enroll keygen --help
	for opt in --key --algorithm --force --passout --json; do
		assert_line --regexp "^ +$opt( |\$)"
	done
	run --separate-stderr m2m-enroll csr --help
	for opt in --key --subject --out --der; do
		assert_line --regexp "^ +$opt( |\$)"
	done
	refute_line --regexp '^ +--passout'
	run --separate-stderr m2m-enroll install --help
	for opt in --cert --in --chain --key --force --json; do
		assert_line --regexp "^ +$opt( |\$)"
	done
	run --separate-stderr m2m-enroll show --help
	for opt in --key --cert --json; do
		assert_line --regexp "^ +$opt( |\$)"
	done
}

@test "--version and -V print the Makefile's VERSION" {
	local version
	version=$(project_version)
	run --separate-stderr m2m-enroll --version
	assert_ok "m2m-enroll $version"
	run --separate-stderr m2m-enroll -V
	assert_ok "m2m-enroll $version"
	run --separate-stderr m2m-enroll show --version
	assert_ok "m2m-enroll $version"
}

@test "no subcommand: the usage lines on stderr, exit 2" {
	run --separate-stderr m2m-enroll
	assert_failure 2
	assert_output ''
	assert_equal "${stderr_lines[0]}" 'usage: m2m-enroll keygen --key URI [--algorithm ALG] [--force] [--json]'
}

@test "usage errors: exit 2, nothing made" {
	run --separate-stderr m2m-enroll frobnicate
	assert_error 2 "m2m-enroll: unknown command 'frobnicate' (see 'm2m-enroll --help')"
	run --separate-stderr m2m-enroll keygen --frobnicate
	assert_error 2 "m2m-enroll: unknown option '--frobnicate' (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen
	assert_error 2 "m2m-enroll: keygen needs --key URI (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen --key
	assert_error 2 "m2m-enroll: option '--key' needs an argument (URI) (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen --key k.pem extra
	assert_error 2 "m2m-enroll: unexpected argument 'extra' (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen --key k.pem --algorithm ec-p521
	assert_error 2 "m2m-enroll: unknown algorithm 'ec-p521' (ec-p256, ec-p384, rsa2048, rsa3072) (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen --key k.pem --algorithm ed25519
	assert_error 2 "m2m-enroll: unknown algorithm 'ed25519' (ec-p256, ec-p384, rsa2048, rsa3072) (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen --key k.pem --force=yes
	assert_error 2 "m2m-enroll: option '--force' takes no argument (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll csr --key k.pem --passout env:X
	assert_error 2 "m2m-enroll: unknown option '--passout' (see 'm2m-enroll csr --help')"
	run --separate-stderr m2m-enroll csr
	assert_error 2 "m2m-enroll: csr needs --key URI (see 'm2m-enroll csr --help')"
	run --separate-stderr m2m-enroll install --in x.pem
	assert_error 2 "m2m-enroll: install needs --cert URI (see 'm2m-enroll install --help')"
	run --separate-stderr m2m-enroll install --cert c.pem
	assert_error 2 "m2m-enroll: install needs --in FILE (- for standard input) (see 'm2m-enroll install --help')"
	run --separate-stderr m2m-enroll install --cert c.pem --in - --chain -
	assert_error 2 "m2m-enroll: --in and --chain cannot both be standard input (see 'm2m-enroll install --help')"
	run --separate-stderr m2m-enroll show --cert c.pem
	assert_error 2 "m2m-enroll: show needs --key URI (see 'm2m-enroll show --help')"
	run --separate-stderr m2m-enroll show --key k.pem --subject CN=x
	assert_error 2 "m2m-enroll: unknown option '--subject' (see 'm2m-enroll show --help')"
	assert_equal "$(here)" ''
}

# ---- keygen ------------------------------------------------------------------

@test "keygen: each algorithm, its output line, a 0600 PEM key openssl reads" {
	local alg fp want
	for alg in ec-p256 ec-p384 rsa2048 rsa3072; do
		run --separate-stderr m2m-enroll keygen --key "$alg.key" --algorithm "$alg"
		assert_success
		assert_stderr ''
		fp=$(spki_sha256 "$alg.key")
		assert_output "generated $alg key '$alg.key', public key SHA-256 $fp"
		assert_equal "$(stat -c %a "$alg.key")" 600
		assert_equal "$(head -n 1 "$alg.key")" '-----BEGIN PRIVATE KEY-----'
		case $alg in
		ec-p256) want='NIST CURVE: P-256' ;;
		ec-p384) want='NIST CURVE: P-384' ;;
		rsa2048) want='Public-Key: (2048 bit)' ;;
		rsa3072) want='Public-Key: (3072 bit)' ;;
		esac
		openssl pkey -in "$alg.key" -noout -text_pub | grep -qF "$want" ||
			fail "$alg.key: no '$want'"
	done
	# ec-p256 is the default.
	run --separate-stderr m2m-enroll keygen --key default.key
	assert_ok "generated ec-p256 key 'default.key', public key SHA-256 $(spki_sha256 default.key)"
	assert_equal "$(here | grep -c tmp)" 0
}

@test "keygen --json: key, algorithm and public key fingerprint" {
	run --separate-stderr m2m-enroll keygen --key "file:$PWD/k.pem" --algorithm ec-p384 --json
	assert_ok "{\"key\":\"file:$PWD/k.pem\",\"algorithm\":\"ec-p384\",\"public_key_fingerprint\":\"$(spki_sha256 k.pem)\"}"
}

@test "keygen refuses an existing key, exit 3, unchanged; --force replaces it" {
	m2m-enroll keygen --key k.pem > /dev/null
	local before
	before=$(cat k.pem)
	run --separate-stderr m2m-enroll keygen --key k.pem
	assert_error 3 "m2m-enroll: cannot generate a key at 'k.pem': 'k.pem' exists already (keys are never replaced)"
	assert_equal "$(cat k.pem)" "$before"
	run --separate-stderr m2m-enroll keygen --key k.pem --algorithm rsa2048
	assert_failure 3
	assert_equal "$(cat k.pem)" "$before"
	run --separate-stderr m2m-enroll keygen --key k.pem --force --algorithm ec-p384
	assert_ok "generated ec-p384 key 'k.pem', public key SHA-256 $(spki_sha256 k.pem)"
	[ "$(cat k.pem)" != "$before" ]
	assert_equal "$(stat -c %a k.pem)" 600
	assert_equal "$(here)" 'k.pem'
}

@test "keygen file: URI forms; a missing directory is exit 4" {
	run --separate-stderr m2m-enroll keygen --key "file://$PWD/a%20b.key"
	assert_ok "generated ec-p256 key 'file://$PWD/a%20b.key', public key SHA-256 $(spki_sha256 'a b.key')"
	run --separate-stderr m2m-enroll keygen --key "file://localhost$PWD/c.key" --json
	assert_success
	assert_file_exists c.key
	run --separate-stderr m2m-enroll keygen --key no/such/dir.key
	assert_error 4 "m2m-enroll: cannot generate a key at 'no/such/dir.key': cannot create 'no/such/dir.key': No such file or directory"
	run --separate-stderr m2m-enroll keygen --key file://otherhost/x.key
	assert_error 3 "m2m-enroll: cannot generate a key at 'file://otherhost/x.key': 'file://otherhost/x.key': only local file URIs are supported"
	run --separate-stderr m2m-enroll keygen --key file:
	assert_error 3 "m2m-enroll: cannot generate a key at 'file:': 'file:' names no file"
	run --separate-stderr m2m-enroll keygen --key ''
	assert_error 3 "m2m-enroll: cannot generate a key at '': empty key location"
	assert_equal "$(here)" $'a b.key\nc.key'
}

@test "keygen --passout encrypts a file key; csr and show need --passin for it" {
	export PW=correct-horse PW2=wrong-horse
	run --separate-stderr m2m-enroll keygen --key enc.key --passout env:PW
	assert_success
	assert_stderr ''
	assert_equal "$(head -n 1 enc.key)" '-----BEGIN ENCRYPTED PRIVATE KEY-----'
	assert_equal "$(stat -c %a enc.key)" 600
	assert_output "generated ec-p256 key 'enc.key', public key SHA-256 $(spki_sha256 enc.key -passin env:PW)"
	run --separate-stderr m2m-enroll csr --key enc.key
	assert_error 3 "m2m-enroll: cannot load the key 'enc.key': 'enc.key' is encrypted: give a passphrase source"
	run --separate-stderr m2m-enroll csr --key enc.key --passin env:PW2
	assert_error 3 "m2m-enroll: cannot load the key 'enc.key': wrong passphrase for 'enc.key'"
	run --separate-stderr m2m-enroll show --key enc.key --passin env:UNSET_M2M_VAR
	assert_error 3 "m2m-enroll: cannot load the key 'enc.key': environment variable 'UNSET_M2M_VAR' is not set"
	printf '%s\n' "$PW" > pw.txt
	run --separate-stderr m2m-enroll csr --key enc.key --passin file:pw.txt --out enc.csr
	assert_ok ''
	openssl req -in enc.csr -verify -noout 2> /dev/null
	# pass: works, and is warned about; the secret never shows.
	run --separate-stderr m2m-enroll show --key enc.key --passin "pass:$PW"
	assert_success
	assert_line --index 0 'key: enc.key'
	assert_stderr 'm2m-enroll: warning: --passin pass:... shows the secret to other users; prefer env:, file: or fd:'
	run --separate-stderr m2m-enroll keygen --key enc2.key --passout "pass:$PW"
	assert_success
	assert_stderr 'm2m-enroll: warning: --passout pass:... shows the secret to other users; prefer env:, file: or fd:'
	run --separate-stderr m2m-enroll csr --key enc.key --passin env:PW2
	[[ $output$stderr != *"$PW2"* ]] || fail "the passphrase shows"
	# A short passphrase is refused and leaves no key.
	export SHORT=abc
	run --separate-stderr m2m-enroll keygen --key short.key --passout env:SHORT
	assert_error 3 "m2m-enroll: cannot generate a key at 'short.key': passphrase for 'short.key' is shorter than 4 characters"
	assert_file_not_exists short.key
}

@test "keygen: --passin does not encrypt a new file key, --passout is for file keys only" {
	export PW=correct-horse
	run --separate-stderr m2m-enroll keygen --key k.pem --passin env:PW
	assert_error 2 "m2m-enroll: a new file key is encrypted with --passout, not --passin (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen --key 'pkcs11:token=factory;object=idevid' --passout env:PW
	assert_error 2 "m2m-enroll: --passout encrypts file keys; a pkcs11: key stays in its device (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020000 --passout env:PW
	assert_error 2 "m2m-enroll: --passout encrypts file keys; a tpm2: key stays in its device (see 'm2m-enroll keygen --help')"
	assert_equal "$(here)" ''
}

# ---- token and TPM that are not there ------------------------------------------------
# (tests/m2m-enroll-pkcs11.bats and tests/m2m-enroll-tpm2.bats use real
# ones; these need neither, and reach no TCP port.)

@test "a PKCS#11 module or a TPM that is not there: exit 5, naming the location; nothing made" {
	local nm=module-path=/nonexistent/libnone.so nt=swtpm:path=/nonexistent/sock
	local tpm="cannot reach the TPM at '$nt': tcti:IO failure"
	local mod="cannot load PKCS#11 module '/nonexistent/libnone.so': "
	run --separate-stderr m2m-enroll keygen --key "pkcs11:token=factory;object=idevid?$nm" --passin env:PIN
	assert_error_prefix 5 "m2m-enroll: cannot generate a key at 'pkcs11:token=factory;object=idevid?$nm': $mod"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020000 --tcti "$nt" --auth env:OWNER
	assert_error 5 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x81020000': $tpm"
	M2M_TCTI=$nt run --separate-stderr m2m-enroll csr --key tpm2:handle=0x81020000
	assert_error 5 "m2m-enroll: cannot load the key 'tpm2:handle=0x81020000': $tpm"
	M2M_TCTI=$nt run --separate-stderr m2m-enroll show --key "pkcs11:object=idevid?$nm"
	assert_error_prefix 5 "m2m-enroll: cannot load the key 'pkcs11:object=idevid?$nm': $mod"
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90000 --in "$F/dev.crt" --tcti "$nt"
	assert_error 5 "m2m-enroll: cannot store the certificate at 'tpm2:nv=0x01C90000': $tpm"
	run --separate-stderr m2m-enroll install --cert "pkcs11:object=idevid?$nm" --in "$F/dev.crt"
	assert_error_prefix 5 "m2m-enroll: cannot store the certificate at 'pkcs11:object=idevid?$nm': $mod"
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert "pkcs11:object=idevid?$nm"
	assert_error_prefix 5 "m2m-enroll: cannot load the certificate 'pkcs11:object=idevid?$nm': $mod"
	M2M_TCTI=$nt run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert tpm2:nv=0x01C90000
	assert_error 5 "m2m-enroll: cannot load the certificate 'tpm2:nv=0x01C90000': $tpm"
	assert_equal "$(here)" ''
}

@test "a PIN in a pkcs11: URI is warned about and never printed" {
	run --separate-stderr m2m-enroll keygen --key 'pkcs11:token=factory;object=idevid?pin-value=123456&module-path=/nonexistent/libnone.so'
	assert_failure 5
	assert_output ''
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" 'm2m-enroll: warning: --key with pin-value shows the PIN to other users; prefer pin-source or --passin'
	[[ ${stderr_lines[1]} == "m2m-enroll: cannot generate a key at 'pkcs11:token=factory;object=idevid?pin-value=***&module-path=/nonexistent/libnone.so': cannot load PKCS#11 module '/nonexistent/libnone.so': "* ]] ||
		fail "${stderr_lines[1]}"
	[[ $stderr != *123456* ]] || fail "the PIN shows: $stderr"
	# In the path by mistake: hidden where the URI is quoted in the
	# detail too, and the reason after it kept.
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert "pkcs11:object=idevid;pin-value=98'7654"
	assert_failure 3
	assert_output ''
	assert_stderr - <<-'EOF'
		m2m-enroll: warning: --cert with pin-value shows the PIN to other users; prefer pin-source or --passin
		m2m-enroll: cannot load the certificate 'pkcs11:object=idevid;pin-value=***': invalid PKCS#11 URI 'pkcs11:object=idevid;pin-value=***': 'pin-value' belongs in the query (after '?')
	EOF
	[[ $stderr != *7654* ]] || fail "the PIN shows: $stderr"
}

# ---- csr -----------------------------------------------------------------------

@test "csr: PEM on stdout that openssl verifies, for the key, with the subject" {
	run --separate-stderr m2m-enroll csr --key "$F/dev.key" --subject 'O=Example,OU=Devices,CN=dev-1'
	assert_success
	assert_stderr ''
	assert_line --index 0 '-----BEGIN CERTIFICATE REQUEST-----'
	printf '%s\n' "$output" > r.csr
	run openssl req -in r.csr -verify -noout -subject -nameopt RFC2253
	assert_success
	assert_output --partial 'subject=CN=dev-1,OU=Devices,O=Example'
	assert_output --partial 'verify OK'
	# The request's public key is the key's.
	assert_equal "$(openssl req -in r.csr -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" \
		"$(spki_sha256 "$F/dev.key")"
	# No subject: an empty one.
	m2m-enroll csr --key "$F/dev.key" > e.csr
	assert_equal "$(openssl req -in e.csr -noout -subject)" 'subject='
}

@test "csr --der, --out FILE and --out -" {
	run --separate-stderr m2m-enroll csr --key "$F/dev.key" --der --out r.der
	assert_ok ''
	openssl req -inform DER -in r.der -verify -noout 2> /dev/null
	m2m-enroll csr --key "$F/dev.key" --out - > r.pem
	openssl req -in r.pem -verify -noout 2> /dev/null
	# --out replaces a file that is there.
	m2m-enroll csr --key "$F/dev.key" --subject CN=second --out r.pem
	assert_equal "$(openssl req -in r.pem -noout -subject)" 'subject=CN = second'
	assert_equal "$(here | grep -c tmp)" 0
	run --separate-stderr m2m-enroll csr --key "$F/dev.key" --out no/such/r.pem
	assert_error 4 "m2m-enroll: cannot write the request: cannot create 'no/such/r.pem': No such file or directory"
}

@test "csr: each algorithm signs with its digest" {
	local alg want
	for alg in ec-p256 ec-p384 rsa2048; do
		m2m-enroll keygen --key "$alg.key" --algorithm "$alg" > /dev/null
		m2m-enroll csr --key "$alg.key" --subject "CN=$alg" --out "$alg.csr"
		case $alg in
		ec-p256) want=ecdsa-with-SHA256 ;;
		ec-p384) want=ecdsa-with-SHA384 ;;
		rsa2048) want=sha256WithRSAEncryption ;;
		esac
		openssl req -in "$alg.csr" -verify -noout 2> /dev/null
		openssl req -in "$alg.csr" -noout -text | grep -q "Signature Algorithm: $want" ||
			fail "$alg.csr is not signed with $want"
	done
}

@test "csr: a bad subject is exit 3; a missing or unusable key is exit 3" {
	run --separate-stderr m2m-enroll csr --key "$F/dev.key" --subject 'XX=nope'
	assert_failure 3
	assert_output ''
	[[ $stderr == "m2m-enroll: cannot make a request with '$F/dev.key': "* ]] || fail "$stderr"
	run --separate-stderr m2m-enroll csr --key none.key
	assert_error 3 "m2m-enroll: cannot load the key 'none.key': cannot open 'none.key': No such file or directory"
	cp "$F/dev.crt" cert-not-key.pem
	run --separate-stderr m2m-enroll csr --key cert-not-key.pem
	assert_error 3 "m2m-enroll: cannot load the key 'cert-not-key.pem': 'cert-not-key.pem' holds no private key"
	: > empty.key
	run --separate-stderr m2m-enroll show --key empty.key
	assert_error 3 "m2m-enroll: cannot load the key 'empty.key': 'empty.key' holds no private key"
}

# ---- install and show ------------------------------------------------------------------

@test "install: the certificate and the chain after it, stored as PEM and read back" {
	run --separate-stderr m2m-enroll install --cert dev.crt --in "$F/dev.pem" --key "$F/dev.key"
	assert_ok "installed certificate $(serial_of "$F/dev.pem") at 'dev.crt' with 1 chain certificate, SHA-256 $(cert_sha256 "$F/dev.pem")"
	# The certificate then the issuing CA's, exactly as PEM.
	assert_equal "$(cat dev.crt)" "$(cat "$F/dev.crt" "$F/factory/ca.crt")"
	assert_equal "$(stat -c %a dev.crt)" 644
	assert_equal "$(here)" 'dev.crt'
	run openssl verify -CAfile "$F/root/ca.crt" -untrusted dev.crt dev.crt
	assert_output 'dev.crt: OK'
}

@test "install --chain adds chain certificates; without a chain, one certificate" {
	run --separate-stderr m2m-enroll install --cert file:c1.pem --in "$F/dev.crt" --chain "$F/chain.pem"
	assert_ok "installed certificate $(serial_of "$F/dev.crt") at 'file:c1.pem' with 1 chain certificate, SHA-256 $(cert_sha256 "$F/dev.crt")"
	assert_equal "$(cat c1.pem)" "$(cat "$F/dev.crt" "$F/chain.pem")"
	cat "$F/factory/ca.crt" "$F/root/ca.crt" > two.pem
	run --separate-stderr m2m-enroll install --cert c2.pem --in "$F/dev.pem" --chain "$F/root/ca.crt"
	assert_success
	assert_output --partial ' with 2 chain certificates, '
	assert_equal "$(cat c2.pem)" "$(cat "$F/dev.crt" two.pem)"
	run --separate-stderr m2m-enroll install --cert c3.pem --in "$F/dev.crt"
	assert_ok "installed certificate $(serial_of "$F/dev.crt") at 'c3.pem' with 0 chain certificates, SHA-256 $(cert_sha256 "$F/dev.crt")"
	assert_equal "$(cat c3.pem)" "$(cat "$F/dev.crt")"
}

@test "install: DER and standard input; --json" {
	run --separate-stderr m2m-enroll install --cert d.pem --in "$F/dev.der" --json
	assert_ok "{\"cert\":\"d.pem\",\"certificate_serial\":\"$(serial_of "$F/dev.crt")\",\"subject\":\"serialNumber=SN-1,OU=Devices,O=Example\",\"fingerprint\":\"$(cert_sha256 "$F/dev.crt")\",\"chain\":0}"
	assert_equal "$(cat d.pem)" "$(cat "$F/dev.crt")"
	run --separate-stderr m2m-enroll install --cert s.pem --in - --key "$F/dev.key" --json < "$F/dev.pem"
	assert_ok "{\"cert\":\"s.pem\",\"certificate_serial\":\"$(serial_of "$F/dev.crt")\",\"subject\":\"serialNumber=SN-1,OU=Devices,O=Example\",\"fingerprint\":\"$(cert_sha256 "$F/dev.crt")\",\"chain\":1,\"matches_key\":true}"
	run --separate-stderr m2m-enroll install --cert s2.pem --in "$F/dev.crt" --chain - < "$F/chain.pem"
	assert_success
	assert_equal "$(cat s2.pem)" "$(cat "$F/dev.pem")"
}

@test "install refuses a certificate that is there, unless --force" {
	m2m-enroll install --cert c.pem --in "$F/dev.pem" > /dev/null
	local before
	before=$(cat c.pem)
	run --separate-stderr m2m-enroll install --cert c.pem --in "$F/other.pem"
	assert_error 3 "m2m-enroll: cannot store the certificate at 'c.pem': 'c.pem' exists already (force replaces it)"
	assert_equal "$(cat c.pem)" "$before"
	run --separate-stderr m2m-enroll install --cert c.pem --in "$F/other.pem" --force
	assert_success
	assert_equal "$(cat c.pem)" "$(cat "$F/other.pem")"
	assert_equal "$(here)" 'c.pem'
}

@test "install --key refuses a certificate of another key: exit 3, nothing written" {
	run --separate-stderr m2m-enroll install --cert c.pem --in "$F/other.pem" --key "$F/dev.key"
	assert_error 3 "m2m-enroll: certificate '$F/other.pem' does not match the key '$F/dev.key'"
	assert_equal "$(here)" ''
	# Not even over an existing one with --force.
	cp "$F/dev.pem" c.pem
	run --separate-stderr m2m-enroll install --cert c.pem --in - --key "$F/dev.key" --force < "$F/other.pem"
	assert_error 3 "m2m-enroll: certificate '<stdin>' does not match the key '$F/dev.key'"
	assert_equal "$(cat c.pem)" "$(cat "$F/dev.pem")"
}

@test "install: malformed, empty, missing and oversized inputs" {
	printf 'garbage\n' > garbage.pem
	run --separate-stderr m2m-enroll install --cert c.pem --in garbage.pem
	assert_error_prefix 3 "m2m-enroll: invalid certificate 'garbage.pem': not a DER certificate"
	: > empty.pem
	run --separate-stderr m2m-enroll install --cert c.pem --in empty.pem
	assert_error 3 "m2m-enroll: invalid certificate 'empty.pem': no certificate: the input is empty"
	head -n 5 "$F/dev.crt" > cut.pem
	run --separate-stderr m2m-enroll install --cert c.pem --in cut.pem
	assert_error_prefix 3 "m2m-enroll: invalid certificate 'cut.pem': PEM block 1 is malformed"
	cp "$F/dev.key" key-only.pem
	run --separate-stderr m2m-enroll install --cert c.pem --in key-only.pem
	assert_error 3 "m2m-enroll: invalid certificate 'key-only.pem': no CERTIFICATE block in the PEM"
	run --separate-stderr m2m-enroll install --cert c.pem --in "$F/dev.crt" --chain garbage.pem
	assert_error_prefix 3 "m2m-enroll: invalid chain 'garbage.pem': "
	run --separate-stderr m2m-enroll install --cert c.pem --in none.pem
	assert_error 4 "m2m-enroll: cannot read the certificate: cannot open 'none.pem': No such file or directory"
	run --separate-stderr m2m-enroll install --cert c.pem --in "$F/dev.crt" --chain none.pem
	assert_error 4 "m2m-enroll: cannot read the chain: cannot open 'none.pem': No such file or directory"
	run --separate-stderr m2m-enroll install --cert c.pem --in .
	assert_error 3 "m2m-enroll: cannot read the certificate: cannot read '.': Is a directory"
	local i
	for i in $(seq 16); do cat "$F/factory/ca.crt"; done > many.pem
	run --separate-stderr m2m-enroll install --cert c.pem --in "$F/dev.crt" --chain many.pem
	assert_error 3 'm2m-enroll: too many certificates: at most 16 with the chain'
	head -c 1100000 /dev/zero > big.pem
	run --separate-stderr m2m-enroll install --cert c.pem --in big.pem
	assert_error 3 "m2m-enroll: cannot read the certificate: 'big.pem' is larger than 1048576 bytes"
	assert_file_not_exists c.pem
	run --separate-stderr m2m-enroll install --cert no/such/c.pem --in "$F/dev.crt"
	assert_error 4 "m2m-enroll: cannot store the certificate at 'no/such/c.pem': cannot create 'no/such/c.pem': No such file or directory"
}

@test "show: the key alone" {
	run --separate-stderr m2m-enroll show --key "$F/dev.key"
	assert_ok - <<-EOF
		key: $F/dev.key
		algorithm: ec-p256
		public key SHA-256: $(spki_sha256 "$F/dev.key")
	EOF
	run --separate-stderr m2m-enroll show --key "file:$F/dev.key" --json
	assert_ok "{\"key\":\"file:$F/dev.key\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$(spki_sha256 "$F/dev.key")\"}"
}

@test "install then show: the certificate, its chain, and that it matches the key" {
	m2m-enroll install --cert dev.crt --in "$F/dev.pem" --key "$F/dev.key" > /dev/null
	local nb na
	nb=$(date -u -d "$(openssl x509 -in dev.crt -noout -startdate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert dev.crt
	assert_ok - <<-EOF
		key: $F/dev.key
		algorithm: ec-p256
		public key SHA-256: $(spki_sha256 "$F/dev.key")
		certificate: dev.crt
		subject: serialNumber=SN-1,OU=Devices,O=Example
		issuer: CN=m2m issuing CA factory
		certificate serial: $(serial_of dev.crt)
		not before: $nb
		not after: 9999-12-31T23:59:59Z
		SHA-256: $(cert_sha256 dev.crt)
		chain: 1 certificate
		matches key: yes
	EOF
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert dev.crt --json
	assert_ok "{\"key\":\"$F/dev.key\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$(spki_sha256 "$F/dev.key")\",\"cert\":\"dev.crt\",\"subject\":\"serialNumber=SN-1,OU=Devices,O=Example\",\"issuer\":\"CN=m2m issuing CA factory\",\"certificate_serial\":\"$(serial_of dev.crt)\",\"not_before\":\"$nb\",\"not_after\":\"9999-12-31T23:59:59Z\",\"fingerprint\":\"$(cert_sha256 dev.crt)\",\"chain\":1,\"matches_key\":true}"
	# The JSON is what jq reads.
	if command -v jq > /dev/null; then
		assert_equal "$(jq -r '.matches_key, .chain, .algorithm' <<<"$output")" $'true\n1\nec-p256'
	fi
}

@test "show: a certificate of another key is a negative verdict, exit 1, after the output" {
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert "$F/other.pem"
	assert_failure 1
	assert_line --index 0 "key: $F/dev.key"
	assert_line 'chain: 1 certificate'
	assert_line 'matches key: no'
	assert_stderr "m2m-enroll: certificate '$F/other.pem' does not match the key '$F/dev.key'"
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert "$F/other.pem" --json
	assert_failure 1
	assert_output --partial '"chain":1,"matches_key":false}'
}

@test "show: a certificate that is not there or is malformed is exit 3" {
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert none.pem
	assert_error 3 "m2m-enroll: cannot load the certificate 'none.pem': cannot open 'none.pem': No such file or directory"
	printf 'garbage\n' > garbage.pem
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert garbage.pem
	assert_error_prefix 3 "m2m-enroll: cannot load the certificate 'garbage.pem': 'garbage.pem': not a DER certificate"
	: > empty.pem
	run --separate-stderr m2m-enroll show --key "$F/dev.key" --cert file:empty.pem
	assert_error 3 "m2m-enroll: cannot load the certificate 'file:empty.pem': 'empty.pem': no certificate: the input is empty"
	run --separate-stderr m2m-enroll show --key none.key --cert "$F/dev.pem"
	assert_error 3 "m2m-enroll: cannot load the key 'none.key': cannot open 'none.key': No such file or directory"
}

# ---- the station's flow --------------------------------------------------------------

@test "end to end: keygen, csr, m2m-ca issue, install, show; the installed chain verifies" {
	local fp
	run --separate-stderr m2m-enroll keygen --key file:station/dev.key
	assert_error 4 "m2m-enroll: cannot generate a key at 'file:station/dev.key': cannot create 'station/dev.key': No such file or directory"
	mkdir station
	run --separate-stderr m2m-enroll keygen --key file:station/dev.key --algorithm ec-p384 --json
	assert_success
	fp=$(spki_sha256 station/dev.key)
	assert_output "{\"key\":\"file:station/dev.key\",\"algorithm\":\"ec-p384\",\"public_key_fingerprint\":\"$fp\"}"
	m2m-enroll csr --key file:station/dev.key --out station/dev.csr
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr station/dev.csr \
		--wifi 3C:71:BF:4A:0B:2E --serial SN-E2E --chain --out station/dev.pem
	assert_ok ''
	run --separate-stderr m2m-enroll install --cert file:station/dev.crt --in station/dev.pem \
		--key file:station/dev.key --json
	assert_success
	assert_output --partial '"subject":"serialNumber=SN-E2E,OU=Devices,O=Example"'
	assert_output --partial '"chain":1,"matches_key":true}'
	run --separate-stderr m2m-enroll show --key file:station/dev.key --cert file:station/dev.crt
	assert_success
	assert_line --index 1 'algorithm: ec-p384'
	assert_line --index 2 "public key SHA-256: $fp"
	assert_line 'matches key: yes'
	assert_line 'chain: 1 certificate'
	run openssl verify -CAfile "$F/root/ca.crt" -untrusted station/dev.crt station/dev.crt
	assert_success
	assert_output 'station/dev.crt: OK'
	# The certificate's key is the one made at the station.
	assert_equal "$(openssl x509 -in station/dev.crt -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" "$fp"
}
