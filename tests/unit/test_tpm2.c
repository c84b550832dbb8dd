/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the tpm2: back-end (lib/keystore/tpm2.c) against a real
 * software TPM: the binary starts its own swtpm on a UNIX socket in a
 * temporary directory (M2M_TCTI=swtpm:path=...) and stops it at exit; if
 * swtpm is not installed it reports one skipped test.  Covers locators
 * used for the wrong thing, an unreachable TPM, generating keys (the SRK
 * made on first use, P-256, P-384, RSA-2048), loading, refusing a handle
 * in use unless forced, removing, signing through the key's EVP_PKEY and a
 * CSR, certificates in NV indices (round trip, in use, too big, chains),
 * a cross-check with tpm2-tools when they are installed, and the time per
 * device.  Tests run in order and share the TPM's state.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#include "../../lib/internal.h"
#include "../../lib/keystore/extkey.h"
#include "../../lib/keystore/keystore.h"
#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-tpm2-XXXXXX";
static char sock_path[PATH_MAX], tcti[PATH_MAX + 16];
static pid_t swtpm_pid = -1;

#define KEY_URI		"tpm2:handle=0x81020000"
#define CERT_URI	"tpm2:nv=0x01C90000"

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

/* ---- the software TPM ---------------------------------------------------- */

/* Whether an executable name is on PATH. */
static int on_path(const char *name)
{
	const char *p = getenv("PATH");
	char path[PATH_MAX];

	while (p && *p) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);

		snprintf(path, sizeof(path), "%.*s/%s", (int)n, p, name);
		if (n && access(path, X_OK) == 0)
			return 1;
		p = colon ? colon + 1 : NULL;
	}
	return 0;
}

static void rm_tree(const char *d)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dh = opendir(d);

	if (!dh)
		return;
	while ((e = readdir(dh)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
		unlink(path);
	}
	closedir(dh);
	rmdir(d);
}

static void swtpm_stop(void)
{
	if (swtpm_pid > 0) {
		kill(swtpm_pid, SIGTERM);
		while (waitpid(swtpm_pid, NULL, 0) < 0 && errno == EINTR)
			;
		swtpm_pid = -1;
	}
	rm_tree(dir);
}

/* Whether something accepts connections on the UNIX socket at path. */
static int answers(const char *path)
{
	struct sockaddr_un sa;
	int fd, ok;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Start swtpm with its state and sockets in dir; 1 when it answers. */
static int swtpm_start(void)
{
	char state[PATH_MAX + 8], server[PATH_MAX + 32], ctrl[PATH_MAX + 32];
	char log[PATH_MAX];
	int i, fd;

	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	snprintf(state, sizeof(state), "dir=%s", dir);
	snprintf(server, sizeof(server), "type=unixio,path=%s", sock_path);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s.ctrl", sock_path);
	snprintf(log, sizeof(log), "%s/swtpm.log", dir);
	snprintf(tcti, sizeof(tcti), "swtpm:path=%s", sock_path);
	fflush(stdout);
	swtpm_pid = fork();
	if (swtpm_pid < 0)
		return 0;
	if (swtpm_pid == 0) {
		/* Never outlive the test, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state,
		       "--server", server, "--ctrl", ctrl, "--flags",
		       "not-need-init,startup-clear", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (waitpid(swtpm_pid, NULL, WNOHANG) == swtpm_pid) {
			swtpm_pid = -1;
			return 0;
		}
		if (answers(sock_path))
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Run argv (a tpm2-tools command) with stdout to out (or /dev/null). */
static int run_tool(const char *const argv[], const char *out)
{
	pid_t pid;
	int status = 0, fd;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(out ? out : "/dev/null",
			  O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 1);
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The contents of path into a malloc()ed buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
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

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- certificates -------------------------------------------------------- */

/*
 * A self-signed P-256 certificate with nsan DNS names (about 600 bytes
 * with 12, more than 2048 with 80).
 */
static struct m2m_cert *make_cert(const char *cn, int nsan)
{
	struct m2m_cert *cert = NULL;
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	unsigned char *der = NULL;
	char dns[64];
	int i, n;

	if (!pk || !x || !names)
		goto out;
	for (i = 0; i < nsan; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		snprintf(dns, sizeof(dns), "device-%02d.factory.example", i);
		if (!g || !s || !ASN1_STRING_set(s, dns, -1)) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		sk_GENERAL_NAME_push(names, g);
	}
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
	if (!ext || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
					MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365) ||
	    !X509_set_pubkey(x, pk) || !X509_add_ext(x, ext, -1) ||
	    !X509_sign(x, pk, EVP_sha256()))
		goto out;
	n = i2d_X509(x, &der);
	if (n > 0 && m2m_cert_parse(ctx, der, (size_t)n, &cert) != M2M_OK)
		cert = NULL;
out:
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	GENERAL_NAMES_free(names);
	X509_free(x);
	EVP_PKEY_free(pk);
	return cert;
}

/* ---- signing ------------------------------------------------------------- */

/*
 * Sign a message with key's EVP_PKEY (md; for RSA, pss or PKCS#1) and
 * verify it with the public key from its DER.  1 if it verifies.
 */
static int sign_and_verify(const struct m2m_key *key, const char *md,
			   int pss)
{
	static const unsigned char msg[] = "a message for the TPM to sign";
	EVP_PKEY *pk = m2m_key_pkey(key), *pub = NULL;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char sig[1024], *der = NULL;
	const unsigned char *p;
	size_t siglen = sizeof(sig), len = 0;
	int ok = 0, rsa = EVP_PKEY_is_a(pk, "RSA");

	if (!mctx || m2m_key_public_der(ctx, key, &der, &len) != M2M_OK)
		goto out;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, (long)len);
	if (!pub)
		goto out;
	if (!CHECK(EVP_DigestSignInit_ex(mctx, &pctx, md, ctx->libctx,
					 m2m_extkey_propq(pk), pk, NULL) == 1))
		goto out;
	if (rsa && pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
	     1))
		goto out;
	if (!CHECK(EVP_DigestSign(mctx, sig, &siglen, msg, sizeof(msg)) == 1))
		goto out;
	EVP_MD_CTX_free(mctx);
	mctx = EVP_MD_CTX_new();
	pctx = NULL;
	if (!mctx || EVP_DigestVerifyInit_ex(mctx, &pctx, md, NULL, NULL, pub,
					     NULL) != 1)
		goto out;
	if (rsa && pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
	     1))
		goto out;
	ok = EVP_DigestVerify(mctx, sig, siglen, msg, sizeof(msg)) == 1;
out:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pub);
	free(der);
	return ok;
}

/* A CSR signed by key, made and parsed back (which checks the signature). */
static int csr_round_trip(const struct m2m_key *key)
{
	struct m2m_csr *csr = NULL, *back = NULL;
	char *der = NULL;
	size_t len = 0;
	int ok;

	m2m_ctx_clear_error(ctx);
	ok = m2m_csr_make(ctx, key, "CN=tpm-device", &csr) == M2M_OK &&
	     m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &der, &len) == M2M_OK &&
	     m2m_csr_parse(ctx, der, len, &back) == M2M_OK &&
	     m2m_csr_key_alg(back) == m2m_key_get_alg(key);
	free(der);
	m2m_csr_free(csr);
	m2m_csr_free(back);
	return ok;
}

/* ---- tests --------------------------------------------------------------- */

UNIT_TEST(locators_used_for_the_wrong_thing)
{
	struct m2m_key *key = NULL;
	struct m2m_cert **list = NULL;
	struct m2m_cert *cert = make_cert("wrong", 1);
	size_t n = 0;

	CHECK_FAILS(m2m_key_generate(ctx, CERT_URI, M2M_KEY_EC_P256, NULL,
				     &key), M2M_ERR_USAGE,
		    "keys go to tpm2:handle=");
	CHECK_FAILS(m2m_key_load(ctx, CERT_URI, NULL, &key), M2M_ERR_USAGE,
		    "is an NV index");
	CHECK_FAILS(m2m_key_remove(ctx, CERT_URI, NULL), M2M_ERR_USAGE,
		    "is an NV index");
	CHECK_FAILS(m2m_cert_load(ctx, KEY_URI, NULL, &list, &n),
		    M2M_ERR_USAGE, "certificates go to tpm2:nv=...");
	if (CHECK(cert))
		CHECK_FAILS(m2m_cert_store(ctx, KEY_URI, cert, NULL, 0, NULL),
			    M2M_ERR_USAGE, "certificates go to tpm2:nv=...");
	CHECK_FAILS(m2m_key_load(ctx, "tpm2:handle=0x81000001", NULL, &key),
		    M2M_ERR_INVALID, "is the SRK");
	CHECK_FAILS(m2m_key_load(ctx, "tpm2:object=idevid", NULL, &key),
		    M2M_ERR_INVALID, "unknown attribute 'object'");
	CHECK_FAILS(m2m_key_generate(ctx, KEY_URI, M2M_KEY_ED25519, NULL,
				     &key), M2M_ERR_UNSUPPORTED,
		    "cannot make ed25519 keys");
	CHECK(key == NULL && list == NULL && n == 0);
	m2m_cert_free(cert);
}

UNIT_TEST(unreachable_tpm_fails_quickly)
{
	struct m2m_key_opts opts = { 0 };
	struct m2m_key *key = NULL;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char closed[64];
	double t0;
	int fd;

	/* A port nothing listens on: bound, then closed again. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa,
				   sizeof(sa)) == 0 &&
		   getsockname(fd, (struct sockaddr *)&sa, &salen) == 0))
		return;
	close(fd);
	snprintf(closed, sizeof(closed), "swtpm:host=127.0.0.1,port=%u",
		 (unsigned)ntohs(sa.sin_port));
	opts.tcti = closed;
	t0 = now_ms();
	CHECK_FAILS(m2m_key_load(ctx, KEY_URI, &opts, &key), M2M_ERR_BACKEND,
		    "cannot reach the TPM at 'swtpm:host=127.0.0.1,port=");
	CHECK_MSG(now_ms() - t0 < 3000, "took %.0f ms", now_ms() - t0);
	opts.tcti = "swtpm:path=/nonexistent/m2m/sock";
	CHECK_FAILS(m2m_key_generate(ctx, KEY_URI, M2M_KEY_EC_P256, &opts,
				     &key), M2M_ERR_BACKEND,
		    "cannot reach the TPM at 'swtpm:path=/nonexistent/m2m/sock'");
	CHECK(key == NULL);
}

UNIT_TEST(generate_p256_makes_the_srk_then_load)
{
	struct m2m_key *key = NULL, *again = NULL;
	unsigned char *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;

	CHECK_FAILS(m2m_key_load(ctx, KEY_URI, NULL, &key), M2M_ERR_NOT_FOUND,
		    "no key at tpm2:handle=0x81020000");
	CHECK_OK(m2m_key_generate(ctx, KEY_URI, M2M_KEY_EC_P256, NULL, &key));
	if (!key)
		return;
	CHECK_EQ_STR(m2m_key_uri(key), KEY_URI);
	CHECK_EQ_INT(m2m_key_get_alg(key), M2M_KEY_EC_P256);
	CHECK_OK(m2m_key_load(ctx, KEY_URI, NULL, &again));
	if (again) {
		CHECK_EQ_INT(m2m_key_get_alg(again), M2M_KEY_EC_P256);
		CHECK_OK(m2m_key_public_der(ctx, key, &d1, &l1));
		CHECK_OK(m2m_key_public_der(ctx, again, &d2, &l2));
		CHECK(d1 && d2 && l1 == l2 && memcmp(d1, d2, l1) == 0);
	}
	free(d1);
	free(d2);
	m2m_key_free(again);
	m2m_key_free(key);
}

UNIT_TEST(a_handle_in_use_is_refused_unless_forced)
{
	struct m2m_key_opts force = { 0 };
	struct m2m_key *key = NULL, *old = NULL;
	unsigned char *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;

	force.force = 1;
	CHECK_OK(m2m_key_load(ctx, KEY_URI, NULL, &old));
	CHECK_FAILS(m2m_key_generate(ctx, KEY_URI, M2M_KEY_EC_P256, NULL,
				     &key), M2M_ERR_DUPLICATE,
		    "handle 0x81020000 is in use");
	CHECK(key == NULL);
	CHECK_OK(m2m_key_generate(ctx, KEY_URI, M2M_KEY_EC_P256, &force,
				  &key));
	if (key && old) {
		CHECK_OK(m2m_key_public_der(ctx, old, &d1, &l1));
		CHECK_OK(m2m_key_public_der(ctx, key, &d2, &l2));
		CHECK_MSG(d1 && d2 && (l1 != l2 || memcmp(d1, d2, l1) != 0),
			  "forced generate kept the old key");
	}
	free(d1);
	free(d2);
	m2m_key_free(old);
	m2m_key_free(key);
}

UNIT_TEST(remove_then_not_found)
{
	struct m2m_key *key = NULL;

	CHECK_OK(m2m_key_generate(ctx, "tpm2:handle=0x81020010",
				  M2M_KEY_EC_P256, NULL, &key));
	m2m_key_free(key);
	key = NULL;
	CHECK_OK(m2m_key_remove(ctx, "tpm2:handle=0x81020010", NULL));
	CHECK_FAILS(m2m_key_load(ctx, "tpm2:handle=0x81020010", NULL, &key),
		    M2M_ERR_NOT_FOUND, "no key at tpm2:handle=0x81020010");
	CHECK_FAILS(m2m_key_remove(ctx, "tpm2:handle=0x81020010", NULL),
		    M2M_ERR_NOT_FOUND, "no key at tpm2:handle=0x81020010");
	CHECK(key == NULL);
}

UNIT_TEST(p384_and_rsa2048_generate_and_load)
{
	static const struct {
		const char *uri;
		enum m2m_key_alg alg;
	} k[] = {
		{ "tpm2:handle=0x81020001", M2M_KEY_EC_P384 },
		{ "tpm2:handle=0x81020002;parent=0x81000001",
		  M2M_KEY_RSA2048 },
	};
	size_t i;

	for (i = 0; i < UNIT_COUNT(k); i++) {
		struct m2m_key *key = NULL, *again = NULL;

		CHECK_OK(m2m_key_generate(ctx, k[i].uri, k[i].alg, NULL,
					  &key));
		if (key)
			CHECK_EQ_INT(m2m_key_get_alg(key), k[i].alg);
		CHECK_OK(m2m_key_load(ctx, k[i].uri, NULL, &again));
		if (again)
			CHECK_EQ_INT(m2m_key_get_alg(again), k[i].alg);
		m2m_key_free(again);
		m2m_key_free(key);
	}
}

UNIT_TEST(sign_through_the_evp_pkey_and_a_csr)
{
	static const struct {
		const char *uri;
		const char *md;
		int pss;
	} s[] = {
		{ KEY_URI, "SHA256", 0 },
		{ KEY_URI, "SHA384", 0 },
		{ "tpm2:handle=0x81020001", "SHA384", 0 },
		{ "tpm2:handle=0x81020002", "SHA256", 0 },
		{ "tpm2:handle=0x81020002", "SHA256", 1 },
	};
	size_t i;

	for (i = 0; i < UNIT_COUNT(s); i++) {
		struct m2m_key *key = NULL;

		m2m_ctx_clear_error(ctx);
		CHECK_OK(m2m_key_load(ctx, s[i].uri, NULL, &key));
		if (!key)
			continue;
		CHECK_MSG(sign_and_verify(key, s[i].md, s[i].pss),
			  "%s %s%s does not verify", s[i].uri, s[i].md,
			  s[i].pss ? " PSS" : "");
		CHECK_MSG(csr_round_trip(key), "CSR with %s: %s", s[i].uri,
			  m2m_ctx_detail(ctx));
		m2m_key_free(key);
	}
}

UNIT_TEST(certificate_round_trip_in_nv)
{
	struct m2m_cert *cert = make_cert("idevid", 12);
	struct m2m_cert **list = NULL;
	const uint8_t *a, *b;
	size_t la = 0, lb = 0, n = 0;

	if (!CHECK(cert))
		return;
	a = m2m_cert_der(cert, &la);
	CHECK_MSG(la > 500 && la < 800, "certificate of %zu bytes", la);
	CHECK_FAILS(m2m_cert_load(ctx, CERT_URI, NULL, &list, &n),
		    M2M_ERR_NOT_FOUND, "no certificate at tpm2:nv=0x01c90000");
	CHECK_OK(m2m_cert_store(ctx, CERT_URI, cert, NULL, 0, NULL));
	CHECK_OK(m2m_cert_load(ctx, CERT_URI, NULL, &list, &n));
	if (CHECK_EQ_INT(n, 1) && list) {
		b = m2m_cert_der(list[0], &lb);
		CHECK(la == lb && memcmp(a, b, la) == 0);
	}
	m2m_cert_list_free(list, n);
	m2m_cert_free(cert);
}

UNIT_TEST(nv_index_in_use_refused_unless_forced)
{
	struct m2m_cert *other = make_cert("replacement", 10);
	struct m2m_cert **list = NULL;
	struct m2m_key_opts force = { 0 };
	const uint8_t *a, *b;
	size_t la = 0, lb = 0, n = 0;

	force.force = 1;
	if (!CHECK(other))
		return;
	CHECK_FAILS(m2m_cert_store(ctx, CERT_URI, other, NULL, 0, NULL),
		    M2M_ERR_DUPLICATE, "NV index 0x01c90000 is in use");
	CHECK_OK(m2m_cert_store(ctx, CERT_URI, other, NULL, 0, &force));
	CHECK_OK(m2m_cert_load(ctx, CERT_URI, NULL, &list, &n));
	if (CHECK_EQ_INT(n, 1) && list) {
		a = m2m_cert_der(other, &la);
		b = m2m_cert_der(list[0], &lb);
		CHECK(la == lb && memcmp(a, b, la) == 0);
	}
	m2m_cert_list_free(list, n);
	m2m_cert_free(other);
}

UNIT_TEST(certificate_remove_undefines_the_index)
{
	struct m2m_cert *cert = make_cert("removed", 2);
	struct m2m_cert **list = NULL;
	size_t n = 0;

	if (!CHECK(cert))
		return;
	CHECK_OK(m2m_cert_store(ctx, "tpm2:nv=0x01800110", cert, NULL, 0,
				NULL));
	CHECK_OK(m2m_cert_remove(ctx, "tpm2:nv=0x01800110", NULL));
	CHECK_FAILS(m2m_cert_load(ctx, "tpm2:nv=0x01800110", NULL, &list, &n),
		    M2M_ERR_NOT_FOUND, "no certificate at tpm2:nv=0x01800110");
	CHECK_FAILS(m2m_cert_remove(ctx, "tpm2:nv=0x01800110", NULL),
		    M2M_ERR_NOT_FOUND, "no certificate at tpm2:nv=0x01800110");
	CHECK_FAILS(m2m_cert_remove(ctx, KEY_URI, NULL), M2M_ERR_USAGE,
		    "certificates go to tpm2:nv=...");
	/* Stored again where it was: nothing was left behind. */
	CHECK_OK(m2m_cert_store(ctx, "tpm2:nv=0x01800110", cert, NULL, 0,
				NULL));
	CHECK_OK(m2m_cert_remove(ctx, "tpm2:nv=0x01800110", NULL));
	m2m_cert_list_free(list, n);
	m2m_cert_free(cert);
}

UNIT_TEST(too_big_refused_leaving_nothing)
{
	struct m2m_cert *big = make_cert("big", 80);
	struct m2m_cert *small = make_cert("small", 1);
	struct m2m_cert **list = NULL;
	struct m2m_key_opts force = { 0 };
	size_t len = 0, n = 0;

	force.force = 1;
	if (!CHECK(big && small))
		goto out;
	m2m_cert_der(big, &len);
	CHECK_MSG(len > 2048, "big certificate of %zu bytes", len);
	CHECK_FAILS(m2m_cert_store(ctx, "tpm2:nv=0x01C90001", big, NULL, 0,
				   NULL), M2M_ERR_UNSUPPORTED,
		    "does not fit an NV index (max 2048)");
	CHECK_FAILS(m2m_cert_load(ctx, "tpm2:nv=0x01C90001", NULL, &list, &n),
		    M2M_ERR_NOT_FOUND, "no certificate at tpm2:nv=0x01c90001");
	/* Forced, a certificate too big does not remove what is there. */
	CHECK_FAILS(m2m_cert_store(ctx, CERT_URI, big, NULL, 0, &force),
		    M2M_ERR_UNSUPPORTED, "does not fit");
	CHECK_OK(m2m_cert_load(ctx, CERT_URI, NULL, &list, &n));
	m2m_cert_list_free(list, n);
	list = NULL;
	n = 0;
	/* A chain that does not fit with the certificate: nothing stored. */
	CHECK_FAILS(m2m_cert_store(ctx, "tpm2:nv=0x01C90002", small, &big, 1,
				   NULL), M2M_ERR_UNSUPPORTED,
		    "certificate and chain of");
	CHECK_FAILS(m2m_cert_load(ctx, "tpm2:nv=0x01C90002", NULL, &list, &n),
		    M2M_ERR_NOT_FOUND, "no certificate at tpm2:nv=0x01c90002");
out:
	m2m_cert_free(big);
	m2m_cert_free(small);
}

/* A chain goes after the certificate, back to back, and reads back. */
UNIT_TEST(chain_in_one_index)
{
	struct m2m_cert *a = make_cert("leaf", 1), *b = make_cert("ca-1", 1),
			*c = make_cert("ca-2", 1);
	struct m2m_cert *chain[2], **list = NULL;
	size_t n = 0;

	if (!CHECK(a && b && c))
		goto out;
	chain[0] = b;
	chain[1] = c;
	CHECK_OK(m2m_cert_store(ctx, "tpm2:nv=0x01C90003", a, chain, 2, NULL));
	CHECK_OK(m2m_cert_load(ctx, "tpm2:nv=0x01C90003", NULL, &list, &n));
	if (CHECK_EQ_INT(n, 3)) {
		CHECK_EQ_STR(m2m_cert_fingerprint(list[0]),
			     m2m_cert_fingerprint(a));
		CHECK_EQ_STR(m2m_cert_fingerprint(list[1]),
			     m2m_cert_fingerprint(b));
		CHECK_EQ_STR(m2m_cert_fingerprint(list[2]),
			     m2m_cert_fingerprint(c));
	}
	m2m_cert_list_free(list, n);
	CHECK_OK(m2m_cert_store(ctx, "tpm2:nv=0x01C90003", a, NULL, 0,
				&(struct m2m_key_opts){ .force = 1 }));
	CHECK_OK(m2m_cert_load(ctx, "tpm2:nv=0x01C90003", NULL, &list, &n));
	CHECK_EQ_INT(n, 1);
	m2m_cert_list_free(list, n);
out:
	m2m_cert_free(a);
	m2m_cert_free(b);
	m2m_cert_free(c);
}

/*
 * What tpm2-tools read equals what we wrote.  swtpm serves one client at
 * a time, so ctx (and its connection) goes first and comes back after.
 */
UNIT_TEST(tpm2_tools_read_what_we_wrote)
{
	struct m2m_cert **list = NULL;
	struct m2m_key *key = NULL;
	unsigned char *spki = NULL, *got = NULL, *cert = NULL;
	const uint8_t *want;
	char pub[PATH_MAX], nv[PATH_MAX], caps[PATH_MAX], srk[PATH_MAX];
	size_t spki_len = 0, got_len = 0, want_len = 0, cert_len = 0, n = 0;
	char *text;

	if (!on_path("tpm2_readpublic") || !on_path("tpm2_nvread")) {
		printf("# tpm2-tools not installed: cross-check skipped\n");
		return;
	}
	CHECK_OK(m2m_key_load(ctx, KEY_URI, NULL, &key));
	CHECK_OK(m2m_cert_load(ctx, CERT_URI, NULL, &list, &n));
	if (!key || !list)
		goto out;
	CHECK_OK(m2m_key_public_der(ctx, key, &spki, &spki_len));
	m2m_key_free(key);
	key = NULL;
	m2m_ctx_free(ctx);
	ctx = NULL;

	setenv("TPM2TOOLS_TCTI", tcti, 1);
	snprintf(pub, sizeof(pub), "%s/pub.der", dir);
	snprintf(nv, sizeof(nv), "%s/nv.der", dir);
	snprintf(caps, sizeof(caps), "%s/caps.txt", dir);
	snprintf(srk, sizeof(srk), "%s/srk.txt", dir);
	CHECK_EQ_INT(run_tool((const char *const[]){ "tpm2_readpublic", "-c",
			      "0x81020000", "-f", "der", "-o", pub, NULL },
			      NULL), 0);
	got = slurp(pub, &got_len);
	CHECK_MSG(got && spki && got_len == spki_len &&
		  memcmp(got, spki, got_len) == 0,
		  "tpm2_readpublic gives another public key");
	CHECK_EQ_INT(run_tool((const char *const[]){ "tpm2_nvread", "0x01C90000",
			      "-o", nv, NULL }, NULL), 0);
	cert = slurp(nv, &cert_len);
	want = m2m_cert_der(list[0], &want_len);
	CHECK_MSG(cert && cert_len == want_len &&
		  memcmp(cert, want, cert_len) == 0,
		  "tpm2_nvread gives other bytes");
	CHECK_EQ_INT(run_tool((const char *const[]){ "tpm2_getcap",
			      "handles-persistent", NULL }, caps), 0);
	text = (char *)slurp(caps, &got_len);
	CHECK_CONTAINS(text, "0x81000001");
	CHECK_CONTAINS(text, "0x81020000");
	free(text);
	CHECK_EQ_INT(run_tool((const char *const[]){ "tpm2_readpublic", "-c",
			      "0x81000001", NULL }, srk), 0);
	text = (char *)slurp(srk, &got_len);
	CHECK_CONTAINS(text,
		       "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt");
	CHECK_CONTAINS(text, "curve-id:\n  value: NIST p256\n");
	CHECK_CONTAINS(text, "sym-mode:\n  value: cfb\n");
	CHECK_CONTAINS(text, "sym-keybits: 128\n");
	free(text);
	CHECK_EQ_INT(run_tool((const char *const[]){ "tpm2_readpublic", "-c",
			      "0x81020000", NULL }, srk), 0);
	text = (char *)slurp(srk, &got_len);
	CHECK_CONTAINS(text,
		       "value: fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign\n");
	free(text);
out:
	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot make a context again\n");
		exit(1);
	}
	m2m_key_free(key);
	m2m_cert_list_free(list, n);
	free(spki);
	free(got);
	free(cert);
}

/*
 * What one device costs: a P-256 key created, loaded, persisted at a
 * handle of its own; one signature; its certificate in an NV index of its
 * own, defined, written and read back.
 */
UNIT_TEST(time_per_device)
{
	struct m2m_cert *cert = make_cert("timing", 12);
	char uri[64], nv[64];
	size_t len = 0;
	double t0, t;
	int i, rounds = 10, ok = 1;

	if (!CHECK(cert))
		return;
	m2m_cert_der(cert, &len);
	t0 = now_ms();
	for (i = 0; i < rounds && ok; i++) {
		struct m2m_key *key = NULL;

		snprintf(uri, sizeof(uri), "tpm2:handle=0x%08x",
			 0x81020100 + i);
		snprintf(nv, sizeof(nv), "tpm2:nv=0x%08x", 0x01C90100 + i);
		ok = m2m_key_generate(ctx, uri, M2M_KEY_EC_P256, NULL,
				      &key) == M2M_OK &&
		     sign_and_verify(key, "SHA256", 0) &&
		     m2m_cert_store(ctx, nv, cert, NULL, 0, NULL) == M2M_OK;
		m2m_key_free(key);
	}
	t = (now_ms() - t0) / rounds;
	CHECK_MSG(ok, "round %d failed: %s", i, m2m_ctx_detail(ctx));
	if (ok)
		printf("# swtpm in process: %.1f ms per device (P-256 key "
		       "create+load+persist+sign, NV define+write+read of "
		       "%zu bytes)\n", t, len);
	for (i = 0; i < rounds; i++) {
		snprintf(uri, sizeof(uri), "tpm2:handle=0x%08x",
			 0x81020100 + i);
		m2m_key_remove(ctx, uri, NULL);
	}
	m2m_cert_free(cert);
}

/*
 * With an owner password set (tpm2_changeauth), making and removing keys
 * and storing certificates need it from auth_source; reading does not.
 * Last: it changes the TPM for every later test.
 */
UNIT_TEST(owner_authorisation_from_a_source)
{
	struct m2m_key_opts opts = { 0 };
	struct m2m_cert *cert = make_cert("owned", 2);
	struct m2m_cert **list = NULL;
	struct m2m_key *key = NULL;
	size_t n = 0;

	if (!on_path("tpm2_changeauth")) {
		printf("# tpm2-tools not installed: owner auth not tested\n");
		goto out;
	}
	m2m_ctx_free(ctx);
	ctx = NULL;
	setenv("TPM2TOOLS_TCTI", tcti, 1);
	CHECK_EQ_INT(run_tool((const char *const[]){ "tpm2_changeauth", "-c",
			      "o", "owner-secret-42", NULL }, NULL), 0);
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot make a context again\n");
		exit(1);
	}
	CHECK_FAILS(m2m_key_generate(ctx, "tpm2:handle=0x81020020",
				     M2M_KEY_EC_P256, NULL, &key),
		    M2M_ERR_BACKEND, "cannot make the key persistent");
	CHECK(strstr(m2m_ctx_detail(ctx), "owner-secret-42") == NULL);
	CHECK_FAILS(m2m_key_load(ctx, "tpm2:handle=0x81020020", NULL, &key),
		    M2M_ERR_NOT_FOUND, "no key at");
	opts.auth_source = "pass:wrong";
	CHECK_FAILS(m2m_cert_store(ctx, "tpm2:nv=0x01C90020", cert, NULL, 0,
				   &opts), M2M_ERR_BACKEND,
		    "cannot define NV index 0x01c90020");
	CHECK(strstr(m2m_ctx_detail(ctx), "wrong") == NULL);
	setenv("M2M_TEST_OWNER_AUTH", "owner-secret-42", 1);
	opts.auth_source = "env:M2M_TEST_OWNER_AUTH";
	CHECK_OK(m2m_key_generate(ctx, "tpm2:handle=0x81020020",
				  M2M_KEY_EC_P256, &opts, &key));
	CHECK_OK(m2m_cert_store(ctx, "tpm2:nv=0x01C90020", cert, NULL, 0,
				&opts));
	/* Reading needs no owner authorisation. */
	CHECK_OK(m2m_cert_load(ctx, "tpm2:nv=0x01C90020", NULL, &list, &n));
	CHECK_FAILS(m2m_key_remove(ctx, "tpm2:handle=0x81020020", NULL),
		    M2M_ERR_BACKEND, "cannot evict");
	CHECK_OK(m2m_key_remove(ctx, "tpm2:handle=0x81020020", &opts));
	opts.auth_source = "env:M2M_TEST_UNSET_VARIABLE";
	CHECK_FAILS(m2m_key_remove(ctx, "tpm2:handle=0x81020000", &opts),
		    M2M_ERR_NOT_FOUND, "M2M_TEST_UNSET_VARIABLE");
out:
	m2m_cert_list_free(list, n);
	m2m_key_free(key);
	m2m_cert_free(cert);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(locators_used_for_the_wrong_thing),
		UNIT(unreachable_tpm_fails_quickly),
		UNIT(generate_p256_makes_the_srk_then_load),
		UNIT(a_handle_in_use_is_refused_unless_forced),
		UNIT(remove_then_not_found),
		UNIT(p384_and_rsa2048_generate_and_load),
		UNIT(sign_through_the_evp_pkey_and_a_csr),
		UNIT(certificate_round_trip_in_nv),
		UNIT(nv_index_in_use_refused_unless_forced),
		UNIT(certificate_remove_undefines_the_index),
		UNIT(too_big_refused_leaving_nothing),
		UNIT(chain_in_one_index),
		UNIT(tpm2_tools_read_what_we_wrote),
		UNIT(time_per_device),
		UNIT(owner_authorisation_from_a_source),
	};
	int rc;

	if (!on_path("swtpm")) {
		printf("1..1\nok 1 - tpm2 # SKIP swtpm is not installed\n");
		return 0;
	}
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a temporary directory: %s\n",
		       strerror(errno));
		return 1;
	}
	if (!swtpm_start()) {
		printf("Bail out! swtpm does not start (see %s/swtpm.log)\n",
		       dir);
		swtpm_stop();
		return 1;
	}
	atexit(swtpm_stop);
	setenv("M2M_TCTI", tcti, 1);
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot make a context\n");
		return 1;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	return rc;
}
