#!/usr/bin/env bats
# m2m-enroll and m2m-ca with keys and certificates on a PKCS#11 token: the
# real binaries against a real SoftHSM2 token, judged by opensc's
# pkcs11-tool and openssl.  One token serves the whole file: its
# directory and SOFTHSM2_CONF are in $BATS_FILE_TMPDIR; the module is
# found through p11-kit's configuration (SoftHSM2's package registers it)
# or, in one test, loaded by module-path.  Tests use objects of their own
# labels and ids, so that each can also run alone (bats -f).
#
# The user PIN reaches our commands from a file or the environment, and
# pkcs11-tool from the environment (--pin env:VAR); only softhsm2-util
# needs it on its command line, for this throwaway token.

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/softhsm'

HW=1.3.6.1.4.1.99999.1.1

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	softhsm_setup "$BATS_FILE_TMPDIR/softhsm" m2m-test || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null
	m2m-ca init factory --parent root --hw-type "$HW" \
		--device-subject 'O=Example,OU=Devices' > /dev/null
	# A certificate of a file key that no token key matches.
	m2m-enroll keygen --key other.key > /dev/null
	m2m-enroll csr --key other.key --out other.csr
	m2m-ca issue --ca factory --csr other.csr --bluetooth 00:1A:7D:DA:71:99 \
		--serial SN-OTHER --out other.pem
}

teardown_file() {
	softhsm_teardown
}

setup() {
	F=$BATS_FILE_TMPDIR
	T="pkcs11:token=$SOFTHSM_TOKEN"
	PIN=$SOFTHSM_PIN_FILE
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ---- helpers -------------------------------------------------------------------

# p11tool ARGS...: pkcs11-tool on our token, logged in, the PIN from the
# environment.
p11tool() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$SOFTHSM_TOKEN" \
		--login --pin env:SOFTHSM_PIN "$@"
}

# p11_objects: every object on the token, one sorted line each:
#   KIND|label=LABEL|id=HEX[|access=...]
# with KIND "Private Key Object; EC", "Certificate Object; type = X.509
# cert" and so on, as pkcs11-tool names them.
p11_objects() {
	p11tool --list-objects 2> /dev/null | awk '
		/Object;/ { if (h != "") print h; h = $0; next }
		/^  label:/ { sub(/^  label: +/, ""); h = h "|label=" $0; next }
		/^  ID:/ { h = h "|id=" $2; next }
		/^  Access:/ { sub(/^  Access: +/, ""); h = h "|access=" $0; next }
		END { if (h != "") print h }' | sort
}

# p11_spki ID: the SHA-256 of the DER SubjectPublicKeyInfo of the public
# key object with CKA_ID ID (hex), as pkcs11-tool reads it.
p11_spki() {
	p11tool --read-object --type pubkey --id "$1" -o "$BATS_TEST_TMPDIR/p11-pub.der" 2> /dev/null &&
		openssl pkey -pubin -inform DER -in "$BATS_TEST_TMPDIR/p11-pub.der" -outform DER |
		sha256sum | cut -d' ' -f1
}

# p11_ec_point ID: the uncompressed EC point of the public key object with
# CKA_ID ID, lower-case hex, from the DER OCTET STRING of its CKA_EC_POINT
# (pkcs11-tool 0.23 cannot export a P-384 public key as a file).
p11_ec_point() {
	p11tool --list-objects --type pubkey 2> /dev/null | awk -v id="$1" '
		/Object;/ { point = "" }
		/^  EC_POINT:/ { point = substr($2, 5) }
		/^  ID:/ && $2 == id { print point }'
}

# spki_hex FILE: the DER SubjectPublicKeyInfo of a request, lower-case hex.
spki_hex() {
	openssl req -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER |
		od -An -v -tx1 | tr -d ' \n'
}

# token_flags: the token's flags as pkcs11-tool --list-slots prints them.
token_flags() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --list-slots 2> /dev/null |
		sed -n 's/^  token flags *: //p'
}

cert_sha256() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

serial_of() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial)
	s=${s#serial=}
	printf '%s\n' "${s,,}"
}

# ski_of FILE: the certificate's subject key identifier, lower-case hex.
ski_of() {
	openssl x509 -in "$1" -noout -ext subjectKeyIdentifier |
		sed -n 's/^ *//; s/://g; 2p' | tr 'A-F' 'a-f'
}

# issue KEY NAME ADDR: a request signed by KEY (PIN from $PIN), issued by
# the factory for the Bluetooth address ADDR as NAME.pem (with the chain)
# and NAME.crt (the certificate alone).
issue() {
	m2m-enroll csr --key "$1" --passin "file:$PIN" --out "$2.csr" &&
		m2m-ca issue --ca "$F/factory" --csr "$2.csr" --bluetooth "$3" \
			--serial "SN-$2" --chain --out "$2.pem" &&
		openssl x509 -in "$2.pem" -out "$2.crt"
}

# ---- keys ---------------------------------------------------------------------

@test "keygen on a token found through p11-kit: a private key with ID 01, sensitive, never extractable" {
	local fp
	run --separate-stderr m2m-enroll keygen --key "$T;object=idevid;id=%01" --passin "file:$PIN"
	assert_success
	assert_stderr ''
	fp=$(p11_spki 01)
	assert_output "generated ec-p256 key '$T;object=idevid;id=%01', public key SHA-256 $fp"
	run p11_objects
	assert_line 'Private Key Object; EC|label=idevid|id=01|access=sensitive, always sensitive, never extractable, local'
	assert_line --regexp '^Public Key Object; EC  EC_POINT 256 bits\|label=idevid\|id=01\|'
	# The PIN from the URI's pin-source, the key found by label alone.
	run --separate-stderr m2m-enroll show --key "$T;object=idevid?pin-source=file:$PIN" --json
	assert_ok "{\"key\":\"$T;object=idevid?pin-source=file:$PIN\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$fp\"}"
	# ... or from the environment, the key found by id alone.
	PINV=$SOFTHSM_PIN run --separate-stderr m2m-enroll show --key "$T;id=%01" --passin env:PINV
	assert_ok - <<-EOF
		key: $T;id=%01
		algorithm: ec-p256
		public key SHA-256: $fp
	EOF
}

@test "keygen: a key that is there is refused, exit 3, kept; --force replaces it" {
	local old fp
	m2m-enroll keygen --key "$T;object=dup;id=%10" --passin "file:$PIN" > /dev/null
	old=$(p11_spki 10)
	run --separate-stderr m2m-enroll keygen --key "$T;object=dup;id=%10" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot generate a key at '$T;object=dup;id=%10': a key '$T;object=dup;id=%10' exists on token '$SOFTHSM_TOKEN' (force replaces it)"
	assert_equal "$(p11_spki 10)" "$old"
	run --separate-stderr m2m-enroll keygen --key "$T;object=dup;id=%10" --passin "file:$PIN" --force --json
	assert_success
	fp=$(p11_spki 10)
	[ "$fp" != "$old" ] || fail "--force kept the old key"
	assert_output "{\"key\":\"$T;object=dup;id=%10\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$fp\"}"
	run p11_objects
	assert_equal "$(grep -c '|label=dup|id=10' <<<"$output")" 2
}

@test "P-384 and RSA-2048 keys on the token: requests with SHA-384 and SHA-256 that verify" {
	local id alg sig fp point
	for id in 11:ec-p384:ecdsa-with-SHA384 12:rsa2048:sha256WithRSAEncryption; do
		IFS=: read -r id alg sig <<<"$id"
		run --separate-stderr m2m-enroll keygen --key "$T;object=$alg;id=%$id" --algorithm "$alg" --passin "file:$PIN"
		assert_success
		assert_stderr ''
		m2m-enroll csr --key "$T;object=$alg" --passin "file:$PIN" --out "$alg.csr"
		fp=$(openssl req -in "$alg.csr" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
		assert_output "generated $alg key '$T;object=$alg;id=%$id', public key SHA-256 $fp"
		run openssl req -in "$alg.csr" -verify -noout -text
		assert_success
		assert_line --partial "Signature Algorithm: $sig"
		assert_line --partial 'Certificate request self-signature verify OK'
	done
	# The requests are for the keys on the token.
	point=$(p11_ec_point 11)
	[ ${#point} = 194 ] || fail "no P-384 point on the token: '$point'"
	[[ $(spki_hex ec-p384.csr) == *"$point" ]] || fail "the P-384 request is not for the token's key"
	assert_equal "$(p11_spki 12)" "$(openssl req -in rsa2048.csr -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
	run p11_objects
	assert_line "Private Key Object; EC|label=ec-p384|id=11|access=sensitive, always sensitive, never extractable, local"
	assert_line "Private Key Object; RSA |label=rsa2048|id=12|access=sensitive, always sensitive, never extractable, local"
}

@test "module-path= loads SoftHSM2 itself; module-name= picks it from p11-kit's configuration" {
	local fp q="module-path=$SOFTHSM_MODULE"
	run --separate-stderr m2m-enroll keygen --key "$T;object=direct;id=%20?$q&pin-source=file:$PIN"
	assert_success
	assert_stderr ''
	fp=$(p11_spki 20)
	assert_output "generated ec-p256 key '$T;object=direct;id=%20?$q&pin-source=file:$PIN', public key SHA-256 $fp"
	run --separate-stderr m2m-enroll csr --key "$T;object=direct?$q" --passin "file:$PIN" --out direct.csr
	assert_ok ''
	run openssl req -in direct.csr -verify -noout
	assert_output 'Certificate request self-signature verify OK'
	run --separate-stderr m2m-enroll show --key "$T;object=direct?module-name=softhsm2" --passin "file:$PIN"
	assert_success
	assert_line "public key SHA-256: $fp"
	# No token of that module matches.
	run --separate-stderr m2m-enroll show --key "$T;object=direct?module-name=opensc-pkcs11" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot load the key '$T;object=direct?module-name=opensc-pkcs11': no PKCS#11 token matches '$T;object=direct'"
}

# ---- certificates --------------------------------------------------------------

@test "the IDevID flow: csr, the CA issues, install with the chain beside the key, show reads it back" {
	local fp sha serial ski
	m2m-enroll keygen --key "$T;object=flow;id=%30" --passin "file:$PIN" > /dev/null
	fp=$(p11_spki 30)
	run --separate-stderr m2m-enroll csr --key "$T;object=flow;id=%30" --passin "file:$PIN"
	assert_success
	printf '%s\n' "$output" > req.pem
	run openssl req -in req.pem -verify -noout
	assert_output 'Certificate request self-signature verify OK'
	issue "$T;object=flow;id=%30" flow 00:1A:7D:DA:71:30
	sha=$(cert_sha256 flow.crt)
	serial=$(serial_of flow.crt)
	ski=$(ski_of "$F/factory/ca.crt")

	run --separate-stderr m2m-enroll install --cert "$T;object=flow;id=%30" --in flow.pem \
		--key "$T;object=flow;id=%30" --passin "file:$PIN"
	assert_ok "installed certificate $serial at '$T;object=flow;id=%30' with 1 chain certificate, SHA-256 $sha"
	# The certificate with its key's label and id, the chain certificate
	# as the key's label and its own key's SHA-1 (its SKI) as id.
	run p11_objects
	assert_line 'Certificate Object; type = X.509 cert|label=flow|id=30'
	assert_line "Certificate Object; type = X.509 cert|label=flow|id=$ski"
	p11tool --read-object --type cert --id 30 -o got.der 2> /dev/null
	openssl x509 -in flow.crt -outform DER | cmp - got.der
	p11tool --read-object --type cert --id "$ski" -o ca.der 2> /dev/null
	openssl x509 -in "$F/factory/ca.crt" -outform DER | cmp - ca.der
	# CKA_SUBJECT and CKA_SERIAL_NUMBER set, as pkcs11-tool shows them.
	run p11tool --list-objects --type cert
	assert_line '  subject:    DN: O=Example, OU=Devices/serialNumber=SN-flow'
	assert_line "  serial:     ${serial^^}"

	run --separate-stderr m2m-enroll show --key "$T;object=flow;id=%30" --cert "$T;object=flow" --passin "file:$PIN"
	assert_success
	assert_stderr ''
	assert_line --index 2 "public key SHA-256: $fp"
	assert_line --index 3 "certificate: $T;object=flow"
	assert_line --index 4 'subject: serialNumber=SN-flow,OU=Devices,O=Example'
	assert_line "SHA-256: $sha"
	assert_line 'chain: 1 certificate'
	assert_line 'matches key: yes'
	run --separate-stderr m2m-enroll show --key "$T;object=flow" --cert "$T;object=flow" --passin "file:$PIN" --json
	assert_success
	assert_output --partial "\"fingerprint\":\"$sha\",\"chain\":1,\"matches_key\":true}"

	# Certificates are public objects: read without a PIN.
	run --separate-stderr m2m-enroll show --key "$F/other.key" --cert "$T;object=flow"
	assert_failure 1
	assert_line "SHA-256: $sha"
	assert_line 'matches key: no'
	assert_stderr "m2m-enroll: certificate '$T;object=flow' does not match the key '$F/other.key'"

	# What the token holds verifies against the root.
	openssl x509 -inform DER -in got.der -out got.pem
	openssl x509 -inform DER -in ca.der -out ca.pem
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted ca.pem got.pem
	assert_output 'got.pem: OK'

	# There already: refused without --force, replaced with it.
	run --separate-stderr m2m-enroll install --cert "$T;object=flow;id=%30" --in flow.pem --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot store the certificate at '$T;object=flow;id=%30': a certificate '$T;object=flow;id=%30' exists on token '$SOFTHSM_TOKEN' (force replaces it)"
	# Named by its label alone, it gets its key's id; the old chain goes.
	run --separate-stderr m2m-enroll install --cert "$T;object=flow" --in flow.crt --passin "file:$PIN" --force
	assert_ok "installed certificate $serial at '$T;object=flow' with 0 chain certificates, SHA-256 $sha"
	run p11_objects
	assert_line 'Certificate Object; type = X.509 cert|label=flow|id=30'
	refute_line "Certificate Object; type = X.509 cert|label=flow|id=$ski"
}

@test "install --key refuses a certificate of another key: exit 3, nothing stored" {
	local before
	m2m-enroll keygen --key "$T;object=mismatch;id=%31" --passin "file:$PIN" > /dev/null
	before=$(p11_objects)
	run --separate-stderr m2m-enroll install --cert "$T;object=mismatch;id=%31" --in "$F/other.pem" \
		--key "$T;object=mismatch;id=%31" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: certificate '$F/other.pem' does not match the key '$T;object=mismatch;id=%31'"
	assert_equal "$(p11_objects)" "$before"
	run --separate-stderr m2m-enroll show --key "$T;object=mismatch" --cert "$T;object=mismatch" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot load the certificate '$T;object=mismatch': no certificate '$T;object=mismatch' on token '$SOFTHSM_TOKEN'"
}

# ---- PINs ---------------------------------------------------------------------

@test "a wrong PIN: exit 5 naming the token, never the PIN; the right one then works, nothing locked" {
	m2m-enroll keygen --key "$T;object=pin;id=%40" --passin "file:$PIN" > /dev/null
	printf '98765\n' > wrong
	run --separate-stderr m2m-enroll show --key "$T;object=pin" --passin file:wrong
	assert_error 5 "m2m-enroll: cannot load the key '$T;object=pin': wrong PIN for token '$SOFTHSM_TOKEN'"
	run token_flags
	assert_output --partial 'user PIN count low'
	refute_output --partial 'locked'
	run --separate-stderr m2m-enroll keygen --key "$T;object=pin2?pin-value=98765"
	assert_failure 5
	assert_output ''
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" 'm2m-enroll: warning: --key with pin-value shows the PIN to other users; prefer pin-source or --passin'
	assert_equal "${stderr_lines[1]}" "m2m-enroll: cannot generate a key at '$T;object=pin2?pin-value=***': wrong PIN for token '$SOFTHSM_TOKEN'"
	# A CA that signs a batch would not try the PIN again: the next
	# process, with the right PIN, is let in, and the count is reset.
	run --separate-stderr m2m-enroll show --key "$T;object=pin" --passin "file:$PIN"
	assert_success
	assert_stderr ''
	run token_flags
	refute_output --partial 'count low'
	refute_output --partial 'locked'
	run p11_objects
	refute_output --partial '|label=pin2|'
}

@test "a PIN in the URI is warned about and never printed back; none at all is exit 2" {
	local fp
	run --separate-stderr m2m-enroll keygen --key "$T;object=pinval;id=%41?pin-value=$SOFTHSM_PIN"
	assert_success
	fp=$(p11_spki 41)
	assert_output "generated ec-p256 key '$T;object=pinval;id=%41?pin-value=***', public key SHA-256 $fp"
	assert_stderr 'm2m-enroll: warning: --key with pin-value shows the PIN to other users; prefer pin-source or --passin'
	run --separate-stderr m2m-enroll show --key "$T;object=pinval?pin-value=$SOFTHSM_PIN" --json
	assert_success
	assert_output "{\"key\":\"$T;object=pinval?pin-value=***\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$fp\"}"
	[[ $output$stderr != *"=$SOFTHSM_PIN"* ]] || fail "the PIN shows"
	run --separate-stderr m2m-enroll show --key "$T;object=pinval" --passin "pass:$SOFTHSM_PIN"
	assert_success
	assert_stderr 'm2m-enroll: warning: --passin pass:... shows the secret to other users; prefer env:, file: or fd:'
	run --separate-stderr m2m-enroll show --key "$T;object=pinval"
	assert_error 2 "m2m-enroll: cannot load the key '$T;object=pinval': token '$SOFTHSM_TOKEN' needs a PIN: give pin-source"
	run --separate-stderr m2m-enroll show --key "$T;object=pinval" --passin env:NO_SUCH_PIN
	assert_error 3 "m2m-enroll: cannot load the key '$T;object=pinval': PIN for token '$SOFTHSM_TOKEN': environment variable 'NO_SUCH_PIN' is not set"
}

# ---- locations that are wrong -----------------------------------------------------

@test "a token, module or key that is not there: exit 3 or 5, one line naming it" {
	run --separate-stderr m2m-enroll keygen --key 'pkcs11:token=absent;object=idevid' --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot generate a key at 'pkcs11:token=absent;object=idevid': no PKCS#11 token matches 'pkcs11:token=absent;object=idevid'"
	run --separate-stderr m2m-enroll show --key "$T;object=absent" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot load the key '$T;object=absent': no key '$T;object=absent' on token '$SOFTHSM_TOKEN'"
	run --separate-stderr m2m-enroll keygen --key "$T;object=x?module-path=/nonexistent/libnone.so" --passin "file:$PIN"
	assert_error 5 "m2m-enroll: cannot generate a key at '$T;object=x?module-path=/nonexistent/libnone.so': cannot load PKCS#11 module '/nonexistent/libnone.so': couldn't load module: /nonexistent/libnone.so: /nonexistent/libnone.so: cannot open shared object file: No such file or directory"
	run --separate-stderr m2m-enroll keygen --key "$T" --passin "file:$PIN"
	assert_error 2 "m2m-enroll: cannot generate a key at '$T': '$T' names no key: give object= or id="
	run p11_objects
	refute_output --partial '|label=x|'
}

@test "malformed pkcs11: locations are exit 3, one line naming the location; nothing made" {
	local before
	before=$(p11_objects)
	run --separate-stderr m2m-enroll keygen --key "$T;object=m?pin-source=file:$PIN&module-path=softhsm/libsofthsm2.so"
	assert_error 3 "m2m-enroll: cannot generate a key at '$T;object=m?pin-source=file:$PIN&module-path=softhsm/libsofthsm2.so': invalid PKCS#11 URI '$T;object=m': 'module-path' is not an absolute path"
	run --separate-stderr m2m-enroll keygen --key "$T;object=m;module-path=$SOFTHSM_MODULE" --passin "file:$PIN"
	assert_failure 3
	assert_output ''
	assert_equal "${#stderr_lines[@]}" 1
	assert_stderr_line -p "m2m-enroll: cannot generate a key at '$T;object=m;module-path=$SOFTHSM_MODULE': invalid PKCS#11 URI '"
	assert_stderr_line -p "...': 'module-path' belongs in the query (after '?')"
	run --separate-stderr m2m-enroll keygen --key "$T;object=m;hue=1" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot generate a key at '$T;object=m;hue=1': invalid PKCS#11 URI '$T;object=m;hue=1': unknown path attribute 'hue'"
	# The detail shows at most 40 bytes of the location; the first
	# part of the line all of it.
	run --separate-stderr m2m-enroll keygen --key "$T;object=m;colour=blue" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot generate a key at '$T;object=m;colour=blue': invalid PKCS#11 URI '$T;object=m;colour=bl...': unknown path attribute 'colour'"
	run --separate-stderr m2m-enroll keygen --key "$T;object=m?colour=blue" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot generate a key at '$T;object=m?colour=blue': invalid PKCS#11 URI '$T;object=m': unknown query attribute 'colour'"
	run --separate-stderr m2m-enroll keygen --key "$T;object=m%zz" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot generate a key at '$T;object=m%zz': invalid PKCS#11 URI '$T;object=m%zz': bad %-escape in 'object'"
	run --separate-stderr m2m-enroll keygen --key "$T;object=m;id=%0" --passin "file:$PIN"
	assert_error 3 "m2m-enroll: cannot generate a key at '$T;object=m;id=%0': invalid PKCS#11 URI '$T;object=m;id=%0': bad %-escape in 'id'"
	run --separate-stderr m2m-enroll keygen --key "$T;object=m?pin-value=1111&pin-source=file:$PIN"
	assert_failure 3
	assert_output ''
	assert_stderr - <<-EOF
		m2m-enroll: warning: --key with pin-value shows the PIN to other users; prefer pin-source or --passin
		m2m-enroll: cannot generate a key at '$T;object=m?pin-value=***&pin-source=file:$PIN': invalid PKCS#11 URI '$T;object=m': both 'pin-value' and 'pin-source' are given
	EOF
	assert_equal "$(p11_objects)" "$before"
}

# ---- a CA whose key is on the token --------------------------------------------------

@test "a CA whose key is on the token: init, issue, crl verify; a wrong PIN issues nothing; no private key file" {
	local serial n
	mkdir tmp
	export TMPDIR=$BATS_TEST_TMPDIR/tmp
	run --separate-stderr m2m-ca init ca --key "$T;object=ca" --passin "file:$PIN" --subject CN=Token-CA \
		--hw-type "$HW" --device-subject 'O=Example,OU=Devices'
	assert_ok "root CA 'CN=Token-CA' created in ca"
	assert_equal "$(sed -n 's/^key = //p' ca/ca.conf)" "$T;object=ca"
	run p11_objects
	assert_line --regexp '^Private Key Object; EC\|label=ca\|id=[0-9a-f]{40}\|access=sensitive, always sensitive, never extractable, local$'

	m2m-enroll keygen --key "$T;object=dev;id=%50" --passin "file:$PIN" > /dev/null
	m2m-enroll csr --key "$T;object=dev" --passin "file:$PIN" --out d.csr
	run --separate-stderr m2m-ca issue --ca ca --csr d.csr --bluetooth 00:1A:7D:DA:71:50 \
		--serial SN-P1 --chain --out d.pem
	assert_error 2 "m2m-ca: cannot open the CA: token '$SOFTHSM_TOKEN' needs a PIN: give pin-source"
	run --separate-stderr m2m-ca issue --ca ca --csr d.csr --bluetooth 00:1A:7D:DA:71:50 \
		--serial SN-P1 --chain --out d.pem --passin "file:$PIN"
	assert_ok ''
	run openssl verify -x509_strict -CAfile ca/ca.crt d.pem
	assert_output 'd.pem: OK'
	serial=$(serial_of d.pem)
	m2m-ca revoke --ca ca "$serial" --passin "file:$PIN" > /dev/null
	openssl ocsp -issuer ca/ca.crt -cert d.pem -no_nonce -reqout ocsp.req
	run --separate-stderr m2m-ca ocsp --ca ca --request ocsp.req --out ocsp.resp --passin "file:$PIN"
	assert_ok ''
	run openssl ocsp -respin ocsp.resp -CAfile ca/ca.crt -issuer ca/ca.crt -cert d.pem -no_nonce
	assert_line --index 0 'Response verify OK'
	assert_line --index 1 --partial 'd.pem: revoked'
	run --separate-stderr m2m-ca crl --ca ca --out ca.crl --passin "file:$PIN"
	assert_ok ''
	run openssl crl -in ca.crl -CAfile ca/ca.crt -verify -noout
	assert_output 'verify OK'
	run openssl crl -in ca.crl -noout -text
	assert_output --partial "Serial Number: ${serial^^}"

	# A wrong PIN: exit 5, the PIN unsaid, nothing issued.
	n=$(m2m-ca list --ca ca | wc -l)
	printf '98765\n' > wrong
	run --separate-stderr m2m-ca issue --ca ca --csr d.csr --bluetooth 00:1A:7D:DA:71:51 \
		--out d2.pem --passin file:wrong
	assert_error 5 "m2m-ca: cannot open the CA: wrong PIN for token '$SOFTHSM_TOKEN'"
	assert_file_not_exists d2.pem
	assert_equal "$(m2m-ca list --ca ca | wc -l)" "$n"

	run grep -rl -e 'PRIVATE KEY' "$BATS_TEST_TMPDIR"
	assert_failure 1
	assert_output ''
	assert_equal "$(find tmp -mindepth 1)" ''
}
