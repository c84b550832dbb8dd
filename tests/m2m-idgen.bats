#!/usr/bin/env bats
# m2m-idgen: building, decoding and checking PPIDs (shared/spec/identifier.md)
# and batch manifests, against man/m2m-idgen.1.  Every test runs the real
# binary and asserts its exact exit status, stdout and stderr.

load 'helpers/common'

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

# One line per technology: name, an address in printed form, and the hex
# PPID of a device with only that address (the registry's examples).
TECHS='bluetooth 00:1A:7D:DA:71:13 01001a7dda7113
wifi 3C:71:BF:4A:0B:2E 023c71bf4a0b2e
wmbus KAM:12345678:01:07 042d2c785634120107
zigbee 00:12:4B:00:1C:A1:B2:C3 0800124b001ca1b2c3
lorawan 70:B3:D5:7E:D0:05:A1:B2 1070b3d57ed005a1b2
imei 490154203237518 20490154203237518f
ethernet 00:1B:21:3A:4F:5C 40001b213a4f5c
nfc 04:A2:3B:1C:5D:6E:80 80010704a23b1c5d6e80
ieee802154 00:12:4B:00:00:00:00:01 800200124b0000000001'

# The spec's known-answer vectors.
V1=01001a7dda7113
V2=0f001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2c3
V3=c001001b213a4f5c0704a23b1c5d6e80

# A device with all nine technologies: header ff 03, then every address.
ALL_OPTS=(--bluetooth 00:1A:7D:DA:71:13 --wifi 3C:71:BF:4A:0B:2E
	--wmbus KAM:12345678:01:07 --zigbee 00:12:4B:00:1C:A1:B2:C3
	--lorawan 70:B3:D5:7E:D0:05:A1:B2 --imei 490154203237518
	--ethernet 00:1B:21:3A:4F:5C --nfc 04:A2:3B:1C:5D:6E:80
	--ieee802154 00:12:4B:00:00:00:00:01)
ALL_HEX=ff03001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2c370b3d57ed005a1b2490154203237518f001b213a4f5c0704a23b1c5d6e8000124b0000000001

USAGE_HINT="(see 'm2m-idgen --help')"
DECODE_HINT="(see 'm2m-idgen decode --help')"

# The man page's example manifest (EXAMPLES).
write_devices_csv() {
	write_file devices.csv <<-'EOF'
	serial,bluetooth,wifi,imei
	SN-0001,00:1A:7D:DA:71:13,,
	SN-0002,00:1A:7D:DA:71:13,3C:71:BF:4A:0B:2E,
	SN-0003,,,490154203237519
	SN-0004,00-1a-7d-da-71-13,,
	EOF
}

# ---- --help and --version ------------------------------------------------------

@test "--help prints the usage lines first and exits 0" {
	run --separate-stderr m2m-idgen --help
	assert_success
	assert_stderr ''
	assert_line --index 0 'usage: m2m-idgen [--json] --TECHNOLOGY ADDRESS ...'
	assert_line --index 1 '   or: m2m-idgen --batch FILE [--json]'
	assert_line --index 2 '   or: m2m-idgen decode [--json] HEX'
	local opt
	for opt in --bluetooth --wifi --wmbus --zigbee --lorawan --imei \
		--ethernet --nfc --ieee802154 --batch --json --help --version; do
		assert_line --regexp "^ +(-[a-zA-Z], )?$opt( |\$)"
	done
}

@test "-h is --help" {
	run --separate-stderr m2m-idgen --help
	local help=$output
	run --separate-stderr m2m-idgen -h
	assert_ok "$help"
}

@test "--version prints the Makefile's VERSION" {
	local version
	version=$(project_version)
	[ -n "$version" ]
	run --separate-stderr m2m-idgen --version
	assert_ok "m2m-idgen $version"
	run --separate-stderr m2m-idgen -V
	assert_ok "m2m-idgen $version"
}

@test "--help wins over a bad address, exit 0" {
	run --separate-stderr m2m-idgen --wifi 00:00:00:00:00:00 --help
	assert_success
	assert_line --index 0 'usage: m2m-idgen [--json] --TECHNOLOGY ADDRESS ...'
	assert_stderr ''
}

@test "decode --help prints the decode usage and exits 0" {
	run --separate-stderr m2m-idgen decode --help
	assert_success
	assert_stderr ''
	assert_line --index 0 'usage: m2m-idgen decode [--json] HEX'
	assert_line --regexp '^ +--json( |$)'
	refute_line --partial -- '--batch'
	refute_line --partial -- '--wifi'
}

# ---- building: one test per technology -------------------------------------------

# encode_ok NAME: the registry example of NAME gives its PPID.
encode_ok() {
	local name addr hex

	while read -r name addr hex; do
		[ "$name" = "$1" ] || continue
		run --separate-stderr m2m-idgen "--$name" "$addr"
		assert_ok "$hex"
		return
	done <<<"$TECHS"
	fail "no technology $1 in TECHS"
}

@test "--bluetooth 00:1A:7D:DA:71:13 is 01001a7dda7113" {
	encode_ok bluetooth
}

@test "--wifi 3C:71:BF:4A:0B:2E is 023c71bf4a0b2e" {
	encode_ok wifi
}

@test "--wmbus KAM:12345678:01:07 is 042d2c785634120107 (EN 13757-4 byte order)" {
	encode_ok wmbus
}

@test "--zigbee 00:12:4B:00:1C:A1:B2:C3 is 0800124b001ca1b2c3" {
	encode_ok zigbee
}

@test "--lorawan 70:B3:D5:7E:D0:05:A1:B2 is 1070b3d57ed005a1b2" {
	encode_ok lorawan
}

@test "--imei 490154203237518 is 20490154203237518f (packed BCD + 0xF)" {
	encode_ok imei
}

@test "--ethernet 00:1B:21:3A:4F:5C is 40001b213a4f5c" {
	encode_ok ethernet
}

@test "--nfc 04:A2:3B:1C:5D:6E:80 is 80010704a23b1c5d6e80 (two header bytes, length byte)" {
	encode_ok nfc
}

@test "--ieee802154 00:12:4B:00:00:00:00:01 is 800200124b0000000001" {
	encode_ok ieee802154
}

@test "--nfc takes 4- and 10-byte UIDs" {
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1C
	assert_ok 80010404a23b1c
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1C:5D:6E:80:01:02:03
	assert_ok 80010a04a23b1c5d6e80010203
}

@test "the spec's three known-answer vectors" {
	run --separate-stderr m2m-idgen --bluetooth 00:1A:7D:DA:71:13
	assert_ok "$V1"
	run --separate-stderr m2m-idgen --bluetooth 00:1A:7D:DA:71:13 \
		--wifi 3C:71:BF:4A:0B:2E --wmbus KAM:12345678:01:07 \
		--zigbee 00:12:4B:00:1C:A1:B2:C3
	assert_ok "$V2"
	run --separate-stderr m2m-idgen --ethernet 00:1B:21:3A:4F:5C \
		--nfc 04:A2:3B:1C:5D:6E:80
	assert_ok "$V3"
}

@test "the order of the options does not matter" {
	run --separate-stderr m2m-idgen --zigbee 00:12:4B:00:1C:A1:B2:C3 \
		--wmbus KAM:12345678:01:07 --wifi 3C:71:BF:4A:0B:2E \
		--bluetooth 00:1A:7D:DA:71:13
	assert_ok "$V2"
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1C:5D:6E:80 \
		--ethernet 00:1B:21:3A:4F:5C
	assert_ok "$V3"
}

@test "all nine technologies: header ff03, addresses in bit order" {
	run --separate-stderr m2m-idgen "${ALL_OPTS[@]}"
	assert_ok "$ALL_HEX"
}

@test "--name=ADDR is --name ADDR" {
	run --separate-stderr m2m-idgen --wifi=3C:71:BF:4A:0B:2E
	assert_ok 023c71bf4a0b2e
}

@test "--json prints the spec's object" {
	run --separate-stderr m2m-idgen --json --bluetooth 00:1A:7D:DA:71:13
	assert_ok '{"ppid":"01001a7dda7113","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"}]}'
}

@test "--json lists every technology in bit order, wherever --json is" {
	run --separate-stderr m2m-idgen --ethernet 00:1B:21:3A:4F:5C \
		--nfc 04:A2:3B:1C:5D:6E:80 --json
	assert_ok '{"ppid":"c001001b213a4f5c0704a23b1c5d6e80","technologies":[{"name":"ethernet","address":"00:1B:21:3A:4F:5C"},{"name":"nfc","address":"04:A2:3B:1C:5D:6E:80"}]}'
	run --separate-stderr m2m-idgen --json "${ALL_OPTS[@]}"
	assert_ok '{"ppid":"'"$ALL_HEX"'","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"},{"name":"wifi","address":"3C:71:BF:4A:0B:2E"},{"name":"wmbus","address":"KAM:12345678:01:07"},{"name":"zigbee","address":"00:12:4B:00:1C:A1:B2:C3"},{"name":"lorawan","address":"70:B3:D5:7E:D0:05:A1:B2"},{"name":"imei","address":"490154203237518"},{"name":"ethernet","address":"00:1B:21:3A:4F:5C"},{"name":"nfc","address":"04:A2:3B:1C:5D:6E:80"},{"name":"ieee802154","address":"00:12:4B:00:00:00:00:01"}]}'
}

@test "'-' separators and lower case are accepted and printed as upper case with ':'" {
	run --separate-stderr m2m-idgen --json --bluetooth 00-1a-7d-da-71-13
	assert_ok '{"ppid":"01001a7dda7113","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"}]}'
	run --separate-stderr m2m-idgen --bluetooth 00-1a-7d-da-71-13 \
		--wifi 3c-71-bf-4a-0b-2e --wmbus kam-12345678-01-07 \
		--zigbee 00-12-4b-00-1c-a1-b2-c3
	assert_ok "$V2"
	run --separate-stderr m2m-idgen --json --wmbus kam-12345678-0a-0b \
		--lorawan 70-b3-d5-7e-d0-05-a1-b2 --ethernet 00-1b-21-3a-4f-5c \
		--nfc 04-a2-3b-1c --ieee802154 00-12-4b-00-00-00-00-01
	assert_ok '{"ppid":"d4032d2c785634120a0b70b3d57ed005a1b2001b213a4f5c0404a23b1c00124b0000000001","technologies":[{"name":"wmbus","address":"KAM:12345678:0A:0B"},{"name":"lorawan","address":"70:B3:D5:7E:D0:05:A1:B2"},{"name":"ethernet","address":"00:1B:21:3A:4F:5C"},{"name":"nfc","address":"04:A2:3B:1C"},{"name":"ieee802154","address":"00:12:4B:00:00:00:00:01"}]}'
}

# ---- decoding ----------------------------------------------------------------------

@test "decode: each known-answer vector gives its name address lines" {
	run --separate-stderr m2m-idgen decode "$V1"
	assert_ok 'bluetooth 00:1A:7D:DA:71:13'
	run --separate-stderr m2m-idgen decode "$V2"
	assert_ok - <<-'EOF'
	bluetooth 00:1A:7D:DA:71:13
	wifi 3C:71:BF:4A:0B:2E
	wmbus KAM:12345678:01:07
	zigbee 00:12:4B:00:1C:A1:B2:C3
	EOF
	run --separate-stderr m2m-idgen decode "$V3"
	assert_ok - <<-'EOF'
	ethernet 00:1B:21:3A:4F:5C
	nfc 04:A2:3B:1C:5D:6E:80
	EOF
}

@test "decode --json prints the spec's object" {
	run --separate-stderr m2m-idgen decode --json "$V2"
	assert_ok '{"ppid":"0f001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2c3","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"},{"name":"wifi","address":"3C:71:BF:4A:0B:2E"},{"name":"wmbus","address":"KAM:12345678:01:07"},{"name":"zigbee","address":"00:12:4B:00:1C:A1:B2:C3"}]}'
	run --separate-stderr m2m-idgen decode "$V3" --json
	assert_ok '{"ppid":"c001001b213a4f5c0704a23b1c5d6e80","technologies":[{"name":"ethernet","address":"00:1B:21:3A:4F:5C"},{"name":"nfc","address":"04:A2:3B:1C:5D:6E:80"}]}'
}

@test "decode accepts upper-case hex and prints the ppid in lower case" {
	run --separate-stderr m2m-idgen decode 0F001A7DDA71133C71BF4A0B2E2D2C78563412010700124B001CA1B2C3
	assert_ok - <<-'EOF'
	bluetooth 00:1A:7D:DA:71:13
	wifi 3C:71:BF:4A:0B:2E
	wmbus KAM:12345678:01:07
	zigbee 00:12:4B:00:1C:A1:B2:C3
	EOF
	run --separate-stderr m2m-idgen decode --json C001001B213A4F5C0704A23B1C5D6E80
	assert_ok '{"ppid":"c001001b213a4f5c0704a23b1c5d6e80","technologies":[{"name":"ethernet","address":"00:1B:21:3A:4F:5C"},{"name":"nfc","address":"04:A2:3B:1C:5D:6E:80"}]}'
}

@test "decode - reads the PPID from stdin, white space around it ignored" {
	run --separate-stderr m2m-idgen decode - <<<"  $V3  "
	assert_ok - <<-'EOF'
	ethernet 00:1B:21:3A:4F:5C
	nfc 04:A2:3B:1C:5D:6E:80
	EOF
	printf '\r\n\t%s\r\n\n' "$V1" > in.txt
	run --separate-stderr m2m-idgen decode --json - < in.txt
	assert_ok '{"ppid":"01001a7dda7113","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"}]}'
	# Without a final newline.
	printf '%s' "$V1" > in.txt
	run --separate-stderr m2m-idgen decode - < in.txt
	assert_ok 'bluetooth 00:1A:7D:DA:71:13'
}

@test "decode - takes exactly 4096 bytes of stdin" {
	{ printf '%s' "$V1"; repeat ' ' $((4096 - ${#V1})); } > in.txt
	[ "$(wc -c < in.txt)" -eq 4096 ]
	run --separate-stderr m2m-idgen decode - < in.txt
	assert_ok 'bluetooth 00:1A:7D:DA:71:13'
}

@test "decode: white space around the argument is ignored" {
	run --separate-stderr m2m-idgen decode " $V1
"
	assert_ok 'bluetooth 00:1A:7D:DA:71:13'
}

@test "round trip encode, decode, encode for every technology" {
	local name addr addr_in hex d_name d_addr

	while read -r name addr hex; do
		# In from the other accepted form (lower case, '-'), out canonical.
		addr_in=${addr//:/-}
		run --separate-stderr m2m-idgen "--$name" "${addr_in,,}"
		assert_ok "$hex"
		run --separate-stderr m2m-idgen decode "$output"
		assert_ok "$name $addr"
		read -r d_name d_addr <<<"$output"
		run --separate-stderr m2m-idgen "--$d_name" "$d_addr"
		assert_ok "$hex"
	done <<<"$TECHS"
}

@test "round trip encode, decode, encode with all nine technologies" {
	local line name addr hex args=()

	run --separate-stderr m2m-idgen "${ALL_OPTS[@]}"
	assert_ok "$ALL_HEX"
	run --separate-stderr m2m-idgen decode "$output"
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 9
	assert_output "$(while read -r name addr hex; do
		echo "$name $addr"; done <<<"$TECHS")"
	for line in "${lines[@]}"; do
		args+=("--${line%% *}" "${line#* }")
	done
	run --separate-stderr m2m-idgen "${args[@]}"
	assert_ok "$ALL_HEX"
}

@test "round trip through --json: decode --json gives back the same ppid" {
	run --separate-stderr m2m-idgen --json "${ALL_OPTS[@]}"
	assert_success
	local json=$output
	run --separate-stderr m2m-idgen decode --json "$ALL_HEX"
	assert_ok "$json"
}

# ---- decode: every rejection rule of the spec, exit 3 ------------------------------

@test "decode rejects a non-minimal header (last header byte 0x00)" {
	run --separate-stderr m2m-idgen decode 8100001a7dda7113
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: header is not minimal (its last byte is 0x00)'
	run --separate-stderr m2m-idgen decode 8000
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: header is not minimal (its last byte is 0x00)'
}

@test "decode rejects a header with no technology" {
	run --separate-stderr m2m-idgen decode 00
	assert_error 3 'm2m-idgen: invalid PPID: byte 0: header names no technology'
	run --separate-stderr m2m-idgen decode 00001a7dda7113
	assert_error 3 'm2m-idgen: invalid PPID: byte 0: header names no technology'
}

@test "decode rejects an unknown technology bit" {
	# 80 04: bit 9, the first bit not assigned; eight bytes follow.
	run --separate-stderr m2m-idgen decode 80040011223344556677
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: unknown technology bit 9'
	# A third header byte: bit 14.
	run --separate-stderr m2m-idgen decode ff8301
	assert_error 3 'm2m-idgen: invalid PPID: byte 2: unknown technology bit 14'
}

@test "decode rejects a header cut short" {
	run --separate-stderr m2m-idgen decode 81
	assert_error 3 'm2m-idgen: invalid PPID: byte 0: header is truncated (the last byte has the extension bit set)'
}

@test "decode rejects a header longer than 10 bytes" {
	run --separate-stderr m2m-idgen decode 8080808080808080808080
	assert_error 3 'm2m-idgen: invalid PPID: byte 10: header is longer than 10 bytes'
}

@test "decode rejects a truncated address" {
	run --separate-stderr m2m-idgen decode 01001a7dda71
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: bluetooth address is truncated (5 of 6 bytes)'
	run --separate-stderr m2m-idgen decode "${V2%??}"
	assert_error 3 'm2m-idgen: invalid PPID: byte 21: zigbee address is truncated (7 of 8 bytes)'
	run --separate-stderr m2m-idgen decode 01
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: bluetooth address is truncated (0 of 6 bytes)'
}

@test "decode rejects a missing or truncated NFC UID" {
	run --separate-stderr m2m-idgen decode 8001
	assert_error 3 'm2m-idgen: invalid PPID: byte 2: nfc length byte is missing'
	run --separate-stderr m2m-idgen decode 80010704a23b1c5d6e
	assert_error 3 'm2m-idgen: invalid PPID: byte 3: nfc address is truncated (6 of 7 bytes)'
}

@test "decode rejects bytes left over after the last address" {
	run --separate-stderr m2m-idgen decode "${V1}0000"
	assert_error 3 'm2m-idgen: invalid PPID: byte 7: 2 bytes left over after the last address'
	run --separate-stderr m2m-idgen decode "${V3}aabbcc"
	assert_error 3 'm2m-idgen: invalid PPID: byte 16: 3 bytes left over after the last address'
}

@test "decode rejects all-zero EUI-48 and EUI-64 addresses" {
	run --separate-stderr m2m-idgen decode 01000000000000
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: bluetooth address 00:00:00:00:00:00 is all zeros'
	run --separate-stderr m2m-idgen decode 080000000000000000
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: zigbee address 00:00:00:00:00:00:00:00 is all zeros'
}

@test "decode rejects all-ones (broadcast) EUI-48 and EUI-64 addresses" {
	run --separate-stderr m2m-idgen decode 02ffffffffffff
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: wifi address FF:FF:FF:FF:FF:FF is all ones (broadcast)'
	run --separate-stderr m2m-idgen decode 10ffffffffffffffff
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: lorawan address FF:FF:FF:FF:FF:FF:FF:FF is all ones (broadcast)'
}

@test "decode rejects multicast EUI-48 and EUI-64 addresses" {
	run --separate-stderr m2m-idgen decode 40011b213a4f5c
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: ethernet address 01:1B:21:3A:4F:5C has the group (multicast) bit set'
	run --separate-stderr m2m-idgen decode 800201124b0000000001
	assert_error 3 'm2m-idgen: invalid PPID: byte 2: ieee802154 address 01:12:4B:00:00:00:00:01 has the group (multicast) bit set'
	# In the middle of a PPID: the offset is that of the bad address.
	run --separate-stderr m2m-idgen decode 0f001a7dda71133d71bf4a0b2e2d2c78563412010700124b001ca1b2c3
	assert_error 3 'm2m-idgen: invalid PPID: byte 7: wifi address 3D:71:BF:4A:0B:2E has the group (multicast) bit set'
}

@test "decode rejects an IMEI with a bad check digit" {
	run --separate-stderr m2m-idgen decode 20490154203237519f
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: imei address 490154203237519 fails the Luhn check (the check digit should be 8)'
}

@test "decode rejects an IMEI that is not 15 BCD digits and 0xF" {
	run --separate-stderr m2m-idgen decode 2049015420323751af
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: imei address 49:01:54:20:32:37:51:AF is not 15 BCD digits followed by 0xF'
	run --separate-stderr m2m-idgen decode 204901542032375180
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: imei address 49:01:54:20:32:37:51:80 is not 15 BCD digits followed by 0xF'
}

@test "decode rejects a wM-Bus manufacturer code that is not three letters" {
	run --separate-stderr m2m-idgen decode 040000785634120107
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: wmbus address 00:00:78:56:34:12:01:07 has manufacturer code 0x0000, which is not three letters A-Z'
	run --separate-stderr m2m-idgen decode 04ffff785634120107
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: wmbus address FF:FF:78:56:34:12:01:07 has manufacturer code 0xFFFF, which is not three letters A-Z'
	# Letters 27..31 of the 5-bit code are not letters A-Z.
	run --separate-stderr m2m-idgen decode 04fb2f785634120107
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: wmbus address FB:2F:78:56:34:12:01:07 has manufacturer code 0x2FFB, which is not three letters A-Z'
	# KAM with bit 15 set.
	run --separate-stderr m2m-idgen decode 042dac785634120107
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: wmbus address 2D:AC:78:56:34:12:01:07 has manufacturer code 0xAC2D, which is not three letters A-Z'
}

@test "decode rejects a wM-Bus identification number that is not BCD" {
	run --separate-stderr m2m-idgen decode 042d2c7a56341201aa
	assert_error 3 'm2m-idgen: invalid PPID: byte 1: wmbus address 2D:2C:7A:56:34:12:01:AA has an identification number that is not eight BCD digits'
}

@test "decode rejects an NFC UID length other than 4, 7 or 10" {
	run --separate-stderr m2m-idgen decode 80010504a23b1c5d6e
	assert_error 3 'm2m-idgen: invalid PPID: byte 2: nfc UID length is 5, not 4, 7 or 10'
	run --separate-stderr m2m-idgen decode 80010b04a23b1c5d6e8001020304
	assert_error 3 'm2m-idgen: invalid PPID: byte 2: nfc UID length is 11, not 4, 7 or 10'
	run --separate-stderr m2m-idgen decode 800100
	assert_error 3 'm2m-idgen: invalid PPID: byte 2: nfc UID length is 0, not 4, 7 or 10'
}

@test "decode rejects an odd number of hex digits" {
	run --separate-stderr m2m-idgen decode 123
	assert_error 3 'm2m-idgen: invalid PPID: odd number of hex digits (3)'
	run --separate-stderr m2m-idgen decode "${V1}0"
	assert_error 3 'm2m-idgen: invalid PPID: odd number of hex digits (15)'
}

@test "decode rejects characters that are not hex digits" {
	run --separate-stderr m2m-idgen decode 01001a7dda71xz
	assert_error 3 "m2m-idgen: invalid PPID: 'x' at position 13 is not a hex digit"
	run --separate-stderr m2m-idgen decode 01:00:1a
	assert_error 3 "m2m-idgen: invalid PPID: ':' at position 3 is not a hex digit"
	run --separate-stderr m2m-idgen decode '01 001a7dda7113'
	assert_error 3 'm2m-idgen: invalid PPID: byte 0x20 at position 3 is not a hex digit'
	run --separate-stderr m2m-idgen decode $'01\xc3\xa9'
	assert_error 3 'm2m-idgen: invalid PPID: byte 0xC3 at position 3 is not a hex digit'
}

@test "decode rejects empty input" {
	run --separate-stderr m2m-idgen decode ''
	assert_error 3 'm2m-idgen: invalid PPID: empty input'
	run --separate-stderr m2m-idgen decode ' 	 '
	assert_error 3 'm2m-idgen: invalid PPID: empty input'
	run --separate-stderr m2m-idgen decode - < /dev/null
	assert_error 3 'm2m-idgen: invalid PPID: empty input'
	run --separate-stderr m2m-idgen decode - <<<'   '
	assert_error 3 'm2m-idgen: invalid PPID: empty input'
}

@test "decode rejects a PPID longer than 160 hex digits" {
	run --separate-stderr m2m-idgen decode "$(repeat 0 162)"
	assert_error 3 'm2m-idgen: invalid PPID: 81 bytes is longer than any PPID (at most 80)'
	run --separate-stderr m2m-idgen decode "01$(repeat 1 4000)"
	assert_error 3 'm2m-idgen: invalid PPID: 2001 bytes is longer than any PPID (at most 80)'
	# 160 digits is not too long as such: it fails on its content.
	run --separate-stderr m2m-idgen decode "$(repeat 0 160)"
	assert_error 3 'm2m-idgen: invalid PPID: byte 0: header names no technology'
}

@test "decode rejects standard input over 4096 bytes" {
	repeat 0 4097 > in.txt
	run --separate-stderr m2m-idgen decode - < in.txt
	assert_error 3 'm2m-idgen: invalid PPID: standard input holds more than 4096 bytes'
	{ printf '%s\n' "$V1"; repeat ' ' 5000; } > in.txt
	run --separate-stderr m2m-idgen decode - < in.txt
	assert_error 3 'm2m-idgen: invalid PPID: standard input holds more than 4096 bytes'
}

@test "decode rejects a NUL byte on stdin" {
	printf '%s\0' "$V1" > in.txt
	run --separate-stderr m2m-idgen decode - < in.txt
	assert_error 3 'm2m-idgen: invalid PPID: byte 0x00 at position 15 is not a hex digit'
}

# ---- building: every validity rule, exit 3 -----------------------------------------

@test "an all-zero EUI-48 or EUI-64 address is rejected" {
	run --separate-stderr m2m-idgen --wifi 00:00:00:00:00:00
	assert_error 3 "m2m-idgen: invalid --wifi address: '00:00:00:00:00:00' is all zeros"
	run --separate-stderr m2m-idgen --bluetooth 00-00-00-00-00-00
	assert_error 3 "m2m-idgen: invalid --bluetooth address: '00-00-00-00-00-00' is all zeros"
	run --separate-stderr m2m-idgen --zigbee 00:00:00:00:00:00:00:00
	assert_error 3 "m2m-idgen: invalid --zigbee address: '00:00:00:00:00:00:00:00' is all zeros"
	run --separate-stderr m2m-idgen --ieee802154 00:00:00:00:00:00:00:00
	assert_error 3 "m2m-idgen: invalid --ieee802154 address: '00:00:00:00:00:00:00:00' is all zeros"
}

@test "an all-ones (broadcast) EUI-48 or EUI-64 address is rejected" {
	run --separate-stderr m2m-idgen --ethernet ff:ff:ff:ff:ff:ff
	assert_error 3 "m2m-idgen: invalid --ethernet address: 'ff:ff:ff:ff:ff:ff' is all ones (broadcast)"
	run --separate-stderr m2m-idgen --lorawan FF:FF:FF:FF:FF:FF:FF:FF
	assert_error 3 "m2m-idgen: invalid --lorawan address: 'FF:FF:FF:FF:FF:FF:FF:FF' is all ones (broadcast)"
}

@test "a multicast EUI-48 or EUI-64 address is rejected (the man page's example)" {
	run --separate-stderr m2m-idgen --wifi 01:00:5E:00:00:01
	assert_error 3 "m2m-idgen: invalid --wifi address: '01:00:5E:00:00:01' has the group (multicast) bit set"
	run --separate-stderr m2m-idgen --bluetooth 01:00:00:00:00:00
	assert_error 3 "m2m-idgen: invalid --bluetooth address: '01:00:00:00:00:00' has the group (multicast) bit set"
	run --separate-stderr m2m-idgen --ieee802154 03:12:4B:00:00:00:00:01
	assert_error 3 "m2m-idgen: invalid --ieee802154 address: '03:12:4B:00:00:00:00:01' has the group (multicast) bit set"
	run --separate-stderr m2m-idgen --zigbee ff:ff:ff:ff:ff:ff:ff:fe
	assert_error 3 "m2m-idgen: invalid --zigbee address: 'ff:ff:ff:ff:ff:ff:ff:fe' has the group (multicast) bit set"
}

@test "a malformed EUI-48 or EUI-64 address is rejected" {
	run --separate-stderr m2m-idgen --wifi 3C:71:BF:4A:0B
	assert_error 3 "m2m-idgen: invalid --wifi address: '3C:71:BF:4A:0B' is not six hex bytes like 3C:71:BF:4A:0B:2E"
	run --separate-stderr m2m-idgen --wifi 3C:71:BF:4A:0B:2E:00
	assert_error 3 "m2m-idgen: invalid --wifi address: '3C:71:BF:4A:0B:2E:00' is not six hex bytes like 3C:71:BF:4A:0B:2E"
	run --separate-stderr m2m-idgen --wifi 3C71BF4A0B2E
	assert_error 3 "m2m-idgen: invalid --wifi address: '3C71BF4A0B2E' is not six hex bytes like 3C:71:BF:4A:0B:2E"
	run --separate-stderr m2m-idgen --ethernet 00:1B:21:3A:4F:5G
	assert_error 3 "m2m-idgen: invalid --ethernet address: '00:1B:21:3A:4F:5G' is not six hex bytes like 00:1B:21:3A:4F:5C"
	run --separate-stderr m2m-idgen --lorawan 70:B3:D5:7E:D0:05:A1
	assert_error 3 "m2m-idgen: invalid --lorawan address: '70:B3:D5:7E:D0:05:A1' is not eight hex bytes like 70:B3:D5:7E:D0:05:A1:B2"
	run --separate-stderr m2m-idgen --zigbee '00:12:4B:00:1C:A1:B2:C3 '
	assert_error 3 "m2m-idgen: invalid --zigbee address: '00:12:4B:00:1C:A1:B2:C3 ' is not eight hex bytes like 00:12:4B:00:1C:A1:B2:C3"
}

@test "an empty address is rejected" {
	run --separate-stderr m2m-idgen --wifi ''
	assert_error 3 'm2m-idgen: invalid --wifi address: empty address'
}

@test "a long bad address is shown cut at 40 characters" {
	run --separate-stderr m2m-idgen --bluetooth "00:1A:7D:DA:71:13$(repeat :00 30)"
	assert_error 3 "m2m-idgen: invalid --bluetooth address: '00:1A:7D:DA:71:13:00:00:00:00:00:00:00:0...' is not six hex bytes like 00:1A:7D:DA:71:13"
}

@test "an IMEI with a bad check digit is rejected" {
	run --separate-stderr m2m-idgen --imei 490154203237519
	assert_error 3 "m2m-idgen: invalid --imei address: '490154203237519' fails the Luhn check (the check digit should be 8)"
	run --separate-stderr m2m-idgen --imei 356938035643800
	assert_error 3 "m2m-idgen: invalid --imei address: '356938035643800' fails the Luhn check (the check digit should be 9)"
	run --separate-stderr m2m-idgen --imei 356938035643809
	assert_ok 20356938035643809f
}

@test "an IMEI that is not 15 digits is rejected" {
	run --separate-stderr m2m-idgen --imei 49015420323751
	assert_error 3 "m2m-idgen: invalid --imei address: '49015420323751' is not 15 decimal digits"
	run --separate-stderr m2m-idgen --imei 4901542032375188
	assert_error 3 "m2m-idgen: invalid --imei address: '4901542032375188' is not 15 decimal digits"
	run --separate-stderr m2m-idgen --imei 49015420323751X
	assert_error 3 "m2m-idgen: invalid --imei address: '49015420323751X' is not 15 decimal digits"
	run --separate-stderr m2m-idgen --imei 49-015420-323751-8
	assert_error 3 "m2m-idgen: invalid --imei address: '49-015420-323751-8' is not 15 decimal digits"
}

@test "a wM-Bus manufacturer that is not three letters is rejected" {
	run --separate-stderr m2m-idgen --wmbus K1M:12345678:01:07
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'K1M:12345678:01:07': the manufacturer must be three letters A-Z"
	run --separate-stderr m2m-idgen --wmbus KA:12345678:01:07
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KA:12345678:01:07': the manufacturer must be three letters A-Z"
	run --separate-stderr m2m-idgen --wmbus KAMS:12345678:01:07
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KAMS:12345678:01:07': the manufacturer must be three letters A-Z"
}

@test "a wM-Bus identification number that is not eight digits is rejected" {
	run --separate-stderr m2m-idgen --wmbus kam:1234567A:01:07
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'kam:1234567A:01:07': the identification number must be eight decimal digits"
	run --separate-stderr m2m-idgen --wmbus KAM:1234567:01:07
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KAM:1234567:01:07': the identification number must be eight decimal digits"
	run --separate-stderr m2m-idgen --wmbus KAM:123456789:01:07
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KAM:123456789:01:07': the identification number must be eight decimal digits"
}

@test "a wM-Bus version or device type that is not two hex digits is rejected" {
	run --separate-stderr m2m-idgen --wmbus KAM:12345678:1:07
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KAM:12345678:1:07': version and device type must be two hex digits each"
	run --separate-stderr m2m-idgen --wmbus KAM:12345678:01:GG
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KAM:12345678:01:GG': version and device type must be two hex digits each"
}

@test "a wM-Bus address without four parts is rejected" {
	run --separate-stderr m2m-idgen --wmbus KAM:12345678:01
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KAM:12345678:01' is not MFR:ID:VER:TYPE like KAM:12345678:01:07"
	run --separate-stderr m2m-idgen --wmbus KAM:12345678:01:07:00
	assert_error 3 "m2m-idgen: invalid --wmbus address: 'KAM:12345678:01:07:00' is not MFR:ID:VER:TYPE like KAM:12345678:01:07"
}

@test "an NFC UID of the wrong length is rejected" {
	run --separate-stderr m2m-idgen --nfc 04:A2:3B
	assert_error 3 "m2m-idgen: invalid --nfc address: '04:A2:3B' is 3 bytes long; an NFC UID is 4, 7 or 10 bytes"
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1C:5D
	assert_error 3 "m2m-idgen: invalid --nfc address: '04:A2:3B:1C:5D' is 5 bytes long; an NFC UID is 4, 7 or 10 bytes"
}

@test "an NFC UID of 11 bytes is rejected (and the address is shown intact)" {
	# Under SANITIZE=address this also checks that the parser does not
	# write past its 10-byte buffer.
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1C:5D:6E:80:01:02:03:04
	assert_error 3 "m2m-idgen: invalid --nfc address: '04:A2:3B:1C:5D:6E:80:01:02:03:04' is 11 bytes long; an NFC UID is 4, 7 or 10 bytes"
}

@test "an NFC UID of more than 11 bytes is reported as too long, not as bad hex" {
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1C:5D:6E:80:01:02:03:04:05:06
	assert_error 3 "m2m-idgen: invalid --nfc address: '04:A2:3B:1C:5D:6E:80:01:02:03:04:05:06' is 13 bytes long; an NFC UID is 4, 7 or 10 bytes"
}

@test "an NFC UID that is not hex bytes is rejected" {
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1Z
	assert_error 3 "m2m-idgen: invalid --nfc address: '04:A2:3B:1Z' is not hex bytes like 04:A2:3B:1C:5D:6E:80"
}

@test "of several bad addresses the first in bit order is reported" {
	run --separate-stderr m2m-idgen --wifi 00:00:00:00:00:00 --bluetooth 01:00:00:00:00:00
	assert_error 3 "m2m-idgen: invalid --bluetooth address: '01:00:00:00:00:00' has the group (multicast) bit set"
}

@test "a bad address prints nothing on stdout, even with good ones and --json" {
	run --separate-stderr m2m-idgen --json --bluetooth 00:1A:7D:DA:71:13 --imei 490154203237519
	assert_error 3 "m2m-idgen: invalid --imei address: '490154203237519' fails the Luhn check (the check digit should be 8)"
}

# ---- usage errors, exit 2 -----------------------------------------------------------

@test "an unknown option is a usage error" {
	run --separate-stderr m2m-idgen --bogus
	assert_error 2 "m2m-idgen: unknown option '--bogus' $USAGE_HINT"
	run --separate-stderr m2m-idgen -x
	assert_error 2 "m2m-idgen: unknown option '-x' $USAGE_HINT"
	run --separate-stderr m2m-idgen --wifi 3C:71:BF:4A:0B:2E --WIFI 3C:71:BF:4A:0B:2E
	assert_error 2 "m2m-idgen: unknown option '--WIFI' $USAGE_HINT"
	run --separate-stderr m2m-idgen decode --bogus "$V1"
	assert_error 2 "m2m-idgen: unknown option '--bogus' $DECODE_HINT"
	# Options of the first form are not options of decode.
	run --separate-stderr m2m-idgen decode --wifi "$V1"
	assert_error 2 "m2m-idgen: unknown option '--wifi' $DECODE_HINT"
}

@test "a usage error wins over a bad address" {
	run --separate-stderr m2m-idgen --wifi 00:00:00:00:00:00 --bogus
	assert_error 2 "m2m-idgen: unknown option '--bogus' $USAGE_HINT"
}

@test "a missing argument is a usage error" {
	run --separate-stderr m2m-idgen --wifi
	assert_error 2 "m2m-idgen: option '--wifi' needs an argument (ADDR) $USAGE_HINT"
	run --separate-stderr m2m-idgen --wmbus
	assert_error 2 "m2m-idgen: option '--wmbus' needs an argument (MFR:ID:VER:TYPE) $USAGE_HINT"
	run --separate-stderr m2m-idgen --batch
	assert_error 2 "m2m-idgen: option '--batch' needs an argument (FILE) $USAGE_HINT"
}

@test "an option given twice is a usage error" {
	run --separate-stderr m2m-idgen --wifi 3C:71:BF:4A:0B:2E --wifi 3C:71:BF:4A:0B:2C
	assert_error 2 "m2m-idgen: option '--wifi' given twice $USAGE_HINT"
	run --separate-stderr m2m-idgen --nfc 04:A2:3B:1C --bluetooth 00:1A:7D:DA:71:13 --nfc=04:A2:3B:1C
	assert_error 2 "m2m-idgen: option '--nfc' given twice $USAGE_HINT"
	run --separate-stderr m2m-idgen --batch a.csv --batch b.csv
	assert_error 2 "m2m-idgen: option '--batch' given twice $USAGE_HINT"
}

@test "no technology is a usage error" {
	run --separate-stderr m2m-idgen
	assert_error 2 "m2m-idgen: no address given: name at least one technology, e.g. --wifi 3C:71:BF:4A:0B:2E $USAGE_HINT"
	run --separate-stderr m2m-idgen --json
	assert_error 2 "m2m-idgen: no address given: name at least one technology, e.g. --wifi 3C:71:BF:4A:0B:2E $USAGE_HINT"
}

@test "--batch with a technology option is a usage error" {
	write_devices_csv
	run --separate-stderr m2m-idgen --batch devices.csv --wifi 3C:71:BF:4A:0B:2E
	assert_error 2 "m2m-idgen: --batch cannot be combined with technology options $USAGE_HINT"
	run --separate-stderr m2m-idgen --imei 490154203237518 --batch devices.csv
	assert_error 2 "m2m-idgen: --batch cannot be combined with technology options $USAGE_HINT"
}

@test "an unexpected operand is a usage error" {
	run --separate-stderr m2m-idgen --wifi 3C:71:BF:4A:0B:2E extra
	assert_error 2 "m2m-idgen: unexpected argument 'extra' $USAGE_HINT"
	run --separate-stderr m2m-idgen --wifi 3C:71:BF:4A:0B:2E -
	assert_error 2 "m2m-idgen: unexpected argument '-' $USAGE_HINT"
	run --separate-stderr m2m-idgen --wifi 3C:71:BF:4A:0B:2E -- --json
	assert_error 2 "m2m-idgen: unexpected argument '--json' $USAGE_HINT"
	write_devices_csv
	run --separate-stderr m2m-idgen --batch devices.csv extra
	assert_error 2 "m2m-idgen: unexpected argument 'extra' $USAGE_HINT"
	run --separate-stderr m2m-idgen decode "$V1" extra
	assert_error 2 "m2m-idgen: unexpected argument 'extra' $DECODE_HINT"
}

@test "decode without an argument is a usage error" {
	run --separate-stderr m2m-idgen decode
	assert_error 2 "m2m-idgen: decode needs a PPID in hex, or - to read it $DECODE_HINT"
	run --separate-stderr m2m-idgen decode --json
	assert_error 2 "m2m-idgen: decode needs a PPID in hex, or - to read it $DECODE_HINT"
}

@test "--json=x is a usage error" {
	run --separate-stderr m2m-idgen --json=x --wifi 3C:71:BF:4A:0B:2E
	assert_error 2 "m2m-idgen: option '--json' takes no argument $USAGE_HINT"
	run --separate-stderr m2m-idgen decode --json=x "$V1"
	assert_error 2 "m2m-idgen: option '--json' takes no argument $DECODE_HINT"
	run --separate-stderr m2m-idgen --help=x
	assert_error 2 "m2m-idgen: option '--help' takes no argument $USAGE_HINT"
}

# ---- standard output errors, exit 4 ---------------------------------------------------

@test "a full standard output is an I/O error, exit 4" {
	run --separate-stderr bash -c 'm2m-idgen --wifi 3C:71:BF:4A:0B:2E >/dev/full'
	assert_error 4 'm2m-idgen: cannot write standard output: No space left on device'
	run --separate-stderr bash -c 'm2m-idgen --json --wifi 3C:71:BF:4A:0B:2E >/dev/full'
	assert_error 4 'm2m-idgen: cannot write standard output: No space left on device'
	run --separate-stderr bash -c "m2m-idgen decode $V2 >/dev/full"
	assert_error 4 'm2m-idgen: cannot write standard output: No space left on device'
	run --separate-stderr bash -c 'm2m-idgen --help >/dev/full'
	assert_error 4 'm2m-idgen: cannot write standard output: No space left on device'
	run --separate-stderr bash -c 'm2m-idgen --version >/dev/full'
	assert_error 4 'm2m-idgen: cannot write standard output: No space left on device'
}

@test "a full standard output in batch mode is an I/O error, exit 4" {
	write_file ok.csv <<-'EOF'
	serial,wifi
	SN-1,3C:71:BF:4A:0B:2E
	EOF
	run --separate-stderr bash -c 'm2m-idgen --batch ok.csv >/dev/full'
	assert_error 4 'm2m-idgen: cannot write standard output: No space left on device'
}

@test "a closed standard output is an I/O error, exit 4" {
	run --separate-stderr bash -c 'm2m-idgen --wifi 3C:71:BF:4A:0B:2E >&-'
	assert_error 4 'm2m-idgen: cannot write standard output: Bad file descriptor'
}

# ---- batch manifests ---------------------------------------------------------------------

@test "batch: the man page's example, CSV" {
	write_devices_csv
	run --separate-stderr m2m-idgen --batch devices.csv
	assert_failure 3
	assert_output - <<-'EOF'
	SN-0001,01001a7dda7113
	SN-0002,03001a7dda71133c71bf4a0b2e
	EOF
	assert_stderr - <<-'EOF'
	m2m-idgen: devices.csv:4: column 'imei': '490154203237519' fails the Luhn check (the check digit should be 8)
	m2m-idgen: devices.csv:5: duplicate ppid 01001a7dda7113 (first on line 2)
	m2m-idgen: devices.csv: 2 of 4 rows rejected
	EOF
}

@test "batch: the man page's example, --json" {
	write_devices_csv
	run --separate-stderr m2m-idgen --batch devices.csv --json
	assert_failure 3
	assert_output - <<-'EOF'
	{"line":2,"serial":"SN-0001","ppid":"01001a7dda7113","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"}]}
	{"line":3,"serial":"SN-0002","ppid":"03001a7dda71133c71bf4a0b2e","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"},{"name":"wifi","address":"3C:71:BF:4A:0B:2E"}]}
	EOF
	assert_stderr - <<-'EOF'
	m2m-idgen: devices.csv:4: column 'imei': '490154203237519' fails the Luhn check (the check digit should be 8)
	m2m-idgen: devices.csv:5: duplicate ppid 01001a7dda7113 (first on line 2)
	m2m-idgen: devices.csv: 2 of 4 rows rejected
	EOF
}

@test "batch: each row of examples/devices.csv gets what the first form gives" {
	local manifest=$ROOT/examples/devices.csv header row i want=() args cells
	[ -f "$manifest" ] || skip 'no examples/devices.csv'
	IFS=, read -r -a header < "$manifest"
	while IFS= read -r row; do
		IFS=, read -r -a cells <<<"$row,"
		args=()
		for ((i = 1; i < ${#header[@]}; i++)); do
			[ -z "${cells[i]}" ] || args+=("--${header[i]}" "${cells[i]}")
		done
		run --separate-stderr m2m-idgen "${args[@]}"
		assert_success
		want+=("${cells[0]},$output")
	done < <(tail -n +2 "$manifest")
	[ "${#want[@]}" -gt 0 ]
	run --separate-stderr m2m-idgen --batch "$manifest"
	assert_ok "$(printf '%s\n' "${want[@]}")"
}

@test "batch - reads the manifest from stdin, named <stdin>" {
	write_devices_csv
	run --separate-stderr m2m-idgen --batch - < devices.csv
	assert_failure 3
	assert_output - <<-'EOF'
	SN-0001,01001a7dda7113
	SN-0002,03001a7dda71133c71bf4a0b2e
	EOF
	assert_stderr - <<-'EOF'
	m2m-idgen: <stdin>:4: column 'imei': '490154203237519' fails the Luhn check (the check digit should be 8)
	m2m-idgen: <stdin>:5: duplicate ppid 01001a7dda7113 (first on line 2)
	m2m-idgen: <stdin>: 2 of 4 rows rejected
	EOF
}

@test "batch: every technology column, names in any letter case, exit 0" {
	write_file all.csv <<-'EOF'
	Serial,BLUETOOTH,Wifi,wMBus,zigbee,lorawan,IMEI,ethernet,nfc,ieee802154
	D1,00:1A:7D:DA:71:13,,,,,,,,
	D2,,3C:71:BF:4A:0B:2E,,,,,,,
	D3,,,KAM:12345678:01:07,,,,,,
	D4,,,,00:12:4B:00:1C:A1:B2:C3,,,,,
	D5,,,,,70:B3:D5:7E:D0:05:A1:B2,,,,
	D6,,,,,,490154203237518,,,
	D7,,,,,,,00:1B:21:3A:4F:5C,,
	D8,,,,,,,,04:A2:3B:1C:5D:6E:80,
	D9,,,,,,,,,00:12:4B:00:00:00:00:01
	D10,00:1A:7D:DA:71:13,3C:71:BF:4A:0B:2E,KAM:12345678:01:07,00:12:4B:00:1C:A1:B2:C3,70:B3:D5:7E:D0:05:A1:B2,490154203237518,00:1B:21:3A:4F:5C,04:A2:3B:1C:5D:6E:80,00:12:4B:00:00:00:00:01
	D11,00-1a-7d-da-71-13,3c-71-bf-4a-0b-2e,kam-12345678-01-07,00-12-4b-00-1c-a1-b2-c3,,,,,
	EOF
	run --separate-stderr m2m-idgen --batch all.csv
	assert_success
	assert_output - <<-EOF
	D1,01001a7dda7113
	D2,023c71bf4a0b2e
	D3,042d2c785634120107
	D4,0800124b001ca1b2c3
	D5,1070b3d57ed005a1b2
	D6,20490154203237518f
	D7,40001b213a4f5c
	D8,80010704a23b1c5d6e80
	D9,800200124b0000000001
	D10,$ALL_HEX
	D11,$V2
	EOF
	assert_stderr ''
}

@test "batch: all good rows exit 0 with nothing on stderr" {
	write_file ok.csv <<-'EOF'
	serial,bluetooth,wifi,wmbus,zigbee
	SN-1,00:1A:7D:DA:71:13,3C:71:BF:4A:0B:2E,KAM:12345678:01:07,00:12:4B:00:1C:A1:B2:C3
	SN-2,,,,00:12:4B:00:1C:A1:B2:C5
	EOF
	run --separate-stderr m2m-idgen --batch ok.csv
	assert_ok - <<-EOF
	SN-1,$V2
	SN-2,0800124b001ca1b2c5
	EOF
	run --separate-stderr m2m-idgen --json --batch ok.csv
	assert_ok - <<-EOF
	{"line":2,"serial":"SN-1","ppid":"$V2","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"},{"name":"wifi","address":"3C:71:BF:4A:0B:2E"},{"name":"wmbus","address":"KAM:12345678:01:07"},{"name":"zigbee","address":"00:12:4B:00:1C:A1:B2:C3"}]}
	{"line":3,"serial":"SN-2","ppid":"0800124b001ca1b2c5","technologies":[{"name":"zigbee","address":"00:12:4B:00:1C:A1:B2:C5"}]}
	EOF
}

@test "batch: a duplicate ppid names the line of the first" {
	write_file dup.csv <<-'EOF'
	serial,wifi,bluetooth
	A,3C:71:BF:4A:0B:2E,
	B,3C:71:BF:4A:0B:2C,
	C,3c-71-bf-4a-0b-2e,
	D,,00:1A:7D:DA:71:13
	EOF
	run --separate-stderr m2m-idgen --batch dup.csv
	assert_failure 3
	assert_output - <<-'EOF'
	A,023c71bf4a0b2e
	B,023c71bf4a0b2c
	D,01001a7dda7113
	EOF
	assert_stderr - <<-'EOF'
	m2m-idgen: dup.csv:4: duplicate ppid 023c71bf4a0b2e (first on line 2)
	m2m-idgen: dup.csv: 1 of 4 rows rejected
	EOF
}

@test "batch: a duplicate serial names the line of the first" {
	write_file dup.csv <<-'EOF'
	serial,wifi
	A,3C:71:BF:4A:0B:2E
	B,3C:71:BF:4A:0B:2C
	A,3C:71:BF:4A:0B:2A
	a,3C:71:BF:4A:0B:28
	EOF
	run --separate-stderr m2m-idgen --batch dup.csv
	assert_failure 3
	assert_output - <<-'EOF'
	A,023c71bf4a0b2e
	B,023c71bf4a0b2c
	a,023c71bf4a0b28
	EOF
	assert_stderr - <<-'EOF'
	m2m-idgen: dup.csv:4: duplicate serial 'A' (first on line 2)
	m2m-idgen: dup.csv: 1 of 4 rows rejected
	EOF
}

@test "batch: a rejected row does not count as the first of a duplicate" {
	write_file dup.csv <<-'EOF'
	serial,imei
	A,490154203237519
	A,490154203237518
	EOF
	run --separate-stderr m2m-idgen --batch dup.csv
	assert_failure 3
	assert_output 'A,20490154203237518f'
	assert_stderr - <<-'EOF'
	m2m-idgen: dup.csv:2: column 'imei': '490154203237519' fails the Luhn check (the check digit should be 8)
	m2m-idgen: dup.csv: 1 of 2 rows rejected
	EOF
}

@test "batch: an empty manifest is exit 3" {
	: > empty.csv
	run --separate-stderr m2m-idgen --batch empty.csv
	assert_error 3 'm2m-idgen: empty.csv: empty manifest (no header row)'
	printf '\n  \n\t\n' > blank.csv
	run --separate-stderr m2m-idgen --batch blank.csv
	assert_error 3 'm2m-idgen: blank.csv: empty manifest (no header row)'
	run --separate-stderr m2m-idgen --batch - < /dev/null
	assert_error 3 'm2m-idgen: <stdin>: empty manifest (no header row)'
}

@test "batch: a header row alone is exit 0 and no output" {
	printf 'serial,wifi\n' > h.csv
	run --separate-stderr m2m-idgen --batch h.csv
	assert_ok ''
	printf 'serial,wifi' > h.csv
	run --separate-stderr m2m-idgen --batch h.csv
	assert_ok ''
	printf '\n\nserial,wifi\n\n' > h.csv
	run --separate-stderr m2m-idgen --json --batch h.csv
	assert_ok ''
}

@test "batch: CRLF line endings" {
	printf 'serial,wifi\r\nA1,3C:71:BF:4A:0B:2E\r\n\r\nA2,3C:71:BF:4A:0B:2C\r\n' > crlf.csv
	run --separate-stderr m2m-idgen --batch crlf.csv
	assert_ok - <<-'EOF'
	A1,023c71bf4a0b2e
	A2,023c71bf4a0b2c
	EOF
	run --separate-stderr m2m-idgen --json --batch crlf.csv
	assert_ok - <<-'EOF'
	{"line":2,"serial":"A1","ppid":"023c71bf4a0b2e","technologies":[{"name":"wifi","address":"3C:71:BF:4A:0B:2E"}]}
	{"line":4,"serial":"A2","ppid":"023c71bf4a0b2c","technologies":[{"name":"wifi","address":"3C:71:BF:4A:0B:2C"}]}
	EOF
}

@test "batch: a UTF-8 byte order mark at the start" {
	printf '\xef\xbb\xbfserial,wifi\nA1,3C:71:BF:4A:0B:2E\n' > bom.csv
	run --separate-stderr m2m-idgen --batch bom.csv
	assert_ok 'A1,023c71bf4a0b2e'
	printf '\xef\xbb\xbfserial,wifi\r\nA1,3C:71:BF:4A:0B:2E\r\n' > bom.csv
	run --separate-stderr m2m-idgen --batch bom.csv
	assert_ok 'A1,023c71bf4a0b2e'
}

@test "batch: a byte order mark does not count in the 4096-byte limit" {
	# A header row of exactly 4096 bytes after the BOM (spaces around a
	# field are dropped).
	printf '\xef\xbb\xbfserial,wifi,note%s\nA1,3C:71:BF:4A:0B:2E,\n' "$(repeat ' ' 4080)" > bom.csv
	run --separate-stderr m2m-idgen --batch bom.csv
	assert_success
	assert_output 'A1,023c71bf4a0b2e'
	assert_stderr "m2m-idgen: warning: bom.csv:1: ignoring column 'note'"
}

@test "batch: a byte order mark elsewhere is not skipped" {
	printf 'serial,wifi\n\xef\xbb\xbfA1,3C:71:BF:4A:0B:2E\n' > bom.csv
	run --separate-stderr m2m-idgen --batch bom.csv
	assert_failure 3
	assert_output ''
	assert_stderr - <<-'EOF'
	m2m-idgen: bom.csv:2: column 'serial': serial '???A1': byte 0xEF is not allowed (PrintableString)
	m2m-idgen: bom.csv: 1 of 1 rows rejected
	EOF
}

@test "batch: blank lines are skipped and keep the line numbers" {
	printf 'serial,wifi\n\nA1,3C:71:BF:4A:0B:2E\n   \n\t\nA2,00:00:00:00:00:00\n\n' > bl.csv
	run --separate-stderr m2m-idgen --json --batch bl.csv
	assert_failure 3
	assert_output '{"line":3,"serial":"A1","ppid":"023c71bf4a0b2e","technologies":[{"name":"wifi","address":"3C:71:BF:4A:0B:2E"}]}'
	assert_stderr - <<-'EOF'
	m2m-idgen: bl.csv:6: column 'wifi': '00:00:00:00:00:00' is all zeros
	m2m-idgen: bl.csv: 1 of 2 rows rejected
	EOF
}

@test "batch: quoted fields, with commas in serials re-quoted on output" {
	write_file q.csv <<-'EOF'
	serial,wifi,note
	"SN,1",3C:71:BF:4A:0B:2E,"a ""quoted"", note"
	" SN 2 ", "3C:71:BF:4A:0B:2C" ,plain
	  SN 3  ,3C:71:BF:4A:0B:2A,""
	"SN-4",3C:71:BF:4A:0B:28,
	EOF
	run --separate-stderr m2m-idgen --batch q.csv
	assert_success
	assert_output - <<-'EOF'
	"SN,1",023c71bf4a0b2e
	" SN 2 ",023c71bf4a0b2c
	SN 3,023c71bf4a0b2a
	SN-4,023c71bf4a0b28
	EOF
	assert_stderr "m2m-idgen: warning: q.csv:1: ignoring column 'note'"
	run --separate-stderr m2m-idgen --json --batch q.csv
	assert_success
	assert_output - <<-'EOF'
	{"line":2,"serial":"SN,1","ppid":"023c71bf4a0b2e","technologies":[{"name":"wifi","address":"3C:71:BF:4A:0B:2E"}]}
	{"line":3,"serial":" SN 2 ","ppid":"023c71bf4a0b2c","technologies":[{"name":"wifi","address":"3C:71:BF:4A:0B:2C"}]}
	{"line":4,"serial":"SN 3","ppid":"023c71bf4a0b2a","technologies":[{"name":"wifi","address":"3C:71:BF:4A:0B:2A"}]}
	{"line":5,"serial":"SN-4","ppid":"023c71bf4a0b28","technologies":[{"name":"wifi","address":"3C:71:BF:4A:0B:28"}]}
	EOF
}

@test "batch: a quote in a serial is not PrintableString" {
	write_file q.csv <<-'EOF'
	serial,wifi
	"A ""1"", b",3C:71:BF:4A:0B:2E
	EOF
	run --separate-stderr m2m-idgen --batch q.csv
	assert_failure 3
	assert_output ''
	assert_stderr - <<-'EOF'
	m2m-idgen: q.csv:2: column 'serial': serial 'A "1", b': '"' is not allowed (PrintableString)
	m2m-idgen: q.csv: 1 of 1 rows rejected
	EOF
}

@test "batch: a quoted field that is not closed, or text after the closing quote" {
	write_file q.csv <<-'EOF'
	serial,wifi
	"A1,3C:71:BF:4A:0B:2E
	"A2"x,3C:71:BF:4A:0B:2C
	A3,3C:71:BF:4A:0B:2A
	EOF
	run --separate-stderr m2m-idgen --batch q.csv
	assert_failure 3
	assert_output 'A3,023c71bf4a0b2a'
	assert_stderr - <<-'EOF'
	m2m-idgen: q.csv:2: field 1: quoted field is not closed
	m2m-idgen: q.csv:3: field 1: text after the closing quote
	m2m-idgen: q.csv: 2 of 3 rows rejected
	EOF
}

@test "batch: an unknown column is warned about and ignored" {
	write_file x.csv <<-'EOF'
	serial,x,wifi,Model
	A1,foo,3C:71:BF:4A:0B:2E,M-1
	EOF
	run --separate-stderr m2m-idgen --batch x.csv
	assert_success
	assert_output 'A1,023c71bf4a0b2e'
	assert_stderr - <<-'EOF'
	m2m-idgen: warning: x.csv:1: ignoring column 'x'
	m2m-idgen: warning: x.csv:1: ignoring column 'Model'
	EOF
}

@test "batch: an ignored column's name is shown with control characters as '?'" {
	# As every other message shows text from the input (m2m_quote): a
	# manifest must not be able to send escape sequences to a terminal.
	printf 'serial,wifi,"a\033[31mb"\nA1,3C:71:BF:4A:0B:2E,\n' > x.csv
	run --separate-stderr m2m-idgen --batch x.csv
	assert_success
	assert_output 'A1,023c71bf4a0b2e'
	assert_stderr "m2m-idgen: warning: x.csv:1: ignoring column 'a?[31mb'"
}

@test "batch: a header without a serial column is exit 3" {
	write_file h.csv <<-'EOF'
	wifi,bluetooth
	3C:71:BF:4A:0B:2E,
	EOF
	run --separate-stderr m2m-idgen --batch h.csv
	assert_error 3 "m2m-idgen: h.csv:1: header: no 'serial' column"
}

@test "batch: a header without a ppid or technology column is exit 3" {
	write_file h.csv <<-'EOF'
	serial,model
	A1,M-1
	EOF
	run --separate-stderr m2m-idgen --batch h.csv
	assert_error 3 'm2m-idgen: h.csv:1: header: no ppid or technology column (ppid, bluetooth, wifi, wmbus, zigbee, lorawan, imei, ethernet, nfc, ieee802154)'
}

@test "batch: a ppid column gives the PPID itself, written in canonical form" {
	write_file p.csv <<-EOF
	serial,PPID
	A1,0F001A7DDA71133C71BF4A0B2E2D2C78563412010700124B001CA1B2C3
	A2,$V3
	EOF
	run --separate-stderr m2m-idgen --batch p.csv
	assert_ok - <<-EOF
	A1,$V2
	A2,$V3
	EOF
	run --separate-stderr m2m-idgen --json --batch p.csv
	assert_ok - <<-EOF
	{"line":2,"serial":"A1","ppid":"$V2","technologies":[{"name":"bluetooth","address":"00:1A:7D:DA:71:13"},{"name":"wifi","address":"3C:71:BF:4A:0B:2E"},{"name":"wmbus","address":"KAM:12345678:01:07"},{"name":"zigbee","address":"00:12:4B:00:1C:A1:B2:C3"}]}
	{"line":3,"serial":"A2","ppid":"$V3","technologies":[{"name":"ethernet","address":"00:1B:21:3A:4F:5C"},{"name":"nfc","address":"04:A2:3B:1C:5D:6E:80"}]}
	EOF
}

@test "batch: a ppid column beside technology columns, one or the other per row" {
	write_file p.csv <<-'EOF'
	serial,ppid,wifi
	A1,01001a7dda7113,
	A2,,3C:71:BF:4A:0B:2E
	A3,01001a7dda7113,3C:71:BF:4A:0B:2C
	A4,023C71BF4A0B2E,
	A5,0100,
	A6,8100001a7dda7113,
	EOF
	run --separate-stderr m2m-idgen --batch p.csv
	assert_failure 3
	assert_output - <<-'EOF'
	A1,01001a7dda7113
	A2,023c71bf4a0b2e
	EOF
	assert_stderr - <<-'EOF'
	m2m-idgen: p.csv:4: give either a ppid or addresses, not both
	m2m-idgen: p.csv:5: duplicate ppid 023c71bf4a0b2e (first on line 3)
	m2m-idgen: p.csv:6: column 'ppid': byte 1: bluetooth address is truncated (1 of 6 bytes)
	m2m-idgen: p.csv:7: column 'ppid': byte 1: header is not minimal (its last byte is 0x00)
	m2m-idgen: p.csv: 4 of 6 rows rejected
	EOF
}

@test "batch: a row with an empty ppid and no technology column says so" {
	write_file p.csv <<-'EOF'
	serial,ppid
	A1,
	EOF
	run --separate-stderr m2m-idgen --batch p.csv
	assert_failure 3
	assert_output ''
	# Not "every technology column is empty": there is none.
	assert_stderr - <<-'EOF'
	m2m-idgen: p.csv:2: no ppid or address given
	m2m-idgen: p.csv: 1 of 1 rows rejected
	EOF
}

@test "batch: a repeated column is exit 3" {
	write_file h.csv <<-'EOF'
	serial,wifi,WiFi
	A1,3C:71:BF:4A:0B:2E,
	EOF
	run --separate-stderr m2m-idgen --batch h.csv
	assert_error 3 "m2m-idgen: h.csv:1: header: column 'WiFi' appears twice (columns 2 and 3)"
	write_file h.csv <<-'EOF'
	serial,wifi,note,Note
	A1,3C:71:BF:4A:0B:2E,,
	EOF
	run --separate-stderr m2m-idgen --batch h.csv
	assert_error 3 "m2m-idgen: h.csv:1: header: column 'Note' appears twice (columns 3 and 4)"
}

@test "batch: an empty column name is exit 3" {
	write_file h.csv <<-'EOF'
	serial,,wifi
	A1,,3C:71:BF:4A:0B:2E
	EOF
	run --separate-stderr m2m-idgen --batch h.csv
	assert_error 3 'm2m-idgen: h.csv:1: header: column 2 has no name'
	write_file h.csv <<-'EOF'
	serial,wifi,
	A1,3C:71:BF:4A:0B:2E,
	EOF
	run --separate-stderr m2m-idgen --batch h.csv
	assert_error 3 'm2m-idgen: h.csv:1: header: column 3 has no name'
}

@test "batch: the header is the first line that is not blank" {
	printf '\n \nserial,wifi,wifi\n' > h.csv
	run --separate-stderr m2m-idgen --batch h.csv
	assert_error 3 "m2m-idgen: h.csv:3: header: column 'wifi' appears twice (columns 2 and 3)"
}

@test "batch: a row with the wrong number of fields" {
	write_file f.csv <<-'EOF'
	serial,wifi,bluetooth
	A1,3C:71:BF:4A:0B:2E
	A2,3C:71:BF:4A:0B:2C,,
	A3,3C:71:BF:4A:0B:2A,
	EOF
	run --separate-stderr m2m-idgen --batch f.csv
	assert_failure 3
	assert_output 'A3,023c71bf4a0b2a'
	assert_stderr - <<-'EOF'
	m2m-idgen: f.csv:2: 2 fields, but the header has 3
	m2m-idgen: f.csv:3: 4 fields, but the header has 3
	m2m-idgen: f.csv: 2 of 3 rows rejected
	EOF
}

@test "batch: a row with no address" {
	write_file f.csv <<-'EOF'
	serial,wifi,bluetooth
	A1,,
	A2, , 
	A3,3C:71:BF:4A:0B:2A,
	EOF
	run --separate-stderr m2m-idgen --batch f.csv
	assert_failure 3
	assert_output 'A3,023c71bf4a0b2a'
	assert_stderr - <<-'EOF'
	m2m-idgen: f.csv:2: no address given (every technology column is empty)
	m2m-idgen: f.csv:3: no address given (every technology column is empty)
	m2m-idgen: f.csv: 2 of 3 rows rejected
	EOF
}

@test "batch: a bad address names its column" {
	write_file f.csv <<-'EOF'
	serial,wifi,wmbus,nfc
	A1,01:00:5E:00:00:01,,
	A2,,KAM:1234567A:01:07,
	A3,,,04:A2:3B
	EOF
	run --separate-stderr m2m-idgen --batch f.csv
	assert_failure 3
	assert_output ''
	assert_stderr - <<-'EOF'
	m2m-idgen: f.csv:2: column 'wifi': '01:00:5E:00:00:01' has the group (multicast) bit set
	m2m-idgen: f.csv:3: column 'wmbus': 'KAM:1234567A:01:07': the identification number must be eight decimal digits
	m2m-idgen: f.csv:4: column 'nfc': '04:A2:3B' is 3 bytes long; an NFC UID is 4, 7 or 10 bytes
	m2m-idgen: f.csv: 3 of 3 rows rejected
	EOF
}

@test "batch: an NFC UID of 11 bytes is reported intact" {
	write_file f.csv <<-'EOF'
	serial,nfc
	A1,04:A2:3B:1C:5D:6E:80:01:02:03:04
	A2,04:A2:3B:1C:5D:6E:80:01:02:03
	EOF
	run --separate-stderr m2m-idgen --batch f.csv
	assert_failure 3
	assert_output 'A2,80010a04a23b1c5d6e80010203'
	assert_stderr - <<-'EOF'
	m2m-idgen: f.csv:2: column 'nfc': '04:A2:3B:1C:5D:6E:80:01:02:03:04' is 11 bytes long; an NFC UID is 4, 7 or 10 bytes
	m2m-idgen: f.csv: 1 of 2 rows rejected
	EOF
}

@test "batch: a serial of 64 characters is accepted, 65 is too long" {
	local s64 s65
	s64=$(repeat S 64)
	s65=$(repeat T 65)
	printf 'serial,wifi\n%s,3C:71:BF:4A:0B:2E\n%s,3C:71:BF:4A:0B:2C\n' "$s64" "$s65" > s.csv
	run --separate-stderr m2m-idgen --batch s.csv
	assert_failure 3
	assert_output "$s64,023c71bf4a0b2e"
	assert_stderr - <<-'EOF'
	m2m-idgen: s.csv:3: column 'serial': serial is 65 characters long, more than 64
	m2m-idgen: s.csv: 1 of 2 rows rejected
	EOF
}

@test "batch: a serial with a character outside PrintableString, or empty" {
	write_file s.csv <<-'EOF'
	serial,wifi
	A_1,3C:71:BF:4A:0B:2E
	,3C:71:BF:4A:0B:2C
	A*3,3C:71:BF:4A:0B:2A
	A'()+,-./:=? 4,3C:71:BF:4A:0B:28
	EOF
	# The last row has 3 fields (its serial holds a comma, unquoted).
	run --separate-stderr m2m-idgen --batch s.csv
	assert_failure 3
	assert_output ''
	assert_stderr - <<-'EOF'
	m2m-idgen: s.csv:2: column 'serial': serial 'A_1': '_' is not allowed (PrintableString)
	m2m-idgen: s.csv:3: column 'serial': serial is empty
	m2m-idgen: s.csv:4: column 'serial': serial 'A*3': '*' is not allowed (PrintableString)
	m2m-idgen: s.csv:5: 3 fields, but the header has 2
	m2m-idgen: s.csv: 4 of 4 rows rejected
	EOF
	write_file s.csv <<-'EOF'
	serial,wifi
	"A'()+,-./:=? 4",3C:71:BF:4A:0B:28
	EOF
	run --separate-stderr m2m-idgen --batch s.csv
	assert_ok "\"A'()+,-./:=? 4\",023c71bf4a0b28"
}

@test "batch: a line of 4096 bytes is accepted, 4097 is reported and the next rows still run" {
	local pad
	pad=$(repeat x 4075)	# 'A1,3C:71:BF:4A:0B:2E,' is 21 bytes
	printf 'serial,wifi,note\nA1,3C:71:BF:4A:0B:2E,%s\nA2,3C:71:BF:4A:0B:2C,%sx\nA3,3C:71:BF:4A:0B:2A,\n' \
		"$pad" "$pad" > long.csv
	[ "$(sed -n 2p long.csv | tr -d '\n' | wc -c)" -eq 4096 ]
	[ "$(sed -n 3p long.csv | tr -d '\n' | wc -c)" -eq 4097 ]
	run --separate-stderr m2m-idgen --batch long.csv
	assert_failure 3
	assert_output - <<-'EOF'
	A1,023c71bf4a0b2e
	A3,023c71bf4a0b2a
	EOF
	assert_stderr - <<-'EOF'
	m2m-idgen: warning: long.csv:1: ignoring column 'note'
	m2m-idgen: long.csv:3: line is longer than 4096 bytes
	m2m-idgen: long.csv: 1 of 3 rows rejected
	EOF
}

@test "batch: the 4096-byte limit does not count a CR before the newline" {
	local pad
	pad=$(repeat x 4075)
	printf 'serial,wifi,note\r\nA1,3C:71:BF:4A:0B:2E,%s\r\nA2,3C:71:BF:4A:0B:2C,%sx\r\n' \
		"$pad" "$pad" > long.csv
	run --separate-stderr m2m-idgen --batch long.csv
	assert_failure 3
	assert_output 'A1,023c71bf4a0b2e'
	assert_stderr - <<-'EOF'
	m2m-idgen: warning: long.csv:1: ignoring column 'note'
	m2m-idgen: long.csv:3: line is longer than 4096 bytes
	m2m-idgen: long.csv: 1 of 2 rows rejected
	EOF
}

@test "batch: a very long line, and one at the end without a newline" {
	printf 'serial,wifi\nA1,%s\nA2,3C:71:BF:4A:0B:2C\nA3,%s' \
		"$(repeat y 200000)" "$(repeat z 5000)" > long.csv
	run --separate-stderr m2m-idgen --batch long.csv
	assert_failure 3
	assert_output 'A2,023c71bf4a0b2c'
	assert_stderr - <<-'EOF'
	m2m-idgen: long.csv:2: line is longer than 4096 bytes
	m2m-idgen: long.csv:4: line is longer than 4096 bytes
	m2m-idgen: long.csv: 2 of 3 rows rejected
	EOF
}

@test "batch: a header line longer than 4096 bytes is exit 3" {
	printf 'serial,wifi,%s\nA1,3C:71:BF:4A:0B:2E\n' "$(repeat n 5000)" > long.csv
	run --separate-stderr m2m-idgen --batch long.csv
	assert_error 3 'm2m-idgen: long.csv:1: line is longer than 4096 bytes'
}

@test "batch: a line holding a NUL byte" {
	printf 'serial,wifi\nA1,3C:71:BF:4A:0B:2E\0\nA2,3C:71:BF:4A:0B:2C\n' > nul.csv
	run --separate-stderr m2m-idgen --batch nul.csv
	assert_failure 3
	assert_output 'A2,023c71bf4a0b2c'
	assert_stderr - <<-'EOF'
	m2m-idgen: nul.csv:2: line holds a NUL byte
	m2m-idgen: nul.csv: 1 of 2 rows rejected
	EOF
}

@test "batch: a line with more than 64 fields" {
	# 65 fields, then 64 (split, but not the header's number).
	printf 'serial,wifi\nA1,3C:71:BF:4A:0B:2E%s\nA2,3C:71:BF:4A:0B:2C%s\nA3,3C:71:BF:4A:0B:2A\n' \
		"$(repeat , 64)" "$(repeat , 62)" > many.csv
	run --separate-stderr m2m-idgen --batch many.csv
	assert_failure 3
	assert_output 'A3,023c71bf4a0b2a'
	assert_stderr - <<-'EOF'
	m2m-idgen: many.csv:2: more than 64 fields
	m2m-idgen: many.csv:3: 64 fields, but the header has 2
	m2m-idgen: many.csv: 2 of 3 rows rejected
	EOF
}

@test "batch: a manifest that does not exist is exit 4" {
	run --separate-stderr m2m-idgen --batch nope.csv
	assert_error 4 "m2m-idgen: cannot open 'nope.csv': No such file or directory"
	run --separate-stderr m2m-idgen --json --batch nope.csv
	assert_error 4 "m2m-idgen: cannot open 'nope.csv': No such file or directory"
}

@test "batch: a directory given as manifest is exit 4" {
	mkdir dir.csv
	run --separate-stderr m2m-idgen --batch dir.csv
	assert_error 4 "m2m-idgen: cannot read 'dir.csv': Is a directory"
}

@test "batch: an unreadable manifest is exit 4" {
	[ "$(id -u)" -ne 0 ] || skip 'root can read any file'
	write_devices_csv
	chmod 000 devices.csv
	run --separate-stderr m2m-idgen --batch devices.csv
	assert_error 4 "m2m-idgen: cannot open 'devices.csv': Permission denied"
}

@test "batch: a manifest that cannot be read is exit 4, 'cannot read'" {
	# Standard input closed: the first read fails.
	run --separate-stderr bash -c 'm2m-idgen --batch - <&-'
	assert_error 4 "m2m-idgen: cannot read '<stdin>': Bad file descriptor"
}

@test "decode - with standard input closed is exit 4" {
	run --separate-stderr bash -c 'm2m-idgen decode - <&-'
	assert_error 4 'm2m-idgen: cannot read standard input: Bad file descriptor'
}

@test "batch: 20,000 rows give 20,000 lines; one duplicate row more is one rejection" {
	awk 'BEGIN {
		print "serial,wifi,imei"
		for (i = 1; i <= 20000; i++)
			printf "SN-%05d,02:00:00:%02X:%02X:%02X,\n", i,
				int(i / 65536) % 256, int(i / 256) % 256, i % 256
	}' > big.csv
	run --separate-stderr m2m-idgen --batch big.csv
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 20000
	assert_line --index 0 'SN-00001,02020000000001'
	assert_line --index 19999 'SN-20000,02020000004e20'
	# Every PPID distinct.
	assert_equal "$(printf '%s\n' "${lines[@]}" | cut -d, -f2 | sort -u | wc -l)" 20000

	tail -n 1 big.csv >> big.csv
	run --separate-stderr m2m-idgen --batch big.csv
	assert_failure 3
	assert_equal "${#lines[@]}" 20000
	assert_stderr - <<-'EOF'
	m2m-idgen: big.csv:20002: duplicate ppid 02020000004e20 (first on line 20001)
	m2m-idgen: big.csv: 1 of 20001 rows rejected
	EOF

	run --separate-stderr m2m-idgen --json --batch - < big.csv
	assert_failure 3
	assert_equal "${#lines[@]}" 20000
	assert_line --index 19999 '{"line":20001,"serial":"SN-20000","ppid":"02020000004e20","technologies":[{"name":"wifi","address":"02:00:00:00:4E:20"}]}'
	assert_stderr - <<-'EOF'
	m2m-idgen: <stdin>:20002: duplicate ppid 02020000004e20 (first on line 20001)
	m2m-idgen: <stdin>: 1 of 20001 rows rejected
	EOF
}
