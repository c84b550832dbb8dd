/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ledger's public functions: back-end choice, transaction state,
 * argument checks and serial normalisation, and the audit chain, which is
 * the same for every back-end (lib/ledger/ledger.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <m2m/hex.h>
#include <m2m/ledger.h>

#include "internal.h"
#include "ledger/ledger.h"

/*
 * Back-ends by location prefix, first match wins; a bare path is SQLite.
 * ops NULL: a scheme we know but were built without.
 */
static const struct {
	const char *prefix;
	int strip;		/* give the back-end what follows prefix */
	const char *name;
	const struct m2m_ledger_ops *ops;
} backends[] = {
	{ "sqlite:", 1, "SQLite", &m2m_ledger_sqlite_ops },
	{ "postgresql://", 0, "PostgreSQL", NULL },
	{ "postgres://", 0, "PostgreSQL", NULL },
};

#define HEXDIG "0123456789abcdef"

const char *m2m_ledger_hex(char out[M2M_LEDGER_HEX_MAX], const uint8_t *p,
			   size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && i < M2M_LEDGER_HEX_OCTETS; i++) {
		out[o++] = HEXDIG[p[i] >> 4];
		out[o++] = HEXDIG[p[i] & 0x0f];
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}


/*
 * A serial as a person or a certificate gives it (hex digits, either case,
 * any number of leading zeros) in canonical form: lower case, the content
 * octets of the positive value's DER INTEGER (minimal, with a leading 00
 * octet where the first octet's high bit is set).  Every stored serial is
 * canonical, so one lookup finds it.
 */
static enum m2m_err serial_canonical(struct m2m_ctx *ctx, const char *in,
				     char out[M2M_CERT_SERIAL_HEX_MAX])
{
	const char *p = in;
	char q[M2M_QUOTE_MAX];
	size_t n, i, o = 0;

	if (!in)
		return m2m_error(ctx, M2M_ERR_USAGE, "no certificate serial");
	for (n = 0; in[n]; n++) {
		if (m2m_hex_value((unsigned char)in[n]) < 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s' is not a certificate serial (hex digits)",
					 m2m_quote(q, in, strlen(in)));
	}
	while (*p == '0')
		p++;
	n -= (size_t)(p - in);
	if (n == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "'%s' is not a certificate serial (serials are positive)",
				 m2m_quote(q, in, strlen(in)));
	if (n % 2)
		out[o++] = '0';
	else if (m2m_hex_value((unsigned char)p[0]) >= 8) {
		out[o++] = '0';
		out[o++] = '0';
	}
	if (o + n > M2M_CERT_SERIAL_HEX_MAX - 1)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "certificate serial '%s' is longer than 20 octets",
				 m2m_quote(q, in, strlen(in)));
	for (i = 0; i < n; i++)
		out[o++] = HEXDIG[m2m_hex_value((unsigned char)p[i])];
	out[o] = '\0';
	return M2M_OK;
}

/* The length of the scheme if s is a URI ("scheme://..."), else 0. */
static size_t scheme_len(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; s[i] && strchr("abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.",
				   s[i]); i++)
		;
	return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

/* l is usable now; for writes, inside a transaction. */
static enum m2m_err ready(struct m2m_ctx *ctx, const struct m2m_ledger *l,
			  const char *what, int write)
{
	if (!l)
		return m2m_error(ctx, M2M_ERR_USAGE, "%s: no ledger", what);
	if (l->walking)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "%s: called during a walk over the same ledger",
				 what);
	if (write && !l->in_tx)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "%s: no transaction is open (m2m_ledger_begin() first)",
				 what);
	return M2M_OK;
}

enum m2m_err m2m_ledger_open(struct m2m_ctx *ctx, const char *location,
			     unsigned flags, struct m2m_ledger **out)
{
	const struct m2m_ledger_ops *ops = &m2m_ledger_sqlite_ops;
	struct m2m_ledger *l = NULL;
	const char *where = location;
	char q[M2M_QUOTE_MAX];
	enum m2m_err rc = M2M_ERR_USAGE;
	size_t i, n;

	if (!out)
		return m2m_error(ctx, rc, "m2m_ledger_open: no result pointer");
	*out = NULL;
	if (!location || !*location) {
		m2m_error(ctx, rc, "no ledger location");
		goto out;
	}
	if (flags & ~(unsigned)(M2M_LEDGER_CREATE | M2M_LEDGER_READONLY) ||
	    (flags & M2M_LEDGER_CREATE && flags & M2M_LEDGER_READONLY)) {
		m2m_error(ctx, rc, "invalid ledger open flags 0x%x", flags);
		goto out;
	}
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		n = strlen(backends[i].prefix);
		if (strncmp(location, backends[i].prefix, n) != 0)
			continue;
		ops = backends[i].ops;
		where = backends[i].strip ? location + n : location;
		if (!ops) {
			rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				       "%s ledgers are not built in yet",
				       backends[i].name);
			goto out;
		}
		break;
	}
	/* Only the scheme: the rest of a URI may hold a password. */
	n = scheme_len(location);
	if (i == sizeof(backends) / sizeof(backends[0]) && n) {
		rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
			       "unknown ledger scheme '%s'",
			       m2m_quote(q, location, n));
		goto out;
	}

	rc = M2M_ERR_NOMEM;
	l = calloc(1, sizeof(*l));
	if (!l) {
		m2m_error(ctx, rc, "out of memory");
		goto out;
	}
	l->ops = ops;
	l->readonly = !!(flags & M2M_LEDGER_READONLY);
	rc = M2M_ERR_CRYPTO;
	l->sha256 = EVP_MD_fetch(ctx ? ctx->libctx : NULL, "SHA256", NULL);
	l->mdctx = EVP_MD_CTX_new();
	if (!l->sha256 || !l->mdctx) {
		m2m_error_ossl(ctx, rc,
			       "cannot set up SHA-256 for the audit log");
		goto out;
	}
	rc = ops->open(ctx, l, where, flags);
	if (rc != M2M_OK)
		goto out;
	*out = l;
	l = NULL;
out:
	m2m_ledger_close(l);
	return rc;
}

void m2m_ledger_close(struct m2m_ledger *l)
{
	if (!l)
		return;
	if (l->be) {
		if (l->in_tx)
			l->ops->rollback(l);
		l->ops->close(l);
	}
	EVP_MD_CTX_free(l->mdctx);
	EVP_MD_free(l->sha256);
	free(l);
}

int m2m_ledger_schema_version(const struct m2m_ledger *l)
{
	return l ? l->schema_version : 0;
}

enum m2m_err m2m_ledger_begin(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	enum m2m_err rc = ready(ctx, l, "cannot begin a transaction", 0);

	if (rc != M2M_OK)
		return rc;
	if (l->readonly)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot begin a transaction: the ledger is open read-only");
	if (l->in_tx)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot begin a transaction: one is already open (transactions do not nest)");
	l->audit_known = 0;
	rc = l->ops->begin(ctx, l);
	if (rc == M2M_OK)
		l->in_tx = 1;
	return rc;
}

enum m2m_err m2m_ledger_commit(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	enum m2m_err rc = ready(ctx, l, "cannot commit", 1);

	if (rc != M2M_OK)
		return rc;
	rc = l->ops->commit(ctx, l);
	l->in_tx = 0;
	l->audit_known = 0;
	return rc;
}

void m2m_ledger_rollback(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	(void)ctx;
	if (!l || !l->in_tx)
		return;
	l->ops->rollback(l);
	l->in_tx = 0;
	l->audit_known = 0;
}

/* CRLReason codes a revocation can carry: all but 7 (unused) and 8
 * (removeFromCRL, which only delta CRLs use). */
static int revocation_reason(int reason)
{
	return reason >= 0 && reason <= 10 && reason != 7 && reason != 8;
}

enum m2m_err m2m_ledger_add_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const struct m2m_cert_record *rec,
				 enum m2m_ledger_conflict *conflict)
{
	enum m2m_ledger_conflict dummy;
	char canon[M2M_CERT_SERIAL_HEX_MAX], q[M2M_QUOTE_MAX];
	enum m2m_err rc;

	if (!conflict)
		conflict = &dummy;
	*conflict = M2M_CONFLICT_NONE;
	rc = ready(ctx, l, "cannot record a certificate", 1);
	if (rc != M2M_OK)
		return rc;
	if (!rec || !rec->serial || !rec->profile || !*rec->profile ||
	    !rec->subject || !rec->der || rec->der_len == 0)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot record a certificate: serial, profile, subject and DER are required");
	if (!rec->ppid != !rec->ppid_len)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot record a certificate: a PPID needs bytes (NULL and 0 for none)");
	if (rec->status != M2M_CERT_VALID)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot record a certificate: a new record must be valid, not revoked");
	rc = serial_canonical(ctx, rec->serial, canon);
	if (rc != M2M_OK)
		return m2m_error_prefix(ctx, "cannot record a certificate");
	if (strcmp(canon, rec->serial) != 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "cannot record a certificate: serial '%s' is not in DER form (lower-case, minimal: '%s')",
				 m2m_quote(q, rec->serial, strlen(rec->serial)),
				 canon);
	if (rec->not_before > rec->not_after)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "cannot record certificate %s: notBefore is after notAfter",
				 canon);
	return l->ops->add_cert(ctx, l, rec, conflict);
}

enum m2m_err m2m_ledger_get_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const char *serial,
				 struct m2m_cert_record *out)
{
	char canon[M2M_CERT_SERIAL_HEX_MAX];
	enum m2m_err rc;

	if (!out)
		return m2m_error(ctx, M2M_ERR_USAGE, "m2m_ledger_get_cert: no result pointer");
	memset(out, 0, sizeof(*out));
	rc = ready(ctx, l, "cannot look a certificate up", 0);
	if (rc == M2M_OK)
		rc = serial_canonical(ctx, serial, canon);
	if (rc == M2M_OK)
		rc = l->ops->get_cert(ctx, l, canon, out);
	return rc;
}

enum m2m_err m2m_ledger_find_valid(struct m2m_ctx *ctx, struct m2m_ledger *l,
				   const char *profile, const uint8_t *ppid,
				   size_t ppid_len,
				   struct m2m_cert_record *out)
{
	enum m2m_err rc;

	if (!out)
		return m2m_error(ctx, M2M_ERR_USAGE, "m2m_ledger_find_valid: no result pointer");
	memset(out, 0, sizeof(*out));
	rc = ready(ctx, l, "cannot look a PPID up", 0);
	if (rc != M2M_OK)
		return rc;
	if (!profile || !ppid || ppid_len == 0)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot look a PPID up: profile and PPID are required");
	return l->ops->find_valid(ctx, l, profile, ppid, ppid_len, out);
}

enum m2m_err m2m_ledger_find_valid_device(struct m2m_ctx *ctx,
					  struct m2m_ledger *l,
					  const char *profile,
					  const char *device_serial,
					  struct m2m_cert_record *out)
{
	enum m2m_err rc;

	if (!out)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "m2m_ledger_find_valid_device: no result pointer");
	memset(out, 0, sizeof(*out));
	rc = ready(ctx, l, "cannot look a device serial up", 0);
	if (rc != M2M_OK)
		return rc;
	if (!profile || !device_serial || !*device_serial)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot look a device serial up: profile and serial are required");
	return l->ops->find_valid_device(ctx, l, profile, device_serial, out);
}

enum m2m_err m2m_ledger_revoke(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       const char *serial, int64_t revoked_at,
			       int reason)
{
	char canon[M2M_CERT_SERIAL_HEX_MAX];
	enum m2m_err rc = ready(ctx, l, "cannot revoke", 1);

	if (rc != M2M_OK)
		return rc;
	rc = serial_canonical(ctx, serial, canon);
	if (rc != M2M_OK)
		return m2m_error_prefix(ctx, "cannot revoke");
	if (!revocation_reason(reason))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "cannot revoke %s: %d is not a CRLReason a revocation can have",
				 canon, reason);
	return l->ops->revoke(ctx, l, canon, revoked_at, reason);
}

/* The caller's walk function, run so that a stop always has a detail. */
struct walk {
	struct m2m_ctx *ctx;
	enum m2m_err (*cert_fn)(void *arg, const struct m2m_cert_record *);
	enum m2m_err (*audit_fn)(void *arg, const struct m2m_audit_entry *);
	void *arg;
};

static enum m2m_err walk_stopped(struct walk *w, enum m2m_err rc)
{
	if (rc != M2M_OK && m2m_ctx_error(w->ctx) == M2M_OK)
		m2m_error(w->ctx, rc, "the walk over the ledger was stopped by its caller");
	return rc;
}

static enum m2m_err walk_cert(void *arg, const struct m2m_cert_record *r)
{
	struct walk *w = arg;

	m2m_ctx_clear_error(w->ctx);
	return walk_stopped(w, w->cert_fn(w->arg, r));
}

static enum m2m_err walk_audit(void *arg, const struct m2m_ledger_audit_row *r)
{
	struct walk *w = arg;

	m2m_ctx_clear_error(w->ctx);
	return walk_stopped(w, w->audit_fn(w->arg, &r->e));
}

enum m2m_err m2m_ledger_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
			     const struct m2m_ledger_filter *filter,
			     enum m2m_err (*fn)(void *arg,
						const struct m2m_cert_record *),
			     void *arg)
{
	static const struct m2m_ledger_filter all;
	struct walk w = { ctx, fn, NULL, arg };
	enum m2m_err rc = ready(ctx, l, "cannot list certificates", 0);

	if (rc != M2M_OK)
		return rc;
	if (!filter)
		filter = &all;
	if (!fn || filter->status < 0 || filter->status > 3 ||
	    !filter->ppid != !filter->ppid_len)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot list certificates: invalid filter");
	l->walking = 1;
	rc = l->ops->list(ctx, l, filter, walk_cert, &w);
	l->walking = 0;
	return rc;
}

enum m2m_err m2m_ledger_next_crl_number(struct m2m_ctx *ctx,
					struct m2m_ledger *l, uint64_t *number)
{
	enum m2m_err rc = ready(ctx, l, "cannot take a CRL number", 1);

	if (rc != M2M_OK)
		return rc;
	if (!number)
		return m2m_error(ctx, M2M_ERR_USAGE, "cannot take a CRL number: no result pointer");
	*number = 0;
	return l->ops->next_crl_number(ctx, l, number);
}

enum m2m_err m2m_ledger_add_crl(struct m2m_ctx *ctx, struct m2m_ledger *l,
				uint64_t number, int64_t this_update,
				const uint8_t *der, size_t der_len)
{
	enum m2m_err rc = ready(ctx, l, "cannot record a CRL", 1);

	if (rc != M2M_OK)
		return rc;
	if (number == 0 || number > INT64_MAX || !der || der_len == 0)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot record a CRL: a taken number and the DER are required");
	return l->ops->add_crl(ctx, l, number, this_update, der, der_len);
}

struct crl_walk {
	struct m2m_ctx *ctx;
	enum m2m_err (*fn)(void *arg, const struct m2m_crl_record *);
	void *arg;
};

static enum m2m_err walk_crl(void *arg, const struct m2m_crl_record *r)
{
	struct crl_walk *w = arg;
	enum m2m_err rc;

	m2m_ctx_clear_error(w->ctx);
	rc = w->fn(w->arg, r);
	if (rc != M2M_OK && m2m_ctx_error(w->ctx) == M2M_OK)
		m2m_error(w->ctx, rc, "the walk over the ledger was stopped by its caller");
	return rc;
}

enum m2m_err m2m_ledger_crl_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 enum m2m_err (*fn)(void *arg,
						    const struct m2m_crl_record *),
				 void *arg)
{
	struct crl_walk w = { ctx, fn, arg };
	enum m2m_err rc = ready(ctx, l, "cannot list the CRLs", 0);

	if (rc != M2M_OK)
		return rc;
	if (!fn)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot list the CRLs: no function");
	if (!l->ops->crl_list)
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "this ledger's back-end cannot list its CRLs");
	l->walking = 1;
	rc = l->ops->crl_list(ctx, l, walk_crl, &w);
	l->walking = 0;
	return rc;
}

/* ---- the audit log ------------------------------------------------------ */

static void be_put(uint8_t *p, uint64_t v, int n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

/* The hash of include/m2m/ledger.h's canonical encoding, with mdctx/md. */
static enum m2m_err entry_hash(struct m2m_ctx *ctx, EVP_MD_CTX *mdctx,
			       const EVP_MD *md,
			       const struct m2m_audit_entry *e,
			       uint8_t hash[M2M_AUDIT_HASH_LEN])
{
	size_t op_len = strlen(e->op), detail_len = strlen(e->detail);
	uint8_t head[20], dlen[4];
	unsigned int n = 0;

	if (op_len > UINT32_MAX || detail_len > UINT32_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "audit entry %" PRIu64 ": op or detail is 4 GiB or longer",
				 e->seq);
	be_put(head, e->seq, 8);
	be_put(head + 8, (uint64_t)e->time, 8);
	be_put(head + 16, op_len, 4);
	be_put(dlen, detail_len, 4);
	if (!EVP_DigestInit_ex2(mdctx, md, NULL) ||
	    !EVP_DigestUpdate(mdctx, head, sizeof(head)) ||
	    !EVP_DigestUpdate(mdctx, e->op, op_len) ||
	    !EVP_DigestUpdate(mdctx, dlen, sizeof(dlen)) ||
	    !EVP_DigestUpdate(mdctx, e->detail, detail_len) ||
	    !EVP_DigestUpdate(mdctx, e->prev_hash, M2M_AUDIT_HASH_LEN) ||
	    !EVP_DigestFinal_ex(mdctx, hash, &n) || n != M2M_AUDIT_HASH_LEN)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot hash audit entry %" PRIu64, e->seq);
	return M2M_OK;
}

enum m2m_err m2m_audit_entry_hash(struct m2m_ctx *ctx,
				  const struct m2m_audit_entry *e,
				  uint8_t hash[M2M_AUDIT_HASH_LEN])
{
	EVP_MD *md = NULL;
	EVP_MD_CTX *mdctx = NULL;
	enum m2m_err rc = M2M_ERR_USAGE;

	if (!e || !e->op || !e->detail || !hash) {
		m2m_error(ctx, rc, "cannot hash an audit entry: op and detail are required");
		goto out;
	}
	rc = M2M_ERR_CRYPTO;
	md = EVP_MD_fetch(ctx ? ctx->libctx : NULL, "SHA256", NULL);
	mdctx = EVP_MD_CTX_new();
	if (!md || !mdctx) {
		m2m_error_ossl(ctx, rc, "cannot set up SHA-256");
		goto out;
	}
	rc = entry_hash(ctx, mdctx, md, e, hash);
out:
	EVP_MD_CTX_free(mdctx);
	EVP_MD_free(md);
	return rc;
}

/* An audit op: a short lower-case word. */
static int audit_op_ok(const char *op)
{
	size_t i;

	for (i = 0; op[i]; i++) {
		if (i == 32 || !((op[i] >= 'a' && op[i] <= 'z') ||
				 (op[i] >= '0' && op[i] <= '9') ||
				 op[i] == '-' || op[i] == '_'))
			return 0;
	}
	return i > 0;
}

enum m2m_err m2m_ledger_audit(struct m2m_ctx *ctx, struct m2m_ledger *l,
			      int64_t time, const char *op,
			      const char *detail)
{
	struct m2m_audit_entry e;
	char q[M2M_QUOTE_MAX];
	enum m2m_err rc = ready(ctx, l, "cannot append to the audit log", 1);

	if (rc != M2M_OK)
		return rc;
	if (!op || !detail)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot append to the audit log: op and detail are required");
	if (!audit_op_ok(op))
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot append to the audit log: '%s' is not a short lower-case word",
				 m2m_quote(q, op, strlen(op)));
	/*
	 * The last entry cannot change under an open transaction (the
	 * back-end holds the lock), so it is read once per transaction.
	 */
	if (!l->audit_known) {
		rc = l->ops->audit_last(ctx, l, &l->audit_seq, l->audit_hash);
		if (rc != M2M_OK)
			return rc;
		l->audit_known = 1;
	}
	if (l->audit_seq >= INT64_MAX)
		return m2m_error(ctx, M2M_ERR_INTERNAL, "the audit log is full");
	memset(&e, 0, sizeof(e));
	e.seq = l->audit_seq + 1;
	e.time = time;
	e.op = op;
	e.detail = detail;
	memcpy(e.prev_hash, l->audit_hash, M2M_AUDIT_HASH_LEN);
	rc = entry_hash(ctx, l->mdctx, l->sha256, &e, e.hash);
	if (rc == M2M_OK)
		rc = l->ops->audit_append(ctx, l, &e);
	if (rc != M2M_OK) {
		l->audit_known = 0;
		return rc;
	}
	l->audit_seq = e.seq;
	memcpy(l->audit_hash, e.hash, M2M_AUDIT_HASH_LEN);
	return M2M_OK;
}

enum m2m_err m2m_ledger_audit_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				   enum m2m_err (*fn)(void *arg,
						      const struct m2m_audit_entry *),
				   void *arg)
{
	struct walk w = { ctx, NULL, fn, arg };
	enum m2m_err rc = ready(ctx, l, "cannot list the audit log", 0);

	if (rc != M2M_OK)
		return rc;
	if (!fn)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot list the audit log: no function");
	l->walking = 1;
	rc = l->ops->audit_list(ctx, l, walk_audit, &w);
	l->walking = 0;
	return rc;
}

struct verify {
	struct m2m_ctx *ctx;
	struct m2m_ledger *l;
	uint64_t next;			/* the seq expected */
	uint8_t prev[M2M_AUDIT_HASH_LEN];	/* the hash before it */
	uint64_t bad;
};

static enum m2m_err verify_bad(struct verify *v, uint64_t seq,
			       const char *what)
{
	v->bad = seq;
	return m2m_error(v->ctx, M2M_ERR_VERIFY,
			 "audit log: entry %" PRIu64 "%s", seq, what);
}

static enum m2m_err verify_one(void *arg, const struct m2m_ledger_audit_row *r)
{
	struct verify *v = arg;
	const struct m2m_audit_entry *e = &r->e;
	uint8_t hash[M2M_AUDIT_HASH_LEN];
	enum m2m_err rc;

	if ((int64_t)e->seq < 1) {
		v->bad = e->seq;
		return m2m_error(v->ctx, M2M_ERR_VERIFY,
				 "audit log: entry %" PRId64 " is out of sequence (entries start at 1)",
				 (int64_t)e->seq);
	}
	if (e->seq != v->next)
		return verify_bad(v, v->next, " is missing");
	if (r->op_len != strlen(e->op) || r->detail_len != strlen(e->detail))
		return verify_bad(v, e->seq, ": op or detail holds a NUL byte");
	if (r->hash_len != M2M_AUDIT_HASH_LEN ||
	    r->prev_hash_len != M2M_AUDIT_HASH_LEN)
		return verify_bad(v, e->seq, ": a stored hash is not 32 octets long");
	rc = entry_hash(v->ctx, v->l->mdctx, v->l->sha256, e, hash);
	if (rc != M2M_OK)
		return rc;
	if (memcmp(hash, e->hash, M2M_AUDIT_HASH_LEN) != 0)
		return verify_bad(v, e->seq, ": hash does not match its contents");
	if (memcmp(v->prev, e->prev_hash, M2M_AUDIT_HASH_LEN) != 0)
		return verify_bad(v, e->seq, e->seq == 1 ?
				  ": previous hash is not zero (the first entry's must be)" :
				  ": previous hash does not match the hash of the entry before");
	memcpy(v->prev, e->hash, M2M_AUDIT_HASH_LEN);
	v->next++;
	return M2M_OK;
}

enum m2m_err m2m_ledger_audit_verify(struct m2m_ctx *ctx, struct m2m_ledger *l,
				     uint64_t *count, uint64_t *bad)
{
	struct verify v;
	enum m2m_err rc;

	if (count)
		*count = 0;
	if (bad)
		*bad = 0;
	rc = ready(ctx, l, "cannot verify the audit log", 0);
	if (rc != M2M_OK)
		return rc;
	memset(&v, 0, sizeof(v));
	v.ctx = ctx;
	v.l = l;
	v.next = 1;
	l->walking = 1;
	rc = l->ops->audit_list(ctx, l, verify_one, &v);
	l->walking = 0;
	if (rc == M2M_ERR_VERIFY && bad)
		*bad = v.bad;
	if (rc == M2M_OK && count)
		*count = v.next - 1;
	return rc;
}
