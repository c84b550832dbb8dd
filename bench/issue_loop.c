/* SPDX-License-Identifier: Apache-2.0 */
/*
 * issue_loop: the baseline for 'm2m-ca issue --batch', the least an
 * issuing program does per device, written the obvious way with libcrypto
 * calls: no ledger, no profile logic, no output files.
 *
 *   issue_loop CA_DIR MANIFEST HW_TYPE_OID
 *
 * CA_DIR holds ca.crt and ca.key (PEM, not encrypted), as 'm2m-ca init'
 * makes them.  MANIFEST is gen_csrs's: a header, then "serial,ppid,csr"
 * rows (no quoting).  For each row: read and parse the PEM request, check
 * its signature, build a certificate like an IDevID (random 16-byte
 * serial, issuer the CA's subject, subject O=Example,CN=Sensor plus the
 * serialNumber, valid from now to 99991231235959Z, the request's key, a
 * subjectAltName with a hardwareModuleName otherName of HW_TYPE_OID and
 * the PPID, keyUsage digitalSignature (critical), authorityKeyIdentifier),
 * sign it with the CA key (ECDSA, SHA-256) and encode it to DER.
 *
 * Prints "CERTS<TAB>SECONDS" on stdout: certificates made and the time
 * the loop took (the CA's loading excluded).  Exits 0, or 1 if any row
 * fails.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define PPID_MAX	80
#define SAN_MAX		256

static const char progname[] = "issue_loop";

static void die(const char *what, const char *subject)
{
	fprintf(stderr, "%s: %s '%s'\n", progname, what, subject);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The bytes of hex into out[0..PPID_MAX); their number, or 0 if bad. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex), i;

	if (n == 0 || n % 2 || n / 2 > PPID_MAX)
		return 0;
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return n / 2;
}

/*
 * GeneralNames holding one otherName, hardwareModuleName (RFC 4108):
 *   SEQUENCE { [0] { OID 1.3.6.1.5.5.7.8.4,
 *                    [0] { SEQUENCE { hwType OID, hwSerialNum OCTET STRING } } } }
 * hwtype is the DER of the hwType OID.  Every length is below 128.
 */
static size_t san_der(uint8_t *out, const uint8_t *hwtype, size_t hwlen,
		      const uint8_t *ppid, size_t plen)
{
	static const uint8_t on_hwmod[] = {
		0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04,
	};
	size_t hmn = hwlen + 2 + plen;			/* SEQUENCE content */
	size_t val = 2 + hmn;				/* [0] content */
	size_t other = sizeof(on_hwmod) + 2 + val;	/* otherName content */
	size_t names = 2 + other;			/* GeneralNames content */
	uint8_t *p = out;

	if (2 + names > SAN_MAX || names > 127)
		return 0;
	*p++ = 0x30;
	*p++ = (uint8_t)names;
	*p++ = 0xa0;
	*p++ = (uint8_t)other;
	memcpy(p, on_hwmod, sizeof(on_hwmod));
	p += sizeof(on_hwmod);
	*p++ = 0xa0;
	*p++ = (uint8_t)val;
	*p++ = 0x30;
	*p++ = (uint8_t)hmn;
	memcpy(p, hwtype, hwlen);
	p += hwlen;
	*p++ = 0x04;
	*p++ = (uint8_t)plen;
	memcpy(p, ppid, plen);
	p += plen;
	return (size_t)(p - out);
}

/* Add the extension nid with the given DER value. */
static int add_ext_der(X509 *x, int nid, int crit, const uint8_t *der,
		       size_t len)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ok = 0;

	if (os && ASN1_OCTET_STRING_set(os, der, (int)len))
		ext = X509_EXTENSION_create_by_NID(NULL, nid, crit, os);
	if (ext)
		ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	return ok;
}

/* Add an extension from its configuration string. */
static int add_ext_conf(X509 *x, X509 *ca, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* One certificate for the request at path; its DER length. */
static int issue_one(X509 *ca, EVP_PKEY *cakey, const uint8_t *hwtype,
		     size_t hwlen, const char *serial, const char *ppid_hex,
		     const char *path)
{
	uint8_t ppid[PPID_MAX], san[SAN_MAX];
	unsigned char *der = NULL;
	X509_REQ *req = NULL;
	X509_NAME *name;
	EVP_PKEY *pub;
	BIGNUM *sn;
	BIO *bio;
	X509 *x;
	size_t plen, slen;
	int len;

	plen = unhex(ppid_hex, ppid);
	if (plen == 0)
		die("bad ppid", ppid_hex);
	bio = BIO_new_file(path, "r");
	if (!bio || !PEM_read_bio_X509_REQ(bio, &req, NULL, NULL))
		die("cannot read the request", path);
	BIO_free(bio);
	pub = X509_REQ_get0_pubkey(req);
	if (!pub || X509_REQ_verify(req, pub) != 1)
		die("request does not verify", path);

	x = X509_new();
	sn = BN_new();
	if (!x || !sn || !X509_set_version(x, X509_VERSION_3) ||
	    !BN_rand(sn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_clear_bit(sn, 127) ||
	    !BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(x)) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !ASN1_TIME_set_string_X509(X509_getm_notAfter(x),
				       "99991231235959Z"))
		die("cannot build the certificate for", path);
	BN_free(sn);
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"Example", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"Sensor", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_ASC,
					(const unsigned char *)serial, -1, -1,
					0) ||
	    !X509_set_pubkey(x, pub))
		die("cannot build the certificate for", path);
	slen = san_der(san, hwtype, hwlen, ppid, plen);
	if (!slen || !add_ext_der(x, NID_subject_alt_name, 0, san, slen) ||
	    !add_ext_conf(x, ca, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext_conf(x, ca, NID_authority_key_identifier, "keyid:always"))
		die("cannot add the extensions for", path);
	if (!X509_sign(x, cakey, EVP_sha256()))
		die("cannot sign the certificate for", path);
	len = i2d_X509(x, &der);
	if (len <= 0)
		die("cannot encode the certificate for", path);
	OPENSSL_free(der);
	X509_free(x);
	X509_REQ_free(req);
	return len;
}

int main(int argc, char **argv)
{
	char path[4096], line[8192], *serial, *ppid, *csr, *nl;
	uint8_t hwtype[64];
	unsigned char *p = hwtype;
	unsigned long long certs = 0;
	ASN1_OBJECT *oid;
	EVP_PKEY *cakey;
	X509 *ca;
	FILE *f;
	BIO *bio;
	double t0, t1;
	int hwlen;

	if (argc != 4 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s CA_DIR MANIFEST HW_TYPE_OID\n",
			progname);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", argv[1]);
	bio = BIO_new_file(path, "r");
	ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!ca)
		die("cannot read", path);
	snprintf(path, sizeof(path), "%s/ca.key", argv[1]);
	bio = BIO_new_file(path, "r");
	cakey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!cakey)
		die("cannot read", path);
	oid = OBJ_txt2obj(argv[3], 1);
	if (!oid || i2d_ASN1_OBJECT(oid, NULL) > (int)sizeof(hwtype))
		die("bad OID", argv[3]);
	hwlen = i2d_ASN1_OBJECT(oid, &p);
	ASN1_OBJECT_free(oid);

	f = fopen(argv[2], "r");
	if (!f) {
		fprintf(stderr, "%s: cannot open '%s': %s\n", progname,
			argv[2], strerror(errno));
		return 1;
	}
	t0 = now();
	if (!fgets(line, sizeof(line), f))
		die("empty manifest", argv[2]);
	while (fgets(line, sizeof(line), f)) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		serial = line;
		ppid = strchr(serial, ',');
		csr = ppid ? strchr(ppid + 1, ',') : NULL;
		if (!csr)
			die("bad manifest row", line);
		*ppid++ = '\0';
		*csr++ = '\0';
		issue_one(ca, cakey, hwtype, (size_t)hwlen, serial, ppid, csr);
		certs++;
	}
	t1 = now();
	if (ferror(f))
		die("cannot read", argv[2]);
	fclose(f);
	printf("%llu\t%.6f\n", certs, t1 - t0);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return 0;
}
