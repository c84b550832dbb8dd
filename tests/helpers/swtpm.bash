# A software TPM for a bats file: one swtpm per file, started in
# setup_file and stopped in teardown_file.
#
#   load 'helpers/common'
#   load 'helpers/swtpm'
#
#   setup_file() { swtpm_start; }
#   teardown_file() { swtpm_stop; }
#
# swtpm_start starts `swtpm socket --tpm2` with its state in a directory
# of its own under $BATS_FILE_TMPDIR, listening on a UNIX socket there
# (tpm2-tss's swtpm TCTI takes path= since 3.2; its control channel is
# PATH.ctrl), so no TCP port is chosen and none can collide.  It waits
# until the TPM answers a command, then exports
#   M2M_TCTI=swtpm:path=SOCKET        for the m2m tools and library
#   TPM2TOOLS_TCTI=swtpm:path=SOCKET  for tpm2-tools
#   SWTPM_PID, SWTPM_DIR              for swtpm_stop
# The TPM is started (startup-clear) and empty: no SRK until a tool makes
# one.  Fails (status 1, a message on stderr) if swtpm is not installed or
# does not answer within 5 s; swtpm_available tells beforehand, for a
# file that would rather skip.
#
# swtpm serves ONE client at a time: a tool holding the TPM (an m2m
# process, a tpm2-tools command) must exit before the next one connects,
# or the next one waits.
#
# swtpm runs as a job of the bats process (not --daemon): setup_file and
# teardown_file run in the same shell, so swtpm_stop can wait for it and
# nothing is left behind; a daemon would be re-parented to PID 1, which in
# a container may never reap it.  Its output goes to $SWTPM_DIR/swtpm.log.

# swtpm_available: swtpm (and tpm2-tools' tpm2_getcap, to probe it) are
# installed.
swtpm_available() {
	command -v swtpm >/dev/null 2>&1 && command -v tpm2_getcap >/dev/null 2>&1
}

swtpm_start() {
	local dir sock i

	if ! swtpm_available; then
		echo "swtpm_start: swtpm or tpm2-tools is not installed" >&2
		return 1
	fi
	dir=$BATS_FILE_TMPDIR/swtpm
	# A UNIX socket path holds at most 107 bytes.
	if [ ${#dir} -gt 90 ]; then
		dir=$(mktemp -d /tmp/m2m-swtpm.XXXXXX) || return 1
	fi
	mkdir -p "$dir" || return 1
	sock=$dir/sock
	# fd 3 closed: bats waits for whatever holds it open.
	swtpm socket --tpm2 --tpmstate dir="$dir" \
		--server type=unixio,path="$sock" \
		--ctrl type=unixio,path="$sock.ctrl" \
		--flags not-need-init,startup-clear \
		--pid file="$dir/swtpm.pid" \
		</dev/null >"$dir/swtpm.log" 2>&1 3>&- &
	SWTPM_PID=$!
	SWTPM_DIR=$dir
	M2M_TCTI=swtpm:path=$sock
	TPM2TOOLS_TCTI=$M2M_TCTI
	export SWTPM_PID SWTPM_DIR M2M_TCTI TPM2TOOLS_TCTI
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$SWTPM_PID" 2>/dev/null; then
			break
		fi
		if [ -S "$sock" ] &&
			tpm2_getcap handles-persistent >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "swtpm_start: swtpm does not answer on '$sock':" >&2
	cat "$dir/swtpm.log" >&2
	swtpm_stop
	return 1
}

swtpm_stop() {
	local i

	if [ -n "${SWTPM_PID-}" ]; then
		kill "$SWTPM_PID" 2>/dev/null
		# Our job: wait reaps it.  Should it not be (another shell),
		# poll until it is gone or only a zombie.
		if ! wait "$SWTPM_PID" 2>/dev/null; then
			for ((i = 0; i < 100; i++)); do
				[ -d "/proc/$SWTPM_PID" ] || break
				case $(cut -d' ' -f3 "/proc/$SWTPM_PID/stat" 2>/dev/null) in
				Z | "") break ;;
				esac
				sleep 0.05
			done
		fi
	fi
	case ${SWTPM_DIR-} in
	/tmp/m2m-swtpm.*) rm -rf "$SWTPM_DIR" ;;
	esac
	unset SWTPM_PID SWTPM_DIR
}
