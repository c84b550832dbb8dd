/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen_crl: a large CRL for benchmarks, written with libcrypto.
 *
 *   gen_crl CA_DIR N OUT
 *
 * CA_DIR holds ca.crt and ca.key (PEM, not encrypted), as 'm2m-ca init'
 * makes them.  Writes to OUT (PEM) a v2 CRL of that CA: cRLNumber 1, its
 * authorityKeyIdentifier, thisUpdate an hour ago, nextUpdate in 7 days,
 * and N entries of random positive 16-octet serials (no certificate the
 * CA issued has them), each revoked an hour ago for keyCompromise.
 * Exits 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static const char progname[] = "gen_crl";

static void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", progname, what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void *load(const char *dir, const char *name, int key)
{
	char path[4096];
	FILE *f;
	void *p;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		die("cannot open the CA's files");
	p = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL) :
		  (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!p)
		die("cannot read the CA's files");
	return p;
}

int main(int argc, char **argv)
{
	X509 *ca;
	EVP_PKEY *key;
	X509_CRL *crl;
	ASN1_TIME *t;
	ASN1_INTEGER *num;
	X509V3_CTX v3;
	X509_EXTENSION *aki;
	time_t now = time(NULL);
	long n, i;
	FILE *out;

	if (argc != 4 || (n = atol(argv[2])) < 0) {
		fprintf(stderr, "usage: %s CA_DIR N OUT\n", progname);
		return 1;
	}
	ca = load(argv[1], "ca.crt", 0);
	key = load(argv[1], "ca.key", 1);
	crl = X509_CRL_new();
	t = ASN1_TIME_set(NULL, now - 3600);
	num = ASN1_INTEGER_new();
	if (!crl || !t || !num || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    !X509_CRL_set1_lastUpdate(crl, t) ||
	    !ASN1_TIME_set(t, now + 7 * 86400) ||
	    !X509_CRL_set1_nextUpdate(crl, t) || !ASN1_INTEGER_set(num, 1) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		die("cannot build the CRL");
	X509V3_set_ctx(&v3, ca, NULL, NULL, crl, 0);
	aki = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
				  "keyid:always");
	if (!aki || !X509_CRL_add_ext(crl, aki, -1))
		die("cannot add the authorityKeyIdentifier");
	X509_EXTENSION_free(aki);
	ASN1_TIME_set(t, now - 3600);
	for (i = 0; i < n; i++) {
		unsigned char sn[16];
		X509_REVOKED *rev = X509_REVOKED_new();
		ASN1_INTEGER *ai;
		ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
		BIGNUM *bn;

		if (RAND_bytes(sn, sizeof(sn)) != 1)
			die("no random serial");
		sn[0] = (unsigned char)(0x40 | (sn[0] & 0x3f));
		bn = BN_bin2bn(sn, sizeof(sn), NULL);
		ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
		if (!rev || !ai || !reason ||
		    !X509_REVOKED_set_serialNumber(rev, ai) ||
		    !X509_REVOKED_set_revocationDate(rev, t) ||
		    !ASN1_ENUMERATED_set(reason, 1) ||
		    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0) ||
		    !X509_CRL_add0_revoked(crl, rev))
			die("cannot add an entry");
		BN_free(bn);
		ASN1_INTEGER_free(ai);
		ASN1_ENUMERATED_free(reason);
	}
	X509_CRL_sort(crl);
	if (!X509_CRL_sign(crl, key, EVP_sha256()))
		die("cannot sign the CRL");
	out = fopen(argv[3], "w");
	if (!out || !PEM_write_X509_CRL(out, crl) || fclose(out) != 0)
		die("cannot write the CRL");
	X509_CRL_free(crl);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(num);
	EVP_PKEY_free(key);
	X509_free(ca);
	return 0;
}
