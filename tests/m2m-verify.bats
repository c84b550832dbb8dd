#!/usr/bin/env bats
# m2m-verify: chains, the 802.1AR profile, PPIDs, revocation (CRLs, delta
# CRLs, OCSP), batches, profile lint, a device's possession of its key (file
# keys here; tests/m2m-verify-device.bats has tokens and TPMs) and the
# integrity of a CA's ledger.  Every test runs the real binary and asserts
# its exact exit status, stdout and stderr.
#
# setup_file makes a hierarchy with m2m-ca (root, factory; another root) and
# a few device certificates; bad certificates and CRLs are made in the tests
# by tests/helpers/mkcert.py and mkcrl.py, each breaking one field.

# stderr and stderr_lines are set by run --separate-stderr; each test is a
# subshell, so the variables it exports stay its own.
# shellcheck disable=SC2154,SC2030,SC2031

load 'helpers/common'

HW=1.3.6.1.4.1.99999.1.1
V1=01001a7dda7113
FACTORY='CN=m2m issuing CA factory'
ROOTDN='CN=Root,O=Example,C=DE'
# The system's Python where there is one: a python3 found on PATH may be a
# version manager's shim that takes a second to start.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
MKCERT=("$PYTHON" "$BATS_TEST_DIRNAME/helpers/mkcert.py")
MKCRL=("$PYTHON" "$BATS_TEST_DIRNAME/helpers/mkcrl.py")

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null
	m2m-ca init factory --parent root --hw-type "$HW" \
		--device-subject 'O=Example,OU=Devices' > /dev/null
	m2m-ca init other --subject 'C=DE,O=Other,CN=Other Root' > /dev/null
	for d in dev dev2 dev3 dev4; do
		openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 \
			-out $d.key 2> /dev/null
		openssl req -new -key $d.key -subj /CN=x -out $d.csr
	done
	m2m-ca issue --ca factory --csr dev.csr --bluetooth 00:1A:7D:DA:71:13 \
		--serial SN-1 --out dev.pem
	m2m-ca issue --ca factory --csr dev2.csr --wifi 3C:71:BF:4A:0B:2E \
		--serial SN-2 --chain --out dev2-chain.pem
	openssl x509 -in dev2-chain.pem -out dev2.pem
	m2m-ca issue --ca factory --csr dev3.csr --ethernet 00:1B:21:3A:4F:5C \
		--serial SN-3 --out dev3.pem
	m2m-ca crl --ca factory --out before.crl
	m2m-ca revoke --ca factory "$(serial_of dev3.pem)" \
		--reason keyCompromise > /dev/null
	m2m-ca crl --ca factory --out factory.crl
	m2m-ca crl --ca other --out other.crl
	for d in dev dev3; do
		openssl ocsp -issuer factory/ca.crt -cert $d.pem -no_nonce \
			-reqout $d.req > /dev/null
		m2m-ca ocsp --ca factory --request $d.req --out $d.resp
	done
	cat dev.pem dev2.pem dev3.pem > bundle.pem
}

setup() {
	F=$BATS_FILE_TMPDIR
	cd "$BATS_TEST_TMPDIR" || return 1
	TRUST=(--trust "$F/root/ca.crt" --untrusted "$F/factory/ca.crt")
}

# ---- helpers -----------------------------------------------------------------

# serial_of FILE: the certificate's serial, lower case.
serial_of() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial)
	s=${s#serial=}
	printf '%s\n' "${s,,}"
}

# notafter_of FILE: notAfter as m2m-verify prints it (ISO 8601, UTC).
notafter_of() {
	date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" \
		+%Y-%m-%dT%H:%M:%SZ
}

# mkdev OUT [mkcert options]: a device certificate of dev.key issued by the
# factory CA, as m2m-ca would issue it but for the options.
mkdev() {
	local out=$1
	shift
	"${MKCERT[@]}" --issuer-cert "$F/factory/ca.crt" \
		--issuer-key "$F/factory/ca.key" --key "$F/dev.key" "$@" > "$out"
}

# json_field NAME [NAME...]: the value at that path in the JSON object on
# stdin ("null" for null, true/false lower case, lists and objects as JSON).
json_field() {
	"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
if v is None:
    print("null")
elif isinstance(v, bool):
    print(str(v).lower())
elif isinstance(v, (list, dict)):
    print(json.dumps(v, separators=(",", ":")))
else:
    print(v)' "$@"
}

# json_lines: fail unless every line of stdin is one JSON object.
json_lines() {
	"$PYTHON" -c 'import json, sys
for n, line in enumerate(sys.stdin.buffer, 1):
    try:
        if not isinstance(json.loads(line), dict):
            raise ValueError("not an object")
    except ValueError as e:
        sys.exit("line %d: %s: %r" % (n, e, line[:300]))'
}

# ---- usage ---------------------------------------------------------------------

@test "--help prints every form's usage line and exits 0" {
	run --separate-stderr m2m-verify --help
	assert_success
	assert_stderr ''
	assert_line --index 0 --partial 'usage: m2m-verify --trust FILE|DIR [--untrusted FILE] [--crl FILE ...]'
	assert_line '   or: m2m-verify --trust FILE|DIR --from-ledger CADIR ...'
	assert_line '   or: m2m-verify lint [--profile PROFILE] [--json] CERT|DIR ...'
	assert_line '   or: m2m-verify lint --list [--json]'
	assert_line '   or: m2m-verify device --key URI --cert URI --trust FILE|DIR [--passin SOURCE] [--tcti CONFIG] ...'
	assert_line '   or: m2m-verify ledger [--ledger LOCATION] [--json] CADIR'
	local opt
	for opt in --trust --untrusted --crl --ocsp-response --revocation --at \
		--purpose --profile --ignore-expiry --expect-ppid --expect-serial \
		--from-ledger --jobs --json --bluetooth --ieee802154; do
		assert_line --regexp "^ +(-., )?$opt( |\$)"
	done
	run --separate-stderr m2m-verify lint --help
	assert_success
	assert_line --index 0 'usage: m2m-verify lint [--profile PROFILE] [--json] CERT|DIR ...'
	run --separate-stderr m2m-verify --version
	assert_ok "m2m-verify $(project_version)"
}

@test "usage errors: exit 2, one line naming the problem" {
	run --separate-stderr m2m-verify
	assert_error 2 "m2m-verify: no certificate given (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "$F/dev.pem"
	assert_error 2 "m2m-verify: no trust anchor: give --trust FILE|DIR (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify --frobnicate
	assert_error 2 "m2m-verify: unknown option '--frobnicate' (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --revocation always x
	assert_error 2 "m2m-verify: --revocation must be prefer, require or none, not 'always' (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --at yesterday x
	assert_error 2 "m2m-verify: --at 'yesterday' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @SECONDS (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --at 2026-13-01 x
	assert_error 2 "m2m-verify: --at '2026-13-01' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @SECONDS (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --purpose emailProtection x
	assert_error 2 "m2m-verify: --purpose must be clientAuth, serverAuth or any, not 'emailProtection' (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --profile tdevid x
	assert_error 2 "m2m-verify: --profile must be idevid, ldevid, ca or any, not 'tdevid' (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --jobs 0 x
	assert_error 2 "m2m-verify: --jobs must be a number from 1 to 256, not '0' (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" -j 2x x
	assert_error 2 "m2m-verify: --jobs must be a number from 1 to 256, not '2x' (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --expect-ppid "$V1" \
		--bluetooth 00:1A:7D:DA:71:13 "$F/dev.pem"
	assert_error 2 "m2m-verify: --expect-ppid cannot be combined with technology options (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify "${TRUST[@]}" --wifi 3C:71:BF:4A:0B:2E \
		--wifi 3C:71:BF:4A:0B:2F "$F/dev.pem"
	assert_error 2 "m2m-verify: option '--wifi' given twice (see 'm2m-verify --help')"
	run --separate-stderr m2m-verify lint
	assert_error 2 "m2m-verify: no certificate given (see 'm2m-verify lint --help')"
	run --separate-stderr m2m-verify lint --list "$F/dev.pem"
	assert_error 2 "m2m-verify: --list takes no certificate (see 'm2m-verify lint --help')"
	run --separate-stderr m2m-verify device --key "$F/dev.key" --trust "$F/root/ca.crt"
	assert_error 2 "m2m-verify: device needs --key URI and --cert URI (see 'm2m-verify device --help')"
	run --separate-stderr m2m-verify device --key "$F/dev.key" --cert "$F/dev.pem"
	assert_error 2 "m2m-verify: no trust anchor: give --trust FILE|DIR (see 'm2m-verify device --help')"
	run --separate-stderr m2m-verify ledger
	assert_error 2 "m2m-verify: ledger needs the CA directory (see 'm2m-verify ledger --help')"
	run --separate-stderr m2m-verify ledger "$F/factory" extra
	assert_error 2 "m2m-verify: unexpected argument 'extra' (see 'm2m-verify ledger --help')"
}

# ---- chains ----------------------------------------------------------------------

@test "an IDevID m2m-ca issued verifies: one line, exit 0" {
	run --separate-stderr m2m-verify "${TRUST[@]}" "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	# The same as DER, and from standard input.
	openssl x509 -in "$F/dev.pem" -outform DER -out dev.der
	run --separate-stderr m2m-verify "${TRUST[@]}" dev.der
	assert_ok "dev.der: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" - < "$F/dev.pem"
	assert_ok "<stdin>: ok"
	# The intermediate from a directory of trust files does as well.
	mkdir anchors
	cp "$F/root/ca.crt" anchors/root.pem
	cp "$F/factory/ca.crt" mid.pem
	run --separate-stderr m2m-verify --trust anchors --untrusted mid.pem "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
}

@test "JSON: verdict, chain with fingerprints, decoded PPID, findings, revocation" {
	run --separate-stderr m2m-verify "${TRUST[@]}" --json "$F/dev.pem"
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 1
	json_lines <<<"$output"
	assert_equal "$(json_field verdict <<<"$output")" ok
	assert_equal "$(json_field check <<<"$output")" null
	assert_equal "$(json_field source <<<"$output")" "$F/dev.pem"
	assert_equal "$(json_field index <<<"$output")" 1
	assert_equal "$(json_field serial <<<"$output")" "$(serial_of "$F/dev.pem")"
	assert_equal "$(json_field subject <<<"$output")" 'serialNumber=SN-1,OU=Devices,O=Example'
	assert_equal "$(json_field fingerprint <<<"$output")" \
		"$(openssl x509 -in "$F/dev.pem" -outform DER | sha256sum | cut -d' ' -f1)"
	assert_equal "$(json_field chain <<<"$output" | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))')" 3
	assert_equal "$(json_field chain 1 subject <<<"$output")" "$FACTORY"
	assert_equal "$(json_field chain 2 subject <<<"$output")" "$ROOTDN"
	assert_equal "$(json_field chain 2 fingerprint <<<"$output")" \
		"$(openssl x509 -in "$F/root/ca.crt" -outform DER | sha256sum | cut -d' ' -f1)"
	assert_equal "$(json_field profile <<<"$output")" idevid
	assert_equal "$(json_field findings <<<"$output")" '[]'
	assert_equal "$(json_field hw_type <<<"$output")" "$HW"
	assert_equal "$(json_field ppid <<<"$output")" \
		'{"ppid":"01001a7dda7113","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"}]}'
	assert_equal "$(json_field serial_number <<<"$output")" SN-1
	assert_equal "$(json_field expired <<<"$output")" false
	assert_equal "$(json_field revocation <<<"$output")" \
		"{\"status\":\"unknown\",\"source\":null,\"revoked_at\":null,\"reason\":null,\"note\":\"no CRL of '$FACTORY' and no OCSP response was given\"}"
}

@test "no chain to a trust anchor: fail untrusted, exit 1" {
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail untrusted: issuer '$FACTORY' not trusted"
	assert_stderr ''
	run --separate-stderr m2m-verify --trust "$F/other/ca.crt" \
		--untrusted "$F/factory/ca.crt" "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail untrusted: issuer '$ROOTDN' not trusted"
	# A self-signed certificate that is no trust anchor.
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" "$F/other/ca.crt"
	assert_failure 1
	assert_output "$F/other/ca.crt: fail untrusted: self-signed, and not a trust anchor"
	# The root itself, as a trust anchor.
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" "$F/root/ca.crt"
	assert_ok "$F/root/ca.crt: ok"
}

@test "an expired certificate fails, --ignore-expiry lets it pass, not an expired CA" {
	mkdev old.pem --not-before -30 --not-after -2
	run --separate-stderr m2m-verify "${TRUST[@]}" old.pem
	assert_failure 1
	assert_output "old.pem: fail expired: expired at $(notafter_of old.pem)"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ignore-expiry old.pem
	assert_ok "old.pem: ok (expired at $(notafter_of old.pem), ignored)"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ignore-expiry --json old.pem
	assert_success
	assert_equal "$(json_field expired <<<"$output")" true
	assert_equal "$(json_field verdict <<<"$output")" ok
	# --ignore-expiry still checks the rest: a wrong PPID fails.
	run --separate-stderr m2m-verify "${TRUST[@]}" --ignore-expiry \
		--wifi 3C:71:BF:4A:0B:2E old.pem
	assert_failure 1
	assert_output "old.pem: fail expect-ppid: PPID is $V1, expected 023c71bf4a0b2e"
	# An expired issuing CA (made here) is not excused.
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2> /dev/null
	"${MKCERT[@]}" --issuer-cert "$F/root/ca.crt" --issuer-key "$F/root/ca.key" \
		--key ca.key --subject 'CN=Old CA' --no-serial-number --no-san \
		--bc ca:0 --ku keyCertSign,cRLSign --ski --not-before -30 \
		--not-after -1 > oldca.pem
	"${MKCERT[@]}" --issuer-cert oldca.pem --issuer-key ca.key --key "$F/dev.key" > leaf.pem
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --untrusted oldca.pem \
		--ignore-expiry leaf.pem
	assert_failure 1
	assert_output "leaf.pem: fail expired: CA 'CN=Old CA' expired at $(notafter_of oldca.pem)"
}

@test "--at: before the chain's validity, within it, after the root expires" {
	run --separate-stderr m2m-verify "${TRUST[@]}" --at 2020-01-01 "$F/dev.pem"
	assert_failure 1
	assert_output --regexp "^$F/dev.pem: fail not-yet-valid: CA '$ROOTDN' not valid before 20[0-9-]+T[0-9:]+Z\$"
	run --separate-stderr m2m-verify "${TRUST[@]}" --at 2030-06-01T12:00:00Z "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --at @4102444800 "$F/dev.pem"
	assert_failure 1
	assert_output --regexp "^$F/dev.pem: fail expired: CA '[^']+' expired at 20[0-9-]+T[0-9:]+Z\$"
}

@test "a signature that does not verify fails 'signature'" {
	openssl x509 -in "$F/dev.pem" -outform DER -out dev.der
	"$PYTHON" -c 'import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[-1] ^= 1
open(sys.argv[2], "wb").write(d)' dev.der bad.der
	run --separate-stderr m2m-verify "${TRUST[@]}" bad.der
	assert_failure 1
	assert_output "bad.der: fail signature: the signature by '$FACTORY' does not verify"
}

@test "--purpose: clientAuth and serverAuth as the extendedKeyUsage allows" {
	run --separate-stderr m2m-verify "${TRUST[@]}" --purpose clientAuth "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	mkdev srv.pem --eku serverAuth --not-after 30
	run --separate-stderr m2m-verify "${TRUST[@]}" --purpose clientAuth srv.pem
	assert_failure 1
	assert_output "srv.pem: fail purpose: not valid for TLS client authentication"
	run --separate-stderr m2m-verify "${TRUST[@]}" --purpose serverAuth srv.pem
	assert_ok "srv.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --purpose any srv.pem
	assert_ok "srv.pem: ok"
}

@test "what strict RFC 5280 checking refuses fails 'chain', in OpenSSL's words" {
	# An intermediate without basicConstraints is no CA.
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2> /dev/null
	"${MKCERT[@]}" --issuer-cert "$F/root/ca.crt" --issuer-key "$F/root/ca.key" \
		--key ca.key --subject 'CN=Not A CA' --no-serial-number --no-san \
		--ku keyCertSign,cRLSign --ski --not-after 30 > notca.pem
	"${MKCERT[@]}" --issuer-cert notca.pem --issuer-key ca.key --key "$F/dev.key" > leaf.pem
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --untrusted notca.pem leaf.pem
	assert_failure 1
	assert_output "leaf.pem: fail chain: CA 'CN=Not A CA' invalid CA certificate"
}

@test "a chain loop ends in a verdict, not a hang" {
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out a.key 2> /dev/null
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out b.key 2> /dev/null
	# A and B certify each other: a self-signed bootstrap of B, A under
	# it, then B under A.
	"${MKCERT[@]}" --self-signed --key b.key --subject CN=B --no-serial-number \
		--no-san --bc ca --ku keyCertSign,cRLSign --ski --not-after 30 > b0.pem
	"${MKCERT[@]}" --issuer-cert b0.pem --issuer-key b.key --key a.key --subject CN=A \
		--no-serial-number --no-san --bc ca --ku keyCertSign,cRLSign --ski \
		--not-after 30 > a.pem
	"${MKCERT[@]}" --issuer-cert a.pem --issuer-key a.key --key b.key --subject CN=B \
		--no-serial-number --no-san --bc ca --ku keyCertSign,cRLSign --ski \
		--not-after 30 > b.pem
	"${MKCERT[@]}" --issuer-cert a.pem --issuer-key a.key --key "$F/dev.key" > leaf.pem
	cat a.pem b.pem > loop.pem
	run --separate-stderr timeout 20 m2m-verify --trust "$F/root/ca.crt" \
		--untrusted loop.pem leaf.pem
	assert_failure 1
	assert_output "leaf.pem: fail untrusted: issuer 'CN=A' not trusted"
	assert_stderr ''
}

# ---- the profile and the PPID -------------------------------------------------------

@test "a DevID whose hwSerialNum is not a valid PPID fails 'ppid'" {
	mkdev bad.pem --ppid 01001a7dda71
	run --separate-stderr m2m-verify "${TRUST[@]}" bad.pem
	assert_failure 1
	assert_output "bad.pem: fail ppid: hwSerialNum is not a valid PPID: byte 1: bluetooth address is truncated (5 of 6 bytes)"
	mkdev none.pem --san-dns dev.example.com
	run --separate-stderr m2m-verify "${TRUST[@]}" none.pem
	assert_failure 1
	assert_output "none.pem: fail ppid: no HardwareModuleName in subjectAltName"
	mkdev nosan.pem --no-san
	run --separate-stderr m2m-verify "${TRUST[@]}" nosan.pem
	assert_failure 1
	assert_output "nosan.pem: fail ppid: no HardwareModuleName in the certificate (it has no subjectAltName)"
	mkdev raw.pem --hwmodule-hex 0403010203
	run --separate-stderr m2m-verify "${TRUST[@]}" raw.pem
	assert_failure 1
	assert_output "raw.pem: fail ppid: the HardwareModuleName is malformed: its value is not a SEQUENCE"
	# The TCG form: the PPID is the subject serialNumber.
	mkdev tcg.pem --hw-type 2.23.133.1.2 --ppid 41424344 --serial-number "$V1"
	run --separate-stderr m2m-verify "${TRUST[@]}" --json tcg.pem
	assert_success
	assert_equal "$(json_field ppid ppid <<<"$output")" "$V1"
	assert_equal "$(json_field hw_type <<<"$output")" 2.23.133.1.2
	mkdev tcgbad.pem --hw-type 2.23.133.1.2 --ppid 41424344 --serial-number SN-1
	run --separate-stderr m2m-verify "${TRUST[@]}" tcgbad.pem
	assert_failure 1
	assert_output "tcgbad.pem: fail ppid: serialNumber is not a valid PPID: 'S' at position 1 is not a hex digit"
}

@test "--expect-ppid, addresses and --expect-serial: match or fail naming both" {
	run --separate-stderr m2m-verify "${TRUST[@]}" --expect-ppid "$V1" "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --expect-ppid 01001A7DDA7113 "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --bluetooth 00-1a-7d-da-71-13 "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --wifi 3C:71:BF:4A:0B:2E "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail expect-ppid: PPID is $V1, expected 023c71bf4a0b2e"
	run --separate-stderr m2m-verify "${TRUST[@]}" --expect-serial SN-1 "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --expect-serial SN-2 "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail expect-serial: serialNumber is 'SN-1', expected 'SN-2'"
	# A CA carries no PPID.
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --expect-ppid "$V1" \
		"$F/factory/ca.crt"
	assert_failure 1
	assert_output "$F/factory/ca.crt: fail expect-ppid: no PPID, expected $V1"
	# What is expected must itself be valid: exit 3.
	run --separate-stderr m2m-verify "${TRUST[@]}" --expect-ppid 01001a7dda71 "$F/dev.pem"
	assert_error 3 "m2m-verify: invalid --expect-ppid: byte 1: bluetooth address is truncated (5 of 6 bytes)"
	run --separate-stderr m2m-verify "${TRUST[@]}" --wifi 01:00:5E:00:00:01 "$F/dev.pem"
	assert_error 3 "m2m-verify: invalid --wifi address: '01:00:5E:00:00:01' has the group (multicast) bit set"
	run --separate-stderr m2m-verify "${TRUST[@]}" --expect-serial 'SN_1' "$F/dev.pem"
	assert_error 3 "m2m-verify: invalid --expect-serial: serial 'SN_1': '_' is not allowed (PrintableString)"
}

@test "a rule of severity error fails 'profile', naming the rule; --profile chooses it" {
	mkdev kunc.pem --ku-noncritical
	run --separate-stderr m2m-verify "${TRUST[@]}" kunc.pem
	assert_failure 1
	assert_output "kunc.pem: fail profile: ku-critical: keyUsage is not critical"
	# Warnings do not fail, and show in JSON.
	mkdev ski.pem --ski
	run --separate-stderr m2m-verify "${TRUST[@]}" --json ski.pem
	assert_success
	assert_equal "$(json_field findings <<<"$output")" \
		'[{"id":"devid-ski-absent","severity":"warning","detail":"there is a subjectKeyIdentifier"}]'
	# A CA checked as an IDevID has no PPID, and breaks the DevID rules.
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --profile idevid \
		--json "$F/factory/ca.crt"
	assert_failure 1
	assert_equal "$(json_field reason <<<"$output")" \
		'no HardwareModuleName in the certificate (it has no subjectAltName)'
	assert_equal "$(json_field findings 0 id <<<"$output")" devid-not-ca
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --profile any \
		"$F/factory/ca.crt"
	assert_ok "$F/factory/ca.crt: ok"
}

# ---- revocation -----------------------------------------------------------------------

@test "CRLs: not revoked, revoked (with time and reason), unknown, required" {
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/factory.crl" \
		--revocation require "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/factory.crl" "$F/dev3.pem"
	assert_failure 1
	assert_output --regexp "^$F/dev3.pem: fail revoked: revoked at 20[0-9-]+T[0-9:]+Z \\(keyCompromise\\), by CRL 2 of '$FACTORY' \\('$F/factory.crl'\\)\$"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/factory.crl" --json "$F/dev3.pem"
	assert_failure 1
	assert_equal "$(json_field revocation status <<<"$output")" revoked
	assert_equal "$(json_field revocation reason <<<"$output")" keyCompromise
	assert_equal "$(json_field check <<<"$output")" revoked
	# The CRL from before the revocation is older: the newest one counts.
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/before.crl" "$F/dev3.pem"
	assert_ok "$F/dev3.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/before.crl" \
		--crl "$F/factory.crl" "$F/dev3.pem"
	assert_failure 1
	# Nothing given: prefer lets it verify, require does not, none does not look.
	run --separate-stderr m2m-verify "${TRUST[@]}" "$F/dev3.pem"
	assert_ok "$F/dev3.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --revocation require "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail revocation-unknown: nothing says whether it is revoked: no CRL of '$FACTORY' and no OCSP response was given"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/factory.crl" \
		--revocation none --json "$F/dev3.pem"
	assert_success
	assert_equal "$(json_field revocation status <<<"$output")" not-checked
}

@test "a CRL of another issuer says nothing; one with a forged signature fails 'crl'" {
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/other.crl" \
		--revocation require "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail revocation-unknown: nothing says whether it is revoked: CRL '$F/other.crl' is of 'CN=Other Root,O=Other,C=DE', not of '$FACTORY'"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/other.crl" "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	"${MKCRL[@]}" --issuer-cert "$F/factory/ca.crt" --key "$F/other/ca.key" > forged.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl forged.crl "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail crl: CRL 'forged.crl' of '$FACTORY' does not verify: its signature does not verify with the issuer's key"
}

@test "delta CRLs revoke and lift a hold; an out-of-date CRL says nothing good" {
	local sn
	sn=$(serial_of "$F/dev.pem")
	C=("${MKCRL[@]}" --issuer-cert "$F/factory/ca.crt" --key "$F/factory/ca.key")
	"${C[@]}" --number 10 > full.crl
	"${C[@]}" --number 11 --delta 10 --revoke "$sn:1" > delta.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl full.crl --revocation require "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl full.crl --crl delta.crl "$F/dev.pem"
	assert_failure 1
	assert_output --regexp "^$F/dev.pem: fail revoked: revoked at [0-9T:Z-]+ \\(keyCompromise\\), by delta CRL 11 of '$FACTORY' \\('delta.crl'\\)\$"
	# certificateHold on the full CRL, removeFromCRL on the delta.
	"${C[@]}" --number 10 --revoke "$sn:6" > hold.crl
	"${C[@]}" --number 11 --delta 10 --revoke "$sn:8" > unhold.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl hold.crl "$F/dev.pem"
	assert_failure 1
	assert_output --regexp "\\(certificateHold\\), by CRL 10 of"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl hold.crl --crl unhold.crl \
		--revocation require "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	# Past its nextUpdate: no "good", but its revocations still count.
	"${C[@]}" --number 12 --this-update -10 --next-update -2 > stale.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl stale.crl --revocation require "$F/dev.pem"
	assert_failure 1
	assert_output --regexp "^$F/dev.pem: fail revocation-unknown: nothing says whether it is revoked: CRL 'stale.crl' of '$FACTORY' is out of date since [0-9T:Z-]+\$"
	"${C[@]}" --number 12 --this-update -10 --next-update -2 --revoke "$sn:1" > stale2.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl stale2.crl "$F/dev.pem"
	assert_failure 1
	assert_output --partial "fail revoked: "
	# A file of two CRLs (PEM), a DER CRL.
	cat full.crl delta.crl > both.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl both.crl "$F/dev.pem"
	assert_failure 1
	assert_output --partial "by delta CRL 11 of '$FACTORY' ('both.crl#2')"
	openssl crl -in "$F/factory.crl" -outform DER -out f.der
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl f.der "$F/dev3.pem"
	assert_failure 1
	assert_output --partial "fail revoked: "
}

@test "CRLs that cannot be used: exit 3, one line" {
	echo garbage > garbage.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl garbage.crl "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot use the CRL: 'garbage.crl': no CRL (no '-----BEGIN X509 CRL-----' line)"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl nope.crl "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot use the CRL: cannot open 'nope.crl': No such file or directory"
	"${MKCRL[@]}" --issuer-cert "$F/factory/ca.crt" --key "$F/factory/ca.key" --idp > idp.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl idp.crl "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot use the CRL: 'idp.crl': CRL 1: a CRL with an issuingDistributionPoint (a partial CRL) is not supported"
	head -c 200 "$F/factory.crl" > cut.crl
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl cut.crl "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot use the CRL: 'cut.crl': CRL 1: the block begun on line 1 is cut short (no END line)"
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/dev.pem" "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot use the CRL: '$F/dev.pem': no CRL (no '-----BEGIN X509 CRL-----' line)"
}

@test "OCSP: good, revoked, about another certificate, out of date" {
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response "$F/dev.resp" \
		--revocation require "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response "$F/dev3.resp" "$F/dev3.pem"
	assert_failure 1
	assert_output --regexp "^$F/dev3.pem: fail revoked: revoked at [0-9T:Z-]+ \\(keyCompromise\\), by OCSP response '$F/dev3.resp'\$"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response "$F/dev3.resp" \
		--revocation require "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail revocation-unknown: nothing says whether it is revoked: OCSP response '$F/dev3.resp' is about another certificate"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response "$F/dev.resp" \
		--ocsp-response "$F/dev3.resp" --revocation require "$F/dev2.pem"
	assert_failure 1
	assert_output "$F/dev2.pem: fail revocation-unknown: nothing says whether it is revoked: no OCSP response is about it"
	# m2m-ca's responses are valid for a day.
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response "$F/dev.resp" \
		--revocation require --at "$(date -u -d '+3 days' +%Y-%m-%d)" "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail revocation-unknown: nothing says whether it is revoked: OCSP response '$F/dev.resp' is out of date"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response "$F/dev.resp" \
		--json "$F/dev.pem"
	assert_equal "$(json_field revocation status <<<"$output")" good
	assert_equal "$(json_field revocation source <<<"$output")" "OCSP response '$F/dev.resp'"
}

@test "OCSP responders: a delegated one may sign, another CA's and one without OCSPSigning may not" {
	local sn
	sn=$(serial_of "$F/dev.pem")
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out r.key 2> /dev/null
	"${MKCERT[@]}" --issuer-cert "$F/factory/ca.crt" --issuer-key "$F/factory/ca.key" \
		--key r.key --subject CN=Responder --no-serial-number --no-san \
		--eku OCSPSigning --not-after 30 > responder.pem
	"${MKCERT[@]}" --issuer-cert "$F/factory/ca.crt" --issuer-key "$F/factory/ca.key" \
		--key r.key --subject CN=Client --no-serial-number --no-san \
		--eku clientAuth --not-after 30 > client.pem
	printf 'V\t991231235959Z\t\t%s\tunknown\t/CN=x\n' "${sn^^}" > index.txt
	ocsp() {
		openssl ocsp -index index.txt -CA "$F/factory/ca.crt" -rsigner "$1" \
			-rkey "$2" -reqin "$F/dev.req" -respout "$3" -ndays 1 > /dev/null 2>&1
	}
	ocsp responder.pem r.key deleg.resp
	ocsp "$F/other/ca.crt" "$F/other/ca.key" other.resp
	ocsp client.pem r.key client.resp
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response deleg.resp \
		--revocation require "$F/dev.pem"
	assert_ok "$F/dev.pem: ok"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response other.resp "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail ocsp: OCSP response 'other.resp' does not verify: it is signed by a certificate the issuer did not issue"
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response client.resp "$F/dev.pem"
	assert_failure 1
	assert_output "$F/dev.pem: fail ocsp: OCSP response 'client.resp' does not verify: its signer is not authorised for OCSP (no id-kp-OCSPSigning)"
}

@test "OCSP responses that cannot be used: exit 3, one line" {
	printf '\x30\x03\x0a\x01\x06' > unauth.resp
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response unauth.resp "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot use the OCSP response: 'unauth.resp' is not successful: the responder said unauthorized"
	echo garbage > garbage.resp
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response garbage.resp "$F/dev.pem"
	assert_error_prefix 3 "m2m-verify: cannot use the OCSP response: 'garbage.resp' is not a DER OCSP response: "
	run --separate-stderr m2m-verify "${TRUST[@]}" --ocsp-response nope.resp "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot use the OCSP response: cannot open 'nope.resp': No such file or directory"
}

# ---- many certificates ------------------------------------------------------------------

@test "a bundle, files and a directory: one line each, FILE#N, a summary; exit 1 if one fails" {
	mkdir certs
	cp "$F/dev.pem" certs/a.pem
	cp "$F/dev2.pem" certs/b.pem
	touch certs/.hidden
	mkdir certs/sub
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/factory.crl" \
		"$F/bundle.pem" certs
	assert_failure 1
	assert_stderr ''
	assert_equal "${lines[0]}" "$F/bundle.pem: ok"
	assert_equal "${lines[1]}" "$F/bundle.pem#2: ok"
	assert_regex "${lines[2]}" "^$F/bundle.pem#3: fail revoked: "
	assert_equal "${lines[3]}" "certs/a.pem: ok"
	assert_equal "${lines[4]}" "certs/b.pem: ok"
	assert_equal "${lines[5]}" "5 certificates: 4 ok, 1 failed"
	assert_equal "${#lines[@]}" 6
	run --separate-stderr m2m-verify "${TRUST[@]}" --json "$F/bundle.pem"
	assert_success
	json_lines <<<"$output"
	assert_equal "${#lines[@]}" 4
	assert_equal "$(json_field index <<<"${lines[2]}")" 3
	assert_equal "${lines[3]}" '{"summary":{"certificates":3,"ok":3,"failed":0,"unreadable":0}}'
}

@test "an unreadable input among many is reported and counted; the rest are verified; exit 3" {
	echo garbage > garbage.pem
	head -c 300 "$F/dev.pem" > cut.pem
	openssl x509 -in "$F/dev.pem" -outform DER | head -c 300 > cut.der
	openssl req -in "$F/dev.csr" -outform DER -out csr.der
	cp "$F/dev.key" key.pem
	: > empty.pem
	mkdir emptydir
	run --separate-stderr m2m-verify "${TRUST[@]}" garbage.pem "$F/dev.pem" \
		cut.pem cut.der csr.der key.pem empty.pem nope.pem emptydir "$F/dev2.pem"
	assert_failure 3
	assert_equal "${lines[0]}" "$F/dev.pem: ok"
	assert_equal "${lines[1]}" "$F/dev2.pem: ok"
	assert_equal "${lines[2]}" "2 certificates: 2 ok, 0 failed, 8 unreadable"
	assert_equal "${#stderr_lines[@]}" 8
	assert_equal "${stderr_lines[0]}" "m2m-verify: 'garbage.pem': no certificate (no '-----BEGIN CERTIFICATE-----' line)"
	assert_equal "${stderr_lines[1]}" "m2m-verify: 'cut.pem': certificate 1: the block begun on line 1 is cut short (no END line)"
	assert_regex "${stderr_lines[2]}" "^m2m-verify: 'cut.der': certificate 1: cut short after 300 of [0-9]+ bytes\$"
	assert_regex "${stderr_lines[3]}" "^m2m-verify: 'csr.der': not a valid certificate: "
	assert_equal "${stderr_lines[4]}" "m2m-verify: 'key.pem': no certificate (no '-----BEGIN CERTIFICATE-----' line)"
	assert_equal "${stderr_lines[5]}" "m2m-verify: 'empty.pem': no certificate (no '-----BEGIN CERTIFICATE-----' line)"
	assert_equal "${stderr_lines[6]}" "m2m-verify: cannot open 'nope.pem': No such file or directory"
	assert_equal "${stderr_lines[7]}" "m2m-verify: 'emptydir' holds no certificate file"
	# A verdict of "does not verify" among them does not change the status.
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" garbage.pem "$F/dev.pem"
	assert_failure 3
}

@test "oversized input: a certificate over 64 KiB, a line over 16 KiB" {
	{
		echo '-----BEGIN CERTIFICATE-----'
		head -c 70000 /dev/zero | base64 -w 64
		echo '-----END CERTIFICATE-----'
	} > big.pem
	run --separate-stderr m2m-verify "${TRUST[@]}" big.pem
	assert_failure 3
	assert_output '0 certificates: 0 ok, 0 failed, 1 unreadable'
	assert_stderr "m2m-verify: 'big.pem': certificate 1: larger than 65536 bytes"
	{
		echo '-----BEGIN CERTIFICATE-----'
		head -c 20000 /dev/zero | base64 -w 0
		echo
		echo '-----END CERTIFICATE-----'
	} > long.pem
	run --separate-stderr m2m-verify "${TRUST[@]}" long.pem
	assert_failure 3
	assert_stderr "m2m-verify: 'long.pem': certificate 1: line 2 is longer than 16384 bytes"
}

@test "--jobs 2 gives the same lines in the same order as one thread" {
	for i in 1 2 3 4 5 6 7 8; do cat "$F/bundle.pem"; done > many.pem
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/factory.crl" --json many.pem
	assert_failure 1
	local one=$output
	run --separate-stderr m2m-verify "${TRUST[@]}" --crl "$F/factory.crl" --json --jobs 2 many.pem
	assert_failure 1
	assert_equal "$output" "$one"
	assert_equal "${#lines[@]}" 25
	assert_equal "${lines[24]}" '{"summary":{"certificates":24,"ok":16,"failed":8,"unreadable":0}}'
	run --separate-stderr m2m-verify "${TRUST[@]}" -j 3 many.pem
	assert_equal "${lines[23]}" "many.pem#24: ok"
}

@test "a batch of 2,000 certificates runs in constant memory" {
	mkdir csr out
	"$BUILD/bench/gen_csrs" 2000 csr
	m2m-ca init ca --parent "$F/root" --hw-type "$HW" --device-subject O=Example > /dev/null
	m2m-ca issue --ca ca --batch csr/manifest.csv --out-dir out > /dev/null
	cat out/*.pem > 2k.pem
	for i in 1 2 3 4 5; do cat 2k.pem; done > 10k.pem
	# Under AddressSanitizer, freed memory is held in quarantine: none.
	rss() {
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
			/usr/bin/time -f %M m2m-verify --trust "$F/root/ca.crt" \
			--untrusted ca/ca.crt "$1" 2>&1 > /dev/null | tail -n 1
	}
	local small big
	small=$(rss 2k.pem)
	big=$(rss 10k.pem)
	# Five times the certificates, not five times the memory: within 2 MiB.
	[ "$big" -lt $((small + 2048)) ] || fail "2,000: $small KiB, 10,000: $big KiB"
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --untrusted ca/ca.crt 10k.pem
	assert_success
	assert_equal "${lines[10000]}" "10000 certificates: 10000 ok, 0 failed"
}

@test "--from-ledger: every certificate of a CA's ledger, in order of issuance" {
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --from-ledger "$F/factory" \
		--crl "$F/factory.crl"
	assert_failure 1
	assert_stderr ''
	assert_equal "${lines[0]}" "ledger:$F/factory#1: ok"
	assert_equal "${lines[1]}" "ledger:$F/factory#2: ok"
	assert_regex "${lines[2]}" "^ledger:$F/factory#3: fail revoked: "
	assert_equal "${lines[3]}" "3 certificates: 2 ok, 1 failed"
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --from-ledger "$F/factory" \
		--json
	assert_success
	assert_equal "$(json_field source <<<"${lines[0]}")" "ledger:$F/factory"
	assert_equal "$(json_field serial <<<"${lines[1]}")" "$(serial_of "$F/dev2.pem")"
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --from-ledger nowhere
	assert_error 3 "m2m-verify: cannot open the CA: 'nowhere' is not a CA directory (no ca.conf)"
}

@test "trust anchors and intermediates that cannot be read: exit 3" {
	echo garbage > garbage.pem
	run --separate-stderr m2m-verify --trust garbage.pem "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot read the trust anchors: 'garbage.pem': no certificate (no '-----BEGIN CERTIFICATE-----' line)"
	run --separate-stderr m2m-verify --trust nope.pem "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot read the trust anchors: cannot open 'nope.pem': No such file or directory"
	run --separate-stderr m2m-verify --trust "$F/root/ca.crt" --untrusted garbage.pem "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot read the intermediate certificates: 'garbage.pem': no certificate (no '-----BEGIN CERTIFICATE-----' line)"
	mkdir anchors
	cp garbage.pem anchors/
	run --separate-stderr m2m-verify --trust anchors "$F/dev.pem"
	assert_error 3 "m2m-verify: cannot read the trust anchors: 'anchors/garbage.pem': no certificate (no '-----BEGIN CERTIFICATE-----' line)"
	mkdir none
	run --separate-stderr m2m-verify --trust none "$F/dev.pem"
	assert_error 3 "m2m-verify: no trust anchor in none"
}

# ---- lint ----------------------------------------------------------------------------------

@test "lint: m2m-ca's IDevIDs and CAs have no error, warning or notice" {
	run --separate-stderr m2m-verify lint "$F/dev.pem" "$F/dev2.pem" \
		"$F/root/ca.crt" "$F/factory/ca.crt"
	assert_success
	assert_stderr ''
	assert_output - <<-EOF
	$F/dev.pem: idevid: 0 errors, 0 warnings, 0 notices
	$F/dev2.pem: idevid: 0 errors, 0 warnings, 0 notices
	$F/root/ca.crt: ca: 0 errors, 0 warnings, 0 notices
	$F/factory/ca.crt: ca: 0 errors, 0 warnings, 0 notices
	4 certificates: 4 ok, 0 failed
	EOF
	# Other algorithms of CA and device: P-384, RSA-2048.
	m2m-ca init r384 --subject CN=R384 --algorithm ec-p384 > /dev/null
	m2m-ca init i384 --parent r384 --algorithm rsa2048 --hw-type "$HW" > /dev/null
	openssl req -new -newkey rsa:2048 -nodes -keyout k.pem -subj /CN=x -out r.csr 2> /dev/null
	m2m-ca issue --ca i384 --csr r.csr --nfc 04:A2:3B:1C:5D:6E:80 --out rsa.pem
	run --separate-stderr m2m-verify lint r384/ca.crt i384/ca.crt rsa.pem
	assert_success
	assert_line --index 0 'r384/ca.crt: ca: 0 errors, 0 warnings, 0 notices'
	assert_line --index 1 'i384/ca.crt: ca: 0 errors, 0 warnings, 0 notices'
	assert_line --index 2 'rsa.pem: idevid: 0 errors, 0 warnings, 0 notices'
	run --separate-stderr m2m-verify --trust r384/ca.crt --untrusted i384/ca.crt rsa.pem
	assert_ok 'rsa.pem: ok'
}

# lint_trips EXIT LINE MKCERT-OPTIONS...: a device certificate made with the
# options has exactly one finding, LINE, and lint exits with EXIT.
lint_trips() {
	local status=$1 line=$2
	shift 2
	mkdev m.pem "$@"
	run --separate-stderr m2m-verify lint m.pem
	assert_failure_or "$status"
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[1]}" "  $line"
	assert_stderr ''
}

# assert_failure_or STATUS: the status is STATUS (0 included).
assert_failure_or() {
	if [ "$1" = 0 ]; then assert_success; else assert_failure "$1"; fi
}

@test "lint: each hand-made DevID trips exactly the rule it breaks" {
	lint_trips 1 'error cert-version-3: the certificate is version 2' --version 2
	lint_trips 1 'error serial-positive: the serial number is negative' --serial ff01020304050607
	lint_trips 1 'error serial-positive: the serial number is 0' --serial 00
	lint_trips 1 'error serial-max-20-octets: the serial number is 21 octets' \
		--serial 0102030405060708090a0b0c0d0e0f101112131415
	lint_trips 0 'warning serial-min-64-bits: the serial number is 4 octets' --serial 01020304
	lint_trips 1 "error sig-alg-match: the TBSCertificate's signature differs from signatureAlgorithm" \
		--tbs-sig-alg 1.2.840.10045.4.3.3
	lint_trips 1 'error ecdsa-params-absent: ecdsa-with-SHA256 has 2 octets of parameters' \
		--sig-params-null
	lint_trips 1 'error validity-time-encoding: notBefore 20260101000000Z is GeneralizedTime before 2050' \
		--not-before gen:20260101000000Z
	lint_trips 1 "error validity-time-format: notBefore is UTCTime '2601010000Z'" \
		--not-before utc:2601010000Z
	lint_trips 1 'error unique-ids-absent: the certificate has a unique identifier' --unique-id
	lint_trips 1 'error ext-unique: extension 2.5.29.15 appears twice' --dup-ku
	lint_trips 1 'error aki-present: there is no authorityKeyIdentifier' --no-aki
	lint_trips 1 'error aki-not-critical: authorityKeyIdentifier is critical' --aki-critical
	lint_trips 1 'error ku-critical: keyUsage is not critical' --ku-noncritical
	lint_trips 1 'error san-not-critical: subjectAltName is critical and the subject is not empty' \
		--san-critical
	lint_trips 1 'error subject-serial-number: serialNumber is UTF8STRING of 4 octets' \
		--serial-number-utf8
	lint_trips 1 'error subject-serial-number: serialNumber is a PrintableString of 65 octets' \
		--serial-number "$(repeat A 65)"
	lint_trips 1 'error subject-serial-number: serialNumber is a PrintableString of 4 octets' \
		--serial-number 'SN_1'
	lint_trips 0 'warning devid-bc-absent: basicConstraints is present' --bc noca
	lint_trips 1 'error devid-key-usage: keyUsage is digitalSignature keyCertSign' \
		--ku digitalSignature,keyCertSign
	lint_trips 1 'error devid-key-usage: keyUsage is keyEncipherment' --ku keyEncipherment
	lint_trips 0 'warning devid-key-usage-bits: keyUsage is digitalSignature nonRepudiation' \
		--ku digitalSignature,nonRepudiation
	lint_trips 0 'notice devid-key-usage-absent: there is no keyUsage' --no-ku
	lint_trips 0 'warning devid-ski-absent: there is a subjectKeyIdentifier' --ski
	lint_trips 1 'error devid-san-present: there is no subjectAltName' --no-san
	lint_trips 1 'error devid-hwmodule: subjectAltName holds no HardwareModuleName' \
		--san-dns dev.example.com
	lint_trips 1 'error devid-hwmodule-der: its value is not a SEQUENCE' --hwmodule-hex 0403010203
	lint_trips 1 'error devid-hwmodule-der: HardwareModuleName has no hwSerialNum OCTET STRING' \
		--hwmodule-hex 3005060300000a
	lint_trips 0 'warning devid-hwmodule-single: subjectAltName holds 2 HardwareModuleNames' \
		--two-hwmodules
	lint_trips 1 'error devid-ppid: hwSerialNum 01001a7dda71 is not a valid PPID: byte 1: bluetooth address is truncated (5 of 6 bytes)' \
		--ppid 01001a7dda71
	lint_trips 1 'error devid-serial-number: the subject has no serialNumber' --no-serial-number
	lint_trips 1 'error devid-serial-number-single: the subject has 2 serialNumber attributes' \
		--serial-number A --serial-number B
	lint_trips 0 'notice idevid-not-after: notAfter is not 99991231235959Z' --not-after 365
	lint_trips 1 "error masa-url: id-pe-masa-url 'http://masa.example' is not an https URL" \
		--masa http://masa.example
	lint_trips 1 'error masa-url: id-pe-masa-url is not an IA5String' --masa-utf8 https://masa.example
	# RSA-1024 and Ed25519 keys for an IDevID.
	openssl genrsa -out rsa1024.key 1024 2> /dev/null
	openssl genpkey -algorithm ed25519 -out ed.key
	"${MKCERT[@]}" --issuer-cert "$F/factory/ca.crt" --issuer-key "$F/factory/ca.key" \
		--key rsa1024.key > weak.pem
	run --separate-stderr m2m-verify lint weak.pem
	assert_failure 1
	assert_output - <<-EOF
	weak.pem: idevid: 1 error, 0 warnings, 0 notices
	  error subject-key-suite: an RSA key of 1024 bits
	EOF
	"${MKCERT[@]}" --issuer-cert "$F/factory/ca.crt" --issuer-key "$F/factory/ca.key" \
		--key ed.key > ed.pem
	run --separate-stderr m2m-verify lint ed.pem
	assert_failure 1
	assert_line --index 1 '  error subject-key-suite: an Ed25519 key'
	run --separate-stderr m2m-verify lint --profile ldevid ed.pem
	assert_failure_or 0
	assert_output - <<-EOF
	ed.pem: ldevid: 0 errors, 0 warnings, 2 notices
	  notice ldevid-eku: there is no extendedKeyUsage
	  notice ldevid-lifetime: notAfter is 99991231235959Z
	EOF
}

@test "lint: CA rules, each on a CA certificate made to break it" {
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2> /dev/null
	ca() {
		"${MKCERT[@]}" --issuer-cert "$F/root/ca.crt" --issuer-key "$F/root/ca.key" \
			--key ca.key --subject 'CN=Test CA' --no-serial-number --no-san \
			--not-after 365 "$@" > c.pem
		run --separate-stderr m2m-verify lint --profile ca c.pem
	}
	ca --bc ca:0 --ku keyCertSign,cRLSign --ski
	assert_success
	assert_output 'c.pem: ca: 0 errors, 0 warnings, 0 notices'
	ca --bc ca:0 --ku keyCertSign,cRLSign --ski --bc-noncritical
	assert_failure 1
	assert_line --index 1 '  error ca-basic-constraints: basicConstraints is not critical'
	assert_equal "${#lines[@]}" 2
	ca --ku keyCertSign,cRLSign --ski
	assert_line --index 1 '  error ca-basic-constraints: there is no basicConstraints'
	assert_equal "${#lines[@]}" 2
	ca --bc ca:0 --ku keyCertSign --ski
	assert_line --index 1 '  error ca-key-usage: keyUsage is keyCertSign'
	assert_equal "${#lines[@]}" 2
	ca --bc ca:0 --ku keyCertSign,cRLSign
	assert_line --index 1 '  error ca-ski-present: there is no subjectKeyIdentifier'
	assert_equal "${#lines[@]}" 2
	ca --bc ca:0 --ku keyCertSign,cRLSign --ski-critical
	assert_line --index 1 '  error ski-not-critical: subjectKeyIdentifier is critical'
	assert_equal "${#lines[@]}" 2
	ca --bc ca:1 --ku keyCertSign,cRLSign --ski
	assert_success
	assert_line --index 1 '  notice ca-path-len-zero: pathLenConstraint is 1'
	assert_equal "${#lines[@]}" 2
	# An empty subject: with a critical subjectAltName only the CA rule.
	"${MKCERT[@]}" --issuer-cert "$F/root/ca.crt" --issuer-key "$F/root/ca.key" \
		--key ca.key --subject '' --no-serial-number --not-after 365 \
		--bc ca:0 --ku keyCertSign,cRLSign --ski --san-dns ca.example \
		--san-critical > c.pem
	run --separate-stderr m2m-verify lint --profile ca c.pem
	assert_failure 1
	assert_line --index 1 '  error ca-subject-not-empty: the subject is empty'
	assert_equal "${#lines[@]}" 2
	"${MKCERT[@]}" --issuer-cert "$F/root/ca.crt" --issuer-key "$F/root/ca.key" \
		--key ca.key --subject '' --no-serial-number --not-after 365 \
		--bc ca:0 --ku keyCertSign,cRLSign --ski --san-dns ca.example > c.pem
	run --separate-stderr m2m-verify lint --profile ca c.pem
	assert_line --index 1 '  error san-empty-subject: the subject is empty and subjectAltName is not critical'
	assert_line --index 2 '  error ca-subject-not-empty: the subject is empty'
	# A self-signed root needs no AKI; an Ed25519 root is allowed.
	openssl genpkey -algorithm ed25519 -out ed.key
	"${MKCERT[@]}" --self-signed --key ed.key --subject CN=Ed --no-serial-number --no-san \
		--bc ca --ku keyCertSign,cRLSign --ski --no-aki --not-after 365 > ed.pem
	run --separate-stderr m2m-verify lint ed.pem
	assert_ok 'ed.pem: ca: 0 errors, 0 warnings, 0 notices'
}

@test "lint: JSON, --list, and the rules in the man page" {
	run --separate-stderr m2m-verify lint --json "$F/dev.pem"
	assert_success
	assert_equal "$(json_field profile <<<"$output")" idevid
	assert_equal "$(json_field errors <<<"$output")" 0
	assert_equal "$(json_field ppid ppid <<<"$output")" "$V1"
	run --separate-stderr m2m-verify lint --list
	assert_success
	assert_line --index 0 'cert-der error idevid,ldevid,ca: the certificate is DER: definite, minimal lengths and nothing after it (RFC 5280 4.1)'
	assert_line 'devid-ski-absent warning idevid,ldevid: there is no subjectKeyIdentifier (not recommended in DevIDs; a profile option adds it) (802.1AR)'
	local n id man
	n=${#lines[@]}
	[ "$n" -ge 40 ] || fail "only $n rules"
	run --separate-stderr m2m-verify lint --list --json
	assert_success
	json_lines <<<"$output"
	assert_equal "${#lines[@]}" "$n"
	# Every rule is described in the man page's LINT RULES.
	man=$(mandoc -Tascii -Owidth=400 "$ROOT/man/m2m-verify.1" | col -b |
		awk '/^[^ \t]/ { on = ($0 == "LINT RULES"); next } on')
	for id in $(m2m-verify lint --list | cut -d' ' -f1); do
		grep -qE "^ +$id\$" <<<"$man" || fail "LINT RULES of m2m-verify.1 lacks $id"
	done
}

@test "lint: unreadable input is exit 3, with the others linted" {
	echo garbage > garbage.pem
	run --separate-stderr m2m-verify lint garbage.pem "$F/dev.pem"
	assert_failure 3
	assert_output - <<-EOF
	$F/dev.pem: idevid: 0 errors, 0 warnings, 0 notices
	1 certificate: 1 ok, 0 failed, 1 unreadable
	EOF
	assert_stderr "m2m-verify: 'garbage.pem': no certificate (no '-----BEGIN CERTIFICATE-----' line)"
}

# ---- device (file keys) -----------------------------------------------------------------------

@test "device: the key signs a fresh nonce its certificate verifies, then the chain" {
	run --separate-stderr m2m-verify device --key "$F/dev.key" --cert "$F/dev.pem" \
		"${TRUST[@]}"
	assert_success
	assert_stderr ''
	assert_output --regexp "^$F/dev.pem: ok \\(the key '$F/dev.key' signed nonce [0-9a-f]{64}\\)\$"
	local first=$output
	run --separate-stderr m2m-verify device --key "file:$F/dev.key" --cert "$F/dev.pem" \
		"${TRUST[@]}"
	assert_success
	[ "${output##* nonce }" != "${first##* nonce }" ] || fail "the nonce was not fresh"
	# The chain stored with the certificate serves as intermediates.
	run --separate-stderr m2m-verify device --key "$F/dev2.key" \
		--cert "$F/dev2-chain.pem" --trust "$F/root/ca.crt" --json
	assert_success
	assert_equal "$(json_field possession <<<"$output")" true
	assert_equal "$(json_field verdict <<<"$output")" ok
	assert_equal "$(json_field key <<<"$output")" "$F/dev2.key"
	assert_regex "$(json_field nonce <<<"$output")" '^[0-9a-f]{64}$'
}

@test "device: another key fails 'possession'; a revoked device fails after it" {
	run --separate-stderr m2m-verify device --key "$F/dev2.key" --cert "$F/dev.pem" \
		"${TRUST[@]}"
	assert_failure 1
	assert_output "$F/dev.pem: fail possession: the nonce signed by '$F/dev2.key' does not verify with the certificate's public key: the key is not the certificate's"
	assert_stderr ''
	run --separate-stderr m2m-verify device --key "$F/dev3.key" --cert "$F/dev3.pem" \
		"${TRUST[@]}" --crl "$F/factory.crl"
	assert_failure 1
	assert_output --partial "$F/dev3.pem: fail revoked: "
	run --separate-stderr m2m-verify device --key nope.key --cert "$F/dev.pem" "${TRUST[@]}"
	assert_error_prefix 3 "m2m-verify: cannot use the key 'nope.key': "
	run --separate-stderr m2m-verify device --key "$F/dev.key" --cert nope.pem "${TRUST[@]}"
	assert_error_prefix 3 "m2m-verify: cannot read the certificate 'nope.pem': "
}

# ---- ledger --------------------------------------------------------------------------------

# tampered NAME SQL: a copy of the factory CA in NAME, its ledger changed by
# SQL behind the tool's back.
tampered() {
	cp -a "$F/factory" "$1"
	sqlite3 "$1/ledger.db" "$2"
}

@test "ledger: an intact ledger is consistent, exit 0" {
	run --separate-stderr m2m-verify ledger "$F/factory"
	assert_ok "$F/factory: ok (3 certificates, 1 revoked, 2 CRLs, audit log of 7 entries)"
	run --separate-stderr m2m-verify ledger "$F/other"
	assert_ok "$F/other: ok (0 certificates, 0 revoked, 1 CRL, audit log of 2 entries)"
	run --separate-stderr m2m-verify ledger --json "$F/factory"
	assert_ok "{\"source\":\"$F/factory\",\"verdict\":\"ok\",\"reason\":null,\"audit_entries\":7,\"certificates\":3,\"revoked\":1,\"crls\":2}"
	run --separate-stderr m2m-verify ledger --ledger "$F/factory/ledger.db" "$F/factory"
	assert_success
	run --separate-stderr m2m-verify ledger nowhere
	assert_error 3 "m2m-verify: cannot open the CA: 'nowhere' is not a CA directory (no ca.conf)"
}

@test "ledger: a change behind the tool's back is found, exactly" {
	local s1 s2 s3
	s1=$(serial_of "$F/dev.pem")
	s2=$(serial_of "$F/dev2.pem")
	s3=$(serial_of "$F/dev3.pem")
	tampered t1 "UPDATE certs SET subject = 'serialNumber=SN-9,OU=Devices,O=Example' WHERE serial = '$s2'"
	run --separate-stderr m2m-verify ledger t1
	assert_failure 1
	assert_output "t1: fail ledger: certificate 2 (serial $s2): the subject recorded is 'serialNumber=SN-9,OU=Devices,O=Example', the certificate's is 'serialNumber=SN-2,OU=Devices,O=Example'"
	assert_stderr ''
	tampered t2 "UPDATE certs SET ppid = x'01001a7dda7114' WHERE serial = '$s1'"
	run --separate-stderr m2m-verify ledger t2
	assert_failure 1
	assert_output "t2: fail ledger: certificate 1 (serial $s1): the PPID recorded is 01001a7dda7114, the certificate's is $V1"
	tampered t3 "UPDATE certs SET not_after = not_after - 1 WHERE serial = '$s1'"
	run --separate-stderr m2m-verify ledger t3
	assert_failure 1
	assert_output --regexp "^t3: fail ledger: certificate 1 \\(serial $s1\\): the validity recorded is [0-9]+\\.\\.253402300798, the certificate's is [0-9]+\\.\\.253402300799\$"
	tampered t4 "UPDATE certs SET der = (SELECT der FROM certs WHERE serial = '$s2') WHERE serial = '$s1'"
	run --separate-stderr m2m-verify ledger t4
	assert_failure 1
	assert_output "t4: fail ledger: certificate 1 (serial $s1): the serial recorded is $s1, the certificate's is $s2"
	tampered t5 "UPDATE certs SET der = x'3003020101' WHERE serial = '$s2'"
	run --separate-stderr m2m-verify ledger t5
	assert_failure 1
	assert_output "t5: fail ledger: certificate 2 (serial $s2): its DER is not a certificate"
	tampered t6 "UPDATE certs SET profile = 'nope' WHERE serial = '$s2'"
	run --separate-stderr m2m-verify ledger t6
	assert_failure 1
	assert_output "t6: fail ledger: certificate 2 (serial $s2): its profile 'nope' is not one of the CA's"
	tampered t7 "UPDATE certs SET device_serial = 'SN-7' WHERE serial = '$s2'"
	run --separate-stderr m2m-verify ledger t7
	assert_failure 1
	assert_output "t7: fail ledger: certificate 2 (serial $s2): the device serial recorded is 'SN-7', the certificate's serialNumber is 'SN-2'"
}

@test "ledger: the audit log, revocations, uniqueness and CRLs, each found" {
	local s1 s2 s3
	s1=$(serial_of "$F/dev.pem")
	s2=$(serial_of "$F/dev2.pem")
	s3=$(serial_of "$F/dev3.pem")
	tampered a1 "UPDATE audit SET detail = '{}' WHERE seq = 3"
	run --separate-stderr m2m-verify ledger a1
	assert_failure 1
	assert_output "a1: fail ledger: audit log: entry 3: hash does not match its contents"
	tampered a2 "DELETE FROM certs WHERE serial = '$s2'"
	run --separate-stderr m2m-verify ledger a2
	assert_failure 1
	assert_output "a2: fail ledger: audit entry 3 (issue): serial $s2 is not in the ledger"
	tampered a3 "UPDATE certs SET status = 0, revoked_at = NULL, reason = NULL WHERE serial = '$s3'"
	run --separate-stderr m2m-verify ledger a3
	assert_failure 1
	assert_output "a3: fail ledger: CRL 2: it lists serial $s3, which the ledger does not record as revoked"
	tampered a4 "UPDATE certs SET status = 0, revoked_at = NULL, reason = NULL WHERE serial = '$s3'; DELETE FROM crls"
	run --separate-stderr m2m-verify ledger a4
	assert_failure 1
	assert_output "a4: fail ledger: audit entry 6 (revoke): certificate $s3 is not revoked in the ledger"
	tampered a5 "UPDATE certs SET reason = 4 WHERE serial = '$s3'"
	run --separate-stderr m2m-verify ledger a5
	assert_failure 1
	assert_output --regexp "^a5: fail ledger: CRL 2: it gives serial $s3 the revocation time [0-9]+ and reason 1, the ledger [0-9]+ and 4\$"
	tampered a6 "UPDATE certs SET revoked_at = NULL WHERE serial = '$s3'"
	run --separate-stderr m2m-verify ledger a6
	assert_failure 1
	assert_output "a6: fail ledger: certificate 3 (serial $s3): it is revoked without a revocation time and a valid reason"
	tampered a7 "UPDATE crls SET der = x'3003020101' WHERE number = 2"
	run --separate-stderr m2m-verify ledger a7
	assert_failure 1
	assert_output "a7: fail ledger: CRL 2: its DER is not a CRL"
	tampered a8 "UPDATE crls SET this_update = this_update + 1 WHERE number = 1"
	run --separate-stderr m2m-verify ledger a8
	assert_failure 1
	assert_output --regexp "^a8: fail ledger: CRL 1: its thisUpdate is [0-9]+, the ledger records [0-9]+\$"
	tampered a9 "UPDATE crls SET der = (SELECT der FROM crls WHERE number = 1) WHERE number = 2"
	run --separate-stderr m2m-verify ledger a9
	assert_failure 1
	assert_output "a9: fail ledger: CRL 2: its cRLNumber is not 2"
	# A second valid IDevID for a PPID, the index that forbids it dropped.
	tampered a10 "DROP INDEX certs_one_valid; UPDATE certs SET ppid = (SELECT ppid FROM certs WHERE serial = '$s1') WHERE serial = '$s2'"
	run --separate-stderr m2m-verify ledger a10
	assert_failure 1
	assert_output "a10: fail ledger: certificate 2 (serial $s2): the PPID recorded is $V1, the certificate's is 023c71bf4a0b2e"
}

@test "ledger: a superseded certificate made valid again breaks PPID uniqueness" {
	m2m-ca init ca --parent "$F/root" --hw-type "$HW" --device-subject O=Example > /dev/null
	m2m-ca issue --ca ca --csr "$F/dev.csr" --bluetooth 00:1A:7D:DA:71:13 --out a.pem
	m2m-ca issue --ca ca --csr "$F/dev4.csr" --bluetooth 00:1A:7D:DA:71:13 --replace --out b.pem
	run --separate-stderr m2m-verify ledger ca
	assert_ok "ca: ok (2 certificates, 1 revoked, 0 CRLs, audit log of 4 entries)"
	sqlite3 ca/ledger.db "DROP INDEX certs_one_valid; DROP INDEX certs_one_valid_device; UPDATE certs SET status = 0, revoked_at = NULL, reason = NULL WHERE id = 1"
	run --separate-stderr m2m-verify ledger ca
	assert_failure 1
	assert_output "ca: fail ledger: certificate 2 (serial $(serial_of b.pem)): its PPID already has a valid idevid certificate: certificate 1"
}
