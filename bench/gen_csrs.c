/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen_csrs: write N PKCS#10 requests, each for a P-256 key of its own,
 * and a batch manifest for them, for benchmarks.
 *
 *   gen_csrs N DIR
 *
 * Writes DIR/00000001.csr ... (PEM, empty subject, ECDSA with SHA-256)
 * and DIR/manifest.csv with the header "serial,ppid,csr": row i (1..N)
 * gets serial SN-<i, 8 digits or more>, an ethernet-only PPID
 * ("40" and the locally administered unicast MAC 02:00 + the 32 bits of
 * i, in hex) and the request's path as DIR/<name>.  The keys themselves
 * are not kept.  DIR must exist.  At most 4294967295 requests.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

static const char progname[] = "gen_csrs";

static void die_ossl(const char *what)
{
	fprintf(stderr, "%s: %s failed\n", progname, what);
	ERR_print_errors_fp(stderr);
	exit(5);
}

static void die_io(const char *what, const char *path)
{
	fprintf(stderr, "%s: cannot %s '%s': %s\n", progname, what, path,
		strerror(errno));
	exit(4);
}

/*
 * The request is put together by hand: X509_REQ_set_pubkey() takes most
 * of the time in OpenSSL 3.0 (it re-encodes the key through the provider
 * encoders), and a P-256 request with an empty subject is a fixed frame
 * around the point and the signature.
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo SEQUENCE {
 *       version INTEGER 0, subject Name (empty), subjectPKInfo,
 *       attributes [0] {} },
 *     signatureAlgorithm ecdsa-with-SHA256, signature BIT STRING }
 */
static const uint8_t info_head[] = {
	0x30, 0x62,				/* CertificationRequestInfo */
	0x02, 0x01, 0x00,			/* version 0 */
	0x30, 0x00,				/* subject: empty */
	0x30, 0x59,				/* SubjectPublicKeyInfo */
	0x30, 0x13,
	0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, /* ecPublicKey */
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, /* P-256 */
	0x03, 0x42, 0x00,			/* BIT STRING, the point */
};
static const uint8_t info_tail[] = { 0xa0, 0x00 };	/* attributes */
static const uint8_t sig_alg[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
};

#define POINT_LEN	65
#define INFO_LEN	(sizeof(info_head) + POINT_LEN + sizeof(info_tail))
#define SIG_MAX		72
#define CSR_MAX		(3 + INFO_LEN + sizeof(sig_alg) + 3 + SIG_MAX)

/* One request for a fresh P-256 key, written as PEM to path. */
static void write_csr(EVP_MD_CTX *mctx, const char *path)
{
	uint8_t der[CSR_MAX], *info = der + 3, *p;
	unsigned char b64[4 * ((CSR_MAX + 2) / 3) + 1];
	char pem[sizeof(b64) + sizeof(b64) / 64 + 128];
	size_t plen = 0, siglen = SIG_MAX, body, n, i, used;
	EVP_PKEY *pkey;
	FILE *f;
	int b64len;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!pkey)
		die_ossl("P-256 key generation");
	p = info;
	memcpy(p, info_head, sizeof(info_head));
	p += sizeof(info_head);
	if (!EVP_PKEY_get_octet_string_param(pkey,
					     OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					     p, POINT_LEN, &plen) ||
	    plen != POINT_LEN || p[0] != 0x04)
		die_ossl("reading the public point");
	p += POINT_LEN;
	memcpy(p, info_tail, sizeof(info_tail));
	p += sizeof(info_tail);
	memcpy(p, sig_alg, sizeof(sig_alg));
	p += sizeof(sig_alg);
	/* OpenSSL 3.0: re-inited for another key, a used context signs wrong. */
	EVP_MD_CTX_reset(mctx);
	if (!EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, pkey) ||
	    !EVP_DigestSign(mctx, p + 3, &siglen, info, INFO_LEN))
		die_ossl("signing a request");
	p[0] = 0x03;				/* BIT STRING */
	p[1] = (uint8_t)(siglen + 1);
	p[2] = 0x00;
	p += 3 + siglen;
	body = (size_t)(p - info);
	if (body < 128 || body > 255)		/* the length takes 0x81 + 1 */
		die_ossl("encoding the request (signature length)");
	der[0] = 0x30;
	der[1] = 0x81;
	der[2] = (uint8_t)body;
	n = 3 + body;

	b64len = EVP_EncodeBlock(b64, der, (int)n);
	used = (size_t)snprintf(pem, sizeof(pem),
				"-----BEGIN CERTIFICATE REQUEST-----\n");
	for (i = 0; i < (size_t)b64len; i += 64) {
		size_t k = (size_t)b64len - i < 64 ? (size_t)b64len - i : 64;

		memcpy(pem + used, b64 + i, k);
		used += k;
		pem[used++] = '\n';
	}
	used += (size_t)snprintf(pem + used, sizeof(pem) - used,
				 "-----END CERTIFICATE REQUEST-----\n");
	f = fopen(path, "w");
	if (!f)
		die_io("create", path);
	if (fwrite(pem, 1, used, f) != used || fclose(f) != 0)
		die_io("write", path);
	EVP_PKEY_free(pkey);
}

int main(int argc, char **argv)
{
	unsigned long long n;
	char path[4096], *end;
	const char *dir;
	EVP_MD_CTX *mctx;
	FILE *manifest;
	uint32_t i;

	if (argc != 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s N DIR\n", progname);
		return 2;
	}
	errno = 0;
	n = strtoull(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || n > UINT32_MAX) {
		fprintf(stderr, "%s: '%s' is not a number of requests\n",
			progname, argv[1]);
		return 2;
	}
	dir = argv[2];
	if (strlen(dir) > sizeof(path) - 32) {
		fprintf(stderr, "%s: '%s' is too long\n", progname, dir);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/manifest.csv", dir);
	manifest = fopen(path, "w");
	if (!manifest)
		die_io("create", path);
	fputs("serial,ppid,csr\n", manifest);
	mctx = EVP_MD_CTX_new();
	if (!mctx)
		die_ossl("EVP_MD_CTX_new");
	for (i = 1; i <= n; i++) {
		snprintf(path, sizeof(path), "%s/%08lu.csr", dir,
			 (unsigned long)i);
		write_csr(mctx, path);
		fprintf(manifest, "SN-%08lu,400200%08lX,%s\n",
			(unsigned long)i, (unsigned long)i, path);
		if (i == UINT32_MAX)
			break;
	}
	EVP_MD_CTX_free(mctx);
	snprintf(path, sizeof(path), "%s/manifest.csv", dir);
	if (fclose(manifest) != 0)
		die_io("write", path);
	return 0;
}
