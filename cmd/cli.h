/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CLI_H
#define M2M_CLI_H

/*
 * What every m2m command shares: the option table that parses argv and
 * prints --help, the error-line format, the one map from enum m2m_err to
 * exit status, JSON string output and progress on a terminal.
 * Commands print; the library never does.
 */

#include <stdint.h>
#include <stdio.h>

#include <m2m/ctx.h>
#include <m2m/manifest.h>

/* Exit status is API: documented in every man page and in m2m(7). */
enum cli_exit {
	CLI_EXIT_OK = 0,	/* success */
	CLI_EXIT_VERDICT = 1,	/* negative verdict: does not verify */
	CLI_EXIT_USAGE = 2,	/* bad options or arguments */
	CLI_EXIT_INPUT = 3,	/* bad input data */
	CLI_EXIT_SYSTEM = 4,	/* I/O, memory or other system failure */
	CLI_EXIT_BACKEND = 5	/* token, TPM, database or crypto failure */
};

/* The exit status for a library error code. */
int cli_exit_status(enum m2m_err err);

/*
 * One entry of a command's option table.  An entry with name == NULL and
 * help != NULL is a heading in --help; the table ends with an all-zero
 * entry.  id is what cli_next() returns for the option.
 */
struct cli_option {
	int id;
	const char *name;	/* long name, without "--" */
	char short_name;	/* 0 if none */
	const char *arg;	/* argument name in --help, NULL if none */
	const char *help;
};

/*
 * A command (or subcommand): the usage lines (NULL-terminated; the first
 * equals the man page's SYNOPSIS), a one-paragraph description, and its
 * options.  --help and --version are handled by cli_next() and need no
 * entry.
 */
struct cli_command {
	const char *const *usage;
	const char *description;
	const struct cli_option *options;
};

/* Set the program name used in every message ("m2m-idgen").  Call first. */
void cli_init(const char *progname);

/* One subcommand of a command with several ("m2m-ca issue ..."). */
struct cli_subcommand {
	const char *name;
	int (*run)(struct m2m_ctx *ctx, int argc, char **argv);
	const struct cli_command *cmd;
};

/*
 * The main() of a command made of subcommands: cli_init(progname), then
 * -h/--help (every subcommand's usage lines, then about, a paragraph
 * ending in a newline), -V/--version, an unknown subcommand (exit 2), or
 * the subcommand's run with a fresh context.  Returns the exit status.
 */
int cli_main(const char *progname, const char *about,
	     const struct cli_subcommand *subs, size_t nsubs, int argc,
	     char **argv);

/* The program name given to cli_init(). */
const char *cli_progname(void);

enum { CLI_DONE = -1 };

struct cli_parser {
	const struct cli_command *cmd;
	int argc;
	char **argv;
	int next;		/* next argv index to look at */
	int operands_only;	/* seen "--" */
	const char *optarg;	/* the current option's argument */
	const char *optname;	/* the current option as written, e.g. "--wifi" */
	int noperands;
	char **operands;	/* points into argv: operands, in order */
};

/*
 * Start parsing argv[first..argc).  Options and operands may be mixed;
 * operands are collected in p->operands.  Exits (status 2, after printing
 * to stderr) if memory runs out.
 */
void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd,
		     int argc, char **argv, int first);

/*
 * The id of the next option (its argument in p->optarg), or CLI_DONE when
 * argv is used up.  Handles "--name=value", "--name value", "-x value",
 * "--" and "-" (an operand).  Prints --help or --version itself and exits
 * 0; for an unknown option or a missing or unexpected argument prints one
 * error line and exits 2.
 */
int cli_next(struct cli_parser *p);

/* Free what the parser allocated. */
void cli_parser_release(struct cli_parser *p);

/* Print --help for cmd to f. */
void cli_print_help(const struct cli_command *cmd, FILE *f);

/* "PROG: MESSAGE\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "PROG: warning: MESSAGE\n" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A usage error: "PROG: MESSAGE (see 'PROG --help')\n" on stderr, then
 * exit 2.
 */
void cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/*
 * A library failure: "PROG: MESSAGE: DETAIL\n" on stderr, DETAIL being
 * m2m_ctx_detail(ctx) (or m2m_strerror(err) if ctx has none), with any
 * "pin-value=" PIN in it hidden (cli_uri_shown).  Returns the exit status
 * for err.
 */
int cli_fail(const struct m2m_ctx *ctx, enum m2m_err err, const char *fmt,
	     ...) __attribute__((format(printf, 3, 4)));

/*
 * Open path for reading ("-" is standard input).  Returns a file
 * descriptor, or -1 after printing "PROG: cannot open 'PATH': REASON".
 */
int cli_open_input(const char *path);

/*
 * Flush stdout and check it for errors; print "PROG: cannot write
 * standard output: REASON" and return CLI_EXIT_SYSTEM on failure, else
 * status unchanged.
 */
int cli_finish_stdout(int status);

/*
 * Read a manifest's first line that is not blank (its header, or its first
 * JSON row) into *line, *len, *lineno.  Returns 0, or the exit status
 * after printing why there is none: "NAME:LINE: reason" for a bad line,
 * "cannot read 'NAME': reason", "NAME: empty manifest (no header row)".
 */
int cli_manifest_start(struct m2m_ctx *ctx, struct m2m_lines *lr,
		       const char *name, const char **line, size_t *len,
		       uint64_t *lineno);

/* Write s[0..len) to f as a JSON string, quotes included. */
void cli_json_string(FILE *f, const char *s, size_t len);

/*
 * t (seconds since the epoch) as "2026-11-22T04:41:25Z" into buf; "?" if
 * it cannot be shown.  Returns buf.
 */
#define CLI_TIME_MAX 32
const char *cli_iso_time(int64_t t, char buf[CLI_TIME_MAX]);

/*
 * A key or certificate location as it may be shown: uri itself, or, when
 * it holds a PIN ("pin-value=..."), a copy in buf[0..size) with the PIN
 * replaced by "***".  PINs never reach output or messages.
 */
const char *cli_uri_shown(const char *uri, char *buf, size_t size);

/* Write s[0..len) to f as one CSV field, quoted only where needed. */
void cli_csv_field(FILE *f, const char *s, size_t len);

/*
 * Progress on stderr, only when stderr is a terminal: a line rewritten in
 * place ("PROG: 12000/50000 rows, 3 failed, 41000/s").  total 0 = unknown.
 */
struct cli_progress {
	int enabled;
	const char *unit;
	uint64_t total;
	uint64_t calls;
	double start;
	double last;
};
void cli_progress_start(struct cli_progress *pr, const char *unit,
			uint64_t total);
void cli_progress_update(struct cli_progress *pr, uint64_t done,
			 uint64_t failed);
void cli_progress_end(struct cli_progress *pr, uint64_t done,
		      uint64_t failed);

/*
 * The options that name a device's addresses, one per technology of the
 * PPID registry (m2m-idgen, m2m-ca issue, m2m-enroll): ids base + bit.
 */
#define CLI_TECH_OPTIONS(base) \
	{ (base) + 0, "bluetooth", 0, "ADDR", "Bluetooth BD_ADDR, 00:1A:7D:DA:71:13" }, \
	{ (base) + 1, "wifi", 0, "ADDR", "Wi-Fi MAC (EUI-48), 3C:71:BF:4A:0B:2E" }, \
	{ (base) + 2, "wmbus", 0, "MFR:ID:VER:TYPE", "wireless M-Bus address, KAM:12345678:01:07" }, \
	{ (base) + 3, "zigbee", 0, "EUI64", "Zigbee IEEE address, 00:12:4B:00:1C:A1:B2:C3" }, \
	{ (base) + 4, "lorawan", 0, "EUI64", "LoRaWAN DevEUI, 70:B3:D5:7E:D0:05:A1:B2" }, \
	{ (base) + 5, "imei", 0, "IMEI", "15-digit IMEI with check digit, 490154203237518" }, \
	{ (base) + 6, "ethernet", 0, "ADDR", "Ethernet MAC (EUI-48), 00:1B:21:3A:4F:5C" }, \
	{ (base) + 7, "nfc", 0, "UID", "NFC UID (4, 7 or 10 bytes), 04:A2:3B:1C:5D:6E:80" }, \
	{ (base) + 8, "ieee802154", 0, "EUI64", "IEEE 802.15.4 EUI-64, 00:12:4B:00:00:00:00:01" }

/*
 * Take opt if it is one of CLI_TECH_OPTIONS(base): its address arg goes
 * into addr[technology], and *count (may be NULL) counts it.  A technology
 * given twice is a usage error (exit 2).  Returns 1 if opt was one, else 0.
 */
int cli_tech_option(const char *addr[M2M_TECH_COUNT], int base, int opt,
		    const char *arg, int *count);

/*
 * Build *ppid from the addresses in addr[] (NULL: absent).  Returns 0, or
 * the exit status after printing "PROG: invalid --TECH address: DETAIL".
 */
int cli_tech_ppid(struct m2m_ctx *ctx, const char *const addr[M2M_TECH_COUNT],
		  struct m2m_ppid *ppid);

#endif
