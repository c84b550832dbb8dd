/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen_manifest: write a factory manifest of N devices to standard output,
 * for benchmarks.
 *
 *   gen_manifest [N]          N rows, default 1000000
 *
 * The header is "serial,bluetooth,wifi,wmbus,imei,nfc"; row i (1..N) gets
 * serial SN-<i, 8 digits or more> and addresses derived from i, each
 * unique and valid (unicast, never all-zero, wM-Bus letters and BCD, IMEI
 * with its Luhn digit, 7-byte NFC UID), so that 'm2m-idgen --batch'
 * accepts every row.  At most 4294967295 rows.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2m/ppid.h>

#define OUT_BUF (1024 * 1024)
#define ROW_MAX 256		/* one row is about 110 bytes */

static const char progname[] = "gen_manifest";
static const char hexdig[] = "0123456789ABCDEF";

static char out[OUT_BUF];
static size_t used;

static void flush_out(void)
{
	size_t off = 0;
	ssize_t n;

	while (off < used) {
		n = write(STDOUT_FILENO, out + off, used - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr,
				"%s: cannot write standard output: %s\n",
				progname, strerror(errno));
			exit(4);
		}
		off += (size_t)n;
	}
	used = 0;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* "AA:BB:..." of b[0..n), with a leading ':' if sep. */
static char *put_hex(char *p, const uint8_t *b, size_t n, int sep)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (sep || i)
			*p++ = ':';
		*p++ = hexdig[b[i] >> 4];
		*p++ = hexdig[b[i] & 0x0f];
	}
	return p;
}

/* v as exactly width decimal digits (the low ones). */
static char *put_dec(char *p, uint64_t v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* The Luhn check digit of the 14 digits d[0..14). */
static char luhn(const char *d)
{
	unsigned sum = 0, v;
	int i;

	for (i = 0; i < 14; i++) {
		v = (unsigned)(d[i] - '0');
		if (i % 2) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

static char *put_row(char *p, uint32_t i)
{
	uint8_t be[4] = { (uint8_t)(i >> 24), (uint8_t)(i >> 16),
			  (uint8_t)(i >> 8), (uint8_t)i };
	char *imei;

	/* serial */
	p = put_str(p, "SN-");
	p = i > 99999999 ? put_dec(p, i, 10) : put_dec(p, i, 8);
	/* bluetooth: 00:1A, then the 32 bits of i */
	p = put_str(p, ",00:1A:");
	p = put_hex(p, be, 4, 0);
	/* wifi: a locally administered unicast MAC, 02:4D, then i */
	p = put_str(p, ",02:4D:");
	p = put_hex(p, be, 4, 0);
	/* wmbus: K + two letters counting i / 10^8 (<= 42), ID i % 10^8 */
	p = put_str(p, ",K");
	*p++ = (char)('A' + i / 100000000 / 26);
	*p++ = (char)('A' + i / 100000000 % 26);
	*p++ = ':';
	p = put_dec(p, i % 100000000, 8);
	p = put_str(p, ":01:07,");
	/* imei: TAC 35 + 12 digits of i, then the Luhn digit */
	imei = p;
	p = put_str(p, "35");
	p = put_dec(p, i, 12);
	*p = luhn(imei);
	p++;
	/* nfc: a 7-byte UID, NXP's 04, A2:3B, then i */
	p = put_str(p, ",04:A2:3B");
	p = put_hex(p, be, 4, 1);
	*p++ = '\n';
	return p;
}

int main(int argc, char **argv)
{
	unsigned long long n = 1000000;
	char *end;
	uint32_t i;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [ROWS]\n", progname);
		return 2;
	}
	if (argc == 2) {
		errno = 0;
		n = strtoull(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || n > UINT32_MAX) {
			fprintf(stderr,
				"%s: '%s' is not a number of rows (0 to %lu)\n",
				progname, argv[1], (unsigned long)UINT32_MAX);
			return 2;
		}
	}
	used = (size_t)snprintf(out, sizeof(out), "serial,%s,%s,%s,%s,%s\n",
				m2m_tech_name(M2M_TECH_BLUETOOTH),
				m2m_tech_name(M2M_TECH_WIFI),
				m2m_tech_name(M2M_TECH_WMBUS),
				m2m_tech_name(M2M_TECH_IMEI),
				m2m_tech_name(M2M_TECH_NFC));
	for (i = 1; i <= n; i++) {
		if (OUT_BUF - used < ROW_MAX)
			flush_out();
		used = (size_t)(put_row(out + used, i) - out);
		if (i == UINT32_MAX)
			break;
	}
	flush_out();
	return 0;
}
