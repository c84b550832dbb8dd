#!/usr/bin/env bats
# m2m-enroll idevid: the factory station's job, one device and a whole
# line, with file keys, a real swtpm and a real SoftHSM2 token, judged by
# openssl, tpm2-tools and the CA's ledger (m2m-ca list).  One swtpm and
# one token serve the whole file; each test uses handles, objects, PPIDs
# and serials of its own, so that each can also run alone (bats -f).

# stderr and stderr_lines are set by run --separate-stderr.
# shellcheck disable=SC2154

load 'helpers/common'
load 'helpers/swtpm'
load 'helpers/softhsm'

HW=1.3.6.1.4.1.32473.1

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	swtpm_start || return 1
	softhsm_setup "$BATS_FILE_TMPDIR/softhsm" line || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	m2m-ca init root --subject 'C=DE,O=Example,CN=Root' > /dev/null
	m2m-ca init factory --parent root --hw-type "$HW" \
		--device-subject 'O=Example,OU=Devices' > /dev/null
	m2m-ca init other --subject 'CN=Other Root' > /dev/null
}

teardown_file() {
	softhsm_teardown
	swtpm_stop
}

setup() {
	F=$BATS_FILE_TMPDIR
	export M2M_CA=$F/factory
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ---- helpers -------------------------------------------------------------------

# sha PEMFILE: the SHA-256 of the first certificate's DER.
sha() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

# spki PEMFILE: the SHA-256 of the first certificate's public key (DER).
spki() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
		sha256sum | cut -d' ' -f1
}

# serial PEMFILE: the first certificate's serial, lower case.
serial() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial)
	s=${s#serial=}
	printf '%s\n' "${s,,}"
}

# status_of SERIAL: the ledger's status of a certificate.
status_of() {
	m2m-ca show --ca "$F/factory" "$1" | sed -n 's/^status: //p'
}

# valid_for PPID: how many valid IDevIDs the ledger has for PPID.
valid_for() {
	m2m-ca list --ca "$F/factory" --status valid --ppid "$1" | wc -l
}

# ---- one device, file key ---------------------------------------------------------

@test "idevid: a file key, its certificate with the chain next to it; verifies; recorded" {
	run --separate-stderr m2m-enroll idevid --key dev.key --serial SN-F1 --bluetooth 00:1A:7D:DA:10:01
	assert_success
	assert_stderr ''
	assert_output --regexp "^provisioned SN-F1 ppid 01001a7dda1001: IDevID [0-9a-f]+ SHA-256 $(sha dev.crt), key 'dev.key', certificate 'dev.crt' \(1 chain certificate\), [0-9.]+ ms$"
	[ "$(stat -c %a dev.key)" = 600 ]
	assert_equal "$(spki dev.crt)" "$(openssl pkey -in dev.key -pubout -outform DER | sha256sum | cut -d' ' -f1)"
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted dev.crt dev.crt
	assert_output 'dev.crt: OK'
	assert_equal "$(grep -c 'BEGIN CERTIFICATE' dev.crt)" 2
	assert_equal "$(status_of "$(serial dev.crt)")" valid
	run openssl x509 -in dev.crt -noout -subject
	assert_output 'subject=O = Example, OU = Devices, serialNumber = SN-F1'
}

@test "idevid --json: every field, and milliseconds per step" {
	run --separate-stderr m2m-enroll idevid --key file:j.key --cert j.pem --serial SN-J1 --ppid 01001a7dda1002 --json --trust "$F/root/ca.crt"
	assert_success
	assert_stderr ''
	assert_output --regexp "^\{\"serial\":\"SN-J1\",\"ppid\":\"01001a7dda1002\",\"status\":\"provisioned\",\"certificate_serial\":\"$(serial j.pem)\",\"fingerprint\":\"$(sha j.pem)\",\"key\":\"file:j.key\",\"cert\":\"j.pem\",\"chain\":null,\"chain_certificates\":1,\"ms\":\{\"key\":[0-9.]+,\"csr\":[0-9.]+,\"issue\":[0-9.]+,\"store\":[0-9.]+,\"read_back\":[0-9.]+,\"verify\":[0-9.]+,\"total\":[0-9.]+\}\}$"
}

@test "idevid rerun: already provisioned, nothing changes; a lost certificate is installed again" {
	m2m-enroll idevid --key r.key --serial SN-R1 --bluetooth 00:1A:7D:DA:10:03 > /dev/null
	cp r.crt before.crt
	run --separate-stderr m2m-enroll idevid --key r.key --serial SN-R1 --bluetooth 00:1A:7D:DA:10:03
	assert_success
	assert_output --regexp "^already provisioned SN-R1 ppid 01001a7dda1003: IDevID $(serial r.crt) "
	cmp r.crt before.crt
	# The station crashed after issuing, before storing: the rerun installs
	# the certificate the ledger holds for this key; no second issuance.
	rm r.crt
	run --separate-stderr m2m-enroll idevid --key r.key --serial SN-R1 --bluetooth 00:1A:7D:DA:10:03 --json
	assert_success
	assert_output --partial "\"status\":\"resumed\",\"certificate_serial\":\"$(serial before.crt)\""
	cmp r.crt before.crt
	assert_equal "$(valid_for 01001a7dda1003)" 1
	assert_equal "$(m2m-ca list --ppid 01001a7dda1003 | wc -l)" 1
}

@test "idevid: a PPID with another key's IDevID is refused, exit 3, nothing made; --replace supersedes it" {
	m2m-enroll idevid --key a.key --serial SN-D1 --bluetooth 00:1A:7D:DA:10:04 > /dev/null
	run --separate-stderr m2m-enroll idevid --key b.key --serial SN-D1 --bluetooth 00:1A:7D:DA:10:04
	assert_error 3 "m2m-enroll: SN-D1: PPID 01001a7dda1004 already has IDevID $(serial a.crt) for another key (--replace supersedes it)"
	[ ! -e b.key ] && [ ! -e b.crt ]
	run --separate-stderr m2m-enroll idevid --key b.key --serial SN-D1 --bluetooth 00:1A:7D:DA:10:04 --replace --json
	assert_success
	assert_output --partial "\"status\":\"provisioned\",\"certificate_serial\":\"$(serial b.crt)\",\"fingerprint\":\"$(sha b.crt)\",\"replaced\":\"$(serial a.crt)\","
	assert_equal "$(status_of "$(serial a.crt)")" revoked
	run m2m-ca show "$(serial a.crt)"
	assert_line 'reason: superseded'
	assert_equal "$(valid_for 01001a7dda1004)" 1
}

@test "idevid: a certificate already where it would go is refused before issuing; --force replaces key and certificate" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout junk.key \
		-subj /CN=junk -days 1 -out s.crt 2> /dev/null
	run --separate-stderr m2m-enroll idevid --key s.key --serial SN-S1 --bluetooth 00:1A:7D:DA:10:05
	assert_error 3 "m2m-enroll: SN-S1: the device holds a certificate at 's.crt' already (--force replaces it)"
	[ ! -e s.key ]
	assert_equal "$(valid_for 01001a7dda1005)" 0
	run --separate-stderr m2m-enroll idevid --key s.key --serial SN-S1 --bluetooth 00:1A:7D:DA:10:05 --force
	assert_success
	assert_equal "$(spki s.crt)" "$(openssl pkey -in s.key -pubout -outform DER | sha256sum | cut -d' ' -f1)"
}

@test "idevid: a failure after issuing revokes the certificate (cessationOfOperation) and says what the device holds" {
	run --separate-stderr m2m-enroll idevid --key w.key --cert nodir/w.crt --serial SN-W1 --bluetooth 00:1A:7D:DA:10:06
	assert_failure 4
	assert_output ''
	local sn
	sn=$(m2m-ca list --ppid 01001a7dda1006 | cut -d' ' -f1)
	assert_stderr "m2m-enroll: SN-W1: cannot store the certificate: cannot create 'nodir/w.crt': No such file or directory; certificate $sn is revoked (cessationOfOperation): the device keeps its key and has no valid IDevID; a rerun with --force provisions it"
	assert_equal "$(status_of "$sn")" revoked
	run m2m-ca show "$sn"
	assert_line 'reason: cessationOfOperation'
	# The rerun, with the directory there: the key kept is no IDevID's,
	# so only --force replaces it.
	mkdir nodir
	run --separate-stderr m2m-enroll idevid --key w.key --cert nodir/w.crt --serial SN-W1 --bluetooth 00:1A:7D:DA:10:06
	assert_error 3 "m2m-enroll: SN-W1: the device holds a key at 'w.key' already, with no IDevID of PPID 01001a7dda1006 for it (--force replaces it)"
	run --separate-stderr m2m-enroll idevid --key w.key --cert nodir/w.crt --serial SN-W1 --bluetooth 00:1A:7D:DA:10:06 --force
	assert_success
	assert_equal "$(valid_for 01001a7dda1006)" 1
	assert_equal "$(spki nodir/w.crt)" "$(openssl pkey -in w.key -pubout -outform DER | sha256sum | cut -d' ' -f1)"
}

@test "idevid --trust: a CA that does not chain to it is refused before any device is touched" {
	run --separate-stderr m2m-enroll idevid --key t.key --serial SN-T1 --bluetooth 00:1A:7D:DA:10:07 --trust "$F/other/ca.crt"
	assert_error 3 "m2m-enroll: the CA's certificate does not verify to the anchors in '$F/other/ca.crt': the chain does not verify: unable to get local issuer certificate (depth 0, CN=m2m issuing CA factory)"
	[ ! -e t.key ]
	assert_equal "$(valid_for 01001a7dda1007)" 0
}

@test "idevid: usage errors are exit 2 and touch nothing" {
	run --separate-stderr env -u M2M_CA m2m-enroll idevid --key u.key --serial SN-U --ppid 01001a7dda1008
	assert_error 2 "m2m-enroll: idevid needs --ca DIR (or \$M2M_CA) or --server URL (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --serial SN-U --ppid 01001a7dda1008
	assert_error 2 "m2m-enroll: idevid needs --key URI (or --batch MANIFEST) (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --key u.key --ppid 01001a7dda1008
	assert_error 2 "m2m-enroll: idevid needs --serial SN (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --key u.key --serial SN-U
	assert_error 2 "m2m-enroll: idevid needs --ppid HEX or the device's addresses (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --key u.key --serial SN-U --ppid 01001a7dda1008 --wifi 3C:71:BF:4A:0B:2E
	assert_error 2 "m2m-enroll: give either --ppid or addresses, not both (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --batch m.csv --key u.key
	assert_error 2 "m2m-enroll: --batch takes keys, locations, serials and PPIDs from the manifest (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --key u.key --cert u.key --serial SN-U --ppid 01001a7dda1008
	assert_error 2 "m2m-enroll: the certificate cannot go where the key is (see 'm2m-enroll idevid --help')"
	run --separate-stderr m2m-enroll idevid --key u.key --serial 'SN_U' --ppid 01001a7dda1008
	assert_failure 3
	assert_stderr_line -p "m2m-enroll: invalid --serial: "
	run --separate-stderr m2m-enroll idevid --key u.key --serial SN-U --ppid 0100
	assert_failure 3
	assert_stderr_line -p "m2m-enroll: invalid --ppid: "
	run --separate-stderr m2m-enroll idevid --ca "$F/nowhere" --key u.key --serial SN-U --ppid 01001a7dda1008
	assert_failure 3
	assert_stderr_line -p "m2m-enroll: cannot open the CA '$F/nowhere': "
	[ ! -e u.key ]
}

# ---- TPM and token ------------------------------------------------------------------

@test "idevid into the TPM: tpm2: alone means the TCG locations; NV holds the DER; chain at 0x01800100" {
	run --separate-stderr m2m-enroll idevid --key tpm2: --serial SN-TPM1 --wifi 3C:71:BF:4A:0B:01 --json --trust "$F/root/ca.crt"
	assert_success
	assert_stderr ''
	assert_output --partial '"status":"provisioned",'
	assert_output --partial '"key":"tpm2:handle=0x81020000","cert":"tpm2:nv=0x01C90000","chain":"tpm2:nv=0x01800100","chain_certificates":1,'
	tpm2_nvread 0x01C90000 -o nv.der 2> /dev/null
	tpm2_nvread 0x01800100 -o chain.der 2> /dev/null
	openssl x509 -in "$F/factory/ca.crt" -outform DER | cmp - chain.der
	openssl x509 -inform DER -in nv.der -out nv.pem
	openssl x509 -inform DER -in chain.der -out chain.pem
	run openssl verify -x509_strict -CAfile "$F/root/ca.crt" -untrusted chain.pem nv.pem
	assert_output 'nv.pem: OK'
	# The certificate's key is the one tpm2-tools read from the TPM.
	tpm2_readpublic -c 0x81020000 -f pem -o pub.pem > /dev/null
	assert_equal "$(spki nv.pem)" "$(openssl pkey -pubin -in pub.pem -outform DER | sha256sum | cut -d' ' -f1)"
	run openssl x509 -in nv.pem -noout -ext subjectAltName
	assert_output --partial 'othername: 1.3.6.1.5.5.7.8.4::<unsupported>'
	# The rerun finds it done.
	run --separate-stderr m2m-enroll idevid --key tpm2:handle=0x81020000 --serial SN-TPM1 --wifi 3C:71:BF:4A:0B:01
	assert_success
	assert_output --regexp "^already provisioned SN-TPM1 .*key 'tpm2:handle=0x81020000', certificate 'tpm2:nv=0x01C90000', chain 'tpm2:nv=0x01800100' \(1 chain certificate\)"
	assert_equal "$(tpm2_getcap handles-transient)" ''
}

@test "idevid into a TPM that cannot be reached: exit 5, nothing issued" {
	run --separate-stderr m2m-enroll idevid --key tpm2:handle=0x81020009 --tcti "swtpm:path=$BATS_TEST_TMPDIR/none" --serial SN-TPM9 --wifi 3C:71:BF:4A:0B:09
	assert_failure 5
	assert_stderr_line -p "m2m-enroll: SN-TPM9: cannot load the key 'tpm2:handle=0x81020009': cannot reach the TPM at 'swtpm:path="
	assert_equal "$(valid_for 023c71bf4a0b09)" 0
}

@test "idevid: an occupied key location (TPM handle, file) is refused, exit 3, nothing issued; --force replaces it" {
	m2m-enroll keygen --key tpm2:handle=0x81020021 > /dev/null
	tpm2_readpublic -c 0x81020021 -f pem -o before.pem > /dev/null
	run --separate-stderr m2m-enroll idevid --key tpm2:handle=0x81020021 --cert tpm2:nv=0x01C90021 --chain tpm2:nv=0x01800121 --serial SN-OC1 --wifi 3C:71:BF:4A:0B:21
	assert_error 3 "m2m-enroll: SN-OC1: the device holds a key at 'tpm2:handle=0x81020021' already, with no IDevID of PPID 023c71bf4a0b21 for it (--force replaces it)"
	tpm2_readpublic -c 0x81020021 -f pem -o after.pem > /dev/null
	cmp before.pem after.pem
	assert_equal "$(valid_for 023c71bf4a0b21)" 0
	run --separate-stderr m2m-enroll idevid --key tpm2:handle=0x81020021 --cert tpm2:nv=0x01C90021 --chain tpm2:nv=0x01800121 --serial SN-OC1 --wifi 3C:71:BF:4A:0B:21 --force
	assert_success
	tpm2_readpublic -c 0x81020021 -f pem -o after.pem > /dev/null
	! cmp -s before.pem after.pem
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out occ.key 2> /dev/null
	run --separate-stderr m2m-enroll idevid --key occ.key --serial SN-OC2 --wifi 3C:71:BF:4A:0B:22
	assert_error 3 "m2m-enroll: SN-OC2: the device holds a key at 'occ.key' already, with no IDevID of PPID 023c71bf4a0b22 for it (--force replaces it)"
	[ ! -e occ.crt ]
}

@test "idevid onto a token: key, certificate and chain under one label; pkcs11-tool sees them" {
	run --separate-stderr m2m-enroll idevid --key "pkcs11:token=line;object=idevid-p1;type=private" --passin "file:$SOFTHSM_PIN_FILE" --serial SN-P1 --ethernet 00:1B:21:3A:4F:01 --json
	assert_success
	assert_output --partial '"status":"provisioned",'
	assert_output --partial '"key":"pkcs11:token=line;object=idevid-p1;type=private","cert":"pkcs11:token=line;object=idevid-p1","chain":null,"chain_certificates":1,'
	run softhsm_objects
	assert_output --partial 'label:      idevid-p1'
	run --separate-stderr m2m-enroll show --key "pkcs11:token=line;object=idevid-p1" --cert "pkcs11:token=line;object=idevid-p1" --passin "file:$SOFTHSM_PIN_FILE"
	assert_success
	assert_line 'chain: 1 certificate'
	assert_line 'matches key: yes'
	# A wrong PIN: exit 5, nothing issued.
	echo 9999 > bad.pin
	run --separate-stderr m2m-enroll idevid --key "pkcs11:token=line;object=idevid-p2" --passin file:bad.pin --serial SN-P2 --ethernet 00:1B:21:3A:4F:02
	assert_failure 5
	assert_equal "$(valid_for 06001b213a4f02)" 0
}

# ---- a whole line --------------------------------------------------------------------

@test "idevid --batch: TPM, token and file devices; a bad row does not stop the others; a rerun skips what is done" {
	cat > line.csv <<-EOF
	serial,bluetooth,key,cert,chain,tcti
	SN-B1,00:1A:7D:DA:20:01,tpm2:handle=0x81020011,tpm2:nv=0x01C90011,tpm2:nv=0x01800111,
	SN-B2,00:1A:7D:DA:20:02,pkcs11:token=line;object=b2,,,
	SN-B3,00:1A:7D:DA:20:03,b3.key,,,
	SN-B4,00:1A:7D:DA:20:ZZ,b4.key,,,
	SN-B5,00:1A:7D:DA:20:05,tpm2:handle=0x81020015,tpm2:nv=0x01C90015,,swtpm:path=$BATS_TEST_TMPDIR/none
	SN-B6,00:1A:7D:DA:20:06,b6.key,,,
	EOF
	run --separate-stderr m2m-enroll idevid --batch line.csv --passin "file:$SOFTHSM_PIN_FILE" --json
	assert_failure 3
	assert_equal "${#lines[@]}" 7
	assert_line --index 0 --partial '{"line":2,"serial":"SN-B1","ppid":"01001a7dda2001","status":"provisioned",'
	assert_line --index 1 --partial '{"line":3,"serial":"SN-B2","ppid":"01001a7dda2002","status":"provisioned",'
	assert_line --index 2 --partial '{"line":4,"serial":"SN-B3","ppid":"01001a7dda2003","status":"provisioned",'
	assert_line --index 3 --partial '{"line":5,"serial":"SN-B4","ppid":"","status":"error",'
	assert_line --index 4 --partial '{"line":6,"serial":"SN-B5","ppid":"01001a7dda2005","status":"error",'
	assert_line --index 5 --partial '{"line":7,"serial":"SN-B6","ppid":"01001a7dda2006","status":"provisioned",'
	assert_line --index 6 --regexp '^\{"summary":\{"devices":6,"provisioned":4,"existing":0,"resumed":0,"failed":2,"seconds":[0-9.]+\}\}$'
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]%%: column*}" "m2m-enroll: line.csv:5: SN-B4: invalid row"
	assert_equal "${stderr_lines[1]%%: cannot load*}" "m2m-enroll: line.csv:6: SN-B5"
	tpm2_nvread 0x01C90011 -o b1.der 2> /dev/null
	openssl x509 -inform DER -in b1.der -noout -subject | grep -q 'serialNumber = SN-B1'
	# The rerun: the four are done, the two still fail; nothing issued twice.
	run --separate-stderr m2m-enroll idevid --batch line.csv --passin "file:$SOFTHSM_PIN_FILE"
	assert_failure 3
	assert_line --index 0 --partial 'already provisioned SN-B1 ppid 01001a7dda2001'
	assert_line --index 3 --partial 'already provisioned SN-B6 ppid 01001a7dda2006'
	assert_line --index 4 --regexp '^6 devices: 0 provisioned, 4 already provisioned, 0 resumed, 2 failed, [0-9.]+ s$'
	for p in 01001a7dda2001 01001a7dda2002 01001a7dda2003 01001a7dda2006; do
		assert_equal "$(m2m-ca list --ppid $p | wc -l)" 1
	done
}

@test "idevid --batch: JSON lines manifest; a header without key is refused, exit 3" {
	printf '%s\n' '{"serial":"SN-JL1","wifi":"3C:71:BF:4A:20:01","key":"jl1.key"}' \
		'{"serial":"SN-JL2","ppid":"023c71bf4a2002","key":"jl2.key","cert":"jl2.pem"}' > line.jsonl
	run --separate-stderr m2m-enroll idevid --batch line.jsonl
	assert_success
	assert_line --index 0 --partial 'provisioned SN-JL1 ppid 023c71bf4a2001'
	assert_line --index 1 --partial "certificate 'jl2.pem'"
	assert_line --index 2 --regexp '^2 devices: 2 provisioned, 0 already provisioned, 0 resumed, 0 failed'
	[ -s jl1.crt ] && [ -s jl2.pem ]
	printf 'serial,ppid\nSN-X,01001a7dda2099\n' > nokey.csv
	run --separate-stderr m2m-enroll idevid --batch nokey.csv
	assert_error 3 "m2m-enroll: nokey.csv:1: header: no 'key' column"
}

@test "idevid --batch killed with SIGKILL: the rerun finishes; no device twice; every stored certificate is recorded" {
	local i n=40 done sn
	{
		echo serial,ppid,key
		for ((i = 1; i <= n; i++)); do
			printf 'SN-K%d,01001a7dda3%03d,k%d.key\n' "$i" "$i" "$i"
		done
	} > kill.csv
	: > first.out	# there before the loop below reads it
	m2m-enroll idevid --batch kill.csv --json > first.out 2> /dev/null &
	local pid=$!
	for ((i = 0; i < 200; i++)); do
		done=$(wc -l < first.out)
		[ "$done" -ge 10 ] && break
		sleep 0.05
	done
	kill -KILL "$pid"
	wait "$pid" || true
	done=$(wc -l < first.out)
	[ "$done" -lt "$n" ] || skip "the batch finished before it could be killed"
	# A device whose key was made when the batch was killed, before the
	# CA issued, holds a key no IDevID is for: only --force replaces it,
	# and --force touches no device that has its IDevID.
	run --separate-stderr m2m-enroll idevid --batch kill.csv --json --force
	assert_success
	assert_line --index "$n" --regexp "^\{\"summary\":\{\"devices\":$n,\"provisioned\":[0-9]+,\"existing\":[0-9]+,\"resumed\":[0-9]+,\"failed\":0,"
	for ((i = 1; i <= n; i++)); do
		sn=$(serial "k$i.crt")
		assert_equal "$(status_of "$sn")" valid
		assert_equal "$(m2m-ca list --ppid "$(printf '01001a7dda3%03d' "$i")" | wc -l)" 1
	done
	run m2m-ca audit --verify
	assert_success
}
