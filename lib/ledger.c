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
	{ "postgresql://", 0, "PostgreSQL", &m2m_ledger_postgresql_ops },
	{ "postgres://", 0, "PostgreSQL", &m2m_ledger_postgresql_ops },
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

/* m2m_ledger_open(), with lib/ledger/ledger.h's flags too. */
static enum m2m_err ledger_open(struct m2m_ctx *ctx, const char *location,
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
	if (flags & ~(unsigned)(M2M_LEDGER_CREATE | M2M_LEDGER_READONLY |
				M2M_LEDGER_EXCL | M2M_LEDGER_ANY_VERSION) ||
	    (flags & M2M_LEDGER_CREATE && flags & M2M_LEDGER_READONLY) ||
	    (flags & M2M_LEDGER_EXCL && !(flags & M2M_LEDGER_CREATE))) {
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

enum m2m_err m2m_ledger_open(struct m2m_ctx *ctx, const char *location,
			     unsigned flags, struct m2m_ledger **out)
{
	if (flags & M2M_LEDGER_ANY_VERSION) {
		if (out)
			*out = NULL;
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "invalid ledger open flags 0x%x", flags);
	}
	return ledger_open(ctx, location, flags, out);
}

/* Forget the audit entries the open transaction queued. */
static void pending_clear(struct m2m_ledger *l)
{
	size_t i;

	for (i = 0; i < l->npending; i++) {
		free(l->pending[i].op);
		free(l->pending[i].detail);
	}
	l->npending = 0;
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
	pending_clear(l);
	free(l->pending);
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

static enum m2m_err audit_chain_pending(struct m2m_ctx *ctx,
					struct m2m_ledger *l);

enum m2m_err m2m_ledger_commit(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	enum m2m_err rc = ready(ctx, l, "cannot commit", 1);

	if (rc != M2M_OK)
		return rc;
	if (l->npending)
		rc = audit_chain_pending(ctx, l);
	if (rc == M2M_OK)
		rc = l->ops->commit(ctx, l);
	else
		l->ops->rollback(l);
	pending_clear(l);
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
	pending_clear(l);
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

/* chain_at_commit: keep the entry for m2m_ledger_commit(). */
static enum m2m_err audit_queue(struct m2m_ctx *ctx, struct m2m_ledger *l,
				int64_t time, const char *op,
				const char *detail)
{
	struct m2m_ledger_pending *p;

	if (l->npending == l->pending_size) {
		size_t n = l->pending_size ? 2 * l->pending_size : 64;

		p = realloc(l->pending, n * sizeof(*p));
		if (!p)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		l->pending = p;
		l->pending_size = n;
	}
	p = &l->pending[l->npending];
	p->time = time;
	p->op = strdup(op);
	p->detail = strdup(detail);
	if (!p->op || !p->detail) {
		free(p->op);
		free(p->detail);
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	l->npending++;
	return M2M_OK;
}

/*
 * At commit: chain the queued entries to the last one, which audit_last
 * locks until the transaction ends, and store them.
 */
static enum m2m_err audit_chain_pending(struct m2m_ctx *ctx,
					struct m2m_ledger *l)
{
	struct m2m_audit_entry e;
	uint8_t prev[M2M_AUDIT_HASH_LEN];
	uint64_t seq;
	enum m2m_err rc;
	size_t i;

	rc = l->ops->audit_last(ctx, l, &seq, prev);
	for (i = 0; rc == M2M_OK && i < l->npending; i++) {
		if (seq >= INT64_MAX)
			return m2m_error(ctx, M2M_ERR_INTERNAL,
					 "the audit log is full");
		memset(&e, 0, sizeof(e));
		e.seq = ++seq;
		e.time = l->pending[i].time;
		e.op = l->pending[i].op;
		e.detail = l->pending[i].detail;
		memcpy(e.prev_hash, prev, M2M_AUDIT_HASH_LEN);
		rc = entry_hash(ctx, l->mdctx, l->sha256, &e, e.hash);
		if (rc == M2M_OK)
			rc = l->ops->audit_append(ctx, l, &e);
		memcpy(prev, e.hash, M2M_AUDIT_HASH_LEN);
	}
	return rc;
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
	if (l->ops->chain_at_commit)
		return audit_queue(ctx, l, time, op, detail);
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

/* m2m_ledger_audit_verify(), and the last entry's hash into last. */
static enum m2m_err audit_verify(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 uint64_t *count, uint64_t *bad,
				 uint8_t last[M2M_AUDIT_HASH_LEN])
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
	if (rc == M2M_OK && last)
		memcpy(last, v.prev, M2M_AUDIT_HASH_LEN);
	return rc;
}

enum m2m_err m2m_ledger_audit_verify(struct m2m_ctx *ctx, struct m2m_ledger *l,
				     uint64_t *count, uint64_t *bad)
{
	return audit_verify(ctx, l, count, bad, NULL);
}

/* ---- locations, schema and copies --------------------------------------- */

/* The value of hex digit c, or -1. */
static int xval(int c)
{
	return m2m_hex_value((unsigned char)c);
}

/* Does the URI parameter name p[0..n), percent-decoded, equal name? */
static int param_is(const char *p, size_t n, const char *name)
{
	while (n) {
		int c = (unsigned char)*p;

		if (c == '%' && n >= 3 && xval(p[1]) >= 0 && xval(p[2]) >= 0) {
			c = xval(p[1]) << 4 | xval(p[2]);
			p += 3;
			n -= 3;
		} else {
			p++;
			n--;
		}
		if (!*name || c != (unsigned char)*name)
			return 0;
		name++;
	}
	return *name == '\0';
}

/* Append c (as '?' outside printable ASCII) to out if there is room. */
static void put_shown(char *out, size_t size, size_t *o, char c)
{
	if (*o + 1 < size)
		out[(*o)++] = (c >= 0x20 && c <= 0x7e) ? c : '?';
}

const char *m2m_ledger_location_shown(const char *location, char *out,
				      size_t size, int *had)
{
	static const char mask[] = "***";
	const char *p = location, *auth, *at = NULL, *colon = NULL;
	size_t o = 0, n;
	int pw = 0, in_query = 0;

	if (had)
		*had = 0;
	if (!out || size == 0)
		return out;
	out[0] = '\0';
	if (!location)
		return out;
	/* libpq's URIs: user[:password]@ up to the first '@' before a '/'. */
	if (strncmp(p, "postgresql://", 13) == 0)
		auth = p + 13;
	else if (strncmp(p, "postgres://", 11) == 0)
		auth = p + 11;
	else
		auth = NULL;
	if (auth) {
		for (n = 0; auth[n] && auth[n] != '/'; n++)
			if (auth[n] == '@') {
				at = auth + n;
				break;
			}
		if (at)
			colon = memchr(auth, ':', (size_t)(at - auth));
	}
	/* All of it, also past what fits: *had speaks of the whole. */
	while (*p) {
		if (colon && p == colon + 1 && p < at) {
			/* user:PASSWORD@ */
			pw = 1;
			for (n = 0; mask[n]; n++)
				put_shown(out, size, &o, mask[n]);
			p = at;
			continue;
		}
		if (auth && p >= auth && (*p == '?' || (*p == '&' && in_query))) {
			const char *key = p + 1, *eq;
			size_t klen = strcspn(key, "=&");

			in_query = 1;
			eq = key[klen] == '=' ? key + klen : NULL;
			if (eq && param_is(key, klen, "password")) {
				/* ?password=VALUE or &password=VALUE */
				pw = 1;
				for (n = 0; n < klen + 2; n++)
					put_shown(out, size, &o, p[n]);
				for (n = 0; mask[n]; n++)
					put_shown(out, size, &o, mask[n]);
				p = eq + 1 + strcspn(eq + 1, "&");
				continue;
			}
		}
		put_shown(out, size, &o, *p++);
	}
	out[o] = '\0';
	if (had)
		*had = pw;
	return out;
}

enum m2m_err m2m_ledger_migrate(struct m2m_ctx *ctx, const char *location,
				int *from, int *to)
{
	struct m2m_ledger *l = NULL;
	int f = 0;
	enum m2m_err rc;

	if (from)
		*from = 0;
	if (to)
		*to = 0;
	rc = ledger_open(ctx, location, M2M_LEDGER_ANY_VERSION, &l);
	if (rc == M2M_OK)
		rc = l->ops->migrate(ctx, l, &f);
	if (rc == M2M_OK) {
		if (from)
			*from = f;
		if (to)
			*to = l->schema_version;
	}
	m2m_ledger_close(l);
	return rc;
}

/* A walk that stops at the first item: is there one? */
static enum m2m_err any_cert(void *arg, const struct m2m_cert_record *r)
{
	(void)r;
	*(int *)arg = 1;
	return M2M_ERR_DUPLICATE;
}

static enum m2m_err any_entry(void *arg, const struct m2m_ledger_audit_row *r)
{
	(void)r;
	*(int *)arg = 1;
	return M2M_ERR_DUPLICATE;
}

static enum m2m_err any_crl(void *arg, const struct m2m_crl_record *c)
{
	(void)c;
	*(int *)arg = 1;
	return M2M_ERR_DUPLICATE;
}

/* M2M_OK if l holds no record, CRL or audit entry. */
static enum m2m_err copy_target_empty(struct m2m_ctx *ctx,
				      struct m2m_ledger *l, const char *shown)
{
	static const struct m2m_ledger_filter all;
	enum m2m_err rc;
	int found = 0;

	l->walking = 1;
	rc = l->ops->list(ctx, l, &all, any_cert, &found);
	if (rc == M2M_ERR_DUPLICATE && found)
		rc = M2M_OK;
	if (rc == M2M_OK && !found)
		rc = l->ops->crl_list(ctx, l, any_crl, &found);
	if (rc == M2M_ERR_DUPLICATE && found)
		rc = M2M_OK;
	if (rc == M2M_OK && !found)
		rc = l->ops->audit_list(ctx, l, any_entry, &found);
	if (rc == M2M_ERR_DUPLICATE && found)
		rc = M2M_OK;
	l->walking = 0;
	if (rc == M2M_OK && found)
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "ledger '%s' is not empty: a copy goes into a new ledger",
			       shown);
	return rc;
}

struct copy {
	struct m2m_ctx *ctx;
	struct m2m_ledger *to;
	struct m2m_ledger_copy_stats st;
};

static enum m2m_err copy_cert(void *arg, const struct m2m_cert_record *r)
{
	struct copy *c = arg;
	struct m2m_cert_record v = *r;
	enum m2m_err rc;

	/* Recorded valid, then revoked as it was: the same record. */
	v.status = M2M_CERT_VALID;
	v.revoked_at = 0;
	v.reason = -1;
	rc = m2m_ledger_add_cert(c->ctx, c->to, &v, NULL);
	if (rc == M2M_OK && r->status == M2M_CERT_REVOKED) {
		rc = m2m_ledger_revoke(c->ctx, c->to, r->serial, r->revoked_at,
				       r->reason);
		c->st.revoked++;
	}
	if (rc != M2M_OK)
		return m2m_error_prefix(c->ctx, "certificate %s", r->serial);
	c->st.certs++;
	return M2M_OK;
}

static enum m2m_err copy_crl(void *arg, const struct m2m_crl_record *crl)
{
	struct copy *c = arg;
	enum m2m_err rc = c->to->ops->crl_put(c->ctx, c->to, crl);

	if (rc != M2M_OK)
		return m2m_error_prefix(c->ctx, "CRL %" PRIu64, crl->number);
	c->st.crls++;
	return M2M_OK;
}

static enum m2m_err copy_entry(void *arg, const struct m2m_ledger_audit_row *r)
{
	struct copy *c = arg;
	enum m2m_err rc = c->to->ops->audit_append(c->ctx, c->to, &r->e);

	if (rc != M2M_OK)
		return m2m_error_prefix(c->ctx, "audit entry %" PRIu64,
					r->e.seq);
	return M2M_OK;
}

enum m2m_err m2m_ledger_copy(struct m2m_ctx *ctx, const char *from,
			     const char *to,
			     struct m2m_ledger_copy_stats *st)
{
	static const struct m2m_ledger_filter all;
	struct m2m_ledger *src = NULL, *dst = NULL;
	char sfrom[M2M_LEDGER_SHOWN_MAX], sto[M2M_LEDGER_SHOWN_MAX];
	uint8_t last[M2M_AUDIT_HASH_LEN], dlast[M2M_AUDIT_HASH_LEN];
	uint64_t count = 0, dcount = 0;
	struct copy c;
	enum m2m_err rc;

	memset(&c, 0, sizeof(c));
	if (st)
		memset(st, 0, sizeof(*st));
	m2m_ledger_location_shown(from, sfrom, sizeof(sfrom), NULL);
	m2m_ledger_location_shown(to, sto, sizeof(sto), NULL);
	rc = m2m_ledger_open(ctx, from, M2M_LEDGER_READONLY, &src);
	if (rc != M2M_OK)
		goto out;
	rc = audit_verify(ctx, src, &count, NULL, last);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "ledger '%s'", sfrom);
		goto out;
	}
	rc = m2m_ledger_open(ctx, to, M2M_LEDGER_CREATE, &dst);
	if (rc == M2M_OK)
		rc = copy_target_empty(ctx, dst, sto);
	if (rc == M2M_OK)
		rc = m2m_ledger_begin(ctx, dst);
	if (rc != M2M_OK)
		goto out;
	c.ctx = ctx;
	c.to = dst;
	src->walking = 1;
	rc = src->ops->list(ctx, src, &all, copy_cert, &c);
	if (rc == M2M_OK)
		rc = src->ops->crl_list(ctx, src, copy_crl, &c);
	if (rc == M2M_OK)
		rc = src->ops->audit_list(ctx, src, copy_entry, &c);
	src->walking = 0;
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "cannot copy into '%s'", sto);
		goto out;
	}
	/* What was written, read back, before it is committed. */
	rc = audit_verify(ctx, dst, &dcount, NULL, dlast);
	if (rc == M2M_OK && (dcount != count ||
			     memcmp(dlast, last, sizeof(last)) != 0))
		rc = m2m_error(ctx, M2M_ERR_VERIFY,
			       "audit log: %" PRIu64 " entries copied, %" PRIu64 " read back, or another last hash",
			       count, dcount);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "ledger '%s'", sto);
		goto out;
	}
	rc = m2m_ledger_commit(ctx, dst);
	if (rc != M2M_OK)
		goto out;
	c.st.audit = count;
	memcpy(c.st.last_hash, last, sizeof(last));
	if (st)
		*st = c.st;
out:
	m2m_ledger_close(dst);	/* an open transaction is rolled back */
	m2m_ledger_close(src);
	return rc;
}
