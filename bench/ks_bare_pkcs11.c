/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ks_bare_pkcs11: the baseline for provisioning through m2m's key
 * interface on a PKCS#11 token (bench/keystore): the same steps made with
 * bare PKCS#11 calls through p11-kit, in process.
 *
 *   ks_bare_pkcs11 MODULE TOKEN PIN_FILE FIRST N CERT_DER
 *
 * Once: load and initialise the module MODULE (a path, as
 * p11_kit_module_load() takes it), find the token labelled TOKEN, open one
 * read-write session and log the user in with the PIN on PIN_FILE's first
 * line.  Then for each device i in FIRST..FIRST+N-1, timed, with
 * CKA_ID = i as two bytes big-endian and CKA_LABEL = "dev-%06u":
 *   check that the token has no private key with that CKA_ID;
 *   C_GenerateKeyPair, EC P-256 (both halves token objects; the private
 *   one private, sensitive, not extractable, sign only);
 *   read the public point (CKA_EC_POINT), build the device's PKCS#10
 *   request body (ks_common.h), hash it, C_Sign it with CKM_ECDSA, encode
 *   the request;
 *   C_CreateObject the certificate CERT_DER (CKO_CERTIFICATE, CKC_X_509,
 *   the key's CKA_ID and CKA_LABEL, CKA_SUBJECT, CKA_ISSUER,
 *   CKA_SERIAL_NUMBER, CKA_VALUE);
 *   find it again by CKA_CLASS and CKA_ID, read its CKA_VALUE, compare.
 * After the loop, untimed: check that the last request verifies.  The
 * objects stay on the token (bench/keystore gives every run a new one;
 * destroying them, one search each, costs SoftHSM2 as much as making them).
 *
 * Prints "N<TAB>SECONDS" on stdout: devices provisioned and the time the
 * loop took.  Exits 0, 1 if a step fails, 2 for bad arguments.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include "ks_common.h"

#define PIN_MAX		256
#define NAME_MAX_DER	512	/* a subject, issuer or serial, at most */

static const char progname[] = "ks_bare_pkcs11";

static void die_rv(const char *what, unsigned dev, CK_RV rv)
{
	fprintf(stderr, "%s: %s failed for device %u: %s\n", progname, what,
		dev, p11_kit_strerror(rv));
	exit(1);
}

/* The certificate's attributes, parsed once. */
struct cert_info {
	unsigned char der[KS_CERT_MAX];
	size_t len;
	unsigned char subject[NAME_MAX_DER], issuer[NAME_MAX_DER];
	unsigned char serial[NAME_MAX_DER];
	size_t subject_len, issuer_len, serial_len;
};

/* The DER of len bytes that an i2d_ call wrote, or 0 if it failed. */
static size_t der_len(int len)
{
	return len > 0 ? (size_t)len : 0;
}

static int cert_info_load(struct cert_info *ci, const char *path)
{
	const unsigned char *p = ci->der;
	unsigned char *q;
	X509 *x;
	int ok = 0;

	ci->len = ks_read_file(path, ci->der, sizeof(ci->der));
	if (ci->len == 0)
		return 0;
	x = d2i_X509(NULL, &p, (long)ci->len);
	if (!x || p != ci->der + ci->len)
		goto out;
	if (i2d_X509_NAME(X509_get_subject_name(x), NULL) > NAME_MAX_DER ||
	    i2d_X509_NAME(X509_get_issuer_name(x), NULL) > NAME_MAX_DER ||
	    i2d_ASN1_INTEGER(X509_get0_serialNumber(x), NULL) > NAME_MAX_DER)
		goto out;
	q = ci->subject;
	ci->subject_len = der_len(i2d_X509_NAME(X509_get_subject_name(x), &q));
	q = ci->issuer;
	ci->issuer_len = der_len(i2d_X509_NAME(X509_get_issuer_name(x), &q));
	q = ci->serial;
	ci->serial_len = der_len(i2d_ASN1_INTEGER(X509_get0_serialNumber(x),
						  &q));
	ok = ci->subject_len && ci->issuer_len && ci->serial_len;
out:
	X509_free(x);
	return ok;
}

/* The first object of class cls with CKA_ID id[0..2), or CK_INVALID_HANDLE. */
static CK_OBJECT_HANDLE find_one(CK_FUNCTION_LIST *m, CK_SESSION_HANDLE s,
				 CK_OBJECT_CLASS cls, unsigned char id[2],
				 unsigned dev)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, id, 2 },
	};
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_ULONG count = 0;
	CK_RV rv;

	rv = m->C_FindObjectsInit(s, tmpl, 2);
	if (rv != CKR_OK)
		die_rv("C_FindObjectsInit", dev, rv);
	rv = m->C_FindObjects(s, &obj, 1, &count);
	if (rv != CKR_OK)
		die_rv("C_FindObjects", dev, rv);
	rv = m->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		die_rv("C_FindObjectsFinal", dev, rv);
	return count == 1 ? obj : CK_INVALID_HANDLE;
}

/* Provision device dev; its request into csr[0..KS_CSR_MAX), *csr_len. */
static void provision(CK_FUNCTION_LIST *m, CK_SESSION_HANDLE s, unsigned dev,
		      const struct cert_info *ci, unsigned char *csr,
		      size_t *csr_len)
{
	static const unsigned char p256[] = {
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
	};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
	CK_OBJECT_CLASS cert_cls = CKO_CERTIFICATE;
	CK_KEY_TYPE kt = CKK_EC;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_MECHANISM gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
	unsigned char id[2] = { (unsigned char)(dev >> 8), (unsigned char)dev };
	char label[16];
	unsigned char ecpt[80], tbs[KS_CSR_MAX], md[32], sig[64];
	unsigned char back[KS_CERT_MAX];
	CK_OBJECT_HANDLE pub, priv, cert, found;
	CK_ULONG siglen = sizeof(sig);
	size_t tlen;
	CK_RV rv;

	snprintf(label, sizeof(label), "dev-%06u", dev);
	{
		CK_ATTRIBUTE pub_tmpl[] = {
			{ CKA_CLASS, &pub_cls, sizeof(pub_cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
			{ CKA_ID, id, sizeof(id) },
			{ CKA_LABEL, label, strlen(label) },
		};
		CK_ATTRIBUTE priv_tmpl[] = {
			{ CKA_CLASS, &priv_cls, sizeof(priv_cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },
			{ CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_ID, id, sizeof(id) },
			{ CKA_LABEL, label, strlen(label) },
		};

		if (find_one(m, s, CKO_PRIVATE_KEY, id, dev) !=
		    CK_INVALID_HANDLE) {
			fprintf(stderr, "%s: device %u: the token already has a key with its id\n",
				progname, dev);
			exit(1);
		}
		rv = m->C_GenerateKeyPair(s, &gen, pub_tmpl,
					  sizeof(pub_tmpl) / sizeof(pub_tmpl[0]),
					  priv_tmpl,
					  sizeof(priv_tmpl) / sizeof(priv_tmpl[0]),
					  &pub, &priv);
		if (rv != CKR_OK)
			die_rv("C_GenerateKeyPair", dev, rv);
	}
	{
		CK_ATTRIBUTE pt = { CKA_EC_POINT, ecpt, sizeof(ecpt) };

		rv = m->C_GetAttributeValue(s, pub, &pt, 1);
		if (rv != CKR_OK)
			die_rv("C_GetAttributeValue (CKA_EC_POINT)", dev, rv);
		/* The DER OCTET STRING of the uncompressed point. */
		if (pt.ulValueLen != 67 || ecpt[0] != 0x04 || ecpt[1] != 65 ||
		    ecpt[2] != 0x04) {
			fprintf(stderr, "%s: device %u: an unexpected CKA_EC_POINT\n",
				progname, dev);
			exit(1);
		}
	}
	tlen = ks_csr_tbs(tbs, dev, ecpt + 2);
	if (!ks_sha256(tbs, tlen, md)) {
		fprintf(stderr, "%s: SHA-256 failed\n", progname);
		exit(1);
	}
	rv = m->C_SignInit(s, &ecdsa, priv);
	if (rv != CKR_OK)
		die_rv("C_SignInit", dev, rv);
	rv = m->C_Sign(s, md, sizeof(md), sig, &siglen);
	if (rv != CKR_OK)
		die_rv("C_Sign", dev, rv);
	if (siglen != 64) {
		fprintf(stderr, "%s: device %u: an ECDSA signature of %lu bytes\n",
			progname, dev, (unsigned long)siglen);
		exit(1);
	}
	*csr_len = ks_csr_finish(csr, tbs, tlen, sig, 32, sig + 32, 32);
	{
		CK_ATTRIBUTE cert_tmpl[] = {
			{ CKA_CLASS, &cert_cls, sizeof(cert_cls) },
			{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_ID, id, sizeof(id) },
			{ CKA_LABEL, label, strlen(label) },
			{ CKA_SUBJECT, (void *)ci->subject, ci->subject_len },
			{ CKA_ISSUER, (void *)ci->issuer, ci->issuer_len },
			{ CKA_SERIAL_NUMBER, (void *)ci->serial, ci->serial_len },
			{ CKA_VALUE, (void *)ci->der, ci->len },
		};

		rv = m->C_CreateObject(s, cert_tmpl,
				       sizeof(cert_tmpl) / sizeof(cert_tmpl[0]),
				       &cert);
		if (rv != CKR_OK)
			die_rv("C_CreateObject (certificate)", dev, rv);
	}
	found = find_one(m, s, CKO_CERTIFICATE, id, dev);
	if (found == CK_INVALID_HANDLE) {
		fprintf(stderr, "%s: device %u: its certificate is not found\n",
			progname, dev);
		exit(1);
	}
	{
		CK_ATTRIBUTE val = { CKA_VALUE, back, sizeof(back) };

		rv = m->C_GetAttributeValue(s, found, &val, 1);
		if (rv != CKR_OK)
			die_rv("C_GetAttributeValue (CKA_VALUE)", dev, rv);
		if (val.ulValueLen != ci->len ||
		    memcmp(back, ci->der, ci->len) != 0) {
			fprintf(stderr, "%s: device %u: the certificate read back differs\n",
				progname, dev);
			exit(1);
		}
	}
}

/* The first slot whose token is labelled label. */
static CK_SLOT_ID find_token(CK_FUNCTION_LIST *m, const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = sizeof(slots) / sizeof(slots[0]), i;
	CK_TOKEN_INFO info;
	size_t len = strlen(label);
	CK_RV rv;

	rv = m->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		die_rv("C_GetSlotList", 0, rv);
	for (i = 0; i < n; i++) {
		rv = m->C_GetTokenInfo(slots[i], &info);
		if (rv != CKR_OK)
			die_rv("C_GetTokenInfo", 0, rv);
		/* The label is padded with blanks to 32 bytes. */
		if (len <= sizeof(info.label) &&
		    memcmp(info.label, label, len) == 0 &&
		    (len == sizeof(info.label) || info.label[len] == ' '))
			return slots[i];
	}
	fprintf(stderr, "%s: no token labelled '%s'\n", progname, label);
	exit(1);
}

static void login(CK_FUNCTION_LIST *m, CK_SESSION_HANDLE s, const char *path)
{
	char pin[PIN_MAX];
	FILE *f = fopen(path, "r");
	CK_RV rv;

	if (!f || !fgets(pin, sizeof(pin), f)) {
		fprintf(stderr, "%s: cannot read the PIN from '%s'\n", progname,
			path);
		exit(1);
	}
	fclose(f);
	pin[strcspn(pin, "\r\n")] = '\0';
	rv = m->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
	OPENSSL_cleanse(pin, sizeof(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		die_rv("C_Login", 0, rv);
}

int main(int argc, char **argv)
{
	static struct cert_info ci;
	static unsigned char csr[KS_CSR_MAX];
	CK_FUNCTION_LIST *m;
	CK_SESSION_HANDLE s;
	size_t csr_len = 0;
	unsigned first, n, i;
	double t0, t1;
	CK_RV rv;

	if (argc != 7 || !ks_range(argv[4], argv[5], &first, &n)) {
		fprintf(stderr, "usage: %s MODULE TOKEN PIN_FILE FIRST N CERT_DER\n",
			progname);
		return 2;
	}
	if (!cert_info_load(&ci, argv[6])) {
		fprintf(stderr, "%s: cannot read a DER certificate from '%s'\n",
			progname, argv[6]);
		return 1;
	}
	m = p11_kit_module_load(argv[1], 0);
	if (!m) {
		fprintf(stderr, "%s: cannot load '%s': %s\n", progname,
			argv[1], p11_kit_message());
		return 1;
	}
	rv = p11_kit_module_initialize(m);
	if (rv != CKR_OK)
		die_rv("C_Initialize", 0, rv);
	rv = m->C_OpenSession(find_token(m, argv[2]),
			      CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
			      &s);
	if (rv != CKR_OK)
		die_rv("C_OpenSession", 0, rv);
	login(m, s, argv[3]);

	t0 = ks_now();
	for (i = first; i < first + n; i++)
		provision(m, s, i, &ci, csr, &csr_len);
	t1 = ks_now();

	if (!ks_csr_verifies(csr, csr_len)) {
		fprintf(stderr, "%s: the request of device %u does not verify\n",
			progname, first + n - 1);
		return 1;
	}
	m->C_Logout(s);
	m->C_CloseSession(s);
	p11_kit_module_finalize(m);
	p11_kit_module_release(m);
	printf("%u\t%.6f\n", n, t1 - t0);
	return 0;
}
