/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ks_m2m: provisioning devices through m2m's key interface
 * (include/m2m/key.h, include/m2m/cert.h), for bench/keystore.
 *
 *   ks_m2m tpm2 TCTI FIRST N CERT_DER
 *   ks_m2m pkcs11 TOKEN PIN_FILE FIRST N CERT_DER
 *   ks_m2m file DIR FIRST N CERT_DER
 *
 * For each device i in FIRST..FIRST+N-1, timed:
 *   m2m_key_generate() an EC P-256 key at "tpm2:handle=0x8102xxxx" (i
 *   added), "pkcs11:token=TOKEN;id=%hh%ll;object=dev-%06u?pin-source=
 *   file:PIN_FILE" (CKA_ID = i as two bytes) or "file:DIR/dev-%06u.key";
 *   m2m_csr_make() a request for it, signed with it, with the subject
 *   ks_common.h's baselines put in theirs, and m2m_csr_encode() it to DER;
 *   m2m_cert_store() CERT_DER at "tpm2:nv=0x01C9xxxx", at
 *   "pkcs11:token=TOKEN;id=%80%hh%ll;object=crt-%06u" (not the key's id:
 *   the certificate is not the key's) or at "file:DIR/dev-%06u.crt";
 *   m2m_cert_load() it back and compare the DER.
 * TCTI "-" leaves opts.tcti NULL ($M2M_TCTI, else tpm2-tss's default).
 * Before the loop, untimed, one m2m_cert_load() of a location that holds
 * nothing lets the back-end open what it keeps open across calls (a TPM
 * connection, a module and session), as the baselines do before theirs.
 * After it, untimed: the last request is parsed and its signature checked.
 * Keys and certificates stay where they are (the interface has no call to
 * remove a certificate; bench/keystore gives every run a new TPM or token).
 *
 * Prints "N<TAB>SECONDS" on stdout: devices provisioned and the time the
 * loop took.  If the back-end says it cannot do one of the steps for the
 * first device (M2M_ERR_UNSUPPORTED, as the stub back-ends do), prints
 * "n/a: STEP: DETAIL" instead and exits 0.  Exits 1 if a step fails, 2
 * for bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#define URI_MAX		1024
#define DEVICES_MAX	65536

/* The subject ks_common.h's ks_csr_tbs() writes for the baselines. */
#define SUBJECT_FMT	"C=DE,O=Example Devices Manufacturing GmbH," \
			"OU=Factory Bremen Line 2 Station 7," \
			"CN=dev-%06u,serialNumber=SN-%06u"

static const char progname[] = "ks_m2m";

enum kind { KIND_TPM2, KIND_PKCS11, KIND_FILE };

struct bench {
	struct m2m_ctx *ctx;
	struct m2m_key_opts opts;
	enum kind kind;
	const char *where;	/* TCTI, token label or directory */
	const char *pin_file;
	const struct m2m_cert *cert;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A step failed for device dev: "n/a" if the back-end cannot do it at all
 * (seen on the first device), else an error.
 */
static void fail(const struct bench *b, const char *step, unsigned dev,
		 int first, enum m2m_err rc)
{
	if (rc == M2M_ERR_UNSUPPORTED && first) {
		printf("n/a: %s: %s\n", step, m2m_ctx_detail(b->ctx));
		exit(0);
	}
	fprintf(stderr, "%s: %s failed for device %u: %s: %s\n", progname,
		step, dev, m2m_strerror(rc), m2m_ctx_detail(b->ctx));
	exit(1);
}

static void key_uri(const struct bench *b, unsigned dev, char *out,
		    size_t size)
{
	switch (b->kind) {
	case KIND_TPM2:
		snprintf(out, size, "tpm2:handle=0x%08x", 0x81020000u + dev);
		break;
	case KIND_PKCS11:
		snprintf(out, size,
			 "pkcs11:token=%s;id=%%%02x%%%02x;object=dev-%06u?pin-source=file:%s",
			 b->where, (dev >> 8) & 0xff, dev & 0xff, dev,
			 b->pin_file);
		break;
	case KIND_FILE:
		snprintf(out, size, "file:%s/dev-%06u.key", b->where, dev);
		break;
	}
}

static void cert_uri(const struct bench *b, unsigned dev, char *out,
		     size_t size)
{
	switch (b->kind) {
	case KIND_TPM2:
		snprintf(out, size, "tpm2:nv=0x%08x", 0x01C90000u + dev);
		break;
	case KIND_PKCS11:
		/*
		 * Not at the key's CKA_ID: the back-end refuses a certificate
		 * whose public key is not the key's there, and every device
		 * gets the same certificate here.  Its own id still costs
		 * the lookup of a key with that id, as a real install does.
		 */
		snprintf(out, size,
			 "pkcs11:token=%s;id=%%80%%%02x%%%02x;object=crt-%06u?pin-source=file:%s",
			 b->where, dev >> 8 & 0xff, dev & 0xff, dev,
			 b->pin_file);
		break;
	case KIND_FILE:
		snprintf(out, size, "file:%s/dev-%06u.crt", b->where, dev);
		break;
	}
}

/*
 * Provision device dev; its request (DER) into *csr_der (caller frees),
 * *csr_len.
 */
static void provision(const struct bench *b, unsigned dev, int first,
		      char **csr_der, size_t *csr_len)
{
	struct m2m_key *key = NULL;
	struct m2m_csr *csr = NULL;
	struct m2m_cert **list = NULL;
	char kuri[URI_MAX], curi[URI_MAX], subject[256];
	const unsigned char *want, *got;
	size_t want_len, got_len, n = 0;
	enum m2m_err rc;

	key_uri(b, dev, kuri, sizeof(kuri));
	cert_uri(b, dev, curi, sizeof(curi));
	snprintf(subject, sizeof(subject), SUBJECT_FMT, dev, dev);
	rc = m2m_key_generate(b->ctx, kuri, M2M_KEY_EC_P256, &b->opts, &key);
	if (rc != M2M_OK)
		fail(b, "m2m_key_generate", dev, first, rc);
	rc = m2m_csr_make(b->ctx, key, subject, &csr);
	if (rc != M2M_OK)
		fail(b, "m2m_csr_make", dev, first, rc);
	rc = m2m_csr_encode(b->ctx, csr, M2M_FORMAT_DER, csr_der, csr_len);
	if (rc != M2M_OK)
		fail(b, "m2m_csr_encode", dev, first, rc);
	rc = m2m_cert_store(b->ctx, curi, b->cert, NULL, 0, &b->opts);
	if (rc != M2M_OK)
		fail(b, "m2m_cert_store", dev, first, rc);
	rc = m2m_cert_load(b->ctx, curi, &b->opts, &list, &n);
	if (rc != M2M_OK)
		fail(b, "m2m_cert_load", dev, first, rc);
	want = m2m_cert_der(b->cert, &want_len);
	got = m2m_cert_der(list[0], &got_len);
	if (n != 1 || got_len != want_len || memcmp(got, want, want_len)) {
		fprintf(stderr, "%s: device %u: the certificate read back differs\n",
			progname, dev);
		exit(1);
	}
	m2m_cert_list_free(list, n);
	m2m_csr_free(csr);
	m2m_key_free(key);
}

/* Let the back-end open what it keeps open, untimed; the result is moot. */
static void warm_up(const struct bench *b)
{
	struct m2m_cert **list = NULL;
	char uri[URI_MAX];
	size_t n = 0;

	switch (b->kind) {
	case KIND_TPM2:
		snprintf(uri, sizeof(uri), "tpm2:nv=0x%08x", 0x01C8FFFFu);
		break;
	case KIND_PKCS11:
		snprintf(uri, sizeof(uri),
			 "pkcs11:token=%s;id=%%ff%%ff%%ff;object=warm-up?pin-source=file:%s",
			 b->where, b->pin_file);
		break;
	case KIND_FILE:
		return;
	}
	if (m2m_cert_load(b->ctx, uri, &b->opts, &list, &n) == M2M_OK)
		m2m_cert_list_free(list, n);
	m2m_ctx_clear_error(b->ctx);
}

static unsigned number(const char *s, unsigned long max, int *ok)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || *s == '-' || v > max)
		*ok = 0;
	return (unsigned)v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s tpm2 TCTI FIRST N CERT_DER\n"
		"       %s pkcs11 TOKEN PIN_FILE FIRST N CERT_DER\n"
		"       %s file DIR FIRST N CERT_DER\n",
		progname, progname, progname);
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct m2m_cert *cert = NULL;
	struct m2m_csr *check = NULL;
	char *csr_der = NULL;
	size_t csr_len = 0;
	unsigned first, n, i;
	int a, ok = 1;
	double t0, t1;
	enum m2m_err rc;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "tpm2") == 0 && argc == 6) {
		b.kind = KIND_TPM2;
		b.opts.tcti = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
		a = 3;
	} else if (strcmp(argv[1], "pkcs11") == 0 && argc == 7) {
		b.kind = KIND_PKCS11;
		b.pin_file = argv[3];
		a = 4;
	} else if (strcmp(argv[1], "file") == 0 && argc == 6) {
		b.kind = KIND_FILE;
		a = 3;
	} else {
		usage();
	}
	b.where = argv[2];
	first = number(argv[a], DEVICES_MAX - 1, &ok);
	n = number(argv[a + 1], DEVICES_MAX, &ok);
	if (!ok || n < 1 || n > DEVICES_MAX - first)
		usage();

	rc = m2m_ctx_new(&b.ctx);
	if (rc != M2M_OK) {
		fprintf(stderr, "%s: cannot make a context: %s\n", progname,
			m2m_strerror(rc));
		return 1;
	}
	rc = m2m_cert_load_file(b.ctx, argv[a + 2], &cert);
	if (rc != M2M_OK) {
		fprintf(stderr, "%s: %s\n", progname, m2m_ctx_detail(b.ctx));
		return 1;
	}
	b.cert = cert;
	warm_up(&b);

	t0 = now();
	for (i = first; i < first + n; i++) {
		free(csr_der);
		csr_der = NULL;
		provision(&b, i, i == first, &csr_der, &csr_len);
	}
	t1 = now();

	rc = m2m_csr_parse(b.ctx, csr_der, csr_len, &check);
	if (rc != M2M_OK) {
		fprintf(stderr, "%s: the request of device %u: %s\n", progname,
			first + n - 1, m2m_ctx_detail(b.ctx));
		return 1;
	}
	m2m_csr_free(check);
	free(csr_der);
	m2m_cert_free(cert);
	m2m_ctx_free(b.ctx);
	printf("%u\t%.6f\n", n, t1 - t0);
	return 0;
}
