#!/usr/bin/env bats
# m2m-verify device against keys that never leave their device: a SoftHSM2
# token and a software TPM (swtpm), each holding an IDevID key made by
# m2m-enroll and its certificate installed beside it.  The verifier signs a
# fresh nonce with the key inside the token or TPM, checks it with the
# certificate's public key, then verifies the chain.
#
# One token and one swtpm serve the whole file (setup_file); the keys and
# certificates are made once there.

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/softhsm'
load 'helpers/swtpm'

HW=1.3.6.1.4.1.99999.1.1
FACTORY='CN=m2m issuing CA factory'

# issue KEY NAME ADDR: a request signed by KEY, issued by the factory for
# the Bluetooth address ADDR as NAME.pem (certificate and chain) and
# NAME.crt (the certificate alone).
issue() {
	m2m-enroll csr --key "$1" --passin "file:$SOFTHSM_PIN_FILE" --out "$2.csr"
	m2m-ca issue --ca factory --csr "$2.csr" --bluetooth "$3" --chain --out "$2.pem"
	openssl x509 -in "$2.pem" -out "$2.crt"
}

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	softhsm_setup "$BATS_FILE_TMPDIR/softhsm" m2m-test || return 1
	swtpm_start || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null
	m2m-ca init factory --parent root --hw-type "$HW" \
		--device-subject 'O=Example,OU=Devices' > /dev/null
	T="pkcs11:token=$SOFTHSM_TOKEN"
	# The token: an IDevID key and its certificate with the chain.
	m2m-enroll keygen --key "$T;object=idevid;id=%01" \
		--passin "file:$SOFTHSM_PIN_FILE" > /dev/null
	issue "$T;object=idevid;id=%01" p11 00:1A:7D:DA:71:01
	m2m-enroll install --cert "$T;object=idevid;id=%01" --in p11.pem \
		--passin "file:$SOFTHSM_PIN_FILE" > /dev/null
	# A second token key, whose certificate the first one's is not.
	m2m-enroll keygen --key "$T;object=other;id=%02" \
		--passin "file:$SOFTHSM_PIN_FILE" > /dev/null
	# The TPM: the IDevID key at its handle, the certificate in NV.
	m2m-enroll keygen --key tpm2:handle=0x81020000 > /dev/null
	issue tpm2:handle=0x81020000 tpm 00:1A:7D:DA:71:02
	m2m-enroll install --cert tpm2:nv=0x01C90000 --in tpm.crt \
		--key tpm2:handle=0x81020000 > /dev/null
	m2m-enroll keygen --key tpm2:handle=0x81020001 --algorithm ec-p384 > /dev/null
}

teardown_file() {
	swtpm_stop
	softhsm_teardown
}

setup() {
	F=$BATS_FILE_TMPDIR
	T="pkcs11:token=$SOFTHSM_TOKEN"
	PIN=file:$SOFTHSM_PIN_FILE
	cd "$BATS_TEST_TMPDIR" || return 1
}

@test "a token's key signs the nonce; the certificate and chain are read from the token" {
	run --separate-stderr m2m-verify device --key "$T;object=idevid;id=%01" \
		--cert "$T;object=idevid;id=%01" --passin "$PIN" --trust "$F/root/ca.crt" \
		--bluetooth 00:1A:7D:DA:71:01
	assert_success
	assert_stderr ''
	assert_output --regexp "^$T;object=idevid;id=%01: ok \\(the key '$T;object=idevid;id=%01' signed nonce [0-9a-f]{64}\\)\$"
	run --separate-stderr m2m-verify device --key "$T;object=idevid;id=%01" \
		--cert "$T;object=idevid;id=%01" --passin "$PIN" --trust "$F/root/ca.crt" --json
	assert_success
	[[ $output == *'"possession":true'* ]] || fail "$output"
	[[ $output == *'"verdict":"ok"'* ]] || fail "$output"
	[[ $output == *'"ppid":{"ppid":"01001a7dda7101"'* ]] || fail "$output"
}

@test "a token key that is not the certificate's fails 'possession', exit 1" {
	run --separate-stderr m2m-verify device --key "$T;object=other;id=%02" \
		--cert "$T;object=idevid;id=%01" --passin "$PIN" --trust "$F/root/ca.crt"
	assert_failure 1
	assert_output "$T;object=idevid;id=%01: fail possession: the nonce signed by '$T;object=other;id=%02' does not verify with the certificate's public key: the key is not the certificate's"
	assert_stderr ''
}

@test "a wrong PIN is the token's refusal, exit 5; a PIN in the URI is hidden" {
	echo 9999 > wrong.pin
	run --separate-stderr m2m-verify device --key "$T;object=idevid;id=%01" \
		--cert "$F/p11.pem" --passin file:wrong.pin --trust "$F/root/ca.crt"
	assert_failure 5
	assert_output ''
	assert_stderr_line -p "m2m-verify: cannot use the key '$T;object=idevid;id=%01': "
	run --separate-stderr m2m-verify device --key "$T;object=idevid;id=%01?pin-value=$SOFTHSM_PIN" \
		--cert "$F/p11.pem" --trust "$F/root/ca.crt"
	assert_success
	assert_stderr 'm2m-verify: warning: --key with pin-value shows the PIN to other users; prefer pin-source or --passin'
	[[ $output != *"$SOFTHSM_PIN"* ]] || fail "the PIN is shown: $output"
	assert_output --partial "the key '$T;object=idevid;id=%01?pin-value=***' signed nonce"
}

@test "a TPM key signs the nonce; the certificate is read from NV" {
	run --separate-stderr m2m-verify device --key tpm2:handle=0x81020000 \
		--cert tpm2:nv=0x01C90000 --trust "$F/root/ca.crt" \
		--untrusted "$F/factory/ca.crt" --expect-ppid 01001a7dda7102
	assert_success
	assert_stderr ''
	assert_output --regexp "^tpm2:nv=0x01C90000: ok \\(the key 'tpm2:handle=0x81020000' signed nonce [0-9a-f]{64}\\)\$"
	# Without the intermediate, the chain does not verify after possession does.
	run --separate-stderr m2m-verify device --key tpm2:handle=0x81020000 \
		--cert tpm2:nv=0x01C90000 --trust "$F/root/ca.crt"
	assert_failure 1
	assert_output "tpm2:nv=0x01C90000: fail untrusted: issuer '$FACTORY' not trusted"
}

@test "another TPM key (P-384) fails 'possession'; a handle with no key is exit 3" {
	run --separate-stderr m2m-verify device --key tpm2:handle=0x81020001 \
		--cert tpm2:nv=0x01C90000 --trust "$F/root/ca.crt" --untrusted "$F/factory/ca.crt"
	assert_failure 1
	assert_output "tpm2:nv=0x01C90000: fail possession: the nonce signed by 'tpm2:handle=0x81020001' does not verify with the certificate's public key: the key is not the certificate's"
	run --separate-stderr m2m-verify device --key tpm2:handle=0x81020007 \
		--cert tpm2:nv=0x01C90000 --trust "$F/root/ca.crt"
	assert_error_prefix 3 "m2m-verify: cannot use the key 'tpm2:handle=0x81020007': "
	run --separate-stderr m2m-verify device --key tpm2:handle=0x81020000 \
		--cert tpm2:nv=0x01C90007 --trust "$F/root/ca.crt"
	assert_error_prefix 3 "m2m-verify: cannot read the certificate 'tpm2:nv=0x01C90007': "
}
