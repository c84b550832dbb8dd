#!/usr/bin/env bats
# The two halves together: m2m-enroll --server (our CMP client) against
# m2m-ca serve (our CMP server) on 127.0.0.1, with file keys and a swtpm.
# One server for the file (setup_file), stopped by teardown_file.

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/swtpm'

HW=1.3.6.1.4.1.32473.9

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	swtpm_start || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'CN=E2E Root' >/dev/null &&
		m2m-ca init ca --parent root --subject 'O=Example,CN=E2E Issuing' \
			--hw-type "$HW" --device-subject 'O=Example,OU=Devices' \
			>/dev/null || return 1
	# A factory station's credential, issued (and recorded) by the CA.
	m2m-ca issue --ca ca --generate-key station.key --ppid 01001a7dda7a01 \
		--serial STATION-E1 --out station.pem || return 1
	cp station.pem ca/stations.pem
	cp root/ca.crt ca/manufacturers.pem
	m2m-ca profile set --ca ca ldevid trust-anchors=manufacturers.pem || return 1
	PORT=$(free_port)
	export PORT CMP_SECRET=e2e-secret-1
	m2m-ca serve --ca ca --listen "127.0.0.1:$PORT" --workers 2 \
		--mac-secret env:CMP_SECRET </dev/null 2>server.log 3>&- &
	echo $! >server.pid
	for _ in $(seq 100); do
		grep -q 'serving CMP' server.log 2>/dev/null && return 0
		sleep 0.05
	done
	cat server.log >&2
	return 1
}

teardown_file() {
	cd "$BATS_FILE_TMPDIR" || return 0
	if [ -s server.pid ]; then
		kill "$(cat server.pid)" 2>/dev/null
		wait "$(cat server.pid)" 2>/dev/null
	fi
	swtpm_stop
	return 0
}

setup() {
	F=$BATS_FILE_TMPDIR
	URL=http://127.0.0.1:$PORT/.well-known/cmp
	TRUST=(--server-trust "$F/root/ca.crt")
	MAC=(--secret env:CMP_SECRET --ref station-e2e)
	STATION=(--station-cert "$F/station.pem" --station-key "$F/station.key")
	cd "$BATS_TEST_TMPDIR" || return 1
}

serial_of() {
	openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f
}

# verify CERT: chains to the root, strict RFC 5280 checks.
verify() {
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted "$F/ca/ca.crt" "$1"
	assert_success
	assert_output "$1: OK"
}

@test "e2e: idevid over a shared secret into swtpm: the CA's device model, in the ledger, read back by tpm2-tools" {
	run --separate-stderr m2m-enroll idevid --server "$URL" "${TRUST[@]}" "${MAC[@]}" \
		--key tpm2:handle=0x81020040 --cert tpm2:nv=0x01C90040 \
		--chain tpm2:nv=0x01800140 --serial SN-E1 --wifi 3C:71:BF:4A:0E:01 --json
	assert_success
	assert_stderr ''
	assert_output --regexp '^\{"serial":"SN-E1","ppid":"023c71bf4a0e01","status":"provisioned","certificate_serial":"[0-9a-f]{32}",'
	tpm2_nvread 0x01C90040 -o got.der
	openssl x509 -inform DER -in got.der -out got.pem
	verify got.pem
	# The client sent no device model; the CA's profile put its own in.
	# ($HW in DER: 06 09 2b 06 01 04 01 81 fd 59 09)
	od -An -tx1 -v got.der | tr -d ' \n' | grep -q 06092b0601040181fd5909
	run --separate-stderr m2m-ca show --ca "$F/ca" "$(serial_of got.pem)" --json
	assert_success
	assert_output --partial '"profile":"idevid"'
	assert_output --partial '"ppid":"023c71bf4a0e01"'
	assert_output --partial '"serial":"SN-E1"'
	grep -q " ir accepted $(serial_of got.pem) (" "$F/server.log"
}

@test "e2e: a batch signed by a station, with certConf; a rerun skips what is done" {
	cat >m.csv <<EOF
serial,bluetooth,key
SN-E2,00:1A:7D:DA:7E:02,a.key
SN-E3,00:1A:7D:DA:7E:03,b.key
SN-E4,00:1A:7D:DA:7E:04,c.key
EOF
	run --separate-stderr m2m-enroll idevid --server "$URL" "${TRUST[@]}" "${STATION[@]}" \
		--batch m.csv --explicit-confirm --json
	assert_success
	assert_line --index 0 --regexp '^\{"line":2,"serial":"SN-E2","ppid":"01001a7dda7e02","status":"provisioned",'
	assert_line --index 2 --regexp '^\{"line":4,"serial":"SN-E4","ppid":"01001a7dda7e04","status":"provisioned",'
	assert_line --index 3 --regexp '^\{"summary":\{"devices":3,"provisioned":3,"existing":0,"resumed":0,"failed":0,'
	for d in a b c; do verify "$d.crt"; done
	grep -q " certConf accepted $(serial_of c.crt) (" "$F/server.log"
	run --separate-stderr m2m-enroll idevid --server "$URL" "${TRUST[@]}" "${STATION[@]}" \
		--batch m.csv --json
	assert_success
	assert_line --index 3 --regexp '^\{"summary":\{"devices":3,"provisioned":0,"existing":3,'
	run --separate-stderr m2m-ca list --ca "$F/ca" --ppid 01001a7dda7e03
	assert_success
	assert_equal "${#lines[@]}" 1
}

@test "e2e: a second IDevID for the same device is refused with the CA's reason" {
	run --separate-stderr m2m-enroll idevid --server "$URL" "${TRUST[@]}" "${MAC[@]}" \
		--key d.key --serial SN-E5 --bluetooth 00:1A:7D:DA:7E:05
	assert_success
	run --separate-stderr m2m-enroll idevid --server "$URL" "${TRUST[@]}" "${MAC[@]}" \
		--key e.key --serial SN-E5 --bluetooth 00:1A:7D:DA:7E:05
	assert_failure 3
	assert_stderr_line -p 'no IDevID: the server refuses the ir: PKIStatus: rejection; PKIFailureInfo: duplicateCertReq; StatusString: "PPID 01001a7dda7e05 already has a valid idevid certificate'
	assert_not_exist e.crt
	assert_not_exist e.key
}

@test "e2e: ldevid vouched for by the IDevID, enrolled again, renewed by kur, revoked by rr; the audit chain holds" {
	m2m-enroll idevid --server "$URL" "${TRUST[@]}" "${MAC[@]}" \
		--key i.key --serial SN-E6 --bluetooth 00:1A:7D:DA:7E:06 >/dev/null
	run --separate-stderr m2m-enroll ldevid --server "$URL/p/ldevid" "${TRUST[@]}" \
		--idevid-key i.key --idevid-cert i.crt --key l.key --cert l.crt --json
	assert_success
	assert_output --regexp "^\{\"idevid_serial\":\"$(serial_of i.crt)\","
	verify l.crt
	first=$(serial_of l.crt)
	run --separate-stderr m2m-ca show --ca "$F/ca" "$first" --json
	assert_output --partial "\"vouched_by\":\"$(serial_of i.crt)\""
	# The device lost its LDevID: its IDevID enrolls it again.
	rm l.key l.crt
	run --separate-stderr m2m-enroll ldevid --server "$URL/p/ldevid" "${TRUST[@]}" \
		--idevid-key i.key --idevid-cert i.crt --key l.key --cert l.crt
	assert_success
	second=$(serial_of l.crt)
	grep -q " ir p/ldevid accepted $second: superseded $first (" "$F/server.log"
	run --separate-stderr m2m-ca show --ca "$F/ca" "$first" --json
	assert_output --partial '"status":"revoked"'
	assert_output --partial '"reason":"superseded"'
	run --separate-stderr m2m-enroll renew --server "$URL" "${TRUST[@]}" \
		--key l.key --cert l.crt --before 36500 --json
	assert_success
	assert_output --partial "\"renewed\":true,\"replaced\":\"$second\""
	verify l.crt
	third=$(serial_of l.crt)
	run --separate-stderr m2m-enroll revoke --server "$URL" "${TRUST[@]}" \
		--cert l.crt --key l.key --reason keyCompromise --json
	assert_success
	assert_output "{\"revoked\":true,\"certificate_serial\":\"$third\",\"fingerprint\":\"$(openssl x509 -in l.crt -outform DER | sha256sum | cut -d' ' -f1)\",\"reason\":\"keyCompromise\",\"server\":\"$URL\"}"
	run --separate-stderr m2m-ca show --ca "$F/ca" "$third" --json
	assert_output --partial '"reason":"keyCompromise"'
	run --separate-stderr m2m-verify ledger "$F/ca"
	assert_success
	assert_output --regexp ': ok \('
}

@test "e2e: an IDevID of another manufacturer gets no LDevID, and nothing is recorded" {
	m2m-ca init other --subject 'CN=Other Maker' --hw-type "$HW" >/dev/null
	m2m-ca issue --ca other --generate-key o.key --ppid 01001a7dda7e07 --serial SN-E7 --out o.crt
	before=$(m2m-ca list --ca "$F/ca" | wc -l)
	run --separate-stderr m2m-enroll ldevid --server "$URL/p/ldevid" "${TRUST[@]}" \
		--idevid-key o.key --idevid-cert o.crt --key l.key --cert l.crt
	assert_failure 3
	assert_stderr_line -p 'the server refuses the ir: PKIStatus: rejection;'
	assert_not_exist l.crt
	assert_equal "$(m2m-ca list --ca "$F/ca" | wc -l)" "$before"
}

@test "e2e: refusals before the body reach the operator with the server's reason (errorDetails)" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout str.key -out str.pem -subj /CN=stranger -days 2 2>/dev/null
	run --separate-stderr m2m-enroll idevid --server "$URL" "${TRUST[@]}" \
		--station-cert str.pem --station-key str.key --key z.key \
		--serial SN-E8 --ppid 01001a7dda7e08
	assert_failure 3
	assert_stderr_line -p 'SN-E8: no IDevID: the server refuses the ir: PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: "request rejected by server"; errorDetails: the request is '
	assert_not_exist z.key
	run --separate-stderr m2m-ca list --ca "$F/ca" --ppid 01001a7dda7e08
	assert_success
	assert_output ''
}
