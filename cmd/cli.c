/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *progname = "m2m";
static char help_hint[64] = "m2m --help";

void cli_init(const char *name)
{
	progname = name;
	snprintf(help_hint, sizeof(help_hint), "%s --help", name);
}

/*
 * "m2m-ca issue --help" for a subcommand: the leading words of its first
 * usage line, up to the first option or argument.
 */
static void set_help_hint(const struct cli_command *cmd)
{
	const char *u = cmd->usage[0];
	size_t n = 0, end = 0;

	while (u[n] && n < sizeof(help_hint) - 8) {
		if (u[n] == ' ') {
			end = n;
			n++;
			continue;
		}
		if (!((u[n] >= 'a' && u[n] <= 'z') || (u[n] >= '0' && u[n] <= '9') ||
		      (u[n] == '-' && n > 0 && u[n - 1] != ' ')))
			break;
		n++;
	}
	if (!u[n])
		end = n;
	if (end)
		snprintf(help_hint, sizeof(help_hint), "%.*s --help", (int)end,
			 u);
}

const char *cli_progname(void)
{
	return progname;
}

/* The one map from library error to exit status; see m2m(7). */
static const unsigned char exit_for[M2M_ERR_COUNT] = {
	[M2M_OK] = CLI_EXIT_OK,
	[M2M_ERR_VERIFY] = CLI_EXIT_VERDICT,
	[M2M_ERR_USAGE] = CLI_EXIT_USAGE,
	[M2M_ERR_INVALID] = CLI_EXIT_INPUT,
	[M2M_ERR_UNSUPPORTED] = CLI_EXIT_INPUT,
	[M2M_ERR_DUPLICATE] = CLI_EXIT_INPUT,
	[M2M_ERR_NOT_FOUND] = CLI_EXIT_INPUT,
	[M2M_ERR_IO] = CLI_EXIT_SYSTEM,
	[M2M_ERR_NOMEM] = CLI_EXIT_SYSTEM,
	[M2M_ERR_SYSTEM] = CLI_EXIT_SYSTEM,
	[M2M_ERR_CRYPTO] = CLI_EXIT_BACKEND,
	[M2M_ERR_BACKEND] = CLI_EXIT_BACKEND,
	[M2M_ERR_INTERNAL] = CLI_EXIT_SYSTEM,
};

int cli_exit_status(enum m2m_err err)
{
	if ((unsigned)err >= M2M_ERR_COUNT)
		return CLI_EXIT_SYSTEM;
	return exit_for[err];
}

/* ---- messages ------------------------------------------------------------ */

static void vmessage(const char *kind, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s", progname, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("warning: ", fmt, ap);
	va_end(ap);
}

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s')\n", help_hint);
	exit(CLI_EXIT_USAGE);
}

static const char *pins_hidden(const char *text, char *buf, size_t size,
			       const char *ends);

int cli_fail(const struct m2m_ctx *ctx, enum m2m_err err, const char *fmt,
	     ...)
{
	const char *detail = ctx ? m2m_ctx_detail(ctx) : "";
	char scrubbed[1100];
	va_list ap;

	/*
	 * A location quoted in the detail may carry a PIN: hide it up to the
	 * quote that closes the location too, so the text after it stays.
	 * (The library shows a PIN as "***" already; this is a backstop.)
	 */
	detail = pins_hidden(detail, scrubbed, sizeof(scrubbed), ";&?#'");
	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", *detail ? detail : m2m_strerror(err));
	return cli_exit_status(err);
}

/* ---- options --------------------------------------------------------------- */

static const struct cli_option builtin[] = {
	{ -2, "help", 'h', NULL, "show this help and exit" },
	{ -3, "version", 'V', NULL, "show the version and exit" },
	{ 0, NULL, 0, NULL, NULL }
};

static void print_option(const struct cli_option *o, FILE *f)
{
	char left[80];
	int n;

	if (o->short_name)
		n = snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name,
			     o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	else
		n = snprintf(left, sizeof(left), "    --%s%s%s", o->name,
			     o->arg ? " " : "", o->arg ? o->arg : "");
	if (n < 0)
		return;
	if (n <= 24)
		fprintf(f, "  %-24s  %s\n", left, o->help);
	else
		fprintf(f, "  %s\n  %-24s  %s\n", left, "", o->help);
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
	const struct cli_option *o;
	int i, headed = 0;

	for (i = 0; cmd->usage[i]; i++)
		fprintf(f, "%s %s\n", i ? "   or:" : "usage:", cmd->usage[i]);
	if (cmd->description)
		fprintf(f, "\n%s\n", cmd->description);
	for (o = cmd->options; o && (o->name || o->help); o++) {
		if (!o->name) {
			fprintf(f, "\n%s\n", o->help);
			headed = 1;
			continue;
		}
		if (!headed) {
			fputs("\nOptions:\n", f);
			headed = 1;
		}
		print_option(o, f);
	}
	if (!headed)
		fputs("\nOptions:\n", f);
	for (o = builtin; o->name; o++)
		print_option(o, f);
}

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd,
		     int argc, char **argv, int first)
{
	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	set_help_hint(cmd);
	p->argc = argc;
	p->argv = argv;
	p->next = first;
	p->operands = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
	if (!p->operands) {
		cli_error("out of memory");
		exit(CLI_EXIT_USAGE);
	}
}

void cli_parser_release(struct cli_parser *p)
{
	free(p->operands);
	p->operands = NULL;
}

static const struct cli_option *find_long(const struct cli_command *cmd,
					  const char *name, size_t len)
{
	const struct cli_option *tables[2] = { cmd->options, builtin };
	const struct cli_option *o;
	int i;

	for (i = 0; i < 2; i++)
		for (o = tables[i]; o && (o->name || o->help); o++)
			if (o->name && strlen(o->name) == len &&
			    strncmp(o->name, name, len) == 0)
				return o;
	return NULL;
}

static const struct cli_option *find_short(const struct cli_command *cmd,
					   char c)
{
	const struct cli_option *tables[2] = { cmd->options, builtin };
	const struct cli_option *o;
	int i;

	for (i = 0; i < 2; i++)
		for (o = tables[i]; o && (o->name || o->help); o++)
			if (o->name && o->short_name == c)
				return o;
	return NULL;
}

int cli_next(struct cli_parser *p)
{
	const struct cli_option *o;
	const char *arg, *value = NULL;
	static char shown[64];

	for (;;) {
		if (p->next >= p->argc)
			return CLI_DONE;
		arg = p->argv[p->next++];
		if (p->operands_only || arg[0] != '-' || arg[1] == '\0') {
			p->operands[p->noperands++] = (char *)arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			p->operands_only = 1;
			continue;
		}
		break;
	}
	if (arg[1] == '-') {
		const char *eq = strchr(arg + 2, '=');
		size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);

		o = find_long(p->cmd, arg + 2, len);
		snprintf(shown, sizeof(shown), "--%.*s", (int)(len > 40 ? 40 : len),
			 arg + 2);
		if (!o)
			cli_usage_error("unknown option '%s'", shown);
		if (eq) {
			if (!o->arg)
				cli_usage_error("option '%s' takes no argument",
						shown);
			value = eq + 1;
		}
	} else {
		o = find_short(p->cmd, arg[1]);
		snprintf(shown, sizeof(shown), "-%c", arg[1]);
		if (!o)
			cli_usage_error("unknown option '%s'", shown);
		if (arg[2]) {
			if (!o->arg)
				cli_usage_error("option '%s' takes no argument",
						shown);
			value = arg + 2;
		}
	}
	if (o->arg && !value) {
		if (p->next >= p->argc)
			cli_usage_error("option '%s' needs an argument (%s)",
					shown, o->arg);
		value = p->argv[p->next++];
	}
	p->optname = shown;
	p->optarg = value;
	if (o->id == -2) {
		cli_print_help(p->cmd, stdout);
		exit(cli_finish_stdout(CLI_EXIT_OK));
	}
	if (o->id == -3) {
		printf("%s %s\n", progname, m2m_version());
		exit(cli_finish_stdout(CLI_EXIT_OK));
	}
	return o->id;
}

/* ---- files and output ------------------------------------------------------ */

int cli_open_input(const char *path)
{
	struct stat st;
	int fd;

	if (strcmp(path, "-") == 0)
		return STDIN_FILENO;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		cli_error("cannot read '%s': %s", path, strerror(EISDIR));
		close(fd);
		return -1;
	}
	return fd;
}

int cli_finish_stdout(int status)
{
	int bad = fflush(stdout) != 0 || ferror(stdout);

	if (bad) {
		cli_error("cannot write standard output: %s",
			  strerror(errno ? errno : EIO));
		return CLI_EXIT_SYSTEM;
	}
	return status;
}

void cli_json_string(FILE *f, const char *s, size_t len)
{
	size_t i;

	putc('"', f);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			putc('\\', f);
			putc(c, f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else {
			putc(c, f);
		}
	}
	putc('"', f);
}

const char *cli_iso_time(int64_t t, char buf[CLI_TIME_MAX])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, CLI_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, CLI_TIME_MAX, "?");
	return buf;
}

/* Append s[0..n) to buf[0..size) at *o, cutting it short to fit. */
static void put_cut(char *buf, size_t size, size_t *o, const char *s,
		    size_t n)
{
	if (*o + n >= size)
		n = size - 1 - *o;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

/* text with every "pin-value=" value, up to one of ends, as "***". */
static const char *pins_hidden(const char *text, char *buf, size_t size,
			       const char *ends)
{
	static const char attr[] = "pin-value=";
	const char *s = text, *p;
	size_t o = 0;

	if (!strstr(text, attr))
		return text;
	if (size == 0)
		return "";
	buf[0] = '\0';
	/* The PIN's characters are skipped, never copied: a cut is safe. */
	while ((p = strstr(s, attr)) != NULL) {
		p += sizeof(attr) - 1;
		put_cut(buf, size, &o, s, (size_t)(p - s));
		put_cut(buf, size, &o, "***", 3);
		s = p + strcspn(p, ends);
	}
	put_cut(buf, size, &o, s, strlen(s));
	return buf;
}

const char *cli_uri_shown(const char *uri, char *buf, size_t size)
{
	return pins_hidden(uri, buf, size, ";&?#");
}

void cli_csv_field(FILE *f, const char *s, size_t len)
{
	size_t i;
	int quote = len > 0 && (s[0] == ' ' || s[0] == '\t' ||
				s[len - 1] == ' ' || s[len - 1] == '\t');

	for (i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' ||
			s[i] == '\r';
	if (!quote) {
		fwrite(s, 1, len, f);
		return;
	}
	putc('"', f);
	for (i = 0; i < len; i++) {
		if (s[i] == '"')
			putc('"', f);
		putc(s[i], f);
	}
	putc('"', f);
}

int cli_manifest_start(struct m2m_ctx *ctx, struct m2m_lines *lr,
		       const char *name, const char **line, size_t *len,
		       uint64_t *lineno)
{
	enum m2m_err rc;
	size_t i;

	for (;;) {
		rc = m2m_lines_next(ctx, lr, line, len, lineno);
		if (rc == M2M_ERR_INVALID)
			return cli_fail(ctx, rc, "%s:%llu", name,
					(unsigned long long)*lineno);
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "cannot read '%s'", name);
		if (!*line) {
			cli_error("%s: empty manifest (no header row)", name);
			return CLI_EXIT_INPUT;
		}
		for (i = 0; i < *len && ((*line)[i] == ' ' ||
					 (*line)[i] == '\t'); i++)
			;
		if (i < *len)
			return 0;
	}
}

/* ---- progress ----------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_draw(struct cli_progress *pr, uint64_t done,
			  uint64_t failed, double t)
{
	double rate = t > pr->start ? (double)done / (t - pr->start) : 0;

	if (pr->total)
		fprintf(stderr, "\r%s: %llu/%llu %s, %llu failed, %.0f/s ",
			progname, (unsigned long long)done,
			(unsigned long long)pr->total, pr->unit,
			(unsigned long long)failed, rate);
	else
		fprintf(stderr, "\r%s: %llu %s, %llu failed, %.0f/s ",
			progname, (unsigned long long)done, pr->unit,
			(unsigned long long)failed, rate);
}

void cli_progress_start(struct cli_progress *pr, const char *unit,
			uint64_t total)
{
	memset(pr, 0, sizeof(*pr));
	pr->enabled = isatty(STDERR_FILENO);
	pr->unit = unit;
	pr->total = total;
	pr->start = pr->last = now();
}

void cli_progress_update(struct cli_progress *pr, uint64_t done,
			 uint64_t failed)
{
	double t;

	if (!pr->enabled || ++pr->calls % 1024 != 0)
		return;
	t = now();
	if (t - pr->last < 0.2)
		return;
	pr->last = t;
	progress_draw(pr, done, failed, t);
}

void cli_progress_end(struct cli_progress *pr, uint64_t done, uint64_t failed)
{
	if (!pr->enabled || pr->last == pr->start)
		return;
	progress_draw(pr, done, failed, now());
	fputc('\n', stderr);
}

/* ---- commands made of subcommands -------------------------------------------- */

static void main_help(FILE *f, const char *about,
		      const struct cli_subcommand *subs, size_t nsubs)
{
	size_t i;
	int k, first = 1;

	for (i = 0; i < nsubs; i++)
		for (k = 0; subs[i].cmd->usage[k]; k++) {
			fprintf(f, "%s %s\n", first ? "usage:" : "   or:",
				subs[i].cmd->usage[k]);
			first = 0;
		}
	fprintf(f, "\n%s\nOptions:\n"
		"  -h, --help                show this help and exit\n"
		"  -V, --version             show the version and exit\n",
		about);
}

int cli_main(const char *name, const char *about,
	     const struct cli_subcommand *subs, size_t nsubs, int argc,
	     char **argv)
{
	struct m2m_ctx *ctx = NULL;
	enum m2m_err rc;
	size_t i;
	int status;

	cli_init(name);
	if (argc < 2) {
		main_help(stderr, about, subs, nsubs);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		main_help(stdout, about, subs, nsubs);
		return cli_finish_stdout(CLI_EXIT_OK);
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", name, m2m_version());
		return cli_finish_stdout(CLI_EXIT_OK);
	}
	for (i = 0; i < nsubs; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			break;
	if (i == nsubs)
		cli_usage_error("unknown command '%s'", argv[1]);
	rc = m2m_ctx_new(&ctx);
	if (rc != M2M_OK)
		return cli_fail(NULL, rc, "cannot initialise");
	status = subs[i].run(ctx, argc, argv);
	m2m_ctx_free(ctx);
	return status;
}

/* ---- device addresses ------------------------------------------------------------ */

int cli_tech_option(const char *addr[M2M_TECH_COUNT], int base, int opt,
		    const char *arg, int *count)
{
	int t;

	if (opt < base || opt >= base + M2M_TECH_COUNT)
		return 0;
	t = opt - base;
	if (addr[t])
		cli_usage_error("option '--%s' given twice", m2m_tech_name(t));
	addr[t] = arg;
	if (count)
		(*count)++;
	return 1;
}

int cli_tech_ppid(struct m2m_ctx *ctx, const char *const addr[M2M_TECH_COUNT],
		  struct m2m_ppid *ppid)
{
	enum m2m_err rc;
	int t;

	m2m_ppid_init(ppid);
	for (t = 0; t < M2M_TECH_COUNT; t++) {
		if (!addr[t])
			continue;
		rc = m2m_ppid_set_text(ctx, ppid, t, addr[t], strlen(addr[t]));
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "invalid --%s address",
					m2m_tech_name(t));
	}
	return 0;
}
