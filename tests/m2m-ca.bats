#!/usr/bin/env bats
# m2m-ca: CA hierarchies, IDevID issuance (one, generated keys, batches),
# uniqueness, crash safety and concurrency of batches, revocation, CRLs,
# OCSP, the ledger's listings and its audit log.  Every test runs the real
# binary and asserts its exact exit status, stdout and stderr; the
# certificates it makes are judged by openssl (shared/spec/profiles.md).
#
# setup_file makes one hierarchy (root, factory) and a few requests in
# $BATS_FILE_TMPDIR; tests that change a CA's state make their own issuing
# CA under that root (new_ca).

# stderr and stderr_lines are set by run --separate-stderr; each test is a
# subshell, so the variables it exports stay its own.
# shellcheck disable=SC2154,SC2030,SC2031

load 'helpers/common'
load 'helpers/postgres'

# Every test runs on both ledgers: tests/m2m-ca-postgresql.bats is this
# file (a symbolic link), and run as that, every CA the tests make without
# --ledger keeps its ledger in a schema of its own on a throwaway
# PostgreSQL cluster (see pg_m2m_ca below).  A test that looks at the ledger
# itself asks ledger_of and ledger_sql.
LEDGER=sqlite
case $BATS_TEST_FILENAME in
*-postgresql.bats)
	LEDGER=postgresql
	BATS_TEST_NAME_PREFIX='[postgresql] '
	;;
esac

# The idevid profile's device model OID, and its DER (tag, length, value)
# in the upper-case hex openssl asn1parse prints.
HW=1.3.6.1.4.1.99999.1.1
HW_DER=060A2B06010401868D1F0101
DEVICE_SUBJECT='O=Example,OU=Devices'

# The spec's first and second known-answer PPIDs (identifier.md).
V1=01001a7dda7113
V2=0f001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2c3
V2_OPTS=(--bluetooth 00:1A:7D:DA:71:13 --wifi 3C:71:BF:4A:0B:2E
	--wmbus KAM:12345678:01:07 --zigbee 00:12:4B:00:1C:A1:B2:C3)

# A PKCS#11 module and a TPM that are not there, and no TCP port that
# something might listen on: tests/m2m-enroll-pkcs11.bats and
# tests/m2m-enroll-tpm2.bats make CAs with real ones.
NO_MODULE=module-path=/nonexistent/libnone.so
NO_TPM=swtpm:path=/nonexistent/sock

# subjectAltName of x.pem: GeneralNames { otherName HardwareModuleName
# 1.3.6.1.5.5.7.8.4 [0] { SEQUENCE { hwType, hwSerialNum OCTET STRING V1 } } }
SAN_V1=3025A02306082B06010505070804A0173015${HW_DER}0407${V1^^}

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	cd "$BATS_FILE_TMPDIR" || return 1
	if [ $LEDGER = postgresql ]; then
		# Without the server every test skips (in setup).
		pg_available || return 0
		pg_start || return 1
		pg_m2m_ca || return 1
		PATH=$BATS_FILE_TMPDIR/pgbin:$PATH
	fi
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > root.out
	m2m-ca init factory --parent root --hw-type "$HW" \
		--device-subject "$DEVICE_SUBJECT" > factory.out

	# Requests: P-256 (PEM and DER), P-384, RSA-2048; and ones the
	# idevid profile or the CA refuses.
	make_csr ec ec:P-256
	openssl req -in ec.csr -outform DER -out ec.der
	make_csr p384 ec:P-384
	make_csr rsa2048 rsa:2048
	make_csr rsa1024 rsa:1024
	make_csr ed25519 ed25519
	make_csr k1 ec:secp256k1
	make_csr dns ec:P-256 -addext subjectAltName=DNS:dev.example.com
	printf 'garbage\n' > garbage.csr
	: > empty.csr
	head -c 200 ec.csr > trunc.csr
	head -c 100 ec.der > trunc.der
	# The last octet of the DER is the last of the signature's s.
	python3 -c 'import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[-1] ^= 0x01
open(sys.argv[2], "wb").write(d)' ec.der badsig.der

	# One IDevID of the shared factory, judged by the profile tests.
	m2m-ca issue --ca factory --csr ec.csr --bluetooth 00:1A:7D:DA:71:13 \
		--serial SN-1 --out x.pem
}

teardown_file() {
	if [ $LEDGER = postgresql ]; then
		pg_stop
	fi
}

setup() {
	if [ $LEDGER = postgresql ] && [ -z "${M2M_PG_HOST-}" ]; then
		skip 'the PostgreSQL server is not installed (scripts/install-deps)'
	fi
	if [ $LEDGER = postgresql ]; then
		PATH=$BATS_FILE_TMPDIR/pgbin:$PATH
	fi
	F=$BATS_FILE_TMPDIR
	unset M2M_CA
	cd "$BATS_TEST_TMPDIR" || return 1
}

# On PostgreSQL, m2m-ca is a script first on PATH that gives 'm2m-ca init'
# without --ledger one: a schema of its own (caN) in the database m2m,
# made beforehand, many at once, for speed.  It execs the tool, so that a
# test's $! is the tool's own process.
PG_SCHEMAS=300
pg_m2m_ca() {
	local i sql=

	pg_newdb m2m || return 1
	for ((i = 1; i <= PG_SCHEMAS; i++)); do
		sql+="CREATE SCHEMA ca$i;"
	done
	pg_sql m2m "$sql" || return 1
	mkdir -p "$BATS_FILE_TMPDIR/pgbin" || return 1
	cat > "$BATS_FILE_TMPDIR/pgbin/m2m-ca" <<-EOF || return 1
	#!/bin/bash
	if [ "\${1-}" = init ]; then
		for a; do
			case \$a in --ledger | --ledger=*) exec "$BUILD/bin/m2m-ca" "\$@" ;; esac
		done
		exec 9>> "$BATS_FILE_TMPDIR/schemas"
		flock 9
		n=\$(( \$(wc -l < "$BATS_FILE_TMPDIR/schemas") + 1 ))
		echo "\$n" >&9
		exec 9>&-
		if [ "\$n" -gt $PG_SCHEMAS ]; then
			"$M2M_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA ca\$n" \\
				"host=$M2M_PG_HOST user=m2m dbname=m2m" || exit 99
		fi
		exec "$BUILD/bin/m2m-ca" "\$@" --ledger "$(pg_uri m2m)&options=-csearch_path%3Dca\$n"
	fi
	exec "$BUILD/bin/m2m-ca" "\$@"
	EOF
	chmod +x "$BATS_FILE_TMPDIR/pgbin/m2m-ca"
}

# ledger_of CA: the ledger location in CA's ca.conf.
ledger_of() {
	sed -n 's/^ledger = //p' "$1/ca.conf"
}

# ledger_loc CA: the location of CA's ledger as the tool names it (a
# relative path resolved against CA).
ledger_loc() {
	local loc
	loc=$(ledger_of "$1")
	case $loc in
	/* | *://*) printf '%s\n' "$loc" ;;
	*) printf '%s/%s\n' "$1" "$loc" ;;
	esac
}

# new_ledger NAME: a location where no ledger is yet, on the back-end the
# tests run on: NAME.db here, or a new database.
new_ledger() {
	if [ $LEDGER = postgresql ]; then
		pg_newdb "t${BATS_TEST_NUMBER}_$1" || return 1
		pg_uri "t${BATS_TEST_NUMBER}_$1"
	else
		printf '%s.db\n' "$1"
	fi
}

# ledger_sql CA SQL: run SQL in CA's ledger behind the tool's back; print
# how many rows it changed.
ledger_sql() {
	local loc
	loc=$(ledger_of "$1")
	case $loc in
	postgresql://*)
		"$M2M_PG_BIN/psql" -X -v ON_ERROR_STOP=1 -d "$loc" -c "$2" |
			awk '{ print $NF }'
		;;
	*)
		python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute(sys.argv[2]).rowcount)
db.commit()' "$1/$loc" "$2"
		;;
	esac
}

# ---- helpers -----------------------------------------------------------------

# make_csr NAME KEYSPEC [openssl req options]: NAME.key and NAME.csr, with
# KEYSPEC ec:CURVE, rsa:BITS or ed25519.
make_csr() {
	local name=$1 spec=$2 opts
	shift 2
	case $spec in
	ec:*) opts=(-newkey ec -pkeyopt "ec_paramgen_curve:${spec#ec:}") ;;
	*) opts=(-newkey "$spec") ;;
	esac
	openssl req -new "${opts[@]}" -nodes -keyout "$name.key" -subj /CN=x \
		-out "$name.csr" "$@" 2> /dev/null
}

# new_ca DIR [init options]: an issuing CA under the shared root, with the
# idevid profile of the shared factory.
new_ca() {
	local dir=$1
	shift
	m2m-ca init "$dir" --parent "$F/root" --hw-type "$HW" \
		--device-subject "$DEVICE_SUBJECT" "$@" > /dev/null
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

# records CA: the number of certificates in CA's ledger ("list failed: N"
# if m2m-ca list exits with status N, a sanitizer's 86 say).
records() {
	local out st=0
	out=$(m2m-ca list --ca "$1") || st=$?
	if [ $st != 0 ]; then
		echo "list failed: $st"
	elif [ -z "$out" ]; then
		echo 0
	else
		wc -l <<<"$out"
	fi
}

# serial_of FILE [openssl x509 options]: the certificate's serial, lower case.
serial_of() {
	local s
	s=$(openssl x509 -in "$@" -noout -serial)
	s=${s#serial=}
	printf '%s\n' "${s,,}"
}

# sha256_of FILE: the SHA-256 fingerprint of a PEM certificate, lower-case
# hex without colons.
sha256_of() {
	local s
	s=$(openssl x509 -in "$1" -noout -fingerprint -sha256)
	s=${s#*=}
	s=${s//:/}
	printf '%s\n' "${s,,}"
}

# ext_line FILE NAME: the asn1parse line after the OBJECT line of the
# extension NAME (as asn1parse names it): BOOLEAN for a critical one, else
# its OCTET STRING.
ext_line() {
	openssl asn1parse -in "$1" |
		awk -v name=":$2" 'found { print; exit }
			/ OBJECT / && substr($0, length($0) - length(name) + 1) == name { found = 1 }'
}

# ext_hex FILE NAME: the extension's value (its OCTET STRING) in hex.
ext_hex() {
	openssl asn1parse -in "$1" |
		awk -v name=":$2" 'found && /OCTET STRING/ { sub(/^.*\[HEX DUMP\]:/, ""); print; exit }
			/ OBJECT / && substr($0, length($0) - length(name) + 1) == name { found = 1 }'
}

# san_hex PPIDHEX: the subjectAltName (upper-case hex) of an IDevID of the
# shared profile for this PPID: GeneralNames { [0] otherName {
# 1.3.6.1.5.5.7.8.4, [0] { SEQUENCE { hwType, OCTET STRING PPID } } } }.
san_hex() {
	local v=$1 t
	t=${HW_DER}04$(printf '%02X' $((${#v} / 2)))${v^^}
	t=30$(printf '%02X' $((${#t} / 2)))$t
	t=06082B06010505070804A0$(printf '%02X' $((${#t} / 2)))$t
	t=A0$(printf '%02X' $((${#t} / 2)))$t
	printf '30%02X%s\n' $((${#t} / 2)) "$t"
}

# same_key KEYFILE CERTFILE: the key's public half is the certificate's.
same_key() {
	[ "$(openssl pkey -in "$1" -pubout)" = \
		"$(openssl x509 -in "$2" -noout -pubkey)" ]
}

# csr_matches CSRFILE CERTFILE: the request's public key is the certificate's.
csr_matches() {
	[ "$(openssl req -in "$1" -noout -pubkey)" = \
		"$(openssl x509 -in "$2" -noout -pubkey)" ]
}

# manifest FILE N TAG [CSR]: a manifest "serial,ppid,csr" of N rows with
# serials SN-TAG-00001... and Wi-Fi PPIDs whose first address octet is
# 4 * TAG (TAG 1..63 keeps manifests of different tags disjoint).
manifest() {
	local file=$1 n=$2 tag=$3 csr=${4:-$F/ec.csr} i
	{
		echo serial,ppid,csr
		for ((i = 1; i <= n; i++)); do
			printf 'SN-%d-%05d,02%02x71bf%06x,%s\n' "$tag" "$i" \
				$((4 * tag)) "$i" "$csr"
		done
	} > "$file"
}

# json_lines: fail unless every line of stdin is one JSON object.
json_lines() {
	python3 -c 'import json, sys
for n, line in enumerate(sys.stdin.buffer, 1):
    try:
        if not isinstance(json.loads(line), dict):
            raise ValueError("not an object")
    except ValueError as e:
        sys.exit("line %d: %s: %r" % (n, e, line[:300]))'
}

# json_field NAME: the value of NAME in the JSON object on stdin ("" if
# absent, "null" for null).
json_field() {
	python3 -c 'import json, sys
v = json.load(sys.stdin).get(sys.argv[1], "")
print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1"
}

# issue_refused [-p] STATUS LINE ARGS...: "m2m-ca issue --ca $CA --out
# out.pem ARGS" fails with STATUS and exactly LINE on stderr (with -p: one
# line starting with LINE), nothing on stdout, no out.pem, and no new
# record in the ledger.
issue_refused() {
	local prefix=0 status line before

	if [ "$1" = -p ]; then
		prefix=1
		shift
	fi
	status=$1 line=$2
	shift 2
	before=$(records "$CA")
	run --separate-stderr m2m-ca issue --ca "$CA" --out out.pem "$@"
	if [ $prefix = 1 ]; then
		assert_error_prefix "$status" "$line"
	else
		assert_error "$status" "$line"
	fi
	assert_file_not_exists out.pem
	assert_equal "$(records "$CA")" "$before"
}

# ---- --help and --version ------------------------------------------------------

SUBCOMMANDS='init issue revoke crl ocsp list show export profile audit ledger'

@test "--help prints every subcommand's usage lines and exits 0" {
	run --separate-stderr m2m-ca --help
	assert_success
	assert_stderr ''
	assert_line --index 0 'usage: m2m-ca init DIR [--parent DIR] [--subject DN] [--algorithm ALG] [--days N] [--key URI] [--json]'
	assert_line --index 1 '   or: m2m-ca issue [--ca DIR] [--profile NAME] --csr FILE [--ppid HEX | --TECHNOLOGY ADDRESS ...] [--serial SN] [--out FILE] [--chain] [--json]'
	local sub
	for sub in $SUBCOMMANDS; do
		assert_line --regexp "^(usage|   or): m2m-ca $sub "
	done
	assert_line --regexp '^ +-h, --help '
	assert_line --regexp '^ +-V, --version '
	run --separate-stderr m2m-ca -h
	assert_success
	assert_line --index 0 --partial 'usage: m2m-ca init DIR'
}

@test "every subcommand's --help starts with its usage lines, the same as in m2m-ca --help" {
	local sub top line
	top=$(m2m-ca --help)
	for sub in $SUBCOMMANDS; do
		run --separate-stderr m2m-ca "$sub" --help
		assert_success
		assert_stderr ''
		assert_line --index 0 --regexp "^usage: m2m-ca $sub( |\$)"
		assert_line --regexp '^ +-h, --help +show this help and exit$'
		for line in "${lines[@]}"; do
			[[ $line == 'usage: '* || $line == '   or: '* ]] || break
			# "usage: X" / "   or: X" here, the same X there.
			[[ $top == *": ${line#*: }"* ]] ||
				fail "'${line#*: }' is not in m2m-ca --help"
		done
		run --separate-stderr m2m-ca "$sub" -h
		assert_success
		assert_line --index 0 --regexp "^usage: m2m-ca $sub( |\$)"
	done
}

@test "issue --help lists every option and the technologies" {
	run --separate-stderr m2m-ca issue --help
	assert_success
	local opt
	for opt in --ca --profile --csr --generate-key --algorithm --pkcs12 \
		--passout --batch --out-dir --ppid --serial --out --chain --der \
		--replace --passin --tcti --ledger --json --bluetooth --wifi --wmbus \
		--zigbee --lorawan --imei --ethernet --nfc --ieee802154; do
		assert_line --regexp "^ +$opt( |\$)"
	done
}

@test "--version and -V print the Makefile's VERSION" {
	local version
	version=$(project_version)
	[ -n "$version" ]
	run --separate-stderr m2m-ca --version
	assert_ok "m2m-ca $version"
	run --separate-stderr m2m-ca -V
	assert_ok "m2m-ca $version"
	run --separate-stderr m2m-ca list --version
	assert_ok "m2m-ca $version"
}

@test "no subcommand: the usage lines on stderr, exit 2" {
	run --separate-stderr m2m-ca
	assert_failure 2
	assert_output ''
	[[ ${stderr_lines[0]} == 'usage: m2m-ca init DIR '* ]]
}

@test "an unknown subcommand or option is a usage error, exit 2" {
	run --separate-stderr m2m-ca frobnicate
	assert_error 2 "m2m-ca: unknown command 'frobnicate' (see 'm2m-ca --help')"
	run --separate-stderr m2m-ca issue --frobnicate
	assert_error 2 "m2m-ca: unknown option '--frobnicate' (see 'm2m-ca issue --help')"
	run --separate-stderr m2m-ca list --ca
	assert_error 2 "m2m-ca: option '--ca' needs an argument (DIR) (see 'm2m-ca list --help')"
	run --separate-stderr m2m-ca show --ca "$F/factory" --pem=yes 01
	assert_error 2 "m2m-ca: option '--pem' takes no argument (see 'm2m-ca show --help')"
	run --separate-stderr m2m-ca list --ca "$F/factory" extra
	assert_error 2 "m2m-ca: unexpected argument 'extra' (see 'm2m-ca list --help')"
	run --separate-stderr m2m-ca audit --ca "$F/factory" extra
	assert_error 2 "m2m-ca: unexpected argument 'extra' (see 'm2m-ca audit --help')"
	run --separate-stderr m2m-ca crl --ca "$F/factory" extra
	assert_error 2 "m2m-ca: unexpected argument 'extra' (see 'm2m-ca crl --help')"
}

# ---- init --------------------------------------------------------------------------

@test "init: a root CA, its output line, files and modes" {
	run --separate-stderr m2m-ca init r --subject 'C=DE,O=Example,CN=Root'
	assert_ok "root CA 'CN=Root,O=Example,C=DE' created in r"
	if [ $LEDGER = sqlite ]; then
		assert_equal "$(cd r && echo *)" 'ca.conf ca.crt ca.key chain.pem ledger.db'
		assert_equal "$(stat -c %a r r/ca.key r/ledger.db)" $'700\n600\n600'
		grep -qx 'ledger = ledger.db' r/ca.conf
	else
		assert_equal "$(cd r && echo *)" 'ca.conf ca.crt ca.key chain.pem'
		assert_equal "$(stat -c %a r r/ca.key)" $'700\n600'
		grep -qx "ledger = postgresql:///m2m?host=$M2M_PG_HOST&user=m2m&options=-csearch_path%3Dca[0-9]*" r/ca.conf
	fi
	assert_equal "$(stat -c %a r/ca.crt r/ca.conf r/chain.pem)" $'644\n644\n644'
	assert_equal "$(head -n 1 r/ca.key)" '-----BEGIN PRIVATE KEY-----'
	[ ! -s r/chain.pem ]
	grep -qx 'key = ca.key' r/ca.conf
	run openssl x509 -in r/ca.crt -noout -subject -issuer
	assert_output $'subject=C = DE, O = Example, CN = Root\nissuer=C = DE, O = Example, CN = Root'
	# The ledger holds no certificate, and the audit log its "init".
	assert_equal "$(records r)" 0
	run --separate-stderr m2m-ca audit --ca r --verify
	assert_ok 'audit log intact: 1 entries'
}

@test "init: the root certificate (basicConstraints, keyUsage, SKI, no AKI)" {
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" "$F/root/ca.crt"
	assert_success
	run openssl x509 -in "$F/root/ca.crt" -noout -text
	assert_success
	assert_line --regexp '^ +Version: 3 \(0x2\)$'
	assert_line --regexp '^ +X509v3 Basic Constraints: critical$'
	assert_line --regexp '^ +CA:TRUE$'
	assert_line --regexp '^ +X509v3 Key Usage: critical$'
	assert_line --regexp '^ +Certificate Sign, CRL Sign$'
	assert_line --regexp '^ +X509v3 Subject Key Identifier: $'
	refute_line --partial 'Authority Key Identifier'
	refute_line --partial 'pathlen'
	assert_line --regexp '^ +Signature Algorithm: ecdsa-with-SHA256$'
	assert_line --regexp '^ +Public-Key: \(256 bit\)$'
	# 20 years by default.
	run openssl x509 -in "$F/root/ca.crt" -noout -checkend $((7299 * 86400))
	assert_success
	run openssl x509 -in "$F/root/ca.crt" -noout -checkend $((7301 * 86400))
	assert_failure
}

@test "init --parent: an issuing CA that verifies, pathlen 0, AKI of the root's SKI" {
	run --separate-stderr cat "$F/factory.out"
	assert_output "issuing CA 'CN=m2m issuing CA factory' created in factory"
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" "$F/factory/ca.crt"
	assert_success
	assert_output "$F/factory/ca.crt: OK"
	run openssl x509 -in "$F/factory/ca.crt" -noout -text
	assert_line --regexp '^ +X509v3 Basic Constraints: critical$'
	assert_line --regexp '^ +CA:TRUE, pathlen:0$'
	assert_line --regexp '^ +X509v3 Key Usage: critical$'
	assert_line --regexp '^ +Certificate Sign, CRL Sign$'
	assert_line --regexp '^ +X509v3 Subject Key Identifier: $'
	assert_line --regexp '^ +X509v3 Authority Key Identifier: $'
	local ski
	ski=$(ext_hex "$F/root/ca.crt" 'X509v3 Subject Key Identifier')
	assert_equal "$(ext_hex "$F/factory/ca.crt" 'X509v3 Authority Key Identifier')" \
		"30168014${ski#0414}"
	# 10 years by default.
	run openssl x509 -in "$F/factory/ca.crt" -noout -checkend $((3649 * 86400))
	assert_success
	run openssl x509 -in "$F/factory/ca.crt" -noout -checkend $((3651 * 86400))
	assert_failure
	# The root's ledger records it, with the profile "ca".
	run --separate-stderr m2m-ca show --ca "$F/root" "$(serial_of "$F/factory/ca.crt")" --pem
	assert_success
	assert_output "$(cat "$F/factory/ca.crt")"
	# And its idevid profile has the device model and subject.
	run --separate-stderr m2m-ca profile show --ca "$F/factory" idevid --json
	assert_success
	assert_output --partial '"hw-type":"1.3.6.1.4.1.99999.1.1","subject":"O=Example,OU=Devices",'
}

@test "init --json prints dir, subject, serial, fingerprint and root" {
	run --separate-stderr m2m-ca init r --subject CN=R --json
	assert_success
	assert_stderr ''
	assert_output "{\"dir\":\"r\",\"subject\":\"CN=R\",\"serial\":\"$(serial_of r/ca.crt)\",\"fingerprint\":\"$(sha256_of r/ca.crt)\",\"root\":true}"
	run --separate-stderr m2m-ca init i --parent r --subject 'O=Example,CN=Issuing' --json
	assert_success
	assert_stderr ''
	assert_output "{\"dir\":\"i\",\"subject\":\"CN=Issuing,O=Example\",\"serial\":\"$(serial_of i/ca.crt)\",\"fingerprint\":\"$(sha256_of i/ca.crt)\",\"root\":false}"
	[[ $output =~ \"serial\":\"[0-9a-f]{32}\" ]]
}

@test "init without --subject names the CA after its directory" {
	run --separate-stderr m2m-ca init top/r1
	assert_failure
	mkdir top
	run --separate-stderr m2m-ca init top/r1
	assert_ok "root CA 'CN=m2m root CA r1' created in top/r1"
	run --separate-stderr m2m-ca init i1 --parent top/r1
	assert_ok "issuing CA 'CN=m2m issuing CA i1' created in i1"
}

@test "init --algorithm ec-p384, rsa2048 and ed25519" {
	run --separate-stderr m2m-ca init p384 --algorithm ec-p384 --subject CN=P384
	assert_success
	run openssl x509 -in p384/ca.crt -noout -text
	assert_line --regexp '^ +Public-Key: \(384 bit\)$'
	assert_line --regexp '^ +Signature Algorithm: ecdsa-with-SHA384$'

	run --separate-stderr m2m-ca init rsa --algorithm rsa2048 --subject CN=RSA
	assert_success
	run openssl x509 -in rsa/ca.crt -noout -text
	assert_line --regexp '^ +Public-Key: \(2048 bit\)$'
	assert_line --regexp '^ +Signature Algorithm: sha256WithRSAEncryption$'

	run --separate-stderr m2m-ca init ed --algorithm ed25519 --subject CN=ED
	assert_success
	run openssl x509 -in ed/ca.crt -noout -text
	assert_line --regexp '^ +Signature Algorithm: ED25519$'
	# Each signs an issuing CA that verifies under it.
	local root
	for root in p384 rsa ed; do
		run --separate-stderr m2m-ca init "$root-i" --parent "$root" --subject "CN=$root issuing"
		assert_success
		run openssl verify -x509_strict -CAfile "$root/ca.crt" "$root-i/ca.crt"
		assert_success
	done
	run --separate-stderr m2m-ca init r3072 --algorithm rsa3072 --subject CN=R3072
	assert_success
	run openssl x509 -in r3072/ca.crt -noout -text
	assert_line --regexp '^ +Public-Key: \(3072 bit\)$'
}

@test "init --days and --path-len; an issuing CA ends no later than its parent" {
	run --separate-stderr m2m-ca init r --subject CN=R --days 30 --path-len 2
	assert_success
	run openssl x509 -in r/ca.crt -noout -text
	assert_line --regexp '^ +CA:TRUE, pathlen:2$'
	run openssl x509 -in r/ca.crt -noout -checkend $((29 * 86400))
	assert_success
	run openssl x509 -in r/ca.crt -noout -checkend $((31 * 86400))
	assert_failure
	# Default 3650 days, cut to the root's 30.
	run --separate-stderr m2m-ca init i --parent r --subject CN=I --path-len 1
	assert_success
	assert_equal "$(openssl x509 -in i/ca.crt -noout -enddate)" \
		"$(openssl x509 -in r/ca.crt -noout -enddate)"
	run openssl x509 -in i/ca.crt -noout -text
	assert_line --regexp '^ +CA:TRUE, pathlen:1$'
	run openssl verify -x509_strict -CAfile r/ca.crt i/ca.crt
	assert_success
}

@test "init --parent honours the parent's pathLenConstraint" {
	m2m-ca init r --subject CN=R --path-len 1 > /dev/null
	run --separate-stderr m2m-ca init i --parent r --subject CN=I --path-len 1
	assert_error 3 "m2m-ca: cannot create the CA 'i': path length 1 is more than the parent CA's pathLenConstraint (1) allows"
	run --separate-stderr m2m-ca init i --parent r --subject CN=I
	assert_ok "issuing CA 'CN=I' created in i"
	# i has pathLenConstraint 0, as the shared factory: no CA below either.
	run --separate-stderr m2m-ca init j --parent i --subject CN=J
	assert_error 3 "m2m-ca: cannot create the CA 'j': the parent CA's pathLenConstraint is 0: it may not have CAs below it"
	run --separate-stderr m2m-ca init j --parent "$F/factory" --subject CN=J
	assert_error 3 "m2m-ca: cannot create the CA 'j': the parent CA's pathLenConstraint is 0: it may not have CAs below it"
	assert_equal "$(here)" $'i\nr'
}

@test "init --key file:PATH makes the key there; an existing key is used" {
	run --separate-stderr m2m-ca init k1 --key "file:$PWD/keys/ca1.key" --subject CN=K1
	assert_failure 4
	mkdir keys
	run --separate-stderr m2m-ca init k1 --key "file:$PWD/keys/ca1.key" --subject CN=K1
	assert_ok "root CA 'CN=K1' created in k1"
	assert_file_exists keys/ca1.key
	assert_file_not_exists k1/ca.key
	assert_equal "$(stat -c %a keys/ca1.key)" 600
	grep -qx "key = file:$PWD/keys/ca1.key" k1/ca.conf
	same_key keys/ca1.key k1/ca.crt
	# An existing key, named by a relative path: used, not replaced.
	local before
	before=$(cat keys/ca1.key)
	run --separate-stderr m2m-ca init k2 --key keys/ca1.key --subject CN=K2
	assert_ok "root CA 'CN=K2' created in k2"
	assert_equal "$(cat keys/ca1.key)" "$before"
	same_key keys/ca1.key k2/ca.crt
	grep -qx "key = $PWD/keys/ca1.key" k2/ca.conf
	# The CA works with its key elsewhere.
	run --separate-stderr m2m-ca crl --ca k2 --out k2.crl
	assert_ok ''
}

@test "init --passin: an encrypted key that every command using the key needs" {
	export PW=correct-horse PW2=wrong-horse
	# A root with no pathLenConstraint above it: enc may have a CA below.
	run --separate-stderr new_ca enc --passin env:PW --path-len 1
	assert_success
	assert_equal "$(head -n 1 enc/ca.key)" '-----BEGIN ENCRYPTED PRIVATE KEY-----'
	assert_equal "$(stat -c %a enc/ca.key)" 600
	run openssl pkey -in enc/ca.key -passin pass:wrong -noout
	assert_failure

	run --separate-stderr m2m-ca issue --ca enc --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	assert_error 3 "m2m-ca: cannot open the CA: 'enc/ca.key' is encrypted: give a passphrase source"
	run --separate-stderr m2m-ca issue --ca enc --csr "$F/ec.csr" --ppid "$V1" --out a.pem --passin env:PW2
	assert_error 3 "m2m-ca: cannot open the CA: wrong passphrase for 'enc/ca.key'"
	run --separate-stderr m2m-ca issue --ca enc --csr "$F/ec.csr" --ppid "$V1" --out a.pem --passin env:UNSET_M2M_VAR
	assert_error 3 "m2m-ca: cannot open the CA: environment variable 'UNSET_M2M_VAR' is not set"
	assert_file_not_exists a.pem
	assert_equal "$(records enc)" 0
	run --separate-stderr m2m-ca crl --ca enc --out a.crl
	assert_error 3 "m2m-ca: cannot open the CA: 'enc/ca.key' is encrypted: give a passphrase source"

	run --separate-stderr m2m-ca issue --ca enc --csr "$F/ec.csr" --ppid "$V1" --out a.pem --passin env:PW
	assert_ok ''
	printf '%s\n' "$PW" > pw.txt
	run --separate-stderr m2m-ca revoke --ca enc "$(serial_of a.pem)" --passin file:pw.txt
	assert_success
	run --separate-stderr m2m-ca crl --ca enc --out a.crl --passin "pass:$PW"
	assert_success
	assert_output ''
	assert_stderr 'm2m-ca: warning: --passin pass:... shows the passphrase to other users; prefer env:, file: or fd:'
	# Reading the ledger needs no key.
	run --separate-stderr m2m-ca list --ca enc
	assert_success
	assert_line --index 0 --partial ' idevid  revoked '
	# A child of the encrypted CA needs --parent-passin.
	run --separate-stderr m2m-ca init sub --parent enc --subject CN=Sub
	assert_error 3 "m2m-ca: cannot create the CA 'sub': parent CA: 'enc/ca.key' is encrypted: give a passphrase source"
	run --separate-stderr m2m-ca init sub --parent enc --subject CN=Sub --parent-passin env:PW2
	assert_error 3 "m2m-ca: cannot create the CA 'sub': parent CA: wrong passphrase for 'enc/ca.key'"
	assert_file_not_exists sub
	run --separate-stderr m2m-ca init sub --parent enc --subject CN=Sub --parent-passin env:PW
	assert_ok "issuing CA 'CN=Sub' created in sub"
	# The passphrase never shows in a message.
	run --separate-stderr m2m-ca crl --ca enc --out a.crl --passin env:PW2
	refute_output --partial "$PW2"
	[[ $stderr != *"$PW2"* ]]
}

@test "init: a passphrase source that is missing or too short is refused, exit 3" {
	run --separate-stderr m2m-ca init r --subject CN=R --passin env:UNSET_M2M_VAR
	assert_error 3 "m2m-ca: cannot create the CA 'r': environment variable 'UNSET_M2M_VAR' is not set"
	export SHORT=abc
	run --separate-stderr m2m-ca init r --subject CN=R --passin env:SHORT
	# The message names the key where it would be, not a temporary name.
	assert_error 3 "m2m-ca: cannot create the CA 'r': passphrase for 'r/ca.key' is shorter than 4 characters"
	assert_equal "$(here)" ''
}

@test "init --parent-passin pass: warns like --passin pass:" {
	export PW=correct-horse
	new_ca enc --passin env:PW --path-len 1
	run --separate-stderr m2m-ca init sub --parent enc --subject CN=Sub --parent-passin "pass:$PW"
	assert_success
	assert_output "issuing CA 'CN=Sub' created in sub"
	assert_stderr 'm2m-ca: warning: --parent-passin pass:... shows the passphrase to other users; prefer env:, file: or fd:'
}

@test "the subcommands that use the CA key take --tcti, init also --auth; the others neither" {
	local sub
	for sub in init issue revoke crl ocsp; do
		run --separate-stderr m2m-ca "$sub" --help
		assert_success
		assert_line --regexp '^ +--passin SOURCE +CA key passphrase, token PIN: '
		assert_line --regexp '^ +--tcti CONFIG +TPM TCTI of a tpm2: CA key '
	done
	run --separate-stderr m2m-ca init --help
	assert_line --regexp '^ +--auth SOURCE +TPM owner hierarchy authorisation'
	for sub in issue revoke crl ocsp list show export profile audit; do
		run --separate-stderr m2m-ca "$sub" --help
		refute_line --regexp '^ +--auth '
	done
	for sub in list show export profile audit; do
		run --separate-stderr m2m-ca "$sub" --help
		refute_line --regexp '^ +--tcti '
	done
	run --separate-stderr m2m-ca list --ca "$F/factory" --tcti "$NO_TPM"
	assert_error 2 "m2m-ca: unknown option '--tcti' (see 'm2m-ca list --help')"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --ppid "$V1" --auth env:X
	assert_error 2 "m2m-ca: unknown option '--auth' (see 'm2m-ca issue --help')"
}

@test "init --key on a PKCS#11 module or a TPM that is not there: exit 5, naming it; nothing is made" {
	local mod="cannot load PKCS#11 module '/nonexistent/libnone.so': "
	local tpm="cannot reach the TPM at '$NO_TPM': tcti:IO failure"
	run --separate-stderr m2m-ca init r --subject CN=R --key "pkcs11:token=x;object=y?$NO_MODULE" --passin env:PIN
	assert_error_prefix 5 "m2m-ca: cannot create the CA 'r': $mod"
	run --separate-stderr m2m-ca init r --subject CN=R --key tpm2:handle=0x81000010 --tcti "$NO_TPM" --auth env:OWNER
	assert_error 5 "m2m-ca: cannot create the CA 'r': $tpm"
	M2M_TCTI=$NO_TPM run --separate-stderr m2m-ca init r --subject CN=R --key tpm2:handle=0x81000010
	assert_error 5 "m2m-ca: cannot create the CA 'r': $tpm"
	assert_equal "$(here)" ''
	# A parent whose key is on a token.
	new_ca p
	sed -i "s|^key = .*|key = pkcs11:token=ca;object=factory?$NO_MODULE|" p/ca.conf
	run --separate-stderr m2m-ca init sub --parent p --subject CN=Sub --parent-passin env:PIN
	assert_error_prefix 5 "m2m-ca: cannot create the CA 'sub': parent CA: $mod"
	assert_file_not_exists sub
}

@test "a CA whose key is on a token or in a TPM that is not there: every subcommand that signs says so, exit 5" {
	local mod="m2m-ca: cannot open the CA: cannot load PKCS#11 module '/nonexistent/libnone.so': "
	local tpm="m2m-ca: cannot open the CA: cannot reach the TPM at '$NO_TPM': tcti:IO failure"
	new_ca tok
	sed -i "s|^key = .*|key = pkcs11:token=ca;object=factory?$NO_MODULE|" tok/ca.conf
	run --separate-stderr m2m-ca issue --ca tok --csr "$F/ec.csr" --ppid "$V1" --passin env:PIN --out a.pem
	assert_error_prefix 5 "$mod"
	assert_file_not_exists a.pem
	run --separate-stderr m2m-ca crl --ca tok --out a.crl
	assert_error_prefix 5 "$mod"
	assert_file_not_exists a.crl
	sed -i 's|^key = .*|key = tpm2:handle=0x81000010|' tok/ca.conf
	run --separate-stderr m2m-ca revoke --ca tok 01 --tcti "$NO_TPM"
	assert_error 5 "$tpm"
	run --separate-stderr m2m-ca ocsp --ca tok --request /dev/null --tcti "$NO_TPM"
	assert_error 5 "$tpm"
	M2M_TCTI=$NO_TPM run --separate-stderr m2m-ca issue --ca tok --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	assert_error 5 "$tpm"
	assert_file_not_exists a.pem
	# Reading the ledger needs no key.
	run --separate-stderr m2m-ca list --ca tok
	assert_ok ''
	assert_equal "$(records tok)" 0
}

@test "--tcti changes nothing for a file key; --auth pass: warns like --passin pass:" {
	new_ca t
	run --separate-stderr m2m-ca issue --ca t --csr "$F/ec.csr" --ppid "$V1" --tcti "$NO_TPM" --out a.pem
	assert_ok ''
	run --separate-stderr m2m-ca crl --ca t --tcti=device:/dev/null --out a.crl
	assert_ok ''
	run --separate-stderr m2m-ca init r --subject CN=R --auth pass:owner --tcti "$NO_TPM"
	assert_success
	assert_output "root CA 'CN=R' created in r"
	assert_stderr 'm2m-ca: warning: --auth pass:... shows the passphrase to other users; prefer env:, file: or fd:'
}

@test "init into a non-empty directory or an existing CA: exit 3, nothing changed" {
	mkdir ne
	echo keep > ne/file
	run --separate-stderr m2m-ca init ne --subject CN=X
	assert_error 3 "m2m-ca: cannot create the CA 'ne': 'ne' exists and is not empty"
	assert_equal "$(ls -A ne)" file
	assert_equal "$(cat ne/file)" keep

	new_ca ca
	local before
	before=$(cd ca && sha256sum ./*)
	run --separate-stderr m2m-ca init ca --subject CN=X
	assert_error 3 "m2m-ca: cannot create the CA 'ca': 'ca' exists and is not empty"
	assert_equal "$(cd ca && sha256sum ./*)" "$before"

	echo x > plain
	run --separate-stderr m2m-ca init plain --subject CN=X
	assert_error 3 "m2m-ca: cannot create the CA 'plain': 'plain' exists and is not a directory"
	assert_equal "$(here)" $'ca\nne\nplain'
}

@test "init into an existing empty directory makes the CA there" {
	mkdir empty
	run --separate-stderr m2m-ca init empty --subject CN=E
	assert_ok "root CA 'CN=E' created in empty"
	assert_file_exists empty/ca.crt
	assert_equal "$(here)" empty
}

@test "init with a bad subject, hw-type or device subject: exit 3, nothing made" {
	run --separate-stderr m2m-ca init bad --subject 'CN=X,FOO=bar'
	assert_error 3 "m2m-ca: cannot create the CA 'bad': subject: unknown attribute 'FOO' (C, ST, L, O, OU, CN, DC, serialNumber)"
	run --separate-stderr m2m-ca init bad --subject garbage
	assert_error 3 "m2m-ca: cannot create the CA 'bad': subject: 'garbage' is not ATTR=value,..."
	run --separate-stderr m2m-ca init bad --subject ''
	assert_error 3 "m2m-ca: cannot create the CA 'bad': subject: empty distinguished name"
	run --separate-stderr m2m-ca init bad --subject CN=X --hw-type 1.2.x
	assert_error 3 "m2m-ca: cannot create the CA 'bad': idevid: hw-type must be a dotted OID like '1.3.6.1.4.1.99999.1', not '1.2.x'"
	run --separate-stderr m2m-ca init bad --subject CN=X --device-subject serialNumber=1
	assert_error 3 "m2m-ca: cannot create the CA 'bad': idevid: subject must not hold serialNumber: the CA adds the device's serial number"
	run --separate-stderr m2m-ca init bad --parent nope --subject CN=X
	assert_error 3 "m2m-ca: cannot create the CA 'bad': parent CA: 'nope' is not a CA directory (no ca.conf)"
	assert_equal "$(here)" ''
}

@test "a failing init leaves no DIR, no DIR.tmp-* and no key it made" {
	# Fails once its temporary directory is made: the key is a certificate.
	run --separate-stderr m2m-ca init bad --key "$F/root/ca.crt" --subject CN=X
	assert_error 3 "m2m-ca: cannot create the CA 'bad': '$F/root/ca.crt' holds no private key"
	assert_equal "$(here)" ''
	# Fails after making its key at --key: the ledger cannot be created.
	run --separate-stderr m2m-ca init bad --key new.key --ledger /nonexistent/l.db --subject CN=X
	assert_error 4 "m2m-ca: cannot create the CA 'bad': cannot create ledger '/nonexistent/l.db': No such file or directory"
	assert_equal "$(here)" ''
	# An issuing CA failing the same way leaves nothing in its parent either.
	local before
	before=$(records "$F/root")
	run --separate-stderr m2m-ca init bad --parent "$F/root" --ledger /nonexistent/l.db --subject CN=X
	assert_failure 4
	assert_equal "$(here)" ''
	assert_equal "$(records "$F/root")" "$before"
}

@test "init usage errors: exit 2" {
	run --separate-stderr m2m-ca init
	assert_error 2 "m2m-ca: init needs the directory of the new CA (see 'm2m-ca init --help')"
	run --separate-stderr m2m-ca init a b
	assert_error 2 "m2m-ca: init takes one directory (see 'm2m-ca init --help')"
	run --separate-stderr m2m-ca init a --days 0
	assert_error 2 "m2m-ca: option '--days' needs a number from 1 to 36500, not '0' (see 'm2m-ca init --help')"
	run --separate-stderr m2m-ca init a --days 36501
	assert_error 2 "m2m-ca: option '--days' needs a number from 1 to 36500, not '36501' (see 'm2m-ca init --help')"
	run --separate-stderr m2m-ca init a --days 1x
	assert_error 2 "m2m-ca: option '--days' needs a number from 1 to 36500, not '1x' (see 'm2m-ca init --help')"
	run --separate-stderr m2m-ca init a --path-len 17
	assert_error 2 "m2m-ca: option '--path-len' needs a number from 0 to 16, not '17' (see 'm2m-ca init --help')"
	run --separate-stderr m2m-ca init a --algorithm dsa
	assert_error 2 "m2m-ca: unknown algorithm 'dsa' (ec-p256, ec-p384, rsa2048, rsa3072, ed25519) (see 'm2m-ca init --help')"
	assert_equal "$(here)" ''
}

@test "init --ledger keeps the ledger there, recorded absolute in ca.conf" {
	mkdir db
	run --separate-stderr m2m-ca init r --subject CN=R --ledger db/r.db
	assert_success
	assert_file_exists db/r.db
	assert_file_not_exists r/ledger.db
	grep -qx "ledger = $PWD/db/r.db" r/ca.conf
	run --separate-stderr m2m-ca audit --ca r --verify
	assert_ok 'audit log intact: 1 entries'
}

@test "init refuses a --ledger that another CA already keeps" {
	new_ca a --ledger shared.db
	run --separate-stderr m2m-ca issue --ca a --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	assert_success
	run --separate-stderr m2m-ca init b --parent "$F/root" --subject CN=B --ledger shared.db
	assert_failure 3
	assert_output ''
	assert_file_not_exists b
	# Had it shared it, b would list (and put on its CRLs) a's certificates.
	assert_equal "$(records a)" 1
}

# ---- issue: the certificate ---------------------------------------------------------

@test "issue: PEM on stdout, the certificate the ledger records" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --serial SN-1
	assert_success
	assert_stderr ''
	assert_line --index 0 -- '-----BEGIN CERTIFICATE-----'
	assert_line --index $((${#lines[@]} - 1)) -- '-----END CERTIFICATE-----'
	printf '%s\n' "$output" > got.pem
	local serial
	serial=$(serial_of got.pem)
	run --separate-stderr m2m-ca show --ca ca "$serial" --pem
	assert_ok "$(cat got.pem)"
	csr_matches "$F/ec.csr" got.pem
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted ca/ca.crt got.pem
	assert_success
	assert_output 'got.pem: OK'
}

@test "issue: the IDevID as openssl x509 -text shows it" {
	run openssl x509 -in "$F/x.pem" -noout -text
	assert_success
	assert_line --regexp '^ +Version: 3 \(0x2\)$'
	assert_line --regexp '^ +Signature Algorithm: ecdsa-with-SHA256$'
	assert_line --regexp '^ +Issuer: CN = m2m issuing CA factory$'
	assert_line --regexp '^ +Not After : Dec 31 23:59:59 9999 GMT$'
	assert_line --regexp '^ +Subject: O = Example, OU = Devices, serialNumber = SN-1$'
	assert_line --regexp '^ +X509v3 Subject Alternative Name: $'
	assert_line --regexp '^ +othername: 1\.3\.6\.1\.5\.5\.7\.8\.4::'
	assert_line --regexp '^ +X509v3 Key Usage: critical$'
	assert_line --regexp '^ +Digital Signature$'
	assert_line --regexp '^ +X509v3 Authority Key Identifier: $'
	refute_line --partial 'Subject Key Identifier'
	refute_line --partial 'Basic Constraints'
	refute_line --partial 'Extended Key Usage'
	refute_line --partial 'Certificate Policies'
	# notBefore is the time of issuance.
	run openssl x509 -in "$F/x.pem" -noout -startdate
	local nb
	nb=$(date -u -d "${output#notBefore=}" +%s)
	(( nb <= $(date +%s) && nb > $(date +%s) - 3600 ))
}

@test "issue: the IDevID's DER (serial, times, subject, SAN, keyUsage, AKI)" {
	run openssl asn1parse -in "$F/x.pem"
	assert_success
	# version v3, then a positive serial of 16 octets (high bit clear).
	assert_line --index 2 --regexp '^ +[0-9]+:d=2 +hl=2 l= +3 cons: cont \[ 0 \] *$'
	assert_line --index 3 --regexp '^ +[0-9]+:d=3 +hl=2 l= +1 prim: INTEGER +:02$'
	assert_line --index 4 --regexp '^ +[0-9]+:d=2 +hl=2 l= +16 prim: INTEGER +:[0-7][0-9A-F]{31}$'
	# ECDSA AlgorithmIdentifiers without parameters.
	assert_line --index 5 --regexp '^ +[0-9]+:d=2 +hl=2 l= +10 cons: SEQUENCE *$'
	assert_line --index 6 --regexp 'prim: OBJECT +:ecdsa-with-SHA256$'
	refute_line --partial 'prim: NULL'
	assert_line --regexp 'prim: UTCTIME +:[0-9]{12}Z$'
	assert_line --regexp 'prim: GENERALIZEDTIME +:99991231235959Z$'
	assert_line --regexp 'prim: OBJECT +:serialNumber$'
	assert_line --regexp 'prim: PRINTABLESTRING +:SN-1$'
	# subjectAltName: not critical, exactly the HardwareModuleName of V1.
	run ext_line "$F/x.pem" 'X509v3 Subject Alternative Name'
	assert_output --partial 'prim: OCTET STRING'
	assert_equal "$(ext_hex "$F/x.pem" 'X509v3 Subject Alternative Name')" "$SAN_V1"
	assert_equal "$(san_hex "$V1")" "$SAN_V1"
	# keyUsage: critical, digitalSignature only.
	run ext_line "$F/x.pem" 'X509v3 Key Usage'
	assert_output --regexp 'prim: BOOLEAN +:255$'
	assert_equal "$(ext_hex "$F/x.pem" 'X509v3 Key Usage')" 03020780
	# AKI: the issuing CA's SKI.
	local ski
	ski=$(ext_hex "$F/factory/ca.crt" 'X509v3 Subject Key Identifier')
	assert_equal "$(ext_hex "$F/x.pem" 'X509v3 Authority Key Identifier')" \
		"30168014${ski#0414}"
	run ext_line "$F/x.pem" 'X509v3 Authority Key Identifier'
	assert_output --partial 'prim: OCTET STRING'
}

@test "issue --chain appends the issuing CA; the chain verifies under the root" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --chain --out chain.pem
	assert_ok ''
	assert_equal "$(grep -c -- '-----BEGIN CERTIFICATE-----' chain.pem)" 2
	assert_equal "$(sed -n '/^-----END/,$p' chain.pem | sed 1d)" "$(cat ca/ca.crt)"
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted ca/ca.crt chain.pem
	assert_success
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted chain.pem chain.pem
	assert_success
	assert_output 'chain.pem: OK'
	# To stdout as well.
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --chain
	assert_success
	assert_equal "$(grep -c -- '-----BEGIN CERTIFICATE-----' <<<"$output")" 2
}

@test "issue --out writes the file alone; --der writes DER" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	assert_ok ''
	assert_equal "$(stat -c %a a.pem)" 644
	assert_equal "$(head -n 1 a.pem)" '-----BEGIN CERTIFICATE-----'
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --der --out b.der
	assert_ok ''
	openssl x509 -inform DER -in b.der -outform DER | cmp - b.der
	run --separate-stderr m2m-ca show --ca ca "$(serial_of b.der -inform DER)" --pem
	assert_success
	assert_equal "$(openssl x509 -in b.der -inform DER)" "$output"
	# --der to stdout, and --out - is stdout.
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2f --der > c.der
	openssl x509 -inform DER -in c.der -noout
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b30 --out -
	assert_success
	assert_line --index 0 -- '-----BEGIN CERTIFICATE-----'
	# --out replaces an existing file.
	echo old > d.pem
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b31 --out d.pem
	assert_ok ''
	openssl x509 -in d.pem -noout
}

@test "issue: without --serial the subject serialNumber is the PPID; --ppid and addresses are one PPID" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V2" --out a.pem
	assert_ok ''
	run openssl x509 -in a.pem -noout -subject
	assert_output "subject=O = Example, OU = Devices, serialNumber = $V2"
	# The same device by its addresses: the same PPID, so a duplicate.
	local s
	s=$(serial_of a.pem)
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" "${V2_OPTS[@]}" --out b.pem
	assert_error 3 "m2m-ca: cannot issue: PPID $V2 already has a valid idevid certificate (serial $s, device $V2); --replace supersedes it"
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" "${V2_OPTS[@]}" --out b.pem --replace
	assert_success
	assert_equal "$(ext_hex b.pem 'X509v3 Subject Alternative Name')" \
		"$(ext_hex a.pem 'X509v3 Subject Alternative Name')"
	run --separate-stderr m2m-ca list --ca ca --ppid "$V2" --status valid
	assert_success
	assert_output "$(serial_of b.pem) idevid  valid   9999-12-31T23:59:59Z $V2 $V2"
	# The technology options in any order, with '-' and lower case.
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --zigbee 00-12-4b-00-1c-a1-b2-c3 \
		--wmbus kam:12345678:01:07 --wifi 3c:71:bf:4a:0b:2e --bluetooth 00:1a:7d:da:71:13 \
		--out c.pem --replace
	assert_success
	assert_equal "$(ext_hex c.pem 'X509v3 Subject Alternative Name')" \
		"$(ext_hex a.pem 'X509v3 Subject Alternative Name')"
}

@test "issue: a PPID of more than 32 bytes needs --serial" {
	local all=ff03001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2c370b3d57ed005a1b2490154203237518f001b213a4f5c0704a23b1c5d6e8000124b0000000001
	CA=$F/factory
	issue_refused 3 'm2m-ca: cannot issue: a PPID of 68 bytes does not fit the subject serialNumber (64 characters): give the device serial number' \
		--csr "$F/ec.csr" --ppid "$all"
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$all" --serial LONG-1 --out a.pem
	assert_ok ''
	run openssl x509 -in a.pem -noout -subject
	assert_output 'subject=O = Example, OU = Devices, serialNumber = LONG-1'
	assert_equal "$(ext_hex a.pem 'X509v3 Subject Alternative Name')" "$(san_hex "$all")"
}

@test "issue reads the request from stdin, as PEM, 'NEW CERTIFICATE REQUEST' or DER" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr - --ppid 023c71bf000001 --out a.pem < "$F/ec.csr"
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca ca --csr - --ppid 023c71bf000002 --out b.pem < "$F/ec.der"
	assert_ok ''
	sed 's/CERTIFICATE REQUEST/NEW CERTIFICATE REQUEST/' "$F/ec.csr" > new.csr
	run --separate-stderr m2m-ca issue --ca ca --csr new.csr --ppid 023c71bf000003 --out c.pem
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.der" --ppid 023c71bf000004 --out d.pem
	assert_ok ''
	local f
	for f in a b c d; do
		csr_matches "$F/ec.csr" "$f.pem"
	done
}

@test "issue: P-384 and RSA-2048 requests are accepted; the CA signs with its own algorithm" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/p384.csr" --ppid 023c71bf000001 --out a.pem
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/rsa2048.csr" --ppid 023c71bf000002 --out b.pem
	assert_ok ''
	csr_matches "$F/p384.csr" a.pem
	csr_matches "$F/rsa2048.csr" b.pem
	run openssl x509 -in b.pem -noout -text
	assert_line --regexp '^ +Public-Key: \(2048 bit\)$'
	assert_line --regexp '^ +Signature Algorithm: ecdsa-with-SHA256$'
	# A P-384 CA signs with SHA-384.
	new_ca ca384 --algorithm ec-p384
	run --separate-stderr m2m-ca issue --ca ca384 --csr "$F/ec.csr" --ppid 023c71bf000001 --out c.pem
	assert_ok ''
	run openssl x509 -in c.pem -noout -text
	assert_line --regexp '^ +Signature Algorithm: ecdsa-with-SHA384$'
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted ca384/ca.crt c.pem
	assert_success
}

@test "issue --json prints serial, fingerprint, subject, validity and out" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --serial SN-9 --out a.pem --json
	assert_success
	assert_stderr ''
	local nb
	nb=$(date -u -d "$(openssl x509 -in a.pem -noout -startdate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
	assert_output "{\"certificate_serial\":\"$(serial_of a.pem)\",\"fingerprint\":\"$(sha256_of a.pem)\",\"subject\":\"serialNumber=SN-9,OU=Devices,O=Example\",\"not_before\":\"$nb\",\"not_after\":\"9999-12-31T23:59:59Z\",\"out\":\"a.pem\"}"
	[[ $output =~ \"certificate_serial\":\"[0-9a-f]{32}\" ]]
}

@test "issue --json without --out carries the certificate in the JSON" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --json
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 1
	printf '%s\n' "$output" | json_lines
	local serial
	serial=$(json_field certificate_serial <<<"$output")
	# The certificate issued is in what was printed.
	assert_equal "$(json_field certificate <<<"$output")" \
		"$(m2m-ca show --ca ca "$serial" --pem)"
	# With --chain, the chain too.
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --json --chain
	assert_success
	json_field certificate <<<"$output" > chain.pem
	assert_equal "$(grep -c -- '-----BEGIN CERTIFICATE-----' chain.pem)" 2
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted chain.pem chain.pem
	assert_success
}

@test "profile subject-key-id=yes adds a subjectKeyIdentifier" {
	new_ca ca
	run --separate-stderr m2m-ca profile set --ca ca idevid subject-key-id=yes
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	assert_ok ''
	run ext_line a.pem 'X509v3 Subject Key Identifier'
	assert_output --partial 'prim: OCTET STRING'
	# The SHA-1 of the subjectPublicKey's bits, as openssl computes it.
	local ski want
	ski=$(ext_hex a.pem 'X509v3 Subject Key Identifier')
	want=$(openssl x509 -in a.pem -noout -pubkey | openssl pkey -pubin -outform DER |
		tail -c 65 | openssl dgst -sha1 -r | cut -d' ' -f1)
	assert_equal "$ski" "0414${want^^}"
}

@test "profile masa-url adds id-pe-masa-url (1.3.6.1.5.5.7.1.32) as an IA5String" {
	new_ca ca
	run --separate-stderr m2m-ca profile set --ca ca idevid masa-url=https://masa.example.com/x
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	assert_ok ''
	run ext_line a.pem 1.3.6.1.5.5.7.1.32
	assert_output --partial 'prim: OCTET STRING'
	local url=https://masa.example.com/x hex
	hex=$(printf '%s' "$url" | od -An -tx1 | tr -d ' \n')
	assert_equal "$(ext_hex a.pem 1.3.6.1.5.5.7.1.32)" "16$(printf '%02X' ${#url})${hex^^}"
}

@test "profile key-usage none omits keyUsage; keyAgreement adds that bit; lifetime 30d" {
	new_ca ca
	run --separate-stderr m2m-ca profile set --ca ca idevid key-usage=none
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf000001 --out a.pem
	assert_ok ''
	run openssl x509 -in a.pem -noout -text
	refute_line --partial 'Key Usage'
	run --separate-stderr m2m-ca profile set --ca ca idevid 'key-usage=digitalSignature keyAgreement' lifetime=30d
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf000002 --out b.pem
	assert_ok ''
	assert_equal "$(ext_hex b.pem 'X509v3 Key Usage')" 03020388
	run openssl asn1parse -in b.pem
	refute_line --partial 'GENERALIZEDTIME'
	run openssl x509 -in b.pem -noout -checkend $((29 * 86400))
	assert_success
	run openssl x509 -in b.pem -noout -checkend $((31 * 86400))
	assert_failure
}

# ---- issue --generate-key --------------------------------------------------------------

@test "--generate-key writes a 0600 PEM key that matches the certificate" {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --generate-key dev.key --wifi 3C:71:BF:4A:0B:2E --out dev.pem
	assert_ok ''
	assert_equal "$(stat -c %a dev.key)" 600
	assert_equal "$(head -n 1 dev.key)" '-----BEGIN PRIVATE KEY-----'
	same_key dev.key dev.pem
	run openssl x509 -in dev.pem -noout -subject
	assert_output 'subject=O = Example, OU = Devices, serialNumber = 023c71bf4a0b2e'
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted ca/ca.crt dev.pem
	assert_success
	# Other algorithms.
	run --separate-stderr m2m-ca issue --ca ca --generate-key rsa.key --algorithm rsa2048 --ppid 023c71bf000002 --out rsa.pem
	assert_ok ''
	same_key rsa.key rsa.pem
	run openssl x509 -in rsa.pem -noout -text
	assert_line --regexp '^ +Public-Key: \(2048 bit\)$'
	run --separate-stderr m2m-ca issue --ca ca --generate-key p384.key --algorithm ec-p384 --ppid 023c71bf000003 --out p384.pem
	assert_ok ''
	same_key p384.key p384.pem
}

@test "--generate-key --passout encrypts the key" {
	new_ca ca
	export P=device-pass
	run --separate-stderr m2m-ca issue --ca ca --generate-key dev.key --passout env:P --ppid "$V1" --out dev.pem
	assert_ok ''
	assert_equal "$(head -n 1 dev.key)" '-----BEGIN ENCRYPTED PRIVATE KEY-----'
	assert_equal "$(openssl pkey -in dev.key -passin env:P -pubout)" \
		"$(openssl x509 -in dev.pem -noout -pubkey)"
	# A passphrase source that cannot be read: nothing made, nothing issued.
	run --separate-stderr m2m-ca issue --ca ca --generate-key dev2.key --passout env:UNSET_M2M_VAR --ppid 023c71bf000001 --out dev2.pem
	assert_error 3 "m2m-ca: cannot make the device key: environment variable 'UNSET_M2M_VAR' is not set"
	assert_file_not_exists dev2.key
	assert_file_not_exists dev2.pem
	assert_equal "$(records ca)" 1
}

@test "--generate-key refuses an existing file, exit 3, the file unchanged, nothing issued" {
	CA=$F/factory
	echo precious > dev.key
	issue_refused -p 3 "m2m-ca: cannot make the device key: 'dev.key' exists already" \
		--generate-key dev.key --ppid 023c71bf4a0b99
	assert_equal "$(cat dev.key)" precious
}

@test "--generate-key: the key file is removed when the certificate cannot be issued" {
	CA=$F/factory
	# A PPID that has a certificate already.
	issue_refused 3 "m2m-ca: cannot issue: PPID $V1 already has a valid idevid certificate (serial $(serial_of "$F/x.pem"), device SN-1); --replace supersedes it" \
		--generate-key dev.key --ppid "$V1"
	assert_file_not_exists dev.key
	# A key the profile does not allow.
	issue_refused 3 'm2m-ca: cannot issue: profile idevid does not allow ed25519 keys (allowed: ec-p256 ec-p384 rsa2048 rsa3072)' \
		--generate-key dev.key --algorithm ed25519 --ppid 023c71bf4a0b99
	assert_file_not_exists dev.key
	assert_equal "$(here)" ''
}

@test "--pkcs12 --passout: a 0600 PKCS#12 file of key, certificate and chain" {
	new_ca ca
	export P=p12-pass
	run --separate-stderr m2m-ca issue --ca ca --generate-key dev.p12 --pkcs12 --passout env:P --ppid "$V1" --out dev.pem
	assert_ok ''
	assert_equal "$(stat -c %a dev.p12)" 600
	run openssl pkcs12 -info -in dev.p12 -passin env:P -noout
	assert_success
	run openssl pkcs12 -in dev.p12 -passin env:P -nokeys -clcerts
	assert_success
	assert_equal "$(openssl x509 <<<"$output")" "$(cat dev.pem)"
	run openssl pkcs12 -in dev.p12 -passin env:P -nokeys -cacerts
	assert_success
	assert_equal "$(openssl x509 <<<"$output")" "$(cat ca/ca.crt)"
	openssl pkcs12 -in dev.p12 -passin env:P -nocerts -nodes | openssl pkey -out dev.key
	same_key dev.key dev.pem
	run openssl pkcs12 -info -in dev.p12 -passin pass:wrong -noout
	assert_failure
	assert_equal "$(here)" $'ca\ndev.key\ndev.p12\ndev.pem'
}

@test "--pkcs12 refuses an existing file before issuing" {
	CA=$F/factory
	export P=p12-pass
	echo precious > dev.p12
	issue_refused 3 "m2m-ca: cannot create 'dev.p12': File exists" \
		--generate-key dev.p12 --pkcs12 --passout env:P --ppid 023c71bf4a0b98
	assert_equal "$(cat dev.p12)" precious
}

@test "--pkcs12 with a passphrase source that cannot be read issues nothing" {
	CA=$F/factory
	issue_refused -p 3 "m2m-ca: " --generate-key dev.p12 --pkcs12 --passout env:UNSET_M2M_VAR --ppid 023c71bf4a0b97
	[[ $stderr == *"environment variable 'UNSET_M2M_VAR' is not set"* ]]
	assert_file_not_exists dev.p12
}

# ---- issue: one valid certificate per PPID and per device -------------------------------

@test "a second IDevID for the same PPID: exit 3, nothing issued" {
	CA=$F/factory
	local s
	s=$(serial_of "$F/x.pem")
	issue_refused 3 "m2m-ca: cannot issue: PPID $V1 already has a valid idevid certificate (serial $s, device SN-1); --replace supersedes it" \
		--csr "$F/ec.csr" --bluetooth 00:1A:7D:DA:71:13 --serial SN-1
	issue_refused 3 "m2m-ca: cannot issue: PPID $V1 already has a valid idevid certificate (serial $s, device SN-1); --replace supersedes it" \
		--csr "$F/p384.csr" --ppid "$V1" --serial SN-OTHER
}

@test "the same device serial with another PPID: exit 3, nothing issued" {
	CA=$F/factory
	issue_refused 3 "m2m-ca: cannot issue: device SN-1 already has a valid idevid certificate (serial $(serial_of "$F/x.pem"), PPID $V1); --replace supersedes it" \
		--csr "$F/ec.csr" --bluetooth 00:1A:7D:DA:71:14 --serial SN-1
}

@test "--replace revokes the old certificate as superseded" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --serial SN-1 --out old.pem
	local old new
	old=$(serial_of old.pem)
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/p384.csr" --ppid "$V1" --serial SN-1 --replace --out new.pem --json
	assert_success
	assert_stderr "m2m-ca: warning: revoked $old (superseded)"
	new=$(serial_of new.pem)
	assert_output --partial "\"certificate_serial\":\"$new\","
	assert_output --partial ",\"replaced\":\"$old\",\"out\":\"new.pem\"}"
	run --separate-stderr m2m-ca list --ca ca
	assert_ok "$old idevid  revoked 9999-12-31T23:59:59Z SN-1 $V1
$new idevid  valid   9999-12-31T23:59:59Z SN-1 $V1"
	run --separate-stderr m2m-ca show --ca ca "$old" --json
	assert_success
	assert_equal "$(json_field status <<<"$output")" revoked
	assert_equal "$(json_field reason <<<"$output")" superseded
	[[ $(json_field revoked_at <<<"$output") =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]
	# The audit log: the revocation, then the issue naming what it replaces.
	run --separate-stderr m2m-ca audit --ca ca --json
	assert_success
	assert_line --index 2 --partial "\"op\":\"revoke\",\"detail\":{\"serial\":\"$old\",\"reason\":\"superseded\"}"
	assert_line --index 3 --partial "\"op\":\"issue\",\"detail\":{\"serial\":\"$new\",\"profile\":\"idevid\",\"ppid\":\"$V1\",\"device_serial\":\"SN-1\",\"subject\":\"serialNumber=SN-1,OU=Devices,O=Example\",\"replaces\":\"$old\"}"
	# --replace also takes over a device serial from another PPID.
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --serial SN-1 --replace --out third.pem
	assert_success
	assert_stderr "m2m-ca: warning: revoked $new (superseded)"
	run --separate-stderr m2m-ca list --ca ca --status valid
	assert_ok "$(serial_of third.pem) idevid  valid   9999-12-31T23:59:59Z SN-1 023c71bf4a0b2e"
}

# ---- issue: bad input, exit 3 (nothing issued, nothing written) ---------------------------

@test "issue: a malformed request" {
	CA=$F/factory
	issue_refused -p 3 "m2m-ca: invalid request '$F/garbage.csr': " --csr "$F/garbage.csr" --ppid 023c71bf4a0b99
	issue_refused -p 3 "m2m-ca: invalid request '$F/empty.csr': " --csr "$F/empty.csr" --ppid 023c71bf4a0b99
	# A certificate is not a request.
	issue_refused -p 3 "m2m-ca: invalid request '$F/x.pem': not a PEM certificate request" --csr "$F/x.pem" --ppid 023c71bf4a0b99
}

@test "issue: a truncated request" {
	CA=$F/factory
	issue_refused -p 3 "m2m-ca: invalid request '$F/trunc.csr': not a PEM certificate request" --csr "$F/trunc.csr" --ppid 023c71bf4a0b99
	issue_refused -p 3 "m2m-ca: invalid request '$F/trunc.der': not a DER certificate request" --csr "$F/trunc.der" --ppid 023c71bf4a0b99
	run --separate-stderr m2m-ca issue --ca "$CA" --csr - --ppid 023c71bf4a0b99 < "$F/trunc.csr"
	assert_error_prefix 3 "m2m-ca: invalid request '-': not a PEM certificate request"
}

@test "issue: a request whose signature does not verify, exit 3" {
	CA=$F/factory
	issue_refused -p 3 "m2m-ca: invalid request '$F/badsig.der': request signature does not verify (no proof of possession)" \
		--csr "$F/badsig.der" --ppid 023c71bf4a0b99
}

@test "issue: keys the CA does not issue to (RSA-1024, secp256k1, Ed25519 for an IDevID)" {
	CA=$F/factory
	issue_refused 3 "m2m-ca: invalid request '$F/rsa1024.csr': request: RSA key of 1024 bits is not supported (2048 or 3072)" \
		--csr "$F/rsa1024.csr" --ppid 023c71bf4a0b99
	issue_refused 3 "m2m-ca: invalid request '$F/k1.csr': request: EC curve secp256k1 is not supported (P-256 or P-384)" \
		--csr "$F/k1.csr" --ppid 023c71bf4a0b99
	issue_refused 3 'm2m-ca: cannot issue: profile idevid does not allow ed25519 keys (allowed: ec-p256 ec-p384 rsa2048 rsa3072)' \
		--csr "$F/ed25519.csr" --ppid 023c71bf4a0b99
}

@test "issue: a request with a subjectAltName the profile does not allow" {
	CA=$F/factory
	issue_refused 3 'm2m-ca: cannot issue: request asks for a subjectAltName of a kind profile idevid does not allow (DNS)' \
		--csr "$F/dns.csr" --ppid 023c71bf4a0b99
}

@test "issue: a device serial that is too long or not PrintableString" {
	CA=$F/factory
	issue_refused 3 'm2m-ca: cannot issue: serial is 65 characters long, more than 64' \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99 --serial "$(repeat A 65)"
	issue_refused 3 "m2m-ca: cannot issue: serial 'SN_1': '_' is not allowed (PrintableString)" \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99 --serial SN_1
	issue_refused 3 "m2m-ca: cannot issue: serial 'SN*1': '*' is not allowed (PrintableString)" \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99 --serial 'SN*1'
	# 64 characters of the whole PrintableString set are fine.
	new_ca ca
	local sn
	sn="Az09 '()+,-./:=?$(repeat x 48)"
	assert_equal "${#sn}" 64
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --serial "$sn" --out a.pem
	assert_ok ''
	run openssl asn1parse -in a.pem
	assert_line --regexp "prim: PRINTABLESTRING +:Az09 '\(\)\+,-\./:=\?x{48}$"
}

@test "issue: an invalid PPID or address" {
	CA=$F/factory
	issue_refused 3 'm2m-ca: invalid --ppid: byte 1: bluetooth address is truncated (1 of 6 bytes)' \
		--csr "$F/ec.csr" --ppid 0100
	issue_refused 3 "m2m-ca: invalid --ppid: 'z' at position 1 is not a hex digit" \
		--csr "$F/ec.csr" --ppid zz
	issue_refused 3 'm2m-ca: invalid --ppid: empty input' \
		--csr "$F/ec.csr" --ppid ''
	issue_refused 3 "m2m-ca: invalid --wifi address: '01:00:5E:00:00:01' has the group (multicast) bit set" \
		--csr "$F/ec.csr" --wifi 01:00:5E:00:00:01
	issue_refused 3 "m2m-ca: invalid --imei address: '490154203237519' fails the Luhn check (the check digit should be 8)" \
		--csr "$F/ec.csr" --imei 490154203237519
}

@test "issue: no PPID at all" {
	CA=$F/factory
	issue_refused 3 "m2m-ca: cannot issue: an IDevID needs the device's PPID (--ppid or its addresses)" \
		--csr "$F/ec.csr"
	issue_refused 3 "m2m-ca: cannot issue: an IDevID needs the device's PPID (--ppid or its addresses)" \
		--csr "$F/ec.csr" --serial SN-77
}

@test "issue: a profile that does not exist, an ldevid profile, an idevid profile without hw-type" {
	CA=$F/factory
	issue_refused 3 "m2m-ca: cannot issue: CA '$CA' has no profile 'nope'" \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99 --profile nope
	issue_refused 3 "m2m-ca: cannot issue: profile ldevid issues LDevIDs: the request must come with the device's IDevID" \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99 --profile ldevid
	m2m-ca init bare --parent "$F/root" --subject CN=Bare > /dev/null
	CA=bare
	issue_refused 3 "m2m-ca: cannot issue: profile idevid has no hw-type: set the device model OID with 'm2m-ca profile set idevid hw-type=OID'" \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99
}

@test "issue: a request file that cannot be read, exit 4" {
	CA=$F/factory
	issue_refused 4 "m2m-ca: cannot read the input: cannot open 'nope.csr': No such file or directory" \
		--csr nope.csr --ppid 023c71bf4a0b99
	head -c 70000 /dev/zero > huge.csr
	issue_refused 3 "m2m-ca: cannot read the input: 'huge.csr' is larger than 65536 bytes" \
		--csr huge.csr --ppid 023c71bf4a0b99
}

@test "issue: a directory that is not a CA, exit 3" {
	CA=nope
	issue_refused 3 "m2m-ca: cannot open the CA: 'nope' is not a CA directory (no ca.conf)" \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99
	mkdir empty
	run --separate-stderr m2m-ca list --ca empty
	assert_error 3 "m2m-ca: cannot open the CA: 'empty' is not a CA directory (no ca.conf)"
	# The current directory by default.
	run --separate-stderr m2m-ca list
	assert_error 3 "m2m-ca: cannot open the CA: '.' is not a CA directory (no ca.conf)"
}

@test "issue: a damaged CA directory (ca.conf, ca.crt, ca.key, ledger), exit 3" {
	cp -a "$F/factory" conf
	echo 'garbage line' >> conf/ca.conf
	local n uri
	n=$(wc -l < conf/ca.conf)
	run --separate-stderr m2m-ca issue --ca conf --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --out out.pem
	assert_error 3 "m2m-ca: cannot open the CA: 'conf/ca.conf': line $n: expected 'key = value', '[section]', a comment or a blank line, not 'garbage line'"

	cp -a "$F/factory" nocrt
	rm nocrt/ca.crt
	run --separate-stderr m2m-ca issue --ca nocrt --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --out out.pem
	assert_error 3 "m2m-ca: cannot open the CA: CA directory 'nocrt' is damaged: cannot open 'nocrt/ca.crt': No such file or directory"
	run --separate-stderr m2m-ca list --ca nocrt
	assert_error 3 "m2m-ca: cannot open the CA: CA directory 'nocrt' is damaged: cannot open 'nocrt/ca.crt': No such file or directory"

	cp -a "$F/factory" badcrt
	echo junk > badcrt/ca.crt
	run --separate-stderr m2m-ca list --ca badcrt
	assert_error_prefix 3 "m2m-ca: cannot open the CA: CA directory 'badcrt' is damaged: 'badcrt/ca.crt': "

	cp -a "$F/factory" otherkey
	cp "$F/root/ca.key" otherkey/ca.key
	CA=otherkey
	issue_refused 3 "m2m-ca: cannot open the CA: CA key 'otherkey/ca.key' does not match 'otherkey/ca.crt'" \
		--csr "$F/ec.csr" --ppid 023c71bf4a0b99

	cp -a "$F/factory" nokey
	rm nokey/ca.key
	run --separate-stderr m2m-ca issue --ca nokey --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --out out.pem
	assert_error 3 "m2m-ca: cannot open the CA: cannot open 'nokey/ca.key': No such file or directory"

	cp -a "$F/factory" noledger
	if [ $LEDGER = sqlite ]; then
		rm noledger/ledger.db
		run --separate-stderr m2m-ca issue --ca noledger --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --out out.pem
		assert_error 3 "m2m-ca: cannot open the CA: CA directory 'noledger' is damaged: no ledger at 'noledger/ledger.db'"
		assert_file_not_exists noledger/ledger.db
	else
		# A database that holds no ledger.
		pg_newdb noledger
		uri=$(pg_uri noledger)
		sed -i "s|^ledger = .*|ledger = ${uri//&/\\&}|" noledger/ca.conf
		run --separate-stderr m2m-ca issue --ca noledger --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --out out.pem
		assert_error 3 "m2m-ca: cannot open the CA: CA directory 'noledger' is damaged: no ledger at '$(pg_uri noledger)'"
		assert_equal "$(pg_sql noledger "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0
	fi

	cp -a "$F/factory" badledger
	if [ $LEDGER = sqlite ]; then
		echo junk > badledger/ledger.db
		run --separate-stderr m2m-ca list --ca badledger
		assert_error 3 "m2m-ca: cannot open the CA: 'badledger/ledger.db' is not an m2m ledger"
	else
		pg_newdb badledger
		pg_sql badledger 'CREATE TABLE certs (junk text)'
		uri=$(pg_uri badledger)
		sed -i "s|^ledger = .*|ledger = ${uri//&/\\&}|" badledger/ca.conf
		run --separate-stderr m2m-ca list --ca badledger
		assert_error 3 "m2m-ca: cannot open the CA: '$(pg_uri badledger)' is not an m2m ledger (it has tables of the ledger's names, but no m2m_schema)"
	fi
	assert_file_not_exists out.pem
}

@test "issue usage errors: exit 2, nothing issued" {
	local before
	before=$(records "$F/factory")
	local hint="(see 'm2m-ca issue --help')"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --ppid "$V1"
	assert_error 2 "m2m-ca: give one of --csr, --generate-key, --batch or --request $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --generate-key k --ppid 023c71bf4a0b99
	assert_error 2 "m2m-ca: give one of --csr, --generate-key, --batch or --request $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --batch m.csv
	assert_error 2 "m2m-ca: give one of --csr, --generate-key, --batch or --request $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --chain --der
	assert_error 2 "m2m-ca: --chain needs PEM output, not --der $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --generate-key k --pkcs12 --ppid 023c71bf4a0b99
	assert_error 2 "m2m-ca: --pkcs12 goes with --generate-key and --passout $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --pkcs12 --passout env:P --ppid 023c71bf4a0b99
	assert_error 2 "m2m-ca: --pkcs12 goes with --generate-key and --passout $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --batch m.csv --serial SN-1
	assert_error 2 "m2m-ca: --batch takes PPIDs, serials and outputs from the manifest $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --batch m.csv --ppid "$V1"
	assert_error 2 "m2m-ca: --batch takes PPIDs, serials and outputs from the manifest $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --batch m.csv --wifi 3C:71:BF:4A:0B:2E
	assert_error 2 "m2m-ca: --batch takes PPIDs, serials and outputs from the manifest $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --batch m.csv --out x.pem
	assert_error 2 "m2m-ca: --batch takes PPIDs, serials and outputs from the manifest $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --ppid 023c71bf4a0b99 --out-dir d
	assert_error 2 "m2m-ca: --out-dir goes with --batch $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --ppid "$V1" --bluetooth 00:1A:7D:DA:71:13
	assert_error 2 "m2m-ca: give either --ppid or addresses, not both $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --wifi 3C:71:BF:4A:0B:2E --wifi 3C:71:BF:4A:0B:2F
	assert_error 2 "m2m-ca: option '--wifi' given twice $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr "$F/ec.csr" --ppid 023c71bf4a0b99 extra
	assert_error 2 "m2m-ca: unexpected argument 'extra' $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --generate-key k --algorithm dsa --ppid 023c71bf4a0b99
	assert_error 2 "m2m-ca: unknown algorithm 'dsa' $hint"
	run --separate-stderr m2m-ca issue --ca "$F/factory" --csr
	assert_error 2 "m2m-ca: option '--csr' needs an argument (FILE) $hint"
	assert_equal "$(records "$F/factory")" "$before"
	assert_equal "$(here)" ''
}

# ---- issue --batch ---------------------------------------------------------------------------

@test "batch: ppid column, csr cells, --out-dir: one CSV line per row, the files are the certificates" {
	new_ca ca
	mkdir out
	write_file m.csv <<-EOF
	serial,ppid,csr
	SN-0001,$V1,$F/ec.csr
	SN 0002,023c71bf4a0b2e,$F/p384.csr
	"SN,0003",$V2,$F/ec.der
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --regexp "^SN-0001,$V1,issued,[0-9a-f]{32},out/SN-0001\\.pem\$"
	assert_line --index 1 --regexp '^SN 0002,023c71bf4a0b2e,issued,[0-9a-f]{32},out/SN_0002\.pem$'
	assert_line --index 2 --regexp "^\"SN,0003\",$V2,issued,[0-9a-f]{32},out/SN_0003\\.pem\$"
	local line serial path
	for line in "${lines[@]}"; do
		path=${line##*,}
		serial=${line%,*}
		serial=${serial##*,}
		assert_equal "$(serial_of "$path")" "$serial"
		run --separate-stderr m2m-ca show --ca ca "$serial" --pem
		assert_ok "$(cat "$path")"
	done
	csr_matches "$F/ec.csr" out/SN-0001.pem
	csr_matches "$F/p384.csr" out/SN_0002.pem
	run openssl x509 -in out/SN_0003.pem -noout -subject
	assert_output 'subject=O = Example, OU = Devices, serialNumber = "SN,0003"'
	assert_equal "$(records ca)" 3
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 4 entries'
}

@test "batch: address columns, key cells, out cells; an unknown column is warned about" {
	new_ca ca
	mkdir keys out
	write_file m.csv <<-'EOF'
	Serial,Bluetooth,wifi,KEY,out,note
	SN-A1,00:1A:7D:DA:71:20,,keys/a1.key,,hello
	SN-A2,,3C:71:BF:4A:0B:40,keys/a2.key,out/two.pem,
	SN-A3,00:1A:7D:DA:71:21,3c-71-bf-4a-0b-41,keys/a3.key,,x
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	assert_stderr "m2m-ca: warning: m.csv:1: ignoring column 'note'"
	assert_line --index 0 --regexp '^SN-A1,01001a7dda7120,issued,[0-9a-f]{32},out/SN-A1\.pem$'
	assert_line --index 1 --regexp '^SN-A2,023c71bf4a0b40,issued,[0-9a-f]{32},out/two\.pem$'
	assert_line --index 2 --regexp '^SN-A3,03001a7dda71213c71bf4a0b41,issued,[0-9a-f]{32},out/SN-A3\.pem$'
	assert_equal "${#lines[@]}" 3
	assert_equal "$(stat -c %a keys/a1.key keys/a2.key keys/a3.key)" $'600\n600\n600'
	same_key keys/a1.key out/SN-A1.pem
	same_key keys/a2.key out/two.pem
	same_key keys/a3.key out/SN-A3.pem
	# A key already there is used.
	write_file n.csv <<-'EOF'
	serial,ppid,key
	SN-B1,023c71bf4a0b50,keys/a1.key
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch n.csv --out-dir out
	assert_success
	same_key keys/a1.key out/SN-B1.pem
}

@test "batch --json: one object per row, in manifest order, errors included" {
	new_ca ca
	mkdir out
	write_file m.csv <<-EOF
	serial,ppid,csr
	SN-1,$V1,$F/ec.csr
	SN-2,zz,$F/ec.csr
	SN-3,023c71bf4a0b2e,$F/ed25519.csr
	SN-4,023c71bf4a0b2f,$F/ec.csr
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out --json
	assert_failure 3
	assert_equal "${#lines[@]}" 4
	printf '%s\n' "$output" | json_lines
	assert_line --index 0 --regexp "^\\{\"line\":2,\"serial\":\"SN-1\",\"ppid\":\"$V1\",\"status\":\"issued\",\"certificate_serial\":\"[0-9a-f]{32}\",\"out\":\"out/SN-1\\.pem\"\\}\$"
	assert_line --index 1 '{"line":3,"serial":"SN-2","ppid":"","status":"error","error":"column '"'ppid'"': '"'z'"' at position 1 is not a hex digit"}'
	assert_line --index 2 '{"line":4,"serial":"SN-3","ppid":"023c71bf4a0b2e","status":"error","error":"profile idevid does not allow ed25519 keys (allowed: ec-p256 ec-p384 rsa2048 rsa3072)"}'
	assert_line --index 3 --regexp '^\{"line":5,"serial":"SN-4","ppid":"023c71bf4a0b2f","status":"issued","certificate_serial":"[0-9a-f]{32}","out":"out/SN-4\.pem"\}$'
	assert_stderr - <<-'EOF'
	m2m-ca: m.csv:3: column 'ppid': 'z' at position 1 is not a hex digit
	m2m-ca: m.csv:4: profile idevid does not allow ed25519 keys (allowed: ec-p256 ec-p384 rsa2048 rsa3072)
	m2m-ca: m.csv: 2 of 4 rows failed
	EOF
	assert_equal "$(serial_of out/SN-1.pem)" "$(json_field certificate_serial <<<"${lines[0]}")"
}

@test "batch: bad rows are reported and do not stop the others; exit 3 with the summary" {
	new_ca ca
	mkdir out
	write_file m.csv <<-EOF
	serial,ppid,csr,out
	SN-0001,$V1,$F/ec.csr,
	SN-0002,023c71bf4a0b2e,$F/ec.csr,out/two.pem
	SN-0003,zz,$F/ec.csr,
	SN-0006,023c71bf4a0b30,nonexist.csr,
	SN-0007,023c71bf4a0b31,,
	SN_10,023c71bf4a0b34,$F/ec.csr,
	SN-0011,023c71bf4a0b35,$F/ed25519.csr,
	SN-0012,023c71bf4a0b36,$F/rsa1024.csr,
	SN-0013,023c71bf4a0b37,$F/ec.csr,,extra
	SN-0014,,$F/ec.csr,
	SN-0015,01:00:5E:00:00:01,$F/ec.csr,
	SN-0099,023c71bf4a0b99,$F/ec.csr,
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_failure 3
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --regexp "^SN-0001,$V1,issued,[0-9a-f]{32},out/SN-0001\\.pem\$"
	assert_line --index 1 --regexp '^SN-0002,023c71bf4a0b2e,issued,[0-9a-f]{32},out/two\.pem$'
	assert_line --index 2 --regexp '^SN-0099,023c71bf4a0b99,issued,[0-9a-f]{32},out/SN-0099\.pem$'
	assert_equal "${#stderr_lines[@]}" 10
	assert_stderr_line "m2m-ca: m.csv:4: column 'ppid': 'z' at position 1 is not a hex digit"
	assert_stderr_line "m2m-ca: m.csv:5: request 'nonexist.csr': cannot open 'nonexist.csr': No such file or directory"
	assert_stderr_line "m2m-ca: m.csv:6: no request: the row needs a 'csr' or a 'key' cell"
	assert_stderr_line "m2m-ca: m.csv:7: column 'serial': serial 'SN_10': '_' is not allowed (PrintableString)"
	assert_stderr_line 'm2m-ca: m.csv:8: profile idevid does not allow ed25519 keys (allowed: ec-p256 ec-p384 rsa2048 rsa3072)'
	assert_stderr_line "m2m-ca: m.csv:9: request '$F/rsa1024.csr': request: RSA key of 1024 bits is not supported (2048 or 3072)"
	assert_stderr_line -p 'm2m-ca: m.csv:10: '
	assert_stderr_line -p 'm2m-ca: m.csv:11: '
	assert_stderr_line -p 'm2m-ca: m.csv:12: '
	assert_equal "${stderr_lines[9]}" 'm2m-ca: m.csv: 9 of 12 rows failed'
	# The errors come in row order.
	local i
	for i in 0 1 2 3 4 5 6 7 8; do
		[[ ${stderr_lines[$i]} == "m2m-ca: m.csv:$((i + 4)): "* ]]
	done
	assert_equal "$(records ca)" 3
	assert_equal "$(ls out)" $'SN-0001.pem\nSN-0099.pem\ntwo.pem'
}

@test "batch: duplicates within the manifest and with the ledger" {
	new_ca ca
	mkdir out
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0bee --serial SN-OLD --out old.pem
	write_file m.csv <<-EOF
	serial,ppid,csr,out
	SN-1,$V1,$F/ec.csr,
	SN-2,$V1,$F/ec.csr,
	SN-1,023c71bf4a0b2e,$F/ec.csr,
	SN-4,023c71bf4a0b2f,$F/ec.csr,out/SN-1.pem
	SN-5,023c71bf4a0bee,$F/ec.csr,
	SN-OLD,023c71bf4a0bef,$F/ec.csr,
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_failure 3
	assert_line --index 0 --regexp "^SN-1,$V1,issued,[0-9a-f]{32},out/SN-1\\.pem\$"
	assert_equal "${#lines[@]}" 1
	local old
	old=$(serial_of old.pem)
	assert_stderr - <<-EOF
	m2m-ca: m.csv:3: duplicate ppid $V1 (first on line 2)
	m2m-ca: m.csv:4: duplicate serial 'SN-1' (first on line 2)
	m2m-ca: m.csv:5: output 'out/SN-1.pem' is also line 2's
	m2m-ca: m.csv:6: PPID 023c71bf4a0bee already has a valid idevid certificate (serial $old, device SN-OLD); --replace supersedes it
	m2m-ca: m.csv:7: device SN-OLD already has a valid idevid certificate (serial $old, PPID 023c71bf4a0bee); --replace supersedes it
	m2m-ca: m.csv: 5 of 6 rows failed
	EOF
	assert_equal "$(records ca)" 2
}

@test "batch rerun: every good row is existing, nothing new is issued, a deleted output is rewritten" {
	new_ca ca
	mkdir out
	write_file m.csv <<-EOF
	serial,ppid,csr
	SN-1,$V1,$F/ec.csr
	SN-2,zz,$F/ec.csr
	SN-3,023c71bf4a0b2e,$F/ec.csr
	SN-4,023c71bf4a0b2f,$F/ec.csr
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_failure 3
	assert_equal "${#lines[@]}" 3
	local first=("${lines[@]}") audit
	audit=$(m2m-ca audit --ca ca)
	cp out/SN-3.pem keep.pem
	rm out/SN-3.pem
	echo stale > out/SN-4.pem
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_failure 3
	assert_stderr - <<-'EOF'
	m2m-ca: m.csv:3: column 'ppid': 'z' at position 1 is not a hex digit
	m2m-ca: m.csv: 1 of 4 rows failed
	EOF
	assert_equal "${#lines[@]}" 3
	local i
	for i in 0 1 2; do
		assert_equal "${lines[$i]}" "${first[$i]/,issued,/,existing,}"
	done
	assert_equal "$(records ca)" 3
	# Nothing issued: no audit entry either.
	assert_equal "$(m2m-ca audit --ca ca)" "$audit"
	cmp out/SN-3.pem keep.pem
	openssl x509 -in out/SN-4.pem -noout
	assert_equal "$(serial_of out/SN-4.pem)" "$(cut -d, -f4 <<<"${first[2]}")"
	# --json says so too.
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out --json
	assert_failure 3
	assert_line --index 0 --partial ',"status":"existing",'
	assert_equal "$(records ca)" 3
}

@test "batch rerun: a row whose request has another key is not handed the old certificate" {
	new_ca ca
	mkdir out
	write_file m.csv <<-EOF
	serial,ppid,csr
	SN-1,$V1,$F/ec.csr
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	# The device made a new key; the manifest's row now has its request.
	write_file m.csv <<-EOF
	serial,ppid,csr
	SN-1,$V1,$F/p384.csr
	EOF
	rm out/SN-1.pem
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	# Whatever it reports, it must not hand out a certificate for a key the
	# row's request does not hold.
	if [ -e out/SN-1.pem ]; then
		csr_matches "$F/p384.csr" out/SN-1.pem ||
			fail "the row got a certificate for another key: $output"
	fi
	refute_output --partial ',existing,'
}

@test "batch rerun: a key cell whose key was lost is not paired with the old certificate" {
	new_ca ca
	mkdir keys out
	write_file m.csv <<-EOF
	serial,ppid,key
	SN-1,$V1,keys/dev.key
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	same_key keys/dev.key out/SN-1.pem
	rm keys/dev.key
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	if [ -e keys/dev.key ] && [[ $output == *,existing,* || $output == *,issued,* ]]; then
		same_key keys/dev.key out/SN-1.pem ||
			fail "the new key keys/dev.key was reported with a certificate for the lost one: $output"
	fi
}

@test "batch: JSON lines manifests" {
	new_ca ca
	mkdir out
	write_file m.jsonl <<-EOF
	{"serial":"SN-1","ppid":"$V1","csr":"$F/ec.csr"}
	  {"serial":"SN-2","wifi":"3C:71:BF:4A:0B:2E","csr":"$F/p384.csr","out":null}
	{"serial":"SN-3","ppid":"023c71bf4a0b30","csr":"$F/ec.csr","bogus":"x"}
	{"serial":5,"ppid":"023c71bf4a0b31","csr":"$F/ec.csr"}
	not json

	{"serial":"SN-6","ppid":"023c71bf4a0b32","key":"dev6.key","out":"six.pem","profile":"idevid"}
	EOF
	run --separate-stderr m2m-ca issue --ca ca --batch m.jsonl --out-dir out
	assert_failure 3
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --regexp "^SN-1,$V1,issued,[0-9a-f]{32},out/SN-1\\.pem\$"
	assert_line --index 1 --regexp '^SN-2,023c71bf4a0b2e,issued,[0-9a-f]{32},out/SN-2\.pem$'
	assert_line --index 2 --regexp '^SN-6,023c71bf4a0b32,issued,[0-9a-f]{32},six\.pem$'
	assert_stderr - <<-'EOF'
	m2m-ca: m.jsonl:3: unknown key 'bogus'
	m2m-ca: m.jsonl:4: the value of 'serial' must be a string
	m2m-ca: m.jsonl:5: not a JSON object (it must start with '{')
	m2m-ca: m.jsonl: 3 of 6 rows failed
	EOF
	csr_matches "$F/p384.csr" out/SN-2.pem
	same_key dev6.key six.pem
}

@test "batch --der writes DER files named .der" {
	new_ca ca
	mkdir out
	manifest m.csv 2 5
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out --der
	assert_success
	assert_line --index 0 --regexp '^SN-5-00001,021471bf000001,issued,[0-9a-f]{32},out/SN-5-00001\.der$'
	assert_equal "$(ls out)" $'SN-5-00001.der\nSN-5-00002.der'
	openssl x509 -inform DER -in out/SN-5-00001.der -outform DER | cmp - out/SN-5-00001.der
}

@test "batch: 600 rows (three groups of up to 256) issue 600 certificates" {
	new_ca ca
	mkdir out
	manifest m.csv 600 1
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 600
	assert_line --index 0 --regexp '^SN-1-00001,020471bf000001,issued,[0-9a-f]{32},out/SN-1-00001\.pem$'
	assert_line --index 599 --regexp '^SN-1-00600,020471bf000258,issued,[0-9a-f]{32},out/SN-1-00600\.pem$'
	assert_equal "$(grep -c ',issued,' <<<"$output")" 600
	assert_equal "$(find out -name '*.pem' | wc -l)" 600
	assert_equal "$(records ca)" 600
	assert_equal "$(cut -d, -f4 <<<"$output" | sort -u | wc -l)" 600
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 601 entries'
}

@test "batch: the records and audit entries it makes are clean JSON" {
	new_ca ca
	mkdir out
	manifest m.csv 300 2
	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	run --separate-stderr m2m-ca list --ca ca --json
	assert_success
	assert_equal "${#lines[@]}" 300
	printf '%s\n' "$output" | json_lines
	# An IDevID is vouched for by nobody.
	refute_output --partial '"vouched_by"'
	run --separate-stderr m2m-ca audit --ca ca --json
	assert_success
	printf '%s\n' "$output" | json_lines
	refute_output --partial 'vouched_by'
}

@test "batch: manifest header errors and unreadable manifests" {
	new_ca ca
	printf 'serial,ppid\nA,%s\n' "$V1" > nocsr.csv
	run --separate-stderr m2m-ca issue --ca ca --batch nocsr.csv
	assert_error 3 "m2m-ca: nocsr.csv:1: header: no 'csr' or 'key' column"
	: > empty.csv
	run --separate-stderr m2m-ca issue --ca ca --batch empty.csv
	assert_error 3 'm2m-ca: empty.csv: empty manifest (no header row)'
	printf 'ppid,csr\n%s,x.csr\n' "$V1" > noserial.csv
	run --separate-stderr m2m-ca issue --ca ca --batch noserial.csv
	assert_error_prefix 3 'm2m-ca: noserial.csv:1: '
	run --separate-stderr m2m-ca issue --ca ca --batch nonexist.csv
	assert_error 4 "m2m-ca: cannot open 'nonexist.csv': No such file or directory"
	# Header only: nothing to do, success.
	printf 'serial,ppid,csr\n' > header.csv
	run --separate-stderr m2m-ca issue --ca ca --batch header.csv
	assert_ok ''
	assert_equal "$(records ca)" 0
}

@test "batch from stdin: '<stdin>' in messages, --out-dir default ." {
	new_ca ca
	run --separate-stderr m2m-ca issue --ca ca --batch - <<-EOF
	serial,ppid,csr
	SN-1,$V1,$F/ec.csr
	SN-2,zz,$F/ec.csr
	EOF
	assert_failure 3
	assert_output --regexp "^SN-1,$V1,issued,[0-9a-f]{32},\\./SN-1\\.pem\$"
	assert_stderr - <<-'EOF'
	m2m-ca: <stdin>:3: column 'ppid': 'z' at position 1 is not a hex digit
	m2m-ca: <stdin>: 1 of 2 rows failed
	EOF
	assert_file_exists SN-1.pem
}

# ---- crash safety and concurrency -------------------------------------------------------------

@test "crash safety: a batch killed with SIGKILL and rerun leaves every certificate recorded, each PPID once" {
	new_ca ca
	mkdir out
	local n=3000 pid st=0 i files=0 before
	# One request for every row: the CA only needs a valid one.
	manifest m.csv $n 3
	m2m-ca issue --ca ca --batch m.csv --out-dir out > run1.out 2> run1.err 3>&- &
	pid=$!
	for ((i = 0; i < 1200; i++)); do
		files=$(find out -name '*.pem' | wc -l)
		[ "$files" -ge 300 ] && break
		sleep 0.025
	done
	kill -9 "$pid"
	wait "$pid" || st=$?
	# Killed partway, not finished.
	assert_equal "$st" 137
	[ "$files" -ge 300 ]
	before=$(records ca)
	[ "$before" -lt $n ] || fail "the batch had finished ($before records) before it was killed"

	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" $n
	# Everything committed before the kill is handed back, the rest issued.
	assert_equal "$(grep -c ',existing,' <<<"$output")" "$before"
	assert_equal "$(grep -c ',issued,' <<<"$output")" $((n - before))
	assert_equal "$(find out -name '*.pem' | wc -l)" $n

	# The ledger: one valid certificate per row, PPIDs and serials unique
	# (the text listing: SERIAL PROFILE STATUS NOT-AFTER DEVICE PPID).
	m2m-ca list --ca ca --status valid > valid.txt
	assert_equal "$(wc -l < valid.txt)" $n
	assert_equal "$(awk '{ print $6 }' valid.txt | sort -u | wc -l)" $n
	assert_equal "$(awk '{ print $1 }' valid.txt | sort -u | wc -l)" $n
	assert_equal "$(records ca)" $n
	# Every output file's certificate is the ledger's.
	m2m-ca export --ca ca --out all.pem
	python3 - all.pem out <<-'EOF'
	import os, sys
	text = open(sys.argv[1]).read()
	end = "-----END CERTIFICATE-----\n"
	ledger = set(c + end for c in text.split(end) if c.strip())
	names = [n for n in os.listdir(sys.argv[2]) if n.endswith(".pem")]
	bad = [n for n in names if open(os.path.join(sys.argv[2], n)).read() not in ledger]
	assert not bad, "not in the ledger: %s" % bad[:5]
	EOF
	local f
	for f in out/SN-3-00001.pem out/SN-3-01500.pem out/SN-3-03000.pem; do
		run --separate-stderr m2m-ca show --ca ca "$(serial_of "$f")" --pem
		assert_ok "$(cat "$f")"
	done
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok "audit log intact: $((n + 1)) entries"
}

@test "concurrency: 4 batches on one CA at once issue 1,000 certificates, serials unique, audit intact" {
	new_ca ca
	mkdir out
	local k pids=() st
	for k in 1 2 3 4; do
		manifest "m$k.csv" 250 $((10 + k))
	done
	for k in 1 2 3 4; do
		m2m-ca issue --ca ca --batch "m$k.csv" --out-dir out > "r$k.out" 2> "r$k.err" 3>&- &
		pids+=($!)
	done
	for k in 0 1 2 3; do
		st=0
		wait "${pids[$k]}" || st=$?
		assert_equal "$st" 0
	done
	for k in 1 2 3 4; do
		assert_equal "$(cat "r$k.err")" ''
		assert_equal "$(grep -c ',issued,' "r$k.out")" 250
	done
	assert_equal "$(find out -name '*.pem' | wc -l)" 1000
	# SERIAL PROFILE STATUS NOT-AFTER DEVICE PPID, each column unique.
	m2m-ca list --ca ca > all.txt
	assert_equal "$(wc -l < all.txt)" 1000
	local col
	for col in 1 5 6; do
		assert_equal "$(awk -v c=$col '{ print $c }' all.txt | sort -u | wc -l)" 1000
	done
	assert_equal "$(grep -c ' idevid  valid   ' all.txt)" 1000
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 1001 entries'
}

# ---- revoke ---------------------------------------------------------------------------------

@test "revoke: reasons, output, the ledger and the audit log" {
	new_ca ca
	local i s=()
	for i in 1 2 3; do
		m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "023c71bf00000$i" --out "c$i.pem"
		s+=("$(serial_of "c$i.pem")")
	done
	run --separate-stderr m2m-ca revoke --ca ca "${s[0]}" --reason keyCompromise
	assert_ok "revoked ${s[0]} (keyCompromise)"
	# The serial in any case, with leading zeros: printed as the ledger
	# spells it.  Reasons in any case.
	run --separate-stderr m2m-ca revoke --ca ca "${s[1]^^}" --json
	assert_ok "{\"certificate_serial\":\"${s[1]}\",\"status\":\"revoked\",\"reason\":\"unspecified\"}"
	run --separate-stderr m2m-ca revoke --ca ca "00${s[2]}" --reason CESSATIONOFOPERATION
	assert_ok "revoked ${s[2]} (cessationOfOperation)"
	run --separate-stderr m2m-ca list --ca ca --status revoked
	assert_ok "${s[0]} idevid  revoked 9999-12-31T23:59:59Z 023c71bf000001 023c71bf000001
${s[1]} idevid  revoked 9999-12-31T23:59:59Z 023c71bf000002 023c71bf000002
${s[2]} idevid  revoked 9999-12-31T23:59:59Z 023c71bf000003 023c71bf000003"
	run --separate-stderr m2m-ca show --ca ca "${s[0]}" --json
	assert_equal "$(json_field reason <<<"$output")" keyCompromise
	run --separate-stderr m2m-ca show --ca ca "${s[2]}"
	assert_line 'status: revoked'
	assert_line 'reason: cessationOfOperation'
	assert_line --regexp '^revoked: 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
	run --separate-stderr m2m-ca audit --ca ca
	assert_line --index 4 --regexp "^5 [-0-9T:Z]+ revoke \\{\"serial\":\"${s[0]}\",\"reason\":\"keyCompromise\"\\}\$"
	assert_line --index 5 --regexp "^6 [-0-9T:Z]+ revoke \\{\"serial\":\"${s[1]}\",\"reason\":\"unspecified\"\\}\$"
	assert_line --index 6 --regexp "^7 [-0-9T:Z]+ revoke \\{\"serial\":\"${s[2]}\",\"reason\":\"cessationOfOperation\"\\}\$"
	# A revoked PPID may get a new certificate.
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf000001 --out c4.pem
	assert_ok ''
	# Every reason a revocation can carry.
	local reason n=10
	for reason in affiliationChanged superseded certificateHold privilegeWithdrawn aACompromise cACompromise; do
		m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "023c71bf0000$n" --out r.pem
		run --separate-stderr m2m-ca revoke --ca ca "$(serial_of r.pem)" --reason "$reason"
		assert_ok "revoked $(serial_of r.pem) ($reason)"
		n=$((n + 1))
	done
}

@test "revoke: unknown serial, revoked twice, not hex: exit 3; bad reason or no serial: exit 2" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out c.pem
	local s audit
	s=$(serial_of c.pem)
	run --separate-stderr m2m-ca revoke --ca ca 0123456789abcdef
	assert_error 3 "m2m-ca: cannot revoke '0123456789abcdef': no certificate with serial 0123456789abcdef in the ledger"
	run --separate-stderr m2m-ca revoke --ca ca xyz
	assert_error 3 "m2m-ca: cannot revoke 'xyz': 'xyz' is not a certificate serial (hex)"
	run --separate-stderr m2m-ca revoke --ca ca "$s"
	assert_success
	audit=$(m2m-ca audit --ca ca)
	run --separate-stderr m2m-ca revoke --ca ca "$s" --reason keyCompromise
	assert_error 3 "m2m-ca: cannot revoke '$s': certificate $s is already revoked"
	assert_equal "$(m2m-ca audit --ca ca)" "$audit"
	run --separate-stderr m2m-ca show --ca ca "$s" --json
	assert_equal "$(json_field reason <<<"$output")" unspecified
	local hint="(see 'm2m-ca revoke --help')"
	run --separate-stderr m2m-ca revoke --ca ca "$s" --reason bogus
	assert_error 2 "m2m-ca: unknown reason 'bogus' (e.g. keyCompromise, superseded, cessationOfOperation) $hint"
	run --separate-stderr m2m-ca revoke --ca ca "$s" --reason removeFromCRL
	assert_error 2 "m2m-ca: unknown reason 'removeFromCRL' (e.g. keyCompromise, superseded, cessationOfOperation) $hint"
	run --separate-stderr m2m-ca revoke --ca ca
	assert_error 2 "m2m-ca: revoke needs the certificate serial $hint"
	run --separate-stderr m2m-ca revoke --ca ca "$s" "$s"
	assert_error 2 "m2m-ca: revoke takes one serial $hint"
	assert_equal "$(m2m-ca audit --ca ca)" "$audit"
}

# ---- crl ------------------------------------------------------------------------------------------

@test "crl: signed by the CA, numbered 1, 2, listing the revoked serials with their reasons" {
	new_ca ca
	local i s=()
	for i in 1 2 3; do
		m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "023c71bf00000$i" --out "c$i.pem"
		s+=("$(serial_of "c$i.pem")")
	done
	m2m-ca revoke --ca ca "${s[0]}" --reason keyCompromise > /dev/null
	m2m-ca revoke --ca ca "${s[1]}" > /dev/null
	run --separate-stderr m2m-ca crl --ca ca --out one.crl --json
	assert_ok "{\"crl_number\":1,\"out\":\"one.crl\",\"bytes\":$(stat -c %s one.crl)}"
	run openssl crl -in one.crl -noout -verify -CAfile ca/ca.crt
	assert_success
	assert_output 'verify OK'
	run openssl crl -in one.crl -noout -text
	assert_success
	assert_line --regexp '^ +Version 2 \(0x1\)$'
	assert_line --regexp '^ +Issuer: CN = m2m issuing CA ca$'
	assert_line --regexp '^ +X509v3 CRL Number: $'
	assert_line --regexp '^ +1$'
	assert_line --regexp '^ +X509v3 Authority Key Identifier: $'
	assert_line --regexp "^ +Serial Number: ${s[0]^^}\$"
	assert_line --regexp "^ +Serial Number: ${s[1]^^}\$"
	refute_line --partial "${s[2]^^}"
	assert_line --regexp '^ +Key Compromise$'
	# RFC 5280: no reasonCode for unspecified: one reason in all.
	assert_equal "$(grep -c 'CRL Reason Code' <<<"$output")" 1
	local ski
	ski=$(ext_hex ca/ca.crt 'X509v3 Subject Key Identifier')
	assert_equal "$(openssl crl -in one.crl -outform DER | openssl asn1parse -inform DER |
		awk '/Authority Key Identifier/ { f = 1; next } f && /OCTET STRING/ { sub(/^.*\[HEX DUMP\]:/, ""); print; exit }')" \
		"30168014${ski#0414}"
	# nextUpdate: 7 days (crl-validity) after thisUpdate.
	local last next
	last=$(date -u -d "$(openssl crl -in one.crl -noout -lastupdate | cut -d= -f2)" +%s)
	next=$(date -u -d "$(openssl crl -in one.crl -noout -nextupdate | cut -d= -f2)" +%s)
	assert_equal $((next - last)) $((7 * 86400))

	run --separate-stderr m2m-ca crl --ca ca --der --out two.crl --json
	assert_ok "{\"crl_number\":2,\"out\":\"two.crl\",\"bytes\":$(stat -c %s two.crl)}"
	run openssl crl -inform DER -in two.crl -noout -text
	assert_line --regexp '^ +X509v3 CRL Number: $'
	assert_line --regexp '^ +2$'
	run openssl crl -inform DER -in two.crl -noout -verify -CAfile ca/ca.crt
	assert_success
	# The audit log has both.
	run --separate-stderr m2m-ca audit --ca ca
	assert_line --regexp '^[0-9]+ [-0-9T:Z]+ crl \{"number":1,"revoked":2\}$'
	assert_line --regexp '^[0-9]+ [-0-9T:Z]+ crl \{"number":2,"revoked":2\}$'
}

@test "crl: a revoked certificate fails openssl verify -crl_check, a good one passes" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf000001 --out good.pem
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf000002 --out bad.pem
	m2m-ca revoke --ca ca "$(serial_of bad.pem)" --reason keyCompromise > /dev/null
	m2m-ca crl --ca ca --out ca.crl
	run openssl verify -crl_check -CAfile "$F/root/ca.crt" -untrusted ca/ca.crt -CRLfile ca.crl good.pem
	assert_success
	run openssl verify -crl_check -CAfile "$F/root/ca.crt" -untrusted ca/ca.crt -CRLfile ca.crl bad.pem
	assert_failure
	assert_output --partial 'certificate revoked'
}

@test "crl: PEM on stdout, as openssl writes it; an empty CRL; --json needs --out" {
	new_ca ca
	run --separate-stderr m2m-ca crl --ca ca
	assert_success
	assert_stderr ''
	assert_line --index 0 -- '-----BEGIN X509 CRL-----'
	printf '%s\n' "$output" > a.crl
	assert_equal "$(openssl crl -in a.crl)" "$(cat a.crl)"
	run openssl crl -in a.crl -noout -text
	assert_line --regexp '^No Revoked Certificates\.$'
	run --separate-stderr m2m-ca crl --ca ca --json
	assert_error 2 "m2m-ca: --json needs --out (the CRL itself goes there) (see 'm2m-ca crl --help')"
	run --separate-stderr m2m-ca crl --ca ca --der --out b.crl
	assert_ok ''
	openssl crl -inform DER -in b.crl -noout -verify -CAfile ca/ca.crt 2> /dev/null
	run openssl crl -inform DER -in b.crl -noout -text
	assert_line --regexp '^ +2$'
}

# ---- ocsp -----------------------------------------------------------------------------------------

@test "ocsp: good, with the request's nonce, verified by openssl" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out good.pem
	openssl ocsp -issuer ca/ca.crt -cert good.pem -reqout req.der
	run --separate-stderr m2m-ca ocsp --ca ca --request req.der --out resp.der
	assert_ok ''
	# Against the request: the nonce is checked.
	run --separate-stderr openssl ocsp -reqin req.der -respin resp.der \
		-CAfile "$F/root/ca.crt" -verify_other ca/ca.crt
	assert_success
	assert_stderr 'Response verify OK'
	run --separate-stderr openssl ocsp -respin resp.der -issuer ca/ca.crt -cert good.pem \
		-CAfile "$F/root/ca.crt" -verify_other ca/ca.crt -no_nonce
	assert_success
	assert_stderr 'Response verify OK'
	assert_line --index 0 'good.pem: good'
	run openssl ocsp -respin resp.der -resp_text -noverify
	assert_line --regexp '^ +Responder Id: CN = m2m issuing CA ca$'
	assert_line --regexp '^ +OCSP Nonce: ?$'
	# Nothing recorded.
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 2 entries'
}

@test "ocsp: revoked, with time and reason; two certificates in one request; no nonce" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf000001 --out good.pem
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf000002 --out rev.pem
	m2m-ca revoke --ca ca "$(serial_of rev.pem)" --reason keyCompromise > /dev/null
	openssl ocsp -issuer ca/ca.crt -cert rev.pem -no_nonce -reqout req.der
	m2m-ca ocsp --ca ca --request req.der --out resp.der
	run --separate-stderr openssl ocsp -respin resp.der -issuer ca/ca.crt -cert rev.pem \
		-CAfile "$F/root/ca.crt" -verify_other ca/ca.crt -no_nonce
	assert_success
	assert_stderr 'Response verify OK'
	assert_line --index 0 'rev.pem: revoked'
	assert_line --regexp $'^\tReason: keyCompromise$'
	assert_line --regexp $'^\tRevocation Time: '
	run openssl ocsp -respin resp.der -resp_text -noverify
	refute_line --partial 'OCSP Nonce'
	# Both at once, request and response through stdin and stdout.
	openssl ocsp -issuer ca/ca.crt -cert good.pem -cert rev.pem -reqout req2.der
	m2m-ca ocsp --ca ca --request - < req2.der > resp2.der
	run --separate-stderr openssl ocsp -reqin req2.der -respin resp2.der \
		-CAfile "$F/root/ca.crt" -verify_other ca/ca.crt
	assert_success
	assert_stderr 'Response verify OK'
	run --separate-stderr openssl ocsp -respin resp2.der -issuer ca/ca.crt -cert good.pem -cert rev.pem \
		-CAfile "$F/root/ca.crt" -verify_other ca/ca.crt -no_nonce
	assert_success
	assert_line 'good.pem: good'
	assert_line 'rev.pem: revoked'
}

@test "ocsp: a certificate of another CA is unknown" {
	new_ca ca
	cp "$F/x.pem" other.pem
	openssl ocsp -issuer "$F/factory/ca.crt" -cert other.pem -no_nonce -reqout req.der
	run --separate-stderr m2m-ca ocsp --ca ca --request req.der --out resp.der
	assert_ok ''
	# ca is no responder for factory's certificates, so openssl only
	# accepts its signature when told to trust it (-VAfile).
	run --separate-stderr openssl ocsp -respin resp.der -issuer "$F/factory/ca.crt" -cert other.pem \
		-VAfile ca/ca.crt -no_nonce
	assert_success
	assert_stderr 'Response verify OK'
	assert_line --index 0 'other.pem: unknown'
	# A serial this CA never issued: unknown too.
	openssl ocsp -issuer ca/ca.crt -serial 0x0123456789abcdef -no_nonce -reqout req2.der
	m2m-ca ocsp --ca ca --request req2.der --out resp2.der
	run openssl ocsp -respin resp2.der -resp_text -noverify
	assert_line --regexp '^ +Cert Status: unknown$'
}

@test "ocsp: a malformed request, exit 3; no request, exit 2; unreadable, exit 4" {
	new_ca ca
	echo garbage > g.der
	run --separate-stderr m2m-ca ocsp --ca ca --request g.der --out resp.der
	assert_error_prefix 3 'm2m-ca: cannot answer the OCSP request: not a DER OCSP request'
	assert_file_not_exists resp.der
	: > empty.der
	run --separate-stderr m2m-ca ocsp --ca ca --request empty.der
	assert_error_prefix 3 'm2m-ca: cannot answer the OCSP request: not a DER OCSP request'
	# A valid request with bytes after it.
	openssl ocsp -issuer ca/ca.crt -serial 0x01 -reqout req.der
	{ cat req.der; printf 'x'; } > trailing.der
	run --separate-stderr m2m-ca ocsp --ca ca --request trailing.der
	assert_error_prefix 3 'm2m-ca: cannot answer the OCSP request: not a DER OCSP request'
	run --separate-stderr m2m-ca ocsp --ca ca
	assert_error 2 "m2m-ca: ocsp needs --request FILE (see 'm2m-ca ocsp --help')"
	run --separate-stderr m2m-ca ocsp --ca ca --request nope.der
	assert_error 4 "m2m-ca: cannot read the input: cannot open 'nope.der': No such file or directory"
}

# ---- list, show, export ---------------------------------------------------------------------

@test "list: one line per certificate in issue order; --json" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --serial SN-1 --out a.pem
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --out b.pem
	local a b
	a=$(serial_of a.pem) b=$(serial_of b.pem)
	m2m-ca revoke --ca ca "$b" --reason superseded > /dev/null
	run --separate-stderr m2m-ca list --ca ca
	assert_ok "$a idevid  valid   9999-12-31T23:59:59Z SN-1 $V1
$b idevid  revoked 9999-12-31T23:59:59Z 023c71bf4a0b2e 023c71bf4a0b2e"
	run --separate-stderr m2m-ca list --ca ca --json
	assert_success
	assert_stderr ''
	printf '%s\n' "$output" | json_lines
	local t='20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
	assert_line --index 0 --regexp "^\\{\"certificate_serial\":\"$a\",\"profile\":\"idevid\",\"status\":\"valid\",\"subject\":\"serialNumber=SN-1,OU=Devices,O=Example\",\"ppid\":\"$V1\",\"serial\":\"SN-1\",\"issued_at\":\"$t\",\"not_before\":\"$t\",\"not_after\":\"9999-12-31T23:59:59Z\"\\}\$"
	assert_line --index 1 --regexp "^\\{\"certificate_serial\":\"$b\",\"profile\":\"idevid\",\"status\":\"revoked\",\"subject\":\"serialNumber=023c71bf4a0b2e,OU=Devices,O=Example\",\"ppid\":\"023c71bf4a0b2e\",\"serial\":\"023c71bf4a0b2e\",\"issued_at\":\"$t\",\"not_before\":\"$t\",\"not_after\":\"9999-12-31T23:59:59Z\",\"revoked_at\":\"$t\",\"reason\":\"superseded\"\\}\$"
	# An empty ledger lists nothing.
	new_ca empty
	run --separate-stderr m2m-ca list --ca empty
	assert_ok ''
}

@test "list --status, --profile, --ppid select; bad values are refused" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --out b.pem
	local a b
	a=$(serial_of a.pem) b=$(serial_of b.pem)
	m2m-ca revoke --ca ca "$b" > /dev/null
	run --separate-stderr m2m-ca list --ca ca --status valid
	assert_ok "$a idevid  valid   9999-12-31T23:59:59Z $V1 $V1"
	run --separate-stderr m2m-ca list --ca ca --status revoked
	assert_ok "$b idevid  revoked 9999-12-31T23:59:59Z 023c71bf4a0b2e 023c71bf4a0b2e"
	run --separate-stderr m2m-ca list --ca ca --status expired
	assert_ok ''
	run --separate-stderr m2m-ca list --ca ca --ppid 023C71BF4A0B2E
	assert_ok "$b idevid  revoked 9999-12-31T23:59:59Z 023c71bf4a0b2e 023c71bf4a0b2e"
	run --separate-stderr m2m-ca list --ca ca --ppid 023c71bf4a0b2f
	assert_ok ''
	run --separate-stderr m2m-ca list --ca ca --profile ldevid
	assert_ok ''
	run --separate-stderr m2m-ca list --ca ca --profile idevid --status valid --json
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_equal "$(json_field certificate_serial <<<"$output")" "$a"
	# The CA's own certificate is in its parent's ledger, profile "ca".
	m2m-ca init r --subject CN=R > /dev/null
	m2m-ca init i --parent r --subject CN=I > /dev/null
	run --separate-stderr m2m-ca list --ca r --profile ca
	assert_success
	assert_output --regexp "^$(serial_of i/ca.crt) ca      valid   20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z - -\$"
	run --separate-stderr m2m-ca list --ca r --profile ca --json
	assert_output --partial '"profile":"ca","status":"valid","subject":"CN=I","ppid":null,"serial":null,'
	run --separate-stderr m2m-ca list --ca ca --ppid zz
	assert_error 3 "m2m-ca: invalid --ppid: 'z' at position 1 is not a hex digit"
	run --separate-stderr m2m-ca list --ca ca --status bogus
	assert_error 2 "m2m-ca: unknown status 'bogus' (valid, revoked or expired) (see 'm2m-ca list --help')"
}

@test "show: the record as text and --json; --pem is the certificate byte for byte" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --serial SN-1 --out a.pem
	local s t
	s=$(serial_of a.pem)
	t=$(date -u -d "$(openssl x509 -in a.pem -noout -startdate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
	run --separate-stderr m2m-ca show --ca ca "$s"
	assert_ok "certificate serial: $s
profile: idevid
status: valid
subject: serialNumber=SN-1,OU=Devices,O=Example
ppid: $V1
serial: SN-1
issued: $t
not before: $t
not after: 9999-12-31T23:59:59Z"
	run --separate-stderr m2m-ca show --ca ca "$s" --json
	assert_ok "{\"certificate_serial\":\"$s\",\"profile\":\"idevid\",\"status\":\"valid\",\"subject\":\"serialNumber=SN-1,OU=Devices,O=Example\",\"ppid\":\"$V1\",\"serial\":\"SN-1\",\"issued_at\":\"$t\",\"not_before\":\"$t\",\"not_after\":\"9999-12-31T23:59:59Z\"}"
	m2m-ca show --ca ca "$s" --pem > shown.pem
	cmp shown.pem a.pem
	# Any case, leading zeros.
	run --separate-stderr m2m-ca show --ca ca "00${s^^}" --pem
	assert_ok "$(cat a.pem)"
}

@test "show: an unknown serial or not a serial, exit 3; no serial, exit 2" {
	run --separate-stderr m2m-ca show --ca "$F/factory" 00ff
	assert_error 3 "m2m-ca: cannot show '00ff': no certificate with serial 00ff in the ledger"
	run --separate-stderr m2m-ca show --ca "$F/factory" zz
	assert_error 3 "m2m-ca: cannot show 'zz': 'zz' is not a certificate serial (hex digits)"
	run --separate-stderr m2m-ca show --ca "$F/factory"
	assert_error 2 "m2m-ca: show needs a certificate serial (see 'm2m-ca show --help')"
	run --separate-stderr m2m-ca show --ca "$F/factory" 01 02
	assert_error 2 "m2m-ca: show takes one serial (see 'm2m-ca show --help')"
}

@test "export: every certificate as one PEM bundle; --status; --out" {
	new_ca ca
	local i
	for i in 1 2 3; do
		m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "023c71bf00000$i" --out "c$i.pem"
	done
	m2m-ca revoke --ca ca "$(serial_of c2.pem)" > /dev/null
	run --separate-stderr m2m-ca export --ca ca
	assert_success
	assert_stderr ''
	assert_equal "$(grep -c -- '-----BEGIN CERTIFICATE-----' <<<"$output")" 3
	assert_output "$(cat c1.pem c2.pem c3.pem)"
	run --separate-stderr m2m-ca export --ca ca --status valid
	assert_ok "$(cat c1.pem c3.pem)"
	run --separate-stderr m2m-ca export --ca ca --status revoked --out rev.pem
	assert_ok ''
	cmp rev.pem c2.pem
	run --separate-stderr m2m-ca export --ca ca --status expired --out none.pem
	assert_ok ''
	[ ! -s none.pem ]
	run --separate-stderr m2m-ca export --ca ca --status bogus
	assert_error 2 "m2m-ca: unknown status 'bogus' (valid, revoked or expired) (see 'm2m-ca export --help')"
	assert_equal "$(here)" $'c1.pem\nc2.pem\nc3.pem\nca\nnone.pem\nrev.pem'
}

@test "M2M_CA names the CA when --ca does not, else the current directory" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	local line
	line=$(m2m-ca list --ca ca)
	M2M_CA=ca run --separate-stderr m2m-ca list
	assert_ok "$line"
	M2M_CA=nope run --separate-stderr m2m-ca list --ca ca
	assert_ok "$line"
	cd ca
	M2M_CA='' run --separate-stderr m2m-ca list
	assert_ok "$line"
	run --separate-stderr m2m-ca issue --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --out ../b.pem
	assert_ok ''
	assert_equal "$(m2m-ca list | wc -l)" 2
}

@test "--ledger on the command line is relative to the working directory" {
	[ $LEDGER = sqlite ] || skip 'a relative path is a SQLite ledger'
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	run --separate-stderr m2m-ca list --ca ca --ledger ca/ledger.db
	assert_success
	assert_output "$(m2m-ca list --ca ca)"
	# Not there: the option is wrong, the CA directory is not damaged.
	run --separate-stderr m2m-ca list --ca ca --ledger ledger.db
	assert_error_prefix 3 'm2m-ca: cannot open the CA: '
	assert_stderr_line -p "no ledger at 'ledger.db'"
	[[ $stderr != *damaged* ]] || fail "misleading: $stderr"
	run --separate-stderr m2m-ca list --ca ca --ledger sqlite:ca/ledger.db
	assert_success
	assert_equal "${#lines[@]}" 1
}

@test "a ledger URI with a password is refused everywhere, exit 3, the password never shown" {
	local uri='postgresql://ca:s3cret@db.example/ledger'
	local why="ledger 'postgresql://ca:***@db.example/ledger' holds a password: give it in PGPASSWORD, a PGPASSFILE or ~/.pgpass instead"
	run --separate-stderr m2m-ca list --ca "$F/factory" --ledger "$uri"
	assert_error 3 "m2m-ca: cannot open the CA: $why"
	run --separate-stderr m2m-ca init r --subject CN=R --ledger "$uri"
	assert_error 3 "m2m-ca: cannot create the CA 'r': $why"
	assert_equal "$(here)" ''
	new_ca ca
	local conf
	conf=$(cat ca/ca.conf)
	run --separate-stderr m2m-ca profile set --ca ca ca "ledger=$uri"
	assert_error 3 "m2m-ca: cannot set 'ledger=$uri': ca: $why"
	assert_equal "$(cat ca/ca.conf)" "$conf"
	run --separate-stderr m2m-ca ledger copy --from "$(ledger_loc ca)" --to 'postgresql:///x?password=s3cret'
	assert_error 3 "m2m-ca: cannot copy the ledger: ledger 'postgresql:///x?password=***' holds a password: give it in PGPASSWORD, a PGPASSFILE or ~/.pgpass instead"
	# Written into ca.conf behind the tool's back: refused when read.
	sed -i "s|^ledger = .*|ledger = $uri|" ca/ca.conf
	run --separate-stderr m2m-ca list --ca ca
	assert_error 3 "m2m-ca: cannot open the CA: 'ca/ca.conf': line 5: $why"
}

# ---- ledger ---------------------------------------------------------------------------------------

@test "ledger init: an empty ledger that a new CA takes; made twice: exit 3" {
	local loc loc2
	loc=$(new_ledger l1)
	run --separate-stderr m2m-ca ledger init --ledger "$loc"
	assert_ok "empty ledger made in '$loc' (schema version 1)"
	run --separate-stderr m2m-ca ledger init --ledger "$loc"
	assert_error 3 "m2m-ca: cannot make the ledger: a ledger is at '$loc' already"
	new_ca ca --ledger "$loc"
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 1 entries'
	# One with an entry is another CA's.
	run --separate-stderr m2m-ca init b --parent "$F/root" --subject CN=B --ledger "$loc"
	assert_error 3 "m2m-ca: cannot create the CA 'b': ledger '$loc' exists already: a new CA needs a ledger of its own"
	assert_file_not_exists b
	loc2=$(new_ledger l2)
	run --separate-stderr m2m-ca ledger init --ledger "$loc2" --json
	assert_ok "{\"ledger\":\"$loc2\",\"schema_version\":1}"
}

@test "ledger migrate: a current ledger is up to date; a newer one or none: exit 3" {
	local loc
	loc=$(ledger_loc "$F/factory")
	run --separate-stderr m2m-ca ledger migrate --ca "$F/factory"
	assert_ok "ledger '$loc' is at schema version 1: up to date"
	run --separate-stderr m2m-ca ledger migrate --ledger "$loc" --json
	assert_ok "{\"ledger\":\"$loc\",\"from\":1,\"to\":1}"
	cd "$F/factory"
	run --separate-stderr m2m-ca ledger migrate
	assert_ok "ledger '$(ledger_loc .)' is at schema version 1: up to date"
	cd "$BATS_TEST_TMPDIR"
	new_ca ca
	if [ $LEDGER = sqlite ]; then
		ledger_sql ca "UPDATE meta SET value = '2' WHERE key = 'schema_version'" > /dev/null
	else
		ledger_sql ca 'INSERT INTO m2m_schema (version) VALUES (2)' > /dev/null
	fi
	loc=$(ledger_loc ca)
	run --separate-stderr m2m-ca ledger migrate --ca ca
	if [ $LEDGER = sqlite ]; then
		assert_error 3 "m2m-ca: cannot migrate the ledger: ledger '$loc' has schema version 2, newer than this m2m reads (1)"
	else
		assert_error 3 "m2m-ca: cannot migrate the ledger: ledger '$loc' has schema version 2, newer than this m2m reads (1)"
	fi
	run --separate-stderr m2m-ca list --ca ca
	assert_error 3 "m2m-ca: cannot open the CA: ledger '$loc' has schema version 2, newer than this m2m reads (1)"
	loc=$(new_ledger none)
	run --separate-stderr m2m-ca ledger migrate --ledger "$loc"
	assert_error 3 "m2m-ca: cannot migrate the ledger: no ledger at '$loc'"
	run --separate-stderr m2m-ca ledger migrate --ca nowhere
	assert_error 3 "m2m-ca: cannot open the CA: 'nowhere' is not a CA directory (no ca.conf)"
}

@test "ledger copy: records, revocations, CRLs and the audit log, verified on both sides; the CA works on the copy" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --out b.pem
	m2m-ca revoke --ca ca "$(serial_of a.pem)" --reason keyCompromise > /dev/null
	m2m-ca crl --ca ca --out 1.crl
	local from to hash list
	from=$(ledger_loc ca)
	to=$(new_ledger copy)
	hash=$(m2m-ca audit --ca ca --json | tail -n 1 | json_field hash)
	run --separate-stderr m2m-ca ledger copy --from "$from" --to "$to"
	assert_ok - <<-EOF
	copied 2 certificates (1 revoked), 1 CRLs and 5 audit entries from '$from' to '$to'
	audit log intact on both sides, last hash $hash
	EOF
	list=$(m2m-ca list --ca ca)
	run --separate-stderr m2m-ca list --ca ca --ledger "$to"
	assert_ok "$list"
	run --separate-stderr m2m-ca audit --ca ca --ledger "$to" --verify
	assert_ok 'audit log intact: 5 entries'
	assert_equal "$(m2m-ca audit --ca ca --ledger "$to" --json)" "$(m2m-ca audit --ca ca --json)"
	# On the copy: uniqueness holds, CRL numbers go on.
	run --separate-stderr m2m-ca issue --ca ca --ledger "$to" --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --out c.pem
	assert_failure 3
	run --separate-stderr m2m-ca crl --ca ca --ledger "$to" --out 2.crl --json
	assert_success
	assert_output --partial '{"crl_number":2,'
	# Not into a ledger with something in it.
	run --separate-stderr m2m-ca ledger copy --from "$from" --to "$to" --json
	assert_error 3 "m2m-ca: cannot copy the ledger: ledger '$to' is not empty: a copy goes into a new ledger"
	to=$(new_ledger copy2)
	run --separate-stderr m2m-ca ledger copy --from "$from" --to "$to" --json
	assert_ok "{\"from\":\"$from\",\"to\":\"$to\",\"certificates\":2,\"revoked\":1,\"crls\":1,\"audit_entries\":5,\"last_hash\":\"$hash\"}"
}

@test "ledger copy: a broken audit chain is not copied, exit 1; nothing is made" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	m2m-ca crl --ca ca --out 1.crl
	assert_equal "$(ledger_sql ca 'UPDATE audit SET time = time + 1 WHERE seq = 2')" 1
	local from to
	from=$(ledger_loc ca)
	to=$(new_ledger copy)
	run --separate-stderr m2m-ca ledger copy --from "$from" --to "$to"
	assert_error 1 "m2m-ca: cannot copy the ledger: ledger '$from': audit log: entry 2: hash does not match its contents"
	run --separate-stderr m2m-ca ledger migrate --ledger "$to"
	assert_error 3 "m2m-ca: cannot migrate the ledger: no ledger at '$to'"
	run --separate-stderr m2m-ca ledger copy --from nope.db --to "$to"
	assert_error 3 "m2m-ca: cannot copy the ledger: no ledger at 'nope.db'"
}

@test "ledger usage errors: exit 2" {
	local hint="(see 'm2m-ca ledger init --help')"
	run --separate-stderr m2m-ca ledger
	assert_error 2 "m2m-ca: ledger needs 'init', 'migrate' or 'copy' $hint"
	run --separate-stderr m2m-ca ledger frob
	assert_error 2 "m2m-ca: unknown ledger command 'frob' (init, migrate or copy) $hint"
	run --separate-stderr m2m-ca ledger init
	assert_error 2 "m2m-ca: ledger init needs --ledger LOCATION $hint"
	run --separate-stderr m2m-ca ledger init --ledger x.db extra
	assert_error 2 "m2m-ca: unexpected argument 'extra' $hint"
	run --separate-stderr m2m-ca ledger init --ledger x.db --from y.db
	assert_error 2 "m2m-ca: --from and --to go with 'ledger copy' $hint"
	run --separate-stderr m2m-ca ledger init --ledger x.db --ca .
	assert_error 2 "m2m-ca: --ca goes with 'ledger migrate' $hint"
	run --separate-stderr m2m-ca ledger copy --from x.db
	assert_error 2 "m2m-ca: ledger copy needs --from LOCATION and --to LOCATION $hint"
	run --separate-stderr m2m-ca ledger copy --from x.db --to y.db --ledger z.db
	assert_error 2 "m2m-ca: ledger copy takes --from and --to, not --ledger $hint"
	run --separate-stderr m2m-ca ledger migrate --to y.db
	assert_error 2 "m2m-ca: --from and --to go with 'ledger copy' $hint"
	assert_equal "$(here)" ''
}

# ---- profile --------------------------------------------------------------------------------------

@test "profile show: ca.conf in its canonical form, or one profile's section" {
	run --separate-stderr m2m-ca profile show --ca "$F/factory"
	assert_ok - <<-EOF
	# Settings and certificate profiles of this CA, managed by 'm2m-ca profile set'.

	[ca]
	key = ca.key
	ledger = $(ledger_of "$F/factory")
	crl-validity = 7d

	[idevid]
	type = idevid
	hw-type = 1.3.6.1.4.1.99999.1.1
	subject = O=Example,OU=Devices
	key-algorithms = ec-p256 ec-p384 rsa2048 rsa3072
	lifetime = forever
	subject-key-id = no
	key-usage = digitalSignature
	extended-key-usage = none
	request-names = none
	masa-url =
	trust-anchors =

	[ldevid]
	type = ldevid
	hw-type =
	subject =
	key-algorithms = ec-p256 ec-p384 rsa2048 rsa3072 ed25519
	lifetime = 365d
	subject-key-id = no
	key-usage = digitalSignature
	extended-key-usage = clientAuth
	request-names = none
	masa-url =
	trust-anchors = manufacturers.pem
	EOF
	run --separate-stderr m2m-ca profile show --ca "$F/factory" ldevid
	assert_ok - <<-'EOF'
	[ldevid]
	type = ldevid
	hw-type =
	subject =
	key-algorithms = ec-p256 ec-p384 rsa2048 rsa3072 ed25519
	lifetime = 365d
	subject-key-id = no
	key-usage = digitalSignature
	extended-key-usage = clientAuth
	request-names = none
	masa-url =
	trust-anchors = manufacturers.pem
	EOF
	run --separate-stderr m2m-ca profile show --ca "$F/factory" idevid
	assert_success
	assert_line --index 0 '[idevid]'
	assert_line --index 11 'trust-anchors ='
	assert_equal "${#lines[@]}" 12
	cmp <(m2m-ca profile show --ca "$F/factory") "$F/factory/ca.conf"
}

@test "profile show --json: all profiles, or one" {
	local idevid='{"name":"idevid","type":"idevid","hw-type":"1.3.6.1.4.1.99999.1.1","subject":"O=Example,OU=Devices","key-algorithms":["ec-p256","ec-p384","rsa2048","rsa3072"],"lifetime-days":null,"subject-key-id":false,"key-usage":["digitalSignature"],"extended-key-usage":[],"request-names":[],"masa-url":"","trust-anchors":""}'
	local ldevid='{"name":"ldevid","type":"ldevid","hw-type":"","subject":"","key-algorithms":["ec-p256","ec-p384","rsa2048","rsa3072","ed25519"],"lifetime-days":365,"subject-key-id":false,"key-usage":["digitalSignature"],"extended-key-usage":["clientAuth"],"request-names":[],"masa-url":"","trust-anchors":"manufacturers.pem"}'
	run --separate-stderr m2m-ca profile show --ca "$F/factory" idevid --json
	assert_ok "$idevid"
	run --separate-stderr m2m-ca profile show --ca "$F/factory" --json
	assert_ok "{\"key\":\"ca.key\",\"ledger\":\"$(ledger_of "$F/factory")\",\"crl-validity-days\":7,\"profiles\":[$idevid,$ldevid]}"
	printf '%s\n' "$output" | json_lines
	run --separate-stderr m2m-ca profile show --ca "$F/factory" nope
	assert_error 3 "m2m-ca: no profile 'nope' in '$F/factory'"
}

@test "profile set: written to ca.conf, recorded in the audit log" {
	new_ca ca
	run --separate-stderr m2m-ca profile set --ca ca idevid subject-key-id=yes 'masa-url=https://masa.example.com/'
	assert_ok ''
	grep -qx 'subject-key-id = yes' ca/ca.conf
	grep -qx 'masa-url = https://masa.example.com/' ca/ca.conf
	run --separate-stderr m2m-ca audit --ca ca
	assert_line --index 1 --regexp '^2 [-0-9T:Z]+ profile \{"profile":"idevid","key":"subject-key-id","value":"yes"\}$'
	assert_line --index 2 --regexp '^3 [-0-9T:Z]+ profile \{"profile":"idevid","key":"masa-url","value":"https://masa.example.com/"\}$'
	# A new profile: type first.
	run --separate-stderr m2m-ca profile set --ca ca fleet type=ldevid 'subject=O=Example,OU=Fleet' 'extended-key-usage=clientAuth serverAuth'
	assert_ok ''
	run --separate-stderr m2m-ca profile show --ca ca fleet --json
	assert_ok '{"name":"fleet","type":"ldevid","hw-type":"","subject":"O=Example,OU=Fleet","key-algorithms":["ec-p256","ec-p384","rsa2048","rsa3072","ed25519"],"lifetime-days":365,"subject-key-id":false,"key-usage":["digitalSignature"],"extended-key-usage":["clientAuth","serverAuth"],"request-names":[],"masa-url":"","trust-anchors":"manufacturers.pem"}'
	# The [ca] section.
	run --separate-stderr m2m-ca profile set --ca ca ca crl-validity=2d
	assert_ok ''
	m2m-ca crl --ca ca --out a.crl
	local last next
	last=$(date -u -d "$(openssl crl -in a.crl -noout -lastupdate | cut -d= -f2)" +%s)
	next=$(date -u -d "$(openssl crl -in a.crl -noout -nextupdate | cut -d= -f2)" +%s)
	assert_equal $((next - last)) $((2 * 86400))
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 8 entries'
}

@test "profile set: unknown keys and bad values, exit 3; not KEY=VALUE, exit 2; ca.conf unchanged" {
	new_ca ca
	local conf audit
	conf=$(cat ca/ca.conf)
	audit=$(m2m-ca audit --ca ca)
	run --separate-stderr m2m-ca profile set --ca ca idevid bogus=1
	assert_error 3 "m2m-ca: cannot set 'bogus=1': idevid: unknown key 'bogus' in [idevid]"
	run --separate-stderr m2m-ca profile set --ca ca idevid subject-key-id=maybe
	assert_error 3 "m2m-ca: cannot set 'subject-key-id=maybe': idevid: subject-key-id must be 'yes' or 'no', not 'maybe'"
	run --separate-stderr m2m-ca profile set --ca ca nope subject-key-id=yes
	assert_error 3 "m2m-ca: cannot set 'subject-key-id=yes': nope: no such profile (create it by setting its type)"
	run --separate-stderr m2m-ca profile set --ca ca idevid key-algorithms=ed25519
	assert_failure 3
	run --separate-stderr m2m-ca profile set --ca ca idevid novalue
	assert_error 2 "m2m-ca: 'novalue' is not KEY=VALUE (see 'm2m-ca profile show --help')"
	run --separate-stderr m2m-ca profile set --ca ca idevid
	assert_failure 2
	assert_output ''
	run --separate-stderr m2m-ca profile frob --ca ca
	assert_failure 2
	assert_stderr_line -p "m2m-ca: unknown profile command 'frob' (show or set)"
	run --separate-stderr m2m-ca profile --ca ca
	assert_failure 2
	assert_stderr_line -p "m2m-ca: profile needs 'show' or 'set'"
	assert_equal "$(cat ca/ca.conf)" "$conf"
	assert_equal "$(m2m-ca audit --ca ca)" "$audit"
	# Changes before a refused one stay made (one transaction each).
	run --separate-stderr m2m-ca profile set --ca ca idevid subject-key-id=yes bogus=1
	assert_error 3 "m2m-ca: cannot set 'bogus=1': idevid: unknown key 'bogus' in [idevid]"
	grep -qx 'subject-key-id = yes' ca/ca.conf
}

# ---- audit ------------------------------------------------------------------------------------

@test "audit: the log as text and --json, one entry per change" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --serial SN-1 --out a.pem
	local s r
	s=$(serial_of a.pem)
	r=$(serial_of ca/ca.crt)
	m2m-ca revoke --ca ca "$s" --reason keyCompromise > /dev/null
	m2m-ca crl --ca ca --out a.crl
	m2m-ca profile set --ca ca idevid lifetime=10d
	local t='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
	run --separate-stderr m2m-ca audit --ca ca
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 5
	assert_line --index 0 --regexp "^1 $t init \\{\"serial\":\"$r\",\"key-algorithm\":\"ec-p256\",\"subject\":\"CN=m2m issuing CA ca\",\"parent\":\"CN=Root,O=Example,C=DE\"\\}\$"
	assert_line --index 1 --regexp "^2 $t issue \\{\"serial\":\"$s\",\"profile\":\"idevid\",\"ppid\":\"$V1\",\"device_serial\":\"SN-1\",\"subject\":\"serialNumber=SN-1,OU=Devices,O=Example\"\\}\$"
	assert_line --index 2 --regexp "^3 $t revoke \\{\"serial\":\"$s\",\"reason\":\"keyCompromise\"\\}\$"
	assert_line --index 3 --regexp "^4 $t crl \\{\"number\":1,\"revoked\":1\\}\$"
	assert_line --index 4 --regexp "^5 $t profile \\{\"profile\":\"idevid\",\"key\":\"lifetime\",\"value\":\"10d\"\\}\$"
	run --separate-stderr m2m-ca audit --ca ca --json
	assert_success
	assert_equal "${#lines[@]}" 5
	printf '%s\n' "$output" | json_lines
	assert_line --index 0 --regexp "^\\{\"seq\":1,\"time\":\"$t\",\"op\":\"init\",\"detail\":\\{\"serial\":\"$r\",.*\\},\"hash\":\"[0-9a-f]{64}\"\\}\$"
	assert_line --index 3 --regexp "^\\{\"seq\":4,\"time\":\"$t\",\"op\":\"crl\",\"detail\":\\{\"number\":1,\"revoked\":1\\},\"hash\":\"[0-9a-f]{64}\"\\}\$"
	# The parent recorded the new CA.
	run --separate-stderr m2m-ca audit --ca "$F/root"
	assert_line --regexp "^[0-9]+ $t issue-ca \\{\"serial\":\"$r\",\"profile\":\"ca\",\"subject\":\"CN=m2m issuing CA ca\"\\}\$"
}

@test "audit --verify: intact, then an entry changed behind the tool's back, exit 1" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	m2m-ca revoke --ca ca "$(serial_of a.pem)" --reason keyCompromise > /dev/null
	m2m-ca crl --ca ca --out a.crl
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 4 entries'
	run --separate-stderr m2m-ca audit --ca ca --verify --json
	assert_ok '{"intact":true,"entries":4}'
	# Entry 3 (the revocation) now says another reason.
	assert_equal "$(ledger_sql ca "UPDATE audit SET detail = replace(detail, 'keyCompromise', 'superseded') WHERE seq = 3")" 1
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_error 1 "m2m-ca: audit log of 'ca' is not intact: audit log: entry 3: hash does not match its contents"
	run --separate-stderr m2m-ca audit --ca ca --verify --json
	assert_failure 1
	assert_output '{"intact":false,"first_bad_entry":3,"reason":"audit log: entry 3: hash does not match its contents"}'
	assert_stderr "m2m-ca: audit log of 'ca' is not intact: audit log: entry 3: hash does not match its contents"
	# The listing still shows what is there.
	run --separate-stderr m2m-ca audit --ca ca
	assert_success
	assert_line --index 2 --partial ' revoke {"serial":'
	assert_line --index 2 --partial '"reason":"superseded"}'
}

@test "audit --verify: an entry deleted from the middle breaks the chain" {
	new_ca ca
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid "$V1" --out a.pem
	m2m-ca issue --ca ca --csr "$F/ec.csr" --ppid 023c71bf4a0b2e --out b.pem
	assert_equal "$(ledger_sql ca 'DELETE FROM audit WHERE seq = 2')" 1
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_failure 1
	assert_output ''
	assert_stderr_line -p "m2m-ca: audit log of 'ca' is not intact: audit log: entry 2"
}
