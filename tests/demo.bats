#!/usr/bin/env bats
# The README's first command, scripts/demo, on the commands under test.

load 'helpers/common'

@test "scripts/demo: the sample line, two TPM and two smartcard devices in a batch, an LDevID, then a rerun" {
	command -v swtpm >/dev/null && command -v softhsm2-util >/dev/null ||
		skip "swtpm or softhsm2-util is not installed"
	export M2M_DEMO_DIR=$BATS_TEST_TMPDIR/demo M2M_BUILD=$BUILD
	run --separate-stderr "$BATS_TEST_DIRNAME/../scripts/demo"
	assert_success
	assert_line 'SN-2026-000003,63001a7dda71133c71bf4a0b2e490154203237518f001b213a4f5c'
	assert_line --regexp "^provisioned SN-TPM-0001 ppid 023c71bf4a0c01: .*, key 'tpm2:handle=0x81020000', certificate 'tpm2:nv=0x01C90000', chain 'tpm2:nv=0x01800100' \(1 chain certificate\), "
	assert_line --regexp '^provisioned SN-TPM-0002 ppid 023c71bf4a0c02: '
	assert_line --regexp "^provisioned SN-HSM-0003 ppid 023c71bf4a0c03: .*, key 'pkcs11:token=device-0003;object=idevid;id=%01', "
	assert_line --regexp '^provisioned SN-HSM-0004 ppid 023c71bf4a0c04: '
	assert_line --regexp '^4 devices: 4 provisioned, 0 already provisioned, 0 resumed, 0 failed, '
	assert_line "$M2M_DEMO_DIR/tpm-1/idevid.pem: OK"
	assert_line 'matches key: yes'
	assert_line --regexp '^[0-9a-f]+ idevid  valid   9999-12-31T23:59:59Z SN-TPM-0001 023c71bf4a0c01$'
	assert_line --regexp '^[0-9a-f]+ idevid  valid   9999-12-31T23:59:59Z SN-TPM-0002 023c71bf4a0c02$'
	assert_line --regexp '^[0-9a-f]+ idevid  valid   9999-12-31T23:59:59Z SN-HSM-0003 023c71bf4a0c03$'
	assert_line --regexp '^[0-9a-f]+ idevid  valid   9999-12-31T23:59:59Z SN-HSM-0004 023c71bf4a0c04$'
	assert_line '   none'
	assert_line --regexp "^enrolled LDevID [0-9a-f]+ for IDevID [0-9a-f]+ at 'tpm2:nv=0x01800110' \(key 'tpm2:handle=0x81000110'\), valid until "
	assert_line --regexp '^[0-9a-f]+ ldevid  valid   [0-9T:Z-]+ - 023c71bf4a0c01$'
	assert_line 'audit log intact: 13 entries'
	assert_equal "$(ls "$M2M_DEMO_DIR/certs" | wc -l)" 8
	# The swtpms it started are gone.
	run pgrep -f "tpmstate dir=$M2M_DEMO_DIR/tpm"
	assert_failure 1

	run --separate-stderr "$BATS_TEST_DIRNAME/../scripts/demo"
	assert_success
	assert_line --regexp '^already provisioned SN-TPM-0001 ppid 023c71bf4a0c01: '
	assert_line --regexp '^already provisioned SN-HSM-0004 ppid 023c71bf4a0c04: '
	assert_line --regexp '^4 devices: 0 provisioned, 4 already provisioned, 0 resumed, 0 failed, '
	assert_line -- '-- SN-TPM-0001 already has its LDevID'
	assert_line 'audit log intact: 13 entries'
}
