#!/usr/bin/env bats
# m2m-ca serve against OpenSSL's own CMP client (openssl cmp), curl and a
# raw socket, on 127.0.0.1 and a port found free by the test.  One server
# for the file (setup_file), stopped by teardown_file whatever happens.

load 'helpers/common'

HW=1.3.6.1.4.1.99999.1.1
SECRET=bootstrap-secret-1

# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server LOG ARGS...: m2m-ca serve in the background on $PORT; waits
# for its first log line.  Sets SERVER_PID.
start_server() {
	local log=$1 i
	shift
	m2m-ca serve --ca "$BATS_FILE_TMPDIR/ca" --listen "127.0.0.1:$PORT" \
		"$@" 2>"$log" &
	SERVER_PID=$!
	for i in $(seq 100); do
		grep -q 'serving CMP' "$log" 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# hwcnf FILE PPID: an openssl config whose [exts] names the device.
hwcnf() {
	cat >"$1" <<EOF
[exts]
subjectAltName = otherName:1.3.6.1.5.5.7.8.4;SEQUENCE:hwmod
[hwmod]
hwType = OID:$HW
hwSerialNum = FORMAT:HEX,OCTETSTRING:$2
EOF
}

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'CN=CMP Test Root' >/dev/null || return 1
	m2m-ca init ca --parent root --subject 'O=Example,CN=Issuing CA' \
		--hw-type "$HW" --device-subject 'O=Example,OU=Devices' \
		>/dev/null || return 1
	# Two stations, certificates of this CA; the second is revoked later.
	m2m-ca issue --ca ca --generate-key station.key --ppid 01001a7dda7190 \
		--serial STATION-1 --out station.pem || return 1
	m2m-ca issue --ca ca --generate-key station2.key --ppid 01001a7dda7191 \
		--serial STATION-2 --out station2.pem || return 1
	cat station.pem station2.pem >ca/stations.pem
	# A stranger: a self-signed certificate.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout stranger.key -out stranger.pem -subj /CN=stranger \
		-days 2 2>/dev/null || return 1
	cp root/ca.crt root.pem
	cat root/ca.crt ca/ca.crt >ca/manufacturers.pem
	m2m-ca profile set --ca ca ldevid trust-anchors=manufacturers.pem || return 1
	PORT=$(free_port)
	export PORT
	export CMP_SECRET=$SECRET
	start_server server.log --workers 2 --mac-secret env:CMP_SECRET \
		--max-body 65536 --timeout 5 || return 1
	echo "$SERVER_PID" >server.pid
}

teardown_file() {
	cd "$BATS_FILE_TMPDIR" || return 0
	if [ -s server.pid ]; then
		kill "$(cat server.pid)" 2>/dev/null
		wait "$(cat server.pid)" 2>/dev/null
	fi
	return 0
}

setup() {
	cd "$BATS_FILE_TMPDIR" || return 1
	CMP=(openssl cmp -server "127.0.0.1:$PORT" -path .well-known/cmp
		-srvcert ca/ca.crt -ignore_keyusage)
	STATION=(-cert station.pem -key station.key)
}

# verify CERT: chains to the root, strict RFC 5280 checks.
verify() {
	run openssl verify -x509_strict -CAfile root.pem -untrusted ca/ca.crt "$1"
	assert_success
	assert_output "$1: OK"
}

serial_of() {
	openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f
}

@test "ir signed by a station, implicit confirmation: the IDevID verifies and is in the ledger" {
	newkey d1.key
	hwcnf d1.cnf 01001a7dda7101
	run "${CMP[@]}" "${STATION[@]}" -cmd ir -newkey d1.key \
		-subject /serialNumber=DEV-1 -config d1.cnf -reqexts exts \
		-implicit_confirm -certout d1.pem
	assert_success
	verify d1.pem
	run openssl x509 -in d1.pem -noout -subject -ext subjectAltName
	assert_line 'subject=O = Example, OU = Devices, serialNumber = DEV-1'
	assert_line --partial "othername: 1.3.6.1.5.5.7.8.4::"
	run --separate-stderr m2m-ca show --ca ca "$(serial_of d1.pem)" --json
	assert_success
	assert_output --partial '"profile":"idevid"'
	assert_output --partial '"status":"valid"'
	assert_output --partial '"serial":"DEV-1"'
	grep -q " ir accepted $(serial_of d1.pem) (" server.log
}

@test "cr with certConf, and p10cr: both verify" {
	newkey d2.key
	hwcnf d2.cnf 01001a7dda7102
	run "${CMP[@]}" "${STATION[@]}" -cmd cr -newkey d2.key \
		-subject /serialNumber=DEV-2 -config d2.cnf -reqexts exts \
		-certout d2.pem
	assert_success
	verify d2.pem
	grep -q " certConf accepted $(serial_of d2.pem) (" server.log

	newkey d3.key
	hwcnf d3.cnf 01001a7dda7103
	openssl req -new -key d3.key -subj /serialNumber=DEV-3 \
		-config <(printf '[req]\ndistinguished_name=dn\n[dn]\n'; cat d3.cnf) \
		-reqexts exts -out d3.csr
	run "${CMP[@]}" "${STATION[@]}" -cmd p10cr -csr d3.csr -certout d3.pem
	assert_success
	verify d3.pem
	grep -q " p10cr accepted $(serial_of d3.pem) (" server.log
}

@test "a key of a type the CA does not take (Ed448): refused for its algorithm, not its proof of possession" {
	# Requests are parsed where only EC, RSA and Ed25519 keys decode; one
	# with another key is parsed again the ordinary way, so the refusal
	# names the key type (badAlg), as it did before that.
	openssl genpkey -algorithm ED448 -out d9.key 2>/dev/null
	hwcnf d9.cnf 01001a7dda7109
	run "${CMP[@]}" "${STATION[@]}" -cmd ir -newkey d9.key \
		-subject /serialNumber=DEV-9 -config d9.cnf -reqexts exts \
		-implicit_confirm -certout d9.pem
	assert_failure
	assert_output --partial 'PKIFailureInfo: badAlg; StatusString: "request: key type ED448 is not supported"'
	assert_file_not_exists d9.pem
	grep -q ' ir rejected: request: key type ED448 is not supported (' server.log
	run m2m-ca list --ca ca --ppid 01001a7dda7109
	assert_success
	assert_output ''
}

@test "ir protected by the shared secret (PBM) for bootstrap" {
	newkey d4.key
	hwcnf d4.cnf 01001a7dda7104
	run "${CMP[@]}" -secret env:CMP_SECRET -ref station-1 -cmd ir \
		-newkey d4.key -subject /CN=device -config d4.cnf -reqexts exts -certout d4.pem
	assert_success
	verify d4.pem
	# the device serial is then the PPID in hex
	run openssl x509 -in d4.pem -noout -subject
	assert_output 'subject=O = Example, OU = Devices, serialNumber = 01001a7dda7104'

	newkey d5.key
	hwcnf d5.cnf 01001a7dda7105
	run "${CMP[@]}" -secret pass:wrong -ref station-1 -cmd ir \
		-newkey d5.key -subject /CN=device -config d5.cnf -reqexts exts -certout d5.pem
	assert_failure
	assert_output --partial 'received ERROR'
	assert_file_not_exists d5.pem
	# the answer is under the right secret, which the client lacks: the
	# reason is in the server's log
	grep -q " ir error: the request's protection does not verify with the shared secret (" server.log
}

@test "LDevID: ir on /p/ldevid signed by the IDevID, kur with it, rr by its own key, genm" {
	newkey l1.key
	newkey l2.key
	run "${CMP[@]}" -path .well-known/cmp/p/ldevid -cert d2.pem -key d2.key \
		-cmd ir -newkey l1.key -subject /CN=ignored -certout l1.pem
	assert_success
	verify l1.pem
	run openssl x509 -in l1.pem -noout -subject -ext subjectAltName
	assert_line 'subject=O = Example, OU = Devices, serialNumber = DEV-2'
	assert_line --partial "othername: 1.3.6.1.5.5.7.8.4::"
	run --separate-stderr m2m-ca show --ca ca "$(serial_of l1.pem)" --json
	assert_output --partial "\"vouched_by\":\"$(serial_of d2.pem)\""

	run "${CMP[@]}" -cert l1.pem -key l1.key -cmd kur -newkey l2.key \
		-certout l2.pem
	assert_success
	verify l2.pem
	run --separate-stderr m2m-ca show --ca ca "$(serial_of l1.pem)" --json
	assert_output --partial '"status":"revoked"'

	run "${CMP[@]}" -cert l2.pem -key l2.key -cmd rr -oldcert l2.pem
	assert_success
	assert_output --partial 'revocation accepted'
	run --separate-stderr m2m-ca show --ca ca "$(serial_of l2.pem)" --json
	assert_output --partial '"status":"revoked"'

	run "${CMP[@]}" "${STATION[@]}" -cmd genm
	assert_success
	assert_output --partial 'genp contains ITAV of type: id-it-caCerts'

	run --separate-stderr m2m-ca audit --ca ca --verify
	assert_success
}

@test "a station revokes another device's certificate; a device may not" {
	run "${CMP[@]}" -cert d4.pem -key d4.key -cmd rr -oldcert d3.pem
	assert_failure
	assert_output --partial 'only a station or the certificate'"'"'s own key may revoke it'
	# removeFromCRL (8) is no reason to revoke; the reason asked for is kept
	run "${CMP[@]}" "${STATION[@]}" -cmd rr -oldcert d3.pem -revreason 8
	assert_failure
	assert_output --partial "the revocation request's reason is malformed or cannot be asked for (8)"
	run "${CMP[@]}" "${STATION[@]}" -cmd rr -oldcert d3.pem -revreason 1
	assert_success
	run --separate-stderr m2m-ca show --ca ca "$(serial_of d3.pem)" --json
	assert_output --partial '"status":"revoked"'
	assert_output --partial '"reason":"keyCompromise"'
}

@test "a certConf that rejects the certificate revokes it" {
	newkey d6.key
	hwcnf d6.cnf 01001a7dda7106
	# the client checks the new certificate against an unrelated anchor
	run "${CMP[@]}" "${STATION[@]}" -cmd ir -newkey d6.key -subject /CN=device \
		-config d6.cnf -reqexts exts -out_trusted stranger.pem \
		-certout d6.pem
	assert_failure
	run grep ' certConf rejected ' server.log
	assert_success
	assert_output --partial 'was rejected by the client: revoked'
	serial=$(grep -o 'certConf rejected [0-9a-f]*' server.log | tail -1 | cut -d' ' -f3)
	run --separate-stderr m2m-ca show --ca ca "$serial" --json
	assert_output --partial '"status":"revoked"'
}

@test "unprotected, unknown signer, revoked station, wrong recipient: CMP errors with a reason" {
	newkey n.key
	hwcnf n.cnf 01001a7dda7120
	run "${CMP[@]}" -unprotected_requests -cmd ir -newkey n.key \
		-subject /CN=x -config n.cnf -reqexts exts -certout n.pem
	assert_failure
	assert_output --partial 'received ERROR'
	assert_output --partial 'the request is not protected: sign it as a station or device, or MAC it with the shared secret'

	run "${CMP[@]}" -cert stranger.pem -key stranger.key -cmd ir \
		-newkey n.key -subject /CN=x -config n.cnf -reqexts exts -certout n.pem
	assert_failure
	assert_output --partial 'received ERROR'
	assert_output --partial 'the request is signed but carries no certificate of its signer'

	m2m-ca revoke --ca ca "$(serial_of station2.pem)" >/dev/null
	run "${CMP[@]}" -cert station2.pem -key station2.key -cmd ir \
		-newkey n.key -subject /CN=x -config n.cnf -reqexts exts -certout n.pem
	assert_failure
	assert_output --partial "the station certificate $(serial_of station2.pem) ('serialNumber=STATION-2,OU=Devices,O=Example') is revoked"

	run openssl cmp -server "127.0.0.1:$PORT" -path .well-known/cmp \
		-trusted root.pem -untrusted ca/ca.crt -ignore_keyusage \
		-recipient /CN=Another -cert station.pem -key station.key \
		-cmd ir -newkey n.key -subject /CN=x -config n.cnf -reqexts exts -certout n.pem
	assert_failure
	assert_output --partial 'received ERROR'
	assert_output --partial "the request is for 'CN=Another', not for this CA ('CN=Issuing CA,O=Example')"
	assert_file_not_exists n.pem
	# nothing was issued for that PPID
	run --separate-stderr m2m-ca list --ca ca --ppid 01001a7dda7120
	assert_success
	assert_output ''
}

@test "a tampered request gets a CMP error; garbage, size, method, path and type get HTTP errors" {
	newkey t.key
	hwcnf t.cnf 01001a7dda7121
	# a request as sent, saved; the server answers it the first time
	run "${CMP[@]}" "${STATION[@]}" -cmd ir -newkey t.key -subject /CN=x -config t.cnf \
		-reqexts exts -implicit_confirm -reqout t.der -certout t.pem
	assert_success
	# flip one byte of the senderNonce (header, under the protection)
	off=$(openssl asn1parse -inform DER -in t.der | awk -F: '/cont \[ 5 \]/ { print $1 + 0; exit }')
	python3 - "$off" <<'EOF'
import sys
off = int(sys.argv[1]) + 6
b = bytearray(open("t.der", "rb").read())
b[off] ^= 0x01
open("bad.der", "wb").write(bytes(b))
EOF
	run curl -sS -o rsp.der -w '%{http_code} %{content_type}' \
		-H 'Content-Type: application/pkixcmp' --data-binary @bad.der \
		"http://127.0.0.1:$PORT/.well-known/cmp"
	assert_success
	assert_output '200 application/pkixcmp'
	# an error message (PKIBody [23]) whose text names the failed check
	run openssl asn1parse -inform DER -in rsp.der
	assert_output --partial 'cont [ 23 ]'
	run grep -a -c "the request's protection does not verify with its signer's certificate" rsp.der
	assert_output 1
	grep -q " ir error: the request's protection does not verify" server.log

	head -c 1000 /dev/urandom >garbage.der
	run curl -sS -w ' %{http_code}' -H 'Content-Type: application/pkixcmp' \
		--data-binary @garbage.der "http://127.0.0.1:$PORT/.well-known/cmp"
	assert_output 'the body is no DER PKIMessage
 400'
	head -c 70000 /dev/zero >big.der
	run curl -sS -o /dev/null -w '%{http_code}' \
		-H 'Content-Type: application/pkixcmp' --data-binary @big.der \
		"http://127.0.0.1:$PORT/.well-known/cmp"
	assert_output '413'
	run curl -sS -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$PORT/.well-known/cmp"
	assert_output '405'
	run curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/pkixcmp' \
		--data-binary @t.der "http://127.0.0.1:$PORT/cmp"
	assert_output '404'
	run curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' \
		--data-binary @t.der "http://127.0.0.1:$PORT/.well-known/cmp/p/idevid"
	assert_output '415'
	grep -q ' - http 415 the content type must be application/pkixcmp (' server.log
}

@test "a client that disconnects mid-request does not stop the server" {
	python3 - "$PORT" <<'EOF'
import socket, sys
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"POST /.well-known/cmp HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/pkixcmp\r\nContent-Length: 5000\r\n\r\n0123456789")
    s.close()
EOF
	# and, on both workers, clients that stay silent while another is served
	python3 - "$PORT" <<'EOF' &
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(4)]
for s in held:
    s.sendall(b"POST /.well-known/cmp HTTP/1.1\r\n")
time.sleep(3)
EOF
	local slow=$!
	sleep 0.3
	newkey g.key
	hwcnf g.cnf 01001a7dda7122
	run timeout 2 "${CMP[@]}" "${STATION[@]}" -cmd ir -newkey g.key -subject /CN=x \
		-config g.cnf -reqexts exts -implicit_confirm -certout g.pem
	kill "$slow" 2>/dev/null
	wait "$slow" 2>/dev/null || true
	assert_success
	verify g.pem
}

@test "a second server on the same port: one error line, exit 4" {
	run --separate-stderr m2m-ca serve --ca ca --listen "127.0.0.1:$PORT"
	assert_failure 4
	assert_stderr "m2m-ca: cannot serve: cannot listen on '127.0.0.1:$PORT': Address already in use"
}

@test "usage errors: exit 2" {
	run --separate-stderr m2m-ca serve --ca ca
	assert_failure 2
	assert_stderr "m2m-ca: serve needs --listen ADDR:PORT (see 'm2m-ca serve --help')"
	run --separate-stderr m2m-ca serve --ca ca --listen 127.0.0.1:1 --tls-cert x.pem
	assert_failure 2
	assert_stderr "m2m-ca: --tls-cert and --tls-key go together (see 'm2m-ca serve --help')"
	run --separate-stderr m2m-ca serve --ca ca --listen nowhere
	assert_failure 2
	assert_stderr "m2m-ca: cannot serve: 'nowhere' is no ADDRESS:PORT to listen on"
}

@test "HTTPS with the TLS key from a file; SIGTERM stops the server, exit 0" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout tls.key -out tls.pem -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
	local port
	port=$(free_port)
	m2m-ca serve --ca ca --listen "127.0.0.1:$port" --workers 1 \
		--tls-cert tls.pem --tls-key tls.key 2>tls.log &
	local pid=$!
	for _ in $(seq 100); do
		grep -q 'serving CMP' tls.log && break
		sleep 0.05
	done
	newkey s.key
	hwcnf s.cnf 01001a7dda7123
	run openssl cmp -server "127.0.0.1:$port" -path .well-known/cmp \
		-tls_used -tls_trusted tls.pem -srvcert ca/ca.crt -ignore_keyusage \
		"${STATION[@]}" -cmd ir -newkey s.key -subject /CN=x -config s.cnf -reqexts exts \
		-implicit_confirm -certout s.pem
	kill -TERM "$pid"
	local status=0
	wait "$pid" || status=$?
	assert_success
	verify s.pem
	[ "$status" -eq 0 ]
	run cat tls.log
	assert_line "m2m-ca: serving CMP on https://127.0.0.1:$port with 1 worker"
	assert_line 'm2m-ca: stopping'
}
