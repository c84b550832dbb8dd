# A throwaway PostgreSQL cluster for tests: made with initdb, listening
# only on a UNIX socket in a temporary directory (no TCP port is opened,
# none can collide), stopped and removed again.  For bats files
#
#   load 'helpers/common'
#   load 'helpers/postgres'
#
#   setup_file() { pg_available && pg_start; }
#   teardown_file() { pg_stop; }
#
# and for plain bash (scripts/check sources it for the unit tests).
#
# pg_available: the server binaries are installed (Debian keeps them in
#   /usr/lib/postgresql/VERSION/bin, off PATH; $M2M_PG_BIN overrides).
# pg_start: a new cluster; exports
#   M2M_PG_HOST   the socket directory (libpq's host=)
#   M2M_PG_USER   its superuser, m2m (local connections are trusted, but
#                 for the role m2m_pw, which needs its password)
#   M2M_PG_DIR    the cluster's directory, M2M_PG_BIN the binaries
#   M2M_PG_PID    the server's process
#   status 1 and a message on stderr if it does not start within 20 s.
# pg_stop: stop it (fast shutdown: open transactions are rolled back) and
#   remove its directory.  pg_kill stops it without removing anything,
#   pg_restart starts the same cluster again.
# pg_newdb NAME: a new, empty database.
# pg_uri NAME: the ledger URI of database NAME on the cluster.
# pg_sql DB SQL: run SQL in DB, print the rows unaligned ('|' between
#   columns), fail if it fails.
#
# The server refuses to run as root; as root, it runs as nobody (setpriv),
# in a directory that nobody owns.  It is started with fsync=off: a
# stopped or killed server loses nothing (the operating system keeps what
# was written); only a crash of the machine would, and tests do not do
# that.  M2M_PG_FSYNC=on starts it durable, as a production server runs
# (benchmarks).  It runs as a job of the shell that starts it, so that the same
# shell can wait for it; pg_stop in another shell polls for its end.

pg_available() {
	[ -n "$(_pg_bin)" ]
}

# The directory of initdb, pg_ctl, postgres and psql: $M2M_PG_BIN, else
# the newest /usr/lib/postgresql/*/bin, else PATH's; "" if there is none.
_pg_bin() {
	local d best=

	if [ -n "${M2M_PG_BIN-}" ]; then
		[ -x "$M2M_PG_BIN/initdb" ] && printf '%s\n' "$M2M_PG_BIN"
		return 0
	fi
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/postgres" ] && best=$d
	done
	if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then
		best=$(dirname "$(command -v initdb)")
	fi
	[ -n "$best" ] && printf '%s\n' "$best"
	return 0
}

# Run a server program as the cluster's owner: exec'd, so that a job's $!
# is the program's own process.
_pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
	fi
	exec "$@"
}

pg_start() {
	local bin dir

	bin=$(_pg_bin)
	if [ -z "$bin" ]; then
		echo "pg_start: the PostgreSQL server is not installed" >&2
		return 1
	fi
	# A UNIX socket path holds at most 107 bytes: a short directory.
	dir=$(mktemp -d /tmp/m2m-pg.XXXXXX) || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown nobody:nogroup "$dir" || return 1
	fi
	M2M_PG_BIN=$bin
	M2M_PG_DIR=$dir
	M2M_PG_HOST=$dir
	M2M_PG_USER=m2m
	export M2M_PG_BIN M2M_PG_DIR M2M_PG_HOST M2M_PG_USER
	if ! (_pg_as_owner "$bin/initdb" -D "$dir/data" -U m2m --auth=trust \
		-E UTF8 --no-locale --no-sync) >"$dir/initdb.log" 2>&1; then
		echo "pg_start: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		pg_stop
		return 1
	fi
	# The role m2m_pw logs in with its password, the others without.
	printf '%s\n' 'local all m2m_pw scram-sha-256' 'local all all trust' \
		>"$dir/data/pg_hba.conf"
	pg_restart
}

# Start the server of $M2M_PG_DIR (again) and wait until it answers.
pg_restart() {
	local i

	# fd 3 closed: bats waits for whatever holds it open.
	(_pg_as_owner "$M2M_PG_BIN/postgres" -D "$M2M_PG_DIR/data" \
		-c listen_addresses= -c unix_socket_directories="$M2M_PG_DIR" \
		-c fsync="${M2M_PG_FSYNC:-off}" -c full_page_writes="${M2M_PG_FSYNC:-off}" \
		-c max_connections=60) \
		</dev/null >>"$M2M_PG_DIR/server.log" 2>&1 3>&- &
	M2M_PG_PID=$!
	export M2M_PG_PID
	for ((i = 0; i < 400; i++)); do
		if ! kill -0 "$M2M_PG_PID" 2>/dev/null; then
			break
		fi
		if "$M2M_PG_BIN/pg_isready" -q -h "$M2M_PG_HOST" -U m2m \
			-d postgres 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "pg_start: the server does not answer on '$M2M_PG_HOST':" >&2
	tail -n 20 "$M2M_PG_DIR/server.log" >&2
	return 1
}

# Stop the server (fast shutdown), keep its directory.  The server is the
# one postmaster.pid names (a test may have started it again), else ours.
pg_kill() {
	local i pid=${M2M_PG_PID-}

	if [ -f "${M2M_PG_DIR-}/data/postmaster.pid" ]; then
		pid=$(head -n 1 "$M2M_PG_DIR/data/postmaster.pid")
	fi
	[ -n "$pid" ] || return 0
	# A file left by a server that died names no server: not that pid.
	case $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) in
	*postgres*) ;;
	*) unset M2M_PG_PID; return 0 ;;
	esac
	kill -INT "$pid" 2>/dev/null
	# Our job: wait reaps it.  Another shell's: poll until it is gone
	# or only a zombie.
	if ! wait "$pid" 2>/dev/null; then
		for ((i = 0; i < 400; i++)); do
			[ -d "/proc/$pid" ] || break
			case $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) in
			Z | "") break ;;
			esac
			sleep 0.05
		done
	fi
	unset M2M_PG_PID
}

pg_stop() {
	pg_kill
	case ${M2M_PG_DIR-} in
	/tmp/m2m-pg.*) rm -rf "$M2M_PG_DIR" ;;
	esac
	unset M2M_PG_DIR M2M_PG_HOST
}

pg_sql() {
	"$M2M_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		"host=$M2M_PG_HOST user=m2m dbname=$1" -c "$2"
}

pg_newdb() {
	pg_sql postgres "CREATE DATABASE \"$1\"" >/dev/null
}

pg_uri() {
	printf 'postgresql:///%s?host=%s&user=m2m\n' "$1" "$M2M_PG_HOST"
}
