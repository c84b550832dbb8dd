#!/usr/bin/env bats
# m2m-enroll and m2m-ca with keys and certificates in a TPM 2.0: the real
# binaries against a real software TPM (swtpm), judged by tpm2-tools and
# openssl.  One swtpm serves the whole file (setup_file/teardown_file):
# tests that make keys use handles and NV indices of their own, so that
# each can also run alone (bats -f); the first one finds the TPM empty.
#
# tpm2-tools and our commands take turns: swtpm serves one client at a
# time, and each of them is a process that ends before the next begins.

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/swtpm'

HW=1.3.6.1.4.1.99999.1.1
NOWHERE=swtpm:path=/nonexistent/sock

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	swtpm_start || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null
	m2m-ca init factory --parent root --hw-type "$HW" \
		--device-subject 'O=Example,OU=Devices' > /dev/null
	# A certificate, with and without its chain, of a file key that no
	# TPM key matches.
	m2m-enroll keygen --key other.key > /dev/null
	m2m-enroll csr --key other.key --out other.csr
	m2m-ca issue --ca factory --csr other.csr --bluetooth 00:1A:7D:DA:71:99 \
		--serial SN-OTHER --chain --out other-chain.pem
	openssl x509 -in other-chain.pem -out other.pem
}

teardown_file() {
	swtpm_stop
}

setup() {
	F=$BATS_FILE_TMPDIR
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ---- helpers -------------------------------------------------------------------

# tpm_spki HANDLE: the SHA-256 of the DER SubjectPublicKeyInfo of the TPM
# key at HANDLE, as tpm2-tools reads it.
tpm_spki() {
	tpm2_readpublic -c "$1" -f pem -o "$BATS_TEST_TMPDIR/tpm-pub.pem" > /dev/null &&
		openssl pkey -pubin -in "$BATS_TEST_TMPDIR/tpm-pub.pem" -outform DER |
		sha256sum | cut -d' ' -f1
}

# cert_spki FILE: the same of a PEM certificate's public key.
cert_spki() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
		sha256sum | cut -d' ' -f1
}

# cert_sha256 FILE: the SHA-256 of a PEM certificate's DER.
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

# issue KEY NAME ADDR [CA]: a request signed by KEY, issued by CA (default
# the factory) for the Bluetooth address ADDR as NAME.pem (certificate and
# chain) and NAME.crt (the certificate alone).
issue() {
	local key=$1 name=$2 addr=$3 ca=${4:-$F/factory}
	m2m-enroll csr --key "$key" --out "$name.csr" &&
		m2m-ca issue --ca "$ca" --csr "$name.csr" --bluetooth "$addr" \
			--serial "SN-$name" --chain --out "$name.pem" &&
		openssl x509 -in "$name.pem" -out "$name.crt"
}

# assert_tpm_clean: no transient object or session is left in the TPM
# (swtpm has no resource manager: nothing flushes what a tool forgets).
assert_tpm_clean() {
	assert_equal "$(tpm2_getcap handles-transient)" ''
	assert_equal "$(tpm2_getcap handles-loaded-session)" ''
}

# ---- keys ---------------------------------------------------------------------

@test "keygen makes the SRK the first time, then the key; tpm2-tools read the same key" {
	local fp
	assert_equal "$(tpm2_getcap handles-persistent)" ''
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020000
	assert_success
	assert_stderr ''
	fp=$(tpm_spki 0x81020000)
	assert_output "generated ec-p256 key 'tpm2:handle=0x81020000', public key SHA-256 $fp"
	assert_equal "$(tpm2_getcap handles-persistent)" $'- 0x81000001\n- 0x81020000'
	# The SRK by the TCG template; the key a child of it, made inside.
	run tpm2_readpublic -c 0x81000001
	assert_line '  value: fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt'
	assert_line '  value: NIST p256'
	run tpm2_readpublic -c 0x81020000
	assert_line '  value: fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'
	assert_line '  value: NIST p256'
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020000 --json
	assert_ok "{\"key\":\"tpm2:handle=0x81020000\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$fp\"}"
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020000
	assert_ok - <<-EOF
		key: tpm2:handle=0x81020000
		algorithm: ec-p256
		public key SHA-256: $fp
	EOF
	assert_tpm_clean
}

@test "keygen --json; a handle in use is refused, exit 3, the key kept; --force replaces it" {
	local fp old
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020001 --json
	assert_success
	assert_stderr ''
	old=$(tpm_spki 0x81020001)
	assert_output "{\"key\":\"tpm2:handle=0x81020001\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$old\"}"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020001 --algorithm ec-p384
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x81020001': handle 0x81020001 is in use"
	assert_equal "$(tpm_spki 0x81020001)" "$old"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020001 --force --json
	assert_success
	assert_stderr ''
	fp=$(tpm_spki 0x81020001)
	[ "$fp" != "$old" ] || fail "--force kept the old key"
	assert_output "{\"key\":\"tpm2:handle=0x81020001\",\"algorithm\":\"ec-p256\",\"public_key_fingerprint\":\"$fp\"}"
	run tpm2_getcap handles-persistent
	assert_line '- 0x81020001'
	assert_equal "$(grep -c 0x81020001 <<<"$output")" 1
	assert_tpm_clean
}

@test "P-384 and RSA-2048 keys: the TPM's public key, requests with SHA-384 and SHA-256, installed" {
	local fp h alg sig nv
	for h in 0x81020002:ec-p384:ecdsa-with-SHA384:0x01C90002 \
		0x81020003:rsa2048:sha256WithRSAEncryption:0x01C90003; do
		IFS=: read -r h alg sig nv <<<"$h"
		run --separate-stderr m2m-enroll keygen --key "tpm2:handle=$h" --algorithm "$alg"
		assert_success
		fp=$(tpm_spki "$h")
		assert_output "generated $alg key 'tpm2:handle=$h', public key SHA-256 $fp"
		run tpm2_readpublic -c "$h"
		assert_line '  value: fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'
		m2m-enroll csr --key "tpm2:handle=$h" --out "$alg.csr"
		run openssl req -in "$alg.csr" -verify -noout -text
		assert_success
		assert_line --partial "Signature Algorithm: $sig"
		assert_line --partial 'Certificate request self-signature verify OK'
		[ "$(openssl req -in "$alg.csr" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" = "$fp" ] ||
			fail "the $alg request is not for the TPM's key"
		m2m-ca issue --ca "$F/factory" --csr "$alg.csr" --serial "SN-$alg" \
			--bluetooth "00:1A:7D:DA:72:${h: -2}" --out "$alg.crt"
		run --separate-stderr m2m-enroll install --cert "tpm2:nv=$nv" --in "$alg.crt" --key "tpm2:handle=$h"
		assert_success
		run --separate-stderr m2m-enroll show --key "tpm2:handle=$h" --cert "tpm2:nv=$nv" --json
		assert_success
		assert_output --partial "\"algorithm\":\"$alg\",\"public_key_fingerprint\":\"$fp\""
		assert_output --partial '"chain":0,"matches_key":true}'
	done
	assert_tpm_clean
}

@test "ed25519 is refused: by m2m-enroll's usage (exit 2), by the TPM back-end for a CA (exit 3)" {
	local before
	before=$(tpm2_getcap handles-persistent)
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020009 --algorithm ed25519
	assert_error 2 "m2m-enroll: unknown algorithm 'ed25519' (ec-p256, ec-p384, rsa2048, rsa3072) (see 'm2m-enroll keygen --help')"
	run --separate-stderr m2m-ca init edca --key tpm2:handle=0x81000109 --algorithm ed25519 --subject CN=Ed
	assert_error 3 "m2m-ca: cannot create the CA 'edca': a TPM 2.0 cannot make ed25519 keys (ec-p256, ec-p384, rsa2048 or rsa3072)"
	assert_file_not_exists edca
	assert_equal "$(tpm2_getcap handles-persistent)" "$before"
}

# ---- certificates in NV --------------------------------------------------------

@test "the IDevID flow: csr, the factory CA issues, install to NV 0x01C90000, tpm2_nvread gives the DER" {
	local fp sha serial len
	m2m-enroll keygen --key tpm2:handle=0x81020000 --force > /dev/null
	fp=$(tpm_spki 0x81020000)
	run --separate-stderr m2m-enroll csr --key tpm2:handle=0x81020000 --subject CN=dev-1
	assert_success
	assert_output --partial '-----BEGIN CERTIFICATE REQUEST-----'
	printf '%s\n' "$output" > req.pem
	run openssl req -in req.pem -verify -noout
	assert_success
	assert_output 'Certificate request self-signature verify OK'
	issue tpm2:handle=0x81020000 dev 00:1A:7D:DA:71:13
	assert_equal "$(cert_spki dev.crt)" "$fp"
	sha=$(cert_sha256 dev.crt)
	serial=$(serial_of dev.crt)

	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90000 --in dev.crt --key tpm2:handle=0x81020000
	assert_ok "installed certificate $serial at 'tpm2:nv=0x01C90000' with 0 chain certificates, SHA-256 $sha"
	# Byte for byte what was issued, in an index of exactly its size.
	tpm2_nvread 0x01C90000 -o nv.der 2> /dev/null
	openssl x509 -in dev.crt -outform DER -out dev.der
	cmp dev.der nv.der
	len=$(stat -c %s dev.der)
	run tpm2_nvreadpublic 0x01C90000
	assert_line "  size: $len"
	assert_line '    friendly: ownerwrite|ownerread|authread|no_da|written'

	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020000 --cert tpm2:nv=0x01C90000
	assert_success
	assert_stderr ''
	assert_line --index 0 'key: tpm2:handle=0x81020000'
	assert_line --index 2 "public key SHA-256: $fp"
	assert_line --index 3 'certificate: tpm2:nv=0x01C90000'
	assert_line --index 4 'subject: serialNumber=SN-dev,OU=Devices,O=Example'
	assert_line --index 5 'issuer: CN=m2m issuing CA factory'
	assert_line --index 6 "certificate serial: $serial"
	assert_line "SHA-256: $sha"
	assert_line 'chain: 0 certificates'
	assert_line 'matches key: yes'
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020000 --cert tpm2:nv=0x01C90000 --json
	assert_success
	assert_output --partial "\"fingerprint\":\"$sha\",\"chain\":0,\"matches_key\":true}"
	# The NV certificate with the chain kept in a file verifies.
	openssl x509 -inform DER -in nv.der -out nv.pem
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted "$F/factory/ca.crt" nv.pem
	assert_success
	assert_output 'nv.pem: OK'
	assert_tpm_clean
}

@test "install: an NV index in use is refused, exit 3, unchanged; --force replaces it; show then says no" {
	m2m-enroll keygen --key tpm2:handle=0x81020004 > /dev/null
	issue tpm2:handle=0x81020004 nvu 00:1A:7D:DA:71:20
	openssl x509 -in nvu.crt -outform DER -out nvu.der
	openssl x509 -in "$F/other.pem" -outform DER -out other.der
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90004 --in nvu.crt --json
	assert_success
	assert_output "{\"cert\":\"tpm2:nv=0x01C90004\",\"certificate_serial\":\"$(serial_of nvu.crt)\",\"subject\":\"serialNumber=SN-nvu,OU=Devices,O=Example\",\"fingerprint\":\"$(cert_sha256 nvu.crt)\",\"chain\":0}"
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90004 --in "$F/other.pem"
	assert_error 3 "m2m-enroll: cannot store the certificate at 'tpm2:nv=0x01C90004': NV index 0x01c90004 is in use"
	tpm2_nvread 0x01C90004 -o nv.der 2> /dev/null
	cmp nvu.der nv.der
	# A certificate of another size: the index is made anew.
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90004 --in "$F/other.pem" --force
	assert_success
	assert_output --partial "installed certificate $(serial_of "$F/other.pem") at 'tpm2:nv=0x01C90004' with 0 chain certificates"
	tpm2_nvread 0x01C90004 -o nv.der 2> /dev/null
	cmp other.der nv.der
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020004 --cert tpm2:nv=0x01C90004
	assert_failure 1
	assert_line 'matches key: no'
	assert_stderr "m2m-enroll: certificate 'tpm2:nv=0x01C90004' does not match the key 'tpm2:handle=0x81020004'"
	assert_tpm_clean
}

@test "install: a chain goes into the NV index after the certificate" {
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90006 --in "$F/other.pem" --chain "$F/factory/ca.crt"
	assert_success
	assert_output --partial "at 'tpm2:nv=0x01C90006' with 1 chain certificate,"
	tpm2_nvread 0x01C90006 -o nv.der 2> /dev/null
	openssl x509 -in "$F/other.pem" -outform DER -out other.der
	openssl x509 -in "$F/factory/ca.crt" -outform DER -out ca.der
	cat other.der ca.der | cmp - nv.der
	run --separate-stderr m2m-enroll show --key "$F/other.key" --cert tpm2:nv=0x01C90006 --json
	assert_success
	assert_output --partial "\"fingerprint\":\"$(cert_sha256 "$F/other.pem")\",\"chain\":1,\"matches_key\":true}"
	tpm2_nvundefine 0x01C90006 -C o 2> /dev/null
}

@test "install: no certificate of another key; nothing is left behind" {
	local before
	m2m-enroll keygen --key tpm2:handle=0x81020005 > /dev/null
	before=$(tpm2_getcap handles-nv-index)
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90005 --in "$F/other.pem" --key tpm2:handle=0x81020005
	assert_error 3 "m2m-enroll: certificate '$F/other.pem' does not match the key 'tpm2:handle=0x81020005'"
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90005 --in - --key tpm2:handle=0x81020005 < "$F/other.pem"
	assert_error 3 "m2m-enroll: certificate '<stdin>' does not match the key 'tpm2:handle=0x81020005'"
	assert_equal "$(tpm2_getcap handles-nv-index)" "$before"
	assert_tpm_clean
}

@test "NV indices that tpm2-tools made: a larger one, owner-read only; never written, junk, a counter" {
	m2m-enroll keygen --key tpm2:handle=0x81020013 > /dev/null
	issue tpm2:handle=0x81020013 nvx 00:1A:7D:DA:71:50
	openssl x509 -in nvx.crt -outform DER -out nvx.der
	# As some manufacturers do: an index larger than the DER, the rest
	# never written; and one only the owner may read.
	tpm2_nvdefine 0x01C90013 -s 1024 -a 'ownerread|ownerwrite|authread|authwrite|no_da' > /dev/null
	tpm2_nvwrite 0x01C90013 -i nvx.der
	tpm2_nvdefine 0x01C90014 -s "$(stat -c %s nvx.der)" -a 'ownerread|ownerwrite' > /dev/null
	tpm2_nvwrite 0x01C90014 -C o -i nvx.der
	for nv in 0x01C90013 0x01C90014; do
		run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020013 --cert "tpm2:nv=$nv"
		assert_success
		assert_stderr ''
		assert_line "SHA-256: $(cert_sha256 nvx.crt)"
		assert_line 'matches key: yes'
	done
	tpm2_nvdefine 0x01C90015 -s 64 -a 'ownerread|ownerwrite|authread|authwrite' > /dev/null
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020013 --cert tpm2:nv=0x01C90015
	assert_error 3 "m2m-enroll: cannot load the certificate 'tpm2:nv=0x01C90015': NV index 0x01c90015 has never been written"
	printf 'this is no certificate, only 48 bytes of text.\n' > junk
	tpm2_nvwrite 0x01C90015 -i junk
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020013 --cert tpm2:nv=0x01C90015
	assert_error_prefix 3 "m2m-enroll: cannot load the certificate 'tpm2:nv=0x01C90015': NV index 0x01c90015: not a DER certificate"
	tpm2_nvdefine 0x01C90016 -s 8 -a 'ownerread|ownerwrite|authread|authwrite|nt=counter' > /dev/null
	tpm2_nvincrement 0x01C90016
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020013 --cert tpm2:nv=0x01C90016
	assert_error 3 "m2m-enroll: cannot load the certificate 'tpm2:nv=0x01C90016': NV index 0x01c90016 does not hold a certificate"
	assert_tpm_clean
}

@test "a key or certificate that is not there, or of the other kind: exit 3 or 2, naming it" {
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020099
	assert_error 3 "m2m-enroll: cannot load the key 'tpm2:handle=0x81020099': no key at tpm2:handle=0x81020099"
	run --separate-stderr m2m-enroll csr --key tpm2:handle=0x81020099
	assert_error 3 "m2m-enroll: cannot load the key 'tpm2:handle=0x81020099': no key at tpm2:handle=0x81020099"
	m2m-enroll keygen --key tpm2:handle=0x81020006 > /dev/null
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020006 --cert tpm2:nv=0x01C90099
	assert_error 3 "m2m-enroll: cannot load the certificate 'tpm2:nv=0x01C90099': no certificate at tpm2:nv=0x01c90099"
	run --separate-stderr m2m-enroll show --key tpm2:nv=0x01C90000
	assert_error 2 "m2m-enroll: cannot load the key 'tpm2:nv=0x01C90000': 'tpm2:nv=0x01c90000' is an NV index: keys go to tpm2:handle=..."
	run --separate-stderr m2m-enroll install --cert tpm2:handle=0x81020006 --in "$F/other.pem"
	assert_error 2 "m2m-enroll: cannot store the certificate at 'tpm2:handle=0x81020006': 'tpm2:handle=0x81020006' is a key: certificates go to tpm2:nv=..."
	assert_tpm_clean
}

@test "malformed tpm2: locations are exit 3, one line naming the location; nothing made" {
	local before nv
	before=$(tpm2_getcap handles-persistent)
	nv=$(tpm2_getcap handles-nv-index)
	run --separate-stderr m2m-enroll keygen --key 'tpm2:handle=0x81020010;colour=blue'
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x81020010;colour=blue': 'tpm2:handle=0x81020010;colour=blue': unknown attribute 'colour' (handle, nv or parent)"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x8102001g
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x8102001g': 'tpm2:handle=0x8102001g': handle '0x8102001g' is not 0x and 1 to 8 hex digits"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=81020010
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=81020010': 'tpm2:handle=81020010': handle '81020010' is not 0x and 1 to 8 hex digits"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x181020010
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x181020010': 'tpm2:handle=0x181020010': handle '0x181020010' is not 0x and 1 to 8 hex digits"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x80000010
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x80000010': 'tpm2:handle=0x80000010': handle 0x80000010 is not a persistent handle (0x81000000-0x81ffffff)"
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81000001
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x81000001': 'tpm2:handle=0x81000001': handle 0x81000001 is the SRK, not a signing key"
	run --separate-stderr m2m-enroll keygen --key 'tpm2:handle=0x81020010;handle=0x81020011'
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x81020010;handle=0x81020011': 'tpm2:handle=0x81020010;handle=0x81020011': 'handle' given twice"
	run --separate-stderr m2m-enroll keygen --key tpm2:
	assert_error 3 "m2m-enroll: cannot generate a key at 'tpm2:': 'tpm2:' names no handle or NV index"
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x02000000 --in "$F/other.pem"
	assert_error 3 "m2m-enroll: cannot store the certificate at 'tpm2:nv=0x02000000': 'tpm2:nv=0x02000000': NV index 0x02000000 is not in 0x01000000-0x01ffffff"
	run --separate-stderr m2m-enroll install --cert 'tpm2:nv=0x01C90010;parent=0x81000001' --in "$F/other.pem"
	assert_error 3 "m2m-enroll: cannot store the certificate at 'tpm2:nv=0x01C90010;parent=0x81000001': 'tpm2:nv=0x01C90010;parent=0x81000001': parent= goes with handle=, not nv="
	run --separate-stderr m2m-enroll show --key 'tpm2:handle=0x81020000;nv=0x01C90000'
	assert_error 3 "m2m-enroll: cannot load the key 'tpm2:handle=0x81020000;nv=0x01C90000': 'tpm2:handle=0x81020000;nv=0x01C90000': give handle= or nv=, not both"
	assert_equal "$(tpm2_getcap handles-persistent)" "$before"
	assert_equal "$(tpm2_getcap handles-nv-index)" "$nv"
}

@test "a TPM that cannot be reached: exit 5 at once, one line naming the TCTI; nothing made" {
	local t0 t1 msg="cannot reach the TPM at '$NOWHERE': tcti:IO failure"
	t0=$(date +%s%N)
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020011 --tcti "$NOWHERE"
	t1=$(date +%s%N)
	assert_error 5 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x81020011': $msg"
	[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fail "took $(((t1 - t0) / 1000000)) ms"
	M2M_TCTI=$NOWHERE run --separate-stderr m2m-enroll csr --key tpm2:handle=0x81020000
	assert_error 5 "m2m-enroll: cannot load the key 'tpm2:handle=0x81020000': $msg"
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90011 --in "$F/other.pem" --tcti "$NOWHERE"
	assert_error 5 "m2m-enroll: cannot store the certificate at 'tpm2:nv=0x01C90011': $msg"
	run --separate-stderr m2m-enroll show --key "$F/other.key" --cert tpm2:nv=0x01C90000 --tcti "$NOWHERE"
	assert_error 5 "m2m-enroll: cannot load the certificate 'tpm2:nv=0x01C90000': $msg"
	# --tcti wins over M2M_TCTI (which reaches our swtpm).
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020000 --tcti "$NOWHERE"
	assert_error 5 "m2m-enroll: cannot load the key 'tpm2:handle=0x81020000': $msg"
	run tpm2_getcap handles-persistent
	refute_output --partial 0x81020011
	run tpm2_getcap handles-nv-index
	refute_output --partial 0x1C90011
}

# ---- a CA whose key is in the TPM --------------------------------------------------

@test "a CA whose key is in the TPM: init, issue, revoke, crl, a sub-CA; all verify; no private key file" {
	local fp serial n
	mkdir tmp
	export TMPDIR=$BATS_TEST_TMPDIR/tmp
	run --separate-stderr m2m-ca init ca --key tpm2:handle=0x81000100 --subject CN=TPM-CA \
		--hw-type "$HW" --device-subject 'O=Example,OU=Devices'
	assert_ok "root CA 'CN=TPM-CA' created in ca"
	fp=$(tpm_spki 0x81000100)
	assert_equal "$(cert_spki ca/ca.crt)" "$fp"
	run tpm2_readpublic -c 0x81000100
	assert_line '  value: fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'
	assert_equal "$(sed -n 's/^key = //p' ca/ca.conf)" tpm2:handle=0x81000100
	run openssl verify -x509_strict -CAfile ca/ca.crt ca/ca.crt
	assert_success

	# A device key in the TPM too, its certificate signed by the TPM.
	m2m-enroll keygen --key tpm2:handle=0x81020007 > /dev/null
	m2m-enroll csr --key tpm2:handle=0x81020007 --out d.csr
	run --separate-stderr m2m-ca issue --ca ca --csr d.csr --bluetooth 00:1A:7D:DA:71:30 \
		--serial SN-T1 --chain --out d.pem
	assert_ok ''
	run openssl verify -x509_strict -CAfile ca/ca.crt d.pem
	assert_success
	assert_output 'd.pem: OK'
	serial=$(serial_of d.pem)
	run --separate-stderr m2m-ca revoke --ca ca "$serial" --reason keyCompromise
	assert_success
	run --separate-stderr m2m-ca crl --ca ca --out ca.crl
	assert_ok ''
	run openssl crl -in ca.crl -CAfile ca/ca.crt -verify -noout
	assert_success
	assert_output 'verify OK'
	run openssl crl -in ca.crl -noout -text
	assert_output --partial "Serial Number: ${serial^^}"
	# An OCSP response signed in the TPM.
	openssl ocsp -issuer ca/ca.crt -cert d.pem -no_nonce -reqout ocsp.req
	run --separate-stderr m2m-ca ocsp --ca ca --request ocsp.req --out ocsp.resp
	assert_ok ''
	run openssl ocsp -respin ocsp.resp -CAfile ca/ca.crt -issuer ca/ca.crt -cert d.pem -no_nonce
	assert_line --index 0 'Response verify OK'
	assert_line --index 1 --partial 'd.pem: revoked'
	# An issuing CA below it, signed by the TPM key.
	run --separate-stderr m2m-ca init sub --parent ca --subject CN=Sub
	assert_ok "issuing CA 'CN=Sub' created in sub"
	run openssl verify -x509_strict -CAfile ca/ca.crt sub/ca.crt
	assert_output 'sub/ca.crt: OK'

	# A TPM that cannot be reached: nothing is issued.
	n=$(m2m-ca list --ca ca | wc -l)
	run --separate-stderr m2m-ca issue --ca ca --csr d.csr --bluetooth 00:1A:7D:DA:71:31 \
		--out d2.pem --tcti "$NOWHERE"
	assert_error 5 "m2m-ca: cannot open the CA: cannot reach the TPM at '$NOWHERE': tcti:IO failure"
	assert_file_not_exists d2.pem
	assert_equal "$(m2m-ca list --ca ca | wc -l)" "$n"

	# No private key anywhere but the sub-CA's own file key: not in the
	# CA, not here, not in TMPDIR.
	assert_file_exists sub/ca.key
	run grep -rl --exclude-dir=sub -e 'PRIVATE KEY' "$BATS_TEST_TMPDIR"
	assert_failure 1
	assert_output ''
	assert_equal "$(find tmp -mindepth 1)" ''
	assert_tpm_clean
}

# Last: it sets the owner authorisation and takes it away again.
@test "the owner authorisation: --auth gives it; without it or wrong, exit 5 and nothing made" {
	local before nv
	m2m-enroll keygen --key tpm2:handle=0x81020008 > /dev/null
	issue tpm2:handle=0x81020008 auth 00:1A:7D:DA:71:40
	tpm2_changeauth -c owner owner-secret
	before=$(tpm2_getcap handles-persistent)
	nv=$(tpm2_getcap handles-nv-index)
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020012
	assert_error 5 "m2m-enroll: cannot generate a key at 'tpm2:handle=0x81020012': cannot make the key persistent at 0x81020012: tpm:session(1):authorization failure without DA implications"
	OWNER=wrong run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90012 --in auth.crt --auth env:OWNER
	assert_error 5 "m2m-enroll: cannot store the certificate at 'tpm2:nv=0x01C90012': cannot define NV index 0x01c90012 of $(openssl x509 -in auth.crt -outform DER | wc -c) bytes: tpm:session(1):authorization failure without DA implications"
	assert_equal "$(tpm2_getcap handles-persistent)" "$before"
	assert_equal "$(tpm2_getcap handles-nv-index)" "$nv"
	assert_tpm_clean
	printf 'owner-secret\n' > owner
	run --separate-stderr m2m-enroll keygen --key tpm2:handle=0x81020012 --auth file:owner
	assert_success
	run --separate-stderr m2m-enroll install --cert tpm2:nv=0x01C90012 --in auth.crt --auth file:owner --key tpm2:handle=0x81020008
	assert_success
	# Reading needs no owner authorisation.
	run --separate-stderr m2m-enroll show --key tpm2:handle=0x81020008 --cert tpm2:nv=0x01C90012
	assert_success
	assert_line 'matches key: yes'
	tpm2_changeauth -c owner -p owner-secret
	assert_tpm_clean
}
