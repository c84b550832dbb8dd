/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_ENROLL_H
#define M2M_ENROLL_H

/*
 * What the subcommands of m2m-enroll share: cmd/m2m-enroll.c holds main()
 * and the device subcommands, cmd/enroll_ldevid.c holds ldevid and renew.
 */

#include <stddef.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#include "cli.h"

/* Option ids every subcommand's table may use. */
enum {
	OPT_KEY = 1, OPT_CERT, OPT_ALGORITHM, OPT_FORCE, OPT_JSON, OPT_SUBJECT,
	OPT_OUT, OPT_DER, OPT_IN, OPT_CHAIN, OPT_PASSIN, OPT_PASSOUT, OPT_TCTI,
	OPT_AUTH
};

#define URI_SHOWN_MAX 4096	/* a location as messages show it */

/* How every subcommand reaches a key or certificate's back-end. */
#define OPT_PASSIN_ENTRY { OPT_PASSIN, "passin", 0, "SOURCE", "file key passphrase, token PIN: pass:, env:, file:, fd:" }
#define OPT_TCTI_ENTRY { OPT_TCTI, "tcti", 0, "CONFIG", "TPM TCTI (default: $M2M_TCTI, else tpm2-tss's)" }
#define OPT_AUTH_ENTRY { OPT_AUTH, "auth", 0, "SOURCE", "TPM owner hierarchy authorisation" }
#define OPT_JSON_ENTRY(what) { OPT_JSON, "json", 0, NULL, what }
#define OPT_END { 0, NULL, 0, NULL, NULL }

/* The options most subcommands take (common_opt() fills it in). */
struct common {
	const char *key;
	const char *passin;
	const char *passout;
	const char *tcti;
	const char *auth;
	int force;
	int json;
};

/* Warn that a PIN in a location (pin-value=) shows to other users. */
void warn_pin(const char *opt, const char *uri);

/* Take a shared option into c; nonzero if opt was one. */
int common_opt(struct common *c, int opt, const char *arg);

/*
 * The key options of c: --passin unlocks a file key and is a token's PIN
 * when the location names none; a new file key (generate) is encrypted
 * with --passout.
 */
struct m2m_key_opts key_opts(const struct common *c, int generate);

/* uri as messages may show it (no PIN), in buf.  Returns buf or uri. */
const char *shown(const char *uri, char buf[URI_SHOWN_MAX]);

/* s as a JSON string on stdout. */
void json_str(const char *s);

/* A usage error (exit 2) for an operand; else release the parser. */
void no_operands(struct cli_parser *p);

/* Load c->key into *key; 0, or the exit status after saying why not. */
int load_key(struct m2m_ctx *ctx, const struct common *c,
	     struct m2m_key **key);

/* a[0..na) and b[0..nb) are the same certificates in the same order. */
int same_certs(struct m2m_cert *const *a, size_t na,
	       struct m2m_cert *const *b, size_t nb);

/*
 * cmd/enroll_cmp.c: the same from a CA server over CMP (--server URL),
 * and revoke.  The options every remote subcommand takes:
 */
enum {
	OPT_SERVER = 300, OPT_SERVER_TRUST, OPT_TIMEOUT, OPT_EXPLICIT_CONFIRM,
	OPT_STATION_CERT, OPT_STATION_KEY, OPT_STATION_PASSIN, OPT_SECRET,
	OPT_REF
};

#define OPT_SERVER_ENTRIES \
	{ 0, NULL, 0, NULL, "From a CA server over CMP (instead of --ca):" }, \
	{ OPT_SERVER, "server", 0, "URL", "http://HOST:PORT/.well-known/cmp[/p/PROFILE]" }, \
	{ OPT_SERVER_TRUST, "server-trust", 0, "FILE", "anchors the server and what it issues chain to (PEM)" }, \
	{ OPT_TIMEOUT, "timeout", 0, "SECONDS", "for each answer of the server (default 30)" }, \
	{ OPT_EXPLICIT_CONFIRM, "explicit-confirm", 0, NULL, "confirm with certConf, not implicitly" }

/* How a station protects its requests (idevid, revoke). */
#define OPT_STATION_ENTRIES \
	{ OPT_STATION_CERT, "station-cert", 0, "FILE", "the station's certificate (and chain), PEM" }, \
	{ OPT_STATION_KEY, "station-key", 0, "URI", "the station's key, signs the requests" }, \
	{ OPT_STATION_PASSIN, "station-passin", 0, "SOURCE", "the station key's passphrase or PIN" }, \
	{ OPT_SECRET, "secret", 0, "SOURCE", "or a shared secret (MAC): pass:, env:, file:, fd:" }, \
	{ OPT_REF, "ref", 0, "REF", "the shared secret's reference (senderKID)" }

struct m2m_cmp_client;

struct remote {
	const char *server, *trust, *station_cert, *station_key;
	const char *station_passin, *secret, *ref;
	int timeout, explicit_confirm;
	/* What remote_open() made; remote_close() frees it. */
	struct m2m_cmp_client *cl;
	struct m2m_key *skey;
	struct m2m_cert **scerts, **anchors;
	size_t nscerts, nanchors;
};

/* Take a remote option into r; nonzero if opt was one. */
int remote_opt(struct remote *r, int opt, const char *arg);

/*
 * Usage errors (exit 2) for what r lacks or has too much of: --server
 * needs --server-trust; with station set, one of --station-cert and
 * --station-key together, or --secret and --ref together (none: the
 * caller's own key protects, if own_key); without, neither.
 */
void remote_check(const struct remote *r, int station, int own_key);

/*
 * The anchors, and a client protected by the station's credential or the
 * secret, else by key and certs[0..ncerts) (borrowed).  0, or the exit
 * status after saying why not.
 */
int remote_open(struct m2m_ctx *ctx, const struct common *c, struct remote *r,
		const struct m2m_key *key, struct m2m_cert *const *certs,
		size_t ncerts);
void remote_close(struct remote *r);

extern const struct cli_command revoke_cmd;
int cmd_revoke(struct m2m_ctx *ctx, int argc, char **argv);

/* cmd/enroll_ldevid.c: LDevIDs vouched for by the IDevID, and renewal. */
extern const struct cli_command ldevid_cmd;
extern const struct cli_command renew_cmd;
int cmd_ldevid(struct m2m_ctx *ctx, int argc, char **argv);
int cmd_renew(struct m2m_ctx *ctx, int argc, char **argv);

#endif
