/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enroll_issue: the CA's share of provisioning a device, for bench/enroll:
 * what 'm2m-enroll idevid' asks of the CA per device, alone.
 *
 *   enroll_issue CA_DIR MANIFEST [CERT_OUT]
 *
 * MANIFEST is gen_csrs's: a header, then "serial,ppid,csr" rows (no
 * quoting).  Before the clock starts: open the CA in CA_DIR with its key
 * (m2m_ca_open), read every request and parse it (m2m_csr_parse, which
 * checks its signature), decode every PPID.  Then, timed, for each row:
 * m2m_ca_issue() with the CA's idevid profile, the row's PPID and serial
 * as the device's serialNumber, and the TPM residency policies, as
 * m2m-enroll idevid asks for a key it made in a TPM: the profile's
 * checks, the certificate built and signed, its ledger record and audit
 * entry committed, one transaction per device.  The request's parse and
 * signature check are not in the loop: m2m-enroll hands the CA a request
 * it made itself.
 *
 * CERT_OUT, if given, gets the DER of the last certificate issued: the
 * certificate of the right size for the bare TPM steps to store.
 *
 * Prints "N<TAB>SECONDS" on stdout: certificates issued and the time the
 * loop took.  Exits 0, 1 if a step fails, 2 for bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/file.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>

#define ROWS_MAX	100000

static const char progname[] = "enroll_issue";

struct row {
	char serial[M2M_SERIAL_MAX + 1];
	struct m2m_ppid ppid;
	struct m2m_csr *csr;
};

static struct m2m_ctx *ctx;

static void die(const char *what, const char *subject, enum m2m_err rc)
{
	fprintf(stderr, "%s: %s '%s': %s: %s\n", progname, what, subject,
		m2m_strerror(rc), m2m_ctx_detail(ctx));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Row "serial,ppid,csr" of line into *r; 0 if it is not one. */
static int row_parse(char *line, struct row *r)
{
	char *ppid, *csr;
	unsigned char *buf = NULL;
	size_t len = 0;
	enum m2m_err rc;

	line[strcspn(line, "\r\n")] = '\0';
	ppid = strchr(line, ',');
	csr = ppid ? strchr(ppid + 1, ',') : NULL;
	if (!csr || (size_t)(ppid - line) > M2M_SERIAL_MAX)
		return 0;
	*ppid++ = '\0';
	*csr++ = '\0';
	memcpy(r->serial, line, strlen(line) + 1);
	rc = m2m_ppid_decode_hex(ctx, &r->ppid, ppid, strlen(ppid));
	if (rc != M2M_OK)
		die("cannot decode the PPID of", r->serial, rc);
	rc = m2m_file_read(ctx, csr, M2M_CERT_MAX, &buf, &len);
	if (rc != M2M_OK)
		die("cannot read", csr, rc);
	rc = m2m_csr_parse(ctx, buf, len, &r->csr);
	free(buf);
	if (rc != M2M_OK)
		die("cannot parse", csr, rc);
	return 1;
}

/* The rows of the manifest at path into *out; their number. */
static size_t rows_read(const char *path, struct row **out)
{
	char line[M2M_LINE_MAX + 2];
	struct row *rows = NULL, *more;
	size_t n = 0, cap = 0;
	FILE *f = fopen(path, "r");

	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "%s: cannot read '%s'\n", progname, path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		if (n == ROWS_MAX) {
			fprintf(stderr, "%s: '%s' has more than %d rows\n",
				progname, path, ROWS_MAX);
			exit(1);
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 128;
			more = realloc(rows, cap * sizeof(*rows));
			if (!more) {
				fprintf(stderr, "%s: out of memory\n", progname);
				exit(1);
			}
			rows = more;
		}
		if (!row_parse(line, &rows[n])) {
			fprintf(stderr, "%s: '%s': row %zu is not serial,ppid,csr\n",
				progname, path, n + 1);
			exit(1);
		}
		n++;
	}
	if (ferror(f) || n == 0) {
		fprintf(stderr, "%s: '%s' has no rows\n", progname, path);
		exit(1);
	}
	fclose(f);
	*out = rows;
	return n;
}

int main(int argc, char **argv)
{
	struct m2m_ca *ca = NULL;
	struct m2m_cert *last = NULL;
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct row *rows;
	const uint8_t *der;
	size_t n, i, len;
	double t0, t1;
	enum m2m_err rc;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s CA_DIR MANIFEST [CERT_OUT]\n",
			progname);
		return 2;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return 1;
	}
	rc = m2m_ca_open(ctx, argv[1], M2M_CA_NEED_KEY, NULL, NULL, &ca);
	if (rc != M2M_OK)
		die("cannot open the CA", argv[1], rc);
	n = rows_read(argv[2], &rows);

	t0 = now();
	for (i = 0; i < n; i++) {
		memset(&req, 0, sizeof(req));
		memset(&res, 0, sizeof(res));
		req.profile = "idevid";
		req.csr = rows[i].csr;
		req.ppid = &rows[i].ppid;
		req.device_serial = rows[i].serial;
		req.tpm_resident = 1;
		rc = m2m_ca_issue(ctx, ca, &req, &res);
		if (rc != M2M_OK)
			die("cannot issue to", rows[i].serial, rc);
		m2m_cert_free(last);
		last = res.cert;
	}
	t1 = now();

	if (argc == 4) {
		der = m2m_cert_der(last, &len);
		rc = m2m_file_write(ctx, argv[3], der, len, 0644, 0);
		if (rc != M2M_OK)
			die("cannot write", argv[3], rc);
	}
	m2m_cert_free(last);
	for (i = 0; i < n; i++)
		m2m_csr_free(rows[i].csr);
	free(rows);
	m2m_ca_close(ca);
	m2m_ctx_free(ctx);
	printf("%zu\t%.6f\n", n, t1 - t0);
	return 0;
}
