/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_LIB_LEDGER_H
#define M2M_LIB_LEDGER_H

/*
 * What a ledger storage back-end implements (not installed).  lib/ledger.c
 * holds everything the back-ends share: choosing a back-end by the
 * location's scheme, transaction state, argument checks, serial
 * normalisation and the audit chain.  A back-end only stores and fetches,
 * and is the one file that includes its database's headers.  Adding one is
 * a new file here and one entry in the table in lib/ledger.c.
 *
 * When an op is called, lib/ledger.c has already checked:
 *   - the arguments are well-formed (records complete, serials canonical:
 *     lower-case hex, even length, minimal positive DER content);
 *   - the write ops (add_cert, revoke, next_crl_number, add_crl,
 *     crl_put, audit_append, audit_last) run inside a transaction the
 *     back-end opened with begin, on a ledger not opened read-only;
 *   - no walk (list, audit_list) is under way on this ledger.
 * Every failure records a detail in ctx; database failures are
 * M2M_ERR_BACKEND.
 */

#include <stddef.h>
#include <stdint.h>

#include <m2m/ledger.h>

struct evp_md_st;
struct evp_md_ctx_st;

/*
 * An audit entry as stored, with the lengths a tampered store can get
 * wrong: op_len and detail_len differ from strlen() when the text holds a
 * NUL byte; e's hash arrays hold the first 32 octets of the stored ones,
 * zero-padded.  op and detail are never NULL ("" for a NULL column).
 */
struct m2m_ledger_audit_row {
	struct m2m_audit_entry e;
	size_t op_len, detail_len;
	size_t prev_hash_len, hash_len;
};

/*
 * Open flag of lib/ledger.c's own (beside include/m2m/ledger.h's): accept
 * a schema of an older version, for migrate.
 */
#define M2M_LEDGER_ANY_VERSION	0x100

struct m2m_ledger;

struct m2m_ledger_ops {
	/*
	 * Nonzero: the audit log's appends wait for the commit
	 * (m2m_ledger_audit() queues them; m2m_ledger_commit() calls
	 * audit_last, then audit_append for each, then commit), so that
	 * concurrent writers hold the log's lock only while committing.
	 */
	int chain_at_commit;

	/*
	 * Open location (the part after the scheme the table entry strips)
	 * with M2M_LEDGER_* flags; set l->be and l->schema_version.  Errors
	 * as m2m_ledger_open() documents.  On failure l->be stays NULL.
	 * With M2M_LEDGER_ANY_VERSION a schema older than the current one
	 * is opened (for migrate only).
	 */
	enum m2m_err (*open)(struct m2m_ctx *ctx, struct m2m_ledger *l,
			     const char *location, unsigned flags);
	/* Free l->be, rolling back an open transaction.  l->be may be NULL. */
	void (*close)(struct m2m_ledger *l);

	/*
	 * Write transactions.  begin waits for other writers up to 10 s;
	 * commit is durable and on failure leaves nothing of the transaction
	 * (rolled back); rollback never fails.
	 */
	enum m2m_err (*begin)(struct m2m_ctx *ctx, struct m2m_ledger *l);
	enum m2m_err (*commit)(struct m2m_ctx *ctx, struct m2m_ledger *l);
	void (*rollback)(struct m2m_ledger *l);

	/*
	 * Insert rec (status valid).  On a uniqueness conflict: detail
	 * naming it, *conflict set, M2M_ERR_DUPLICATE, nothing recorded and
	 * the transaction still usable.
	 */
	enum m2m_err (*add_cert)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const struct m2m_cert_record *rec,
				 enum m2m_ledger_conflict *conflict);
	/*
	 * Lookups by canonical serial, and of the valid record of (profile,
	 * ppid).  *out borrows memory of l->be until the next op.
	 * M2M_ERR_NOT_FOUND (with a detail) if there is none.
	 */
	enum m2m_err (*get_cert)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const char *serial,
				 struct m2m_cert_record *out);
	enum m2m_err (*find_valid)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				   const char *profile, const uint8_t *ppid,
				   size_t ppid_len,
				   struct m2m_cert_record *out);
	enum m2m_err (*find_valid_device)(struct m2m_ctx *ctx,
					  struct m2m_ledger *l,
					  const char *profile,
					  const char *device_serial,
					  struct m2m_cert_record *out);
	/* Errors as m2m_ledger_revoke() documents. */
	enum m2m_err (*revoke)(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       const char *serial, int64_t revoked_at,
			       int reason);
	/*
	 * Call fn for each record filter selects (filter->status 0..3), in
	 * order of issuance, in constant memory; the record borrows memory
	 * that is valid during the call.  A non-OK return of fn stops the
	 * walk and is returned unchanged (lib/ledger.c supplies a detail).
	 */
	enum m2m_err (*list)(struct m2m_ctx *ctx, struct m2m_ledger *l,
			     const struct m2m_ledger_filter *filter,
			     enum m2m_err (*fn)(void *arg,
						const struct m2m_cert_record *),
			     void *arg);

	/*
	 * Reserve the next CRL number (one more than the highest ever
	 * reserved), then record the CRL made with a reserved number:
	 * M2M_ERR_USAGE if number was never reserved, M2M_ERR_DUPLICATE if
	 * its CRL is already recorded.
	 */
	enum m2m_err (*next_crl_number)(struct m2m_ctx *ctx,
					struct m2m_ledger *l,
					uint64_t *number);
	enum m2m_err (*add_crl)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				uint64_t number, int64_t this_update,
				const uint8_t *der, size_t der_len);
	/*
	 * Every CRL in ascending number, in constant memory; fn's first
	 * non-OK code is returned unchanged.  crl_put stores one as it is
	 * (copying a ledger), so that later numbers are taken above it.
	 */
	enum m2m_err (*crl_list)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 enum m2m_err (*fn)(void *arg,
					const struct m2m_crl_record *),
				 void *arg);
	enum m2m_err (*crl_put)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				const struct m2m_crl_record *crl);

	/*
	 * Bring the schema up to the current version in a transaction of its
	 * own that waits for other migrations (not inside begin/commit);
	 * *from gets the version found, l->schema_version the new one.
	 */
	enum m2m_err (*migrate)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				int *from);

	/*
	 * The audit log.  audit_last gives the highest seq and its hash (0
	 * and zeros for an empty log) such that no other writer can append
	 * before this transaction ends (SQLite: the transaction already holds
	 * the write lock; a server database must lock).  audit_append stores
	 * e as it is (lib/ledger.c computed seq, prev_hash and hash).
	 * audit_list calls fn for each stored entry in ascending seq, in
	 * constant memory, and returns fn's first non-OK code unchanged.
	 */
	enum m2m_err (*audit_append)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				     const struct m2m_audit_entry *e);
	enum m2m_err (*audit_last)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				   uint64_t *seq,
				   uint8_t hash[M2M_AUDIT_HASH_LEN]);
	enum m2m_err (*audit_list)(struct m2m_ctx *ctx, struct m2m_ledger *l,
				   enum m2m_err (*fn)(void *arg,
					const struct m2m_ledger_audit_row *),
				   void *arg);
};

struct m2m_ledger {
	const struct m2m_ledger_ops *ops;
	void *be;			/* the back-end's state */
	int schema_version;
	int readonly;
	int in_tx;			/* a write transaction is open */
	int walking;			/* list or audit_list under way */

	/* SHA-256 for the audit chain, fetched once per ledger */
	struct evp_md_st *sha256;
	struct evp_md_ctx_st *mdctx;

	/* The audit log's last entry, known inside the open transaction. */
	int audit_known;
	uint64_t audit_seq;
	uint8_t audit_hash[M2M_AUDIT_HASH_LEN];

	/* chain_at_commit: the entries the open transaction appends */
	struct m2m_ledger_pending *pending;
	size_t npending, pending_size;
};

/* An audit entry waiting for its transaction's commit. */
struct m2m_ledger_pending {
	int64_t time;
	char *op;
	char *detail;
};

extern const struct m2m_ledger_ops m2m_ledger_sqlite_ops;
extern const struct m2m_ledger_ops m2m_ledger_postgresql_ops;

/*
 * p[0..n) in lower-case hex for a detail: at most M2M_LEDGER_HEX_OCTETS
 * octets (a whole PPID), then "...".  Returns out.
 */
#define M2M_LEDGER_HEX_OCTETS	80
#define M2M_LEDGER_HEX_MAX	(2 * M2M_LEDGER_HEX_OCTETS + 4)
const char *m2m_ledger_hex(char out[M2M_LEDGER_HEX_MAX], const uint8_t *p,
			   size_t n);

#endif
