/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify_loop: the baseline for m2m-verify, the least a verifying program
 * does per certificate: X509_verify_cert() on certificates parsed before
 * the clock starts, written the obvious way with libcrypto.
 *
 *   verify_loop ROOT INTERMEDIATE CRL BUNDLE
 *
 * ROOT is the trust anchor, INTERMEDIATE the issuing CA, CRL that CA's CRL
 * (PEM; "-" for none), BUNDLE a PEM file of the certificates to verify.
 * Flags: X509_V_FLAG_X509_STRICT, and with a CRL X509_V_FLAG_CRL_CHECK
 * (OpenSSL looks the CRL up and checks its signature for every chain).
 *
 * Prints "CERTS<TAB>SECONDS<TAB>FAILED" on stdout: certificates verified,
 * the time the loop took (parsing excluded), and how many did not verify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

static const char progname[] = "verify_loop";

static void die(const char *what, const char *path)
{
	fprintf(stderr, "%s: %s '%s'\n", progname, what, path);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static X509 *one(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	if (!x)
		die("cannot read a certificate from", path);
	return x;
}

int main(int argc, char **argv)
{
	X509_STORE *store;
	STACK_OF(X509) *untrusted, *certs;
	X509_CRL *crl = NULL;
	X509 *x;
	FILE *f;
	double t0, t1;
	int i, n, failed = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: %s ROOT INTERMEDIATE CRL BUNDLE\n",
			progname);
		return 1;
	}
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	certs = sk_X509_new_null();
	if (!store || !untrusted || !certs ||
	    !X509_STORE_add_cert(store, one(argv[1])) ||
	    !sk_X509_push(untrusted, one(argv[2])))
		die("cannot set up the store for", argv[1]);
	X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
	if (strcmp(argv[3], "-") != 0) {
		f = fopen(argv[3], "r");
		crl = f ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
		if (f)
			fclose(f);
		if (!crl || !X509_STORE_add_crl(store, crl))
			die("cannot read the CRL", argv[3]);
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	f = fopen(argv[4], "r");
	if (!f)
		die("cannot open", argv[4]);
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(certs, x))
			die("out of memory reading", argv[4]);
	fclose(f);
	ERR_clear_error();
	n = sk_X509_num(certs);

	t0 = now();
	for (i = 0; i < n; i++) {
		X509_STORE_CTX *ctx = X509_STORE_CTX_new();

		if (!ctx || !X509_STORE_CTX_init(ctx, store,
						 sk_X509_value(certs, i),
						 untrusted))
			die("cannot start verifying", argv[4]);
		if (X509_verify_cert(ctx) != 1)
			failed++;
		X509_STORE_CTX_free(ctx);
	}
	t1 = now();
	printf("%d\t%.6f\t%d\n", n, t1 - t0, failed);
	X509_CRL_free(crl);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_free(store);
	return 0;
}
