#!/usr/bin/env bats
# The README's first command, scripts/demo, on the commands under test.

load 'helpers/common'

@test "scripts/demo: the sample line, a TPM device and a smartcard device, then a rerun" {
	command -v swtpm >/dev/null && command -v softhsm2-util >/dev/null ||
		skip "swtpm or softhsm2-util is not installed"
	export M2M_DEMO_DIR=$BATS_TEST_TMPDIR/demo M2M_BUILD=$BUILD
	run --separate-stderr "$BATS_TEST_DIRNAME/../scripts/demo"
	assert_success
	assert_line 'SN-2026-000003,63001a7dda71133c71bf4a0b2e490154203237518f001b213a4f5c'
	assert_line -- '-- SN-TPM-0001: key made in the device'
	assert_line -- '-- SN-HSM-0001: key made in the device'
	assert_equal "$(grep -c '^matches key: yes$' <<< "$output")" 2
	assert_line --regexp '^[0-9a-f]+ idevid  valid   9999-12-31T23:59:59Z SN-TPM-0001 023c71bf4a0c01$'
	assert_line --regexp '^[0-9a-f]+ idevid  valid   9999-12-31T23:59:59Z SN-HSM-0001 023c71bf4a0c02$'
	assert_line '   none'
	assert_line 'audit log intact: 11 entries'
	assert_equal "$(ls "$M2M_DEMO_DIR/certs" | wc -l)" 8
	# The swtpm it started is gone.
	run pgrep -f "tpmstate dir=$M2M_DEMO_DIR/tpm"
	assert_failure 1

	run --separate-stderr "$BATS_TEST_DIRNAME/../scripts/demo"
	assert_success
	assert_line -- '-- SN-TPM-0001: already provisioned'
	assert_line -- '-- SN-HSM-0001: already provisioned'
	assert_line 'audit log intact: 11 entries'
	assert_equal "$(grep -c '^matches key: yes$' <<< "$output")" 2
}
