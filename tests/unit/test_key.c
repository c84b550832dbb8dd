/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/key.h with the file back-end, in a temporary
 * directory: algorithm names, secret sources (and that secrets never show
 * in details), generating keys of every algorithm (mode, PEM form,
 * refusing to replace, no temporary files left), encrypted keys, file
 * URIs, loading keys libcrypto wrote (supported and unsupported ones),
 * the schemes this build does not have, ephemeral keys, the public DER and
 * its fingerprint, and certificates stored at and loaded from file
 * locations (chains, refusing to replace, malformed and missing files).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-key-XXXXXX";

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

/* The detail does not contain s (a secret). */
#define CHECK_NOT_IN_DETAIL(s) \
	CHECK_MSG(strstr(m2m_ctx_detail(ctx), (s)) == NULL, \
		  "detail \"%s\" shows \"%s\"", m2m_ctx_detail(ctx), (s))

/* ---- helpers ------------------------------------------------------------ */

/* dir/name into out. */
static const char *tmp_path(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

/* Write len bytes of data to dir/name (replacing it); 1 on success. */
static int put_file(const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f = fopen(tmp_path(path, name), "wb");
	int ok;

	if (!f)
		return 0;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

/* The contents of dir/name, NUL-terminated, into a malloc()ed buffer. */
static char *get_file(const char *name, size_t *len)
{
	char path[PATH_MAX];
	FILE *f = fopen(tmp_path(path, name), "rb");
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

static int put_str(const char *name, const char *s)
{
	return put_file(name, s, strlen(s));
}

static int file_exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return lstat(tmp_path(path, name), &st) == 0;
}

/* Number of entries in dir whose name contains ".tmp". */
static int temp_files(void)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, ".tmp") != NULL;
	closedir(d);
	return n;
}

/* Remove dir/name if there. */
static void rm(const char *name)
{
	char path[PATH_MAX];

	unlink(tmp_path(path, name));
}

/* Write pkey with libcrypto to dir/name as PEM PrivateKeyInfo. */
static int write_pkcs8(const char *name, EVP_PKEY *pkey)
{
	char path[PATH_MAX];
	FILE *f = fopen(tmp_path(path, name), "w");
	int ok;

	if (!f)
		return 0;
	ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	return fclose(f) == 0 && ok;
}

/* Write pkey in its traditional form ("EC PRIVATE KEY" ...). */
static int write_traditional(const char *name, EVP_PKEY *pkey,
			     const char *pass)
{
	char path[PATH_MAX];
	BIO *bio = BIO_new_file(tmp_path(path, name), "w");
	int ok;

	if (!bio)
		return 0;
	ok = PEM_write_bio_PrivateKey_traditional(
		     bio, pkey, pass ? EVP_aes_256_cbc() : NULL,
		     (unsigned char *)pass, pass ? (int)strlen(pass) : 0, NULL,
		     NULL) == 1;
	BIO_free(bio);
	return ok;
}

/* The DER SubjectPublicKeyInfo of pkey, as libcrypto writes it. */
static unsigned char *spki_of(EVP_PKEY *pkey, int *len)
{
	unsigned char *der = NULL;

	*len = i2d_PUBKEY(pkey, &der);
	return *len > 0 ? der : NULL;
}

/* The key's public DER equals that of the private key in dir/name. */
static void check_same_public(int line, const struct m2m_key *key,
			      const char *name, const char *pass)
{
	char path[PATH_MAX];
	unsigned char *der = NULL, *want = NULL;
	size_t len = 0;
	int wlen = 0;
	EVP_PKEY *pkey = NULL;
	BIO *bio = BIO_new_file(tmp_path(path, name), "r");

	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)pass);
	BIO_free(bio);
	unit_check(pkey != NULL, __FILE__, line, "libcrypto cannot read %s",
		   name);
	if (!pkey)
		return;
	want = spki_of(pkey, &wlen);
	if (unit_check(m2m_key_public_der(ctx, key, &der, &len) == M2M_OK,
		       __FILE__, line, "public der: %s", m2m_ctx_detail(ctx)))
		unit_check(want && len == (size_t)wlen &&
			   memcmp(der, want, len) == 0, __FILE__, line,
			   "public key of %s differs", name);
	free(der);
	OPENSSL_free(want);
	EVP_PKEY_free(pkey);
}
#define CHECK_SAME_PUBLIC(key, name, pass) \
	check_same_public(__LINE__, (key), (name), (pass))

/* ---- names ---------------------------------------------------------------- */

UNIT_TEST(alg_names_and_lookup)
{
	static const char *const names[] = {
		"ec-p256", "ec-p384", "rsa2048", "rsa3072", "ed25519"
	};
	int i;

	CHECK_EQ_INT(M2M_KEY_ALG_COUNT, 5);
	CHECK_EQ_INT(M2M_KEY_EC_P256, 0);
	for (i = 0; i < M2M_KEY_ALG_COUNT; i++) {
		CHECK_EQ_STR(m2m_key_alg_name((enum m2m_key_alg)i), names[i]);
		CHECK_EQ_INT(m2m_key_alg_lookup(names[i]), i);
	}
	CHECK(m2m_key_alg_name(M2M_KEY_ALG_COUNT) == NULL);
	CHECK(m2m_key_alg_name((enum m2m_key_alg)-1) == NULL);
	CHECK(m2m_key_alg_name((enum m2m_key_alg)1000) == NULL);
	CHECK_EQ_INT(m2m_key_alg_lookup("EC-P256"), M2M_KEY_EC_P256);
	CHECK_EQ_INT(m2m_key_alg_lookup("Ec-P384"), M2M_KEY_EC_P384);
	CHECK_EQ_INT(m2m_key_alg_lookup("RSA3072"), M2M_KEY_RSA3072);
	CHECK_EQ_INT(m2m_key_alg_lookup("ED25519"), M2M_KEY_ED25519);
	CHECK_EQ_INT(m2m_key_alg_lookup(""), -1);
	CHECK_EQ_INT(m2m_key_alg_lookup("ec-p521"), -1);
	CHECK_EQ_INT(m2m_key_alg_lookup("rsa"), -1);
	CHECK_EQ_INT(m2m_key_alg_lookup("rsa1024"), -1);
	CHECK_EQ_INT(m2m_key_alg_lookup("ec-p256 "), -1);
	CHECK_EQ_INT(m2m_key_alg_lookup("ed448"), -1);
}

/* ---- secrets ---------------------------------------------------------------- */

UNIT_TEST(secret_pass_source)
{
	char buf[16];
	size_t len = 99;

	CHECK_OK(m2m_secret_read(ctx, "pass:hunter2", buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "hunter2");
	CHECK_EQ_INT(len, 7);
	/* empty, and a secret with a colon and spaces */
	CHECK_OK(m2m_secret_read(ctx, "pass:", buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(len, 0);
	CHECK_OK(m2m_secret_read(ctx, "pass:a b:c", buf, sizeof(buf), NULL));
	CHECK_EQ_STR(buf, "a b:c");
	/* exactly fits: 15 characters and the NUL */
	CHECK_OK(m2m_secret_read(ctx, "pass:123456789012345", buf, sizeof(buf),
				 &len));
	CHECK_EQ_INT(len, 15);
	/* one more does not */
	CHECK_FAILS(m2m_secret_read(ctx, "pass:1234567890123456", buf,
				    sizeof(buf), &len), M2M_ERR_INVALID,
		    "longer than 15 bytes");
	CHECK_NOT_IN_DETAIL("1234567890123456");
	CHECK_EQ_INT(len, 0);
	/* no room at all */
	CHECK_FAILS(m2m_secret_read(ctx, "pass:x", buf, 0, &len),
		    M2M_ERR_USAGE, "no room");
}

UNIT_TEST(secret_env_source_set_and_unset)
{
	char buf[32], big[300];
	size_t len = 0;

	CHECK_EQ_INT(setenv("M2M_TEST_SECRET", "env-s3cret", 1), 0);
	CHECK_OK(m2m_secret_read(ctx, "env:M2M_TEST_SECRET", buf, sizeof(buf),
				 &len));
	CHECK_EQ_STR(buf, "env-s3cret");
	CHECK_EQ_INT(len, 10);
	/* set but empty */
	CHECK_EQ_INT(setenv("M2M_TEST_SECRET", "", 1), 0);
	CHECK_OK(m2m_secret_read(ctx, "env:M2M_TEST_SECRET", buf, sizeof(buf),
				 &len));
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(len, 0);
	/* too long: the detail names the variable, not the value */
	memset(big, 'Q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ_INT(setenv("M2M_TEST_SECRET", big, 1), 0);
	CHECK_FAILS(m2m_secret_read(ctx, "env:M2M_TEST_SECRET", buf,
				    sizeof(buf), &len), M2M_ERR_INVALID,
		    "M2M_TEST_SECRET");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "longer than 31 bytes");
	CHECK_NOT_IN_DETAIL("QQQQ");
	/* unset */
	CHECK_EQ_INT(unsetenv("M2M_TEST_SECRET"), 0);
	CHECK_FAILS(m2m_secret_read(ctx, "env:M2M_TEST_SECRET", buf,
				    sizeof(buf), &len), M2M_ERR_NOT_FOUND,
		    "environment variable 'M2M_TEST_SECRET' is not set");
	CHECK_FAILS(m2m_secret_read(ctx, "env:", buf, sizeof(buf), &len),
		    M2M_ERR_INVALID, "names no variable");
}

UNIT_TEST(secret_file_source_first_line)
{
	char buf[32], path[PATH_MAX], src[PATH_MAX + 8], big[100];
	size_t len = 0;

	/* the first line, CRLF stripped */
	CHECK(put_file("s1", "line-one\r\nline-two\n", 19));
	snprintf(src, sizeof(src), "file:%s", tmp_path(path, "s1"));
	CHECK_OK(m2m_secret_read(ctx, src, buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "line-one");
	CHECK_EQ_INT(len, 8);
	/* LF only */
	CHECK(put_file("s1", "only\nsecond\n", 12));
	CHECK_OK(m2m_secret_read(ctx, src, buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "only");
	/* no line end at all */
	CHECK(put_file("s1", "no-newline", 10));
	CHECK_OK(m2m_secret_read(ctx, src, buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "no-newline");
	CHECK_EQ_INT(len, 10);
	/* an empty file: an empty secret */
	CHECK(put_file("s1", "", 0));
	CHECK_OK(m2m_secret_read(ctx, src, buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(len, 0);
	/* exactly 31 characters fit */
	memset(big, 'x', sizeof(big));
	big[31] = '\n';
	CHECK(put_file("s1", big, 32));
	CHECK_OK(m2m_secret_read(ctx, src, buf, sizeof(buf), &len));
	CHECK_EQ_INT(len, 31);
	/* a first line too long: INVALID, buffer wiped, secret not shown */
	memset(big, 'x', sizeof(big));
	memcpy(big, "TOPSECRET", 9);
	CHECK(put_file("s1", big, sizeof(big)));
	CHECK_FAILS(m2m_secret_read(ctx, src, buf, sizeof(buf), &len),
		    M2M_ERR_INVALID, "longer than 31 bytes");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "s1");
	CHECK_NOT_IN_DETAIL("TOPSECRET");
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(buf[0], 0);
	CHECK_EQ_INT(buf[20], 0);
	/* missing */
	snprintf(src, sizeof(src), "file:%s", tmp_path(path, "no-such"));
	CHECK_FAILS(m2m_secret_read(ctx, src, buf, sizeof(buf), &len),
		    M2M_ERR_IO, "cannot open");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "no-such");
	/* a directory cannot be read */
	snprintf(src, sizeof(src), "file:%s", dir);
	CHECK_FAILS(m2m_secret_read(ctx, src, buf, sizeof(buf), &len),
		    M2M_ERR_IO, "cannot read the secret");
	rm("s1");
}

UNIT_TEST(secret_fd_source_reads_a_pipe)
{
	char buf[32], src[32];
	size_t len = 0;
	int p[2];

	if (!CHECK(pipe(p) == 0))
		return;
	CHECK_EQ_INT(write(p[1], "pipe-secret\r\nrest\n", 18), 18);
	close(p[1]);
	snprintf(src, sizeof(src), "fd:%d", p[0]);
	CHECK_OK(m2m_secret_read(ctx, src, buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "pipe-secret");
	CHECK_EQ_INT(len, 11);
	/* the descriptor stays open, positioned after the first line */
	CHECK_OK(m2m_secret_read(ctx, src, buf, sizeof(buf), &len));
	CHECK_EQ_STR(buf, "rest");
	close(p[0]);
	/* now closed: cannot be read */
	CHECK_FAILS(m2m_secret_read(ctx, src, buf, sizeof(buf), &len),
		    M2M_ERR_IO, "cannot read the secret");
	CHECK_FAILS(m2m_secret_read(ctx, "fd:", buf, sizeof(buf), &len),
		    M2M_ERR_INVALID, "is not fd:NUMBER");
	CHECK_FAILS(m2m_secret_read(ctx, "fd:3x", buf, sizeof(buf), &len),
		    M2M_ERR_INVALID, "is not fd:NUMBER");
	CHECK_FAILS(m2m_secret_read(ctx, "fd:-1", buf, sizeof(buf), &len),
		    M2M_ERR_INVALID, "is not fd:NUMBER");
}

UNIT_TEST(secret_bare_string_is_invalid_and_not_shown)
{
	char buf[32];
	size_t len = 5;

	CHECK_FAILS(m2m_secret_read(ctx, "CorrectHorse42", buf, sizeof(buf),
				    &len), M2M_ERR_INVALID,
		    "must start with pass:, env:, file: or fd:");
	CHECK_NOT_IN_DETAIL("CorrectHorse42");
	CHECK_NOT_IN_DETAIL("Horse");
	CHECK_EQ_INT(len, 0);
	CHECK_FAILS(m2m_secret_read(ctx, "password:CorrectHorse42", buf,
				    sizeof(buf), &len), M2M_ERR_INVALID,
		    "must start with");
	CHECK_NOT_IN_DETAIL("Horse");
	CHECK_FAILS(m2m_secret_read(ctx, "", buf, sizeof(buf), &len),
		    M2M_ERR_INVALID, "must start with");
}

UNIT_TEST(secret_wipe_zeroes)
{
	char buf[8];
	size_t i;

	memcpy(buf, "secret!", 8);
	m2m_secret_wipe(buf, sizeof(buf));
	for (i = 0; i < sizeof(buf); i++)
		CHECK_EQ_INT(buf[i], 0);
}

/* ---- generating ---------------------------------------------------------- */

UNIT_TEST(generate_every_algorithm_mode_0600_pem_reload)
{
	static const int evp_ids[M2M_KEY_ALG_COUNT] = {
		EVP_PKEY_EC, EVP_PKEY_EC, EVP_PKEY_RSA, EVP_PKEY_RSA,
		EVP_PKEY_ED25519
	};
	static const int bits[M2M_KEY_ALG_COUNT] = { 256, 384, 2048, 3072, 256 };
	char path[PATH_MAX], name[32];
	struct m2m_key *key = NULL, *back = NULL;
	struct stat st;
	char *pem;
	size_t len;
	int a;

	for (a = 0; a < M2M_KEY_ALG_COUNT; a++) {
		snprintf(name, sizeof(name), "gen-%s.pem",
			 m2m_key_alg_name((enum m2m_key_alg)a));
		tmp_path(path, name);
		CHECK_OK(m2m_key_generate(ctx, path, (enum m2m_key_alg)a, NULL,
					  &key));
		if (!CHECK_MSG(key != NULL, "%s: no key", name))
			continue;
		CHECK_EQ_INT(m2m_key_get_alg(key), a);
		CHECK_EQ_STR(m2m_key_uri(key), path);
		CHECK_EQ_INT(stat(path, &st), 0);
		CHECK_MSG((st.st_mode & 07777) == 0600, "%s: mode %o", name,
			  (unsigned)(st.st_mode & 07777));
		CHECK(S_ISREG(st.st_mode));
		pem = get_file(name, &len);
		CHECK_MSG(pem && strncmp(pem, "-----BEGIN PRIVATE KEY-----\n",
					 28) == 0, "%s: not PEM PRIVATE KEY",
			  name);
		CHECK(pem && strstr(pem, "-----END PRIVATE KEY-----\n"));
		free(pem);
		CHECK_SAME_PUBLIC(key, name, NULL);
		/* libcrypto agrees on the type and size */
		{
			unsigned char *der = NULL;
			const unsigned char *p;
			size_t dlen = 0;
			EVP_PKEY *pub = NULL;

			CHECK_OK(m2m_key_public_der(ctx, key, &der, &dlen));
			p = der;
			if (der)
				pub = d2i_PUBKEY(NULL, &p, (long)dlen);
			if (CHECK_MSG(pub != NULL, "%s: d2i_PUBKEY", name)) {
				CHECK(p == der + dlen);
				CHECK_EQ_INT(EVP_PKEY_get_base_id(pub),
					     evp_ids[a]);
				CHECK_EQ_INT(EVP_PKEY_get_bits(pub), bits[a]);
			}
			EVP_PKEY_free(pub);
			free(der);
		}
		CHECK_OK(m2m_key_load(ctx, path, NULL, &back));
		if (back) {
			CHECK_EQ_INT(m2m_key_get_alg(back), a);
			CHECK_SAME_PUBLIC(back, name, NULL);
		}
		m2m_key_free(back);
		back = NULL;
		m2m_key_free(key);
		key = NULL;
		CHECK_EQ_INT(temp_files(), 0);
		rm(name);
	}
}

UNIT_TEST(generate_refuses_an_existing_file_unless_forced)
{
	char path[PATH_MAX];
	struct m2m_key_opts force = { .force = 1 };
	struct m2m_key *key = NULL;
	char *before, *after;
	size_t blen, alen;
	struct stat st;

	tmp_path(path, "exists.pem");
	CHECK_OK(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, NULL, &key));
	m2m_key_free(key);
	key = NULL;
	before = get_file("exists.pem", &blen);
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, NULL, &key),
		    M2M_ERR_DUPLICATE, "exists already");
	CHECK(key == NULL);
	after = get_file("exists.pem", &alen);
	CHECK(before && after && blen == alen && memcmp(before, after, blen) == 0);
	free(after);
	CHECK_EQ_INT(temp_files(), 0);
	/* opts given, force 0: the same */
	force.force = 0;
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, &force, &key),
		    M2M_ERR_DUPLICATE, "exists already");
	/* any file, not only a key */
	CHECK(put_file("other.txt", "not a key\n", 10));
	CHECK_FAILS(m2m_key_generate(ctx, tmp_path(path, "other.txt"),
				     M2M_KEY_EC_P256, NULL, &key),
		    M2M_ERR_DUPLICATE, "exists already");
	after = get_file("other.txt", &alen);
	CHECK_EQ_STR(after, "not a key\n");
	free(after);
	rm("other.txt");
	/* forced: replaced by a new key, still 0600 */
	force.force = 1;
	CHECK_OK(m2m_key_generate(ctx, tmp_path(path, "exists.pem"),
				  M2M_KEY_EC_P256, &force, &key));
	after = get_file("exists.pem", &alen);
	CHECK(before && after && (blen != alen || memcmp(before, after, blen)));
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	if (key)
		CHECK_SAME_PUBLIC(key, "exists.pem", NULL);
	CHECK_EQ_INT(temp_files(), 0);
	free(before);
	free(after);
	m2m_key_free(key);
	rm("exists.pem");
}

UNIT_TEST(generate_does_not_follow_a_symbolic_link)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct m2m_key_opts force = { .force = 1 };
	struct m2m_key *key = NULL;
	struct stat st;
	char *victim;
	size_t len;

	CHECK(put_file("victim.txt", "precious\n", 9));
	CHECK_EQ_INT(symlink(tmp_path(target, "victim.txt"),
			     tmp_path(path, "link.pem")), 0);
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, NULL, &key),
		    M2M_ERR_DUPLICATE, "exists already");
	CHECK_OK(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, &force, &key));
	victim = get_file("victim.txt", &len);
	CHECK_EQ_STR(victim, "precious\n");
	free(victim);
	CHECK_EQ_INT(lstat(path, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	m2m_key_free(key);
	rm("link.pem");
	rm("victim.txt");
	CHECK_EQ_INT(temp_files(), 0);
}

UNIT_TEST(generate_failures_leave_no_file)
{
	char path[PATH_MAX];
	struct m2m_key_opts o = { .pass_source = "pass:abc" };
	struct m2m_key *key = NULL;

	tmp_path(path, "nodir/k.pem");
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, NULL, &key),
		    M2M_ERR_IO, "cannot create");
	CHECK(key == NULL);
	tmp_path(path, "short.pem");
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, &o, &key),
		    M2M_ERR_INVALID, "shorter than 4 characters");
	CHECK_NOT_IN_DETAIL("abc");
	CHECK(!file_exists("short.pem"));
	o.pass_source = "abcdefgh";
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, &o, &key),
		    M2M_ERR_INVALID, "must start with");
	CHECK(!file_exists("short.pem"));
	o.pass_source = "env:M2M_TEST_NO_SUCH_VARIABLE";
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, &o, &key),
		    M2M_ERR_NOT_FOUND, "is not set");
	CHECK(!file_exists("short.pem"));
	CHECK_FAILS(m2m_key_generate(ctx, path, M2M_KEY_ALG_COUNT, NULL, &key),
		    M2M_ERR_USAGE, "unknown key algorithm");
	CHECK(!file_exists("short.pem"));
	CHECK_FAILS(m2m_key_generate(ctx, "", M2M_KEY_EC_P256, NULL, &key),
		    M2M_ERR_INVALID, "empty key location");
	CHECK_EQ_INT(temp_files(), 0);
}

/* ---- encrypted keys -------------------------------------------------------- */

UNIT_TEST(encrypted_key_needs_the_right_passphrase)
{
	char path[PATH_MAX];
	struct m2m_key_opts gen = { .pass_source = "pass:correct horse" };
	struct m2m_key_opts wrong = { .pass_source = "pass:battery staple" };
	struct m2m_key_opts bad = { .pass_source = "staple" };
	struct m2m_key *key = NULL, *back = NULL;
	char *pem;
	size_t len;
	struct stat st;

	tmp_path(path, "enc.pem");
	CHECK_OK(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, &gen, &key));
	pem = get_file("enc.pem", &len);
	CHECK(pem && strncmp(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
			     38) == 0);
	CHECK(pem && !strstr(pem, "correct horse"));
	free(pem);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);
	/* libcrypto decrypts it with the passphrase */
	if (key)
		CHECK_SAME_PUBLIC(key, "enc.pem", "correct horse");

	CHECK_OK(m2m_key_load(ctx, path, &gen, &back));
	CHECK(back && m2m_key_get_alg(back) == M2M_KEY_EC_P256);
	if (back)
		CHECK_SAME_PUBLIC(back, "enc.pem", "correct horse");
	m2m_key_free(back);
	back = NULL;

	CHECK_FAILS(m2m_key_load(ctx, path, &wrong, &back), M2M_ERR_INVALID,
		    "wrong passphrase for");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "enc.pem");
	CHECK_NOT_IN_DETAIL("battery");
	CHECK_NOT_IN_DETAIL("battery");
	CHECK_NOT_IN_DETAIL("horse");
	CHECK(back == NULL);
	CHECK_FAILS(m2m_key_load(ctx, path, NULL, &back), M2M_ERR_INVALID,
		    "is encrypted");
	CHECK(back == NULL);
	CHECK_FAILS(m2m_key_load(ctx, path, &bad, &back), M2M_ERR_INVALID,
		    "must start with");
	CHECK_NOT_IN_DETAIL("staple");
	/* from the environment and from a file */
	CHECK_EQ_INT(setenv("M2M_TEST_KEYPASS", "correct horse", 1), 0);
	gen.pass_source = "env:M2M_TEST_KEYPASS";
	CHECK_OK(m2m_key_load(ctx, path, &gen, &back));
	m2m_key_free(back);
	back = NULL;
	unsetenv("M2M_TEST_KEYPASS");
	m2m_key_free(key);
	key = NULL;
	rm("enc.pem");
	/* a passphrase for a key that has none does no harm */
	gen.pass_source = NULL;
	tmp_path(path, "plain.pem");
	CHECK_OK(m2m_key_generate(ctx, path, M2M_KEY_EC_P256, &gen, &key));
	gen.pass_source = "pass:unused passphrase";
	CHECK_OK(m2m_key_load(ctx, path, &gen, &back));
	m2m_key_free(back);
	m2m_key_free(key);
	rm("plain.pem");
}

UNIT_TEST(traditional_pem_keys_plain_and_encrypted)
{
	char path[PATH_MAX];
	struct m2m_key_opts right = { .pass_source = "pass:trad-pass" };
	struct m2m_key_opts wrong = { .pass_source = "pass:nope-nope" };
	struct m2m_key *key = NULL;
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char *pem;
	size_t len;

	if (!CHECK(pk))
		return;
	CHECK(write_traditional("trad.pem", pk, NULL));
	pem = get_file("trad.pem", &len);
	CHECK(pem && strncmp(pem, "-----BEGIN EC PRIVATE KEY-----", 30) == 0);
	free(pem);
	CHECK_OK(m2m_key_load(ctx, tmp_path(path, "trad.pem"), NULL, &key));
	CHECK(key && m2m_key_get_alg(key) == M2M_KEY_EC_P256);
	m2m_key_free(key);
	key = NULL;

	CHECK(write_traditional("trad-enc.pem", pk, "trad-pass"));
	pem = get_file("trad-enc.pem", &len);
	CHECK(pem && strstr(pem, "Proc-Type: 4,ENCRYPTED"));
	free(pem);
	tmp_path(path, "trad-enc.pem");
	CHECK_OK(m2m_key_load(ctx, path, &right, &key));
	if (key)
		CHECK_SAME_PUBLIC(key, "trad-enc.pem", "trad-pass");
	m2m_key_free(key);
	key = NULL;
	CHECK_FAILS(m2m_key_load(ctx, path, &wrong, &key), M2M_ERR_INVALID,
		    "wrong passphrase for");
	CHECK_FAILS(m2m_key_load(ctx, path, NULL, &key), M2M_ERR_INVALID,
		    "is encrypted");
	EVP_PKEY_free(pk);
	rm("trad.pem");
	rm("trad-enc.pem");
}

/* ---- locations -------------------------------------------------------------- */

UNIT_TEST(file_uri_forms)
{
	char path[PATH_MAX], uri[PATH_MAX + 64];
	struct m2m_key *key = NULL, *back = NULL;

	tmp_path(path, "key one.pem");
	snprintf(uri, sizeof(uri), "file:%s", path);
	CHECK_OK(m2m_key_generate(ctx, uri, M2M_KEY_EC_P256, NULL, &key));
	CHECK(key && strcmp(m2m_key_uri(key), uri) == 0);
	CHECK(file_exists("key one.pem"));

	snprintf(uri, sizeof(uri), "file://%s/key%%20one.pem", dir);
	CHECK_OK(m2m_key_load(ctx, uri, NULL, &back));
	CHECK(back && strcmp(m2m_key_uri(back), uri) == 0);
	if (back)
		CHECK_SAME_PUBLIC(back, "key one.pem", NULL);
	m2m_key_free(back);
	back = NULL;

	snprintf(uri, sizeof(uri), "file://localhost%s/key%%20one.pem", dir);
	CHECK_OK(m2m_key_load(ctx, uri, NULL, &back));
	m2m_key_free(back);
	back = NULL;

	snprintf(uri, sizeof(uri), "file:%s/key%%20%%6Fne.pem", dir);
	CHECK_OK(m2m_key_load(ctx, uri, NULL, &back));
	m2m_key_free(back);
	back = NULL;

	/* a bare path, as it is (no %-decoding) */
	CHECK_OK(m2m_key_load(ctx, path, NULL, &back));
	m2m_key_free(back);
	back = NULL;

	CHECK_FAILS(m2m_key_load(ctx, "file://otherhost/x.pem", NULL, &back),
		    M2M_ERR_INVALID, "only local file URIs");
	snprintf(uri, sizeof(uri), "file://%s/key%%20one.pem?x=1", dir);
	CHECK_FAILS(m2m_key_load(ctx, uri, NULL, &back), M2M_ERR_INVALID,
		    "no query or fragment");
	snprintf(uri, sizeof(uri), "file://%s/key%%20one.pem#frag", dir);
	CHECK_FAILS(m2m_key_load(ctx, uri, NULL, &back), M2M_ERR_INVALID,
		    "no query or fragment");
	snprintf(uri, sizeof(uri), "file://%s/key%%2one.pem", dir);
	CHECK_FAILS(m2m_key_load(ctx, uri, NULL, &back), M2M_ERR_INVALID,
		    "bad %-escape");
	snprintf(uri, sizeof(uri), "file://%s/key%%00.pem", dir);
	CHECK_FAILS(m2m_key_load(ctx, uri, NULL, &back), M2M_ERR_INVALID,
		    "bad %-escape");
	CHECK_FAILS(m2m_key_load(ctx, "file:", NULL, &back), M2M_ERR_INVALID,
		    "names no file");
	CHECK_FAILS(m2m_key_load(ctx, "", NULL, &back), M2M_ERR_INVALID,
		    "empty key location");
	/* generate refuses them too, and makes nothing */
	CHECK_FAILS(m2m_key_generate(ctx, "file://otherhost/x.pem",
				     M2M_KEY_EC_P256, NULL, &back),
		    M2M_ERR_INVALID, "only local file URIs");
	snprintf(uri, sizeof(uri), "file://%s/q.pem?x=1", dir);
	CHECK_FAILS(m2m_key_generate(ctx, uri, M2M_KEY_EC_P256, NULL, &back),
		    M2M_ERR_INVALID, "no query or fragment");
	CHECK(!file_exists("q.pem"));
	CHECK(!file_exists("q.pem?x=1"));
	CHECK(back == NULL);
	m2m_key_free(key);
	rm("key one.pem");
}

UNIT_TEST(load_missing_public_garbage_and_directory)
{
	char path[PATH_MAX], uri[PATH_MAX + 16];
	struct m2m_key *key = NULL;
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FILE *f;

	CHECK_FAILS(m2m_key_load(ctx, tmp_path(path, "missing.pem"), NULL,
				 &key), M2M_ERR_NOT_FOUND, "missing.pem");
	CHECK(key == NULL);
	snprintf(uri, sizeof(uri), "file://%s", path);
	CHECK_FAILS(m2m_key_load(ctx, uri, NULL, &key), M2M_ERR_NOT_FOUND,
		    "missing.pem");

	/* a public key only */
	f = fopen(tmp_path(path, "pub.pem"), "w");
	CHECK(f && pk && PEM_write_PUBKEY(f, pk) == 1);
	if (f)
		fclose(f);
	CHECK_FAILS(m2m_key_load(ctx, path, NULL, &key), M2M_ERR_INVALID,
		    "holds no private key");
	CHECK(key == NULL);
	m2m_key_free(key);
	key = NULL;

	CHECK(put_file("garbage.pem", "this is not a key\n", 18));
	CHECK_FAILS(m2m_key_load(ctx, tmp_path(path, "garbage.pem"), NULL,
				 &key), M2M_ERR_INVALID,
		    "holds no private key");
	CHECK(put_str("garbage.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n"
		      "-----END PRIVATE KEY-----\n"));
	CHECK_FAILS(m2m_key_load(ctx, path, NULL, &key), M2M_ERR_INVALID,
		    "holds no private key");
	CHECK(put_file("garbage.pem", "", 0));
	CHECK_FAILS(m2m_key_load(ctx, path, NULL, &key), M2M_ERR_INVALID,
		    "holds no private key");
	CHECK_FAILS(m2m_key_load(ctx, dir, NULL, &key), M2M_ERR_INVALID,
		    "Is a directory");
	CHECK(key == NULL);
	EVP_PKEY_free(pk);
	rm("pub.pem");
	rm("garbage.pem");
}

UNIT_TEST(token_and_tpm_not_there)
{
	struct m2m_key_opts nowhere = { 0 };
	struct m2m_key *key = NULL;

	/* The back-ends are tested against SoftHSM2 and swtpm in
	 * test_pkcs11.c and test_tpm2.c; here, what is not there. */
	CHECK_FAILS(m2m_key_load(ctx, "pkcs11:token=factory;object=idevid"
				 "?module-path=/nonexistent/m2m-test/p11.so",
				 NULL, &key), M2M_ERR_BACKEND,
		    "/nonexistent/m2m-test/p11.so");
	CHECK_FAILS(m2m_key_generate(ctx, "pkcs11:token=factory;object=x"
				     "?module-path=/nonexistent/m2m-test/p11.so",
				     M2M_KEY_EC_P256, NULL, &key),
		    M2M_ERR_BACKEND, "/nonexistent/m2m-test/p11.so");
	nowhere.tcti = "swtpm:path=/nonexistent/m2m-test/sock";
	CHECK_FAILS(m2m_key_load(ctx, "tpm2:handle=0x81020000", &nowhere,
				 &key), M2M_ERR_BACKEND,
		    "cannot reach the TPM at 'swtpm:path=/nonexistent/m2m-test/sock'");
	CHECK_FAILS(m2m_key_generate(ctx, "tpm2:handle=0x81020000",
				     M2M_KEY_EC_P256, &nowhere, &key),
		    M2M_ERR_BACKEND, "cannot reach the TPM");
	CHECK(key == NULL);
}

/* ---- keys libcrypto made ----------------------------------------------------- */

/* Load a key libcrypto wrote: OK with alg, or fails with code and phrase. */
static void check_foreign(int line, EVP_PKEY *pk, const char *name,
			  enum m2m_err code, int alg, const char *phrase)
{
	char path[PATH_MAX];
	struct m2m_key *key = NULL;
	enum m2m_err rc;

	if (!unit_check(pk && write_pkcs8(name, pk), __FILE__, line,
			"cannot make %s", name)) {
		EVP_PKEY_free(pk);
		return;
	}
	m2m_ctx_clear_error(ctx);
	rc = m2m_key_load(ctx, tmp_path(path, name), NULL, &key);
	unit_check(rc == code, __FILE__, line, "%s: got %s (%s), want %s",
		   name, m2m_strerror(rc), m2m_ctx_detail(ctx),
		   m2m_strerror(code));
	if (rc == M2M_OK && key) {
		unit_check((int)m2m_key_get_alg(key) == alg, __FILE__, line,
			   "%s: algorithm %d, want %d", name,
			   (int)m2m_key_get_alg(key), alg);
		check_same_public(line, key, name, NULL);
	}
	if (phrase)
		unit_check(strstr(m2m_ctx_detail(ctx), phrase) != NULL,
			   __FILE__, line, "%s: detail \"%s\" lacks \"%s\"",
			   name, m2m_ctx_detail(ctx), phrase);
	unit_check(rc == M2M_OK || key == NULL, __FILE__, line,
		   "%s: a key on failure", name);
	m2m_key_free(key);
	EVP_PKEY_free(pk);
	rm(name);
}
#define CHECK_FOREIGN(pk, name, code, alg, phrase) \
	check_foreign(__LINE__, (pk), (name), (code), (alg), (phrase))

UNIT_TEST(keys_made_by_libcrypto_supported_and_not)
{
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "p256.pem",
		      M2M_OK, M2M_KEY_EC_P256, NULL);
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "p384.pem",
		      M2M_OK, M2M_KEY_EC_P384, NULL);
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), "ed.pem",
		      M2M_OK, M2M_KEY_ED25519, NULL);
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"), "p521.pem",
		      M2M_ERR_UNSUPPORTED, -1, "is not supported");
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"),
		      "k1.pem", M2M_ERR_UNSUPPORTED, -1, "secp256k1");
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024),
		      "rsa1024.pem", M2M_ERR_UNSUPPORTED, -1,
		      "RSA key of 1024 bits is not supported");
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "ED448"), "ed448.pem",
		      M2M_ERR_UNSUPPORTED, -1, "ED448");
	CHECK_FOREIGN(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), "x25519.pem",
		      M2M_ERR_UNSUPPORTED, -1, "is not supported");
}

/* ---- memory keys and public DER ------------------------------------------------ */

UNIT_TEST(ephemeral_keys)
{
	static const enum m2m_key_alg algs[] = {
		M2M_KEY_EC_P256, M2M_KEY_EC_P384, M2M_KEY_ED25519
	};
	struct m2m_key *key = NULL, *other = NULL;
	unsigned char *der = NULL, *der2 = NULL;
	const unsigned char *p;
	size_t len = 0, len2 = 0, i;
	EVP_PKEY *pub;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		CHECK_OK(m2m_key_new_ephemeral(ctx, algs[i], &key));
		if (!CHECK(key))
			continue;
		CHECK_EQ_STR(m2m_key_uri(key), "memory:");
		CHECK_EQ_INT(m2m_key_get_alg(key), algs[i]);
		CHECK_OK(m2m_key_public_der(ctx, key, &der, &len));
		p = der;
		pub = der ? d2i_PUBKEY(NULL, &p, (long)len) : NULL;
		CHECK(pub != NULL);
		CHECK(p == der + len);
		EVP_PKEY_free(pub);
		/* a second one is another key */
		CHECK_OK(m2m_key_new_ephemeral(ctx, algs[i], &other));
		if (other)
			CHECK_OK(m2m_key_public_der(ctx, other, &der2, &len2));
		CHECK(der && der2 && (len != len2 || memcmp(der, der2, len)));
		free(der);
		free(der2);
		der = der2 = NULL;
		m2m_key_free(other);
		m2m_key_free(key);
		other = key = NULL;
	}
	CHECK_FAILS(m2m_key_new_ephemeral(ctx, M2M_KEY_ALG_COUNT, &key),
		    M2M_ERR_USAGE, "unknown key algorithm");
	CHECK(key == NULL);
	m2m_key_free(NULL);
	CHECK_EQ_INT(temp_files(), 0);
}

UNIT_TEST(public_der_is_a_subject_public_key_info)
{
	/* P-256 SPKI: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING } */
	static const unsigned char prefix[] = {
		0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
		0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
		0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04
	};
	/* Ed25519 SPKI: SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING } */
	static const unsigned char ed_prefix[] = {
		0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03,
		0x21, 0x00
	};
	struct m2m_key *key = NULL;
	unsigned char *der = NULL;
	size_t len = 0;

	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &key));
	if (key)
		CHECK_OK(m2m_key_public_der(ctx, key, &der, &len));
	if (CHECK_EQ_INT(len, 91))
		CHECK_EQ_MEM(der, prefix, sizeof(prefix));
	free(der);
	der = NULL;
	m2m_key_free(key);
	key = NULL;
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_ED25519, &key));
	if (key)
		CHECK_OK(m2m_key_public_der(ctx, key, &der, &len));
	if (CHECK_EQ_INT(len, 44))
		CHECK_EQ_MEM(der, ed_prefix, sizeof(ed_prefix));
	free(der);
	m2m_key_free(key);
}

UNIT_TEST(fingerprint_is_sha256_of_the_public_der)
{
	struct m2m_key *key = NULL;
	unsigned char *der = NULL, md[32];
	char fp[M2M_KEY_FINGERPRINT_HEX], want[65];
	size_t len = 0, i;

	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P384, &key));
	if (!CHECK(key))
		return;
	CHECK_OK(m2m_key_public_der(ctx, key, &der, &len));
	CHECK_OK(m2m_key_fingerprint(ctx, key, fp));
	if (CHECK(der && EVP_Digest(der, len, md, NULL, EVP_sha256(), NULL))) {
		for (i = 0; i < 32; i++)
			snprintf(want + 2 * i, 3, "%02x", md[i]);
		CHECK_EQ_STR(fp, want);
	}
	free(der);
	m2m_key_free(key);
}

/* ---- certificates at file locations ------------------------------------------- */

/*
 * A self-signed certificate for a new P-256 key with subject CN=cn, made
 * with libcrypto; NULL on failure.
 */
static struct m2m_cert *make_cert(const char *cn)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	struct m2m_cert *cert = NULL;
	unsigned char *der = NULL;
	int n = -1;

	if (pk && x && ASN1_INTEGER_set(X509_get_serialNumber(x), 7) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) &&
	    X509_set_issuer_name(x, name) && X509_set_pubkey(x, pk) &&
	    X509_sign(x, pk, EVP_sha256()))
		n = i2d_X509(x, &der);
	if (n > 0 && m2m_cert_parse(ctx, der, (size_t)n, &cert) != M2M_OK)
		cert = NULL;
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(pk);
	return cert;
}

/* The PEM of cert, appended to buf[0..*len) (at most size bytes). */
static void append_pem(const struct m2m_cert *cert, char *buf, size_t size,
		       size_t *len)
{
	char *pem = NULL;
	size_t n = 0;

	if (m2m_cert_encode(ctx, cert, M2M_FORMAT_PEM, &pem, &n) == M2M_OK &&
	    *len + n < size) {
		memcpy(buf + *len, pem, n);
		*len += n;
		buf[*len] = '\0';
	}
	free(pem);
}

UNIT_TEST(cert_store_and_load_round_trip_with_chain)
{
	struct m2m_cert *cert = make_cert("device"), *ca = make_cert("issuer");
	struct m2m_cert *root = make_cert("root"), *chain[2];
	struct m2m_cert **list = NULL;
	char path[PATH_MAX], uri[PATH_MAX + 16], want[16384], *got;
	size_t n = 0, len = 0, wlen = 0;
	struct stat st;

	if (!CHECK(cert && ca && root))
		goto out;
	chain[0] = ca;
	chain[1] = root;
	snprintf(uri, sizeof(uri), "file:%s", tmp_path(path, "dev.pem"));
	CHECK_OK(m2m_cert_store(ctx, uri, cert, chain, 2, NULL));
	/* PEM, the certificate then the chain in order, mode 0644 */
	append_pem(cert, want, sizeof(want), &wlen);
	append_pem(ca, want, sizeof(want), &wlen);
	append_pem(root, want, sizeof(want), &wlen);
	got = get_file("dev.pem", &len);
	CHECK(got && len == wlen && memcmp(got, want, len) == 0);
	free(got);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
	CHECK_EQ_INT(temp_files(), 0);

	CHECK_OK(m2m_cert_load(ctx, uri, NULL, &list, &n));
	if (CHECK_EQ_INT(n, 3) && CHECK(list)) {
		CHECK_EQ_STR(m2m_cert_fingerprint(list[0]),
			     m2m_cert_fingerprint(cert));
		CHECK_EQ_STR(m2m_cert_fingerprint(list[1]),
			     m2m_cert_fingerprint(ca));
		CHECK_EQ_STR(m2m_cert_fingerprint(list[2]),
			     m2m_cert_fingerprint(root));
	}
	m2m_cert_list_free(list, n);
	list = NULL;

	/* a bare path and file:// name the same file */
	CHECK_OK(m2m_cert_load(ctx, path, NULL, &list, &n));
	CHECK_EQ_INT(n, 3);
	m2m_cert_list_free(list, n);
	list = NULL;
	snprintf(uri, sizeof(uri), "file://%s/dev%%2Epem", dir);
	CHECK_OK(m2m_cert_load(ctx, uri, NULL, &list, &n));
	CHECK_EQ_INT(n, 3);
	m2m_cert_list_free(list, n);
	list = NULL;

	/* no chain: one certificate */
	CHECK_OK(m2m_cert_store(ctx, tmp_path(path, "alone.pem"), cert, NULL,
				0, NULL));
	CHECK_OK(m2m_cert_load(ctx, path, NULL, &list, &n));
	if (CHECK_EQ_INT(n, 1))
		CHECK_EQ_STR(m2m_cert_fingerprint(list[0]),
			     m2m_cert_fingerprint(cert));
	m2m_cert_list_free(list, n);
	m2m_cert_list_free(NULL, 0);
	rm("dev.pem");
	rm("alone.pem");
out:
	m2m_cert_free(cert);
	m2m_cert_free(ca);
	m2m_cert_free(root);
}

UNIT_TEST(cert_store_refuses_an_existing_file_unless_forced)
{
	struct m2m_cert *a = make_cert("a"), *b = make_cert("b");
	struct m2m_cert **list = NULL;
	struct m2m_key_opts force = { .force = 1 };
	char path[PATH_MAX], *before, *after;
	size_t n = 0, blen = 0, alen = 0;

	if (!CHECK(a && b))
		goto out;
	tmp_path(path, "c.pem");
	CHECK_OK(m2m_cert_store(ctx, path, a, NULL, 0, NULL));
	before = get_file("c.pem", &blen);
	CHECK_FAILS(m2m_cert_store(ctx, path, b, NULL, 0, NULL),
		    M2M_ERR_DUPLICATE, "exists already");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), path);
	after = get_file("c.pem", &alen);
	CHECK(before && after && blen == alen &&
	      memcmp(before, after, blen) == 0);
	free(after);
	CHECK_EQ_INT(temp_files(), 0);

	CHECK_OK(m2m_cert_store(ctx, path, b, &a, 1, &force));
	CHECK_OK(m2m_cert_load(ctx, path, NULL, &list, &n));
	if (CHECK_EQ_INT(n, 2)) {
		CHECK_EQ_STR(m2m_cert_fingerprint(list[0]),
			     m2m_cert_fingerprint(b));
		CHECK_EQ_STR(m2m_cert_fingerprint(list[1]),
			     m2m_cert_fingerprint(a));
	}
	m2m_cert_list_free(list, n);
	free(before);
	CHECK_EQ_INT(temp_files(), 0);
	rm("c.pem");
out:
	m2m_cert_free(a);
	m2m_cert_free(b);
}

UNIT_TEST(cert_store_bad_locations_leave_nothing)
{
	struct m2m_cert *a = make_cert("a");
	struct m2m_cert *none[1] = { NULL };
	char path[PATH_MAX];

	if (!CHECK(a))
		return;
	CHECK_FAILS(m2m_cert_store(ctx, "file:", a, NULL, 0, NULL),
		    M2M_ERR_INVALID, "names no file");
	CHECK_FAILS(m2m_cert_store(ctx, "", a, NULL, 0, NULL),
		    M2M_ERR_INVALID, "empty");
	CHECK_FAILS(m2m_cert_store(ctx, "file://otherhost/c.pem", a, NULL, 0,
				   NULL), M2M_ERR_INVALID, "only local");
	CHECK_FAILS(m2m_cert_store(ctx, tmp_path(path, "no/such/c.pem"), a,
				   NULL, 0, NULL), M2M_ERR_IO, "no/such/c.pem");
	CHECK_FAILS(m2m_cert_store(ctx, tmp_path(path, "n.pem"), a, none, 1,
				   NULL), M2M_ERR_USAGE, "no certificate");
	CHECK(!file_exists("n.pem"));
	/* a directory is not replaced */
	CHECK_FAILS(m2m_cert_store(ctx, dir, a, NULL, 0, NULL),
		    M2M_ERR_DUPLICATE, "exists already");
	CHECK_EQ_INT(temp_files(), 0);
	m2m_cert_free(a);
}

/* Loading dir/name fails with code and a detail containing phrase. */
static void check_cert_load_fails(int line, const char *name,
				  enum m2m_err code, const char *phrase)
{
	char path[PATH_MAX];
	struct m2m_cert **list = NULL;
	size_t n = 99;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_cert_load(ctx, tmp_path(path, name), NULL, &list, &n);
	unit_check(rc == code, __FILE__, line, "%s: got %s (%s), want %s",
		   name, m2m_strerror(rc), m2m_ctx_detail(ctx),
		   m2m_strerror(code));
	unit_check(strstr(m2m_ctx_detail(ctx), phrase) != NULL, __FILE__, line,
		   "%s: detail \"%s\" lacks \"%s\"", name, m2m_ctx_detail(ctx),
		   phrase);
	unit_check(strstr(m2m_ctx_detail(ctx), name) != NULL, __FILE__, line,
		   "%s: detail \"%s\" does not name the file", name,
		   m2m_ctx_detail(ctx));
	unit_check(list == NULL && n == 0, __FILE__, line,
		   "%s: a list on failure", name);
	m2m_cert_list_free(list, n);
}
#define CHECK_CERT_LOAD_FAILS(name, code, phrase) \
	check_cert_load_fails(__LINE__, (name), (code), (phrase))

UNIT_TEST(cert_load_malformed_empty_and_missing)
{
	static const char key_pem[] =
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	struct m2m_cert *a = make_cert("a");
	struct m2m_cert **list = NULL;
	char pem[16384], buf[200000], path[PATH_MAX];
	const uint8_t *der;
	size_t len = 0, dlen = 0, n = 0, i, o;

	if (!CHECK(a))
		return;
	append_pem(a, pem, sizeof(pem), &len);
	der = m2m_cert_der(a, &dlen);

	CHECK_CERT_LOAD_FAILS("none.pem", M2M_ERR_NOT_FOUND,
			      "No such file or directory");
	CHECK(put_str("empty.pem", ""));
	CHECK_CERT_LOAD_FAILS("empty.pem", M2M_ERR_INVALID, "empty");
	CHECK(put_str("garbage.pem", "garbage\n"));
	CHECK_CERT_LOAD_FAILS("garbage.pem", M2M_ERR_INVALID,
			      "not a DER certificate");
	CHECK(put_str("key.pem", key_pem));
	CHECK_CERT_LOAD_FAILS("key.pem", M2M_ERR_INVALID,
			      "no CERTIFICATE block");
	/* cut short: no END line */
	CHECK(put_file("cut.pem", pem, len - 30));
	CHECK_CERT_LOAD_FAILS("cut.pem", M2M_ERR_INVALID,
			      "PEM block 1 is malformed");
	/* a good certificate, then a broken one */
	memcpy(buf, pem, len);
	memcpy(buf + len, pem, len);
	buf[len + 40] = '*';
	CHECK(put_file("second.pem", buf, 2 * len));
	CHECK_CERT_LOAD_FAILS("second.pem", M2M_ERR_INVALID, "PEM block 2");
	/* base64 that is not a certificate */
	CHECK(put_str("notcert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n"
		      "-----END CERTIFICATE-----\n"));
	CHECK_CERT_LOAD_FAILS("notcert.pem", M2M_ERR_INVALID, "certificate 1");
	/* DER with trailing bytes */
	memcpy(buf, der, dlen);
	buf[dlen] = 0;
	CHECK(put_file("trail.der", buf, dlen + 1));
	CHECK_CERT_LOAD_FAILS("trail.der", M2M_ERR_INVALID, "garbage after");
	/* seventeen certificates */
	for (i = 0, o = 0; i < 17; i++, o += len)
		memcpy(buf + o, pem, len);
	CHECK(put_file("many.pem", buf, o));
	CHECK_CERT_LOAD_FAILS("many.pem", M2M_ERR_INVALID,
			      "more than 16 certificates");
	/* larger than the cap: 6 x 200000 bytes */
	memset(buf, 'A', sizeof(buf));
	CHECK(put_file("big.pem", buf, sizeof(buf)));
	{
		FILE *f = fopen(tmp_path(path, "big.pem"), "ab");

		for (i = 0; f && i < 5; i++)
			fwrite(buf, 1, sizeof(buf), f);
		CHECK(f && fclose(f) == 0);
	}
	CHECK_CERT_LOAD_FAILS("big.pem", M2M_ERR_INVALID, "larger than");
	CHECK_CERT_LOAD_FAILS("", M2M_ERR_INVALID, "Is a directory");

	/* DER of one certificate; PEM with text and a key around it */
	CHECK(put_file("one.der", der, dlen));
	CHECK_OK(m2m_cert_load(ctx, tmp_path(path, "one.der"), NULL, &list,
			       &n));
	if (CHECK_EQ_INT(n, 1))
		CHECK_EQ_STR(m2m_cert_fingerprint(list[0]),
			     m2m_cert_fingerprint(a));
	m2m_cert_list_free(list, n);
	list = NULL;
	o = (size_t)snprintf(buf, sizeof(buf), "subject=CN = a\n%s", key_pem);
	memcpy(buf + o, pem, len);
	CHECK(put_file("mixed.pem", buf, o + len));
	CHECK_OK(m2m_cert_load(ctx, tmp_path(path, "mixed.pem"), NULL, &list,
			       &n));
	CHECK_EQ_INT(n, 1);
	m2m_cert_list_free(list, n);

	m2m_cert_free(a);
	rm("empty.pem");
	rm("garbage.pem");
	rm("key.pem");
	rm("cut.pem");
	rm("second.pem");
	rm("notcert.pem");
	rm("trail.der");
	rm("many.pem");
	rm("big.pem");
	rm("one.der");
	rm("mixed.pem");
}

/* ---- running ------------------------------------------------------------ */

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(alg_names_and_lookup),
		UNIT(secret_pass_source),
		UNIT(secret_env_source_set_and_unset),
		UNIT(secret_file_source_first_line),
		UNIT(secret_fd_source_reads_a_pipe),
		UNIT(secret_bare_string_is_invalid_and_not_shown),
		UNIT(secret_wipe_zeroes),
		UNIT(generate_every_algorithm_mode_0600_pem_reload),
		UNIT(generate_refuses_an_existing_file_unless_forced),
		UNIT(generate_does_not_follow_a_symbolic_link),
		UNIT(generate_failures_leave_no_file),
		UNIT(encrypted_key_needs_the_right_passphrase),
		UNIT(traditional_pem_keys_plain_and_encrypted),
		UNIT(file_uri_forms),
		UNIT(load_missing_public_garbage_and_directory),
		UNIT(token_and_tpm_not_there),
		UNIT(keys_made_by_libcrypto_supported_and_not),
		UNIT(ephemeral_keys),
		UNIT(public_der_is_a_subject_public_key_info),
		UNIT(fingerprint_is_sha256_of_the_public_der),
		UNIT(cert_store_and_load_round_trip_with_chain),
		UNIT(cert_store_refuses_an_existing_file_unless_forced),
		UNIT(cert_store_bad_locations_leave_nothing),
		UNIT(cert_load_malformed_empty_and_missing),
	};
	int rc;

	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a temporary directory: %s\n",
		       strerror(errno));
		return 1;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
		unit_rm_rf(dir);
		return 1;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return rc;
}
