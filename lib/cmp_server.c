/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CA's side of lightweight CMP.  OpenSSL's OSSL_CMP_SRV_CTX reads and
 * writes the messages, checks their protection (against the certificate
 * the message carries first, pinned: whether that certificate may ask is
 * decided here) and proof of possession, and keeps a transaction's state
 * between ir and certConf; the callbacks below decide and issue through
 * m2m_ca_issue(), m2m_ldevid_accept() and m2m_ca_revoke().
 *
 * OpenSSL 3.0 has no getter for a few fields this needs (the header's
 * recipient and protectionAlg, the extraCerts, a template's public key),
 * so those are found by walking the message's DER and handed to
 * OpenSSL's own decoders.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include <m2m/cmp.h>
#include <m2m/file.h>
#include <m2m/hex.h>
#include <m2m/ldevid.h>
#include <m2m/ledger.h>
#include <m2m/manifest.h>

#include "ca_internal.h"
#include "cert_internal.h"
#include "der.h"
#include "internal.h"
#include "keystore/keystore.h"
#include "ldevid_internal.h"

#define TXN_MAX		1024	/* transactions waiting for certConf */
#define TXN_ID_MAX	64	/* longest transactionID kept */
#define SECRET_MAX	256
#define CHAIN_MAX	M2M_CERT_LIST_MAX
#define CERT_CACHE	16	/* certificates of extraCerts kept parsed */
#define CERT_CACHE_DER	8192	/* the largest kept */

/* PKIBody choices (RFC 4210, 5.1.2); OpenSSL 3.0 keeps its names inside. */
enum {
	BODY_IR = 0, BODY_IP = 1, BODY_CR = 2, BODY_P10CR = 4, BODY_KUR = 7,
	BODY_RR = 11, BODY_GENM = 21, BODY_ERROR = 23, BODY_CERTCONF = 24,
	BODY_POLLREQ = 25
};

/* id-it-caCerts (RFC 9483, 4.3.1) */
#define OID_CACERTS	"1.3.6.1.5.5.7.4.17"
/* PasswordBasedMac (RFC 4210) */
#define OID_PBM		"1.2.840.113533.7.66.13"

/* A request of the open group, waiting for its commit. */
struct member {
	struct member *next;
	enum m2m_err rc;
	int done;
	char detail[M2M_DETAIL_MAX];
};

#define GROUP_MAX	64	/* requests committed together, at most */

struct txn {
	unsigned char id[TXN_ID_MAX];
	size_t id_len;
	OSSL_CMP_SRV_CTX *sctx;
	char serial[M2M_CERT_SERIAL_HEX];
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned hash_len;
	int64_t deadline;
};

struct m2m_cmp_srv {
	pthread_mutex_t lock;
	/*
	 * Writes to the ledger take turns (busy): the workers' connections
	 * would otherwise meet as SQLITE_BUSY and wait in SQLite's busy
	 * handler, which sleeps milliseconds at a time (other processes
	 * sharing the ledger still meet that way).  With a writer (its own
	 * context and CA, m2m_cmp_srv_set_writer()), IDevIDs are issued in
	 * groups: one transaction, one commit (one fsync) for the requests
	 * that arrive together, each answered only after that commit.
	 */
	pthread_mutex_t write_lock;	/* guards what follows */
	pthread_cond_t write_cond;
	int busy;			/* a thread is writing */
	int open;			/* the writer's group is open */
	unsigned group_size;
	unsigned want_group;		/* threads waiting to join a group */
	unsigned want_alone;		/* threads waiting for a write alone */
	struct member *members;		/* of the open group */
	struct m2m_ctx *wctx;		/* the writer (borrowed), or NULL */
	struct m2m_ca *wca;
	struct m2m_cmp_srv_config cfg;
	char stations_path[PATH_MAX];
	struct m2m_anchors *stations;
	unsigned char secret[SECRET_MAX];
	size_t secret_len;
	int have_secret;
	STACK_OF(X509) *chain;		/* the CA and those above it */
	/*
	 * Where requests and the certificates they carry are parsed:
	 * decoding a public key in a library context of OpenSSL 3.0 walks
	 * every decoder it has, which costs more than answering the rest of
	 * the request (m2m_leaf_libctx_new()).  NULL: the ordinary way.
	 */
	OSSL_LIB_CTX *parse_libctx;
	OSSL_PROVIDER *parse_provider;
	struct txn txns[TXN_MAX];
	size_t ntxns;
	/*
	 * The certificates requests carry, parsed (under lock): a station's
	 * certificate and chain come with every request, and parsing one
	 * costs more in OpenSSL 3.0 (its public key goes through the decoder
	 * machinery) than answering the rest of the request.
	 */
	struct {
		unsigned char *der;
		size_t len;
		X509 *x;
	} certs[CERT_CACHE];
	unsigned next_cert;
};

/* One request being answered. */
struct req {
	struct m2m_cmp_srv *srv;
	struct m2m_ctx *ctx;
	struct m2m_ca *ca;
	const char *profile;
	struct m2m_cmp_srv_result *res;
	int64_t now;
	int mac;			/* PasswordBasedMac protection */
	X509 *signer;			/* extraCerts[0] of a signed one */
	STACK_OF(X509) *extra;		/* all of extraCerts */
	char reject[384];		/* refused before the body is read */
	int called;			/* a callback of ours ran */
	struct txn *txn;		/* certConf: its transaction */
	char serial[M2M_CERT_SERIAL_HEX];	/* issued */
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned hash_len;
};

static __thread struct req *current;

/* OpenSSL's CMP log: the first error line becomes the result's text. */
static int log_cb(const char *func, const char *file, int line,
		  OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	if (current && level <= OSSL_CMP_LOG_ERR && !current->res->text[0])
		snprintf(current->res->text, sizeof(current->res->text), "%s",
			 msg);
	return 1;
}

/* ---- configuration ------------------------------------------------------- */

enum m2m_err m2m_cmp_srv_new(struct m2m_ctx *ctx,
			     const struct m2m_cmp_srv_config *cfg,
			     struct m2m_cmp_srv **out)
{
	struct m2m_cmp_srv *s = NULL;
	unsigned char *buf = NULL;
	char secret[SECRET_MAX + 1];
	size_t len = 0;
	enum m2m_err rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return m2m_error(ctx, M2M_ERR_SYSTEM, "cannot make a lock");
	}
	if (pthread_mutex_init(&s->write_lock, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return m2m_error(ctx, M2M_ERR_SYSTEM, "cannot make a lock");
	}
	if (pthread_cond_init(&s->write_cond, NULL) != 0) {
		pthread_mutex_destroy(&s->write_lock);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return m2m_error(ctx, M2M_ERR_SYSTEM, "cannot make a lock");
	}
	s->parse_libctx = m2m_leaf_libctx_new(ctx, &s->parse_provider);
	s->cfg = *cfg;
	s->cfg.stations = NULL;
	s->cfg.mac_source = NULL;
	if (!s->cfg.confirm_secs)
		s->cfg.confirm_secs = M2M_CMP_CONFIRM_SECS;
	if (cfg->stations) {
		snprintf(s->stations_path, sizeof(s->stations_path), "%s",
			 cfg->stations);
		rc = m2m_file_read(ctx, cfg->stations, M2M_ANCHORS_MAX, &buf,
				   &len);
		if (rc == M2M_OK) {
			rc = m2m_anchors_parse(ctx, buf, len, &s->stations);
			if (rc != M2M_OK)
				m2m_error_prefix(ctx, "stations file '%s'",
						 cfg->stations);
		}
		free(buf);
		if (rc != M2M_OK)
			goto out;
	}
	if (cfg->mac_source) {
		rc = m2m_secret_read(ctx, cfg->mac_source, secret,
				     sizeof(secret), &len);
		if (rc == M2M_OK && len == 0)
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "the shared secret from '%.16s...' is empty",
				       cfg->mac_source);
		if (rc == M2M_OK && len > SECRET_MAX)
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "the shared secret is longer than %d bytes",
				       SECRET_MAX);
		if (rc == M2M_OK) {
			memcpy(s->secret, secret, len);
			s->secret_len = len;
			s->have_secret = 1;
		}
		m2m_secret_wipe(secret, sizeof(secret));
		if (rc != M2M_OK)
			goto out;
	}
	*out = s;
	s = NULL;
	rc = M2M_OK;
out:
	m2m_cmp_srv_free(s);
	return rc;
}

void m2m_cmp_srv_free(struct m2m_cmp_srv *srv)
{
	size_t i;

	if (!srv)
		return;
	for (i = 0; i < srv->ntxns; i++)
		OSSL_CMP_SRV_CTX_free(srv->txns[i].sctx);
	for (i = 0; i < CERT_CACHE; i++) {
		free(srv->certs[i].der);
		X509_free(srv->certs[i].x);
	}
	m2m_anchors_free(srv->stations);
	sk_X509_pop_free(srv->chain, X509_free);
	m2m_leaf_libctx_free(srv->parse_libctx, srv->parse_provider);
	m2m_secret_wipe(srv->secret, sizeof(srv->secret));
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->write_lock);
	pthread_cond_destroy(&srv->write_cond);
	free(srv);
}

void m2m_cmp_srv_set_writer(struct m2m_cmp_srv *srv, struct m2m_ctx *ctx,
			    struct m2m_ca *ca)
{
	pthread_mutex_lock(&srv->write_lock);
	srv->wctx = ctx;
	srv->wca = ca;
	pthread_mutex_unlock(&srv->write_lock);
}

/* ---- writing the ledger in turns, and in groups --------------------------- */

/* A write alone (revocation, LDevID): after the open group's commit. */
static void alone_begin(struct m2m_cmp_srv *srv)
{
	pthread_mutex_lock(&srv->write_lock);
	srv->want_alone++;
	while (srv->busy || srv->open)
		pthread_cond_wait(&srv->write_cond, &srv->write_lock);
	srv->want_alone--;
	srv->busy = 1;
	pthread_mutex_unlock(&srv->write_lock);
}

static void alone_end(struct m2m_cmp_srv *srv)
{
	pthread_mutex_lock(&srv->write_lock);
	srv->busy = 0;
	pthread_cond_broadcast(&srv->write_cond);
	pthread_mutex_unlock(&srv->write_lock);
}

/* Close the open group (busy, write_lock held): commit or abort, tell all. */
static void group_close(struct m2m_cmp_srv *srv, enum m2m_err rc)
{
	struct member *m;
	char detail[M2M_DETAIL_MAX];

	detail[0] = '\0';
	if (rc == M2M_OK) {
		pthread_mutex_unlock(&srv->write_lock);	/* busy: ours */
		rc = m2m_ca_group_commit(srv->wctx, srv->wca);
		if (rc != M2M_OK) {
			snprintf(detail, sizeof(detail), "%s",
				 m2m_ctx_detail(srv->wctx));
			m2m_ca_group_abort(NULL, srv->wca);
		}
		pthread_mutex_lock(&srv->write_lock);
	} else {
		snprintf(detail, sizeof(detail), "%s",
			 m2m_ctx_detail(srv->wctx));
		m2m_ca_group_abort(NULL, srv->wca);
	}
	for (m = srv->members; m; m = m->next) {
		m->rc = rc;
		snprintf(m->detail, sizeof(m->detail), "%s", detail);
		m->done = 1;
	}
	srv->members = NULL;
	srv->open = 0;
	srv->group_size = 0;
}

/*
 * Issue ir with the writer, in the open group (opened if none), and
 * return once the group is committed: the last to join commits, when
 * nobody else waits to join.  Errors as m2m_ca_issue(), the detail in
 * st->ctx; a failed commit fails every request of the group.
 */
static enum m2m_err issue_grouped(struct req *st,
				  const struct m2m_issue_request *ir,
				  struct m2m_issue_result *res)
{
	struct m2m_cmp_srv *srv = st->srv;
	struct member me;
	enum m2m_err rc;

	memset(&me, 0, sizeof(me));
	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&srv->write_lock);
	srv->want_group++;
	while (srv->busy || (!srv->open && srv->want_alone))
		pthread_cond_wait(&srv->write_cond, &srv->write_lock);
	srv->want_group--;
	srv->busy = 1;
	rc = M2M_OK;
	if (!srv->open) {
		rc = m2m_ca_group_begin(srv->wctx, srv->wca);
		if (rc == M2M_OK) {
			srv->wca->in_group = 1;	/* as m2m_ca_issue(): a
						   rerun is a conflict */
			srv->open = 1;
		}
	}
	pthread_mutex_unlock(&srv->write_lock);
	if (rc == M2M_OK)
		rc = m2m_ca_group_issue(srv->wctx, srv->wca, ir, res);
	if (rc != M2M_OK)
		m2m_error(st->ctx, rc, "%s", m2m_ctx_detail(srv->wctx));
	pthread_mutex_lock(&srv->write_lock);
	if (!srv->open) {
		/* the group could not be begun: nothing to wait for */
	} else if (rc == M2M_ERR_BACKEND) {
		group_close(srv, rc);	/* the group is lost, for all */
	} else {
		if (rc == M2M_OK) {
			me.next = srv->members;
			srv->members = &me;
		}
		srv->group_size++;
		if (srv->want_group && !srv->want_alone &&
		    srv->group_size < GROUP_MAX) {
			/* others are about to join: one of them commits */
			srv->busy = 0;
			pthread_cond_broadcast(&srv->write_cond);
			while (rc == M2M_OK && !me.done)
				pthread_cond_wait(&srv->write_cond,
						  &srv->write_lock);
			pthread_mutex_unlock(&srv->write_lock);
			goto out;
		}
		group_close(srv, M2M_OK);
	}
	srv->busy = 0;
	pthread_cond_broadcast(&srv->write_cond);
	pthread_mutex_unlock(&srv->write_lock);
out:
	if (rc == M2M_OK && me.rc != M2M_OK) {
		rc = m2m_error(st->ctx, me.rc, "the ledger commit failed: %s",
			       me.detail);
		m2m_cert_free(res->cert);
		memset(res, 0, sizeof(*res));
	}
	return rc;
}

/* The CA's certificate and those above it, made once. */
static STACK_OF(X509) *ca_chain(struct m2m_cmp_srv *srv, struct m2m_ca *ca)
{
	STACK_OF(X509) *sk;
	BIO *bio;
	X509 *x;
	const char *pem;

	pthread_mutex_lock(&srv->lock);
	if (srv->chain)
		goto out;
	pem = m2m_ca_chain_pem(ca);
	sk = sk_X509_new_null();
	bio = BIO_new_mem_buf(pem, (int)strlen(pem));
	while (sk && bio && sk_X509_num(sk) < CHAIN_MAX &&
	       (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error();
	BIO_free(bio);
	/* A root's chain.pem is empty: then the root itself. */
	x = sk && sk_X509_num(sk) == 0 ? m2m_cert_x509(m2m_ca_cert(ca)) : NULL;
	if (x && X509_up_ref(x) && !sk_X509_push(sk, x))
		X509_free(x);
	if (sk && sk_X509_num(sk) > 0)
		srv->chain = sk;
	else
		sk_X509_pop_free(sk, X509_free);
out:
	pthread_mutex_unlock(&srv->lock);
	return srv->chain;
}

/* ---- reading what OpenSSL 3.0 does not show ------------------------------ */

/* The certificate der[0..len) (exactly), parsed in libctx (NULL: default). */
static X509 *parse_cert(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	X509 *x = X509_new_ex(libctx, NULL);

	if (x && (!d2i_X509(&x, &q, (long)len) || q != der + len)) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/*
 * The certificate der[0..len) (exactly) to be written out, as cheaply as
 * it parses: in libctx, and without d2i_X509()'s look at its extensions
 * (a SHA-1 of it, every extension decoded), which only checks need.
 */
static X509 *wire_cert(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	X509 *x = X509_new_ex(libctx, NULL);

	if (x && (!ASN1_item_d2i((ASN1_VALUE **)&x, &q, (long)len,
				 ASN1_ITEM_rptr(X509)) || q != der + len)) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* The certificate der[0..len) (exactly), from the cache or parsed. */
static X509 *cert_parsed(struct m2m_cmp_srv *srv, const uint8_t *der,
			 size_t len)
{
	unsigned char *copy;
	X509 *x = NULL;
	unsigned i;

	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < CERT_CACHE && !x; i++)
		if (srv->certs[i].x && srv->certs[i].len == len &&
		    memcmp(srv->certs[i].der, der, len) == 0 &&
		    X509_up_ref(srv->certs[i].x))
			x = srv->certs[i].x;
	pthread_mutex_unlock(&srv->lock);
	if (x)
		return x;
	x = parse_cert(srv->parse_libctx, der, len);
	if (x && !X509_get0_pubkey(x)) {
		/* a key of a type the parsing context lacks */
		X509_free(x);
		x = parse_cert(NULL, der, len);
	}
	ERR_clear_error();
	if (!x)
		return NULL;
	copy = len <= CERT_CACHE_DER ? malloc(len) : NULL;
	if (copy && X509_up_ref(x)) {
		memcpy(copy, der, len);
		pthread_mutex_lock(&srv->lock);
		i = srv->next_cert++ % CERT_CACHE;
		free(srv->certs[i].der);
		X509_free(srv->certs[i].x);
		srv->certs[i].der = copy;
		srv->certs[i].len = len;
		srv->certs[i].x = x;
		pthread_mutex_unlock(&srv->lock);
	} else {
		free(copy);
	}
	return x;
}

/* The element at in[*off]: its tag, whole encoding and content. */
static int der_next(const uint8_t *in, size_t len, size_t *off, uint8_t *tag,
		    const uint8_t **whole, size_t *whole_len,
		    const uint8_t **content, size_t *clen)
{
	size_t start = *off;

	if (start >= len)
		return -1;
	*tag = in[start];
	if (m2m_der_read(in, len, off, *tag, content, clen) < 0)
		return -1;
	*whole = in + start;
	*whole_len = *off - start;
	return 0;
}

/*
 * PKIMessage ::= SEQUENCE { header PKIHeader, body PKIBody,
 *     protection [0] PKIProtection OPTIONAL,
 *     extraCerts [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL }
 * PKIHeader ::= SEQUENCE { pvno INTEGER, sender GeneralName,
 *     recipient GeneralName, messageTime [0] OPTIONAL,
 *     protectionAlg [1] AlgorithmIdentifier OPTIONAL, ... }
 * Into st: the recipient (*recipient, NULL for a NULL-DN; caller frees),
 * whether the protection is a MAC (*protected: 0 none), the extraCerts;
 * *rest: how many bytes of the message's content come before extraCerts
 * when they are its last element (else 0).
 */
static enum m2m_err msg_fields(struct m2m_ctx *ctx, const uint8_t *der,
			       size_t len, struct req *st,
			       X509_NAME **recipient, int *protected,
			       size_t *rest)
{
	const uint8_t *msg, *hdr, *w, *c, *p;
	size_t msg_len, hdr_len, wl, cl, off = 0, o = 0, k;
	uint8_t tag;
	X509_ALGOR *alg = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_OBJECT *pbm = NULL;
	enum m2m_err rc = M2M_ERR_INVALID;
	int i;

	*recipient = NULL;
	*protected = 0;
	*rest = 0;
	if (m2m_der_read(der, len, &off, 0x30, &msg, &msg_len) < 0 ||
	    off != len ||
	    m2m_der_read(msg, msg_len, &o, 0x30, &hdr, &hdr_len) < 0)
		goto bad;
	/* pvno, sender, recipient */
	k = 0;
	if (der_next(hdr, hdr_len, &k, &tag, &w, &wl, &c, &cl) < 0 ||
	    der_next(hdr, hdr_len, &k, &tag, &w, &wl, &c, &cl) < 0 ||
	    der_next(hdr, hdr_len, &k, &tag, &w, &wl, &c, &cl) < 0)
		goto bad;
	p = w;
	gn = d2i_GENERAL_NAME(NULL, &p, (long)wl);
	if (!gn || p != w + wl)
		goto bad;
	if (gn->type == GEN_DIRNAME &&
	    X509_NAME_entry_count(gn->d.directoryName) > 0) {
		*recipient = gn->d.directoryName;
		gn->d.directoryName = NULL;
		gn->type = GEN_OTHERNAME;	/* nothing left to free */
		gn->d.otherName = NULL;
	}
	while (k < hdr_len) {
		if (der_next(hdr, hdr_len, &k, &tag, &w, &wl, &c, &cl) < 0)
			goto bad;
		if (tag != 0xa1)
			continue;
		p = c;
		alg = d2i_X509_ALGOR(NULL, &p, (long)cl);
		if (!alg)
			goto bad;
		pbm = OBJ_txt2obj(OID_PBM, 1);
		*protected = pbm && OBJ_cmp(alg->algorithm, pbm) == 0 ? 2 : 1;
		break;
	}
	/* body, then the optional protection and extraCerts */
	if (der_next(msg, msg_len, &o, &tag, &w, &wl, &c, &cl) < 0)
		goto bad;
	while (o < msg_len) {
		if (der_next(msg, msg_len, &o, &tag, &w, &wl, &c, &cl) < 0)
			goto bad;
		if (tag != 0xa1)
			continue;
		/* [1] EXPLICIT SEQUENCE OF Certificate */
		if (st->extra || o != msg_len)
			goto bad;	/* not last, or twice */
		*rest = (size_t)(w - msg);
		k = 0;
		if (m2m_der_read(c, cl, &k, 0x30, &p, &wl) < 0 || k != cl)
			goto bad;
		st->extra = sk_X509_new_null();
		if (!st->extra)
			goto bad;
		k = 0;
		for (i = 0; k < wl; i++) {
			const uint8_t *cw, *cc;
			size_t cwl, ccl;
			X509 *x;

			if (i >= CHAIN_MAX ||
			    der_next(p, wl, &k, &tag, &cw, &cwl, &cc, &ccl) < 0)
				goto bad;
			x = cert_parsed(st->srv, cw, cwl);
			if (!x || !sk_X509_push(st->extra, x)) {
				X509_free(x);
				goto bad;
			}
		}
	}
	rc = M2M_OK;
	goto out;
bad:
	m2m_error(ctx, M2M_ERR_INVALID, "the request is no DER PKIMessage");
out:
	if (rc != M2M_OK) {
		X509_NAME_free(*recipient);
		*recipient = NULL;
	}
	ASN1_OBJECT_free(pbm);
	X509_ALGOR_free(alg);
	GENERAL_NAME_free(gn);
	ERR_clear_error();
	return rc;
}

/*
 * The request der[0..len) as OpenSSL's message, parsed in libctx (NULL:
 * the default), without its extraCerts if the first rest bytes of its
 * content are all that come before them (rest 0: whole): msg_fields()
 * parsed those already, and the signer's certificate is pinned
 * (sctx_setup()), so OpenSSL need not parse them again.  NULL if it is
 * no PKIMessage.
 */
static OSSL_CMP_MSG *msg_parse(OSSL_LIB_CTX *libctx, const uint8_t *der,
			       size_t len, size_t rest)
{
	const uint8_t *content, *p;
	size_t clen, off = 0;
	uint8_t *buf = NULL;
	struct m2m_der d;
	OSSL_CMP_MSG *msg;

	if (rest) {
		if (m2m_der_read(der, len, &off, 0x30, &content, &clen) < 0 ||
		    rest > clen || !(buf = malloc(rest + 8)))
			return NULL;
		m2m_der_init(&d, buf, rest + 8);
		m2m_der_tlv(&d, 0x30, content, rest);
		if (d.bad) {
			free(buf);
			return NULL;
		}
		der = buf;
		len = d.len;
	}
	p = der;
	msg = (OSSL_CMP_MSG *)ASN1_item_d2i_ex(NULL, &p, (long)len,
					       ASN1_ITEM_rptr(OSSL_CMP_MSG),
					       libctx, NULL);
	if (msg && p != der + len) {
		OSSL_CMP_MSG_free(msg);
		msg = NULL;
	}
	free(buf);
	return msg;
}

/*
 * CertTemplate ::= SEQUENCE { version [0], serialNumber [1],
 *     signingAlg [2], issuer [3], validity [4], subject [5],
 *     publicKey [6] SubjectPublicKeyInfo (IMPLICIT), ... }
 */
struct spki {
	unsigned char *der;	/* SubjectPublicKeyInfo; NULL: none */
	size_t len;
};

/* The template's public key as DER (out->der NULL if it has none). */
static void template_spki(const OSSL_CRMF_CERTTEMPLATE *tmpl,
			  struct spki *out)
{
	unsigned char *der = NULL, *spki = NULL;
	const uint8_t *seq, *w, *c;
	size_t seq_len, wl, cl, off = 0, k = 0;
	uint8_t tag;
	struct m2m_der d;
	int n = i2d_OSSL_CRMF_CERTTEMPLATE((OSSL_CRMF_CERTTEMPLATE *)tmpl, &der);

	if (n <= 0 ||
	    m2m_der_read(der, (size_t)n, &off, 0x30, &seq, &seq_len) < 0)
		goto out;
	while (k < seq_len) {
		if (der_next(seq, seq_len, &k, &tag, &w, &wl, &c, &cl) < 0)
			goto out;
		if (tag != 0xa6)
			continue;
		spki = malloc(cl + 8);
		if (!spki)
			goto out;
		m2m_der_init(&d, spki, cl + 8);
		m2m_der_tlv(&d, 0x30, c, cl);
		if (d.bad)
			goto out;
		out->der = spki;
		out->len = d.len;
		spki = NULL;
		break;
	}
out:
	free(spki);
	OPENSSL_free(der);
}

/* The status of a PKIStatusInfo: SEQUENCE { status INTEGER, ... }. */
static int pkisi_status(const OSSL_CMP_PKISI *si)
{
	unsigned char *der = NULL;
	const uint8_t *seq, *v;
	size_t seq_len, vl, off = 0, k = 0;
	int n = i2d_OSSL_CMP_PKISI((OSSL_CMP_PKISI *)si, &der), status = -1;

	if (n > 0 && m2m_der_read(der, (size_t)n, &off, 0x30, &seq, &seq_len) == 0 &&
	    m2m_der_read(seq, seq_len, &k, 0x02, &v, &vl) == 0 && vl == 1)
		status = v[0];
	OPENSSL_free(der);
	return status;
}

/* ---- answers ------------------------------------------------------------- */

static void unconfirmed(struct req *st, const char *serial, const char *why);

static const char *op_name(int type)
{
	switch (type) {
	case BODY_IR: return "ir";
	case BODY_CR: return "cr";
	case BODY_P10CR: return "p10cr";
	case BODY_KUR: return "kur";
	case BODY_RR: return "rr";
	case BODY_GENM: return "genm";
	case BODY_CERTCONF: return "certConf";
	case BODY_ERROR: return "error";
	case BODY_POLLREQ: return "pollReq";
	default: return "-";
	}
}

/* A rejection with fail bit and text, recorded in the result. */
static OSSL_CMP_PKISI *reject(struct req *st, int fail, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static OSSL_CMP_PKISI *reject(struct req *st, int fail, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->res->text, sizeof(st->res->text), fmt, ap);
	va_end(ap);
	snprintf(st->res->status, sizeof(st->res->status), "rejected");
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection, 1 << fail,
				       st->res->text);
}

/*
 * A request refused before its body was looked at (its protection, its
 * recipient): NULL with the reason as the last error, which OpenSSL makes
 * the errorDetails of an error message.
 */
static void refuse(struct req *st)
{
	snprintf(st->res->text, sizeof(st->res->text), "%s", st->reject);
	ERR_clear_error();
	ERR_raise_data(ERR_LIB_CMP, CMP_R_REQUEST_REJECTED_BY_SERVER, "%s",
		       st->reject);
}

/* A library failure as a rejection: its detail is the text. */
static OSSL_CMP_PKISI *reject_err(struct req *st, enum m2m_err rc)
{
	int fail;

	switch (rc) {
	case M2M_ERR_VERIFY: fail = OSSL_CMP_PKIFAILUREINFO_notAuthorized; break;
	case M2M_ERR_DUPLICATE: fail = OSSL_CMP_PKIFAILUREINFO_duplicateCertReq; break;
	case M2M_ERR_INVALID:
	case M2M_ERR_USAGE: fail = OSSL_CMP_PKIFAILUREINFO_badCertTemplate; break;
	case M2M_ERR_UNSUPPORTED: fail = OSSL_CMP_PKIFAILUREINFO_badAlg; break;
	case M2M_ERR_NOT_FOUND: fail = OSSL_CMP_PKIFAILUREINFO_badCertId; break;
	default: fail = OSSL_CMP_PKIFAILUREINFO_systemFailure; break;
	}
	return reject(st, fail, "%s", m2m_ctx_detail(st->ctx)[0] ?
		      m2m_ctx_detail(st->ctx) : m2m_strerror(rc));
}

/* x as one of ours (a reference is taken). */
static enum m2m_err cert_of(struct m2m_ctx *ctx, X509 *x, struct m2m_cert **out)
{
	X509 *y = x;

	*out = NULL;
	if (!X509_up_ref(y))
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	return m2m_cert_from_x509(ctx, &y, out) == M2M_OK ? M2M_OK :
	       (X509_free(y), m2m_ctx_error(ctx));
}

/* The certificates after the signer's, as ours; *n of them. */
static enum m2m_err extra_chain(struct req *st, struct m2m_cert ***out,
				size_t *n)
{
	int i, num = st->extra ? sk_X509_num(st->extra) : 0;
	enum m2m_err rc = M2M_OK;

	*n = 0;
	*out = calloc(num > 1 ? (size_t)num : 1, sizeof(**out));
	if (!*out)
		return m2m_error(st->ctx, M2M_ERR_NOMEM, "out of memory");
	for (i = 1; i < num && rc == M2M_OK; i++) {
		rc = cert_of(st->ctx, sk_X509_value(st->extra, i),
			     &(*out)[*n]);
		if (rc == M2M_OK)
			(*n)++;
	}
	if (rc != M2M_OK) {
		m2m_cert_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* The record of a certificate this CA issued, if x is one. */
static int issued_here(struct req *st, X509 *x, struct m2m_cert_record *r)
{
	struct m2m_cert *c = NULL;
	const uint8_t *der;
	size_t len;
	int found = 0;

	if (X509_NAME_cmp(X509_get_issuer_name(x),
			  X509_get_subject_name(m2m_cert_x509(m2m_ca_cert(st->ca)))))
		return 0;
	if (cert_of(st->ctx, x, &c) != M2M_OK)
		return 0;
	if (m2m_ledger_get_cert(st->ctx, m2m_ca_ledger(st->ca),
				m2m_cert_serial(c), r) == M2M_OK) {
		der = m2m_cert_der(c, &len);
		found = r->der_len == len && memcmp(r->der, der, len) == 0;
	}
	m2m_cert_free(c);
	m2m_ctx_clear_error(st->ctx);
	return found;
}

/*
 * Is the signer a station?  0 if so, else a rejection is written into
 * why[0..size).
 */
static int station_check(struct req *st, char *why, size_t size)
{
	struct m2m_cert_record r;
	struct m2m_cert *signer = NULL, **chain = NULL;
	char subject[256];
	size_t n = 0;
	enum m2m_err rc;
	int bad = 1;

	if (!st->signer) {
		snprintf(why, size, "the request is not signed by a station");
		return 1;
	}
	m2m_name_text(X509_get_subject_name(st->signer), subject,
		      sizeof(subject));
	if (!st->srv->stations) {
		snprintf(why, size, "certificate '%s' is no station of this CA: it accepts no station (no stations file)",
			 subject);
		return 1;
	}
	rc = cert_of(st->ctx, st->signer, &signer);
	if (rc == M2M_OK)
		rc = extra_chain(st, &chain, &n);
	if (rc == M2M_OK)
		rc = m2m_anchors_verify(st->ctx, st->srv->stations, signer,
					chain, n, st->now,
					"station certificate",
					st->srv->stations_path);
	if (rc != M2M_OK) {
		snprintf(why, size, "%s", m2m_ctx_detail(st->ctx));
		goto out;
	}
	if (issued_here(st, st->signer, &r) && r.status == M2M_CERT_REVOKED) {
		snprintf(why, size, "the station certificate %s ('%s') is revoked",
			 m2m_cert_serial(signer), subject);
		goto out;
	}
	bad = 0;
out:
	m2m_cert_free(signer);
	m2m_cert_list_free(chain, n);
	return bad;
}

/*
 * Split a template's extensions: the HardwareModuleName of its
 * subjectAltName into hw[0..*hw_len) (DER of the SEQUENCE; 0: none),
 * the other names kept in *rest (a new stack, NULL if no names remain).
 */
static enum m2m_err split_names(struct req *st,
				const STACK_OF(X509_EXTENSION) *exts,
				uint8_t *hw, size_t hw_size, size_t *hw_len,
				STACK_OF(X509_EXTENSION) **rest)
{
	GENERAL_NAMES *gens = NULL, *keep = NULL;
	X509_EXTENSION *ext;
	enum m2m_err rc = M2M_ERR_NOMEM;
	int i, idx;

	*hw_len = 0;
	*rest = NULL;
	idx = exts ? X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) : -1;
	if (idx < 0)
		return M2M_OK;
	gens = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
	keep = sk_GENERAL_NAME_new_null();
	if (!gens) {
		rc = m2m_error_ossl(st->ctx, M2M_ERR_INVALID,
				    "the request's subjectAltName is malformed");
		goto out;
	}
	if (!keep)
		goto out;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const OTHERNAME *on = g->type == GEN_OTHERNAME ? g->d.otherName : NULL;

		if (on && OBJ_length(on->type_id) == sizeof(m2m_oid_hwmodule) &&
		    memcmp(OBJ_get0_data(on->type_id), m2m_oid_hwmodule,
			   sizeof(m2m_oid_hwmodule)) == 0) {
			if (*hw_len || on->value->type != V_ASN1_SEQUENCE ||
			    (size_t)on->value->value.sequence->length > hw_size) {
				rc = m2m_error(st->ctx, M2M_ERR_INVALID,
					       "the request's HardwareModuleName is malformed, too long or not the only one");
				goto out;
			}
			*hw_len = (size_t)on->value->value.sequence->length;
			memcpy(hw, on->value->value.sequence->data, *hw_len);
			continue;
		}
		if (!sk_GENERAL_NAME_push(keep, g))
			goto out;
		sk_GENERAL_NAME_set(gens, i, NULL);
	}
	if (sk_GENERAL_NAME_num(keep) > 0) {
		*rest = sk_X509_EXTENSION_new_null();
		ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, keep);
		if (!*rest || !ext || !sk_X509_EXTENSION_push(*rest, ext)) {
			X509_EXTENSION_free(ext);
			sk_X509_EXTENSION_free(*rest);
			*rest = NULL;
			goto out;
		}
	}
	rc = M2M_OK;
out:
	if (rc == M2M_ERR_NOMEM)
		m2m_error(st->ctx, rc, "out of memory");
	GENERAL_NAMES_free(gens);
	GENERAL_NAMES_free(keep);
	ERR_clear_error();
	return rc;
}

/* Does the new key equal the signer's? */
static int same_key(X509 *signer, const struct spki *pub)
{
	unsigned char *a = NULL;
	int na, same;

	if (!signer)
		return 0;
	na = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(signer), &a);
	same = na > 0 && (size_t)na == pub->len &&
	       memcmp(a, pub->der, pub->len) == 0;
	OPENSSL_free(a);
	return same;
}

/* An LDevID: enrolled with the IDevID, or renewed with the LDevID. */
static enum m2m_err ldevid_issue(struct req *st, enum m2m_ldevid_purpose purpose,
				 const struct spki *pub,
				 STACK_OF(X509_EXTENSION) *names,
				 struct m2m_issue_result *res)
{
	struct m2m_ldevid_policy pol;
	struct m2m_ldevid_request *lr = NULL;
	struct m2m_cert *signer = NULL, **chain = NULL;
	struct m2m_csr *csr = NULL;
	size_t n = 0;
	unsigned flags = same_key(st->signer, pub) ? M2M_LDEVID_REUSE_KEY : 0;
	enum m2m_err rc;

	rc = cert_of(st->ctx, st->signer, &signer);
	if (rc == M2M_OK)
		rc = extra_chain(st, &chain, &n);
	if (rc == M2M_OK)
		rc = m2m_csr_from_spki_der(st->ctx, pub->der, pub->len, names,
					   &csr);
	if (rc == M2M_OK)
		rc = m2m_ldevid_request_assemble(st->ctx, purpose, flags,
						 &signer, &chain, n, &csr, &lr);
	if (rc != M2M_OK)
		goto out;
	n = 0;
	memset(&pol, 0, sizeof(pol));
	pol.profile = st->profile;
	pol.flags = st->srv->cfg.allow_key_reuse ? M2M_LDEVID_ALLOW_KEY_REUSE : 0;
	/*
	 * A device that proves its IDevID may enroll again (it lost its
	 * LDevID, or never received one): its previous LDevID is superseded.
	 * Whoever holds the IDevID key could revoke that one anyway.
	 */
	pol.replace = purpose == M2M_LDEVID_ENROLL;
	pol.now = st->now;
	alone_begin(st->srv);
	rc = m2m_ldevid_accept(st->ctx, st->ca, lr, &pol, res);
	alone_end(st->srv);
out:
	m2m_ldevid_request_free(lr);
	m2m_cert_free(signer);
	m2m_cert_list_free(chain, n);
	m2m_csr_free(csr);
	return rc;
}

/* An IDevID for the device the template names. */
static OSSL_CMP_PKISI *idevid_issue(struct req *st,
				    const struct m2m_profile *prof,
				    const struct spki *pub,
				    const X509_NAME *subject,
				    STACK_OF(X509_EXTENSION) *names,
				    const uint8_t *hw, size_t hw_len,
				    struct m2m_issue_result *res)
{
	struct m2m_issue_request ir;
	struct m2m_ppid ppid;
	struct m2m_csr *csr = NULL;
	const uint8_t *hw_type, *sn;
	size_t hw_type_len, sn_len;
	unsigned char oid[M2M_OID_TEXT_MAX], *p = oid;
	char serial[M2M_SERIAL_MAX + 1], why[512];
	ASN1_OBJECT *want = NULL;
	OSSL_CMP_PKISI *si = NULL;
	enum m2m_err rc;
	int idx, n;

	serial[0] = '\0';
	if (!st->mac && station_check(st, why, sizeof(why)))
		return reject(st, OSSL_CMP_PKIFAILUREINFO_notAuthorized,
			      "%s", why);
	if (!hw_len)
		return reject(st, OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
			      "an IDevID request names the device with a HardwareModuleName (otherName 1.3.6.1.5.5.7.8.4) in its subjectAltName, which this one lacks");
	rc = m2m_hwmodule_parse(st->ctx, hw, hw_len, &hw_type, &hw_type_len,
				&sn, &sn_len);
	if (rc != M2M_OK)
		return reject_err(st, rc);
	want = prof->hw_type[0] ? OBJ_txt2obj(prof->hw_type, 1) : NULL;
	n = want ? i2d_ASN1_OBJECT(want, NULL) : -1;
	if (n > 0 && (size_t)n <= sizeof(oid))
		n = i2d_ASN1_OBJECT(want, &p);
	ASN1_OBJECT_free(want);
	ERR_clear_error();
	/*
	 * The hwType must be the profile's device model, or the placeholder
	 * id-on-hardwareModuleName itself (no device model), which a station
	 * that does not know the model sends (m2m-enroll --server does): the
	 * profile's is put in the certificate either way.
	 */
	if (hw_type_len == 2 + sizeof(m2m_oid_hwmodule) &&
	    hw_type[1] == sizeof(m2m_oid_hwmodule) &&
	    memcmp(hw_type + 2, m2m_oid_hwmodule, sizeof(m2m_oid_hwmodule)) == 0 &&
	    prof->hw_type[0])
		n = -2;
	if (n != -2 &&
	    (n <= 0 || (size_t)n != hw_type_len || memcmp(oid, hw_type, hw_type_len)))
		return reject(st, OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
			      "the request's hwType is not profile %s's device model (%s)",
			      prof->name, prof->hw_type[0] ? prof->hw_type : "none set");
	rc = m2m_ppid_decode(st->ctx, &ppid, sn, sn_len);
	if (rc != M2M_OK) {
		m2m_error_prefix(st->ctx, "the request's hwSerialNum is no PPID");
		return reject_err(st, rc);
	}
	idx = subject ? X509_NAME_get_index_by_NID(subject, NID_serialNumber, -1) : -1;
	if (idx >= 0) {
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(
			X509_NAME_get_entry(subject, idx));

		if (!v || v->length <= 0 || v->length > M2M_SERIAL_MAX)
			return reject(st, OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
				      "the request's subject serialNumber is empty or longer than %d characters",
				      M2M_SERIAL_MAX);
		memcpy(serial, v->data, (size_t)v->length);
		serial[v->length] = '\0';
	}
	rc = m2m_csr_from_spki_der(st->ctx, pub->der, pub->len, names, &csr);
	if (rc == M2M_OK) {
		memset(&ir, 0, sizeof(ir));
		ir.profile = prof->name;
		ir.csr = csr;
		ir.ppid = &ppid;
		ir.device_serial = serial[0] ? serial : NULL;
		ir.now = st->now;
		if (st->srv->wca) {
			rc = issue_grouped(st, &ir, res);
		} else {
			alone_begin(st->srv);
			rc = m2m_ca_issue(st->ctx, st->ca, &ir, res);
			alone_end(st->srv);
		}
	}
	if (rc != M2M_OK)
		si = reject_err(st, rc);
	m2m_csr_free(csr);
	return si;
}

static OSSL_CMP_PKISI *cert_request_cb(OSSL_CMP_SRV_CTX *sctx,
				       const OSSL_CMP_MSG *msg, int certReqId,
				       const OSSL_CRMF_MSG *crm,
				       const X509_REQ *p10cr, X509 **certOut,
				       STACK_OF(X509) **chainOut,
				       STACK_OF(X509) **caPubs)
{
	struct req *st = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	struct m2m_issue_result res;
	const struct m2m_profile *prof;
	const STACK_OF(X509_EXTENSION) *exts = NULL;
	STACK_OF(X509_EXTENSION) *owned = NULL, *names = NULL;
	const X509_NAME *subject = NULL;
	struct spki pub = { NULL, 0 };
	unsigned char *p10_der = NULL;
	const uint8_t *cert_der;
	size_t cert_len;
	STACK_OF(X509) *chain;
	X509 *x;
	OSSL_CMP_PKISI *si = NULL;
	uint8_t hw[512];
	size_t hw_len = 0;
	int type = OSSL_CMP_MSG_get_bodytype(msg);
	const char *name;
	enum m2m_err rc;

	st->called = 1;
	(void)certReqId;
	(void)caPubs;
	memset(&res, 0, sizeof(res));
	if (st->reject[0]) {
		refuse(st);
		return NULL;
	}
	if (p10cr) {
		int n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY((X509_REQ *)p10cr),
					&p10_der);

		pub.der = n > 0 ? malloc((size_t)n) : NULL;
		if (pub.der) {
			memcpy(pub.der, p10_der, (size_t)n);
			pub.len = (size_t)n;
		}
		subject = X509_REQ_get_subject_name(p10cr);
		exts = owned = X509_REQ_get_extensions((X509_REQ *)p10cr);
	} else {
		const OSSL_CRMF_CERTTEMPLATE *t = OSSL_CRMF_MSG_get0_tmpl(crm);

		if (t)
			template_spki(t, &pub);
		subject = t ? OSSL_CRMF_CERTTEMPLATE_get0_subject(t) : NULL;
		exts = t ? OSSL_CRMF_CERTTEMPLATE_get0_extensions(t) : NULL;
	}
	if (!pub.der) {
		si = reject(st, OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
			    "the request's template holds no public key (central key generation is not offered)");
		goto out;
	}
	rc = split_names(st, exts, hw, sizeof(hw), &hw_len, &names);
	if (rc != M2M_OK) {
		si = reject_err(st, rc);
		goto out;
	}
	if (type == BODY_KUR) {
		if (!st->signer) {
			si = reject(st, OSSL_CMP_PKIFAILUREINFO_notAuthorized,
				    "kur must be signed with the certificate it renews");
			goto out;
		}
		rc = ldevid_issue(st, M2M_LDEVID_RENEW, &pub, names, &res);
		if (rc != M2M_OK) {
			si = reject_err(st, rc);
			goto out;
		}
	} else {
		name = st->profile ? st->profile : "idevid";
		prof = m2m_profiles_get(m2m_ca_profiles(st->ca), name);
		if (!prof) {
			si = reject(st, OSSL_CMP_PKIFAILUREINFO_badRequest,
				    "this CA has no profile '%s'", name);
			goto out;
		}
		if (prof->type == M2M_PROFILE_LDEVID) {
			if (!st->signer) {
				si = reject(st, OSSL_CMP_PKIFAILUREINFO_notAuthorized,
					    "an LDevID request (profile %s) must be signed with the device's IDevID",
					    prof->name);
				goto out;
			}
			rc = ldevid_issue(st, M2M_LDEVID_ENROLL, &pub, names, &res);
			if (rc != M2M_OK) {
				si = reject_err(st, rc);
				goto out;
			}
		} else {
			si = idevid_issue(st, prof, &pub, subject, names, hw,
					  hw_len, &res);
			if (si)
				goto out;
		}
	}
	/*
	 * OpenSSL frees what it is given: references of its own.  The
	 * certificate is only written out: parsed where that is cheap.
	 */
	cert_der = m2m_cert_der(res.cert, &cert_len);
	x = wire_cert(st->srv->parse_libctx, cert_der, cert_len);
	ERR_clear_error();
	chain = ca_chain(st->srv, st->ca);
	if (!x || (chain && !(*chainOut = X509_chain_up_ref(chain)))) {
		X509_free(x);
		si = reject(st, OSSL_CMP_PKIFAILUREINFO_systemFailure,
			    "cannot send certificate %s",
			    m2m_cert_serial(res.cert));
		unconfirmed(st, m2m_cert_serial(res.cert), "cannot be sent");
		goto out;
	}
	*certOut = x;
	snprintf(st->serial, sizeof(st->serial), "%s", m2m_cert_serial(res.cert));
	snprintf(st->res->serial, sizeof(st->res->serial), "%s", st->serial);
	{
		ASN1_OCTET_STRING *h = X509_digest_sig(*certOut, NULL, NULL);

		if (h && (size_t)h->length <= sizeof(st->hash)) {
			memcpy(st->hash, h->data, (size_t)h->length);
			st->hash_len = (unsigned)h->length;
		}
		ASN1_OCTET_STRING_free(h);
	}
	snprintf(st->res->status, sizeof(st->res->status), "accepted");
	if (res.replaced[0])
		snprintf(st->res->text, sizeof(st->res->text),
			 "superseded %s", res.replaced);
	si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
out:
	m2m_cert_free(res.cert);
	free(pub.der);
	OPENSSL_free(p10_der);
	sk_X509_EXTENSION_pop_free(owned, X509_EXTENSION_free);
	sk_X509_EXTENSION_pop_free(names, X509_EXTENSION_free);
	ERR_clear_error();
	return si;
}

/*
 * The CRLReason of a revocation request (RFC 4210, 5.3.9: RevDetails {
 * certDetails CertTemplate, crlEntryDetails Extensions OPTIONAL }, the
 * first one), which OpenSSL 3.0 does not hand to the callback: 0
 * (unspecified) when none is given, -1 when the request is malformed.
 */
static int rr_reason(const OSSL_CMP_MSG *msg)
{
	unsigned char *der = NULL;
	const uint8_t *w, *c, *b, *p;
	size_t wl, cl, bl, k = 0, off = 0;
	X509_EXTENSIONS *exts = NULL;
	ASN1_ENUMERATED *e = NULL;
	uint8_t tag;
	int n, i, reason = -1;

	n = i2d_OSSL_CMP_MSG(msg, &der);
	if (n <= 0 ||
	    der_next(der, (size_t)n, &off, &tag, &w, &wl, &c, &cl) < 0 ||
	    der_next(c, cl, &k, &tag, &w, &wl, &b, &bl) < 0 ||	/* header */
	    der_next(c, cl, &k, &tag, &w, &wl, &b, &bl) < 0 || tag != 0xab)
		goto out;
	/* [11] RevReqContent: SEQUENCE OF RevDetails */
	for (i = 0; i < 2; i++) {
		k = 0;
		if (der_next(b, bl, &k, &tag, &w, &wl, &b, &bl) < 0 ||
		    tag != 0x30)
			goto out;
	}
	k = 0;
	if (der_next(b, bl, &k, &tag, &w, &wl, &c, &cl) < 0)	/* template */
		goto out;
	reason = 0;
	if (k == bl)
		goto out;
	reason = -1;
	if (der_next(b, bl, &k, &tag, &w, &wl, &c, &cl) < 0 || tag != 0x30)
		goto out;
	p = w;
	exts = d2i_X509_EXTENSIONS(NULL, &p, (long)wl);
	if (!exts || p != w + wl)
		goto out;
	e = X509V3_get_d2i(exts, NID_crl_reason, &i, NULL);
	reason = e ? (int)ASN1_ENUMERATED_get(e) : i == -1 ? 0 : -1;
out:
	ASN1_ENUMERATED_free(e);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	OPENSSL_free(der);
	ERR_clear_error();
	return reason;
}

static OSSL_CMP_PKISI *rr_cb(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *msg,
			     const X509_NAME *issuer,
			     const ASN1_INTEGER *serial)
{
	struct req *st = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	struct m2m_cert_record r;
	BIGNUM *bn = NULL;
	char *hex = NULL, canon[M2M_CERT_SERIAL_HEX], why[512];
	OSSL_CMP_PKISI *si = NULL;
	int own, reason;
	enum m2m_err rc;

	st->called = 1;
	if (st->reject[0]) {
		refuse(st);
		return NULL;
	}
	if (!issuer || !serial)
		return reject(st, OSSL_CMP_PKIFAILUREINFO_badCertId,
			      "a revocation request names the certificate by issuer and serial number");
	if (X509_NAME_cmp(issuer, X509_get_subject_name(
				  m2m_cert_x509(m2m_ca_cert(st->ca)))))
		return reject(st, OSSL_CMP_PKIFAILUREINFO_badCertId,
			      "the certificate to revoke was not issued by this CA");
	reason = rr_reason(msg);
	if (reason < 0 || reason == 8 || !m2m_crl_reason_name(reason))
		return reject(st, OSSL_CMP_PKIFAILUREINFO_badRequest,
			      "the revocation request's reason is malformed or cannot be asked for (%d)",
			      reason);
	bn = ASN1_INTEGER_to_BN(serial, NULL);
	hex = bn && !BN_is_negative(bn) ? BN_bn2hex(bn) : NULL;
	if (!hex) {
		si = reject(st, OSSL_CMP_PKIFAILUREINFO_badCertId,
			    "the serial number to revoke is malformed");
		goto out;
	}
	/* Only a station, or the certificate's own key. */
	own = st->signer && ASN1_INTEGER_cmp(X509_get0_serialNumber(st->signer),
					     serial) == 0 &&
	      issued_here(st, st->signer, &r);
	if (!own && (st->mac || station_check(st, why, sizeof(why)))) {
		si = reject(st, OSSL_CMP_PKIFAILUREINFO_notAuthorized,
			    "only a station or the certificate's own key may revoke it%s%s",
			    st->mac ? "" : ": ", st->mac ? "" : why);
		goto out;
	}
	alone_begin(st->srv);
	rc = m2m_ca_revoke(st->ctx, st->ca, hex, reason, st->now, canon);
	alone_end(st->srv);
	if (rc == M2M_ERR_INVALID) {
		si = reject(st, OSSL_CMP_PKIFAILUREINFO_certRevoked, "%s",
			    m2m_ctx_detail(st->ctx));
		goto out;
	}
	if (rc != M2M_OK) {
		si = reject_err(st, rc);
		goto out;
	}
	snprintf(st->res->serial, sizeof(st->res->serial), "%s", canon);
	snprintf(st->res->status, sizeof(st->res->status), "accepted");
	si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return si;
}

/* caCerts: SEQUENCE OF Certificate. */
static OSSL_CMP_ITAV *cacerts_itav(STACK_OF(X509) *chain)
{
	unsigned char *buf = NULL, *der = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_STRING *seq = NULL;
	ASN1_TYPE *val = NULL;
	OSSL_CMP_ITAV *itav = NULL;
	struct m2m_der d;
	size_t total = 0, mark;
	int i, n;

	for (i = 0; i < sk_X509_num(chain); i++)
		total += (size_t)i2d_X509(sk_X509_value(chain, i), NULL);
	buf = malloc(total + 16);
	if (!buf)
		goto out;
	m2m_der_init(&d, buf, total + 16);
	mark = m2m_der_open(&d, 0x30);
	for (i = 0; i < sk_X509_num(chain); i++) {
		n = i2d_X509(sk_X509_value(chain, i), &der);
		if (n > 0)
			m2m_der_raw(&d, der, (size_t)n);
		OPENSSL_free(der);
		der = NULL;
	}
	m2m_der_close(&d, mark);
	oid = OBJ_txt2obj(OID_CACERTS, 1);
	seq = ASN1_STRING_new();
	val = ASN1_TYPE_new();
	if (d.bad || !oid || !seq || !val ||
	    !ASN1_STRING_set(seq, buf, (int)d.len))
		goto out;
	ASN1_TYPE_set(val, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	itav = OSSL_CMP_ITAV_create(oid, val);
	if (itav) {
		oid = NULL;
		val = NULL;
	}
out:
	ASN1_OBJECT_free(oid);
	ASN1_STRING_free(seq);
	ASN1_TYPE_free(val);
	free(buf);
	return itav;
}

static int genm_cb(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *msg,
		   const STACK_OF(OSSL_CMP_ITAV) *in,
		   STACK_OF(OSSL_CMP_ITAV) **out)
{
	struct req *st = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	ASN1_OBJECT *want = OBJ_txt2obj(OID_CACERTS, 1);
	OSSL_CMP_ITAV *itav;
	int i, asked = sk_OSSL_CMP_ITAV_num(in) <= 0;

	st->called = 1;
	(void)msg;
	*out = NULL;
	for (i = 0; want && i < sk_OSSL_CMP_ITAV_num(in); i++)
		if (OBJ_cmp(OSSL_CMP_ITAV_get0_type(sk_OSSL_CMP_ITAV_value(in, i)),
			    want) == 0)
			asked = 1;
	ASN1_OBJECT_free(want);
	if (st->reject[0]) {
		refuse(st);
		return 0;
	}
	*out = sk_OSSL_CMP_ITAV_new_null();
	if (!*out)
		return 0;
	if (asked) {
		itav = cacerts_itav(ca_chain(st->srv, st->ca));
		if (!itav || !sk_OSSL_CMP_ITAV_push(*out, itav)) {
			OSSL_CMP_ITAV_free(itav);
			sk_OSSL_CMP_ITAV_free(*out);
			*out = NULL;
			return 0;
		}
	}
	snprintf(st->res->status, sizeof(st->res->status), "accepted");
	return 1;
}

static void error_cb(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *msg,
		     const OSSL_CMP_PKISI *si, const ASN1_INTEGER *code,
		     const OSSL_CMP_PKIFREETEXT *details)
{
	struct req *st = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);

	(void)msg;
	(void)si;
	(void)code;
	(void)details;
	snprintf(st->res->status, sizeof(st->res->status), "accepted");
}

/* Revoke an issued certificate nobody confirmed; the result says why. */
static void unconfirmed(struct req *st, const char *serial, const char *why)
{
	char canon[M2M_CERT_SERIAL_HEX];
	size_t o = strlen(st->res->text);

	enum m2m_err rc;

	alone_begin(st->srv);
	rc = m2m_ca_revoke(st->ctx, st->ca, serial, 0, st->now, canon);
	alone_end(st->srv);
	if (rc != M2M_OK)
		snprintf(st->res->text + o, sizeof(st->res->text) - o,
			 "%scertificate %s %s, and cannot be revoked: %s",
			 o ? "; " : "", serial, why, m2m_ctx_detail(st->ctx));
	else
		snprintf(st->res->text + o, sizeof(st->res->text) - o,
			 "%scertificate %s %s: revoked", o ? "; " : "", serial,
			 why);
}

static int certconf_cb(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *msg,
		       int certReqId, const ASN1_OCTET_STRING *hash,
		       const OSSL_CMP_PKISI *si)
{
	struct req *st = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	int status = si ? pkisi_status(si) : OSSL_CMP_PKISTATUS_accepted;

	st->called = 1;
	(void)msg;
	(void)certReqId;
	if (st->reject[0]) {
		refuse(st);
		return 0;
	}
	if (!st->txn) {
		ERR_raise_data(ERR_LIB_CMP, CMP_R_REQUEST_REJECTED_BY_SERVER,
			       "no certificate waits for this confirmation");
		return 0;
	}
	snprintf(st->res->serial, sizeof(st->res->serial), "%s",
		 st->txn->serial);
	if (status != OSSL_CMP_PKISTATUS_accepted &&
	    status != OSSL_CMP_PKISTATUS_grantedWithMods) {
		unconfirmed(st, st->txn->serial, "was rejected by the client");
		snprintf(st->res->status, sizeof(st->res->status), "rejected");
		st->txn->serial[0] = '\0';
		return 1;
	}
	if (!hash || (unsigned)hash->length != st->txn->hash_len ||
	    memcmp(hash->data, st->txn->hash, st->txn->hash_len)) {
		unconfirmed(st, st->txn->serial,
			    "was confirmed with another hash");
		st->txn->serial[0] = '\0';
		ERR_raise_data(ERR_LIB_CMP, CMP_R_CERTHASH_UNMATCHED, "%s",
			       st->res->text);
		return 0;
	}
	st->txn->serial[0] = '\0';
	snprintf(st->res->status, sizeof(st->res->status), "accepted");
	return 1;
}

/* ---- transactions --------------------------------------------------------- */

/* Take the transaction id out of the table (NULL: none). */
static int txn_take(struct m2m_cmp_srv *srv, const ASN1_OCTET_STRING *id,
		    struct txn *out)
{
	size_t i;
	int found = 0;

	if (!id || (size_t)id->length > TXN_ID_MAX)
		return 0;
	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < srv->ntxns; i++) {
		struct txn *t = &srv->txns[i];

		if (t->id_len == (size_t)id->length &&
		    memcmp(t->id, id->data, t->id_len) == 0) {
			*out = *t;
			srv->txns[i] = srv->txns[--srv->ntxns];
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return found;
}

/* Keep t until its certConf; 0 if the table is full. */
static int txn_put(struct m2m_cmp_srv *srv, const struct txn *t)
{
	int ok = 0;

	pthread_mutex_lock(&srv->lock);
	if (srv->ntxns < TXN_MAX) {
		srv->txns[srv->ntxns++] = *t;
		ok = 1;
	}
	pthread_mutex_unlock(&srv->lock);
	return ok;
}

/* Revoke what waited too long for its certConf. */
static void txn_sweep(struct req *st)
{
	struct txn gone[16];
	size_t i, n = 0;

	pthread_mutex_lock(&st->srv->lock);
	for (i = 0; i < st->srv->ntxns && n < 16;) {
		if (st->srv->txns[i].deadline <= st->now) {
			gone[n++] = st->srv->txns[i];
			st->srv->txns[i] = st->srv->txns[--st->srv->ntxns];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&st->srv->lock);
	for (i = 0; i < n; i++) {
		if (gone[i].serial[0])
			unconfirmed(st, gone[i].serial, "was never confirmed");
		OSSL_CMP_SRV_CTX_free(gone[i].sctx);
	}
}

/* A server context answering for ca under st. */
static enum m2m_err sctx_setup(struct req *st, OSSL_CMP_SRV_CTX **sctx)
{
	OSSL_CMP_CTX *c;
	STACK_OF(X509) *chain = ca_chain(st->srv, st->ca);

	if (!*sctx)
		*sctx = OSSL_CMP_SRV_CTX_new(st->ctx->libctx, NULL);
	c = *sctx ? OSSL_CMP_SRV_CTX_get0_cmp_ctx(*sctx) : NULL;
	if (!c ||
	    !OSSL_CMP_SRV_CTX_init(*sctx, st, cert_request_cb, rr_cb, genm_cb,
				   error_cb, certconf_cb, NULL) ||
	    !OSSL_CMP_SRV_CTX_set_grant_implicit_confirm(
		    *sctx, !st->srv->cfg.no_implicit_confirm) ||
	    !OSSL_CMP_CTX_set_log_cb(c, log_cb) ||
	    !OSSL_CMP_CTX_set_log_verbosity(c, OSSL_CMP_LOG_ERR) ||
	    !OSSL_CMP_CTX_set1_cert(c, m2m_cert_x509(m2m_ca_cert(st->ca))) ||
	    !OSSL_CMP_CTX_set1_pkey(c, m2m_key_pkey(st->ca->key)) ||
	    (chain && !OSSL_CMP_CTX_set1_untrusted(c, chain)) ||
	    !OSSL_CMP_CTX_set1_srvCert(c, st->signer) ||
	    (st->mac && st->srv->have_secret &&
	     !OSSL_CMP_CTX_set1_secretValue(c, st->srv->secret,
					    (int)st->srv->secret_len)))
		return m2m_error_ossl(st->ctx, M2M_ERR_CRYPTO,
				      "cannot set up a CMP server context");
	return M2M_OK;
}

/*
 * Answer msg again, afresh (*rsp, the answer before, dropped): a new
 * server context, which takes it unprotected if unprotected is set (the
 * callbacks then refuse it with st->reject).
 */
static enum m2m_err answer_again(struct req *st, OSSL_CMP_SRV_CTX **sctx,
				 const OSSL_CMP_MSG *msg, int unprotected,
				 OSSL_CMP_MSG **rsp)
{
	enum m2m_err rc;

	ERR_clear_error();
	OSSL_CMP_MSG_free(*rsp);
	*rsp = NULL;
	st->res->text[0] = '\0';
	OSSL_CMP_SRV_CTX_free(*sctx);
	*sctx = NULL;
	rc = sctx_setup(st, sctx);
	if (rc != M2M_OK)
		return rc;
	if (unprotected && !OSSL_CMP_SRV_CTX_set_accept_unprotected(*sctx, 1))
		return m2m_error_ossl(st->ctx, M2M_ERR_CRYPTO,
				      "cannot set up a CMP server context");
	ERR_clear_error();
	*rsp = OSSL_CMP_SRV_process_request(*sctx, msg);
	return M2M_OK;
}

enum m2m_err m2m_cmp_srv_handle(struct m2m_cmp_srv *srv, struct m2m_ctx *ctx,
				struct m2m_ca *ca, const char *profile,
				const void *req, size_t len,
				unsigned char **resp, size_t *resp_len,
				struct m2m_cmp_srv_result *res)
{
	struct req st;
	struct txn t;
	OSSL_CMP_MSG *msg = NULL, *rsp = NULL;
	OSSL_CMP_SRV_CTX *sctx = NULL;
	X509_NAME *recipient = NULL;
	unsigned char *der = NULL;
	const ASN1_OCTET_STRING *tid;
	size_t rest = 0;
	int type, protected = 0, n, keep;
	enum m2m_err rc;

	*resp = NULL;
	*resp_len = 0;
	memset(res, 0, sizeof(*res));
	snprintf(res->op, sizeof(res->op), "-");
	snprintf(res->status, sizeof(res->status), "error");
	memset(&st, 0, sizeof(st));
	memset(&t, 0, sizeof(t));
	st.srv = srv;
	st.ctx = ctx;
	st.ca = ca;
	st.profile = profile;
	st.res = res;
	st.now = m2m_now(srv->cfg.now);
	if (len == 0 || len > M2M_CMP_MSG_MAX) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the request is empty or larger than %d bytes",
			       M2M_CMP_MSG_MAX);
		goto out;
	}
	rc = msg_fields(ctx, req, len, &st, &recipient, &protected, &rest);
	if (rc != M2M_OK)
		goto out;
	msg = msg_parse(srv->parse_libctx, req, len, rest);
	if (!msg) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the request is no DER PKIMessage");
		goto out;
	}
	type = OSSL_CMP_MSG_get_bodytype(msg);
	snprintf(res->op, sizeof(res->op), "%s", op_name(type));
	st.mac = protected == 2;
	if (protected == 1 && st.extra && sk_X509_num(st.extra) > 0)
		st.signer = sk_X509_value(st.extra, 0);
	if (st.signer && (X509_get_extension_flags(st.signer) & EXFLAG_INVALID)) {
		st.signer = NULL;
		snprintf(st.reject, sizeof(st.reject),
			 "the signer's certificate (first in extraCerts) is malformed");
	}
	if (recipient &&
	    X509_NAME_cmp(recipient, X509_get_subject_name(
				  m2m_cert_x509(m2m_ca_cert(ca))))) {
		char want[160], got[160];

		m2m_name_text(recipient, got, sizeof(got));
		m2m_cert_subject(m2m_ca_cert(ca), want, sizeof(want));
		snprintf(st.reject, sizeof(st.reject),
			 "the request is for '%s', not for this CA ('%s')", got,
			 want);
	} else if (st.mac && !srv->have_secret) {
		snprintf(st.reject, sizeof(st.reject),
			 "this CA takes no MAC-protected request (it has no shared secret)");
	} else if (st.reject[0]) {
		/* said above */
	} else if (!protected && type != BODY_ERROR) {
		snprintf(st.reject, sizeof(st.reject),
			 "the request is not protected: sign it as a station or device, or MAC it with the shared secret");
	} else if (protected == 1 && !st.signer) {
		snprintf(st.reject, sizeof(st.reject),
			 "the request is signed but carries no certificate of its signer (first in extraCerts)");
	}
	txn_sweep(&st);
	tid = OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(msg));
	if (type == BODY_CERTCONF ||
	    type == BODY_POLLREQ) {
		if (txn_take(srv, tid, &t)) {
			sctx = t.sctx;
			t.sctx = NULL;
			st.txn = &t;
		}
	}
	rc = sctx_setup(&st, &sctx);
	if (rc != M2M_OK)
		goto out;
	current = &st;
	ERR_clear_error();
	/*
	 * A request refused already (wrong recipient, no secret, no signer
	 * certificate) need not pass OpenSSL's protection check first: the
	 * callbacks refuse it with the reason.
	 */
	if (st.reject[0] && !OSSL_CMP_SRV_CTX_set_accept_unprotected(sctx, 1)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot set up a CMP server context");
		goto out;
	}
	rsp = OSSL_CMP_SRV_process_request(sctx, msg);
	/*
	 * OpenSSL refused a certificate request before any callback of ours
	 * (with an error, or a rejection such as badPOP), parsed where keys of
	 * some types stay undecoded (so its proof of possession could not be
	 * checked): once more, parsed the ordinary way.
	 */
	if (rsp && !st.called && srv->parse_libctx &&
	    (type == BODY_IR || type == BODY_CR || type == BODY_KUR ||
	     type == BODY_P10CR)) {
		OSSL_CMP_MSG *again = msg_parse(NULL, req, len, rest);

		if (again) {
			OSSL_CMP_MSG_free(msg);
			msg = again;
			rc = answer_again(&st, &sctx, msg, st.reject[0] != 0,
					  &rsp);
			if (rc != M2M_OK)
				goto out;
		}
	}
	/*
	 * OpenSSL refused it before any callback of ours: if the protection
	 * does not verify, check it again to say why, and answer again with
	 * that reason (only a refused request pays a second check).
	 */
	if (rsp && OSSL_CMP_MSG_get_bodytype(rsp) == BODY_ERROR && !st.called &&
	    !st.reject[0] && protected &&
	    OSSL_CMP_validate_msg(OSSL_CMP_SRV_CTX_get0_cmp_ctx(sctx), msg) != 1) {
		unsigned long e = ERR_peek_last_error();

		snprintf(st.reject, sizeof(st.reject),
			 "the request's protection does not verify%s (%s)",
			 st.mac ? " with the shared secret" :
			 " with its signer's certificate",
			 e ? ERR_reason_error_string(e) : "changed on the way, or another key");
		rc = answer_again(&st, &sctx, msg, 1, &rsp);
		if (rc != M2M_OK)
			goto out;
	}
	current = NULL;
	if (!rsp) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make a CMP response");
		goto out;
	}
	if (OSSL_CMP_MSG_get_bodytype(rsp) == BODY_ERROR) {
		snprintf(res->status, sizeof(res->status), "error");
		if (!res->text[0])
			snprintf(res->text, sizeof(res->text), "%s",
				 st.reject[0] ? st.reject : "rejected");
	}
	n = i2d_OSSL_CMP_MSG(rsp, &der);
	if (n <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot encode the CMP response");
		goto out;
	}
	*resp = malloc((size_t)n);
	if (!*resp) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*resp, der, (size_t)n);
	*resp_len = (size_t)n;
	/* An issued certificate not implicitly confirmed waits for certConf. */
	keep = st.serial[0] && OSSL_CMP_MSG_get_bodytype(rsp) != BODY_ERROR &&
	       OSSL_CMP_CTX_get_option(OSSL_CMP_SRV_CTX_get0_cmp_ctx(sctx),
				       OSSL_CMP_OPT_IMPLICIT_CONFIRM) != 1;
	if (keep) {
		memset(&t, 0, sizeof(t));
		if (tid && (size_t)tid->length <= TXN_ID_MAX) {
			memcpy(t.id, tid->data, (size_t)tid->length);
			t.id_len = (size_t)tid->length;
		}
		memcpy(t.serial, st.serial, sizeof(t.serial));
		memcpy(t.hash, st.hash, sizeof(t.hash));
		t.hash_len = st.hash_len;
		t.deadline = st.now + srv->cfg.confirm_secs;
		t.sctx = sctx;
		if (t.id_len && txn_put(srv, &t)) {
			sctx = NULL;
		} else {
			st.txn = NULL;
			unconfirmed(&st, st.serial,
				    "cannot wait for its confirmation (too many open transactions)");
		}
	} else if (st.txn && st.txn->serial[0]) {
		/* certConf refused before our callback saw it */
		unconfirmed(&st, st.txn->serial, "got no valid confirmation");
	}
	rc = M2M_OK;
out:
	current = NULL;
	if (st.txn && t.sctx)
		OSSL_CMP_SRV_CTX_free(t.sctx);
	OSSL_CMP_SRV_CTX_free(sctx);
	OPENSSL_free(der);
	OSSL_CMP_MSG_free(rsp);
	OSSL_CMP_MSG_free(msg);
	X509_NAME_free(recipient);
	sk_X509_pop_free(st.extra, X509_free);
	ERR_clear_error();
	if (rc != M2M_OK) {
		free(*resp);
		*resp = NULL;
		*resp_len = 0;
		if (!res->text[0])
			snprintf(res->text, sizeof(res->text), "%s",
				 m2m_ctx_detail(ctx));
	}
	return rc;
}
