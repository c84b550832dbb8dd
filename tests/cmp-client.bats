#!/usr/bin/env bats
# m2m-enroll --server: our CMP client (lib/cmp_client.c) against OpenSSL's
# own CMP mock server (`openssl cmp -port`), with file keys, a swtpm and a
# SoftHSM2 token.  The mock answers every request with the certificate it
# was started with (-rsp_cert), so each test prepares that certificate for
# the device key first (--use-key, --reuse-idevid-key, --same-key); a mock
# answer for another key is how the refusal of a wrong certificate is
# tested.  The mock binds every address of its port (OpenSSL 3.0 has no
# option for loopback only), so it runs in a network namespace of its own
# that has only a loopback interface, and so do the clients that talk to it
# (m2m-enroll below); it handles at most -max_msgs messages, and teardown
# stops it.

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/swtpm'
load 'helpers/softhsm'

HW=1.3.6.1.4.1.32473.7

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	swtpm_start || return 1
	softhsm_setup "$BATS_FILE_TMPDIR/softhsm" m2m-cmp || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null &&
		m2m-ca init factory --parent root --hw-type "$HW" \
			--device-subject 'O=Example,OU=Devices' > /dev/null &&
		m2m-ca init other --subject 'CN=Other Root' --hw-type "$HW" \
			--device-subject 'O=Other' > /dev/null || return 1
	printf 'keyUsage=critical,digitalSignature\n' > ee.ext
	# The server's signing credential and a factory station's, both
	# issued by the factory CA.
	for who in server station; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout "$who.key" -subj "/O=Example/CN=$who" \
			-out "$who.csr" 2>/dev/null &&
			openssl x509 -req -in "$who.csr" -CA factory/ca.crt \
				-CAkey factory/ca.key -set_serial "0x1$(openssl rand -hex 7)" \
				-days 30 -extfile ee.ext -out "$who.crt" 2>/dev/null ||
			return 1
	done
	cat station.crt factory/ca.crt > station-chain.pem
	ns_start
}

teardown_file() {
	ns_stop
	softhsm_teardown
	swtpm_stop
}

# ns_start: a network namespace with only loopback, held by a sleeping
# process (NS_PID); NSNET names it for nsenter.  Needs root, as CI is.
ns_start() {
	local i
	unshare --net sh -c 'ip link set lo up && exec sleep 100000' \
		</dev/null >/dev/null 2>&1 3>&- &
	NS_PID=$!
	export NS_PID NSNET=/proc/$NS_PID/ns/net
	for ((i = 0; i < 100; i++)); do
		nsenter --net="$NSNET" ip -o link show lo 2>/dev/null | grep -q 'UP' &&
			return 0
		sleep 0.05
	done
	echo "cannot make a network namespace for OpenSSL's mock server (unshare --net needs root)" >&2
	return 1
}

ns_stop() {
	if [ -n "${NS_PID-}" ]; then
		kill "$NS_PID" 2>/dev/null || true
		wait "$NS_PID" 2>/dev/null || true
	fi
	return 0
}

# m2m-enroll in the mock's namespace while a mock runs there.
m2m-enroll() {
	if [ -n "${MOCK_NS-}" ]; then
		nsenter --net="$NSNET" m2m-enroll "$@"
	else
		command m2m-enroll "$@"
	fi
}

setup() {
	F=$BATS_FILE_TMPDIR
	T="pkcs11:token=$SOFTHSM_TOKEN"
	P="pin-source=file:$SOFTHSM_PIN_FILE"
	export SECRET=shared-secret-1
	MAC=(-srv_ref station-1 -srv_secret env:SECRET)
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	mock_stop
}

# ---- helpers -------------------------------------------------------------------

# free_port: a TCP port nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# mock_start MAX_MSGS ARGS...: OpenSSL's CMP mock server on a free port,
# answering at most MAX_MSGS messages; URL gets its address.  It signs its
# answers with the server's credential, unless ARGS give it the shared
# secret ("${MAC[@]}"): then it checks and makes MACs.
mock_start() {
	local n=$1 i
	shift
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT/pkix/
	nsenter --net="$NSNET" openssl cmp -port "$PORT" -max_msgs "$n" \
		-srv_cert "$F/server.crt" -srv_key "$F/server.key" "$@" \
		</dev/null >mock.log 2>&1 3>&- &
	MOCK_PID=$!
	MOCK_NS=1
	for ((i = 0; i < 100; i++)); do
		if nsenter --net="$NSNET" ss -ltn "sport = :$PORT" | grep -q LISTEN; then
			return 0
		fi
		kill -0 "$MOCK_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat mock.log >&2
	return 1
}

mock_stop() {
	if [ -n "${MOCK_PID-}" ]; then
		kill "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
		unset MOCK_PID
	fi
	unset MOCK_NS
	return 0
}

# issue NAME KEYURI SERIAL BLUETOOTH [CA]: the IDevID for the key at
# KEYURI from CA (default the factory) into NAME.crt.
issue() {
	m2m-enroll csr --key "$2" --out "$1.csr" &&
		m2m-ca issue --ca "$F/${5:-factory}" --csr "$1.csr" --serial "$3" \
			--bluetooth "$4" --out "$1.crt"
}

# ldev NAME KEYURI DAYS: a certificate for the key at KEYURI from the
# factory CA, valid for DAYS, in NAME.crt.
ldev() {
	m2m-enroll csr --key "$2" --out "$1.csr" &&
		openssl x509 -req -in "$1.csr" -CA "$F/factory/ca.crt" \
			-CAkey "$F/factory/ca.key" -set_serial "0x1$(openssl rand -hex 7)" \
			-days "$3" -extfile "$F/ee.ext" -out "$1.crt" 2>/dev/null
}

# sha PEMFILE: the SHA-256 of the first certificate's DER.
sha() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

serial() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial)
	s=${s#serial=}
	printf '%s\n' "${s,,}"
}

# ---- idevid ----------------------------------------------------------------------

@test "idevid --server: ir protected by a shared secret, file key; certificate and chain installed, verify" {
	m2m-enroll keygen --key dev.key > /dev/null
	issue want dev.key SN-C1 00:1A:7D:DA:20:01
	mock_start 1 "${MAC[@]}" -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt" -grant_implicitconf
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --key dev.key --serial SN-C1 \
		--bluetooth 00:1A:7D:DA:20:01 --use-key
	assert_success
	assert_stderr ''
	assert_output --regexp "^provisioned SN-C1 ppid 01001a7dda2001: IDevID $(serial want.crt) SHA-256 $(sha want.crt), key 'dev.key', certificate 'dev.crt' \(1 chain certificate\), [0-9.]+ ms$"
	assert_equal "$(grep -c 'BEGIN CERTIFICATE' dev.crt)" 2
	assert_equal "$(sha dev.crt)" "$(sha want.crt)"
	run openssl verify -CAfile "$F/root/ca.crt" -untrusted dev.crt dev.crt
	assert_output 'dev.crt: OK'
	grep -q 'POST /pkix/' mock.log
}

@test "idevid --server: the request template carries serialNumber and the PPID in a HardwareModuleName" {
	m2m-enroll keygen --key dev.key > /dev/null
	PORT=$(free_port)
	# A listener that keeps what it is sent and closes.
	python3 - "$PORT" req.der <<'EOF' &
import re, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
s.settimeout(10)
c, _ = s.accept()
c.settimeout(5)
data = b""
while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(re.search(rb"(?i)content-length: *(\d+)", data).group(1)):
    d = c.recv(65536)
    if not d:
        break
    data += d
open(sys.argv[2], "wb").write(data.split(b"\r\n\r\n", 1)[1])
c.close()
EOF
	MOCK_PID=$!
	for ((i = 0; i < 100; i++)); do
		ss -ltn "sport = :$PORT" | grep -q LISTEN && break
		sleep 0.05
	done
	run --separate-stderr m2m-enroll idevid --server "http://127.0.0.1:$PORT/.well-known/cmp" \
		--server-trust "$F/root/ca.crt" --secret env:SECRET --ref station-1 \
		--key dev.key --serial SN-C2 --ppid 01001a7dda2002 --use-key
	assert_failure 4
	wait "$MOCK_PID"
	unset MOCK_PID
	run openssl asn1parse -inform DER -in req.der
	assert_line --regexp ':serialNumber$'
	assert_line --regexp 'PRINTABLESTRING +:SN-C2$'
	assert_line --regexp ':X509v3 Subject Alternative Name$'
	# otherName id-on-hardwareModuleName { hwType id-on-hardwareModuleName,
	# hwSerialNum 01001a7dda2002 }, and implicitConfirm asked for.
	assert_line --regexp '\[HEX DUMP\]:3023A02106082B06010505070804A015301306082B06010505070804040701001A7DDA2002$'
	assert_line --regexp ':id-it-implicitConfirm$'
}

@test "idevid --server --cr: station certificate protects, explicit certConf; the server's signature verifies" {
	m2m-enroll keygen --key dev.key > /dev/null
	issue want dev.key SN-C3 00:1A:7D:DA:20:03
	mock_start 2 -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt" \
		-srv_trusted "$F/root/ca.crt"
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--station-cert "$F/station-chain.pem" --station-key "$F/station.key" \
		--key dev.key --serial SN-C3 --bluetooth 00:1A:7D:DA:20:03 --use-key --cr \
		--explicit-confirm --json
	assert_success
	assert_stderr ''
	assert_output --regexp "^\{\"serial\":\"SN-C3\",\"ppid\":\"01001a7dda2003\",\"status\":\"provisioned\",\"certificate_serial\":\"$(serial want.crt)\",\"fingerprint\":\"$(sha want.crt)\",\"key\":\"dev.key\",\"cert\":\"dev.crt\",\"chain\":null,\"chain_certificates\":1,"
	# cr, then certConf: two messages.
	assert_equal "$(grep -c 'POST /pkix/' mock.log)" 2
	# Run again: the device holds it, nothing is sent.
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--station-cert "$F/station-chain.pem" --station-key "$F/station.key" \
		--key dev.key --serial SN-C3 --bluetooth 00:1A:7D:DA:20:03 --use-key
	assert_ok --regexp "^already provisioned SN-C3 ppid 01001a7dda2003: IDevID $(serial want.crt) "
}

@test "idevid --server: a certificate for another key is refused; nothing installed, the new key removed" {
	m2m-enroll keygen --key other.key > /dev/null
	issue want other.key SN-C4 00:1A:7D:DA:20:04
	mock_start 2 "${MAC[@]}" -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt"
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --key dev.key --serial SN-C4 \
		--bluetooth 00:1A:7D:DA:20:04 --explicit-confirm
	assert_error 1 "m2m-enroll: SN-C4: no IDevID: the certificate the server issued is not for the new key; refused it"
	assert_not_exist dev.key
	assert_not_exist dev.crt
	# The refusal went to the server as a certConf.
	assert_equal "$(grep -c 'POST /pkix/' mock.log)" 2
}

@test "idevid --server: a certificate that does not chain to --server-trust is refused" {
	m2m-enroll keygen --key dev.key > /dev/null
	issue want dev.key SN-C5 00:1A:7D:DA:20:05 other
	# MAC-protected answers: only the certificate is judged by the anchors.
	mock_start 1 "${MAC[@]}" -rsp_cert want.crt -grant_implicitconf
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --key dev.key --serial SN-C5 \
		--bluetooth 00:1A:7D:DA:20:05 --use-key
	assert_error 1 "m2m-enroll: SN-C5: no IDevID: the certificate the server issued does not chain to the trust anchors: unable to get local issuer certificate; refused it"
	assert_not_exist dev.crt
	assert_file_exists dev.key	# --use-key: the device's own key stays
}

@test "idevid --server: answers signed by a server --server-trust does not vouch for are not acceptable" {
	m2m-enroll keygen --key dev.key > /dev/null
	issue want dev.key SN-C6 00:1A:7D:DA:20:06
	mock_start 1 -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt" -grant_implicitconf \
		-srv_trusted "$F/root/ca.crt"
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/other/ca.crt" \
		--station-cert "$F/station-chain.pem" --station-key "$F/station.key" \
		--key dev.key --serial SN-C6 --bluetooth 00:1A:7D:DA:20:06 --use-key
	assert_error_prefix 1 "m2m-enroll: SN-C6: no IDevID: the response from '$URL' is not acceptable: "
	assert_not_exist dev.crt
}

@test "idevid --server: the server refuses: its PKIStatusInfo is shown, exit 3, the new key removed" {
	mock_start 1 "${MAC[@]}" -rsp_cert "$F/server.crt" -pkistatus 2 -failure 2 -statusstring 'unknown device'
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --key dev.key --serial SN-C7 \
		--bluetooth 00:1A:7D:DA:20:07
	assert_error 3 'm2m-enroll: SN-C7: no IDevID: the server refuses the ir: PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: "unknown device"'
	assert_not_exist dev.key
}

@test "idevid --server: an error message from the server is a refusal too" {
	mock_start 1 "${MAC[@]}" -rsp_cert "$F/server.crt" -send_error -statusstring 'try later'
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --key dev.key --serial SN-C8 \
		--bluetooth 00:1A:7D:DA:20:08
	assert_error 3 'm2m-enroll: SN-C8: no IDevID: the server refuses the ir: PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: "error processing message"'
	assert_not_exist dev.key
}

@test "idevid --server: the server makes the client poll; the certificate comes in the end" {
	m2m-enroll keygen --key dev.key > /dev/null
	issue want dev.key SN-C9 00:1A:7D:DA:20:09
	mock_start 3 "${MAC[@]}" -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt" -grant_implicitconf \
		-poll_count 2 -check_after 0
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --key dev.key --serial SN-C9 \
		--bluetooth 00:1A:7D:DA:20:09 --use-key
	assert_success
	assert_output --regexp "^provisioned SN-C9 "
	assert_equal "$(grep -c 'POST /pkix/' mock.log)" 3
}

@test "idevid --server: nothing listening: tried until --timeout, exit 4, the new key removed" {
	PORT=$(free_port)
	SECONDS=0
	run --separate-stderr m2m-enroll idevid --server "http://127.0.0.1:$PORT/.well-known/cmp" \
		--server-trust "$F/root/ca.crt" --secret env:SECRET --ref station-1 \
		--key dev.key --serial SN-C10 --bluetooth 00:1A:7D:DA:20:10 --timeout 1
	[ "$SECONDS" -le 4 ] || fail "took $SECONDS s"
	assert_error 4 "m2m-enroll: SN-C10: no IDevID: no answer from 'http://127.0.0.1:$PORT/.well-known/cmp' within 1 s: connect timeout; transfer error (request sent: IR, expected response: IP)"
	assert_not_exist dev.key
}

@test "idevid --server: a server that accepts and never answers: exit 4 after --timeout" {
	PORT=$(free_port)
	python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
c, _ = s.accept()
time.sleep(20)
' "$PORT" </dev/null >/dev/null 2>&1 3>&- &
	MOCK_PID=$!
	for ((i = 0; i < 100; i++)); do
		ss -ltn "sport = :$PORT" | grep -q LISTEN && break
		sleep 0.05
	done
	SECONDS=0
	run --separate-stderr m2m-enroll idevid --server "http://127.0.0.1:$PORT/" \
		--server-trust "$F/root/ca.crt" --secret env:SECRET --ref station-1 \
		--key dev.key --serial SN-C11 --bluetooth 00:1A:7D:DA:20:11 --timeout 1
	[ "$SECONDS" -le 4 ] || fail "took $SECONDS s"
	assert_error 4 "m2m-enroll: SN-C11: no IDevID: no answer from 'http://127.0.0.1:$PORT/' within 1 s: transfer timeout; transfer error (request sent: IR, expected response: IP)"
	assert_not_exist dev.key
}

@test "idevid --server: an HTTP server that answers something else than CMP: exit 4" {
	PORT=$(free_port)
	python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).handle_request()
' "$PORT" </dev/null >/dev/null 2>&1 3>&- &
	MOCK_PID=$!
	for ((i = 0; i < 100; i++)); do
		ss -ltn "sport = :$PORT" | grep -q LISTEN && break
		sleep 0.05
	done
	run --separate-stderr m2m-enroll idevid --server "http://127.0.0.1:$PORT/" \
		--server-trust "$F/root/ca.crt" --secret env:SECRET --ref station-1 \
		--key dev.key --serial SN-C12 --bluetooth 00:1A:7D:DA:20:12
	assert_error_prefix 4 "m2m-enroll: SN-C12: no IDevID: cannot exchange CMP messages with 'http://127.0.0.1:$PORT/': "
	assert_not_exist dev.key
}

@test "idevid --server: a batch, one CMP client for all rows" {
	m2m-enroll keygen --key a.key > /dev/null
	m2m-enroll keygen --key b.key > /dev/null
	issue a a.key SN-B1 00:1A:7D:DA:21:01
	cat > m.csv <<EOF
serial,bluetooth,key
SN-B1,00:1A:7D:DA:21:01,a.key
SN-B2,00:1A:7D:DA:21:02,b.key
EOF
	# The mock has a.key's certificate for everyone: b is refused.
	mock_start 2 "${MAC[@]}" -rsp_cert a.crt -rsp_extracerts "$F/factory/ca.crt" -grant_implicitconf
	mv a.crt a-want.crt
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --batch m.csv --use-key --json
	assert_failure 3
	assert_line --index 0 --regexp '^\{"line":2,"serial":"SN-B1","ppid":"01001a7dda2101","status":"provisioned",'
	assert_line --index 1 --regexp '^\{"line":3,"serial":"SN-B2","ppid":"01001a7dda2102","status":"error",.*"error":"no IDevID: the certificate the server issued is not for the new key; refused it"\}$'
	assert_line --index 2 --regexp '^\{"summary":\{"devices":2,"provisioned":1,"existing":0,"resumed":0,"failed":1,'
	assert_stderr "m2m-enroll: m.csv:3: SN-B2: no IDevID: the certificate the server issued is not for the new key; refused it"
	assert_equal "$(sha a.crt)" "$(sha a-want.crt)"
	assert_not_exist b.crt
}

@test "idevid --server into swtpm: key, certificate and chain in the TPM, read back by tpm2-tools" {
	m2m-enroll keygen --key tpm2:handle=0x81020030 > /dev/null
	issue want tpm2:handle=0x81020030 SN-T1 00:1A:7D:DA:30:01
	mock_start 1 "${MAC[@]}" -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt" -grant_implicitconf
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--secret env:SECRET --ref station-1 --key tpm2:handle=0x81020030 \
		--cert tpm2:nv=0x01C90030 --chain tpm2:nv=0x01800130 --serial SN-T1 \
		--bluetooth 00:1A:7D:DA:30:01 --use-key
	assert_success
	assert_stderr ''
	assert_output --regexp "^provisioned SN-T1 ppid 01001a7dda3001: IDevID $(serial want.crt) SHA-256 $(sha want.crt), key 'tpm2:handle=0x81020030', certificate 'tpm2:nv=0x01C90030', chain 'tpm2:nv=0x01800130' \(1 chain certificate\)"
	tpm2_nvread 0x01C90030 -o got.der
	assert_equal "$(sha256sum < got.der | cut -d' ' -f1)" "$(sha want.crt)"
}

@test "idevid --server onto a SoftHSM2 token, protected by a station key on the token" {
	m2m-enroll keygen --key "$T;object=station?$P" > /dev/null
	m2m-enroll csr --key "$T;object=station?$P" --out st.csr
	openssl x509 -req -in st.csr -CA "$F/factory/ca.crt" -CAkey "$F/factory/ca.key" \
		-set_serial 0x5151 -days 30 -extfile "$F/ee.ext" -out st.crt 2>/dev/null
	m2m-enroll keygen --key "$T;object=dev1?$P" > /dev/null
	issue want "$T;object=dev1?$P" SN-H1 00:1A:7D:DA:40:01
	mock_start 1 -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt" -grant_implicitconf \
		-srv_trusted "$F/root/ca.crt" -srv_untrusted "$F/factory/ca.crt"
	run --separate-stderr m2m-enroll idevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--station-cert st.crt --station-key "$T;object=station?$P" \
		--key "$T;object=dev1?$P" --serial SN-H1 --bluetooth 00:1A:7D:DA:40:01 --use-key
	assert_success
	assert_output --regexp "^provisioned SN-H1 ppid 01001a7dda4001: IDevID $(serial want.crt) SHA-256 $(sha want.crt), key '$T;object=dev1\?pin-source=file:"
	run --separate-stderr m2m-enroll show --key "$T;object=dev1?$P" --cert "$T;object=dev1?$P" --json
	assert_success
	assert_output --partial "\"fingerprint\":\"$(sha want.crt)\",\"chain\":1,\"matches_key\":true"
}

@test "idevid --server: usage errors" {
	run --separate-stderr m2m-enroll idevid --server http://127.0.0.1:1/ --key k --serial S --ppid 01001a7dda2001
	assert_error 2 "m2m-enroll: --server needs --server-trust FILE: the anchors the server's answers chain to (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" --key k --serial S --ppid 01001a7dda2001
	assert_error 2 "m2m-enroll: --server needs --station-cert FILE and --station-key URI, or --secret SOURCE and --ref REF (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" --secret env:SECRET --key k --serial S --ppid 01001a7dda2001
	assert_error 2 "m2m-enroll: --secret and --ref go together (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --ca "$F/factory" --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" --secret env:SECRET --ref r --key k --serial S --ppid 01001a7dda2001
	assert_error 2 "m2m-enroll: give either --ca DIR or --server URL, not both (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --ca "$F/factory" --key k --serial S --ppid 01001a7dda2001 --cr
	assert_error 2 "m2m-enroll: --cr and --use-key go with --server (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --server ftp://x/ --server-trust "$F/root/ca.crt" --secret env:SECRET --ref r --key k --serial S --ppid 01001a7dda2001
	assert_error 2 "m2m-enroll: --server: 'ftp://x/' is not an http:// URL (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --server https://127.0.0.1/ --server-trust "$F/root/ca.crt" --secret env:SECRET --ref r --key k --serial S --ppid 01001a7dda2001
	assert_error 3 "m2m-enroll: cannot set up the CMP client: https: is not supported; use http:// (CMP messages are protected themselves)"
	run --separate-stderr m2m-enroll idevid --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" --secret env:SECRET --ref r --key k --serial S --ppid 01001a7dda2001 --timeout 0
	assert_error 2 "m2m-enroll: --timeout needs a number of seconds from 1 to 3600, not '0' (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --server http://127.0.0.1:1/ --server-trust nowhere.pem --secret env:SECRET --ref r --key k --serial S --ppid 01001a7dda2001
	assert_error_prefix 4 "m2m-enroll: cannot read the server's trust anchors 'nowhere.pem': "
	run --separate-stderr m2m-enroll idevid --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" --secret env:NOPE --ref r --key k --serial S --ppid 01001a7dda2001
	assert_error 3 "m2m-enroll: cannot set up the CMP client: environment variable 'NOPE' is not set"
}

# ---- ldevid, renew, revoke ----------------------------------------------------------

@test "ldevid --server: ir protected by the IDevID (key reused); LDevID installed and read back" {
	m2m-enroll keygen --key dev.key > /dev/null
	issue idev dev.key SN-L1 00:1A:7D:DA:50:01
	cat "$F/factory/ca.crt" >> idev.crt
	# The operator's LDevID for the same key, by another CA.
	m2m-ca issue --ca "$F/other" --csr idev.csr --serial SN-L1 --bluetooth 00:1A:7D:DA:50:01 --out ldev-want.crt
	mock_start 1 -rsp_cert ldev-want.crt -grant_implicitconf -srv_trusted "$F/root/ca.crt"
	run --separate-stderr m2m-enroll ldevid --server "$URL" --server-trust "$F/root/ca.crt" \
		--idevid-key dev.key --idevid-cert idev.crt --reuse-idevid-key --cert ldev.crt
	# The answer is signed by the factory's server: --server-trust root;
	# the LDevID is the other CA's: it does not chain to root.
	assert_error 1 "m2m-enroll: no LDevID: the certificate the server issued does not chain to the trust anchors: unable to get local issuer certificate; refused it"
	assert_not_exist ldev.crt
	cat "$F/root/ca.crt" "$F/other/ca.crt" > anchors.pem
	mock_stop
	mock_start 1 -rsp_cert ldev-want.crt -grant_implicitconf -srv_trusted "$F/root/ca.crt"
	run --separate-stderr m2m-enroll ldevid --server "$URL" --server-trust anchors.pem \
		--idevid-key dev.key --idevid-cert idev.crt --reuse-idevid-key --cert ldev.crt --json
	assert_success
	assert_stderr ''
	assert_output --regexp "^\{\"idevid_serial\":\"$(serial idev.crt)\",.*\"certificate_serial\":\"$(serial ldev-want.crt)\",\"fingerprint\":\"$(sha ldev-want.crt)\",.*\"cert\":\"ldev.crt\",\"chain\":0,.*\"reused_idevid_key\":true,"
	assert_equal "$(sha ldev.crt)" "$(sha ldev-want.crt)"
}

@test "renew --server: kur protected by the current LDevID, same key; installed in place" {
	m2m-enroll keygen --key l.key > /dev/null
	ldev cur l.key 10
	cp cur.crt want.crt
	cat "$F/factory/ca.crt" >> cur.crt
	# OpenSSL's mock updates only the certificate it hands out (-rsp_cert
	# is checked against the request's oldCertID): it "renews" cur as cur.
	mock_start 1 -rsp_cert want.crt -rsp_extracerts "$F/factory/ca.crt" -grant_implicitconf \
		-srv_trusted "$F/root/ca.crt"
	run --separate-stderr m2m-enroll renew --server "$URL" --server-trust "$F/root/ca.crt" \
		--key l.key --cert cur.crt --same-key --json
	assert_success
	assert_stderr ''
	assert_output --regexp "^\{\"renewed\":true,\"replaced\":\"$(serial want.crt)\",\"certificate_serial\":\"$(serial want.crt)\",\"fingerprint\":\"$(sha want.crt)\",.*\"cert\":\"cur.crt\",\"chain\":1,.*\"same_key\":true,"
	assert_equal "$(grep -c 'BEGIN CERTIFICATE' cur.crt)" 2
	grep -q 'POST /pkix/' mock.log
}

@test "renew --server: a kur the server refuses leaves the current pair alone" {
	m2m-enroll keygen --key l.key > /dev/null
	ldev cur l.key 10
	ldev other l.key 400
	cat "$F/factory/ca.crt" >> cur.crt
	cp cur.crt before.crt
	mock_start 1 -rsp_cert other.crt -srv_trusted "$F/root/ca.crt"
	run --separate-stderr m2m-enroll renew --server "$URL" --server-trust "$F/root/ca.crt" \
		--key l.key --cert cur.crt --new-key l2.key --new-cert l2.crt
	assert_error 3 'm2m-enroll: no renewed LDevID: the server refuses the kur: PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: "wrong certid"'
	cmp cur.crt before.crt
	assert_file_exists l.key
	assert_not_exist l2.key
	assert_not_exist l2.crt
}

@test "renew --server: not due: nothing is sent" {
	m2m-enroll keygen --key l.key > /dev/null
	ldev cur l.key 100
	run --separate-stderr m2m-enroll renew --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" \
		--key l.key --cert cur.crt --same-key
	assert_success
	assert_output --regexp "^LDevID $(serial cur.crt) expires on .*, in (99|100) days: not renewing \(due 30 days before\)$"
}

@test "revoke --server: rr signed by the certificate's own key; another certificate is refused" {
	m2m-enroll keygen --key dev.key > /dev/null
	issue dev dev.key SN-V1 00:1A:7D:DA:70:01
	cat "$F/factory/ca.crt" >> dev.crt
	mock_start 2 -rsp_cert dev.crt -srv_trusted "$F/root/ca.crt"
	run --separate-stderr m2m-enroll revoke --server "$URL" --server-trust "$F/root/ca.crt" \
		--cert dev.crt --key dev.key --reason keyCompromise
	assert_ok "revoked certificate $(serial dev.crt) (keyCompromise) at '$URL'"
	# The mock revokes only its -rsp_cert: another one is refused.
	m2m-enroll keygen --key d2.key > /dev/null
	issue d2 d2.key SN-V2 00:1A:7D:DA:70:02
	run --separate-stderr m2m-enroll revoke --server "$URL" --server-trust "$F/root/ca.crt" \
		--cert d2.crt --key d2.key --json
	assert_error 3 "m2m-enroll: cannot revoke certificate $(serial d2.crt): the server refuses the revocation: PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: \"request not accepted\"; errorDetails: wrong certificate to revoke"
}

@test "revoke: usage errors" {
	run --separate-stderr m2m-enroll revoke --cert x.crt --key x.key
	assert_error 2 "m2m-enroll: revoke needs --server URL and --cert URI (see 'm2m-enroll revoke --help')"
	run --separate-stderr m2m-enroll revoke --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" --cert x.crt
	assert_error 2 "m2m-enroll: --server needs --station-cert FILE and --station-key URI, or --secret SOURCE and --ref REF (see 'm2m-enroll revoke --help')"
	run --separate-stderr m2m-enroll revoke --server http://127.0.0.1:1/ --server-trust "$F/root/ca.crt" --cert x.crt --key x.key --reason sometimes
	assert_error 2 "m2m-enroll: unknown reason 'sometimes' (keyCompromise, superseded, cessationOfOperation, ...) (see 'm2m-enroll revoke --help')"
}
