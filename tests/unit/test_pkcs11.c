/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the pkcs11: key back-end (lib/keystore/pkcs11.c) against
 * a real SoftHSM2: the binary makes its own token directory (mkdtemp),
 * points SOFTHSM2_CONF at it, initialises two tokens with softhsm2-util
 * and removes it all at the end.  Without softhsm2-util it prints a TAP
 * plan that skips everything.
 *
 * Covers generate (P-256, P-384, RSA-2048) and load, duplicates and
 * force, remove, not found, ambiguous tokens, a wrong PIN (one login
 * attempt per context), the module-path form, certificates with a chain
 * stored and loaded, a certificate that does not fit its key, signing
 * through the EVP_PKEY (a CSR, and EVP_DigestSign checked with the public
 * key), and the objects as pkcs11-tool sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#include "../../lib/internal.h"
#include "../../lib/keystore/extkey.h"
#include "../../lib/keystore/keystore.h"
#include "unit.h"

extern char **environ;

#define TOKEN "m2m-test"
#define OTHER "m2m-other"
#define PIN "1234"
#define SO_PIN "12345678"

static struct m2m_ctx *ctx;
static char dir[64];		/* the token directory */
static char pin_src[128];	/* "file:DIR/pin" */
static char bad_pin_src[128];	/* "file:DIR/badpin" */
static const char *module;	/* libsofthsm2.so, or NULL */
static struct m2m_key_opts opts;	/* pin_source = pin_src */

static const char *const module_paths[] = {
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
};

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: rc %d, detail '%s'", #call, (int)rc_, \
		  m2m_ctx_detail(ctx)); \
} while (0)

/* Run argv (PATH searched) with its output thrown away; its exit status. */
static int run(const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int status = -1;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
			 environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return 1;
		path += n + (path[n] == ':');
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int init_token(const char *label)
{
	const char *argv[] = { "softhsm2-util", "--init-token", "--free",
			       "--label", label, "--pin", PIN, "--so-pin",
			       SO_PIN, NULL };

	return run(argv);
}

/* "pkcs11:token=m2m-test;REST" into buf. */
static const char *uri(char *buf, size_t size, const char *rest)
{
	snprintf(buf, size, "pkcs11:token=" TOKEN ";%s", rest);
	return buf;
}

/* pkcs11-tool's listing of the test token's objects, or NULL. */
static char *tool_objects(void)
{
	char cmd[512], *out = NULL;
	size_t n = 0, got;
	FILE *p, *mem;
	char buf[4096];

	if (!module || !in_path("pkcs11-tool"))
		return NULL;
	snprintf(cmd, sizeof(cmd),
		 "pkcs11-tool --module '%s' --token-label " TOKEN
		 " --login --pin " PIN " --list-objects 2>/dev/null", module);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	mem = open_memstream(&out, &n);
	while (mem && (got = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, got, mem);
	if (mem)
		fclose(mem);
	pclose(p);
	return out;
}

/* Sign a SHA-256 digest with key and verify it with its public half. */
static void check_signs(const struct m2m_key *key)
{
	unsigned char *spki = NULL, sig[1024];
	const unsigned char *p;
	size_t spki_len = 0, siglen = sizeof(sig);
	EVP_PKEY *pub = NULL;
	EVP_MD_CTX *md = NULL;
	struct m2m_csr *csr = NULL;
	static const char msg[] = "device 42";

	if (!CHECK(key))
		return;
	CHECK_OK(m2m_key_public_der(ctx, key, &spki, &spki_len));
	p = spki;
	pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
	CHECK(pub);
	/* A CSR, signed through the key's provider; parsing checks it. */
	CHECK_OK(m2m_csr_make(ctx, key, "CN=device-42", &csr));
	if (csr) {
		char *der = NULL;
		size_t len = 0;
		struct m2m_csr *back = NULL;

		CHECK_OK(m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &der, &len));
		CHECK_OK(m2m_csr_parse(ctx, der, len, &back));
		m2m_csr_free(back);
		free(der);
	}
	m2m_csr_free(csr);
	/* A plain EVP_DigestSign on the key's EVP_PKEY. */
	md = EVP_MD_CTX_new();
	if (CHECK(md) && pub &&
	    CHECK(EVP_DigestSignInit_ex(md, NULL, "SHA256", ctx->libctx,
					m2m_extkey_propq(m2m_key_pkey(key)),
					m2m_key_pkey(key), NULL) == 1) &&
	    CHECK(EVP_DigestSign(md, sig, &siglen, (const void *)msg,
				 sizeof(msg) - 1) == 1)) {
		EVP_MD_CTX_free(md);
		md = EVP_MD_CTX_new();
		CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
					   pub) == 1);
		CHECK(EVP_DigestVerify(md, sig, siglen, (const void *)msg,
				       sizeof(msg) - 1) == 1);
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	free(spki);
}

/* The key's SPKI DER into buf; its length, 0 on failure. */
static size_t spki_of(const struct m2m_key *key, unsigned char *buf,
		      size_t size)
{
	unsigned char *der = NULL;
	size_t len = 0;

	if (!key || m2m_key_public_der(ctx, key, &der, &len) != M2M_OK ||
	    len > size) {
		free(der);
		return 0;
	}
	memcpy(buf, der, len);
	free(der);
	return len;
}

/* Lower-case hex of the SHA-1 of spki's subjectPublicKey BIT STRING. */
static void key_id_hex(const unsigned char *spki, size_t len, char out[41])
{
	const unsigned char *p = spki, *bits;
	X509_PUBKEY *xp = d2i_X509_PUBKEY(NULL, &p, (long)len);
	unsigned char md[20];
	int n = 0, i;

	out[0] = '\0';
	if (!xp || !X509_PUBKEY_get0_param(NULL, &bits, &n, NULL, xp) ||
	    !EVP_Digest(bits, (size_t)n, md, NULL, EVP_sha1(), NULL)) {
		X509_PUBKEY_free(xp);
		return;
	}
	for (i = 0; i < 20; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	X509_PUBKEY_free(xp);
}

UNIT_TEST(test_generate_and_load)
{
	static const struct {
		const char *rest;
		enum m2m_key_alg alg;
	} cases[] = {
		{ "object=p256;id=%01%02", M2M_KEY_EC_P256 },
		{ "object=p384", M2M_KEY_EC_P384 },
		{ "object=rsa;id=%03", M2M_KEY_RSA2048 },
	};
	unsigned char a[1024], b[1024];
	char u[256], idhex[41], line[80], *objs;
	struct m2m_key *key = NULL, *again = NULL;
	size_t i, na, nb;

	for (i = 0; i < UNIT_COUNT(cases); i++) {
		uri(u, sizeof(u), cases[i].rest);
		CHECK_OK(m2m_key_generate(ctx, u, cases[i].alg, &opts, &key));
		if (!CHECK(key))
			continue;
		CHECK_EQ_INT(m2m_key_get_alg(key), cases[i].alg);
		CHECK_EQ_STR(m2m_key_uri(key), u);
		check_signs(key);
		na = spki_of(key, a, sizeof(a));
		CHECK_OK(m2m_key_load(ctx, u, &opts, &again));
		nb = spki_of(again, b, sizeof(b));
		CHECK(na && na == nb && memcmp(a, b, na) == 0);
		check_signs(again);
		m2m_key_free(again);
		again = NULL;
		m2m_key_free(key);
		key = NULL;
		/* pkcs11-tool sees the pair with the id we gave or made. */
		if (i == 1) {
			key_id_hex(a, na, idhex);
			snprintf(line, sizeof(line), "ID:         %s\n", idhex);
		} else {
			snprintf(line, sizeof(line), "ID:         %s\n",
				 i == 0 ? "0102" : "03");
		}
		objs = tool_objects();
		if (CHECK(objs)) {
			char *first = strstr(objs, line);

			CHECK_MSG(first && strstr(first + 1, line),
				  "pkcs11-tool shows no key pair with '%s'",
				  line);
		}
		free(objs);
	}
}

UNIT_TEST(test_duplicate_force_remove)
{
	unsigned char a[512], b[512];
	char u[256];
	struct m2m_key *key = NULL, *k2 = NULL;
	size_t na, nb;

	uri(u, sizeof(u), "object=dup;id=%10");
	CHECK_OK(m2m_key_generate(ctx, u, M2M_KEY_EC_P256, &opts, &key));
	na = spki_of(key, a, sizeof(a));
	CHECK_FAILS(m2m_key_generate(ctx, u, M2M_KEY_EC_P256, &opts, &k2),
		    M2M_ERR_DUPLICATE, "a key 'pkcs11:token=m2m-test;object=dup");
	CHECK(!k2);
	/* The same id under another label is the same key too. */
	CHECK_FAILS(m2m_key_generate(ctx, uri(u, sizeof(u), "object=x;id=%10"),
				     M2M_KEY_EC_P256, &opts, &k2),
		    M2M_ERR_DUPLICATE, "exists on token 'm2m-test'");
	/* Without id=, the label names it. */
	CHECK_FAILS(m2m_key_generate(ctx, uri(u, sizeof(u), "object=dup"),
				     M2M_KEY_EC_P256, &opts, &k2),
		    M2M_ERR_DUPLICATE, "a key 'pkcs11:token=m2m-test;object=dup'");
	/*
	 * With id=, the id does: the label under another id is another key,
	 * which the label alone then does not name.
	 */
	uri(u, sizeof(u), "object=dup;id=%11");
	CHECK_OK(m2m_key_generate(ctx, u, M2M_KEY_EC_P256, &opts, &k2));
	m2m_key_free(k2);
	k2 = NULL;
	CHECK_FAILS(m2m_key_load(ctx, uri(u, sizeof(u), "object=dup"), &opts,
				 &k2),
		    M2M_ERR_USAGE, "'pkcs11:token=m2m-test;object=dup' matches more than one key");
	CHECK_OK(m2m_key_remove(ctx, uri(u, sizeof(u), "object=dup;id=%11"),
				&opts));
	opts.force = 1;
	uri(u, sizeof(u), "object=dup;id=%10");
	CHECK_OK(m2m_key_generate(ctx, u, M2M_KEY_EC_P256, &opts, &k2));
	opts.force = 0;
	nb = spki_of(k2, b, sizeof(b));
	CHECK(na && nb && (na != nb || memcmp(a, b, na) != 0));
	/* The first key's handle is gone with its object; the new one signs. */
	m2m_key_free(key);
	key = NULL;
	check_signs(k2);
	m2m_key_free(k2);
	k2 = NULL;
	/* One key now: loading is not ambiguous. */
	CHECK_OK(m2m_key_load(ctx, u, &opts, &key));
	nb = spki_of(key, a, sizeof(a));
	CHECK(nb && memcmp(a, b, nb) == 0);
	m2m_key_free(key);
	key = NULL;

	CHECK_OK(m2m_key_remove(ctx, u, &opts));
	CHECK_FAILS(m2m_key_load(ctx, u, &opts, &key), M2M_ERR_NOT_FOUND,
		    "no key 'pkcs11:token=m2m-test;object=dup;id=%10' on token 'm2m-test'");
	CHECK_FAILS(m2m_key_remove(ctx, u, &opts), M2M_ERR_NOT_FOUND,
		    "no key");
}

UNIT_TEST(test_refusals)
{
	char u[256];
	struct m2m_key *key = NULL;

	CHECK_FAILS(m2m_key_generate(ctx, uri(u, sizeof(u), "object=ed"),
				     M2M_KEY_ED25519, &opts, &key),
		    M2M_ERR_UNSUPPORTED, "ed25519");
	CHECK_FAILS(m2m_key_generate(ctx, "pkcs11:token=" TOKEN,
				     M2M_KEY_EC_P256, &opts, &key),
		    M2M_ERR_USAGE, "names no key: give object= or id=");
	CHECK_FAILS(m2m_key_load(ctx, uri(u, sizeof(u), "object=nothing"),
				 &opts, &key),
		    M2M_ERR_NOT_FOUND,
		    "no key 'pkcs11:token=m2m-test;object=nothing' on token 'm2m-test'");
	CHECK_FAILS(m2m_key_load(ctx, "pkcs11:token=nosuch;object=x", &opts,
				 &key),
		    M2M_ERR_NOT_FOUND,
		    "no PKCS#11 token matches 'pkcs11:token=nosuch;object=x'");
	CHECK_FAILS(m2m_key_load(ctx, "pkcs11:object=x", &opts, &key),
		    M2M_ERR_USAGE, "2 PKCS#11 tokens match 'pkcs11:object=x'");
	CHECK_FAILS(m2m_key_load(ctx, "pkcs11:token=" TOKEN ";bogus=1", &opts,
				 &key),
		    M2M_ERR_INVALID, "unknown path attribute 'bogus'");
	CHECK_FAILS(m2m_key_load(ctx, "pkcs11:token=" TOKEN ";object=a?"
				 "pin-value=1&pin-source=file:/p", &opts, &key),
		    M2M_ERR_INVALID, "both 'pin-value' and 'pin-source'");
	CHECK(!key);
}

/*
 * A wrong PIN: reported once, then not tried again in that context.  Runs
 * before anything logs in: PKCS#11 login is per process, so a C_Login
 * while another context is logged in succeeds whatever the PIN.
 */
UNIT_TEST(test_wrong_pin)
{
	struct m2m_key_opts bad = { .pin_source = bad_pin_src };
	struct m2m_key_opts none = { 0 };
	struct m2m_ctx *c2 = NULL, *saved = ctx;
	char u[256], *objs;

	if (!CHECK(m2m_ctx_new(&c2) == M2M_OK))
		return;
	ctx = c2;
	uri(u, sizeof(u), "object=nothing");
	CHECK_FAILS(m2m_key_remove(ctx, u, &none), M2M_ERR_USAGE,
		    "token 'm2m-test' needs a PIN: give pin-source");
	CHECK_FAILS(m2m_key_remove(ctx, u, &bad), M2M_ERR_BACKEND,
		    "wrong PIN for token 'm2m-test'");
	CHECK(!strstr(m2m_ctx_detail(ctx), "not tried again"));
	/* Not tried again, even with the right PIN: one attempt per context. */
	CHECK_FAILS(m2m_key_remove(ctx, u, &opts), M2M_ERR_BACKEND,
		    "wrong PIN for token 'm2m-test' (not tried again in this context)");
	/* The URI's pin-value and pin-source win over opts. */
	m2m_ctx_free(c2);
	CHECK(m2m_ctx_new(&c2) == M2M_OK);
	ctx = c2;
	snprintf(u, sizeof(u), "pkcs11:token=" TOKEN ";object=nothing?"
		 "pin-value=" PIN);
	CHECK_FAILS(m2m_key_remove(ctx, u, &bad), M2M_ERR_NOT_FOUND,
		    "no key");
	m2m_ctx_free(c2);
	CHECK(m2m_ctx_new(&c2) == M2M_OK);
	ctx = c2;
	snprintf(u, sizeof(u), "pkcs11:token=" TOKEN ";object=nothing?"
		 "pin-source=%s", pin_src + 5);	/* a bare path */
	CHECK_FAILS(m2m_key_remove(ctx, u, &bad), M2M_ERR_NOT_FOUND,
		    "no key");
	m2m_ctx_free(c2);
	ctx = saved;
	/* The token counted no failure it would lock on. */
	objs = tool_objects();
	CHECK(objs);
	free(objs);
}

UNIT_TEST(test_module_path)
{
	char u[512];
	struct m2m_key *key = NULL;

	if (!CHECK_MSG(module, "no libsofthsm2.so found"))
		return;
	snprintf(u, sizeof(u), "pkcs11:token=" TOKEN ";object=mp?"
		 "module-path=%s&pin-source=%s", module, pin_src);
	CHECK_FAILS(m2m_key_remove(ctx, u, NULL), M2M_ERR_NOT_FOUND,
		    "no key 'pkcs11:token=m2m-test;object=mp' on token");
	CHECK_OK(m2m_key_generate(ctx, u, M2M_KEY_EC_P256, NULL, &key));
	check_signs(key);
	m2m_key_free(key);
	key = NULL;
	/* The same key through p11-kit's configuration, by module name. */
	snprintf(u, sizeof(u), "pkcs11:token=" TOKEN ";object=mp?"
		 "module-name=softhsm2&pin-source=%s", pin_src);
	CHECK_OK(m2m_key_load(ctx, u, NULL, &key));
	m2m_key_free(key);
	CHECK_FAILS(m2m_key_load(ctx, "pkcs11:object=mp?module-path=/nonexistent/lib.so",
				 NULL, &key),
		    M2M_ERR_BACKEND, "cannot load PKCS#11 module '/nonexistent/lib.so'");
	snprintf(u, sizeof(u), "pkcs11:token=" TOKEN ";object=mp?"
		 "module-path=%s&pin-source=%s", module, pin_src);
	CHECK_OK(m2m_key_remove(ctx, u, NULL));
}

/* A key made and freed before another is used: the other still signs. */
UNIT_TEST(test_key_outlives_others)
{
	struct m2m_key *a = NULL, *b = NULL;
	char u1[256], u2[256];

	uri(u1, sizeof(u1), "object=la");
	uri(u2, sizeof(u2), "object=lb");
	CHECK_OK(m2m_key_generate(ctx, u1, M2M_KEY_EC_P256, &opts, &a));
	CHECK_OK(m2m_key_generate(ctx, u2, M2M_KEY_EC_P384, &opts, &b));
	m2m_key_free(a);
	check_signs(b);
	m2m_key_free(b);
	CHECK_OK(m2m_key_remove(ctx, u1, &opts));
	CHECK_OK(m2m_key_remove(ctx, u2, &opts));
}

/* ---- certificates -------------------------------------------------------- */

/* A certificate for pub named cn, issued by issuer_cn with signer. */
static struct m2m_cert *make_cert(const char *cn, const char *issuer_cn,
				  EVP_PKEY *pub, EVP_PKEY *signer, int ca)
{
	struct m2m_cert *cert = NULL;
	X509_NAME *subj = X509_NAME_new(), *iss = X509_NAME_new();
	X509 *x = X509_new();
	unsigned char *der = NULL;
	static long serial = 1000;
	X509_EXTENSION *ext = NULL;
	int len;

	if (!subj || !iss || !x)
		goto out;
	X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_ASC,
				   (const unsigned char *)issuer_cn, -1, -1, 0);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_set_subject_name(x, subj);
	X509_set_issuer_name(x, iss);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pub);
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
					  "critical,CA:TRUE");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (!X509_sign(x, signer, EVP_sha256()))
		goto out;
	len = i2d_X509(x, &der);
	if (len > 0)
		m2m_cert_parse(ctx, der, (size_t)len, &cert);
out:
	OPENSSL_free(der);
	X509_free(x);
	X509_NAME_free(subj);
	X509_NAME_free(iss);
	return cert;
}

/* The public key of the pkcs11-tool key with id, read with pkcs11-tool. */
static EVP_PKEY *tool_keygen(const char *id, const char *label)
{
	char cmd[1024], path[128];
	unsigned char der[2048];
	const unsigned char *p = der;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pub-%s.der", dir, id);
	snprintf(cmd, sizeof(cmd),
		 "pkcs11-tool --module '%s' --token-label " TOKEN
		 " --login --pin " PIN " --keypairgen --key-type EC:prime256v1"
		 " --id %s --label %s >/dev/null 2>&1 &&"
		 " pkcs11-tool --module '%s' --token-label " TOKEN
		 " --read-object --type pubkey --id %s -o '%s' >/dev/null 2>&1",
		 module, id, label, module, id, path);
	if (system(cmd) != 0)
		return NULL;
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	n = fread(der, 1, sizeof(der), f);
	fclose(f);
	return d2i_PUBKEY(NULL, &p, (long)n);
}

static int same_der(const struct m2m_cert *a, const struct m2m_cert *b)
{
	size_t na, nb;
	const uint8_t *da = m2m_cert_der(a, &na), *db = m2m_cert_der(b, &nb);

	return na == nb && memcmp(da, db, na) == 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	while (hay && (hay = strstr(hay, needle))) {
		n++;
		hay++;
	}
	return n;
}

UNIT_TEST(test_certificates)
{
	struct m2m_key *root_key = NULL, *inter_key = NULL, *other = NULL;
	struct m2m_cert *root = NULL, *inter = NULL, *leaf = NULL,
			*leaf2 = NULL, *wrong = NULL, **got = NULL;
	struct m2m_cert *chain[2];
	EVP_PKEY *dev = NULL, *dev2 = NULL;
	char u[256], *objs;
	size_t n = 0;

	if (!CHECK_MSG(module, "no libsofthsm2.so found"))
		return;
	dev = tool_keygen("20", "certkey");
	dev2 = tool_keygen("21", "certkey2");
	if (!CHECK_MSG(dev && dev2, "pkcs11-tool could not make the keys"))
		goto out;
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &root_key));
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &inter_key));
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &other));
	if (!root_key || !inter_key || !other)
		goto out;
	root = make_cert("Root", "Root", m2m_key_pkey(root_key),
			 m2m_key_pkey(root_key), 1);
	inter = make_cert("Issuing", "Root", m2m_key_pkey(inter_key),
			  m2m_key_pkey(root_key), 1);
	leaf = make_cert("device-20", "Issuing", dev, m2m_key_pkey(inter_key),
			 0);
	leaf2 = make_cert("device-20", "Issuing", dev, m2m_key_pkey(inter_key),
			  0);
	wrong = make_cert("device-x", "Issuing", m2m_key_pkey(other),
			  m2m_key_pkey(inter_key), 0);
	if (!CHECK(root && inter && leaf && leaf2 && wrong))
		goto out;
	chain[0] = inter;
	chain[1] = root;

	/* Nothing there yet. */
	uri(u, sizeof(u), "object=certkey");
	CHECK_FAILS(m2m_cert_load(ctx, u, &opts, &got, &n), M2M_ERR_NOT_FOUND,
		    "no certificate 'pkcs11:token=m2m-test;object=certkey' on token 'm2m-test'");

	/* A certificate that is not the key's: refused, nothing stored. */
	CHECK_FAILS(m2m_cert_store(ctx, u, wrong, chain, 2, &opts),
		    M2M_ERR_INVALID,
		    "certificate does not match the key 'pkcs11:token=m2m-test;object=certkey'");
	CHECK_FAILS(m2m_cert_load(ctx, u, &opts, &got, &n), M2M_ERR_NOT_FOUND,
		    "no certificate");
	objs = tool_objects();
	CHECK_EQ_INT(count(objs, "Certificate Object"), 0);
	free(objs);

	/* Leaf and chain, found by the label; the leaf gets the key's id. */
	CHECK_OK(m2m_cert_store(ctx, u, leaf, chain, 2, &opts));
	CHECK_OK(m2m_cert_load(ctx, u, &opts, &got, &n));
	if (CHECK_EQ_INT(n, 3)) {
		CHECK(same_der(got[0], leaf));
		CHECK(same_der(got[1], inter));
		CHECK(same_der(got[2], root));
	}
	m2m_cert_list_free(got, n);
	got = NULL;
	/* By id alone, without login (certificates are public). */
	{
		struct m2m_key_opts none = { 0 };

		CHECK_OK(m2m_cert_load(ctx, uri(u, sizeof(u), "id=%20"), &none,
				       &got, &n));
		CHECK_EQ_INT(n, 3);
		m2m_cert_list_free(got, n);
		got = NULL;
		uri(u, sizeof(u), "object=certkey");
	}
	objs = tool_objects();
	CHECK_EQ_INT(count(objs, "Certificate Object"), 3);
	CHECK_EQ_INT(count(objs, "ID:         20\n"), 3);	/* key pair, cert */
	free(objs);
	/* By label and id: the leaf is the one with the id, its chain too. */
	CHECK_OK(m2m_cert_load(ctx, uri(u, sizeof(u), "object=certkey;id=%20"),
			       &opts, &got, &n));
	if (CHECK_EQ_INT(n, 3))
		CHECK(same_der(got[0], leaf));
	m2m_cert_list_free(got, n);
	got = NULL;
	CHECK_FAILS(m2m_cert_load(ctx, uri(u, sizeof(u), "object=certkey;id=%21"),
				  &opts, &got, &n),
		    M2M_ERR_NOT_FOUND,
		    "no certificate 'pkcs11:token=m2m-test;object=certkey;id=");
	/* Stored by label and id: the key there checked, what is there kept. */
	uri(u, sizeof(u), "object=certkey;id=%20");
	CHECK_FAILS(m2m_cert_store(ctx, u, wrong, NULL, 0, &opts),
		    M2M_ERR_INVALID, "certificate does not match the key");
	CHECK_FAILS(m2m_cert_store(ctx, u, leaf2, NULL, 0, &opts),
		    M2M_ERR_DUPLICATE,
		    "a certificate 'pkcs11:token=m2m-test;object=certkey;id=");
	uri(u, sizeof(u), "object=certkey");

	/* Again: refused; with force: replaced, not added to. */
	CHECK_FAILS(m2m_cert_store(ctx, u, leaf2, chain, 2, &opts),
		    M2M_ERR_DUPLICATE,
		    "a certificate 'pkcs11:token=m2m-test;object=certkey' exists on token 'm2m-test'");
	/* A wrong one with force changes nothing either. */
	opts.force = 1;
	CHECK_FAILS(m2m_cert_store(ctx, u, wrong, NULL, 0, &opts),
		    M2M_ERR_INVALID, "certificate does not match the key");
	CHECK_OK(m2m_cert_load(ctx, u, &opts, &got, &n));
	if (CHECK_EQ_INT(n, 3))
		CHECK(same_der(got[0], leaf));
	m2m_cert_list_free(got, n);
	got = NULL;
	CHECK_OK(m2m_cert_store(ctx, u, leaf2, chain, 2, &opts));
	opts.force = 0;
	CHECK_OK(m2m_cert_load(ctx, u, &opts, &got, &n));
	if (CHECK_EQ_INT(n, 3)) {
		CHECK(same_der(got[0], leaf2));
		CHECK(same_der(got[1], inter));
		CHECK(same_der(got[2], root));
	}
	m2m_cert_list_free(got, n);
	got = NULL;
	objs = tool_objects();
	CHECK_EQ_INT(count(objs, "Certificate Object"), 3);
	free(objs);

	/* The other key, no certificate: a mismatch leaves it without. */
	uri(u, sizeof(u), "object=certkey2");
	CHECK_FAILS(m2m_cert_store(ctx, u, leaf, NULL, 0, &opts),
		    M2M_ERR_INVALID, "certificate does not match the key");
	CHECK_FAILS(m2m_cert_load(ctx, u, &opts, &got, &n), M2M_ERR_NOT_FOUND,
		    "no certificate");
	/* Removing a key leaves its certificate (only key objects go). */
	CHECK_OK(m2m_key_remove(ctx, uri(u, sizeof(u), "object=certkey"),
				&opts));
	objs = tool_objects();
	CHECK_EQ_INT(count(objs, "Certificate Object"), 3);
	CHECK_EQ_INT(count(objs, "ID:         20\n"), 1);
	free(objs);
out:
	m2m_cert_list_free(got, n);
	m2m_cert_free(root);
	m2m_cert_free(inter);
	m2m_cert_free(leaf);
	m2m_cert_free(leaf2);
	m2m_cert_free(wrong);
	m2m_key_free(root_key);
	m2m_key_free(inter_key);
	m2m_key_free(other);
	EVP_PKEY_free(dev);
	EVP_PKEY_free(dev2);
}

/* Certificate objects on the token whose listing names label. */
static size_t certs_labelled(const char *label)
{
	char *objs = tool_objects(), want[128];
	const char *at = objs;
	size_t n = 0;

	snprintf(want, sizeof(want), "label:      %s\n", label);
	/* Each object's block starts with its type line. */
	while (at && (at = strstr(at, "Certificate Object"))) {
		const char *next = strstr(at + 18, " Object;");
		const char *hit = strstr(at, want);

		if (hit && (!next || hit < next))
			n++;
		at++;
	}
	free(objs);
	return n;
}

UNIT_TEST(test_certificate_remove)
{
	struct m2m_key *ca_key = NULL;
	struct m2m_cert *ca = NULL, *leaf = NULL, **got = NULL;
	EVP_PKEY *dev = NULL, *dev2 = NULL;
	char u[256];
	size_t n = 0;

	if (!CHECK_MSG(module, "no libsofthsm2.so found"))
		return;
	dev = tool_keygen("40", "rmkey");
	dev2 = tool_keygen("41", "rmkey2");
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &ca_key));
	if (!CHECK(dev && dev2 && ca_key))
		goto out;
	ca = make_cert("RM CA", "RM CA", m2m_key_pkey(ca_key),
		       m2m_key_pkey(ca_key), 1);
	leaf = make_cert("device-40", "RM CA", dev, m2m_key_pkey(ca_key), 0);
	if (!CHECK(ca && leaf))
		goto out;

	/* By label: the certificate and its chain go, the key stays. */
	uri(u, sizeof(u), "object=rmkey");
	CHECK_OK(m2m_cert_store(ctx, u, leaf, &ca, 1, &opts));
	CHECK_EQ_INT(certs_labelled("rmkey"), 2);
	CHECK_OK(m2m_cert_remove(ctx, u, &opts));
	CHECK_EQ_INT(certs_labelled("rmkey"), 0);
	CHECK_FAILS(m2m_cert_load(ctx, u, &opts, &got, &n), M2M_ERR_NOT_FOUND,
		    "no certificate");
	CHECK_FAILS(m2m_cert_remove(ctx, u, &opts), M2M_ERR_NOT_FOUND,
		    "no certificate 'pkcs11:token=m2m-test;object=rmkey' on token 'm2m-test'");
	{
		struct m2m_key *k = NULL;

		CHECK_OK(m2m_key_load(ctx, u, &opts, &k));
		m2m_key_free(k);
	}

	/* By id: found, and the chain under its label goes with it. */
	CHECK_OK(m2m_cert_store(ctx, u, leaf, &ca, 1, &opts));
	CHECK_OK(m2m_cert_remove(ctx, uri(u, sizeof(u), "id=%40"), &opts));
	CHECK_EQ_INT(certs_labelled("rmkey"), 0);

	/* Names nothing: refused. */
	CHECK_FAILS(m2m_cert_remove(ctx, "pkcs11:token=" TOKEN, &opts),
		    M2M_ERR_USAGE, "names no certificate: give object= or id=");
out:
	m2m_cert_list_free(got, n);
	m2m_cert_free(ca);
	m2m_cert_free(leaf);
	m2m_key_free(ca_key);
	EVP_PKEY_free(dev);
	EVP_PKEY_free(dev2);
}

/* ---- set-up ------------------------------------------------------------------ */

static int setup(void)
{
	char path[128], conf[256];
	size_t i;

	strcpy(dir, "/tmp/m2m-p11.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	if (mkdir(path, 0700) < 0)
		return -1;
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		 "log.level = ERROR\nslots.removable = false\n", dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	if (write_file(path, conf) < 0 || setenv("SOFTHSM2_CONF", path, 1) < 0)
		return -1;
	snprintf(pin_src, sizeof(pin_src), "file:%s/pin", dir);
	snprintf(bad_pin_src, sizeof(bad_pin_src), "file:%s/badpin", dir);
	if (write_file(pin_src + 5, PIN "\n") < 0 ||
	    write_file(bad_pin_src + 5, "9999\n") < 0)
		return -1;
	opts.pin_source = pin_src;
	for (i = 0; i < UNIT_COUNT(module_paths); i++)
		if (access(module_paths[i], R_OK) == 0) {
			module = module_paths[i];
			break;
		}
	if (init_token(TOKEN) != 0 || init_token(OTHER) != 0)
		return -1;
	return 0;
}

int main(void)
{
	static const struct unit_test tests[] = {
		/* First: no session of this process is logged in yet. */
		UNIT(test_wrong_pin),
		UNIT(test_refusals),
		UNIT(test_certificates),
		UNIT(test_generate_and_load),
		UNIT(test_duplicate_force_remove),
		UNIT(test_module_path),
		UNIT(test_key_outlives_others),
		UNIT(test_certificate_remove),
	};
	int rc;

	if (!in_path("softhsm2-util") || !in_path("pkcs11-tool")) {
		printf("1..0 # SKIP softhsm2-util or pkcs11-tool is not installed\n");
		return 0;
	}
	if (setup() < 0) {
		printf("1..1\nnot ok 1 - set up a SoftHSM token in '%s': %s\n",
		       dir, strerror(errno));
		if (dir[7])
			unit_rm_rf(dir);
		return 1;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		fprintf(stderr, "cannot make a context\n");
		return 2;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return rc;
}
