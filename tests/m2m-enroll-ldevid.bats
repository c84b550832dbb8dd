#!/usr/bin/env bats
# LDevIDs: m2m-enroll ldevid and renew, and m2m-ca issue --request, the
# real binaries with file keys, a software TPM (swtpm) and a SoftHSM2
# token, judged by openssl, tpm2-tools and pkcs11-tool.
#
# A manufacturer (root "mroot", factory CA "mfab") issues IDevIDs; a rogue
# manufacturer nobody trusts issues some too; the operator's issuing CA
# "op" (under "oproot") trusts mroot in op/manufacturers.pem, its ldevid
# profile's trust anchors.  One swtpm and one token serve the whole file;
# tests use keys, handles, objects and PPIDs of their own, so that each
# can also run alone (bats -f).

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/swtpm'
load 'helpers/softhsm'

HW=1.3.6.1.4.1.99999.1.1

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	swtpm_start || return 1
	softhsm_setup "$BATS_FILE_TMPDIR/softhsm" m2m-ldevid || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init mroot --subject 'O=Maker,CN=Maker Root' > /dev/null &&
		m2m-ca init mfab --parent mroot --hw-type "$HW" \
			--device-subject 'O=Maker,OU=Devices' > /dev/null &&
		m2m-ca init rogue --subject 'O=Rogue,CN=Rogue Root' --hw-type "$HW" \
			--device-subject 'O=Rogue' > /dev/null &&
		m2m-ca init oproot --subject 'O=Operator,CN=Operator Root' > /dev/null &&
		m2m-ca init op --parent oproot --subject 'O=Operator,CN=Operator Devices' > /dev/null &&
		cp mroot/ca.crt op/manufacturers.pem
}

teardown_file() {
	softhsm_teardown
	swtpm_stop
}

setup() {
	F=$BATS_FILE_TMPDIR
	T="pkcs11:token=$SOFTHSM_TOKEN"
	P="pin-source=file:$SOFTHSM_PIN_FILE"
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ---- helpers -------------------------------------------------------------------

# idevid NAME ADDR [CA]: a file key NAME.key and its IDevID from CA
# (default the factory) for the Bluetooth address ADDR, serial SN-NAME, in
# NAME.pem with its chain.
idevid() {
	m2m-enroll keygen --key "$1.key" > /dev/null &&
		m2m-enroll csr --key "$1.key" --out "$1.csr" &&
		m2m-ca issue --ca "${3:-$F/mfab}" --csr "$1.csr" --bluetooth "$2" \
			--serial "SN-$1" --chain --out "$1.pem"
}

# serial_of FILE: the (first) certificate's serial, lower case.
serial_of() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial)
	s=${s#serial=}
	printf '%s\n' "${s,,}"
}

# cert_spki FILE: the SHA-256 of the certificate's SubjectPublicKeyInfo.
cert_spki() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
		sha256sum | cut -d' ' -f1
}

# key_spki FILE: the same of a PEM private key.
key_spki() {
	openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -d' ' -f1
}

# tpm_spki HANDLE: the same of a TPM key, as tpm2-tools reads it.
tpm_spki() {
	tpm2_readpublic -c "$1" -f pem -o "$BATS_TEST_TMPDIR/tpm-pub.pem" > /dev/null &&
		openssl pkey -pubin -in "$BATS_TEST_TMPDIR/tpm-pub.pem" -outform DER |
		sha256sum | cut -d' ' -f1
}

# not_after FILE: the certificate's notAfter as the tools print it.
not_after() {
	date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" \
		+%Y-%m-%dT%H:%M:%SZ
}

# san FILE: the certificate's subjectAltName as openssl prints it.
san() {
	openssl x509 -in "$1" -noout -ext subjectAltName
}

# records: the operator CA's ledger, one line per certificate.
records() {
	m2m-ca list --ca "$F/op"
}

# record SERIAL: the operator's ledger record of SERIAL as JSON.
record() {
	m2m-ca show --ca "$F/op" "$1" --json
}

# der_of PEMFILE OUT: the DER inside a one-block PEM file.
der_of() {
	sed '1d;$d' "$1" | openssl base64 -d > "$2"
}

# flip_last IN OUT: IN with its last byte changed.
flip_last() {
	local n b
	n=$(stat -c %s "$1")
	b=$(tail -c 1 "$1" | od -An -tu1 | tr -d ' ')
	head -c $((n - 1)) "$1" > "$2"
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $((b ^ 1)))" >> "$2"
}

# ---- ldevid with file keys -------------------------------------------------------

@test "ldevid, file keys: the LDevID bound to the IDevID, with its chain, recorded as vouched for" {
	local id ld
	idevid d1 00:1A:7D:DA:10:01
	id=$(serial_of d1.pem)
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d1.key \
		--idevid-cert d1.pem --key l1.key --cert l1.pem
	ld=$(serial_of l1.pem)
	assert_ok "enrolled LDevID $ld for IDevID $id at 'l1.pem' (key 'l1.key'), valid until $(not_after l1.pem)"
	# The new key's, the IDevID's HardwareModuleName and subject, op's chain.
	assert_equal "$(cert_spki l1.pem)" "$(key_spki l1.key)"
	[ "$(key_spki l1.key)" != "$(key_spki d1.key)" ] || fail "the IDevID key was reused"
	assert_equal "$(san l1.pem)" "$(san d1.pem)"
	assert_equal "$(openssl x509 -in l1.pem -noout -subject)" 'subject=O = Maker, OU = Devices, serialNumber = SN-d1'
	assert_equal "$(openssl x509 -in l1.pem -noout -issuer)" 'issuer=O = Operator, CN = Operator Devices'
	assert_equal "$(grep -c 'BEGIN CERTIFICATE' l1.pem)" 2
	run openssl verify -CAfile "$F/oproot/ca.crt" -untrusted l1.pem -purpose sslclient l1.pem
	assert_output 'l1.pem: OK'
	# The ledger: profile ldevid, the IDevID's PPID, vouched for by it.
	run --separate-stderr record "$ld"
	assert_success
	assert_output --partial "\"profile\":\"ldevid\",\"status\":\"valid\","
	assert_output --partial '"ppid":"01001a7dda1001","serial":null,'
	assert_output --partial "\"vouched_by\":\"$id\"}"
	run m2m-ca audit --ca "$F/op" --json
	assert_line --partial "\"op\":\"issue\",\"detail\":{\"serial\":\"$ld\",\"profile\":\"ldevid\",\"ppid\":\"01001a7dda1001\",\"device_serial\":\"\",\"subject\":\"serialNumber=SN-d1,OU=Devices,O=Maker\",\"vouched_by\":\"$id\"}"
}

@test "ldevid --json: serials, fingerprints, PPID, locations, chain and ms per step" {
	local id idfp
	idevid d2 00:1A:7D:DA:10:02
	id=$(serial_of d2.pem)
	idfp=$(openssl x509 -in d2.pem -outform DER | sha256sum | cut -d' ' -f1)
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d2.key \
		--idevid-cert d2.pem --key l2.key --cert l2.pem --algorithm ec-p384 --json
	assert_success
	assert_stderr ''
	assert_output --regexp "^\\{\"idevid_serial\":\"$id\",\"idevid_fingerprint\":\"$idfp\",\"ppid\":\"01001a7dda1002\",\"profile\":\"ldevid\",\"certificate_serial\":\"$(serial_of l2.pem)\",\"fingerprint\":\"$(openssl x509 -in l2.pem -outform DER | sha256sum | cut -d' ' -f1)\",\"subject\":\"serialNumber=SN-d2,OU=Devices,O=Maker\",\"not_after\":\"$(not_after l2.pem)\",\"key\":\"l2.key\",\"cert\":\"l2.pem\",\"chain\":1,\"public_key_fingerprint\":\"$(key_spki l2.key)\",\"reused_idevid_key\":false,\"ms\":\\{\"keygen\":[0-9]+\\.[0-9],\"request\":[0-9]+\\.[0-9],\"issue\":[0-9]+\\.[0-9],\"install\":[0-9]+\\.[0-9],\"readback\":[0-9]+\\.[0-9],\"total\":[0-9]+\\.[0-9]\\}\\}$"
	run openssl x509 -in l2.pem -noout -text
	assert_line --partial 'NIST CURVE: P-384'
}

@test "a second LDevID for the device needs --replace, which supersedes the first" {
	local first second
	idevid d3 00:1A:7D:DA:10:03
	m2m-enroll ldevid --ca "$F/op" --idevid-key d3.key --idevid-cert d3.pem \
		--key a.key --cert a.pem > /dev/null
	first=$(serial_of a.pem)
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d3.key \
		--idevid-cert d3.pem --key b.key --cert b.pem
	assert_error 3 "m2m-enroll: the CA refuses the LDevID request: PPID 01001a7dda1003 already has a valid ldevid certificate (serial $first, device -); --replace supersedes it"
	assert_file_not_exists b.key
	assert_file_not_exists b.pem
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d3.key \
		--idevid-cert d3.pem --key b.key --cert b.pem --replace
	second=$(serial_of b.pem)
	assert_success
	assert_stderr "m2m-enroll: warning: revoked LDevID $first (superseded)"
	run record "$first"
	assert_output --partial '"status":"revoked",'
	assert_output --partial '"reason":"superseded"'
	run record "$second"
	assert_output --partial '"status":"valid",'
}

# ---- ldevid in a TPM and on a token ------------------------------------------------

@test "ldevid into the TPM: tpm2: means key 0x81000110 and NV 0x01800110; tpm2-tools read them back" {
	local fp sha
	m2m-enroll keygen --key tpm2:handle=0x81020010 > /dev/null
	m2m-enroll csr --key tpm2:handle=0x81020010 --out t.csr
	m2m-ca issue --ca "$F/mfab" --csr t.csr --bluetooth 00:1A:7D:DA:10:04 \
		--serial SN-t4 --out t.crt
	m2m-enroll install --cert tpm2:nv=0x01C90010 --in t.crt > /dev/null
	cp "$F/mfab/ca.crt" t-chain.pem
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" \
		--idevid-key tpm2:handle=0x81020010 --idevid-cert tpm2:nv=0x01C90010 \
		--idevid-chain t-chain.pem --key tpm2: --json
	assert_success
	assert_stderr ''
	assert_output --partial '"ppid":"01001a7dda1004","profile":"ldevid",'
	assert_output --partial '"key":"tpm2:handle=0x81000110","cert":"tpm2:nv=0x01800110","chain":0,'
	tpm2_nvread 0x01800110 -o l.der 2> /dev/null
	fp=$(tpm_spki 0x81000110)
	assert_equal "$(openssl x509 -inform DER -in l.der -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" "$fp"
	assert_output --partial "\"public_key_fingerprint\":\"$fp\""
	sha=$(sha256sum < l.der | cut -d' ' -f1)
	assert_output --partial "\"fingerprint\":\"$sha\""
	run tpm2_getcap handles-persistent
	assert_line '- 0x81000110'
	openssl x509 -inform DER -in l.der -out l.pem
	run openssl verify -CAfile "$F/oproot/ca.crt" -untrusted "$F/op/ca.crt" l.pem
	assert_output 'l.pem: OK'
	# Without the chain the factory CA is unknown: refused, nothing left.
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" \
		--idevid-key tpm2:handle=0x81020010 --idevid-cert tpm2:nv=0x01C90010 \
		--key tpm2:handle=0x81000112 --cert tpm2:nv=0x01800112 --replace
	assert_error 1 "m2m-enroll: the CA refuses the LDevID request: the IDevID $(openssl x509 -in t.crt -noout -serial | cut -d= -f2 | tr A-F a-f) does not verify to a trust anchor in 'manufacturers.pem': unable to get local issuer certificate"
	run tpm2_getcap handles-persistent
	refute_line '- 0x81000112'
}

@test "ldevid onto a token: the LDevID key, certificate and chain beside the IDevID's; pkcs11-tool lists them" {
	local id
	m2m-enroll keygen --key "$T;object=idev5?$P" > /dev/null
	m2m-enroll csr --key "$T;object=idev5?$P" --out p.csr
	m2m-ca issue --ca "$F/mfab" --csr p.csr --bluetooth 00:1A:7D:DA:10:05 \
		--serial SN-p5 --chain --out p.pem
	m2m-enroll install --cert "$T;object=idev5?$P" --in p.pem > /dev/null
	id=$(serial_of p.pem)
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key "$T;object=idev5" \
		--idevid-cert "$T;object=idev5" --key "$T;object=ldev5" --passin "file:$SOFTHSM_PIN_FILE"
	assert_success
	assert_stderr ''
	assert_output --regexp "^enrolled LDevID [0-9a-f]+ for IDevID $id at 'pkcs11:token=m2m-ldevid;object=ldev5' \\(key 'pkcs11:token=m2m-ldevid;object=ldev5'\\), valid until "
	run --separate-stderr m2m-enroll show --key "$T;object=ldev5?$P" --cert "$T;object=ldev5" --json
	assert_success
	assert_output --partial '"subject":"serialNumber=SN-p5,OU=Devices,O=Maker","issuer":"CN=Operator Devices,O=Operator",'
	assert_output --partial '"chain":1,"matches_key":true}'
	run pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$SOFTHSM_TOKEN" \
		--login --pin env:SOFTHSM_PIN --list-objects
	assert_equal "$(grep -c 'label:      ldev5' <<<"$output")" 4	# key pair, LDevID, chain
	assert_equal "$(grep -c 'label:      idev5' <<<"$output")" 4
}

# ---- refusals ----------------------------------------------------------------------

@test "an IDevID from a manufacturer the profile does not trust: exit 1, nothing issued, the new key removed" {
	local before
	idevid u6 00:1A:7D:DA:10:06 "$F/rogue"
	before=$(records)
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key u6.key \
		--idevid-cert u6.pem --key l6.key --cert l6.pem
	assert_error 1 "m2m-enroll: the CA refuses the LDevID request: the IDevID $(serial_of u6.pem) does not verify to a trust anchor in 'manufacturers.pem': unable to get local issuer certificate"
	assert_file_not_exists l6.key
	assert_file_not_exists l6.pem
	assert_equal "$(records)" "$before"
	# The same through a request file
	m2m-enroll ldevid --out u6.req --idevid-key u6.key --idevid-cert u6.pem --key l6.key > /dev/null
	run --separate-stderr m2m-ca issue --ca "$F/op" --request u6.req
	assert_error 1 "m2m-ca: cannot issue for 'u6.req': the IDevID $(serial_of u6.pem) does not verify to a trust anchor in 'manufacturers.pem': unable to get local issuer certificate"
}

@test "a revoked IDevID: the factory's CRL in the anchors file refuses it (exit 1); others of that factory pass" {
	local id
	idevid r7 00:1A:7D:DA:10:07
	idevid g7 00:1A:7D:DA:10:17
	id=$(serial_of r7.pem)
	m2m-ca revoke --ca "$F/mfab" "$id" --reason keyCompromise > /dev/null
	m2m-ca crl --ca "$F/mfab" --out mfab.crl
	cat "$F/mroot/ca.crt" mfab.crl > "$F/op/strict.pem"
	m2m-ca profile set --ca "$F/op" strict type=ldevid trust-anchors=strict.pem
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --profile strict \
		--idevid-key r7.key --idevid-cert r7.pem --key l7.key --cert l7.pem
	assert_error 1 "m2m-enroll: the CA refuses the LDevID request: the IDevID $id is revoked: a CRL in 'strict.pem' lists it"
	assert_file_not_exists l7.key
	# Without the CRL (the default profile) it would pass: revocation is
	# known only from CRLs in the anchors file.
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --profile strict \
		--idevid-key g7.key --idevid-cert g7.pem --key g7l.key --cert g7l.pem
	assert_success
	run record "$(serial_of g7l.pem)"
	assert_output --partial '"profile":"strict",'
}

@test "a request whose signature does not match: changed after signing, exit 1; garbage, exit 3" {
	local before
	idevid d8 00:1A:7D:DA:10:08
	run --separate-stderr m2m-enroll ldevid --out d8.req --idevid-key d8.key \
		--idevid-cert d8.pem --key l8.key
	assert_ok "wrote the LDevID request for key 'l8.key', signed by IDevID $(serial_of d8.pem), to 'd8.req'"
	assert_equal "$(head -1 d8.req)" '-----BEGIN CMS-----'
	# openssl reads it: signed by the IDevID, which chains to the maker.
	run openssl cms -verify -binary -in d8.req -inform PEM -CAfile "$F/mroot/ca.crt" \
		-purpose any -out d8.csr.der
	assert_success
	run openssl req -inform DER -in d8.csr.der -verify -noout
	assert_output 'Certificate request self-signature verify OK'
	der_of d8.req d8.der
	flip_last d8.der bad.der
	before=$(records)
	run --separate-stderr m2m-ca issue --ca "$F/op" --request bad.der
	assert_error_prefix 1 "m2m-ca: invalid LDevID request 'bad.der': the request's signature does not verify with the key of its certificate (it was changed, or signed by another key): "
	printf 'hello\n' > junk
	run --separate-stderr m2m-ca issue --ca "$F/op" --request junk
	assert_error_prefix 3 "m2m-ca: invalid LDevID request 'junk': the request is not a DER CMS message: "
	run --separate-stderr m2m-ca issue --ca "$F/op" --request "$F/mroot/ca.crt"
	assert_error 3 "m2m-ca: invalid LDevID request '$F/mroot/ca.crt': no well-formed CMS block in the PEM"
	assert_equal "$(records)" "$before"
	# The intact one, in DER, is issued
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d8.der --out l8.pem
	assert_ok ''
	assert_equal "$(cert_spki l8.pem)" "$(key_spki l8.key)"
}

# ---- the IDevID key reused ---------------------------------------------------------

@test "reusing the IDevID key: only with --reuse-idevid-key, and at m2m-ca only with --allow-key-reuse" {
	local sum
	idevid d9 00:1A:7D:DA:10:09
	sum=$(sha256sum < d9.key)
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d9.key \
		--idevid-cert d9.pem --key d9.key --cert l9.pem
	assert_error 2 "m2m-enroll: --key is the IDevID's key: name another place, or give --reuse-idevid-key (see 'm2m-enroll ldevid --help')"
	m2m-enroll ldevid --out d9.req --idevid-key d9.key --idevid-cert d9.pem --reuse-idevid-key > /dev/null
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d9.req
	assert_error 3 "m2m-ca: cannot issue for 'd9.req': the request reuses the IDevID's key, which is refused unless allowed (--allow-key-reuse)"
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d9.req --allow-key-reuse --json
	assert_success
	assert_output --partial '"subject":"serialNumber=SN-d9,OU=Devices,O=Maker"'
	# m2m-enroll: the flag is the request's word and the CA's consent.
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d9.key \
		--idevid-cert d9.pem --reuse-idevid-key --cert l9.pem --replace --json
	assert_success
	assert_output --partial "\"key\":\"d9.key\",\"cert\":\"l9.pem\",\"chain\":1,\"public_key_fingerprint\":\"$(key_spki d9.key)\",\"reused_idevid_key\":true,"
	assert_equal "$(cert_spki l9.pem)" "$(key_spki d9.key)"
	assert_equal "$(sha256sum < d9.key)" "$sum"
}

@test "m2m-ca issue --request: --out, --chain, --json; the key then installed with m2m-enroll install" {
	local ld
	idevid d10 00:1A:7D:DA:10:10
	m2m-enroll ldevid --out - --idevid-key d10.key --idevid-cert d10.pem --key l10.key > d10.req
	run --separate-stderr m2m-ca issue --ca "$F/op" --request - --chain --out l10.pem --json < d10.req
	ld=$(serial_of l10.pem)
	assert_success
	assert_output --regexp "^\\{\"certificate_serial\":\"$ld\",\"fingerprint\":\"[0-9a-f]{64}\",\"subject\":\"serialNumber=SN-d10,OU=Devices,O=Maker\",\"not_before\":\"[0-9T:Z-]+\",\"not_after\":\"$(not_after l10.pem)\",\"out\":\"l10.pem\"\\}$"
	assert_equal "$(grep -c 'BEGIN CERTIFICATE' l10.pem)" 2
	run --separate-stderr m2m-enroll install --cert l10-dev.pem --in l10.pem --key l10.key
	assert_success
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d10.req
	assert_error 3 "m2m-ca: cannot issue for 'd10.req': PPID 01001a7dda1010 already has a valid ldevid certificate (serial $ld, device -); --replace supersedes it"
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d10.req --profile idevid
	assert_error 3 "m2m-ca: cannot issue for 'd10.req': profile idevid issues IDevIDs, not LDevIDs: it takes no LDevID request"
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d10.req --replace
	assert_success
	assert_stderr "m2m-ca: warning: revoked $ld (superseded)"
	assert_output --partial '-----BEGIN CERTIFICATE-----'
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d10.req --bluetooth 00:1A:7D:DA:10:10
	assert_error 2 "m2m-ca: --request takes the device's PPID and subject from its IDevID (see 'm2m-ca issue --help')"
	run --separate-stderr m2m-ca issue --ca "$F/op" --csr d10.csr --allow-key-reuse
	assert_error 2 "m2m-ca: --allow-key-reuse goes with --request (see 'm2m-ca issue --help')"
	run --separate-stderr m2m-ca issue --ca "$F/op" --request d10.req --csr d10.csr
	assert_error 2 "m2m-ca: give one of --csr, --generate-key, --batch or --request (see 'm2m-ca issue --help')"
}

@test "a failure after issuing: the LDevID is revoked (cessationOfOperation), the new key removed, exit 4" {
	local before serial
	idevid d11 00:1A:7D:DA:10:11
	before=$(records | wc -l)
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d11.key \
		--idevid-cert d11.pem --key l11.key --cert nodir/l11.pem
	assert_failure 4
	assert_output ''
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr =~ ^"m2m-enroll: cannot install the LDevID at 'nodir/l11.pem': ".*"; revoked LDevID "([0-9a-f]+)" (cessationOfOperation) and removed the new key"$ ]] ||
		fail "stderr: $stderr"
	serial=${BASH_REMATCH[1]}
	assert_file_not_exists l11.key
	assert_equal "$(records | wc -l)" $((before + 1))
	run record "$serial"
	assert_output --partial '"status":"revoked",'
	assert_output --partial '"reason":"cessationOfOperation"'
	# Nothing stands in the way of a second try.
	mkdir nodir
	run --separate-stderr m2m-enroll ldevid --ca "$F/op" --idevid-key d11.key \
		--idevid-cert d11.pem --key l11.key --cert nodir/l11.pem
	assert_success
}

@test "usage: what ldevid and renew need, and what they refuse" {
	run --separate-stderr m2m-enroll ldevid --idevid-key a --idevid-cert b --key c
	assert_error 2 "m2m-enroll: ldevid needs --ca DIR or --server URL, or --out FILE for the request alone (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --out y --idevid-key a --idevid-cert b --key c
	assert_error 2 "m2m-enroll: ldevid needs --ca DIR or --server URL, or --out FILE for the request alone (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --idevid-key a --key c
	assert_error 2 "m2m-enroll: ldevid needs --idevid-key URI and --idevid-cert URI (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --idevid-key a --idevid-cert b
	assert_error 2 "m2m-enroll: ldevid needs --key URI for the new key (tpm2: for 0x81000110), or --reuse-idevid-key (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --idevid-key a --idevid-cert b --key c --reuse-idevid-key
	assert_error 2 "m2m-enroll: --reuse-idevid-key keeps the IDevID's key: no --key (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --idevid-key a --idevid-cert b --key c
	assert_error 2 "m2m-enroll: ldevid needs --cert URI: where the LDevID goes (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --idevid-key a --idevid-cert b --reuse-idevid-key --cert b
	assert_error 2 "m2m-enroll: --cert is where the IDevID is: the LDevID goes elsewhere (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --out y --idevid-key a --idevid-cert b --key c --cert d
	assert_error 2 "m2m-enroll: --out writes the request alone: --cert, --profile, --replace and --ca-passin go with --ca (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --idevid-key a --idevid-cert b --key tpm2: --passout env:X
	assert_error 2 "m2m-enroll: --passout encrypts file keys; this key stays in its device (see 'm2m-enroll ldevid --help')"
	run --separate-stderr m2m-enroll renew --ca x --key a
	assert_error 2 "m2m-enroll: renew needs --ca DIR or --server URL, --key URI and --cert URI (see 'm2m-enroll renew --help')"
	run --separate-stderr m2m-enroll renew --ca x --key a --cert b --same-key --new-key c
	assert_error 2 "m2m-enroll: --same-key keeps the key: no --new-key, --algorithm or --passout (see 'm2m-enroll renew --help')"
	run --separate-stderr m2m-enroll renew --ca x --key a --cert b --new-key a
	assert_error 2 "m2m-enroll: --new-key is where the current key is: name another place, or give --same-key (see 'm2m-enroll renew --help')"
	run --separate-stderr m2m-enroll renew --ca x --key a --cert b --before -1
	assert_error 2 "m2m-enroll: --before needs a number of days from 0 to 36500, not '-1' (see 'm2m-enroll renew --help')"
	run --separate-stderr m2m-enroll ldevid --ca x --idevid-key missing.key --idevid-cert b --key c --cert d
	assert_error_prefix 3 "m2m-enroll: cannot load the key 'missing.key': "
}

# ---- renew -------------------------------------------------------------------------

@test "renew not due: exit 0, says so, changes nothing" {
	local sums before
	idevid d12 00:1A:7D:DA:10:12
	m2m-enroll ldevid --ca "$F/op" --idevid-key d12.key --idevid-cert d12.pem \
		--key l12.key --cert l12.pem > /dev/null
	sums=$(sha256sum l12.key l12.pem)
	before=$(records)
	# 365 days less the seconds since it was issued: 364 or 365 whole days.
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key l12.key --cert l12.pem
	assert_success
	assert_stderr ''
	assert_output --regexp "^LDevID $(serial_of l12.pem) expires on $(not_after l12.pem), in 36[45] days: not renewing \\(due 30 days before\\)$"
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key l12.key --cert l12.pem --before 300 --json
	assert_success
	assert_stderr ''
	assert_output --regexp "^\\{\"renewed\":false,\"certificate_serial\":\"$(serial_of l12.pem)\",\"not_after\":\"$(not_after l12.pem)\",\"days_left\":36[45],\"before\":300\\}$"
	assert_equal "$(sha256sum l12.key l12.pem)" "$sums"
	assert_equal "$(records)" "$before"
	assert_file_not_exists l12.key.new
}

@test "renew due (--before 400), file key: new key and certificate moved over the old; the old superseded" {
	local old new spki
	idevid d13 00:1A:7D:DA:10:13
	m2m-enroll ldevid --ca "$F/op" --idevid-key d13.key --idevid-cert d13.pem \
		--key l13.key --cert l13.pem > /dev/null
	old=$(serial_of l13.pem)
	spki=$(key_spki l13.key)
	cp l13.key old.key
	cp l13.pem old.pem
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key l13.key --cert l13.pem --before 400
	new=$(serial_of l13.pem)
	assert_ok "renewed LDevID $old as $new at 'l13.pem' (key 'l13.key'), valid until $(not_after l13.pem)"
	[ "$new" != "$old" ] || fail "the same certificate"
	[ "$(key_spki l13.key)" != "$spki" ] || fail "the same key"
	assert_equal "$(cert_spki l13.pem)" "$(key_spki l13.key)"
	assert_equal "$(san l13.pem)" "$(san d13.pem)"
	assert_equal "$(grep -c 'BEGIN CERTIFICATE' l13.pem)" 2
	assert_file_not_exists l13.key.new
	assert_file_not_exists l13.pem.new
	run record "$old"
	assert_output --partial '"status":"revoked",'
	assert_output --partial '"reason":"superseded"'
	run record "$new"
	assert_output --partial "\"vouched_by\":\"$old\"}"
	# The superseded pair renews nothing; a pair that does not match is refused.
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key old.key --cert old.pem --before 400
	assert_error_prefix 1 "m2m-enroll: the CA refuses the renewal: the LDevID $old that signs the renewal is revoked ("
	assert_file_not_exists old.key.new
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key old.key --cert l13.pem --before 400
	assert_error 3 "m2m-enroll: the LDevID certificate 'l13.pem' is not the key 'old.key''s"
	# An LDevID of another CA: not this CA's to renew.
	run --separate-stderr m2m-enroll renew --ca "$F/mfab" --key l13.key --cert l13.pem --before 400
	assert_error 1 "m2m-enroll: the CA refuses the renewal: the LDevID $new that signs the renewal was not issued by this CA"
	assert_file_not_exists l13.key.new
}

@test "renew --same-key: the key stays, the certificate is replaced in place" {
	local old spki json
	idevid d14 00:1A:7D:DA:10:14
	m2m-enroll ldevid --ca "$F/op" --idevid-key d14.key --idevid-cert d14.pem \
		--key l14.key --cert l14.pem > /dev/null
	old=$(serial_of l14.pem)
	spki=$(key_spki l14.key)
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key l14.key --cert l14.pem \
		--before 400 --same-key --json
	assert_success
	assert_stderr ''
	assert_output --regexp "^\\{\"renewed\":true,\"replaced\":\"$old\",\"certificate_serial\":\"$(serial_of l14.pem)\",\"fingerprint\":\"[0-9a-f]{64}\",\"not_after\":\"$(not_after l14.pem)\",\"key\":\"l14.key\",\"cert\":\"l14.pem\",\"chain\":1,\"public_key_fingerprint\":\"$spki\",\"same_key\":true,\"ms\":\\{\"keygen\":[0-9.]+,\"request\":[0-9.]+,\"issue\":[0-9.]+,\"install\":[0-9.]+,\"readback\":[0-9.]+,\"total\":[0-9.]+\\}\\}$"
	assert_equal "$(key_spki l14.key)" "$spki"
	assert_equal "$(cert_spki l14.pem)" "$spki"
	run record "$old"
	assert_output --partial '"reason":"superseded"'
}

@test "renew in the TPM: the other slot (0x81000121, 0x01800121), the old pair removed; --same-key moves the certificate back" {
	local old new
	m2m-enroll keygen --key tpm2:handle=0x81020020 > /dev/null
	m2m-enroll csr --key tpm2:handle=0x81020020 --out t.csr
	m2m-ca issue --ca "$F/mfab" --csr t.csr --bluetooth 00:1A:7D:DA:10:20 \
		--serial SN-t20 --chain --out t.pem
	m2m-enroll ldevid --ca "$F/op" --idevid-key tpm2:handle=0x81020020 --idevid-cert t.pem \
		--key tpm2:handle=0x81000120 --cert tpm2:nv=0x01800120 > /dev/null
	tpm2_nvread 0x01800120 -o old.der > /dev/null
	old=$(openssl x509 -inform DER -in old.der -noout -serial | cut -d= -f2 | tr A-F a-f)
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key tpm2:handle=0x81000120 \
		--cert tpm2:nv=0x01800120 --before 400
	assert_success
	assert_stderr ''
	tpm2_nvread 0x01800121 -o new.der > /dev/null
	new=$(openssl x509 -inform DER -in new.der -noout -serial | cut -d= -f2 | tr A-F a-f)
	assert_output "renewed LDevID $old as $new at 'tpm2:nv=0x01800121' (key 'tpm2:handle=0x81000121'), valid until $(date -u -d "$(openssl x509 -inform DER -in new.der -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
	assert_equal "$(openssl x509 -inform DER -in new.der -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" "$(tpm_spki 0x81000121)"
	run tpm2_getcap handles-persistent
	assert_line '- 0x81000121'
	refute_line '- 0x81000120'
	run tpm2_getcap handles-nv-index
	assert_line '- 0x1800121'
	refute_line '- 0x1800120'
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key tpm2:handle=0x81000121 \
		--cert tpm2:nv=0x01800121 --before 400 --same-key --json
	assert_success
	assert_output --partial '"key":"tpm2:handle=0x81000121","cert":"tpm2:nv=0x01800120","chain":0,'
	run tpm2_getcap handles-nv-index
	assert_line '- 0x1800120'
	refute_line '- 0x1800121'
	run record "$new"
	assert_output --partial '"reason":"superseded"'
}

@test "renew on a token: --new-key is needed (exit 2); the new pair beside the old, the old objects removed" {
	local old
	m2m-enroll keygen --key "$T;object=idev15?$P" > /dev/null
	m2m-enroll csr --key "$T;object=idev15?$P" --out p.csr
	m2m-ca issue --ca "$F/mfab" --csr p.csr --bluetooth 00:1A:7D:DA:10:15 \
		--serial SN-p15 --chain --out p.pem
	m2m-enroll ldevid --ca "$F/op" --idevid-key "$T;object=idev15?$P" --idevid-cert p.pem \
		--key "$T;object=ldev15a?$P" > /dev/null
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key "$T;object=ldev15a?$P" \
		--cert "$T;object=ldev15a" --before 400
	assert_error 2 "m2m-enroll: renewing a pkcs11: key needs --new-key URI (and --new-cert if it goes elsewhere) (see 'm2m-enroll renew --help')"
	old=$(m2m-enroll show --key "$T;object=ldev15a?$P" --cert "$T;object=ldev15a" | sed -n 's/^certificate serial: //p')
	run --separate-stderr m2m-enroll renew --ca "$F/op" --key "$T;object=ldev15a?$P" \
		--cert "$T;object=ldev15a" --before 400 --new-key "$T;object=ldev15b?$P"
	assert_success
	assert_output --regexp "^renewed LDevID $old as [0-9a-f]+ at 'pkcs11:token=m2m-ldevid;object=ldev15b\\?pin-source=file:[^']+' \\(key 'pkcs11:token=m2m-ldevid;object=ldev15b\\?pin-source=file:[^']+'\\), valid until "
	run --separate-stderr m2m-enroll show --key "$T;object=ldev15b?$P" --cert "$T;object=ldev15b" --json
	assert_output --partial '"chain":1,"matches_key":true}'
	run pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$SOFTHSM_TOKEN" \
		--login --pin env:SOFTHSM_PIN --list-objects
	assert_equal "$(grep -c 'label:      ldev15a' <<<"$output")" 0
	assert_equal "$(grep -c 'label:      ldev15b' <<<"$output")" 4
}
