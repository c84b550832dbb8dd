/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the bare-call baselines of bench/keystore share: the clock, reading
 * the certificate file, and a PKCS#10 request for a device built by hand
 * in DER, so that the baselines sign a real request body (about 300
 * bytes, the same subject as bench/ks_m2m.c asks m2m_csr_make() for) and
 * not a stand-in.  Included by ks_bare_tpm2.c and ks_bare_pkcs11.c only;
 * both use every function here.
 */
#ifndef KS_COMMON_H
#define KS_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define KS_CERT_MAX	4096	/* the benchmark certificate, at most */
#define KS_CSR_MAX	1024	/* a request, at most */
#define KS_DEVICES_MAX	65536	/* numbered 0..65535: two-byte ids,
				   0x8102xxxx handles */

/*
 * The subject of device i: C=DE, O, OU, CN=dev-%06u, serialNumber=
 * SN-%06u, in this order, as bench/ks_m2m.c gives it to m2m_csr_make().
 */
#define KS_SUBJECT_O	"Example Devices Manufacturing GmbH"
#define KS_SUBJECT_OU	"Factory Bremen Line 2 Station 7"

static double ks_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read the file at path into buf[0..size); its length, or 0 on failure. */
static size_t ks_read_file(const char *path, unsigned char *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, size, f);
	if (ferror(f) || !feof(f) || fgetc(f) != EOF)
		n = 0;	/* unreadable, or larger than size */
	fclose(f);
	return n;
}

/*
 * Write tag, length and v[0..len) at out[0..cap); the bytes written, or 0
 * if they do not fit (the caller's request then fails to verify).
 */
static size_t ks_tlv(unsigned char *out, size_t cap, unsigned char tag,
		     const unsigned char *v, size_t len)
{
	size_t h = 0;

	if (len > 0xffff || cap < 4 || len > cap - 4)
		return 0;
	out[h++] = tag;
	if (len < 0x80) {
		out[h++] = (unsigned char)len;
	} else if (len < 0x100) {
		out[h++] = 0x81;
		out[h++] = (unsigned char)len;
	} else {
		out[h++] = 0x82;
		out[h++] = (unsigned char)(len >> 8);
		out[h++] = (unsigned char)len;
	}
	memmove(out + h, v, len);
	return h + len;
}

/* An RDN of one attribute: SET { SEQUENCE { OID 2.5.4.type, value } }. */
static size_t ks_rdn(unsigned char *out, size_t cap, unsigned char type,
		     unsigned char strtag, const char *value)
{
	unsigned char atv[128], seq[128];
	size_t n = 0;

	atv[n++] = 0x06;
	atv[n++] = 3;
	atv[n++] = 0x55;
	atv[n++] = 0x04;
	atv[n++] = type;
	n += ks_tlv(atv + n, sizeof(atv) - n, strtag,
		    (const unsigned char *)value, strlen(value));
	n = ks_tlv(seq, sizeof(seq), 0x30, atv, n);
	return ks_tlv(out, cap, 0x31, seq, n);
}

/*
 * The CertificationRequestInfo of device dev with the uncompressed P-256
 * point pt[65] into out[0..KS_CSR_MAX); its length.
 *   CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) },
 *     subject Name, subjectPKInfo SubjectPublicKeyInfo,
 *     attributes [0] IMPLICIT SET OF Attribute }
 */
static size_t ks_csr_tbs(unsigned char *out, unsigned dev,
			 const unsigned char pt[65])
{
	static const unsigned char spki_head[] = {
		0x30, 0x59, 0x30, 0x13,
		0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
		0x03, 0x42, 0x00,
	};
	unsigned char name[KS_CSR_MAX / 2], body[KS_CSR_MAX];
	char cn[16], sn[16];
	size_t n = 0, b = 0;

	snprintf(cn, sizeof(cn), "dev-%06u", dev);
	snprintf(sn, sizeof(sn), "SN-%06u", dev);
	/* C and serialNumber are PrintableStrings, the rest UTF8Strings. */
	n += ks_rdn(name + n, sizeof(name) - n, 0x06, 0x13, "DE");
	n += ks_rdn(name + n, sizeof(name) - n, 0x0a, 0x0c, KS_SUBJECT_O);
	n += ks_rdn(name + n, sizeof(name) - n, 0x0b, 0x0c, KS_SUBJECT_OU);
	n += ks_rdn(name + n, sizeof(name) - n, 0x03, 0x0c, cn);
	n += ks_rdn(name + n, sizeof(name) - n, 0x05, 0x13, sn);
	body[b++] = 0x02;
	body[b++] = 0x01;
	body[b++] = 0x00;
	b += ks_tlv(body + b, sizeof(body) - b, 0x30, name, n);
	memcpy(body + b, spki_head, sizeof(spki_head));
	b += sizeof(spki_head);
	memcpy(body + b, pt, 65);
	b += 65;
	body[b++] = 0xa0;
	body[b++] = 0x00;
	return ks_tlv(out, KS_CSR_MAX, 0x30, body, b);
}

/* A DER INTEGER of the unsigned big-endian v[0..len) at out; its length. */
static size_t ks_uint(unsigned char *out, size_t cap, const unsigned char *v,
		      size_t len)
{
	unsigned char tmp[80];
	size_t n = 0;

	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	if (len > sizeof(tmp) - 1)
		len = sizeof(tmp) - 1;
	if (v[0] & 0x80)
		tmp[n++] = 0;
	memcpy(tmp + n, v, len);
	return ks_tlv(out, cap, 0x02, tmp, n + len);
}

/*
 * The whole request: tbs[0..tlen) signed with ECDSA over SHA-256, the
 * signature's r[0..rlen) and s[0..slen) (big-endian), into
 * out[0..KS_CSR_MAX); its length.
 */
static size_t ks_csr_finish(unsigned char *out, const unsigned char *tbs,
			    size_t tlen, const unsigned char *r, size_t rlen,
			    const unsigned char *s, size_t slen)
{
	static const unsigned char sigalg[] = {
		0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
		0x03, 0x02,
	};
	unsigned char rs[KS_CSR_MAX / 4], sig[KS_CSR_MAX / 4];
	unsigned char body[KS_CSR_MAX];
	size_t n = 0, b;

	if (tlen > KS_CSR_MAX / 2)
		return 0;
	n += ks_uint(rs + n, sizeof(rs) - n, r, rlen);
	n += ks_uint(rs + n, sizeof(rs) - n, s, slen);
	sig[0] = 0x00;	/* unused bits of the BIT STRING */
	n = 1 + ks_tlv(sig + 1, sizeof(sig) - 1, 0x30, rs, n);
	memcpy(body, tbs, tlen);
	b = tlen;
	memcpy(body + b, sigalg, sizeof(sigalg));
	b += sizeof(sigalg);
	b += ks_tlv(body + b, sizeof(body) - b, 0x03, sig, n);
	return ks_tlv(out, KS_CSR_MAX, 0x30, body, b);
}

/* SHA-256 of buf[0..len) into md[32]; 0 on failure. */
static int ks_sha256(const unsigned char *buf, size_t len, unsigned char md[32])
{
	return EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
}

/* Nonzero if der[0..len) is a request whose signature verifies. */
static int ks_csr_verifies(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	int ok;

	ok = req && p == der + len &&
	     X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1;
	X509_REQ_free(req);
	return ok;
}

/* Parse the decimal s into *out, at most max; 0 if it is not one. */
static int ks_uint_arg(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || n > max)
		return 0;
	*out = (unsigned)n;
	return 1;
}

/*
 * The devices FIRST (s_first) and N (s_n): at least one, numbered below
 * KS_DEVICES_MAX.  0 if they are not that.
 */
static int ks_range(const char *s_first, const char *s_n, unsigned *first,
		    unsigned *n)
{
	return ks_uint_arg(s_first, KS_DEVICES_MAX - 1, first) &&
	       ks_uint_arg(s_n, KS_DEVICES_MAX, n) && *n >= 1 &&
	       *n <= KS_DEVICES_MAX - *first;
}

#endif
