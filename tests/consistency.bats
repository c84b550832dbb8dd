#!/usr/bin/env bats
# Man pages against the tools: lint, sections, options and usage lines.
# Generic over every command: the tools are found from cmd/m2m-*.c, so a new
# tool is checked as soon as its source exists.

load 'helpers/common'

# render PAGE: the man page as text, wide enough that no line wraps.
render() {
	mandoc -Tascii -Owidth=400 "$1" | col -b
}

# section NAME < RENDERED: the lines of section NAME (its heading excluded),
# up to the next section heading (or the page footer).
section() {
	awk -v name="$1" '
		/^[^ \t]/ { on = ($0 == name); next }
		on { print }
	'
}

# has_section PAGE NAME: PAGE has a section headed NAME.
has_section() {
	render "$1" | grep -qx -- "$2"
}

# squeeze < TEXT: every line with its white space collapsed and trimmed,
# empty lines dropped.
squeeze() {
	awk 'NF { $1 = $1; print }'
}

# synopsis PAGE TOOL: the lines of SYNOPSIS, one per form of the command
# (a line not starting with TOOL continues the previous one), squeezed.
synopsis() {
	render "$1" | section SYNOPSIS | squeeze | awk -v tool="$2" '
		$1 == tool { if (n++) print line; line = $0; next }
		{ line = line " " $0 }
		END { if (n) print line }
	'
}

# usage_lines TOOL [SUBCOMMAND]: the usage lines of --help, without their
# "usage:" and "or:" labels, squeezed.
usage_lines() {
	"$@" --help | awk '
		/^usage: / { on = 1; sub(/^usage: /, ""); print; next }
		on && /^ *or: / { sub(/^ *or: /, ""); print; next }
		{ on = 0 }
	' | squeeze
}

# subcommands TOOL: the subcommands named in TOOL's usage lines (a second
# word that is a plain lower-case name, like "decode").
subcommands() {
	usage_lines "$1" | awk '$2 ~ /^[a-z][a-z0-9-]*$/ { print $2 }' | sort -u
}

# help_options TOOL [SUBCOMMAND]: the long options listed by --help.
help_options() {
	"$@" --help |
		sed -nE 's/^[[:space:]]+(-[[:alnum:]], )?(--[[:alnum:]][[:alnum:]-]*).*/\2/p'
}

# man_options PAGE: the long options named in the OPTIONS section.
man_options() {
	render "$1" | section OPTIONS | grep -oE -- '--[[:alnum:]][[:alnum:]-]*'
}

# missing TOOL PAGE: print what keeps TOOL from being checked (no man page,
# not built) and succeed; fail if nothing is missing.
missing() {
	if [ ! -f "$2" ]; then
		echo "$1: no man/${2##*/}"
	elif [ ! -x "$BUILD/bin/$1" ]; then
		echo "$1: not built ($BUILD/bin/$1)"
	else
		return 1
	fi
}

# Every tool and the path of its man page, one "TOOL PAGE" per line.
tools_with_pages() {
	local tool

	for tool in $(project_tools); do
		printf '%s %s\n' "$tool" "$ROOT/man/$tool.1"
	done
}

@test "there is at least one tool, and each is built" {
	local tool n=0
	for tool in $(project_tools); do
		n=$((n + 1))
		assert_file_executable "$BUILD/bin/$tool"
	done
	[ "$n" -gt 0 ] || fail "no cmd/m2m-*.c found under $ROOT"
}

@test "every man page passes mandoc -Tlint -Wwarning" {
	local page out bad=
	for page in "$ROOT"/man/*.[1-9]; do
		out=$(mandoc -Tlint -Wwarning "$page" 2>&1) && [ -z "$out" ] ||
			bad+="${page#"$ROOT"/}:"$'\n'"$out"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
}

@test "every tool has a man page with EXIT STATUS and EXAMPLES sections" {
	local tool page sec bad=
	while read -r tool page; do
		if [ ! -f "$page" ]; then
			bad+="$tool: no man/$tool.1"$'\n'
			continue
		fi
		for sec in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' EXAMPLES; do
			has_section "$page" "$sec" ||
				bad+="man/$tool.1: no $sec section"$'\n'
		done
	done < <(tools_with_pages)
	[ -z "$bad" ] || fail "$bad"
}

@test "m2m.7 exists and has EXIT STATUS and ENVIRONMENT sections" {
	assert_file_exists "$ROOT/man/m2m.7"
	has_section "$ROOT/man/m2m.7" 'EXIT STATUS' || fail 'm2m.7: no EXIT STATUS section'
	has_section "$ROOT/man/m2m.7" ENVIRONMENT || fail 'm2m.7: no ENVIRONMENT section'
}

@test "every long option in a tool's --help is in its man page's OPTIONS" {
	local tool page sub opt documented bad=
	while read -r tool page; do
		missing "$tool" "$page" >/dev/null &&
			{ bad+="$(missing "$tool" "$page")"$'\n'; continue; }
		documented=" $(man_options "$page" | tr '\n' ' ') "
		for sub in '' $(subcommands "$tool"); do
			for opt in $(help_options "$tool" $sub); do
				[[ $documented == *" $opt "* ]] ||
					bad+="$tool${sub:+ $sub} --help lists $opt, man/$tool.1 OPTIONS does not"$'\n'
			done
		done
	done < <(tools_with_pages)
	[ -z "$bad" ] || fail "$bad"
}

@test "every long option in a man page's OPTIONS is in the tool's --help" {
	local tool page sub opt listed bad=
	while read -r tool page; do
		missing "$tool" "$page" >/dev/null &&
			{ bad+="$(missing "$tool" "$page")"$'\n'; continue; }
		listed=' '
		for sub in '' $(subcommands "$tool"); do
			listed+="$(help_options "$tool" $sub | tr '\n' ' ') "
		done
		for opt in $(man_options "$page" | sort -u); do
			[[ $listed == *" $opt "* ]] ||
				bad+="man/$tool.1 OPTIONS documents $opt, $tool --help does not list it"$'\n'
		done
	done < <(tools_with_pages)
	[ -z "$bad" ] || fail "$bad"
}

@test "the usage lines of --help are the man page's SYNOPSIS, word for word" {
	local tool page help man sub line bad=
	while read -r tool page; do
		missing "$tool" "$page" >/dev/null &&
			{ bad+="$(missing "$tool" "$page")"$'\n'; continue; }
		help=$(usage_lines "$tool")
		man=$(synopsis "$page" "$tool")
		[ -n "$help" ] || bad+="$tool --help: no usage line"$'\n'
		[ "$help" = "$man" ] ||
			bad+="$tool: --help usage lines"$'\n'"$help"$'\n'"differ from man/$tool.1 SYNOPSIS"$'\n'"$man"$'\n'
		# A subcommand's own usage lines are among the tool's.
		for sub in $(subcommands "$tool"); do
			while IFS= read -r line; do
				grep -qxF -- "$line" <<<"$man" ||
					bad+="$tool $sub --help: '$line' is not in man/$tool.1 SYNOPSIS"$'\n'
			done < <(usage_lines "$tool" "$sub")
		done
	done < <(tools_with_pages)
	[ -z "$bad" ] || fail "$bad"
}

@test "every tool's --help and --version exit 0 and print on stdout only" {
	local tool version
	version=$(project_version)
	for tool in $(project_tools); do
		[ -x "$BUILD/bin/$tool" ] || fail "$tool: not built ($BUILD/bin/$tool)"
		run --separate-stderr "$tool" --help
		assert_success
		assert_stderr ''
		assert_line --index 0 --regexp "^usage: $tool( |\$)"
		run --separate-stderr "$tool" --version
		assert_ok "$tool $version"
	done
}
