#!/usr/bin/env bats
# One issuing CA, many factory stations: the ledger on PostgreSQL.  Stations
# are copies of the CA directory whose ca.conf names one ledger on a
# throwaway cluster (tests/helpers/postgres.bash): batches of several
# stations at once, stations given the same devices, the server stopped in
# the middle of a batch, passwords from the environment, and a SQLite
# ledger moved to the server.  Every test runs the real binary; the ledger
# is checked through the tools (m2m-ca, m2m-verify ledger) and, behind
# their back, with SQL.
#
# Skipped, each test saying why, when the PostgreSQL server is not
# installed.

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/postgres'

HW=1.3.6.1.4.1.99999.1.1

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	cd "$BATS_FILE_TMPDIR" || return 1
	pg_available || return 0
	pg_start || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null || return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout dev.key -subj /CN=x -out dev.csr 2> /dev/null || return 1
}

teardown_file() {
	pg_stop
}

setup() {
	if [ -z "${M2M_PG_HOST-}" ]; then
		skip 'the PostgreSQL server is not installed (scripts/install-deps)'
	fi
	F=$BATS_FILE_TMPDIR
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ---- helpers -------------------------------------------------------------------

# factory NAME: an issuing CA in NAME whose ledger is the new database
# NAME_N (N this test's number); its URI in $URI, its database in $DB.
factory() {
	DB=${1}_$BATS_TEST_NUMBER
	pg_newdb "$DB"
	URI=$(pg_uri "$DB")
	m2m-ca init "$1" --parent "$F/root" --hw-type "$HW" \
		--device-subject 'O=Example,OU=Devices' --ledger "$URI" > /dev/null
}

# stations CA N: N station directories station1..N, copies of CA.
stations() {
	local k
	for ((k = 1; k <= $2; k++)); do
		cp -a "$1" "station$k"
	done
}

# manifest FILE N TAG: "serial,ppid,csr" rows SN-TAG-00001... with Wi-Fi
# PPIDs whose first address octet is 4 * TAG, every row the same request.
manifest() {
	local i
	{
		echo serial,ppid,csr
		for ((i = 1; i <= $2; i++)); do
			printf 'SN-%d-%05d,02%02x71bf%06x,%s\n' "$3" "$i" \
				$((4 * $3)) "$i" "$F/dev.csr"
		done
	} > "$1"
}

# count PATTERN FILE: the lines of FILE that hold PATTERN (0 for none).
count() {
	grep -c -- "$1" "$2" || true
}

# sql QUERY: its result in the test's ledger database.
sql() {
	pg_sql "$DB" "$1"
}

# all_recorded CA DIR: every certificate file in DIR is one the ledger of CA
# holds, byte for byte.
all_recorded() {
	m2m-ca export --ca "$1" --out all.pem
	python3 - all.pem "$2" <<-'EOF'
	import os, sys
	text = open(sys.argv[1]).read()
	end = "-----END CERTIFICATE-----\n"
	ledger = set(c + end for c in text.split(end) if c.strip())
	names = [n for n in os.listdir(sys.argv[2]) if n.endswith(".pem")]
	bad = [n for n in names if open(os.path.join(sys.argv[2], n)).read() not in ledger]
	assert not bad, "not in the ledger: %s" % bad[:5]
	EOF
}

# ledger_sound CA N: the ledger holds N records, N valid, serials unique,
# no PPID or device with two valid IDevIDs, and its audit log N + 1 entries
# (the CA's init), intact; m2m-verify finds records, CRLs and the log
# consistent.
ledger_sound() {
	assert_equal "$(m2m-ca list --ca "$1" | wc -l)" "$2"
	assert_equal "$(sql 'SELECT count(*) FROM certs WHERE status = 0')" "$2"
	assert_equal "$(sql 'SELECT count(DISTINCT serial) FROM certs')" "$2"
	assert_equal "$(sql "SELECT count(*) FROM (SELECT ppid FROM certs WHERE status = 0 GROUP BY profile, ppid HAVING count(*) > 1) t")" 0
	assert_equal "$(sql "SELECT count(*) FROM (SELECT device_serial FROM certs WHERE status = 0 GROUP BY profile, device_serial HAVING count(*) > 1) t")" 0
	run --separate-stderr m2m-ca audit --ca "$1" --verify
	assert_ok "audit log intact: $(($2 + 1)) entries"
	run --separate-stderr m2m-verify ledger "$1"
	assert_ok "$1: ok ($2 certificates, 0 revoked, 0 CRLs, audit log of $(($2 + 1)) entries)"
}

# ---- many stations ----------------------------------------------------------------

@test "8 stations issue 500 IDevIDs each into one ledger at once: 4,000 records, each PPID once, audit intact" {
	factory ca
	stations ca 8
	mkdir out
	local k pids=() st
	for k in {1..8}; do
		manifest "m$k.csv" 500 "$k"
	done
	for k in {1..8}; do
		m2m-ca issue --ca "station$k" --batch "m$k.csv" --out-dir out > "r$k.out" 2> "r$k.err" 3>&- &
		pids+=($!)
	done
	for k in {0..7}; do
		st=0
		wait "${pids[$k]}" || st=$?
		assert_equal "$st" 0
	done
	for k in {1..8}; do
		assert_equal "$(cat "r$k.err")" ''
		assert_equal "$(grep -c ',issued,' "r$k.out")" 500
	done
	assert_equal "$(find out -name '*.pem' | wc -l)" 4000
	ledger_sound ca 4000
	# Every certificate handed out is the one recorded, for its row.
	all_recorded ca out
	assert_equal "$(cat r*.out | cut -d, -f4 | sort -u | wc -l)" 4000
	assert_equal "$(sql "SELECT count(*) FROM certs WHERE device_serial LIKE 'SN-_-%'")" 4000
	# The stations' groups took turns in the audit log, each group whole.
	assert_equal "$(sql "SELECT count(*) FROM audit WHERE op = 'issue'")" 4000
}

@test "two stations given the same devices at once: one certificate each, the rest reported; a rerun hands them out" {
	factory ca
	stations ca 2
	mkdir out1 out2
	manifest m.csv 600 9
	local st=(0 0 0) pids=() k
	for k in 1 2; do
		m2m-ca issue --ca "station$k" --batch m.csv --out-dir "out$k" > "r$k.out" 2> "r$k.err" 3>&- &
		pids[k]=$!
	done
	for k in 1 2; do
		wait "${pids[k]}" || st[k]=$?
	done
	# Each row was issued once, by one of them; the other handed it out as
	# existing (it saw the record) or says why not (it met it).
	local issued ok bad
	issued=$(($(count ,issued, r1.out) + $(count ,issued, r2.out)))
	assert_equal "$issued" 600
	ledger_sound ca 600
	for k in 1 2; do
		ok=$(($(count ,issued, "r$k.out") + $(count ,existing, "r$k.out")))
		bad=$(count '^m2m-ca: m.csv:[0-9]*: ' "r$k.err")
		assert_equal $((ok + bad)) 600
		assert_equal "$(count 'already has a valid idevid certificate' "r$k.err")" "$bad"
		if [ "$bad" -gt 0 ]; then
			assert_equal "${st[k]}" 3
		else
			assert_equal "${st[k]}" 0
		fi
	done
	all_recorded ca out1
	all_recorded ca out2
	# Whatever a station did not get, its rerun hands out as existing.
	for k in 1 2; do
		run --separate-stderr m2m-ca issue --ca "station$k" --batch m.csv --out-dir "out$k"
		assert_success
		assert_stderr ''
		assert_equal "$(grep -c ',existing,' <<<"$output")" 600
		assert_equal "$(find "out$k" -name '*.pem' | wc -l)" 600
	done
	cmp <(cat out1/*.pem) <(cat out2/*.pem)
	ledger_sound ca 600
}

@test "stations share the ledger: one's records, revocations and CRL numbers are the other's" {
	factory ca
	stations ca 2
	run --separate-stderr m2m-ca issue --ca station1 --csr "$F/dev.csr" --ppid 023c71bf4a0b01 --serial SN-1 --out a.pem
	assert_ok ''
	run --separate-stderr m2m-ca issue --ca station2 --csr "$F/dev.csr" --ppid 023c71bf4a0b01 --serial SN-1 --out b.pem
	assert_failure 3
	assert_stderr_line -p 'PPID 023c71bf4a0b01 already has a valid idevid certificate'
	assert_file_not_exists b.pem
	local s
	s=$(openssl x509 -in a.pem -noout -serial | cut -d= -f2)
	run --separate-stderr m2m-ca revoke --ca station2 "$s" --reason keyCompromise
	assert_success
	run --separate-stderr m2m-ca crl --ca station1 --out 1.crl --json
	assert_success
	assert_output --partial '{"crl_number":1,'
	run --separate-stderr m2m-ca crl --ca station2 --out 2.crl --json
	assert_output --partial '{"crl_number":2,'
	openssl crl -in 2.crl -noout -text | grep -qi "Serial Number: $s"
	run --separate-stderr m2m-ca audit --ca station1 --verify
	assert_ok 'audit log intact: 5 entries'
	assert_equal "$(m2m-ca audit --ca station1)" "$(m2m-ca audit --ca station2)"
	run --separate-stderr m2m-verify ledger station2
	assert_ok 'station2: ok (1 certificate, 1 revoked, 2 CRLs, audit log of 5 entries)'
}

# ---- faults ---------------------------------------------------------------------------

@test "the server stopped in the middle of a batch: the batch fails, exit 5, nothing unrecorded is out; a rerun completes it" {
	factory ca
	mkdir out
	local n=3000 pid st=0 i files=0 before
	manifest m.csv $n 20
	m2m-ca issue --ca ca --batch m.csv --out-dir out > run1.out 2> run1.err 3>&- &
	pid=$!
	for ((i = 0; i < 1200; i++)); do
		files=$(find out -name '*.pem' | wc -l)
		[ "$files" -ge 300 ] && break
		sleep 0.025
	done
	pg_kill
	wait "$pid" || st=$?
	assert_equal "$st" 5
	[ "$files" -ge 300 ]
	# It says so: the row it was at, then the rows of the lost group.
	grep -q 'lost the connection to ledger' run1.err ||
		fail "no word of the lost connection: $(head -n 3 run1.err)"
	pg_restart
	before=$(m2m-ca list --ca ca | wc -l)
	[ "$before" -lt $n ] || fail "the batch had finished ($before records) when the server stopped"
	# Nothing was released that is not recorded (a commit the stop cut
	# short may have been recorded and not released: the rerun has it).
	[ "$(wc -l < run1.out)" -le "$before" ]
	assert_equal "$(find out -name '*.pem' | wc -l)" "$(wc -l < run1.out)"
	all_recorded ca out

	run --separate-stderr m2m-ca issue --ca ca --batch m.csv --out-dir out
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" $n
	assert_equal "$(grep -c ',existing,' <<<"$output")" "$before"
	assert_equal "$(grep -c ',issued,' <<<"$output")" $((n - before))
	assert_equal "$(find out -name '*.pem' | wc -l)" $n
	ledger_sound ca $n
	all_recorded ca out
}

@test "a server that is not there: exit 5, one line; a station that lost it connects again for its next command" {
	factory ca
	pg_kill
	run --separate-stderr m2m-ca list --ca ca
	pg_restart
	assert_failure 5
	assert_output ''
	assert_equal "${#stderr_lines[@]}" 1
	assert_stderr_line -p "m2m-ca: cannot open the CA: cannot connect to ledger '$URI': connection to server on socket \"$M2M_PG_HOST/.s.PGSQL.5432\" failed: "
	run --separate-stderr m2m-ca list --ca ca
	assert_ok ''
}

# ---- credentials -------------------------------------------------------------------

@test "the password comes from PGPASSWORD or a PGPASSFILE, never from ca.conf, and is never shown" {
	pg_sql postgres "CREATE ROLE m2m_pw LOGIN PASSWORD 'pw-s3cret'"
	pg_sql postgres "CREATE DATABASE pwdb OWNER m2m_pw"
	local uri="postgresql:///pwdb?host=$M2M_PG_HOST&user=m2m_pw"
	local fail="m2m-ca: cannot make the ledger: cannot connect to ledger '$uri': connection to server on socket \"$M2M_PG_HOST/.s.PGSQL.5432\" failed: "
	run --separate-stderr env -u PGPASSWORD PGPASSFILE=/nonexistent m2m-ca ledger init --ledger "$uri"
	assert_error 5 "${fail}fe_sendauth: no password supplied"
	run --separate-stderr env PGPASSWORD=wrong-one m2m-ca ledger init --ledger "$uri"
	assert_error 5 "${fail}FATAL:  password authentication failed for user \"m2m_pw\""
	[[ $stderr != *wrong-one* ]]
	run --separate-stderr env PGPASSWORD=pw-s3cret m2m-ca ledger init --ledger "$uri"
	assert_ok "empty ledger made in '$uri' (schema version 1)"
	# A passfile, as a station keeps it.
	printf '*:*:pwdb:m2m_pw:pw-s3cret\n' > pgpass
	chmod 600 pgpass
	PGPASSFILE=$PWD/pgpass m2m-ca init ca --parent "$F/root" --hw-type "$HW" --ledger "$uri" > /dev/null
	PGPASSFILE=$PWD/pgpass run --separate-stderr m2m-ca issue --ca ca --csr "$F/dev.csr" --ppid 023c71bf4a0b01 --out a.pem
	assert_ok ''
	PGPASSFILE=$PWD/pgpass run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok 'audit log intact: 2 entries'
	! grep -r pw-s3cret ca
	PGPASSFILE=$PWD/pgpass run --separate-stderr m2m-ca audit --ca ca
	refute_output --partial pw-s3cret
}

# ---- moving a CA to the server ------------------------------------------------------------

@test "a CA's SQLite ledger copied to PostgreSQL; the CA switched over goes on there" {
	m2m-ca init ca --parent "$F/root" --hw-type "$HW" > /dev/null
	m2m-ca issue --ca ca --csr "$F/dev.csr" --ppid 023c71bf4a0b01 --out a.pem
	m2m-ca revoke --ca ca "$(openssl x509 -in a.pem -noout -serial | cut -d= -f2)" > /dev/null
	m2m-ca issue --ca ca --csr "$F/dev.csr" --ppid 023c71bf4a0b01 --out b.pem
	m2m-ca crl --ca ca --out 1.crl
	local before hash entries
	before=$(sha256sum ca/ledger.db)
	entries=$(m2m-ca audit --ca ca | wc -l)
	hash=$(m2m-ca audit --ca ca --json | tail -n 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["hash"])')
	DB=moved_$BATS_TEST_NUMBER
	pg_newdb "$DB"
	URI=$(pg_uri "$DB")
	run --separate-stderr m2m-ca ledger copy --from sqlite:ca/ledger.db --to "$URI"
	assert_ok - <<-EOF
	copied 2 certificates (1 revoked), 1 CRLs and $entries audit entries from 'sqlite:ca/ledger.db' to '$URI'
	audit log intact on both sides, last hash $hash
	EOF
	assert_equal "$(sha256sum ca/ledger.db)" "$before"
	assert_equal "$(sql 'SELECT count(*) FROM certs')" 2
	assert_equal "$(sql 'SELECT number FROM crls')" 1
	# The switch is recorded in the new ledger.
	run --separate-stderr m2m-ca profile set --ca ca --ledger "$URI" ca "ledger=$URI"
	assert_ok ''
	grep -qxF "ledger = $URI" ca/ca.conf
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/dev.csr" --ppid 023c71bf4a0b01 --out c.pem
	assert_failure 3
	run --separate-stderr m2m-ca issue --ca ca --csr "$F/dev.csr" --ppid 023c71bf4a0b02 --out c.pem
	assert_ok ''
	run --separate-stderr m2m-ca crl --ca ca --out 2.crl --json
	assert_output --partial '{"crl_number":2,'
	# The switch, an issue, a CRL.
	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_ok "audit log intact: $((entries + 3)) entries"
	assert_equal "$(sql 'SELECT count(*) FROM certs')" 3
	run --separate-stderr m2m-verify ledger ca
	assert_ok "ca: ok (3 certificates, 1 revoked, 2 CRLs, audit log of $((entries + 3)) entries)"
}
