/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/ca.h, in a temporary directory: creating a
 * root and an issuing CA (the directory, the certificates, the ledgers),
 * failures that must leave nothing behind, opening damaged directories,
 * issuing IDevIDs from requests and from keys with every profile field
 * checked through libcrypto, profile rules, uniqueness and replacement,
 * issuing groups (reruns, aborts), LDevIDs, revocation, CRLs, OCSP, and
 * profile changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>
#include <m2m/ledger.h>
#include <m2m/ppid.h>
#include <m2m/profile.h>

#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-ca-XXXXXX";
static int64_t NOW;		/* the time every call is given */

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: %s: %s", #call, m2m_strerror(rc_), \
		  m2m_ctx_detail(ctx)); \
} while (0)

#define Y9999		253402300799	/* 99991231235959Z */
#define DAY		86400
#define HW_TYPE		"1.3.6.1.4.1.99999.1.1"
#define DEV_SUBJECT	"O=Acme Devices,OU=Factory 1"
#define ROOT_SUBJECT	"C=DE,O=Acme,CN=Acme Root CA"
#define ISSUING_SUBJECT	"C=DE,O=Acme,CN=Acme Device CA 1"
#define PPID_HEX	"01001a7dda7113"

/* subjectAltName of hwType HW_TYPE and PPID PPID_HEX, exactly. */
static const uint8_t san_hw[] = {
	0x30, 0x25, 0xa0, 0x23,
	0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04,
	0xa0, 0x17, 0x30, 0x15,
	0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01, 0x01,
	0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
};

/* ---- helpers: files ------------------------------------------------------ */

static const char *tmp_path(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

static int exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return lstat(tmp_path(path, name), &st) == 0;
}

/* Entries of dir whose names start with "name.tmp". */
static int leftovers(const char *name)
{
	char prefix[256];
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	snprintf(prefix, sizeof(prefix), "%s.tmp", name);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* rm -rf dir/name (or dir itself for NULL). */
static void rm_rf(const char *name)
{
	char path[PATH_MAX];

	unit_rm_rf(name ? tmp_path(path, name) : dir);
}

/* The contents of path into a malloc()ed NUL-terminated buffer. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* dir/ca/file into a malloc()ed buffer. */
static char *ca_file(const char *ca, const char *file, size_t *len)
{
	char path[PATH_MAX], name[256];

	snprintf(name, sizeof(name), "%s/%s", ca, file);
	return slurp(tmp_path(path, name), len);
}

/* The certificate in dir/ca/ca.crt. */
static X509 *ca_x509(const char *ca)
{
	char path[PATH_MAX], name[256];
	BIO *bio;
	X509 *x = NULL;

	snprintf(name, sizeof(name), "%s/ca.crt", ca);
	bio = BIO_new_file(tmp_path(path, name), "r");
	if (bio)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return x;
}

/* The private key in dir/ca/ca.key, read by libcrypto. */
static EVP_PKEY *ca_pkey(const char *ca, const char *pass)
{
	char path[PATH_MAX], name[256];
	BIO *bio;
	EVP_PKEY *pk = NULL;

	snprintf(name, sizeof(name), "%s/ca.key", ca);
	bio = BIO_new_file(tmp_path(path, name), "r");
	if (bio)
		pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)pass);
	BIO_free(bio);
	return pk;
}

/* ---- helpers: CAs, requests, results --------------------------------------- */

static void params_init(struct m2m_ca_params *p, const char *name,
			char path[PATH_MAX], const char *subject)
{
	memset(p, 0, sizeof(*p));
	p->dir = tmp_path(path, name);
	p->subject = subject;
	p->alg = M2M_KEY_EC_P256;
	p->path_len = -1;
	p->now = NOW;
}

/*
 * A new self-signed CA dir/name with hw_type (may be NULL) and the device
 * subject, opened with its key; NULL on failure.
 */
static struct m2m_ca *fresh_ca(const char *name, const char *hw_type)
{
	char path[PATH_MAX], subject[128];
	struct m2m_ca_params p;
	struct m2m_ca *ca = NULL;
	enum m2m_err rc;

	rm_rf(name);
	snprintf(subject, sizeof(subject), "O=Acme,CN=%s", name);
	params_init(&p, name, path, subject);
	p.hw_type = hw_type;
	p.device_subject = DEV_SUBJECT;
	rc = m2m_ca_create(ctx, &p, &ca);
	CHECK_MSG(rc == M2M_OK && ca, "cannot create CA %s: %s", name,
		  m2m_ctx_detail(ctx));
	return ca;
}

/* A bluetooth-only PPID 01 00 1a 7d da HI LO. */
static struct m2m_ppid *ppid_bt(struct m2m_ppid *p, unsigned n)
{
	char text[32];

	m2m_ppid_init(p);
	snprintf(text, sizeof(text), "00:1A:7D:DA:%02X:%02X", (n >> 8) & 0xff,
		 n & 0xff);
	if (m2m_ppid_set_text(ctx, p, M2M_TECH_BLUETOOTH, text,
			      strlen(text)) != M2M_OK)
		CHECK_MSG(0, "ppid %s: %s", text, m2m_ctx_detail(ctx));
	return p;
}

/*
 * A request for pk (CN=device), with a DNS and a URI name when given,
 * parsed by m2m_csr_parse(); NULL on failure.
 */
static struct m2m_csr *csr_for(EVP_PKEY *pk, const char *dns, const char *uri)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	struct m2m_csr *csr = NULL;
	unsigned char *der = NULL;
	char san[256];
	int len, ok, ed = EVP_PKEY_is_a(pk, "ED25519");

	ok = r && n &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
					(const unsigned char *)"device", -1, -1,
					0) &&
	     X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, pk);
	if (ok && (dns || uri)) {
		snprintf(san, sizeof(san), "%s%s%s%s%s", dns ? "DNS:" : "",
			 dns ? dns : "", dns && uri ? "," : "",
			 uri ? "URI:" : "", uri ? uri : "");
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
		exts = sk_X509_EXTENSION_new_null();
		ok = ext && exts && sk_X509_EXTENSION_push(exts, ext) &&
		     X509_REQ_add_extensions(r, exts);
	}
	ok = ok && X509_REQ_sign(r, pk, ed ? NULL : EVP_sha256()) > 0 &&
	     (len = i2d_X509_REQ(r, &der)) > 0;
	if (ok && m2m_csr_parse(ctx, der, (size_t)len, &csr) != M2M_OK)
		CHECK_MSG(0, "csr_parse: %s", m2m_ctx_detail(ctx));
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(r);
	return csr;
}

static EVP_PKEY *p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/*
 * A request for pk that asks for CA powers: basicConstraints CA:TRUE and
 * keyUsage keyCertSign, both critical.
 */
static struct m2m_csr *csr_asking_for_ca(EVP_PKEY *pk)
{
	X509_REQ *r = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *bc, *ku;
	struct m2m_csr *csr = NULL;
	unsigned char *der = NULL;
	int len = -1;

	bc = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
				 "critical,CA:TRUE");
	ku = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
				 "critical,keyCertSign,cRLSign");
	if (r && exts && bc && ku && sk_X509_EXTENSION_push(exts, bc)) {
		bc = NULL;
		if (sk_X509_EXTENSION_push(exts, ku))
			ku = NULL;
	}
	if (r && !bc && !ku && X509_REQ_set_pubkey(r, pk) &&
	    X509_REQ_add_extensions(r, exts) &&
	    X509_REQ_sign(r, pk, EVP_sha256()) > 0)
		len = i2d_X509_REQ(r, &der);
	if (len > 0 && m2m_csr_parse(ctx, der, (size_t)len, &csr) != M2M_OK)
		CHECK_MSG(0, "csr_parse: %s", m2m_ctx_detail(ctx));
	X509_EXTENSION_free(bc);
	X509_EXTENSION_free(ku);
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(r);
	return csr;
}

/* A request for a new P-256 key, as csr_for(). */
static struct m2m_csr *new_csr(const char *dns, const char *uri)
{
	EVP_PKEY *pk = p256();
	struct m2m_csr *csr = pk ? csr_for(pk, dns, uri) : NULL;

	EVP_PKEY_free(pk);
	return csr;
}

/* Issue an idevid for csr with PPID number n and device serial (or NULL). */
static enum m2m_err issue_csr(struct m2m_ca *ca, const struct m2m_csr *csr,
			      unsigned n, const char *serial, int replace,
			      int64_t now, struct m2m_issue_result *res)
{
	struct m2m_issue_request req;
	struct m2m_ppid ppid;

	memset(&req, 0, sizeof(req));
	req.profile = "idevid";
	req.csr = csr;
	req.ppid = ppid_bt(&ppid, n);
	req.device_serial = serial;
	req.replace = replace;
	req.now = now;
	m2m_ctx_clear_error(ctx);
	return m2m_ca_issue(ctx, ca, &req, res);
}

/* As issue_csr() inside the open group. */
static enum m2m_err group_csr(struct m2m_ca *ca, const struct m2m_csr *csr,
			      unsigned n, const char *serial,
			      struct m2m_issue_result *res)
{
	struct m2m_issue_request req;
	struct m2m_ppid ppid;

	memset(&req, 0, sizeof(req));
	req.csr = csr;		/* profile NULL: "idevid" */
	req.ppid = ppid_bt(&ppid, n);
	req.device_serial = serial;
	req.now = NOW;
	m2m_ctx_clear_error(ctx);
	return m2m_ca_group_issue(ctx, ca, &req, res);
}

/* The issued certificate as libcrypto reads it from its DER. */
static X509 *x509_of(const struct m2m_cert *c)
{
	const uint8_t *der;
	const unsigned char *p;
	size_t len;

	if (!c)
		return NULL;
	der = m2m_cert_der(c, &len);
	p = der;
	return d2i_X509(NULL, &p, (long)len);
}

/* The DER value of x's extension nid and its criticality; NULL if absent. */
static const ASN1_OCTET_STRING *ext_value(X509 *x, int nid, int *critical)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	X509_EXTENSION *e = i >= 0 ? X509_get_ext(x, i) : NULL;

	*critical = e ? X509_EXTENSION_get_critical(e) : -1;
	return e ? X509_EXTENSION_get_data(e) : NULL;
}

/* x's extension nid holds exactly want[0..n). */
static void check_ext(int line, X509 *x, int nid, int critical,
		      const uint8_t *want, size_t n)
{
	int crit;
	const ASN1_OCTET_STRING *v = ext_value(x, nid, &crit);
	char a[128], b[128];

	if (!unit_check(v != NULL, __FILE__, line, "no %s extension",
			OBJ_nid2sn(nid)))
		return;
	unit_check(crit == critical, __FILE__, line, "%s: critical %d",
		   OBJ_nid2sn(nid), crit);
	unit_check((size_t)ASN1_STRING_length(v) == n &&
		   memcmp(ASN1_STRING_get0_data(v), want, n) == 0, __FILE__,
		   line, "%s:\n#   got:  %s\n#   want: %s", OBJ_nid2sn(nid),
		   unit_hex(a, ASN1_STRING_get0_data(v),
			    (size_t)ASN1_STRING_length(v)),
		   unit_hex(b, want, n));
}
#define CHECK_EXT(x, nid, crit, want, n) \
	check_ext(__LINE__, (x), (nid), (crit), (want), (n))

/* Counting audit entries and keeping the last. */
struct audit_tail {
	unsigned long n;
	char op[40];
	char detail[1024];
	char prev_op[40];
	char prev_detail[1024];
};

static enum m2m_err audit_walk(void *arg, const struct m2m_audit_entry *e)
{
	struct audit_tail *t = arg;

	t->n++;
	memcpy(t->prev_op, t->op, sizeof(t->op));
	memcpy(t->prev_detail, t->detail, sizeof(t->detail));
	snprintf(t->op, sizeof(t->op), "%s", e->op);
	snprintf(t->detail, sizeof(t->detail), "%s", e->detail);
	return M2M_OK;
}

static struct audit_tail audit_of(struct m2m_ledger *l)
{
	struct audit_tail t;

	memset(&t, 0, sizeof(t));
	CHECK_OK(m2m_ledger_audit_list(ctx, l, audit_walk, &t));
	return t;
}

static enum m2m_err count_rec(void *arg, const struct m2m_cert_record *r)
{
	(void)r;
	++*(unsigned long *)arg;
	return M2M_OK;
}

/* Number of records in the CA's ledger (status as in the filter). */
static unsigned long records(struct m2m_ca *ca, int status)
{
	struct m2m_ledger_filter f;
	unsigned long n = 0;

	memset(&f, 0, sizeof(f));
	f.status = status;
	f.now = NOW;
	CHECK_OK(m2m_ledger_list(ctx, m2m_ca_ledger(ca), &f, count_rec, &n));
	return n;
}

/* res->cert's DER equals want's. */
static int same_der(const struct m2m_cert *a, const struct m2m_cert *b)
{
	const uint8_t *da, *db;
	size_t la, lb;

	if (!a || !b)
		return 0;
	da = m2m_cert_der(a, &la);
	db = m2m_cert_der(b, &lb);
	return la == lb && memcmp(da, db, la) == 0;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* Write pk to dir/name and load it as an m2m key. */
static struct m2m_key *key_file(const char *name, EVP_PKEY *pk)
{
	char path[PATH_MAX];
	struct m2m_key *key = NULL;
	FILE *f = fopen(tmp_path(path, name), "w");
	int ok;

	if (!f)
		return NULL;
	ok = PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1;
	fclose(f);
	if (ok && m2m_key_load(ctx, path, NULL, &key) != M2M_OK)
		CHECK_MSG(0, "load %s: %s", name, m2m_ctx_detail(ctx));
	return key;
}

/* ---- creating -------------------------------------------------------------- */

/* The names in dir/name, sorted, as "a b c". */
static void listing(const char *name, char *out, size_t size)
{
	char path[PATH_MAX];
	struct dirent **list = NULL;
	int n, i;
	size_t o = 0;

	out[0] = '\0';
	n = scandir(tmp_path(path, name), &list, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, ".."))
			o += (size_t)snprintf(out + o, size - o, "%s%s",
					      o ? " " : "", list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

/* Common checks of a CA certificate made by m2m_ca_create(). */
static void check_ca_cert(int line, X509 *x, X509 *issuer, EVP_PKEY *sign,
			  long pathlen, int64_t not_after)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	int crit = -2, i;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints,
						 &crit, NULL);
	AUTHORITY_KEYID *aki;

	unit_check(X509_get_version(x) == X509_VERSION_3, __FILE__, line,
		   "version %ld", X509_get_version(x));
	unit_check(sn->length == 16 && !(sn->type & V_ASN1_NEG) &&
		   sn->data[0] >= 0x40 && sn->data[0] <= 0x7f, __FILE__, line,
		   "serial of %d octets, first %02x", sn->length, sn->data[0]);
	unit_check(bc && bc->ca && crit == 1, __FILE__, line,
		   "basicConstraints: ca %d critical %d", bc ? bc->ca : -1,
		   crit);
	unit_check(X509_get_pathlen(x) == pathlen, __FILE__, line,
		   "pathlen %ld, want %ld", X509_get_pathlen(x), pathlen);
	BASIC_CONSTRAINTS_free(bc);
	unit_check((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
		   X509_get_key_usage(x) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN),
		   __FILE__, line, "keyUsage %x", X509_get_key_usage(x));
	ext_value(x, NID_key_usage, &crit);
	unit_check(crit == 1, __FILE__, line, "keyUsage not critical");
	unit_check(X509_get0_subject_key_id(x) != NULL, __FILE__, line,
		   "no subjectKeyIdentifier");
	aki = X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, NULL);
	if (issuer != x)
		unit_check(aki && aki->keyid &&
			   ASN1_OCTET_STRING_cmp(aki->keyid,
						 X509_get0_subject_key_id(issuer)) == 0,
			   __FILE__, line, "AKI is not the issuer's SKI");
	AUTHORITY_KEYID_free(aki);
	unit_check(X509_NAME_cmp(X509_get_issuer_name(x),
				 X509_get_subject_name(issuer)) == 0,
		   __FILE__, line, "issuer name");
	unit_check(X509_verify(x, sign) == 1, __FILE__, line,
		   "signature does not verify");
	unit_check(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)NOW) == 0,
		   __FILE__, line, "notBefore");
	i = ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)not_after);
	unit_check(i == 0, __FILE__, line, "notAfter differs by sign %d", i);
}

/* The fixtures every test below may use: dir/root and dir/issuing. */
static int make_hierarchy(void)
{
	char path[PATH_MAX], parent[PATH_MAX];
	struct m2m_ca_params p;

	params_init(&p, "root", path, ROOT_SUBJECT);
	p.days = 3650;
	if (m2m_ca_create(ctx, &p, NULL) != M2M_OK) {
		printf("# root: %s\n", m2m_ctx_detail(ctx));
		return 0;
	}
	params_init(&p, "issuing", path, ISSUING_SUBJECT);
	p.parent_dir = tmp_path(parent, "root");
	p.days = 1825;
	p.path_len = 0;
	p.hw_type = HW_TYPE;
	p.device_subject = DEV_SUBJECT;
	if (m2m_ca_create(ctx, &p, NULL) != M2M_OK) {
		printf("# issuing: %s\n", m2m_ctx_detail(ctx));
		return 0;
	}
	return 1;
}

UNIT_TEST(create_root_and_issuing_directory_contents)
{
	char names[512], path[PATH_MAX];
	struct stat st;
	struct m2m_profiles conf;
	const struct m2m_profile *idevid;
	X509 *root = ca_x509("root"), *issuing = ca_x509("issuing");
	EVP_PKEY *root_pk = ca_pkey("root", NULL);
	EVP_PKEY *issuing_pk = ca_pkey("issuing", NULL);
	char *text, *crt;
	size_t len, clen;

	listing("root", names, sizeof(names));
	CHECK_EQ_STR(names, "ca.conf ca.crt ca.key chain.pem ledger.db");
	listing("issuing", names, sizeof(names));
	CHECK_EQ_STR(names, "ca.conf ca.crt ca.key chain.pem ledger.db");
	CHECK_EQ_INT(leftovers("root"), 0);
	CHECK_EQ_INT(leftovers("issuing"), 0);
	CHECK_EQ_INT(stat(tmp_path(path, "root/ca.key"), &st), 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	CHECK_EQ_INT(stat(tmp_path(path, "issuing/ca.key"), &st), 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	CHECK_EQ_INT(stat(tmp_path(path, "root/ca.crt"), &st), 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0644);

	if (!CHECK(root && issuing && root_pk && issuing_pk))
		goto out;
	CHECK_EQ_INT(EVP_PKEY_eq(X509_get0_pubkey(root), root_pk), 1);
	CHECK_EQ_INT(EVP_PKEY_eq(X509_get0_pubkey(issuing), issuing_pk), 1);
	/* root: self-signed, no path length, 3650 days */
	CHECK_EQ_INT(X509_check_issued(root, root), X509_V_OK);
	check_ca_cert(__LINE__, root, root, root_pk, -1,
		      NOW + 3650 * (int64_t)DAY);
	/* issuing: under the root, pathlen 0, 1825 days */
	check_ca_cert(__LINE__, issuing, root, root_pk, 0,
		      NOW + 1825 * (int64_t)DAY);
	CHECK_EQ_INT(X509_get_ext_count(issuing), 4);
	{
		char subj[256];
		X509_NAME_oneline(X509_get_subject_name(issuing), subj,
				  sizeof(subj));
		CHECK_EQ_STR(subj, "/C=DE/O=Acme/CN=Acme Device CA 1");
	}

	/* chain.pem: empty under a root */
	text = ca_file("root", "chain.pem", &len);
	CHECK(text && len == 0);
	free(text);
	text = ca_file("issuing", "chain.pem", &len);
	CHECK(text && len == 0);
	free(text);

	/* ca.conf: key, ledger, the device settings */
	text = ca_file("issuing", "ca.conf", &len);
	if (CHECK(text)) {
		CHECK_OK(m2m_profiles_parse(ctx, text, len, &conf));
		CHECK_EQ_STR(conf.key, "ca.key");
		CHECK_EQ_STR(conf.ledger, "ledger.db");
		CHECK_EQ_INT(conf.crl_validity_days, 7);
		CHECK_EQ_INT(conf.n, 2);
		idevid = m2m_profiles_get(&conf, "idevid");
		CHECK(idevid && strcmp(idevid->hw_type, HW_TYPE) == 0);
		CHECK(idevid && strcmp(idevid->subject, DEV_SUBJECT) == 0);
		CHECK(m2m_profiles_get(&conf, "ldevid") != NULL);
	}
	free(text);
	text = ca_file("root", "ca.conf", &len);
	if (CHECK(text)) {
		CHECK_OK(m2m_profiles_parse(ctx, text, len, &conf));
		idevid = m2m_profiles_get(&conf, "idevid");
		CHECK(idevid && idevid->hw_type[0] == '\0');
	}
	free(text);

	/* the ledgers: the root recorded the issuing CA */
	{
		struct m2m_ca *ca = NULL;
		struct m2m_cert_record r;
		struct audit_tail t;
		char serial[64];
		const ASN1_INTEGER *sn = X509_get0_serialNumber(issuing);

		hex(sn->data, (size_t)sn->length, serial);
		CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "root"), 0, NULL, NULL,
				     &ca));
		if (ca) {
			CHECK_EQ_STR(m2m_ca_chain_pem(ca), "");
			CHECK_OK(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca),
						     serial, &r));
			CHECK_EQ_STR(r.profile, "ca");
			CHECK_EQ_STR(r.subject, "CN=Acme Device CA 1,O=Acme,C=DE");
			CHECK_EQ_INT(r.not_after, NOW + 1825 * (int64_t)DAY);
			CHECK_EQ_INT(r.status, M2M_CERT_VALID);
			CHECK_EQ_INT(records(ca, 0), 1);
			t = audit_of(m2m_ca_ledger(ca));
			CHECK_EQ_INT(t.n, 2);
			CHECK_EQ_STR(t.prev_op, "init");
			CHECK_EQ_STR(t.op, "issue-ca");
			CHECK_CONTAINS(t.detail, serial);
		}
		m2m_ca_close(ca);
		ca = NULL;
		CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "issuing"),
				     M2M_CA_NEED_KEY, NULL, NULL, &ca));
		if (ca) {
			/* the chain to send: the issuing CA, not the root */
			crt = ca_file("issuing", "ca.crt", &clen);
			CHECK_EQ_STR(m2m_ca_chain_pem(ca), crt);
			free(crt);
			CHECK_EQ_STR(m2m_ca_dir(ca), path);
			CHECK_EQ_INT(records(ca, 0), 0);
			t = audit_of(m2m_ca_ledger(ca));
			CHECK_EQ_INT(t.n, 1);
			CHECK_EQ_STR(t.op, "init");
			CHECK_CONTAINS(t.detail, "\"key-algorithm\":\"ec-p256\"");
			CHECK_CONTAINS(t.detail,
				       "\"parent\":\"CN=Acme Root CA,O=Acme,C=DE\"");
			CHECK_EQ_STR(m2m_profiles_get(m2m_ca_profiles(ca),
						      "idevid")->hw_type,
				     HW_TYPE);
		}
		m2m_ca_close(ca);
	}
out:
	EVP_PKEY_free(root_pk);
	EVP_PKEY_free(issuing_pk);
	X509_free(root);
	X509_free(issuing);
}

UNIT_TEST(create_variants_capped_validity_existing_key_encrypted_key)
{
	char path[PATH_MAX], parent[PATH_MAX], keypath[PATH_MAX];
	struct m2m_ca_params p;
	struct m2m_ca *ca = NULL;
	X509 *root = ca_x509("root"), *x;
	EVP_PKEY *root_pk = ca_pkey("root", NULL), *pk;
	struct m2m_profiles conf;
	char *text;
	size_t len;

	/* an issuing CA never outlives its parent */
	params_init(&p, "capped", path, "CN=Capped CA");
	p.parent_dir = tmp_path(parent, "root");
	p.days = 20000;
	CHECK_OK(m2m_ca_create(ctx, &p, NULL));
	x = ca_x509("capped");
	if (CHECK(x && root && root_pk))
		check_ca_cert(__LINE__, x, root, root_pk, 0,
			      NOW + 3650 * (int64_t)DAY);
	X509_free(x);

	/* a CA made into an existing empty directory, with a key of its own
	 * generated elsewhere */
	CHECK_EQ_INT(mkdir(tmp_path(path, "ext"), 0755), 0);
	params_init(&p, "ext", path, "O=Acme,CN=External Key CA");
	p.key_uri = tmp_path(keypath, "ext-ca.key");
	p.alg = M2M_KEY_EC_P384;
	CHECK_OK(m2m_ca_create(ctx, &p, &ca));
	CHECK(exists("ext-ca.key"));
	CHECK(!exists("ext/ca.key"));
	text = ca_file("ext", "ca.conf", &len);
	if (CHECK(text) && CHECK_EQ_INT(m2m_profiles_parse(ctx, text, len,
							   &conf), M2M_OK))
		CHECK_EQ_STR(conf.key, keypath);
	free(text);
	x = ca_x509("ext");
	pk = x ? X509_get0_pubkey(x) : NULL;
	CHECK(pk && EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_bits(pk) == 384);
	CHECK(x && X509_get_signature_nid(x) == NID_ecdsa_with_SHA384);
	X509_free(x);
	m2m_ca_close(ca);
	ca = NULL;

	/* an existing key is used as it is */
	params_init(&p, "ext2", path, "O=Acme,CN=Second CA on that key");
	p.key_uri = keypath;
	CHECK_OK(m2m_ca_create(ctx, &p, &ca));
	x = ca_x509("ext2");
	{
		X509 *x1 = ca_x509("ext");

		CHECK(x && x1 && EVP_PKEY_eq(X509_get0_pubkey(x),
					     X509_get0_pubkey(x1)) == 1);
		X509_free(x1);
	}
	X509_free(x);
	if (ca)
		CHECK_EQ_INT(records(ca, 0), 0);
	m2m_ca_close(ca);
	ca = NULL;

	/* the ledger elsewhere */
	params_init(&p, "extl", path, "O=Acme,CN=External Ledger CA");
	{
		char lpath[PATH_MAX], names[256];
		struct audit_tail t;

		p.ledger = tmp_path(lpath, "extl-ledger.db");
		CHECK_OK(m2m_ca_create(ctx, &p, &ca));
		listing("extl", names, sizeof(names));
		CHECK_EQ_STR(names, "ca.conf ca.crt ca.key chain.pem");
		CHECK(exists("extl-ledger.db"));
		text = ca_file("extl", "ca.conf", &len);
		if (CHECK(text) &&
		    CHECK_EQ_INT(m2m_profiles_parse(ctx, text, len, &conf),
				 M2M_OK))
			CHECK_EQ_STR(conf.ledger, lpath);
		free(text);
		if (ca) {
			t = audit_of(m2m_ca_ledger(ca));
			CHECK_EQ_INT(t.n, 1);
			CHECK_EQ_STR(t.op, "init");
		}
		m2m_ca_close(ca);
		ca = NULL;
		/* a ledger given to open is used instead of ca.conf's */
		CHECK_OK(m2m_ca_open(ctx, path, M2M_CA_READONLY, NULL,
				     tmp_path(lpath, "root/ledger.db"), &ca));
		if (ca) {
			/* the root's: it issued "issuing" and "capped" */
			CHECK_EQ_INT(records(ca, 0), 2);
			t = audit_of(m2m_ca_ledger(ca));
			CHECK_EQ_INT(t.n, 3);
			CHECK_EQ_STR(t.op, "issue-ca");
			CHECK_CONTAINS(t.detail, "CN=Capped CA");
		}
		m2m_ca_close(ca);
		ca = NULL;
	}

	/* an encrypted CA key */
	params_init(&p, "enc", path, "O=Acme,CN=Encrypted Root");
	p.key_opts.pass_source = "pass:root-pass";
	CHECK_OK(m2m_ca_create(ctx, &p, &ca));
	m2m_ca_close(ca);
	ca = NULL;
	text = ca_file("enc", "ca.key", &len);
	CHECK(text && strncmp(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----",
			      37) == 0);
	free(text);
	{
		struct m2m_key_opts root_pass = {
			.pass_source = "pass:root-pass"
		};

		CHECK_OK(m2m_ca_open(ctx, path, M2M_CA_NEED_KEY, &root_pass,
				     NULL, &ca));
	}
	m2m_ca_close(ca);
	ca = NULL;
	CHECK_FAILS(m2m_ca_open(ctx, path, M2M_CA_NEED_KEY, NULL, NULL, &ca),
		    M2M_ERR_INVALID, "is encrypted");
	CHECK(ca == NULL);
	/* without the key it opens */
	CHECK_OK(m2m_ca_open(ctx, path, 0, NULL, NULL, &ca));
	m2m_ca_close(ca);
	ca = NULL;
	m2m_ca_close(NULL);

	/* three levels: root, mid (pathlen 1), sub (pathlen 0) */
	params_init(&p, "mid", path, "O=Acme,CN=Mid CA");
	p.parent_dir = tmp_path(parent, "root");
	p.path_len = 1;
	CHECK_OK(m2m_ca_create(ctx, &p, NULL));
	params_init(&p, "sub", path, "O=Acme,CN=Sub CA");
	p.parent_dir = tmp_path(parent, "mid");
	p.path_len = 1;
	CHECK_FAILS(m2m_ca_create(ctx, &p, NULL), M2M_ERR_INVALID,
		    "more than the parent CA's pathLenConstraint (1) allows");
	CHECK(!exists("sub"));
	CHECK_EQ_INT(leftovers("sub"), 0);
	p.path_len = -1;	/* default 0 */
	CHECK_OK(m2m_ca_create(ctx, &p, &ca));
	{
		char *mid_crt = ca_file("mid", "ca.crt", &len);
		char *sub_crt = ca_file("sub", "ca.crt", &len);
		char *chain = ca_file("sub", "chain.pem", &len), *want = NULL;
		X509 *mx = ca_x509("mid"), *sx = ca_x509("sub");
		EVP_PKEY *mid_pk = ca_pkey("mid", NULL);

		/* chain.pem: the CAs above, without the root */
		CHECK_EQ_STR(chain, mid_crt);
		/* the chain to send: sub and mid */
		if (mid_crt && sub_crt &&
		    (want = malloc(strlen(mid_crt) + strlen(sub_crt) + 1))) {
			strcpy(want, sub_crt);
			strcat(want, mid_crt);
		}
		if (ca)
			CHECK_EQ_STR(m2m_ca_chain_pem(ca), want);
		if (CHECK(mx && sx && root && root_pk && mid_pk)) {
			check_ca_cert(__LINE__, mx, root, root_pk, 1,
				      NOW + 3650 * (int64_t)DAY);
			check_ca_cert(__LINE__, sx, mx, mid_pk, 0,
				      NOW + 3650 * (int64_t)DAY);
		}
		free(want);
		free(chain);
		free(mid_crt);
		free(sub_crt);
		X509_free(mx);
		X509_free(sx);
		EVP_PKEY_free(mid_pk);
	}
	m2m_ca_close(ca);
	EVP_PKEY_free(root_pk);
	X509_free(root);
}

/* Creating dir/name with p fails with code and phrase, leaving nothing. */
static void check_create_fails(int line, struct m2m_ca_params *p,
			       const char *name, enum m2m_err code,
			       const char *phrase, int existed)
{
	struct m2m_ca *ca = NULL;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_ca_create(ctx, p, &ca);
	unit_check(rc == code, __FILE__, line, "%s: got %s (%s), want %s", name,
		   m2m_strerror(rc), m2m_ctx_detail(ctx), m2m_strerror(code));
	unit_check(strstr(m2m_ctx_detail(ctx), phrase) != NULL, __FILE__, line,
		   "%s: detail \"%s\" lacks \"%s\"", name, m2m_ctx_detail(ctx),
		   phrase);
	unit_check(ca == NULL, __FILE__, line, "%s: *out not NULL", name);
	unit_check(exists(name) == existed, __FILE__, line,
		   "%s: exists %d, want %d", name, exists(name), existed);
	unit_check(leftovers(name) == 0, __FILE__, line, "%s: %d left over",
		   name, leftovers(name));
	if (rc == M2M_OK && ca)
		m2m_ca_close(ca);
}
#define CHECK_CREATE_FAILS(p, name, code, phrase, existed) \
	check_create_fails(__LINE__, (p), (name), (code), (phrase), (existed))

UNIT_TEST(create_failures_leave_nothing_behind)
{
	char path[PATH_MAX], parent[PATH_MAX], keypath[PATH_MAX];
	struct m2m_ca_params p;
	struct m2m_ca *root = NULL;
	unsigned long before = 0;
	char *key_before, *key_after;
	size_t kb, ka;
	FILE *f;

	CHECK_OK(m2m_ca_open(ctx, tmp_path(parent, "root"), 0, NULL, NULL,
			     &root));
	if (root)
		before = records(root, 0);

	params_init(&p, "bad", path, "XX=Foo");
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_INVALID, "subject", 0);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "unknown attribute");
	p.subject = "";
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_INVALID, "empty distinguished name",
			   0);
	p.subject = "CN=Bad";
	p.hw_type = "1.3.x";
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_INVALID, "hw-type", 0);
	p.hw_type = NULL;
	p.days = 40000;
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_INVALID, "longer than 100 years",
			   0);
	p.days = 0;
	p.path_len = 17;
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_INVALID, "out of range", 0);
	p.path_len = -1;
	p.alg = M2M_KEY_ALG_COUNT;
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_USAGE, "unknown key algorithm", 0);
	p.alg = M2M_KEY_EC_P256;

	/* a key made elsewhere for a CA that could not be made goes too */
	p.key_uri = tmp_path(keypath, "bad-ca.key");
	p.days = 40000;
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_INVALID, "longer than 100 years",
			   0);
	CHECK(!exists("bad-ca.key"));
	/* an existing one stays */
	p.key_uri = tmp_path(keypath, "ext-ca.key");
	key_before = slurp(keypath, &kb);
	CHECK_CREATE_FAILS(&p, "bad", M2M_ERR_INVALID, "longer than 100 years",
			   0);
	key_after = slurp(keypath, &ka);
	CHECK(key_before && key_after && kb == ka &&
	      memcmp(key_before, key_after, kb) == 0);
	free(key_before);
	free(key_after);
	p.key_uri = NULL;
	p.days = 0;

	/* a directory that is not empty, or a file */
	CHECK_EQ_INT(mkdir(tmp_path(path, "full"), 0755), 0);
	f = fopen(tmp_path(path, "full/keep"), "w");
	if (f)
		fclose(f);
	params_init(&p, "full", path, "CN=Full");
	CHECK_CREATE_FAILS(&p, "full", M2M_ERR_DUPLICATE, "is not empty", 1);
	CHECK(exists("full/keep"));
	CHECK(!exists("full/ca.crt"));
	f = fopen(tmp_path(path, "afile"), "w");
	if (f)
		fclose(f);
	params_init(&p, "afile", path, "CN=A File");
	CHECK_CREATE_FAILS(&p, "afile", M2M_ERR_DUPLICATE, "not a directory", 1);
	/* a CA over an existing CA */
	params_init(&p, "root", path, "CN=Again");
	CHECK_CREATE_FAILS(&p, "root", M2M_ERR_DUPLICATE, "is not empty", 1);

	/* the parent: wrong passphrase, none, not a CA, pathlen 0 */
	params_init(&p, "child", path, "CN=Child");
	p.parent_dir = tmp_path(parent, "enc");
	p.parent_key_opts.pass_source = "pass:wrong-pass";
	CHECK_CREATE_FAILS(&p, "child", M2M_ERR_INVALID, "wrong passphrase", 0);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "parent CA");
	CHECK_MSG(!strstr(m2m_ctx_detail(ctx), "wrong-pass"),
		  "detail shows the passphrase: %s", m2m_ctx_detail(ctx));
	p.parent_key_opts.pass_source = NULL;
	CHECK_CREATE_FAILS(&p, "child", M2M_ERR_INVALID, "is encrypted", 0);
	p.parent_dir = tmp_path(parent, "full");
	CHECK_CREATE_FAILS(&p, "child", M2M_ERR_NOT_FOUND, "not a CA directory",
			   0);
	p.parent_dir = tmp_path(parent, "issuing");
	CHECK_CREATE_FAILS(&p, "child", M2M_ERR_INVALID, "pathLenConstraint", 0);
	/* and it works with the right passphrase */
	p.parent_dir = tmp_path(parent, "enc");
	p.parent_key_opts.pass_source = "pass:root-pass";
	CHECK_OK(m2m_ca_create(ctx, &p, NULL));
	CHECK(exists("child/ca.crt"));

	if (root) {
		/* nothing was recorded in the root for the failures */
		m2m_ca_close(root);
		root = NULL;
		CHECK_OK(m2m_ca_open(ctx, tmp_path(parent, "root"), 0, NULL,
				     NULL, &root));
		if (root)
			CHECK_EQ_INT(records(root, 0), before);
	}
	m2m_ca_close(root);
	rm_rf("full");
	unlink(tmp_path(path, "afile"));
}

/* ---- opening ---------------------------------------------------------------- */

UNIT_TEST(open_refuses_non_ca_and_damaged_directories)
{
	char path[PATH_MAX], name[PATH_MAX];
	struct m2m_ca *ca = NULL, *made;
	EVP_PKEY *other = p256();
	FILE *f;

	CHECK_EQ_INT(mkdir(tmp_path(path, "empty"), 0755), 0);
	CHECK_FAILS(m2m_ca_open(ctx, path, 0, NULL, NULL, &ca),
		    M2M_ERR_NOT_FOUND, "not a CA directory");
	CHECK(ca == NULL);
	CHECK_FAILS(m2m_ca_open(ctx, tmp_path(path, "nowhere"), 0, NULL, NULL,
				&ca), M2M_ERR_NOT_FOUND, "not a CA directory");
	rmdir(tmp_path(path, "empty"));

	/* ca.crt missing */
	made = fresh_ca("dmg1", NULL);
	m2m_ca_close(made);
	unlink(tmp_path(path, "dmg1/ca.crt"));
	CHECK_FAILS(m2m_ca_open(ctx, tmp_path(path, "dmg1"), 0, NULL, NULL,
				&ca), M2M_ERR_INVALID, "is damaged");
	CHECK(ca == NULL);
	/* ca.crt garbage */
	f = fopen(tmp_path(name, "dmg1/ca.crt"), "w");
	if (f) {
		fputs("garbage\n", f);
		fclose(f);
	}
	CHECK_FAILS(m2m_ca_open(ctx, path, 0, NULL, NULL, &ca),
		    M2M_ERR_INVALID, "is damaged");
	/* ca.conf garbage */
	made = fresh_ca("dmg2", NULL);
	m2m_ca_close(made);
	f = fopen(tmp_path(name, "dmg2/ca.conf"), "w");
	if (f) {
		fputs("[ca\n", f);
		fclose(f);
	}
	CHECK_FAILS(m2m_ca_open(ctx, tmp_path(path, "dmg2"), 0, NULL, NULL,
				&ca), M2M_ERR_INVALID, "line 1");
	/* chain.pem missing */
	made = fresh_ca("dmg3", NULL);
	m2m_ca_close(made);
	unlink(tmp_path(name, "dmg3/chain.pem"));
	CHECK_FAILS(m2m_ca_open(ctx, tmp_path(path, "dmg3"), 0, NULL, NULL,
				&ca), M2M_ERR_INVALID, "is damaged");
	CHECK(ca == NULL);
	/* ledger missing */
	made = fresh_ca("dmg4", NULL);
	m2m_ca_close(made);
	unlink(tmp_path(name, "dmg4/ledger.db"));
	CHECK_FAILS(m2m_ca_open(ctx, tmp_path(path, "dmg4"), 0, NULL, NULL,
				&ca), M2M_ERR_INVALID, "ledger.db");
	CHECK(ca == NULL);
	m2m_ca_close(ca);
	ca = NULL;

	/* a key that is not the certificate's */
	made = fresh_ca("dmg5", NULL);
	m2m_ca_close(made);
	f = fopen(tmp_path(name, "dmg5/ca.key"), "w");
	CHECK(f && other && PEM_write_PrivateKey(f, other, NULL, NULL, 0,
						 NULL, NULL) == 1);
	if (f)
		fclose(f);
	CHECK_FAILS(m2m_ca_open(ctx, tmp_path(path, "dmg5"), M2M_CA_NEED_KEY,
				NULL, NULL, &ca), M2M_ERR_INVALID,
		    "does not match");
	CHECK(ca == NULL);
	/* ... which does not matter without the key */
	CHECK_OK(m2m_ca_open(ctx, path, 0, NULL, NULL, &ca));
	m2m_ca_close(ca);
	EVP_PKEY_free(other);
	rm_rf("dmg1");
	rm_rf("dmg2");
	rm_rf("dmg3");
	rm_rf("dmg4");
	rm_rf("dmg5");
}

UNIT_TEST(issue_needs_the_key)
{
	char path[PATH_MAX];
	struct m2m_ca *ca = NULL;
	struct m2m_csr *csr = new_csr(NULL, NULL);
	struct m2m_issue_result res;
	unsigned char *der = NULL;
	size_t len = 0;

	CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "issuing"), 0, NULL, NULL,
			     &ca));
	if (ca && csr) {
		CHECK_EQ_INT(issue_csr(ca, csr, 0x0900, NULL, 0, NOW, &res),
			     M2M_ERR_USAGE);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), "without its key");
		CHECK(res.cert == NULL);
		CHECK_FAILS(m2m_ca_crl(ctx, ca, NOW, &der, &len, NULL),
			    M2M_ERR_USAGE, "without its key");
		CHECK(der == NULL);
	}
	m2m_csr_free(csr);
	m2m_ca_close(ca);
}

/* ---- issuing ------------------------------------------------------------------ */

UNIT_TEST(issue_from_csr_every_profile_field)
{
	char path[PATH_MAX], text[256], serial[64];
	struct m2m_ca *ca = NULL;
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_cert_record r;
	struct m2m_ppid ppid;
	struct m2m_csr *csr = NULL;
	struct m2m_key *dev_key = NULL;
	struct audit_tail before, after;
	EVP_PKEY *dev_pk = p256(), *ca_pk = ca_pkey("issuing", NULL);
	X509 *x = NULL, *cax = ca_x509("issuing"), *rootx = ca_x509("root");
	const ASN1_INTEGER *sn;
	const ASN1_TIME *na;
	const X509_NAME *subj;
	const X509_NAME_ENTRY *e;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *obj;
	AUTHORITY_KEYID *aki = NULL;
	unsigned char *snder = NULL;
	const uint8_t *der;
	size_t len;
	int crit, ptype, n;

	memset(&res, 0, sizeof(res));
	CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "issuing"), M2M_CA_NEED_KEY,
			     NULL, NULL, &ca));
	csr = dev_pk ? csr_for(dev_pk, NULL, NULL) : NULL;
	dev_key = dev_pk ? key_file("dev.key", dev_pk) : NULL;
	if (!CHECK(ca && csr && dev_key && ca_pk && cax && rootx))
		goto out;
	before = audit_of(m2m_ca_ledger(ca));
	memset(&req, 0, sizeof(req));
	req.profile = "idevid";
	req.csr = csr;
	CHECK_OK(m2m_ppid_decode_hex(ctx, &ppid, PPID_HEX, strlen(PPID_HEX)));
	req.ppid = &ppid;
	req.now = NOW;
	CHECK_OK(m2m_ca_issue(ctx, ca, &req, &res));
	x = x509_of(res.cert);
	if (!CHECK(x))
		goto out;
	CHECK_EQ_INT(res.existing, 0);
	CHECK_EQ_STR(res.replaced, "");

	/* version, serial */
	CHECK_EQ_INT(X509_get_version(x), X509_VERSION_3);
	sn = X509_get0_serialNumber(x);
	CHECK_EQ_INT(sn->length, 16);
	CHECK_EQ_INT(sn->type, V_ASN1_INTEGER);
	CHECK_MSG(sn->data[0] >= 0x40 && sn->data[0] <= 0x7f,
		  "serial starts %02x", sn->data[0]);
	n = i2d_ASN1_INTEGER(sn, &snder);
	CHECK(n == 18 && snder[0] == 0x02 && snder[1] == 0x10);
	OPENSSL_free(snder);
	hex(sn->data, (size_t)sn->length, serial);
	CHECK_EQ_STR(m2m_cert_serial(res.cert), serial);

	/* validity */
	CHECK_EQ_INT(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)NOW),
		     0);
	CHECK_EQ_INT(ASN1_STRING_type(X509_get0_notBefore(x)), V_ASN1_UTCTIME);
	na = X509_get0_notAfter(x);
	CHECK_EQ_INT(ASN1_STRING_type(na), V_ASN1_GENERALIZEDTIME);
	CHECK(ASN1_STRING_length(na) == 15 &&
	      memcmp(ASN1_STRING_get0_data(na), "99991231235959Z", 15) == 0);

	/* names */
	subj = X509_get_subject_name(x);
	if (CHECK_EQ_INT(X509_NAME_entry_count(subj), 3)) {
		e = X509_NAME_get_entry(subj, 0);
		CHECK_EQ_INT(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)),
			     NID_organizationName);
		e = X509_NAME_get_entry(subj, 1);
		CHECK_EQ_INT(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)),
			     NID_organizationalUnitName);
		e = X509_NAME_get_entry(subj, 2);
		CHECK_EQ_INT(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)),
			     NID_serialNumber);
		CHECK_EQ_INT(ASN1_STRING_type(X509_NAME_ENTRY_get_data(e)),
			     V_ASN1_PRINTABLESTRING);
		CHECK(ASN1_STRING_length(X509_NAME_ENTRY_get_data(e)) == 14 &&
		      memcmp(ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(e)),
			     PPID_HEX, 14) == 0);
	}
	m2m_cert_subject(res.cert, text, sizeof(text));
	CHECK_EQ_STR(text, "serialNumber=" PPID_HEX ",OU=Factory 1,O=Acme Devices");
	CHECK_EQ_INT(X509_NAME_cmp(X509_get_issuer_name(x),
				   X509_get_subject_name(cax)), 0);

	/* the key is the request's */
	CHECK_EQ_INT(EVP_PKEY_eq(X509_get0_pubkey(x), dev_pk), 1);
	CHECK(m2m_cert_matches_key(res.cert, dev_key));

	/* extensions: SAN, KU, AKI and nothing else */
	CHECK_EQ_INT(X509_get_ext_count(x), 3);
	CHECK_EXT(x, NID_subject_alt_name, 0, san_hw, sizeof(san_hw));
	CHECK_EXT(x, NID_key_usage, 1, (const uint8_t *)"\x03\x02\x07\x80", 4);
	aki = X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, NULL);
	CHECK(aki && aki->keyid && ASN1_OCTET_STRING_cmp(
		      aki->keyid, X509_get0_subject_key_id(cax)) == 0);
	CHECK(aki && !aki->issuer && !aki->serial);
	CHECK_EQ_INT(crit, 0);
	AUTHORITY_KEYID_free(aki);
	CHECK(ext_value(x, NID_subject_key_identifier, &crit) == NULL);
	CHECK(ext_value(x, NID_basic_constraints, &crit) == NULL);
	CHECK(ext_value(x, NID_ext_key_usage, &crit) == NULL);
	CHECK(ext_value(x, NID_certificate_policies, &crit) == NULL);

	/* signed by the CA key with ECDSA-SHA256, no parameters */
	CHECK_EQ_INT(X509_verify(x, ca_pk), 1);
	CHECK_EQ_INT(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	X509_get0_signature(NULL, &alg, x);
	X509_ALGOR_get0(&obj, &ptype, NULL, alg);
	CHECK_EQ_INT(ptype, V_ASN1_UNDEF);
	CHECK_EQ_INT(X509_ALGOR_cmp(alg, X509_get0_tbs_sigalg(x)), 0);
	/* and the chain verifies, strictly */
	{
		X509_STORE *store = X509_STORE_new();
		X509_STORE_CTX *sctx = X509_STORE_CTX_new();
		STACK_OF(X509) *untrusted = sk_X509_new_null();

		if (CHECK(store && sctx && untrusted &&
			  X509_STORE_add_cert(store, rootx) &&
			  sk_X509_push(untrusted, cax) &&
			  X509_STORE_CTX_init(sctx, store, x, untrusted))) {
			X509_STORE_CTX_set_flags(sctx, X509_V_FLAG_X509_STRICT);
			CHECK_MSG(X509_verify_cert(sctx) == 1, "chain: %s",
				  X509_verify_cert_error_string(
					  X509_STORE_CTX_get_error(sctx)));
		}
		sk_X509_free(untrusted);
		X509_STORE_CTX_free(sctx);
		X509_STORE_free(store);
	}

	/* the ledger's record */
	if (CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), serial, &r),
			 M2M_OK)) {
		CHECK_EQ_STR(r.serial, serial);
		CHECK_EQ_STR(r.profile, "idevid");
		CHECK_EQ_STR(r.subject, text);
		CHECK(r.ppid && r.ppid_len == 7 &&
		      memcmp(r.ppid, "\x01\x00\x1a\x7d\xda\x71\x13", 7) == 0);
		CHECK_EQ_STR(r.device_serial, PPID_HEX);
		CHECK(r.vouched_by == NULL);
		CHECK_EQ_INT(r.issued_at, NOW);
		CHECK_EQ_INT(r.not_before, NOW);
		CHECK_EQ_INT(r.not_after, Y9999);
		CHECK_EQ_INT(r.status, M2M_CERT_VALID);
		CHECK_EQ_INT(r.revoked_at, 0);
		CHECK_EQ_INT(r.reason, -1);
		der = m2m_cert_der(res.cert, &len);
		CHECK(r.der_len == len && memcmp(r.der, der, len) == 0);
	}
	/* one audit entry */
	after = audit_of(m2m_ca_ledger(ca));
	CHECK_EQ_INT(after.n, before.n + 1);
	CHECK_EQ_STR(after.op, "issue");
	{
		char want[128];

		snprintf(want, sizeof(want), "{\"serial\":\"%s\",", serial);
		CHECK_MSG(strncmp(after.detail, want, strlen(want)) == 0,
			  "audit detail %s", after.detail);
	}
	CHECK_CONTAINS(after.detail, "\"profile\":\"idevid\"");
	CHECK_CONTAINS(after.detail, "\"ppid\":\"" PPID_HEX "\"");
out:
	X509_free(x);
	X509_free(cax);
	X509_free(rootx);
	EVP_PKEY_free(ca_pk);
	EVP_PKEY_free(dev_pk);
	m2m_key_free(dev_key);
	m2m_cert_free(res.cert);
	m2m_csr_free(csr);
	m2m_ca_close(ca);
	unlink(tmp_path(path, "dev.key"));
}

UNIT_TEST(issue_from_key_with_device_serial_and_tpm_policies)
{
	char path[PATH_MAX], text[256];
	struct m2m_ca *ca = NULL;
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_cert_record r;
	struct m2m_ppid ppid;
	struct m2m_key *key = NULL;
	EVP_PKEY *ca_pk = ca_pkey("issuing", NULL);
	X509 *x = NULL;
	unsigned char *kder = NULL, *xder = NULL, *p12 = NULL;
	size_t klen = 0, p12len = 0;
	int xlen, crit;
	CERTIFICATEPOLICIES *pols = NULL;
	static const uint8_t san_b[] = {
		0x30, 0x25, 0xa0, 0x23,
		0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04,
		0xa0, 0x17, 0x30, 0x15,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x01, 0x02
	};

	memset(&res, 0, sizeof(res));
	CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "issuing"), M2M_CA_NEED_KEY,
			     NULL, NULL, &ca));
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P384, &key));
	if (!CHECK(ca && key && ca_pk))
		goto out;
	memset(&req, 0, sizeof(req));
	req.profile = "idevid";
	req.key = key;
	req.ppid = ppid_bt(&ppid, 0x0102);
	req.device_serial = "SN-0001 (A)";
	req.tpm_resident = 1;
	req.now = NOW;
	CHECK_OK(m2m_ca_issue(ctx, ca, &req, &res));
	x = x509_of(res.cert);
	if (!CHECK(x))
		goto out;
	m2m_cert_subject(res.cert, text, sizeof(text));
	CHECK_EQ_STR(text, "serialNumber=SN-0001 (A),OU=Factory 1,O=Acme Devices");
	CHECK(m2m_cert_matches_key(res.cert, key));
	CHECK_OK(m2m_key_public_der(ctx, key, &kder, &klen));
	xlen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &xder);
	CHECK(kder && xlen > 0 && (size_t)xlen == klen &&
	      memcmp(kder, xder, klen) == 0);
	CHECK_EQ_INT(X509_verify(x, ca_pk), 1);
	CHECK_EXT(x, NID_subject_alt_name, 0, san_b, sizeof(san_b));
	/* the TCG key residency policies */
	CHECK_EQ_INT(X509_get_ext_count(x), 4);
	pols = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
	if (CHECK(pols) && CHECK_EQ_INT(sk_POLICYINFO_num(pols), 2)) {
		char oid[64];

		OBJ_obj2txt(oid, sizeof(oid),
			    sk_POLICYINFO_value(pols, 0)->policyid, 1);
		CHECK_EQ_STR(oid, "2.23.133.11.1.1");
		OBJ_obj2txt(oid, sizeof(oid),
			    sk_POLICYINFO_value(pols, 1)->policyid, 1);
		CHECK_EQ_STR(oid, "2.23.133.11.1.2");
		CHECK_EQ_INT(crit, 0);
	}
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	if (CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca),
					     m2m_cert_serial(res.cert), &r),
			 M2M_OK)) {
		CHECK_EQ_STR(r.device_serial, "SN-0001 (A)");
		CHECK_EQ_STR(r.subject, text);
	}
	/* what the device gets when the CA made its key: a PKCS#12 file */
	CHECK_OK(m2m_pkcs12_make(ctx, key, res.cert, m2m_ca_chain_pem(ca),
				 "pass:device-p12", &p12, &p12len));
	CHECK(p12 && p12len > 0);
out:
	free(p12);
	free(kder);
	OPENSSL_free(xder);
	X509_free(x);
	EVP_PKEY_free(ca_pk);
	m2m_cert_free(res.cert);
	m2m_key_free(key);
	m2m_ca_close(ca);
}

/* A failed issue changes nothing in the ledger. */
struct snapshot {
	unsigned long records, audit;
};

static struct snapshot snap(struct m2m_ca *ca)
{
	struct snapshot s;

	s.records = records(ca, 0);
	s.audit = audit_of(m2m_ca_ledger(ca)).n;
	return s;
}

#define CHECK_UNCHANGED(ca, s) do { \
	struct snapshot now_ = snap(ca); \
	CHECK_EQ_INT(now_.records, (s).records); \
	CHECK_EQ_INT(now_.audit, (s).audit); \
} while (0)

UNIT_TEST(profile_rules_algorithms_names_ppid_hw_type)
{
	static const uint8_t san_dns[] = {
		0x30, 0x37, 0xa0, 0x23,
		0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04,
		0xa0, 0x17, 0x30, 0x15,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13,
		0x82, 0x10, 'd', 'e', 'v', '1', '.', 'e', 'x', 'a', 'm', 'p',
		'l', 'e', '.', 'c', 'o', 'm'
	};
	struct m2m_ca *ca = fresh_ca("rules", HW_TYPE), *nohw = NULL;
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_ppid ppid, empty, big;
	struct m2m_csr *plain = new_csr(NULL, NULL);
	struct m2m_csr *dns = new_csr("dev1.example.com", NULL);
	struct m2m_csr *uri = new_csr(NULL, "https://dev1.example.com/");
	struct m2m_csr *ed = NULL;
	struct m2m_key *key = NULL;
	struct snapshot s;
	EVP_PKEY *edpk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = NULL;
	static const char *const bigaddr[][2] = {
		{ "bluetooth", "00:1A:7D:DA:71:13" },
		{ "wifi", "3C:71:BF:4A:0B:2E" },
		{ "zigbee", "00:12:4B:00:1C:A1:B2:C3" },
		{ "lorawan", "70:B3:D5:7E:D0:05:A1:B2" },
		{ "ieee802154", "00:12:4B:00:00:00:00:01" },
	};
	size_t i;

	memset(&res, 0, sizeof(res));
	ed = edpk ? csr_for(edpk, NULL, NULL) : NULL;
	if (!CHECK(ca && plain && dns && uri && ed))
		goto out;
	s = snap(ca);

	/* an algorithm the profile does not list */
	CHECK_EQ_INT(issue_csr(ca, ed, 1, NULL, 0, NOW, &res), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx),
		       "profile idevid does not allow ed25519 keys (allowed: ec-p256 ec-p384 rsa2048 rsa3072)");
	CHECK(res.cert == NULL);
	/* request names the profile does not allow */
	CHECK_EQ_INT(issue_csr(ca, dns, 1, NULL, 0, NOW, &res), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "does not allow (DNS)");
	CHECK_EQ_INT(issue_csr(ca, uri, 1, NULL, 0, NOW, &res), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "does not allow (URI)");
	/* a profile that does not exist */
	memset(&req, 0, sizeof(req));
	req.profile = "nope";
	req.csr = plain;
	req.ppid = ppid_bt(&ppid, 1);
	req.now = NOW;
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_INVALID,
		    "has no profile 'nope'");
	/* no PPID, an empty PPID */
	req.profile = "idevid";
	req.ppid = NULL;
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_INVALID,
		    "needs the device's PPID");
	m2m_ppid_init(&empty);
	req.ppid = &empty;
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_INVALID,
		    "needs the device's PPID");
	/* a PPID longer than 32 octets without a device serial */
	m2m_ppid_init(&big);
	for (i = 0; i < sizeof(bigaddr) / sizeof(bigaddr[0]); i++)
		CHECK_OK(m2m_ppid_set_text(ctx, &big,
					   m2m_tech_lookup(bigaddr[i][0],
							   strlen(bigaddr[i][0])),
					   bigaddr[i][1], strlen(bigaddr[i][1])));
	req.ppid = &big;
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_INVALID,
		    "does not fit the subject serialNumber");
	/* a device serial that is no PrintableString */
	req.ppid = &ppid;
	req.device_serial = "SN*1";
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_INVALID,
		    "is not allowed");
	req.device_serial = NULL;
	/* both a request and a key, or neither */
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &key));
	req.key = key;
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_USAGE,
		    "either a request or a key");
	req.csr = NULL;
	req.key = NULL;
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_USAGE,
		    "either a request or a key");
	/* an LDevID needs the IDevID */
	req.profile = "ldevid";
	req.csr = plain;
	CHECK_FAILS(m2m_ca_issue(ctx, ca, &req, &res), M2M_ERR_INVALID,
		    "must come with the device's IDevID");
	CHECK(res.cert == NULL);
	CHECK_UNCHANGED(ca, s);

	/* a request asking for CA powers gets a device certificate */
	{
		EVP_PKEY *pk = p256();
		struct m2m_csr *cacsr = pk ? csr_asking_for_ca(pk) : NULL;

		if (CHECK(cacsr))
			CHECK_OK(issue_csr(ca, cacsr, 0x0ca0, NULL, 0, NOW, &res));
		x = x509_of(res.cert);
		if (CHECK(x)) {
			int crit;

			CHECK(ext_value(x, NID_basic_constraints, &crit) == NULL);
			CHECK_EXT(x, NID_key_usage, 1,
				  (const uint8_t *)"\x03\x02\x07\x80", 4);
			CHECK_EQ_INT(X509_check_ca(x), 0);
		}
		X509_free(x);
		x = NULL;
		m2m_cert_free(res.cert);
		res.cert = NULL;
		m2m_csr_free(cacsr);
		EVP_PKEY_free(pk);
		s = snap(ca);
	}

	/* the long PPID with a device serial is fine */
	req.profile = "idevid";
	req.ppid = &big;
	req.device_serial = "LONG-1";
	CHECK_OK(m2m_ca_issue(ctx, ca, &req, &res));
	x = x509_of(res.cert);
	if (x) {
		int crit;
		const ASN1_OCTET_STRING *v = ext_value(x, NID_subject_alt_name,
						       &crit);
		uint8_t enc[80];
		size_t n = 0;

		CHECK_OK(m2m_ppid_encode(ctx, &big, enc, sizeof(enc), &n));
		CHECK_EQ_INT(n, 38);
		/* ... 04 26 <38 octets> at the end of the SAN */
		CHECK(v && (size_t)ASN1_STRING_length(v) > n + 2 &&
		      memcmp(ASN1_STRING_get0_data(v) + ASN1_STRING_length(v) -
			     n - 2, "\x04\x26", 2) == 0 &&
		      memcmp(ASN1_STRING_get0_data(v) + ASN1_STRING_length(v) -
			     n, enc, n) == 0);
	}
	X509_free(x);
	x = NULL;
	m2m_cert_free(res.cert);
	res.cert = NULL;

	/* names allowed once the profile says so */
	s = snap(ca);
	CHECK_OK(m2m_ca_profile_set(ctx, ca, "idevid", "request-names", "dns"));
	CHECK_OK(issue_csr(ca, dns, 0x7113, NULL, 0, NOW, &res));
	x = x509_of(res.cert);
	if (CHECK(x))
		CHECK_EXT(x, NID_subject_alt_name, 0, san_dns, sizeof(san_dns));
	X509_free(x);
	x = NULL;
	m2m_cert_free(res.cert);
	res.cert = NULL;
	CHECK_EQ_INT(issue_csr(ca, uri, 2, NULL, 0, NOW, &res), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "does not allow (URI)");
	/* restricted algorithms */
	CHECK_OK(m2m_ca_profile_set(ctx, ca, "idevid", "key-algorithms",
				    "ec-p384"));
	CHECK_EQ_INT(issue_csr(ca, plain, 3, NULL, 0, NOW, &res),
		     M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx),
		       "does not allow ec-p256 keys (allowed: ec-p384)");
	/* two profile changes, one certificate */
	{
		struct snapshot t = snap(ca);

		CHECK_EQ_INT(t.records, s.records + 1);
		CHECK_EQ_INT(t.audit, s.audit + 3);
	}

	/* a CA whose idevid profile has no hw-type */
	nohw = fresh_ca("nohw", NULL);
	if (nohw) {
		CHECK_EQ_INT(issue_csr(nohw, plain, 1, NULL, 0, NOW, &res),
			     M2M_ERR_INVALID);
		CHECK_CONTAINS(m2m_ctx_detail(ctx),
			       "m2m-ca profile set idevid hw-type=OID");
		CHECK_EQ_INT(records(nohw, 0), 0);
		CHECK_OK(m2m_ca_profile_set(ctx, nohw, "idevid", "hw-type",
					    HW_TYPE));
		CHECK_OK(issue_csr(nohw, plain, 1, NULL, 0, NOW, &res));
		m2m_cert_free(res.cert);
		res.cert = NULL;
	}
out:
	EVP_PKEY_free(edpk);
	m2m_key_free(key);
	m2m_csr_free(plain);
	m2m_csr_free(dns);
	m2m_csr_free(uri);
	m2m_csr_free(ed);
	m2m_ca_close(ca);
	m2m_ca_close(nohw);
	rm_rf("rules");
	rm_rf("nohw");
}

UNIT_TEST(uniqueness_per_ppid_and_device_and_replacement)
{
	struct m2m_ca *ca = fresh_ca("uniq", HW_TYPE);
	struct m2m_csr *c1 = new_csr(NULL, NULL), *c2 = new_csr(NULL, NULL);
	struct m2m_issue_result first, res;
	struct m2m_cert_record r;
	struct audit_tail t;
	struct m2m_ppid ppid;
	struct snapshot s;
	char old[M2M_CERT_SERIAL_HEX], want[128];

	memset(&first, 0, sizeof(first));
	memset(&res, 0, sizeof(res));
	if (!CHECK(ca && c1 && c2))
		goto out;
	CHECK_OK(issue_csr(ca, c1, 0x10, "DEV-A", 0, NOW, &first));
	if (!CHECK(first.cert))
		goto out;
	snprintf(old, sizeof(old), "%s", m2m_cert_serial(first.cert));
	s = snap(ca);

	/* the same PPID again: with the same device, another device */
	CHECK_EQ_INT(issue_csr(ca, c2, 0x10, "DEV-A", 0, NOW, &res),
		     M2M_ERR_DUPLICATE);
	CHECK_CONTAINS(m2m_ctx_detail(ctx),
		       "PPID 01001a7dda0010 already has a valid idevid certificate");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), old);
	CHECK(res.cert == NULL);
	CHECK_EQ_INT(issue_csr(ca, c2, 0x10, "DEV-B", 0, NOW, &res),
		     M2M_ERR_DUPLICATE);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "already has a valid");
	/* the same device serial with another PPID */
	CHECK_EQ_INT(issue_csr(ca, c2, 0x11, "DEV-A", 0, NOW, &res),
		     M2M_ERR_DUPLICATE);
	CHECK_CONTAINS(m2m_ctx_detail(ctx),
		       "device DEV-A already has a valid idevid certificate");
	/* no device serial: the PPID in hex is the device's */
	CHECK_EQ_INT(issue_csr(ca, c2, 0x10, NULL, 0, NOW, &res),
		     M2M_ERR_DUPLICATE);
	CHECK_UNCHANGED(ca, s);

	/* replace: the old one is revoked as superseded */
	CHECK_OK(issue_csr(ca, c2, 0x10, "DEV-A", 1, NOW + 60, &res));
	CHECK_EQ_STR(res.replaced, old);
	CHECK_EQ_INT(res.existing, 0);
	if (CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), old, &r),
			 M2M_OK)) {
		CHECK_EQ_INT(r.status, M2M_CERT_REVOKED);
		CHECK_EQ_INT(r.reason, 4);
		CHECK_EQ_INT(r.revoked_at, NOW + 60);
	}
	if (res.cert) {
		CHECK(strcmp(m2m_cert_serial(res.cert), old) != 0);
		uint8_t enc[16];
		size_t n = 0;

		CHECK_OK(m2m_ppid_encode(ctx, ppid_bt(&ppid, 0x10), enc,
					 sizeof(enc), &n));
		CHECK(n == 7 && memcmp(enc, "\x01\x00\x1a\x7d\xda\x00\x10",
				       7) == 0);
		CHECK_OK(m2m_ledger_find_valid(ctx, m2m_ca_ledger(ca), "idevid",
					       enc, n, &r));
		CHECK_EQ_STR(r.serial, m2m_cert_serial(res.cert));
		CHECK_EQ_INT(r.issued_at, NOW + 60);
	}
	t = audit_of(m2m_ca_ledger(ca));
	CHECK_EQ_INT(t.n, s.audit + 2);
	CHECK_EQ_STR(t.prev_op, "revoke");
	snprintf(want, sizeof(want), "{\"serial\":\"%s\",\"reason\":\"superseded\"}",
		 old);
	CHECK_EQ_STR(t.prev_detail, want);
	CHECK_EQ_STR(t.op, "issue");
	snprintf(want, sizeof(want), "\"replaces\":\"%s\"", old);
	CHECK_CONTAINS(t.detail, want);
	CHECK_EQ_INT(records(ca, 0), 2);
	CHECK_EQ_INT(records(ca, 2), 1);

	/* replace through the device serial: a new PPID for DEV-A */
	snprintf(old, sizeof(old), "%s", res.cert ? m2m_cert_serial(res.cert) : "");
	m2m_cert_free(res.cert);
	res.cert = NULL;
	CHECK_OK(issue_csr(ca, c1, 0x12, "DEV-A", 1, NOW + 120, &res));
	CHECK_EQ_STR(res.replaced, old);
	if (CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), old, &r),
			 M2M_OK)) {
		CHECK_EQ_INT(r.status, M2M_CERT_REVOKED);
		CHECK_EQ_INT(r.reason, 4);
	}
	CHECK_EQ_INT(records(ca, 1), 1);
	/* replace where there is nothing to replace: a plain issue */
	m2m_cert_free(res.cert);
	res.cert = NULL;
	CHECK_OK(issue_csr(ca, c1, 0x13, "DEV-C", 1, NOW, &res));
	CHECK_EQ_STR(res.replaced, "");
out:
	m2m_cert_free(first.cert);
	m2m_cert_free(res.cert);
	m2m_csr_free(c1);
	m2m_csr_free(c2);
	m2m_ca_close(ca);
	rm_rf("uniq");
}

UNIT_TEST(groups_commit_rerun_and_abort)
{
	struct m2m_ca *ca = fresh_ca("group", HW_TYPE);
	struct m2m_csr *c[5] = { NULL };
	struct m2m_csr *edcsr = NULL;
	struct m2m_issue_result r1[5], res;
	struct m2m_cert_record rec;
	struct m2m_ppid ppid;
	struct snapshot s;
	EVP_PKEY *edpk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char serial5[M2M_CERT_SERIAL_HEX] = "";
	uint8_t enc[16];
	size_t n = 0;
	int i;

	memset(r1, 0, sizeof(r1));
	memset(&res, 0, sizeof(res));
	for (i = 0; i < 5; i++)
		c[i] = new_csr(NULL, NULL);
	edcsr = edpk ? csr_for(edpk, NULL, NULL) : NULL;
	if (!CHECK(ca && c[0] && c[1] && c[3] && c[4] && edcsr))
		goto out;

	CHECK_EQ_INT(group_csr(ca, c[0], 1, "G-1", &res), M2M_ERR_USAGE);
	CHECK_FAILS(m2m_ca_group_commit(ctx, ca), M2M_ERR_USAGE,
		    "no issuing group is open");
	m2m_ca_group_abort(ctx, ca);		/* nothing open: no-op */

	CHECK_OK(m2m_ca_group_begin(ctx, ca));
	CHECK_FAILS(m2m_ca_group_begin(ctx, ca), M2M_ERR_USAGE,
		    "already open");
	CHECK_EQ_INT(issue_csr(ca, c[0], 1, "G-1", 0, NOW, &res),
		     M2M_ERR_USAGE);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "an issuing group is open");
	CHECK_OK(group_csr(ca, c[0], 1, "G-1", &r1[0]));
	CHECK_OK(group_csr(ca, c[1], 2, "G-2", &r1[1]));
	/* one that fails in the middle: the group goes on */
	CHECK_EQ_INT(group_csr(ca, edcsr, 3, "G-3", &r1[2]), M2M_ERR_INVALID);
	CHECK(r1[2].cert == NULL);
	CHECK_OK(group_csr(ca, c[3], 4, "G-4", &r1[3]));
	/* the same device twice in one group: what it has */
	CHECK_OK(group_csr(ca, c[0], 1, "G-1", &res));
	CHECK_EQ_INT(res.existing, 1);
	CHECK(same_der(res.cert, r1[0].cert));
	m2m_cert_free(res.cert);
	res.cert = NULL;
	/* but not for another key: that would pair a key with a
	 * certificate that is not its own */
	CHECK_FAILS(group_csr(ca, c[4], 1, "G-1", &res), M2M_ERR_DUPLICATE,
		    "for another key; --replace supersedes it");
	CHECK(res.cert == NULL);
	/* the same PPID for another device is a conflict */
	CHECK_EQ_INT(group_csr(ca, c[4], 1, "G-9", &res), M2M_ERR_DUPLICATE);
	CHECK_OK(m2m_ca_group_commit(ctx, ca));
	CHECK_EQ_INT(records(ca, 0), 3);
	for (i = 0; i < 4; i++)
		if (i != 2)
			CHECK_MSG(r1[i].cert && r1[i].existing == 0,
				  "device %d", i + 1);
	s = snap(ca);

	/* a rerun in a new group hands out the same certificates */
	CHECK_OK(m2m_ca_group_begin(ctx, ca));
	for (i = 0; i < 4; i++) {
		enum m2m_err rc;
		char serial[8];

		snprintf(serial, sizeof(serial), "G-%d", i + 1);
		rc = group_csr(ca, i == 2 ? edcsr : c[i], (unsigned)i + 1,
			       serial, &res);
		if (i == 2) {
			CHECK_EQ_INT(rc, M2M_ERR_INVALID);
			continue;
		}
		CHECK_EQ_INT(rc, M2M_OK);
		CHECK_MSG(res.existing == 1, "device %d: existing %d", i + 1,
			  res.existing);
		CHECK_MSG(same_der(res.cert, r1[i].cert),
			  "device %d: another certificate", i + 1);
		m2m_cert_free(res.cert);
		res.cert = NULL;
	}
	CHECK_OK(m2m_ca_group_commit(ctx, ca));
	CHECK_UNCHANGED(ca, s);

	/* abort discards what the group issued */
	CHECK_OK(m2m_ca_group_begin(ctx, ca));
	CHECK_OK(group_csr(ca, c[4], 5, "G-5", &res));
	if (res.cert)
		snprintf(serial5, sizeof(serial5), "%s",
			 m2m_cert_serial(res.cert));
	m2m_cert_free(res.cert);
	res.cert = NULL;
	m2m_ca_group_abort(ctx, ca);
	CHECK_UNCHANGED(ca, s);
	CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), serial5, &rec),
		     M2M_ERR_NOT_FOUND);
	CHECK_OK(m2m_ppid_encode(ctx, ppid_bt(&ppid, 5), enc, sizeof(enc), &n));
	CHECK_EQ_INT(m2m_ledger_find_valid(ctx, m2m_ca_ledger(ca), "idevid",
					   enc, n, &rec), M2M_ERR_NOT_FOUND);
	/* and the CA issues on as before */
	CHECK_OK(issue_csr(ca, c[4], 5, "G-5", 0, NOW, &res));
	CHECK_EQ_INT(res.existing, 0);
	m2m_cert_free(res.cert);
	res.cert = NULL;
	/* outside a group a device that has its certificate is a conflict */
	CHECK_EQ_INT(issue_csr(ca, c[0], 1, "G-1", 0, NOW, &res),
		     M2M_ERR_DUPLICATE);
	CHECK_EQ_INT(records(ca, 0), 4);
out:
	for (i = 0; i < 5; i++) {
		m2m_cert_free(r1[i].cert);
		m2m_csr_free(c[i]);
	}
	m2m_cert_free(res.cert);
	m2m_csr_free(edcsr);
	EVP_PKEY_free(edpk);
	m2m_ca_close(ca);
	rm_rf("group");
}

UNIT_TEST(ldevid_binds_to_the_idevid)
{
	struct m2m_ca *ca = fresh_ca("local", HW_TYPE);
	struct m2m_csr *c1 = new_csr(NULL, NULL), *c2 = new_csr(NULL, NULL);
	struct m2m_issue_request req;
	struct m2m_issue_result idev, ldev;
	struct m2m_cert_record r;
	X509 *ix = NULL, *lx = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	const ASN1_OCTET_STRING *isan, *lsan;
	int crit;

	memset(&idev, 0, sizeof(idev));
	memset(&ldev, 0, sizeof(ldev));
	if (!CHECK(ca && c1 && c2))
		goto out;
	CHECK_OK(issue_csr(ca, c1, 0x7113, "SN-L1", 0, NOW, &idev));
	memset(&req, 0, sizeof(req));
	req.profile = "ldevid";
	req.csr = c2;
	req.idevid = idev.cert;
	req.now = NOW;
	CHECK_OK(m2m_ca_issue(ctx, ca, &req, &ldev));
	ix = x509_of(idev.cert);
	lx = x509_of(ldev.cert);
	if (!CHECK(ix && lx))
		goto out;
	/* the IDevID's HardwareModuleName and subject, unchanged */
	isan = ext_value(ix, NID_subject_alt_name, &crit);
	lsan = ext_value(lx, NID_subject_alt_name, &crit);
	CHECK(isan && lsan && ASN1_OCTET_STRING_cmp(isan, lsan) == 0);
	CHECK_EXT(lx, NID_subject_alt_name, 0, san_hw, sizeof(san_hw));
	CHECK_EQ_INT(X509_NAME_cmp(X509_get_subject_name(ix),
				   X509_get_subject_name(lx)), 0);
	/* 365 days, clientAuth, digitalSignature */
	CHECK_EQ_INT(ASN1_TIME_cmp_time_t(X509_get0_notAfter(lx),
					  (time_t)(NOW + 365 * (int64_t)DAY)), 0);
	eku = X509_get_ext_d2i(lx, NID_ext_key_usage, &crit, NULL);
	CHECK(eku && sk_ASN1_OBJECT_num(eku) == 1 &&
	      OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_client_auth);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	CHECK_EXT(lx, NID_key_usage, 1, (const uint8_t *)"\x03\x02\x07\x80", 4);
	/* the record says who vouched */
	if (ldev.cert &&
	    CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca),
					     m2m_cert_serial(ldev.cert), &r),
			 M2M_OK)) {
		CHECK_EQ_STR(r.profile, "ldevid");
		CHECK_EQ_STR(r.vouched_by, m2m_cert_serial(idev.cert));
		CHECK(r.ppid_len == 7 &&
		      memcmp(r.ppid, "\x01\x00\x1a\x7d\xda\x71\x13", 7) == 0);
	}

	/* the IDevID issued next was vouched for by no one */
	{
		struct m2m_issue_result next;

		memset(&next, 0, sizeof(next));
		CHECK_OK(issue_csr(ca, c1, 0x7114, "SN-L2", 0, NOW, &next));
		if (next.cert &&
		    CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca),
						     m2m_cert_serial(next.cert),
						     &r), M2M_OK))
			CHECK_MSG(r.vouched_by == NULL,
				  "IDevID record vouched by \"%s\"",
				  r.vouched_by);
		CHECK_MSG(!strstr(audit_of(m2m_ca_ledger(ca)).detail,
				  "vouched_by"), "audit: %s",
			  audit_of(m2m_ca_ledger(ca)).detail);
		m2m_cert_free(next.cert);
	}

	/* an LDevID never outlives its CA (an IDevID may) */
	{
		char path[PATH_MAX];
		struct m2m_ca_params p;
		struct m2m_ca *shortca = NULL;
		struct m2m_issue_result a, b;
		X509 *ax = NULL, *bx = NULL;

		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		rm_rf("short");
		params_init(&p, "short", path, "CN=Short CA");
		p.days = 100;
		p.hw_type = HW_TYPE;
		CHECK_OK(m2m_ca_create(ctx, &p, &shortca));
		if (shortca) {
			CHECK_OK(issue_csr(shortca, c1, 1, NULL, 0, NOW, &a));
			req.csr = c2;
			req.idevid = a.cert;
			CHECK_OK(m2m_ca_issue(ctx, shortca, &req, &b));
		}
		ax = x509_of(a.cert);
		bx = x509_of(b.cert);
		CHECK(ax && ASN1_TIME_cmp_time_t(X509_get0_notAfter(ax),
						 (time_t)Y9999) == 0);
		CHECK(bx && ASN1_TIME_cmp_time_t(X509_get0_notAfter(bx),
						 (time_t)(NOW + 100 * DAY)) == 0);
		X509_free(ax);
		X509_free(bx);
		m2m_cert_free(a.cert);
		m2m_cert_free(b.cert);
		m2m_ca_close(shortca);
		rm_rf("short");
	}
out:
	X509_free(ix);
	X509_free(lx);
	m2m_cert_free(idev.cert);
	m2m_cert_free(ldev.cert);
	m2m_csr_free(c1);
	m2m_csr_free(c2);
	m2m_ca_close(ca);
	rm_rf("local");
}

/* ---- revocation ---------------------------------------------------------------- */

/* Issue n certificates with PPIDs first..; their serials into sn. */
static int issue_n(struct m2m_ca *ca, unsigned first, int n,
		   char sn[][M2M_CERT_SERIAL_HEX])
{
	struct m2m_issue_result res;
	struct m2m_csr *csr = new_csr(NULL, NULL);
	int i, ok = csr != NULL;

	for (i = 0; ok && i < n; i++) {
		ok = issue_csr(ca, csr, first + (unsigned)i, NULL, 0, NOW,
			       &res) == M2M_OK;
		if (ok)
			snprintf(sn[i], M2M_CERT_SERIAL_HEX, "%s",
				 m2m_cert_serial(res.cert));
		m2m_cert_free(res.cert);
	}
	m2m_csr_free(csr);
	return CHECK_MSG(ok, "cannot issue: %s", m2m_ctx_detail(ctx));
}

UNIT_TEST(revoke_reasons_unknown_twice_and_refused_reasons)
{
	struct m2m_ca *ca = fresh_ca("revoke", HW_TYPE);
	char sn[3][M2M_CERT_SERIAL_HEX], canon[M2M_CERT_SERIAL_HEX];
	char upper[64], want[128];
	struct m2m_cert_record r;
	struct audit_tail t;
	struct snapshot s;
	size_t i;

	if (!CHECK(ca) || !issue_n(ca, 0x100, 3, sn))
		goto out;
	memset(canon, 'x', sizeof(canon));
	CHECK_OK(m2m_ca_revoke(ctx, ca, sn[0], 1, NOW + 10, canon));
	CHECK_EQ_STR(canon, sn[0]);
	if (CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), sn[0],
					     &r), M2M_OK)) {
		CHECK_EQ_INT(r.status, M2M_CERT_REVOKED);
		CHECK_EQ_INT(r.reason, 1);
		CHECK_EQ_INT(r.revoked_at, NOW + 10);
	}
	t = audit_of(m2m_ca_ledger(ca));
	CHECK_EQ_STR(t.op, "revoke");
	snprintf(want, sizeof(want), "{\"serial\":\"%s\",\"reason\":\"keyCompromise\"}",
		 sn[0]);
	CHECK_EQ_STR(t.detail, want);
	s = snap(ca);

	/* twice */
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, sn[0], 1, NOW + 20, NULL),
		    M2M_ERR_INVALID, sn[0]);
	CHECK_UNCHANGED(ca, s);
	if (m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), sn[0], &r) == M2M_OK)
		CHECK_EQ_INT(r.revoked_at, NOW + 10);
	/* any case, leading zeros; canonical is the ledger's spelling */
	snprintf(upper, sizeof(upper), "0000%s", sn[1]);
	for (i = 0; upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	CHECK_OK(m2m_ca_revoke(ctx, ca, upper, 0, NOW + 30, canon));
	CHECK_EQ_STR(canon, sn[1]);
	if (m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), sn[1], &r) == M2M_OK) {
		CHECK_EQ_INT(r.status, M2M_CERT_REVOKED);
		CHECK_EQ_INT(r.reason, 0);
	}
	s = snap(ca);
	/* unknown serial */
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, "0123456789abcdef", 1, NOW, NULL),
		    M2M_ERR_NOT_FOUND,
		    "no certificate with serial 0123456789abcdef");
	/* not a serial */
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, "xyz", 1, NOW, NULL),
		    M2M_ERR_INVALID, "not a certificate serial");
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, "", 1, NOW, NULL), M2M_ERR_INVALID,
		    "not a certificate serial");
	/* reasons a revocation cannot carry */
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, sn[2], 8, NOW, NULL),
		    M2M_ERR_INVALID, "reason 8 cannot be given");
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, sn[2], 7, NOW, NULL),
		    M2M_ERR_INVALID, "reason 7 cannot be given");
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, sn[2], 11, NOW, NULL),
		    M2M_ERR_INVALID, "cannot be given");
	CHECK_FAILS(m2m_ca_revoke(ctx, ca, sn[2], -1, NOW, NULL),
		    M2M_ERR_INVALID, "cannot be given");
	CHECK_UNCHANGED(ca, s);
	if (m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), sn[2], &r) == M2M_OK)
		CHECK_EQ_INT(r.status, M2M_CERT_VALID);
	/* the highest reason there is */
	CHECK_OK(m2m_ca_revoke(ctx, ca, sn[2], 10, NOW, NULL));
	CHECK_EQ_INT(records(ca, 2), 3);
out:
	m2m_ca_close(ca);
	rm_rf("revoke");
}

/* The CRL's entry for serial (hex) in crl; NULL if none. */
static X509_REVOKED *crl_entry(X509_CRL *crl, const char *serial)
{
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn = NULL;
	X509_REVOKED *rev = NULL;

	if (BN_hex2bn(&bn, serial) && (ai = BN_to_ASN1_INTEGER(bn, NULL)))
		X509_CRL_get0_by_serial(crl, &rev, ai);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rev;
}

/* The reasonCode of rev, -1 if it has none; crit gets its criticality. */
static long crl_reason(X509_REVOKED *rev, int *crit)
{
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason,
						      crit, NULL);
	long v = e ? ASN1_ENUMERATED_get(e) : -1;

	ASN1_ENUMERATED_free(e);
	return v;
}

/* Check one CRL: number, times, AKI, signature, entry count. */
static X509_CRL *check_crl(int line, const unsigned char *der, size_t len,
			   X509 *cax, EVP_PKEY *ca_pk, long number,
			   int64_t this_update, int64_t days, int entries)
{
	const unsigned char *p = der;
	X509_CRL *crl = der ? d2i_X509_CRL(NULL, &p, (long)len) : NULL;
	ASN1_INTEGER *num;
	AUTHORITY_KEYID *aki;
	int crit = -2, n;

	if (!unit_check(crl != NULL && p == der + len, __FILE__, line,
			"not one DER CRL"))
		return crl;
	unit_check(X509_CRL_verify(crl, ca_pk) == 1, __FILE__, line,
		   "CRL signature does not verify");
	unit_check(X509_CRL_get_version(crl) == X509_CRL_VERSION_2, __FILE__,
		   line, "CRL version %ld", X509_CRL_get_version(crl));
	unit_check(X509_NAME_cmp(X509_CRL_get_issuer(crl),
				 X509_get_subject_name(cax)) == 0, __FILE__,
		   line, "CRL issuer");
	unit_check(X509_CRL_get_signature_nid(crl) == NID_ecdsa_with_SHA256,
		   __FILE__, line, "CRL signature algorithm");
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	unit_check(num && ASN1_INTEGER_get(num) == number && crit == 0,
		   __FILE__, line, "cRLNumber %ld, want %ld",
		   num ? ASN1_INTEGER_get(num) : -1, number);
	ASN1_INTEGER_free(num);
	aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit,
				   NULL);
	unit_check(aki && aki->keyid &&
		   ASN1_OCTET_STRING_cmp(aki->keyid,
					 X509_get0_subject_key_id(cax)) == 0 &&
		   crit == 0, __FILE__, line, "CRL AKI");
	AUTHORITY_KEYID_free(aki);
	unit_check(X509_CRL_get_ext_count(crl) == 2, __FILE__, line,
		   "%d CRL extensions", X509_CRL_get_ext_count(crl));
	unit_check(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl),
					(time_t)this_update) == 0,
		   __FILE__, line, "thisUpdate");
	unit_check(X509_CRL_get0_nextUpdate(crl) &&
		   ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl),
					(time_t)(this_update + days * DAY)) == 0,
		   __FILE__, line, "nextUpdate");
	/* libcrypto has no list at all where there are no entries */
	n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
	if (n < 0)
		n = 0;
	unit_check(n == entries, __FILE__, line, "%d entries, want %d", n,
		   entries);
	return crl;
}

UNIT_TEST(crl_numbers_entries_reasons_and_signature)
{
	struct m2m_ca *ca = fresh_ca("crl", HW_TYPE);
	char sn[3][M2M_CERT_SERIAL_HEX];
	unsigned char *der = NULL;
	size_t len = 0;
	uint64_t number = 0;
	X509 *cax = ca_x509("crl");
	EVP_PKEY *ca_pk = ca_pkey("crl", NULL);
	X509_CRL *crl = NULL;
	X509_REVOKED *rev;
	struct audit_tail t;
	int crit;

	if (!CHECK(ca && cax && ca_pk) || !issue_n(ca, 0x200, 3, sn))
		goto out;
	/* nothing revoked yet: an empty CRL */
	CHECK_OK(m2m_ca_crl(ctx, ca, NOW + 5, &der, &len, &number));
	CHECK_EQ_INT(number, 1);
	crl = check_crl(__LINE__, der, len, cax, ca_pk, 1, NOW + 5, 7, 0);
	X509_CRL_free(crl);
	crl = NULL;
	free(der);
	der = NULL;
	t = audit_of(m2m_ca_ledger(ca));
	CHECK_EQ_STR(t.op, "crl");
	CHECK_EQ_STR(t.detail, "{\"number\":1,\"revoked\":0}");

	CHECK_OK(m2m_ca_revoke(ctx, ca, sn[0], 1, NOW + 10, NULL));
	CHECK_OK(m2m_ca_revoke(ctx, ca, sn[1], 0, NOW + 20, NULL));
	CHECK_OK(m2m_ca_crl(ctx, ca, NOW + 100, &der, &len, &number));
	CHECK_EQ_INT(number, 2);
	crl = check_crl(__LINE__, der, len, cax, ca_pk, 2, NOW + 100, 7, 2);
	if (crl) {
		rev = crl_entry(crl, sn[0]);
		if (CHECK(rev)) {
			CHECK_EQ_INT(crl_reason(rev, &crit), 1);
			CHECK_EQ_INT(crit, 0);
			CHECK_EQ_INT(ASN1_TIME_cmp_time_t(
				X509_REVOKED_get0_revocationDate(rev),
				(time_t)(NOW + 10)), 0);
		}
		rev = crl_entry(crl, sn[1]);
		if (CHECK(rev)) {
			/* unspecified: no reasonCode at all */
			CHECK_EQ_INT(crl_reason(rev, &crit), -1);
			CHECK_EQ_INT(crit, -1);
			CHECK_EQ_INT(X509_REVOKED_get_ext_count(rev), 0);
		}
		CHECK(crl_entry(crl, sn[2]) == NULL);
	}
	X509_CRL_free(crl);
	crl = NULL;
	free(der);
	der = NULL;
	t = audit_of(m2m_ca_ledger(ca));
	CHECK_EQ_STR(t.op, "crl");
	CHECK_EQ_STR(t.detail, "{\"number\":2,\"revoked\":2}");

	/* the next one, with one more entry, on a changed validity */
	CHECK_OK(m2m_ca_revoke(ctx, ca, sn[2], 4, NOW + 200, NULL));
	CHECK_OK(m2m_ca_profile_set(ctx, ca, "ca", "crl-validity", "30d"));
	CHECK_OK(m2m_ca_crl(ctx, ca, NOW + 300, &der, &len, &number));
	CHECK_EQ_INT(number, 3);
	crl = check_crl(__LINE__, der, len, cax, ca_pk, 3, NOW + 300, 30, 3);
	if (crl) {
		rev = crl_entry(crl, sn[2]);
		CHECK(rev && crl_reason(rev, &crit) == 4);
	}
	X509_CRL_free(crl);
	crl = NULL;
	free(der);
	der = NULL;
	t = audit_of(m2m_ca_ledger(ca));
	CHECK_EQ_STR(t.detail, "{\"number\":3,\"revoked\":3}");
	/* number may be NULL */
	CHECK_OK(m2m_ca_crl(ctx, ca, NOW + 400, &der, &len, NULL));
	crl = check_crl(__LINE__, der, len, cax, ca_pk, 4, NOW + 400, 30, 3);
out:
	X509_CRL_free(crl);
	free(der);
	X509_free(cax);
	EVP_PKEY_free(ca_pk);
	m2m_ca_close(ca);
	rm_rf("crl");
}

/* ---- OCSP ------------------------------------------------------------------ */

/* The certificate with serial (hex) from the CA's ledger. */
static X509 *ledger_x509(struct m2m_ca *ca, const char *serial)
{
	struct m2m_cert_record r;
	const unsigned char *p;

	if (m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), serial, &r) != M2M_OK)
		return NULL;
	p = r.der;
	return d2i_X509(NULL, &p, (long)r.der_len);
}

/* Ask ca about ids[0..n) (a nonce when nonce); the basic response. */
static OCSP_BASICRESP *ask(int line, struct m2m_ca *ca, OCSP_CERTID **ids,
			   int n, int nonce, int64_t now, int *nonce_check)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	unsigned char *der = NULL, *out = NULL;
	const unsigned char *p;
	size_t len = 0;
	int i, dlen = -1;

	for (i = 0; req && i < n; i++)
		if (!OCSP_request_add0_id(req, OCSP_CERTID_dup(ids[i])))
			break;
	if (req && nonce)
		OCSP_request_add1_nonce(req, NULL, -1);
	if (req)
		dlen = i2d_OCSP_REQUEST(req, &der);
	if (unit_check(dlen > 0, __FILE__, line, "cannot make the request")) {
		m2m_ctx_clear_error(ctx);
		unit_check(m2m_ca_ocsp(ctx, ca, der, (size_t)dlen, now, &out,
				       &len) == M2M_OK, __FILE__, line,
			   "m2m_ca_ocsp: %s", m2m_ctx_detail(ctx));
	}
	p = out;
	resp = out ? d2i_OCSP_RESPONSE(NULL, &p, (long)len) : NULL;
	if (unit_check(resp && p == out + len, __FILE__, line,
		       "not one DER OCSP response")) {
		unit_check(OCSP_response_status(resp) ==
			   OCSP_RESPONSE_STATUS_SUCCESSFUL, __FILE__, line,
			   "response status %d", OCSP_response_status(resp));
		bs = OCSP_response_get1_basic(resp);
		unit_check(bs != NULL, __FILE__, line, "no basic response");
		if (bs)
			*nonce_check = OCSP_check_nonce(req, bs);
	}
	OCSP_RESPONSE_free(resp);
	OCSP_REQUEST_free(req);
	OPENSSL_free(der);
	free(out);
	return bs;
}

/* The status of id in bs, its reason and times. */
static int status_of(OCSP_BASICRESP *bs, OCSP_CERTID *id, int *reason,
		     int64_t *revoked, int64_t *this_upd)
{
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	int status = -1;
	struct tm tm;

	*reason = -99;
	*revoked = 0;
	*this_upd = 0;
	if (!OCSP_resp_find_status(bs, id, &status, reason, &rev, &thisupd,
				   &nextupd))
		return -1;
	if (rev && ASN1_TIME_to_tm(rev, &tm))
		*revoked = (int64_t)timegm(&tm);
	if (thisupd && ASN1_TIME_to_tm(thisupd, &tm))
		*this_upd = (int64_t)timegm(&tm);
	return status;
}

UNIT_TEST(ocsp_good_revoked_unknown_and_other_issuer)
{
	struct m2m_ca *ca = fresh_ca("ocsp", HW_TYPE);
	struct m2m_ca *other = fresh_ca("ocsp-other", HW_TYPE);
	char sn[3][M2M_CERT_SERIAL_HEX];
	X509 *cax = ca_x509("ocsp"), *otherx = ca_x509("ocsp-other");
	X509 *lx[3] = { NULL };
	OCSP_CERTID *ids[6] = { NULL };
	OCSP_BASICRESP *bs = NULL;
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *certs = sk_X509_new_null();
	ASN1_INTEGER *unknown = ASN1_INTEGER_new();
	const ASN1_OCTET_STRING *rid_key = NULL;
	const X509_NAME *rid_name = NULL;
	int64_t revoked, thisupd;
	int i, reason, nonce = -5;

	if (!CHECK(ca && other && cax && otherx && store && certs && unknown) ||
	    !issue_n(ca, 0x300, 3, sn))
		goto out;
	CHECK_OK(m2m_ca_revoke(ctx, ca, sn[1], 1, NOW + 10, NULL));
	CHECK_OK(m2m_ca_revoke(ctx, ca, sn[2], 0, NOW + 20, NULL));
	for (i = 0; i < 3; i++)
		lx[i] = ledger_x509(ca, sn[i]);
	if (!CHECK(lx[0] && lx[1] && lx[2]))
		goto out;
	ids[0] = OCSP_cert_to_id(NULL, lx[0], cax);
	ids[1] = OCSP_cert_to_id(NULL, lx[1], cax);
	ids[2] = OCSP_cert_to_id(NULL, lx[2], cax);
	ASN1_INTEGER_set(unknown, 0x0123);
	ids[3] = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(cax),
				  X509_get0_pubkey_bitstr(cax), unknown);
	ids[4] = OCSP_cert_to_id(EVP_sha256(), lx[0], cax);
	ids[5] = OCSP_cert_to_id(NULL, lx[0], otherx);	/* another issuer */
	X509_STORE_add_cert(store, cax);
	sk_X509_push(certs, cax);

	bs = ask(__LINE__, ca, ids, 5, 1, NOW + 100, &nonce);
	if (!CHECK(bs))
		goto out;
	CHECK_EQ_INT(nonce, 1);		/* echoed */
	CHECK_EQ_INT(OCSP_basic_verify(bs, certs, store, 0), 1);
	CHECK_EQ_INT(OCSP_resp_count(bs), 5);
	CHECK(OCSP_resp_get0_id(bs, &rid_key, &rid_name) == 1 && rid_name &&
	      X509_NAME_cmp(rid_name, X509_get_subject_name(cax)) == 0);
	CHECK_EQ_INT(status_of(bs, ids[0], &reason, &revoked, &thisupd),
		     V_OCSP_CERTSTATUS_GOOD);
	CHECK_EQ_INT(thisupd, NOW + 100);
	CHECK_EQ_INT(status_of(bs, ids[1], &reason, &revoked, &thisupd),
		     V_OCSP_CERTSTATUS_REVOKED);
	CHECK_EQ_INT(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
	CHECK_EQ_INT(revoked, NOW + 10);
	CHECK_EQ_INT(status_of(bs, ids[2], &reason, &revoked, &thisupd),
		     V_OCSP_CERTSTATUS_REVOKED);
	CHECK_EQ_INT(reason, OCSP_REVOKED_STATUS_NOSTATUS);
	CHECK_EQ_INT(revoked, NOW + 20);
	CHECK_EQ_INT(status_of(bs, ids[3], &reason, &revoked, &thisupd),
		     V_OCSP_CERTSTATUS_UNKNOWN);
	CHECK_EQ_INT(status_of(bs, ids[4], &reason, &revoked, &thisupd),
		     V_OCSP_CERTSTATUS_GOOD);
	OCSP_BASICRESP_free(bs);

	/* without a nonce there is none in the answer */
	bs = ask(__LINE__, ca, ids, 1, 0, NOW + 100, &nonce);
	CHECK_EQ_INT(nonce, 2);
	OCSP_BASICRESP_free(bs);

	/* a certificate of the same serial under another issuer: unknown */
	bs = ask(__LINE__, ca, ids + 5, 1, 1, NOW + 100, &nonce);
	if (CHECK(bs)) {
		CHECK_EQ_INT(status_of(bs, ids[5], &reason, &revoked, &thisupd),
			     V_OCSP_CERTSTATUS_UNKNOWN);
		CHECK_EQ_INT(OCSP_basic_verify(bs, certs, store, OCSP_NOCHECKS),
			     1);
	}
out:
	OCSP_BASICRESP_free(bs);
	for (i = 0; i < 6; i++)
		OCSP_CERTID_free(ids[i]);
	for (i = 0; i < 3; i++)
		X509_free(lx[i]);
	ASN1_INTEGER_free(unknown);
	sk_X509_free(certs);
	X509_STORE_free(store);
	X509_free(cax);
	X509_free(otherx);
	m2m_ca_close(ca);
	m2m_ca_close(other);
	rm_rf("ocsp");
	rm_rf("ocsp-other");
}

UNIT_TEST(ocsp_refuses_malformed_requests)
{
	char path[PATH_MAX];
	struct m2m_ca *ca = NULL;
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	X509 *cax = ca_x509("issuing");
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	unsigned char *der = NULL, *out = NULL, *big = calloc(1, 70000);
	size_t len = 0;
	int n, i;

	CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "issuing"), M2M_CA_NEED_KEY,
			     NULL, NULL, &ca));
	if (!CHECK(ca && req && cax && sn && big))
		goto out;
	CHECK_FAILS(m2m_ca_ocsp(ctx, ca, "garbage", 7, NOW, &out, &len),
		    M2M_ERR_INVALID, "not a DER OCSP request");
	CHECK(out == NULL);
	CHECK_FAILS(m2m_ca_ocsp(ctx, ca, "", 0, NOW, &out, &len),
		    M2M_ERR_INVALID, "not a DER OCSP request");
	/* no certificate asked about */
	n = i2d_OCSP_REQUEST(req, &der);
	if (CHECK(n > 0))
		CHECK_FAILS(m2m_ca_ocsp(ctx, ca, der, (size_t)n, NOW, &out,
					&len), M2M_ERR_INVALID,
			    "asks about 0 certificates");
	OPENSSL_free(der);
	der = NULL;
	/* 65 of them */
	for (i = 0; i < 65; i++) {
		ASN1_INTEGER_set(sn, 0x1000 + i);
		OCSP_request_add0_id(req, OCSP_cert_id_new(
			EVP_sha1(), X509_get_subject_name(cax),
			X509_get0_pubkey_bitstr(cax), sn));
	}
	n = i2d_OCSP_REQUEST(req, &der);
	if (CHECK(n > 0)) {
		CHECK_FAILS(m2m_ca_ocsp(ctx, ca, der, (size_t)n, NOW, &out,
					&len), M2M_ERR_INVALID,
			    "asks about 65 certificates");
		/* trailing bytes, truncation */
		memcpy(big, der, (size_t)n);
		CHECK_FAILS(m2m_ca_ocsp(ctx, ca, big, (size_t)n + 1, NOW, &out,
					&len), M2M_ERR_INVALID,
			    "not a DER OCSP request");
		CHECK_FAILS(m2m_ca_ocsp(ctx, ca, der, (size_t)n - 1, NOW, &out,
					&len), M2M_ERR_INVALID,
			    "not a DER OCSP request");
	}
	CHECK_FAILS(m2m_ca_ocsp(ctx, ca, big, 70000, NOW, &out, &len),
		    M2M_ERR_INVALID, "larger than");
	CHECK(out == NULL);
	CHECK_EQ_INT(len, 0);
out:
	OPENSSL_free(der);
	free(big);
	ASN1_INTEGER_free(sn);
	X509_free(cax);
	OCSP_REQUEST_free(req);
	m2m_ca_close(ca);
}

/* ---- chains ----------------------------------------------------------------- */

UNIT_TEST(chain_verify_is_openssl_path_validation)
{
	char path[PATH_MAX];
	struct m2m_ca *ca = NULL, *other = fresh_ca("chain-other", NULL);
	struct m2m_cert *root = NULL, *issuing, *stranger = NULL;
	struct m2m_issue_result res;
	struct m2m_csr *csr = new_csr(NULL, NULL);

	memset(&res, 0, sizeof(res));
	if (!CHECK(other && csr))
		goto out;
	CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "issuing"), M2M_CA_NEED_KEY,
			     NULL, NULL, &ca));
	CHECK_OK(m2m_cert_load_file(ctx, tmp_path(path, "root/ca.crt"), &root));
	if (!CHECK(ca && root))
		goto out;
	CHECK_OK(issue_csr(ca, csr, 0x900, NULL, 0, NOW, &res));
	if (!CHECK(res.cert))
		goto out;
	issuing = (struct m2m_cert *)m2m_ca_cert(ca);
	stranger = (struct m2m_cert *)m2m_ca_cert(other);
	/* To the root through the issuing CA; or to the issuing CA alone. */
	CHECK_OK(m2m_chain_verify(ctx, res.cert, &issuing, 1, &root, 1, NOW));
	CHECK_OK(m2m_chain_verify(ctx, res.cert, NULL, 0, &issuing, 1, NOW));
	CHECK_OK(m2m_chain_verify(ctx, res.cert, &issuing, 1, &issuing, 1, 0));
	/* The root alone without the issuing CA: no path. */
	CHECK_FAILS(m2m_chain_verify(ctx, res.cert, NULL, 0, &root, 1, NOW),
		    M2M_ERR_VERIFY,
		    "the chain does not verify: unable to get local issuer certificate (depth 0, ");
	CHECK_FAILS(m2m_chain_verify(ctx, res.cert, &issuing, 1, &stranger, 1,
				     NOW), M2M_ERR_VERIFY,
		    "unable to get local issuer certificate (depth 1, ");
	CHECK_FAILS(m2m_chain_verify(ctx, res.cert, &issuing, 1, &root, 1,
				     NOW + 40 * 365 * (int64_t)DAY),
		    M2M_ERR_VERIFY, "certificate has expired");
	CHECK_FAILS(m2m_chain_verify(ctx, res.cert, &issuing, 1, NULL, 0, NOW),
		    M2M_ERR_USAGE, "no trust anchor");
out:
	m2m_cert_free(res.cert);
	m2m_cert_free(root);
	m2m_csr_free(csr);
	m2m_ca_close(ca);
	m2m_ca_close(other);
}

/* ---- profiles --------------------------------------------------------------- */

UNIT_TEST(profile_set_writes_conf_and_audit)
{
	char path[PATH_MAX];
	struct m2m_ca *ca = fresh_ca("pset", HW_TYPE), *again = NULL;
	struct m2m_profiles *parsed = malloc(sizeof(*parsed));
	struct m2m_issue_result res;
	struct m2m_csr *csr = new_csr(NULL, NULL);
	struct audit_tail t;
	struct snapshot s;
	char *before = NULL, *after = NULL;
	size_t blen, alen;
	X509 *x = NULL;

	memset(&res, 0, sizeof(res));
	if (!CHECK(ca && parsed && csr))
		goto out;
	s = snap(ca);
	CHECK_OK(m2m_ca_profile_set(ctx, ca, "idevid", "lifetime", "3650d"));
	CHECK_EQ_INT(m2m_profiles_get(m2m_ca_profiles(ca), "idevid")->lifetime_days,
		     3650);
	t = audit_of(m2m_ca_ledger(ca));
	CHECK_EQ_INT(t.n, s.audit + 1);
	CHECK_EQ_STR(t.op, "profile");
	CHECK_EQ_STR(t.detail,
		     "{\"profile\":\"idevid\",\"key\":\"lifetime\",\"value\":\"3650d\"}");
	before = ca_file("pset", "ca.conf", &blen);
	if (CHECK(before)) {
		CHECK_CONTAINS(before, "lifetime = 3650d");
		CHECK_OK(m2m_profiles_parse(ctx, before, blen, parsed));
		CHECK(memcmp(parsed, m2m_ca_profiles(ca), sizeof(*parsed)) == 0);
	}
	/* it takes effect */
	CHECK_OK(issue_csr(ca, csr, 0x400, NULL, 0, NOW, &res));
	x = x509_of(res.cert);
	CHECK(x && ASN1_TIME_cmp_time_t(X509_get0_notAfter(x),
					(time_t)(NOW + 3650 * (int64_t)DAY)) == 0);

	/* a bad value changes nothing */
	s = snap(ca);
	CHECK_FAILS(m2m_ca_profile_set(ctx, ca, "idevid", "lifetime", "ever"),
		    M2M_ERR_INVALID, "idevid: ");
	CHECK_FAILS(m2m_ca_profile_set(ctx, ca, "ghost", "lifetime", "10d"),
		    M2M_ERR_NOT_FOUND, "ghost");
	CHECK_UNCHANGED(ca, s);
	after = ca_file("pset", "ca.conf", &alen);
	CHECK(before && after && blen == alen && memcmp(before, after, blen) == 0);
	CHECK_EQ_INT(m2m_profiles_get(m2m_ca_profiles(ca), "idevid")->lifetime_days,
		     3650);
	/* a new profile */
	CHECK_OK(m2m_ca_profile_set(ctx, ca, "line-2", "type", "idevid"));
	CHECK_EQ_INT(m2m_ca_profiles(ca)->n, 3);
	/* what was written is what a reopened CA has */
	CHECK_OK(m2m_ca_open(ctx, tmp_path(path, "pset"), 0, NULL, NULL, &again));
	if (again)
		CHECK(memcmp(m2m_ca_profiles(again), m2m_ca_profiles(ca),
			     sizeof(*parsed)) == 0);
out:
	X509_free(x);
	free(before);
	free(after);
	free(parsed);
	m2m_cert_free(res.cert);
	m2m_csr_free(csr);
	m2m_ca_close(again);
	m2m_ca_close(ca);
	rm_rf("pset");
}

UNIT_TEST(crl_reason_names)
{
	static const char *const names[] = {
		"unspecified", "keyCompromise", "cACompromise",
		"affiliationChanged", "superseded", "cessationOfOperation",
		"certificateHold", NULL, "removeFromCRL", "privilegeWithdrawn",
		"aACompromise",
	};
	int i;

	for (i = 0; i < 11; i++) {
		CHECK_EQ_STR(m2m_crl_reason_name(i), names[i]);
		if (names[i])
			CHECK_EQ_INT(m2m_crl_reason_lookup(names[i]), i);
	}
	CHECK(m2m_crl_reason_name(-1) == NULL);
	CHECK(m2m_crl_reason_name(11) == NULL);
	CHECK_EQ_INT(m2m_crl_reason_lookup("KEYCOMPROMISE"), 1);
	CHECK_EQ_INT(m2m_crl_reason_lookup("Superseded"), 4);
	CHECK_EQ_INT(m2m_crl_reason_lookup(""), -1);
	CHECK_EQ_INT(m2m_crl_reason_lookup("7"), -1);
	CHECK_EQ_INT(m2m_crl_reason_lookup("keyCompromise "), -1);
	CHECK_EQ_INT(m2m_crl_reason_lookup("removed"), -1);
}

/* ---- running ------------------------------------------------------------ */

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(create_root_and_issuing_directory_contents),
		UNIT(create_variants_capped_validity_existing_key_encrypted_key),
		UNIT(create_failures_leave_nothing_behind),
		UNIT(open_refuses_non_ca_and_damaged_directories),
		UNIT(issue_needs_the_key),
		UNIT(issue_from_csr_every_profile_field),
		UNIT(issue_from_key_with_device_serial_and_tpm_policies),
		UNIT(profile_rules_algorithms_names_ppid_hw_type),
		UNIT(uniqueness_per_ppid_and_device_and_replacement),
		UNIT(groups_commit_rerun_and_abort),
		UNIT(revoke_reasons_unknown_twice_and_refused_reasons),
		UNIT(crl_numbers_entries_reasons_and_signature),
		UNIT(ocsp_good_revoked_unknown_and_other_issuer),
		UNIT(ocsp_refuses_malformed_requests),
		UNIT(chain_verify_is_openssl_path_validation),
		UNIT(profile_set_writes_conf_and_audit),
		UNIT(crl_reason_names),
		/* last: it meets a use-after-free in lib/issue.c */
		UNIT(ldevid_binds_to_the_idevid),
	};
	int rc = 1;

	umask(022);
	NOW = (int64_t)time(NULL);
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a temporary directory: %s\n",
		       strerror(errno));
		return 1;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK)
		printf("Bail out! cannot create a context\n");
	else if (!make_hierarchy())
		printf("Bail out! cannot create the root and issuing CAs\n");
	else
		rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	rm_rf(NULL);
	return rc;
}
