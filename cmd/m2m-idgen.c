/* SPDX-License-Identifier: Apache-2.0 */
/* m2m-idgen: build and decode pre-provisioned device identifiers (PPIDs). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2m/ctx.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>

#include "cli.h"

enum { OPT_BATCH = 1, OPT_JSON, OPT_TECH = 100 };

static const char *const usage[] = {
	"m2m-idgen [--json] --TECHNOLOGY ADDRESS ...",
	"m2m-idgen --batch FILE [--json]",
	"m2m-idgen decode [--json] HEX",
	NULL
};

static const struct cli_option options[] = {
	{ 0, NULL, 0, NULL, "Technologies (at least one, each at most once):" },
	CLI_TECH_OPTIONS(OPT_TECH),
	{ 0, NULL, 0, NULL, "Options:" },
	{ OPT_BATCH, "batch", 0, "FILE",
	  "one PPID per row of a CSV manifest (- = stdin)" },
	{ OPT_JSON, "json", 0, NULL,
	  "print JSON (one line per row with --batch)" },
	{ 0, NULL, 0, NULL, NULL }
};

static const struct cli_command idgen = {
	usage,
	"Build the pre-provisioned identifier (PPID) of a device from its radio\n"
	"and wire addresses and print it in hex; decode and check one; or build\n"
	"one per row of a factory manifest.  See m2m-idgen(1).",
	options,
};

static const char *const decode_usage[] = {
	"m2m-idgen decode [--json] HEX",
	NULL
};

static const struct cli_option decode_options[] = {
	{ OPT_JSON, "json", 0, NULL, "print the JSON object" },
	{ 0, NULL, 0, NULL, NULL }
};

static const struct cli_command decode_cmd = {
	decode_usage,
	"Check and decode a PPID given in hex (- reads it from standard input)\n"
	"and print one 'name address' line per technology.",
	decode_options,
};

static void print_ppid(struct m2m_ctx *ctx, const struct m2m_ppid *p, int json)
{
	char buf[M2M_PPID_JSON_MAX];
	int t;

	if (json) {
		/* Cannot fail: p is valid and the buffer is large enough. */
		m2m_ppid_json_members(ctx, p, buf, sizeof(buf), NULL);
		printf("{%s}\n", buf);
		return;
	}
	for (t = 0; t < M2M_TECH_COUNT; t++)
		if (m2m_ppid_format_addr(p, t, buf, sizeof(buf)))
			printf("%s %s\n", m2m_tech_name(t), buf);
}

/* ---- decode ------------------------------------------------------------- */

#define DECODE_INPUT_MAX 4096

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int cmd_decode(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct m2m_ppid ppid;
	char input[DECODE_INPUT_MAX + 1];
	const char *hex;
	size_t len = 0;
	enum m2m_err rc;
	int json = 0, opt;

	cli_parser_init(&p, &decode_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE)
		if (opt == OPT_JSON)
			json = 1;
	if (p.noperands == 0)
		cli_usage_error("decode needs a PPID in hex, or - to read it");
	if (p.noperands > 1)
		cli_usage_error("unexpected argument '%s'", p.operands[1]);
	hex = p.operands[0];
	if (strcmp(hex, "-") == 0) {
		ssize_t n;

		do {
			n = read(STDIN_FILENO, input + len,
				 sizeof(input) - len);
			if (n < 0) {
				cli_error("cannot read standard input: %s", strerror(errno));
				cli_parser_release(&p);
				return CLI_EXIT_SYSTEM;
			}
			len += (size_t)n;
		} while (n > 0 && len < sizeof(input));
		if (len > DECODE_INPUT_MAX) {
			cli_error("invalid PPID: standard input holds more than %d bytes",
				  DECODE_INPUT_MAX);
			cli_parser_release(&p);
			return CLI_EXIT_INPUT;
		}
		hex = input;
	} else {
		len = strlen(hex);
	}
	while (len && is_space(hex[len - 1]))
		len--;
	while (len && is_space(*hex)) {
		hex++;
		len--;
	}
	cli_parser_release(&p);
	rc = m2m_ppid_decode_hex(ctx, &ppid, hex, len);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "invalid PPID");
	print_ppid(ctx, &ppid, json);
	return cli_finish_stdout(CLI_EXIT_OK);
}

/* ---- batch -------------------------------------------------------------- */

struct batch {
	struct m2m_ctx *ctx;
	const char *name;	/* for messages: the path, or <stdin> */
	int json;
	struct m2m_lines *lines;
	struct m2m_seen *ppids, *serials;
	struct m2m_manifest m;
	struct m2m_csv_row row;
	struct m2m_device dev;
	uint64_t rows, rejected;
};

static int blank(const char *s, size_t len)
{
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return len == 0;
}

/*
 * The header row: the first line that is not blank.  Returns 0, or the
 * exit status after printing why it is unusable.
 */
static int batch_header(struct batch *b)
{
	char q[M2M_QUOTE_MAX];
	const char *line;
	size_t len, i;
	uint64_t lineno;
	enum m2m_err rc;
	int status;

	status = cli_manifest_start(b->ctx, b->lines, b->name, &line, &len,
				    &lineno);
	if (status)
		return status;
	rc = m2m_csv_split(b->ctx, &b->row, line, len);
	if (rc == M2M_OK)
		rc = m2m_manifest_header(b->ctx, &b->m, &b->row);
	if (rc != M2M_OK)
		return cli_fail(b->ctx, rc, "%s:%llu", b->name,
				(unsigned long long)lineno);
	for (i = 0; i < b->row.n; i++)
		if (b->m.ignored >> i & 1)
			cli_warn("%s:%llu: ignoring column '%s'", b->name,
				 (unsigned long long)lineno,
				 m2m_quote(q, b->row.field[i], b->row.len[i]));
	return 0;
}

static int serial_needs_quotes(const struct m2m_device *d)
{
	return d->serial[0] == ' ' || d->serial[d->serial_len - 1] == ' ' ||
	       strpbrk(d->serial, ",\"");
}

static void batch_write(struct batch *b, uint64_t lineno, const char *hex,
			size_t hexlen)
{
	char buf[M2M_SERIAL_MAX + M2M_PPID_HEX_MAX + 2];
	char members[M2M_PPID_JSON_MAX];
	const struct m2m_device *d = &b->dev;

	if (b->json) {
		m2m_ppid_json_members(b->ctx, &d->ppid, members,
				      sizeof(members), NULL);
		printf("{\"line\":%llu,\"serial\":", (unsigned long long)lineno);
		cli_json_string(stdout, d->serial, d->serial_len);
		printf(",%s}\n", members);
		return;
	}
	if (serial_needs_quotes(d)) {
		cli_csv_field(stdout, d->serial, d->serial_len);
		printf(",%s\n", hex);
		return;
	}
	memcpy(buf, d->serial, d->serial_len);
	buf[d->serial_len] = ',';
	memcpy(buf + d->serial_len + 1, hex, hexlen);
	buf[d->serial_len + 1 + hexlen] = '\n';
	fwrite(buf, 1, d->serial_len + hexlen + 2, stdout);
}

/*
 * One data row.  Returns 0 if it was written, 1 if it was rejected (and
 * reported), or an exit status >= CLI_EXIT_SYSTEM for a fatal error.
 */
static int batch_row(struct batch *b, const char *line, size_t len,
		     uint64_t lineno)
{
	char hex[M2M_PPID_HEX_MAX];
	size_t hexlen;
	uint64_t first;
	enum m2m_err rc;

	rc = m2m_csv_split(b->ctx, &b->row, line, len);
	if (rc == M2M_OK)
		rc = m2m_manifest_row(b->ctx, &b->m, &b->row, &b->dev);
	if (rc == M2M_OK)
		rc = m2m_ppid_to_hex(b->ctx, &b->dev.ppid, hex, sizeof(hex),
				     &hexlen);
	if (rc != M2M_OK) {
		cli_error("%s:%llu: %s", b->name, (unsigned long long)lineno,
			  m2m_ctx_detail(b->ctx));
		return 1;
	}
	/* The hex form is canonical, so it is as good a key as the bytes. */
	if (m2m_seen_find(b->ppids, hex, hexlen, &first)) {
		cli_error("%s:%llu: duplicate ppid %s (first on line %llu)",
			  b->name, (unsigned long long)lineno, hex,
			  (unsigned long long)first);
		return 1;
	}
	if (m2m_seen_find(b->serials, b->dev.serial, b->dev.serial_len,
			  &first)) {
		cli_error("%s:%llu: duplicate serial '%s' (first on line %llu)",
			  b->name, (unsigned long long)lineno, b->dev.serial,
			  (unsigned long long)first);
		return 1;
	}
	rc = m2m_seen_add(b->ctx, b->ppids, hex, hexlen, lineno, NULL);
	if (rc == M2M_OK)
		rc = m2m_seen_add(b->ctx, b->serials, b->dev.serial,
				  b->dev.serial_len, lineno, NULL);
	if (rc != M2M_OK)
		return cli_fail(b->ctx, rc, "%s:%llu", b->name,
				(unsigned long long)lineno);
	batch_write(b, lineno, hex, hexlen);
	return 0;
}

static int batch_rows(struct batch *b)
{
	struct cli_progress pr;
	const char *line;
	size_t len;
	uint64_t lineno;
	enum m2m_err rc;
	int status = 0, r;

	cli_progress_start(&pr, "rows", 0);
	for (;;) {
		rc = m2m_lines_next(b->ctx, b->lines, &line, &len, &lineno);
		if (rc == M2M_ERR_INVALID) {
			cli_error("%s:%llu: %s", b->name,
				  (unsigned long long)lineno,
				  m2m_ctx_detail(b->ctx));
			b->rows++;
			b->rejected++;
			continue;
		}
		if (rc != M2M_OK) {
			status = cli_fail(b->ctx, rc, "cannot read '%s'",
					  b->name);
			break;
		}
		if (!line)
			break;
		if (blank(line, len))
			continue;
		b->rows++;
		r = batch_row(b, line, len, lineno);
		if (r > 1) {
			status = r;
			break;
		}
		b->rejected += (uint64_t)r;
		cli_progress_update(&pr, b->rows, b->rejected);
	}
	cli_progress_end(&pr, b->rows, b->rejected);
	return status;
}

static int run_batch(struct m2m_ctx *ctx, const char *path, int json)
{
	struct batch *b;
	enum m2m_err rc;
	int fd, status;

	fd = cli_open_input(path);
	if (fd < 0)
		return CLI_EXIT_SYSTEM;
	b = calloc(1, sizeof(*b));
	if (!b) {
		cli_error("out of memory");
		status = CLI_EXIT_SYSTEM;
		goto out;
	}
	/* Rows are small and many: write in large blocks. */
	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	b->ctx = ctx;
	b->name = strcmp(path, "-") ? path : "<stdin>";
	b->json = json;
	rc = m2m_lines_new_fd(ctx, &b->lines, fd);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &b->ppids);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &b->serials);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot start the batch");
		goto out;
	}
	status = batch_header(b);
	if (status == 0)
		status = batch_rows(b);
	if (status == 0 && b->rejected) {
		cli_error("%s: %llu of %llu rows rejected", b->name,
			  (unsigned long long)b->rejected,
			  (unsigned long long)b->rows);
		status = CLI_EXIT_INPUT;
	}
out:
	if (b) {
		m2m_lines_free(b->lines);
		m2m_seen_free(b->ppids);
		m2m_seen_free(b->serials);
		free(b);
	}
	if (fd > STDERR_FILENO)
		close(fd);
	return cli_finish_stdout(status);
}

/* ---- encode ------------------------------------------------------------- */

static int cmd_encode(struct m2m_ctx *ctx, int argc, char **argv)
{
	const char *addr[M2M_TECH_COUNT] = { NULL };
	const char *batch = NULL;
	struct cli_parser p;
	struct m2m_ppid ppid;
	char hex[M2M_PPID_HEX_MAX];
	enum m2m_err rc;
	int json = 0, ntech = 0, opt, status;

	cli_parser_init(&p, &idgen, argc, argv, 1);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (opt == OPT_JSON) {
			json = 1;
		} else if (opt == OPT_BATCH) {
			if (batch)
				cli_usage_error("option '--batch' given twice");
			batch = p.optarg;
		} else {
			cli_tech_option(addr, OPT_TECH, opt, p.optarg, &ntech);
		}
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	if (batch && ntech)
		cli_usage_error("--batch cannot be combined with technology options");
	if (batch)
		return run_batch(ctx, batch, json);
	if (!ntech)
		cli_usage_error("no address given: name at least one technology, e.g. --wifi 3C:71:BF:4A:0B:2E");

	status = cli_tech_ppid(ctx, addr, &ppid);
	if (status)
		return status;
	if (json) {
		print_ppid(ctx, &ppid, 1);
	} else {
		rc = m2m_ppid_to_hex(ctx, &ppid, hex, sizeof(hex), NULL);
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "cannot encode the PPID");
		printf("%s\n", hex);
	}
	return cli_finish_stdout(CLI_EXIT_OK);
}

int main(int argc, char **argv)
{
	struct m2m_ctx *ctx = NULL;
	enum m2m_err rc;
	int status;

	cli_init("m2m-idgen");
	rc = m2m_ctx_new(&ctx);
	if (rc != M2M_OK)
		return cli_fail(NULL, rc, "cannot initialise");
	if (argc > 1 && strcmp(argv[1], "decode") == 0)
		status = cmd_decode(ctx, argc, argv);
	else
		status = cmd_encode(ctx, argc, argv);
	m2m_ctx_free(ctx);
	return status;
}
