/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 tokens through p11-kit: the one file of the library that
 * includes p11-kit.  Conventions (shared/spec/profiles.md, "PKCS#11
 * conventions"):
 *
 * - Modules come from p11-kit's configuration, or the URI's module-path
 *   alone; module-name picks a configured module by its p11-kit name (or
 *   its library's file name without "lib" and ".so").  Each is loaded and
 *   initialised once per context, its slots and tokens listed once then
 *   (a token made later is seen by the next context).
 * - One R/W session per token, logged in (CKU_USER) at most once.  A wrong
 *   or locked PIN is reported and remembered: that token is not tried again
 *   in this context, so that a batch with a wrong PIN does not use up the
 *   token's retry counter.
 * - Objects are looked up by CKA_ID and CKA_LABEL, never listed, in as
 *   few searches as can be (SoftHSM2 reads every object for each).  A key
 *   to make replaces those with the URI's id (or, without one, its
 *   label); a certificate to store replaces those with the URI's label
 *   (or, without one, its id) and, given only one of the two, those with
 *   the other one it gets.  A key generated without id= gets the SHA-1
 *   of its subjectPublicKey BIT STRING (RFC 5280, 4.2.1.2, method 1:
 *   usually its certificate's subject key identifier) as CKA_ID; a chain
 *   certificate gets the same of its own public key, and the leaf's label.
 * - A key handed out keeps the state (modules, sessions) alive through a
 *   reference, so it signs whatever else was freed before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include <m2m/cert.h>

#include "../cert_internal.h"
#include "../der.h"
#include "../internal.h"
#include "extkey.h"
#include "keystore.h"
#include "pkcs11_uri.h"

#define PIN_MAX		256	/* a PIN read from its source */
#define SLOTS_MAX	256	/* slots one module may report */
#define FIND_MAX	32	/* objects one search looks at */
#define CHAIN_MAX	8	/* authority certificates per label */
#define ATTR_MAX	(64 * 1024)	/* largest attribute we read */
#define ATTR_GUESS	4096	/* a first try at reading one */

struct p11_module {
	CK_FUNCTION_LIST *fn;
	char *name;		/* p11-kit's name of a configured module */
	char *file;		/* the library's file name, or NULL */
	char *path;		/* the module-path it was loaded from, or NULL */
	CK_INFO info;
	struct p11_module *next;
};

struct p11_token {
	struct p11_module *mod;
	CK_SLOT_ID slot;
	CK_SLOT_INFO sinfo;
	CK_TOKEN_INFO tinfo;
	CK_SESSION_HANDLE session;
	int open;
	int logged_in;
	CK_RV login_rv;		/* a remembered PIN failure, or CKR_OK */
	char label[M2M_QUOTE_MAX];	/* quoted, for messages */
	struct p11_token *next;
};

struct m2m_pkcs11_state {
	unsigned refs;		/* the context's, and one per key */
	CK_FUNCTION_LIST **config;	/* p11-kit's modules, once loaded */
	int config_loaded;
	struct p11_module *modules;
	struct p11_token *tokens;
};

/* A key handed to m2m_extkey_new(). */
struct p11_key {
	struct m2m_pkcs11_state *st;
	struct p11_token *tok;
	CK_OBJECT_HANDLE obj;
	int ec;
	size_t size;		/* EC: field bytes; RSA: modulus bytes */
	char uri[M2M_QUOTE_MAX];	/* quoted path, for messages */
};

/* How much login an operation needs. */
enum login {
	LOGIN_NEEDED,	/* private objects: log in if the token wants it */
	LOGIN_IF_PIN	/* public objects: log in only if a PIN is given */
};

/* DER OIDs for CKA_EC_PARAMS: prime256v1, secp384r1. */
static const unsigned char oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const unsigned char oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* ---- state ------------------------------------------------------------------ */

static void state_unref(struct m2m_pkcs11_state *st)
{
	struct p11_module *m, *mnext;
	struct p11_token *t, *tnext;

	if (!st || --st->refs)
		return;
	for (t = st->tokens; t; t = tnext) {
		tnext = t->next;
		if (t->open)
			t->mod->fn->C_CloseSession(t->session);
		free(t);
	}
	for (m = st->modules; m; m = mnext) {
		mnext = m->next;
		if (m->path) {
			p11_kit_module_finalize(m->fn);
			p11_kit_module_release(m->fn);
		}
		free(m->name);
		free(m->file);
		free(m->path);
		free(m);
	}
	if (st->config)
		p11_kit_modules_finalize_and_release(st->config);
	free(st);
}

static void pkcs11_ctx_free(struct m2m_ctx *ctx)
{
	state_unref(ctx->pkcs11);
	ctx->pkcs11 = NULL;
}

static enum m2m_err state_get(struct m2m_ctx *ctx,
			      struct m2m_pkcs11_state **out)
{
	if (!ctx->pkcs11) {
		ctx->pkcs11 = calloc(1, sizeof(*ctx->pkcs11));
		if (!ctx->pkcs11)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		ctx->pkcs11->refs = 1;
	}
	*out = ctx->pkcs11;
	return M2M_OK;
}

/* n bytes of a blank-padded PKCS#11 field equal want. */
static int padded_eq(const unsigned char *field, size_t size,
		     const char *want)
{
	size_t n = p11_kit_space_strlen(field, size);

	return strlen(want) == n && memcmp(field, want, n) == 0;
}

/* Add the initialised tokens of module m to st. */
static enum m2m_err add_tokens(struct m2m_ctx *ctx,
			       struct m2m_pkcs11_state *st,
			       struct p11_module *m)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	struct p11_token *t;
	enum m2m_err rc = M2M_ERR_BACKEND;
	CK_RV rv;

	rv = m->fn->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > SLOTS_MAX)
		n = SLOTS_MAX;
	if (rv == CKR_OK && n) {
		slots = calloc(n, sizeof(*slots));
		if (!slots) {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
		rv = m->fn->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "cannot list the slots of PKCS#11 module '%s': %s",
			       m->name ? m->name : m->path,
			       p11_kit_strerror(rv));
		goto out;
	}
	for (i = 0; i < n; i++) {
		t = calloc(1, sizeof(*t));
		if (!t) {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (m->fn->C_GetSlotInfo(slots[i], &t->sinfo) != CKR_OK ||
		    m->fn->C_GetTokenInfo(slots[i], &t->tinfo) != CKR_OK ||
		    !(t->tinfo.flags & CKF_TOKEN_INITIALIZED)) {
			free(t);
			continue;
		}
		t->mod = m;
		t->slot = slots[i];
		m2m_quote(t->label, (const char *)t->tinfo.label,
			  p11_kit_space_strlen(t->tinfo.label,
					       sizeof(t->tinfo.label)));
		t->next = st->tokens;
		st->tokens = t;
	}
	rc = M2M_OK;
out:
	free(slots);
	return rc;
}

/* Record fn (loaded from path, or configured if path is NULL) in st. */
static enum m2m_err add_module(struct m2m_ctx *ctx,
			       struct m2m_pkcs11_state *st,
			       CK_FUNCTION_LIST *fn, const char *path,
			       struct p11_module **out)
{
	struct p11_module *m;

	m = calloc(1, sizeof(*m));
	if (!m)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	m->fn = fn;
	if (path) {
		m->path = strdup(path);
		if (!m->path) {
			free(m);
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		}
	} else {
		m->name = p11_kit_module_get_name(fn);
		m->file = p11_kit_module_get_filename(fn);
	}
	if (fn->C_GetInfo(&m->info) != CKR_OK)
		memset(&m->info, 0, sizeof(m->info));
	m->next = st->modules;
	st->modules = m;
	*out = m;
	return add_tokens(ctx, st, m);
}

static enum m2m_err load_config(struct m2m_ctx *ctx,
				struct m2m_pkcs11_state *st)
{
	struct p11_module *m;
	enum m2m_err rc;
	size_t i;

	if (st->config_loaded)
		return M2M_OK;
	st->config = p11_kit_modules_load_and_initialize(0);
	if (!st->config) {
		const char *msg = p11_kit_message();

		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot load p11-kit's PKCS#11 modules: %s",
				 msg ? msg : "unknown error");
	}
	st->config_loaded = 1;
	for (i = 0; st->config[i]; i++) {
		/* A module that cannot list its slots shows no token. */
		rc = add_module(ctx, st, st->config[i], NULL, &m);
		if (rc == M2M_ERR_NOMEM)
			return rc;
	}
	return M2M_OK;
}

static enum m2m_err load_path(struct m2m_ctx *ctx, struct m2m_pkcs11_state *st,
			      const char *path)
{
	char q[M2M_QUOTE_MAX];
	CK_FUNCTION_LIST *fn;
	struct p11_module *m;
	const char *msg;
	CK_RV rv;

	for (m = st->modules; m; m = m->next)
		if (m->path && strcmp(m->path, path) == 0)
			return M2M_OK;
	fn = p11_kit_module_load(path, 0);
	if (!fn) {
		msg = p11_kit_message();
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot load PKCS#11 module '%s': %s",
				 m2m_quote(q, path, strlen(path)),
				 msg ? msg : "unknown error");
	}
	rv = p11_kit_module_initialize(fn);
	if (rv != CKR_OK) {
		p11_kit_module_release(fn);
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot initialise PKCS#11 module '%s': %s",
				 m2m_quote(q, path, strlen(path)),
				 p11_kit_strerror(rv));
	}
	if (add_module(ctx, st, fn, path, &m) != M2M_OK) {
		/* m was added (and is finalised with st) unless out of memory. */
		if (!st->modules || st->modules->fn != fn) {
			p11_kit_module_finalize(fn);
			p11_kit_module_release(fn);
		}
		return m2m_ctx_error(ctx);
	}
	return M2M_OK;
}

/* The module the URI's module-name or module-path asks for is m. */
static int module_matches(const struct p11_module *m,
			  const struct m2m_pkcs11_uri *uri)
{
	const char *base;
	size_t n;

	if (uri->has & M2M_P11_MODULE_PATH)
		return m->path && strcmp(m->path, uri->module_path) == 0;
	if (m->path)
		return 0;
	if (!(uri->has & M2M_P11_MODULE_NAME))
		return 1;
	if (m->name && strcmp(m->name, uri->module_name) == 0)
		return 1;
	if (!m->file)
		return 0;
	/* RFC 7512: the library's name without prefix and suffix. */
	base = strrchr(m->file, '/');
	base = base ? base + 1 : m->file;
	if (strncmp(base, "lib", 3) == 0)
		base += 3;
	n = strcspn(base, ".");
	return n == strlen(uri->module_name) &&
	       strncmp(base, uri->module_name, n) == 0;
}

static int token_matches(const struct p11_token *t,
			 const struct m2m_pkcs11_uri *uri)
{
	const CK_INFO *li = &t->mod->info;
	unsigned h = uri->has;

	if (!module_matches(t->mod, uri))
		return 0;
	if ((h & M2M_P11_LIB_MANUFACTURER) &&
	    !padded_eq(li->manufacturerID, sizeof(li->manufacturerID),
		       uri->lib_manufacturer))
		return 0;
	if ((h & M2M_P11_LIB_DESCRIPTION) &&
	    !padded_eq(li->libraryDescription,
		       sizeof(li->libraryDescription), uri->lib_description))
		return 0;
	if ((h & M2M_P11_LIB_VERSION) &&
	    (li->libraryVersion.major != uri->lib_version[0] ||
	     li->libraryVersion.minor != uri->lib_version[1]))
		return 0;
	if ((h & M2M_P11_SLOT_ID) && t->slot != uri->slot_id)
		return 0;
	if ((h & M2M_P11_SLOT_DESCRIPTION) &&
	    !padded_eq(t->sinfo.slotDescription,
		       sizeof(t->sinfo.slotDescription),
		       uri->slot_description))
		return 0;
	if ((h & M2M_P11_SLOT_MANUFACTURER) &&
	    !padded_eq(t->sinfo.manufacturerID,
		       sizeof(t->sinfo.manufacturerID),
		       uri->slot_manufacturer))
		return 0;
	if ((h & M2M_P11_TOKEN) &&
	    !padded_eq(t->tinfo.label, sizeof(t->tinfo.label), uri->token))
		return 0;
	if ((h & M2M_P11_MANUFACTURER) &&
	    !padded_eq(t->tinfo.manufacturerID,
		       sizeof(t->tinfo.manufacturerID), uri->manufacturer))
		return 0;
	if ((h & M2M_P11_SERIAL) &&
	    !padded_eq(t->tinfo.serialNumber, sizeof(t->tinfo.serialNumber),
		       uri->serial))
		return 0;
	if ((h & M2M_P11_MODEL) &&
	    !padded_eq(t->tinfo.model, sizeof(t->tinfo.model), uri->model))
		return 0;
	return 1;
}

/*
 * Read the PIN the URI or opts name into pin[0..PIN_MAX); *have is 0 if
 * none is named.  The caller wipes pin.
 */
static enum m2m_err pin_read(struct m2m_ctx *ctx, struct p11_token *t,
			     const struct m2m_pkcs11_uri *uri,
			     const struct m2m_key_opts *opts, char *pin,
			     size_t *len, int *have)
{
	static const char *const sources[] = { "pass:", "env:", "file:",
					       "fd:" };
	char src[M2M_P11_PATH_MAX + 8];
	const char *s = NULL;
	enum m2m_err rc;
	size_t i;

	*have = 0;
	*len = 0;
	if (uri->has & M2M_P11_PIN_VALUE) {
		*len = strlen(uri->pin_value);
		if (*len >= PIN_MAX)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "pin-value is too long");
		memcpy(pin, uri->pin_value, *len + 1);
		*have = 1;
		return M2M_OK;
	}
	if (uri->has & M2M_P11_PIN_SOURCE) {
		for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
			if (strncmp(uri->pin_source, sources[i],
				    strlen(sources[i])) == 0)
				s = uri->pin_source;
		if (!s) {
			/* A bare path is a file. */
			snprintf(src, sizeof(src), "file:%s", uri->pin_source);
			s = src;
		}
	} else if (opts->pin_source) {
		s = opts->pin_source;
	}
	if (!s)
		return M2M_OK;
	rc = m2m_secret_read(ctx, s, pin, PIN_MAX, len);
	if (rc != M2M_OK)
		return m2m_error_prefix(ctx, "PIN for token '%s'", t->label);
	*have = 1;
	return M2M_OK;
}

static enum m2m_err login_error(struct m2m_ctx *ctx, const struct p11_token *t,
				int again)
{
	const char *note = again ? " (not tried again in this context)" : "";

	if (t->login_rv == CKR_PIN_LOCKED)
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "the PIN of token '%s' is locked%s", t->label,
				 note);
	return m2m_error(ctx, M2M_ERR_BACKEND, "wrong PIN for token '%s'%s",
			 t->label, note);
}

/* Open t's session and log in as the operation needs. */
static enum m2m_err token_open(struct m2m_ctx *ctx, struct p11_token *t,
			       const struct m2m_pkcs11_uri *uri,
			       const struct m2m_key_opts *opts,
			       enum login login)
{
	CK_FUNCTION_LIST *fn = t->mod->fn;
	char pin[PIN_MAX];
	size_t len = 0;
	int have = 0;
	enum m2m_err rc;
	CK_RV rv;

	if (!t->open) {
		rv = fn->C_OpenSession(t->slot,
				       CKF_SERIAL_SESSION | CKF_RW_SESSION,
				       NULL, NULL, &t->session);
		if (rv != CKR_OK)
			return m2m_error(ctx, M2M_ERR_BACKEND,
					 "cannot open a session with token '%s': %s",
					 t->label, p11_kit_strerror(rv));
		t->open = 1;
	}
	if (t->logged_in)
		return M2M_OK;
	if (t->login_rv != CKR_OK)
		return login_error(ctx, t, 1);
	if (login == LOGIN_NEEDED && !(t->tinfo.flags & CKF_LOGIN_REQUIRED))
		return M2M_OK;
	rc = pin_read(ctx, t, uri, opts, pin, &len, &have);
	if (rc != M2M_OK)
		goto out;
	if (!have && !(t->tinfo.flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
		if (login == LOGIN_NEEDED)
			rc = m2m_error(ctx, M2M_ERR_USAGE,
				       "token '%s' needs a PIN: give pin-source",
				       t->label);
		goto out;
	}
	/* Fresh flags: a locked PIN is not tried at all. */
	if (fn->C_GetTokenInfo(t->slot, &t->tinfo) == CKR_OK &&
	    (t->tinfo.flags & CKF_USER_PIN_LOCKED)) {
		t->login_rv = CKR_PIN_LOCKED;
		rc = login_error(ctx, t, 0);
		goto out;
	}
	rv = fn->C_Login(t->session, CKU_USER,
			 have ? (CK_UTF8CHAR *)pin : NULL, have ? len : 0);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		t->logged_in = 1;
	} else if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE ||
		   rv == CKR_PIN_LOCKED) {
		t->login_rv = rv;
		rc = login_error(ctx, t, 0);
	} else {
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "cannot log in to token '%s': %s", t->label,
			       p11_kit_strerror(rv));
	}
out:
	m2m_secret_wipe(pin, sizeof(pin));
	return rc;
}

/*
 * Parse locator into a new *uri (free with uri_free), find its one token
 * and open it.  *st gets the context's state.
 */
static enum m2m_err uri_token(struct m2m_ctx *ctx, const char *locator,
			      const struct m2m_key_opts *opts,
			      enum login login, struct m2m_pkcs11_uri **urip,
			      struct m2m_pkcs11_state **stp,
			      struct p11_token **out)
{
	struct m2m_pkcs11_uri *uri = NULL;
	struct m2m_pkcs11_state *st = NULL;
	struct p11_token *t, *found = NULL;
	char q[M2M_QUOTE_MAX];
	unsigned n = 0;
	enum m2m_err rc;

	*out = NULL;
	*urip = NULL;
	uri = malloc(sizeof(*uri));
	if (!uri)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	rc = m2m_pkcs11_uri_parse(ctx, locator, strlen(locator), uri);
	if (rc != M2M_OK)
		goto out;
	rc = state_get(ctx, &st);
	if (rc != M2M_OK)
		goto out;
	rc = uri->has & M2M_P11_MODULE_PATH ?
	     load_path(ctx, st, uri->module_path) : load_config(ctx, st);
	if (rc != M2M_OK)
		goto out;
	for (t = st->tokens; t; t = t->next)
		if (token_matches(t, uri)) {
			found = t;
			n++;
		}
	m2m_quote(q, uri->path, strlen(uri->path));
	if (n == 0) {
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "no PKCS#11 token matches '%s'", q);
		goto out;
	}
	if (n > 1) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "%u PKCS#11 tokens match '%s': name one with token= or serial=",
			       n, q);
		goto out;
	}
	rc = token_open(ctx, found, uri, opts, login);
	if (rc != M2M_OK)
		goto out;
	*stp = st;
	*out = found;
	*urip = uri;
	uri = NULL;
out:
	if (uri) {
		m2m_pkcs11_uri_release(uri);
		free(uri);
	}
	return rc;
}

static void uri_free(struct m2m_pkcs11_uri *uri)
{
	if (!uri)
		return;
	m2m_pkcs11_uri_release(uri);
	free(uri);
}

/* ---- objects ------------------------------------------------------------------ */

/* Objects matching tmpl[0..n) into out[0..max); *count gets how many. */
static enum m2m_err find(struct m2m_ctx *ctx, struct p11_token *t,
			 CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out,
			 CK_ULONG max, CK_ULONG *count)
{
	CK_FUNCTION_LIST *fn = t->mod->fn;
	CK_RV rv;

	*count = 0;
	rv = fn->C_FindObjectsInit(t->session, tmpl, n);
	if (rv == CKR_OK) {
		rv = fn->C_FindObjects(t->session, out, max, count);
		fn->C_FindObjectsFinal(t->session);
	}
	if (rv != CKR_OK)
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot search token '%s': %s", t->label,
				 p11_kit_strerror(rv));
	return M2M_OK;
}

/*
 * The attributes a[0..n) of obj, into the buffers they point to; each
 * one's ulValueLen gets its length.  Fails if one cannot be read.
 */
static enum m2m_err get_attrs(struct m2m_ctx *ctx, struct p11_token *t,
			      CK_OBJECT_HANDLE obj, CK_ATTRIBUTE *a, CK_ULONG n)
{
	CK_ULONG i;
	CK_RV rv;

	rv = t->mod->fn->C_GetAttributeValue(t->session, obj, a, n);
	for (i = 0; i < n; i++)
		if (rv != CKR_OK || a[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
			break;
	if (i == n)
		return M2M_OK;
	return m2m_error(ctx, M2M_ERR_BACKEND,
			 "cannot read attribute 0x%lx of an object on token '%s': %s",
			 (unsigned long)a[i].type, t->label,
			 p11_kit_strerror(rv != CKR_OK ? rv :
					  CKR_ATTRIBUTE_TYPE_INVALID));
}

/* The attribute type of obj into buf[0..size); *len its length. */
static enum m2m_err get_attr(struct m2m_ctx *ctx, struct p11_token *t,
			     CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
			     void *buf, size_t size, size_t *len)
{
	CK_ATTRIBUTE a = { type, buf, size };
	enum m2m_err rc;

	rc = get_attrs(ctx, t, obj, &a, 1);
	if (rc == M2M_OK)
		*len = a.ulValueLen;
	return rc;
}

/*
 * The attribute type of obj into a new *out (free()), *len.  A buffer of
 * ATTR_GUESS bytes first, which most certificates fit: one round trip;
 * else its length asked for, then read.
 */
static enum m2m_err get_attr_alloc(struct m2m_ctx *ctx, struct p11_token *t,
				   CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
				   unsigned char **out, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, ATTR_GUESS };
	CK_RV rv;

	*out = NULL;
	a.pValue = malloc(ATTR_GUESS);
	if (!a.pValue)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	rv = t->mod->fn->C_GetAttributeValue(t->session, obj, &a, 1);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		free(a.pValue);
		a.pValue = NULL;
		a.ulValueLen = 0;
		rv = t->mod->fn->C_GetAttributeValue(t->session, obj, &a, 1);
		if (rv == CKR_OK &&
		    (a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
		     a.ulValueLen > ATTR_MAX))
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
		if (rv == CKR_OK) {
			a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
			if (!a.pValue)
				return m2m_error(ctx, M2M_ERR_NOMEM,
						 "out of memory");
			rv = t->mod->fn->C_GetAttributeValue(t->session, obj,
							     &a, 1);
		}
	}
	if (rv == CKR_OK && a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv != CKR_OK) {
		free(a.pValue);
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot read attribute 0x%lx of an object on token '%s': %s",
				 (unsigned long)type, t->label,
				 p11_kit_strerror(rv));
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return M2M_OK;
}

static CK_ULONG get_ulong(struct p11_token *t, CK_OBJECT_HANDLE obj,
			  CK_ATTRIBUTE_TYPE type, CK_ULONG dflt)
{
	CK_ULONG v = dflt;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	if (t->mod->fn->C_GetAttributeValue(t->session, obj, &a, 1) != CKR_OK)
		return dflt;
	return v;
}

/* What a search found: enough of an object to sort it, read at once. */
struct obj_info {
	CK_OBJECT_CLASS cls;		/* CKO_DATA if unreadable */
	CK_KEY_TYPE key_type;		/* (CK_ULONG)-1 if none */
	CK_ULONG category;		/* certificates; 0 if none */
	unsigned char id[M2M_P11_ID_MAX];
	size_t idlen;			/* 0 if none, or too long */
};

/*
 * The class, key type, certificate category and CKA_ID of obj into *oi,
 * in one round trip: an attribute the object does not have (a key's
 * category, a certificate's key type) leaves the others read.
 */
static void obj_info(struct p11_token *t, CK_OBJECT_HANDLE obj,
		     struct obj_info *oi)
{
	CK_ATTRIBUTE a[] = {
		{ CKA_CLASS, &oi->cls, sizeof(oi->cls) },
		{ CKA_KEY_TYPE, &oi->key_type, sizeof(oi->key_type) },
		{ CKA_CERTIFICATE_CATEGORY, &oi->category,
		  sizeof(oi->category) },
		{ CKA_ID, oi->id, sizeof(oi->id) },
	};
	CK_RV rv;

	rv = t->mod->fn->C_GetAttributeValue(t->session, obj, a,
					     sizeof(a) / sizeof(a[0]));
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL)
		a[0].ulValueLen = a[1].ulValueLen = a[2].ulValueLen =
			a[3].ulValueLen = CK_UNAVAILABLE_INFORMATION;
	if (a[0].ulValueLen != sizeof(oi->cls))
		oi->cls = CKO_DATA;
	if (a[1].ulValueLen != sizeof(oi->key_type))
		oi->key_type = (CK_ULONG)-1;
	if (a[2].ulValueLen != sizeof(oi->category))
		oi->category = 0;
	oi->idlen = a[3].ulValueLen <= sizeof(oi->id) ? a[3].ulValueLen : 0;
}

/* oi's CKA_ID is id[0..len). */
static int same_id(const struct obj_info *oi, const void *id, size_t len)
{
	return oi->idlen == len && memcmp(oi->id, id, len) == 0;
}

static enum m2m_err destroy(struct m2m_ctx *ctx, struct p11_token *t,
			    CK_OBJECT_HANDLE obj)
{
	CK_RV rv = t->mod->fn->C_DestroyObject(t->session, obj);

	if (rv != CKR_OK)
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot destroy an object on token '%s': %s",
				 t->label, p11_kit_strerror(rv));
	return M2M_OK;
}

/* Destroy what an operation made, on its way out after a failure. */
static void undo(struct p11_token *t, const CK_OBJECT_HANDLE *obj, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (obj[i] != CK_INVALID_HANDLE)
			t->mod->fn->C_DestroyObject(t->session, obj[i]);
}

/*
 * A search template: class, then the URI's CKA_ID and CKA_LABEL if it has
 * them.  Returns the attribute count.
 */
static CK_ULONG uri_tmpl(CK_ATTRIBUTE *tmpl, CK_OBJECT_CLASS *cls,
			 const struct m2m_pkcs11_uri *uri)
{
	CK_ULONG n = 0;

	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, cls, sizeof(*cls) };
	if (uri->has & M2M_P11_ID)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)uri->id,
					    uri->id_len };
	if (uri->has & M2M_P11_OBJECT)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)uri->object,
					    uri->object_len };
	return n;
}

/* The one private key uri names: NOT_FOUND, or USAGE if ambiguous. */
static enum m2m_err find_key(struct m2m_ctx *ctx, struct p11_token *t,
			     const struct m2m_pkcs11_uri *uri,
			     CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE h[2];
	CK_ATTRIBUTE tmpl[3];
	char q[M2M_QUOTE_MAX];
	CK_ULONG n;
	enum m2m_err rc;

	if (uri->type && uri->type != M2M_P11_TYPE_PRIVATE)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "'%s' names no private key (type=)",
				 m2m_quote(q, uri->path, strlen(uri->path)));
	rc = find(ctx, t, tmpl, uri_tmpl(tmpl, &cls, uri), h, 2, &n);
	if (rc != M2M_OK)
		return rc;
	if (n == 0)
		return m2m_error(ctx, M2M_ERR_NOT_FOUND,
				 "no key '%s' on token '%s'",
				 m2m_quote(q, uri->path, strlen(uri->path)),
				 t->label);
	if (n > 1)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "'%s' matches more than one key on token '%s': add id= or object=",
				 m2m_quote(q, uri->path, strlen(uri->path)),
				 t->label);
	*out = h[0];
	return M2M_OK;
}

/* ---- public keys ------------------------------------------------------------ */

/* A certificate from der[0..len) in ctx's library context, or NULL. */
static X509 *x509_parse(struct m2m_ctx *ctx, const unsigned char *der,
			size_t len)
{
	X509 *x = X509_new_ex(ctx->libctx, NULL);
	const unsigned char *p = der;

	if (x && !d2i_X509(&x, &p, (long)len)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* An RSA public key from its modulus and exponent (big-endian). */
static enum m2m_err rsa_pub(struct m2m_ctx *ctx, const unsigned char *n,
			    size_t nlen, const unsigned char *e, size_t elen,
			    EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	enum m2m_err rc = M2M_ERR_CRYPTO;

	*out = NULL;
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!bn || !be || !bld ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, "RSA", NULL);
	if (!params || !pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	rc = M2M_OK;
out:
	if (rc != M2M_OK)
		m2m_error_ossl(ctx, rc, "cannot make an RSA public key");
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return rc;
}

/* The public key of the public-key object obj, of type keytype. */
static enum m2m_err pub_from_object(struct m2m_ctx *ctx, struct p11_token *t,
				    CK_OBJECT_HANDLE obj, CK_KEY_TYPE keytype,
				    EVP_PKEY **out)
{
	unsigned char a[1024], b[1024];
	CK_ATTRIBUTE at[2];
	const uint8_t *pt;
	size_t alen, blen, ptlen, off = 0;
	int p384;
	enum m2m_err rc;

	*out = NULL;
	/* Both in one round trip. */
	at[0] = (CK_ATTRIBUTE){ keytype == CKK_RSA ? CKA_MODULUS :
				CKA_EC_PARAMS, a, sizeof(a) };
	at[1] = (CK_ATTRIBUTE){ keytype == CKK_RSA ? CKA_PUBLIC_EXPONENT :
				CKA_EC_POINT, b, sizeof(b) };
	rc = get_attrs(ctx, t, obj, at, 2);
	if (rc != M2M_OK)
		return rc;
	alen = at[0].ulValueLen;
	blen = at[1].ulValueLen;
	if (keytype == CKK_RSA)
		return rsa_pub(ctx, a, alen, b, blen, out);
	if (alen == sizeof(oid_p256) && memcmp(a, oid_p256, alen) == 0)
		p384 = 0;
	else if (alen == sizeof(oid_p384) && memcmp(a, oid_p384, alen) == 0)
		p384 = 1;
	else
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "EC key on token '%s' is not on P-256 or P-384",
				 t->label);
	/* CKA_EC_POINT is DER: OCTET STRING wrapping the point; some
	   modules give the bare point. */
	pt = b;
	ptlen = blen;
	if (blen != (p384 ? 97u : 65u) &&
	    (m2m_der_read(b, blen, &off, 0x04, &pt, &ptlen) < 0 ||
	     off != blen))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "malformed CKA_EC_POINT on token '%s'",
				 t->label);
	if (m2m_ctx_ec_key(ctx, p384, pt, ptlen, out) != M2M_OK)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "CKA_EC_POINT on token '%s' is not a point of the curve",
				 t->label);
	return M2M_OK;
}

/*
 * The public half of private key priv: from the public-key object with its
 * CKA_ID (or, without one, its label), else from a certificate so named.
 */
static enum m2m_err pub_for_key(struct m2m_ctx *ctx, struct p11_token *t,
				CK_OBJECT_HANDLE priv, EVP_PKEY **out)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY, ccls = CKO_CERTIFICATE;
	CK_KEY_TYPE kt = get_ulong(t, priv, CKA_KEY_TYPE, (CK_ULONG)-1);
	unsigned char name[M2M_P11_OBJECT_MAX], *der = NULL;
	CK_ATTRIBUTE tmpl[3];
	CK_OBJECT_HANDLE h[1];
	CK_ULONG n = 0;
	size_t len = 0, derlen = 0;
	X509 *x = NULL;
	enum m2m_err rc;

	*out = NULL;
	if (kt != CKK_EC && kt != CKK_RSA)
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "key on token '%s' is neither EC nor RSA",
				 t->label);
	rc = get_attr(ctx, t, priv, CKA_ID, name, sizeof(name), &len);
	tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, name, len };
	if (rc != M2M_OK || len == 0) {
		rc = get_attr(ctx, t, priv, CKA_LABEL, name, sizeof(name),
			      &len);
		if (rc != M2M_OK)
			return rc;
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, name, len };
	}
	tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	tmpl[2] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	rc = find(ctx, t, tmpl, 3, h, 1, &n);
	if (rc != M2M_OK)
		return rc;
	if (n)
		return pub_from_object(ctx, t, h[0], kt, out);
	tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &ccls, sizeof(ccls) };
	rc = find(ctx, t, tmpl, 2, h, 1, &n);
	if (rc != M2M_OK)
		return rc;
	if (n == 0)
		return m2m_error(ctx, M2M_ERR_NOT_FOUND,
				 "no public key or certificate for a key on token '%s'",
				 t->label);
	rc = get_attr_alloc(ctx, t, h[0], CKA_VALUE, &der, &derlen);
	if (rc != M2M_OK)
		return rc;
	x = x509_parse(ctx, der, derlen);
	if (!x || !(*out = X509_get_pubkey(x)))
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "unreadable certificate on token '%s'",
				    t->label);
	X509_free(x);
	free(der);
	return rc;
}

/*
 * SHA-1 of the subjectPublicKey BIT STRING of xp (RFC 5280, 4.2.1.2,
 * method 1) into id[0..20).
 */
static enum m2m_err spki_sha1(struct m2m_ctx *ctx, const X509_PUBKEY *xp,
			      unsigned char id[20])
{
	const unsigned char *bits;
	EVP_MD *sha1 = NULL;
	unsigned int n = 0;
	int len = 0;
	enum m2m_err rc = M2M_OK;

	sha1 = EVP_MD_fetch(ctx->libctx, "SHA1", NULL);
	if (!sha1 || X509_PUBKEY_get0_param(NULL, &bits, &len, NULL, xp) != 1 ||
	    EVP_Digest(bits, (size_t)len, id, &n, sha1, NULL) != 1 || n != 20)
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot compute a key identifier");
	EVP_MD_free(sha1);
	return rc;
}

/* The same for a key. */
static enum m2m_err pkey_sha1(struct m2m_ctx *ctx, EVP_PKEY *pub,
			      unsigned char id[20])
{
	X509_PUBKEY *xp = NULL;
	enum m2m_err rc;

	if (X509_PUBKEY_set(&xp, pub) != 1)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot encode a public key");
	rc = spki_sha1(ctx, xp, id);
	X509_PUBKEY_free(xp);
	return rc;
}

/* ---- signing ------------------------------------------------------------------ */

/* DigestInfo prefixes (RFC 8017, 9.2, note 1). */
static const unsigned char di_sha256[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};
static const unsigned char di_sha384[] = {
	0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30
};
static const unsigned char di_sha512[] = {
	0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40
};

struct md_info {
	const char *name, *alias;
	size_t len;
	const unsigned char *di;
	CK_MECHANISM_TYPE mech;
	CK_RSA_PKCS_MGF_TYPE mgf;
};

static const struct md_info mds[] = {
	{ "SHA256", "SHA2-256", 32, di_sha256, CKM_SHA256, CKG_MGF1_SHA256 },
	{ "SHA384", "SHA2-384", 48, di_sha384, CKM_SHA384, CKG_MGF1_SHA384 },
	{ "SHA512", "SHA2-512", 64, di_sha512, CKM_SHA512, CKG_MGF1_SHA512 },
};

static int sign_fail(const struct p11_key *k, const char *what, CK_RV rv)
{
	ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
		       "PKCS#11 key '%s' on token '%s': %s: %s", k->uri,
		       k->tok->label, what, rv ? p11_kit_strerror(rv) : "");
	return 0;
}

static int p11_sign(void *handle, enum m2m_extkey_pad pad, const char *md,
		    const unsigned char *dgst, size_t dlen, unsigned char *sig,
		    size_t *siglen)
{
	struct p11_key *k = handle;
	CK_FUNCTION_LIST *fn = k->tok->mod->fn;
	CK_SESSION_HANDLE s = k->tok->session;
	const struct md_info *mi = NULL;
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM mech = { 0, NULL, 0 };
	unsigned char in[64 + 32], raw[2 * 66], *p;
	CK_ULONG inlen = dlen, outlen;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *bs = NULL;
	size_t i;
	int n, ok = 0;
	CK_RV rv;

	for (i = 0; i < sizeof(mds) / sizeof(mds[0]); i++)
		if (md && (strcasecmp(md, mds[i].name) == 0 ||
			   strcasecmp(md, mds[i].alias) == 0))
			mi = &mds[i];
	if (!mi || dlen != mi->len)
		return sign_fail(k, "unsupported digest", 0);
	if ((pad == M2M_EXTKEY_ECDSA) != !!k->ec)
		return sign_fail(k, "padding does not fit the key", 0);
	memcpy(in, dgst, dlen);
	switch (pad) {
	case M2M_EXTKEY_ECDSA:
		mech.mechanism = CKM_ECDSA;
		break;
	case M2M_EXTKEY_RSA_PKCS1:
		mech.mechanism = CKM_RSA_PKCS;
		memcpy(in, mi->di, 19);
		memcpy(in + 19, dgst, dlen);
		inlen = 19 + dlen;
		break;
	case M2M_EXTKEY_RSA_PSS:
		mech.mechanism = CKM_RSA_PKCS_PSS;
		pss.hashAlg = mi->mech;
		pss.mgf = mi->mgf;
		pss.sLen = dlen;
		mech.pParameter = &pss;
		mech.ulParameterLen = sizeof(pss);
		break;
	}
	if (!k->ec && *siglen < k->size)
		return sign_fail(k, "signature buffer too small", 0);
	rv = fn->C_SignInit(s, &mech, k->obj);
	if (rv != CKR_OK)
		return sign_fail(k, "C_SignInit", rv);
	outlen = k->ec ? sizeof(raw) : *siglen;
	rv = fn->C_Sign(s, in, inlen, k->ec ? raw : sig, &outlen);
	if (rv != CKR_OK)
		return sign_fail(k, "C_Sign", rv);
	if (!k->ec) {
		*siglen = outlen;
		return 1;
	}
	/* r || s, each the field's size, into a DER ECDSA-Sig-Value. */
	if (outlen != 2 * k->size)
		return sign_fail(k, "C_Sign gave a signature of the wrong size",
				 0);
	es = ECDSA_SIG_new();
	r = BN_bin2bn(raw, (int)k->size, NULL);
	bs = BN_bin2bn(raw + k->size, (int)k->size, NULL);
	if (!es || !r || !bs || ECDSA_SIG_set0(es, r, bs) != 1)
		goto out;
	r = bs = NULL;
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || (size_t)n > *siglen)
		goto out;
	p = sig;
	*siglen = (size_t)i2d_ECDSA_SIG(es, &p);
	ok = 1;
out:
	if (!ok)
		sign_fail(k, "cannot encode the ECDSA signature", 0);
	BN_free(r);
	BN_free(bs);
	ECDSA_SIG_free(es);
	return ok;
}

static void p11_key_free(void *handle)
{
	struct p11_key *k = handle;

	if (!k)
		return;
	state_unref(k->st);
	free(k);
}

static const struct m2m_extkey_method p11_method = {
	"pkcs11", p11_sign, p11_key_free
};

/* The EVP_PKEY of private key obj, public half pub. */
static enum m2m_err wrap_key(struct m2m_ctx *ctx, struct m2m_pkcs11_state *st,
			     struct p11_token *t,
			     const struct m2m_pkcs11_uri *uri,
			     CK_OBJECT_HANDLE obj, EVP_PKEY *pub,
			     EVP_PKEY **out)
{
	struct p11_key *k;
	enum m2m_err rc;

	k = calloc(1, sizeof(*k));
	if (!k)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	k->st = st;
	k->tok = t;
	k->obj = obj;
	k->ec = EVP_PKEY_is_a(pub, "EC");
	k->size = k->ec ? (size_t)(EVP_PKEY_get_bits(pub) + 7) / 8 :
		  (size_t)EVP_PKEY_get_size(pub);
	m2m_quote(k->uri, uri->path, strlen(uri->path));
	st->refs++;
	rc = m2m_extkey_new(ctx, pub, &p11_method, k, out);
	if (rc != M2M_OK)
		p11_key_free(k);
	return rc;
}

/* ---- operations ------------------------------------------------------------ */

/*
 * The key objects (private and public) uri names, into obj[0..max); *n
 * gets their number.  With an id, those with its CKA_ID whatever their
 * label (the id is what pairs a key with its certificate); else those
 * with its CKA_LABEL.  One search whatever the class (a search costs a
 * visit of every object on SoftHSM), then the few found are sorted.
 */
static enum m2m_err find_keys(struct m2m_ctx *ctx, struct p11_token *t,
			      const struct m2m_pkcs11_uri *uri,
			      CK_OBJECT_HANDLE *obj, size_t max, size_t *n)
{
	CK_ATTRIBUTE tmpl[1];
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_OBJECT_CLASS cls;
	CK_ULONG got, j;
	enum m2m_err rc;

	*n = 0;
	tmpl[0] = uri->has & M2M_P11_ID ?
		  (CK_ATTRIBUTE){ CKA_ID, (void *)uri->id, uri->id_len } :
		  (CK_ATTRIBUTE){ CKA_LABEL, (void *)uri->object,
				  uri->object_len };
	rc = find(ctx, t, tmpl, 1, h, FIND_MAX, &got);
	if (rc != M2M_OK)
		return rc;
	for (j = 0; j < got && *n < max; j++) {
		cls = get_ulong(t, h[j], CKA_CLASS, CKO_DATA);
		if (cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY)
			obj[(*n)++] = h[j];
	}
	return M2M_OK;
}

static enum m2m_err pkcs11_generate(struct m2m_ctx *ctx, const char *locator,
				    enum m2m_key_alg alg,
				    const struct m2m_key_opts *opts,
				    EVP_PKEY **out)
{
	struct m2m_pkcs11_uri *uri = NULL;
	struct m2m_pkcs11_state *st = NULL;
	struct p11_token *t = NULL;
	CK_OBJECT_HANDLE old[FIND_MAX], made[2] = { CK_INVALID_HANDLE,
							    CK_INVALID_HANDLE };
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = alg == M2M_KEY_RSA3072 ? 3072 : 2048;
	unsigned char e[] = { 0x01, 0x00, 0x01 }, id[20];
	CK_ATTRIBUTE pubt[8], privt[8], ida[1];
	CK_ULONG np = 0, nv = 0;
	EVP_PKEY *pub = NULL;
	char q[M2M_QUOTE_MAX];
	size_t nold = 0, i;
	enum m2m_err rc;
	CK_RV rv;

	*out = NULL;
	if (alg == M2M_KEY_ED25519)
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "ed25519 keys cannot be made on a PKCS#11 token here (ec-p256, ec-p384, rsa2048, rsa3072)");
	rc = uri_token(ctx, locator, opts, LOGIN_NEEDED, &uri, &st, &t);
	if (rc != M2M_OK)
		goto out;
	if (!(uri->has & (M2M_P11_OBJECT | M2M_P11_ID))) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' names no key: give object= or id=",
			       m2m_quote(q, uri->path, strlen(uri->path)));
		goto out;
	}
	if (uri->type && uri->type != M2M_P11_TYPE_PRIVATE) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' names no private key (type=)",
			       m2m_quote(q, uri->path, strlen(uri->path)));
		goto out;
	}
	rc = find_keys(ctx, t, uri, old, sizeof(old) / sizeof(old[0]), &nold);
	if (rc != M2M_OK)
		goto out;
	if (nold && !opts->force) {
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "a key '%s' exists on token '%s' (force replaces it)",
			       m2m_quote(q, uri->path, strlen(uri->path)),
			       t->label);
		goto out;
	}
	for (i = 0; i < nold; i++) {
		rc = destroy(ctx, t, old[i]);
		if (rc != M2M_OK)
			goto out;
	}

	pubt[np++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	pubt[np++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof(no) };
	pubt[np++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	if (alg == M2M_KEY_EC_P256 || alg == M2M_KEY_EC_P384) {
		pubt[np++] = alg == M2M_KEY_EC_P256 ?
			(CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p256,
					sizeof(oid_p256) } :
			(CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p384,
					sizeof(oid_p384) };
	} else {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pubt[np++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits,
					     sizeof(bits) };
		pubt[np++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, e,
					     sizeof(e) };
	}
	if (uri->has & M2M_P11_OBJECT) {
		pubt[np++] = (CK_ATTRIBUTE){ CKA_LABEL, uri->object,
					     uri->object_len };
		privt[nv++] = pubt[np - 1];
	}
	if (uri->has & M2M_P11_ID) {
		pubt[np++] = (CK_ATTRIBUTE){ CKA_ID, uri->id, uri->id_len };
		privt[nv++] = pubt[np - 1];
	}
	rv = t->mod->fn->C_GenerateKeyPair(t->session, &mech, pubt, np, privt,
					   nv, &made[0], &made[1]);
	if (rv != CKR_OK) {
		made[0] = made[1] = CK_INVALID_HANDLE;
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "cannot generate an %s key on token '%s': %s",
			       m2m_key_alg_name(alg), t->label,
			       p11_kit_strerror(rv));
		goto out;
	}
	rc = pub_from_object(ctx, t, made[0],
			     mech.mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN ?
			     CKK_RSA : CKK_EC, &pub);
	if (rc != M2M_OK)
		goto out;
	if (!(uri->has & M2M_P11_ID)) {
		rc = pkey_sha1(ctx, pub, id);
		if (rc != M2M_OK)
			goto out;
		ida[0] = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
		for (i = 0; i < 2; i++) {
			rv = t->mod->fn->C_SetAttributeValue(t->session,
							     made[i], ida, 1);
			if (rv != CKR_OK) {
				rc = m2m_error(ctx, M2M_ERR_BACKEND,
					       "cannot set the CKA_ID of a new key on token '%s': %s",
					       t->label, p11_kit_strerror(rv));
				goto out;
			}
		}
	}
	rc = wrap_key(ctx, st, t, uri, made[1], pub, out);
out:
	if (rc != M2M_OK && t)
		undo(t, made, 2);
	EVP_PKEY_free(pub);
	uri_free(uri);
	return rc;
}

static enum m2m_err pkcs11_load(struct m2m_ctx *ctx, const char *locator,
				const struct m2m_key_opts *opts, EVP_PKEY **out)
{
	struct m2m_pkcs11_uri *uri = NULL;
	struct m2m_pkcs11_state *st = NULL;
	struct p11_token *t = NULL;
	CK_OBJECT_HANDLE obj;
	EVP_PKEY *pub = NULL;
	enum m2m_err rc;

	*out = NULL;
	rc = uri_token(ctx, locator, opts, LOGIN_NEEDED, &uri, &st, &t);
	if (rc == M2M_OK)
		rc = find_key(ctx, t, uri, &obj);
	if (rc == M2M_OK)
		rc = pub_for_key(ctx, t, obj, &pub);
	if (rc == M2M_OK)
		rc = wrap_key(ctx, st, t, uri, obj, pub, out);
	EVP_PKEY_free(pub);
	uri_free(uri);
	return rc;
}

static enum m2m_err pkcs11_remove(struct m2m_ctx *ctx, const char *locator,
				  const struct m2m_key_opts *opts)
{
	struct m2m_pkcs11_uri *uri = NULL;
	struct m2m_pkcs11_state *st = NULL;
	struct p11_token *t = NULL;
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_OBJECT_HANDLE obj, pubs[FIND_MAX];
	unsigned char name[M2M_P11_OBJECT_MAX];
	CK_ATTRIBUTE tmpl[2];
	char q[M2M_QUOTE_MAX];
	size_t len = 0;
	CK_ULONG n = 0, i;
	enum m2m_err rc;

	rc = uri_token(ctx, locator, opts, LOGIN_NEEDED, &uri, &st, &t);
	if (rc != M2M_OK)
		goto out;
	if (!(uri->has & (M2M_P11_OBJECT | M2M_P11_ID))) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' names no key: give object= or id=",
			       m2m_quote(q, uri->path, strlen(uri->path)));
		goto out;
	}
	rc = find_key(ctx, t, uri, &obj);
	if (rc != M2M_OK)
		goto out;
	/* Its public key: the same CKA_ID (or, without one, label). */
	tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	rc = get_attr(ctx, t, obj, CKA_ID, name, sizeof(name), &len);
	tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, name, len };
	if (rc != M2M_OK || len == 0) {
		rc = get_attr(ctx, t, obj, CKA_LABEL, name, sizeof(name), &len);
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, name, len };
	}
	if (rc == M2M_OK && len)
		rc = find(ctx, t, tmpl, 2, pubs, FIND_MAX, &n);
	if (rc != M2M_OK)
		goto out;
	for (i = 0; i < n && rc == M2M_OK; i++)
		rc = destroy(ctx, t, pubs[i]);
	if (rc == M2M_OK)
		rc = destroy(ctx, t, obj);
out:
	uri_free(uri);
	return rc;
}

/* One certificate object's attributes, from its DER. */
struct cert_attrs {
	unsigned char *subject, *issuer, *serial;
	int nsubject, nissuer, nserial;
};

static void cert_attrs_release(struct cert_attrs *a)
{
	OPENSSL_free(a->subject);
	OPENSSL_free(a->issuer);
	OPENSSL_free(a->serial);
	memset(a, 0, sizeof(*a));
}

/* Create one certificate object; *obj gets it. */
static enum m2m_err cert_create(struct m2m_ctx *ctx, struct p11_token *t,
				const X509 *x, const unsigned char *der, size_t len,
				const void *id, size_t idlen, const void *label,
				size_t labellen, CK_ULONG category,
				CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	struct cert_attrs a = { 0 };
	CK_ATTRIBUTE tmpl[12];
	CK_ULONG n = 0;
	unsigned char *back = NULL;
	size_t blen = 0;
	enum m2m_err rc = M2M_ERR_CRYPTO;
	CK_RV rv;

	*obj = CK_INVALID_HANDLE;
	a.nsubject = i2d_X509_NAME(X509_get_subject_name(x), &a.subject);
	a.nissuer = i2d_X509_NAME(X509_get_issuer_name(x), &a.issuer);
	a.nserial = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &a.serial);
	if (a.nsubject <= 0 || a.nissuer <= 0 || a.nserial <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot encode a certificate's names");
		goto out;
	}
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof(no) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CERTIFICATE_CATEGORY, &category,
				    sizeof(category) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)der, len };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_SUBJECT, a.subject,
				    (CK_ULONG)a.nsubject };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_ISSUER, a.issuer, (CK_ULONG)a.nissuer };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_SERIAL_NUMBER, a.serial,
				    (CK_ULONG)a.nserial };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
	if (labellen)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label,
					    labellen };
	rv = t->mod->fn->C_CreateObject(t->session, tmpl, n, obj);
	if (rv != CKR_OK) {
		*obj = CK_INVALID_HANDLE;
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "cannot store a certificate on token '%s': %s",
			       t->label, p11_kit_strerror(rv));
		goto out;
	}
	/* Read back what was stored and compare. */
	rc = get_attr_alloc(ctx, t, *obj, CKA_VALUE, &back, &blen);
	if (rc != M2M_OK)
		goto out;
	if (blen != len || memcmp(back, der, len) != 0) {
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "certificate read back from token '%s' differs from the one stored",
			       t->label);
		goto out;
	}
	rc = M2M_OK;
out:
	free(back);
	cert_attrs_release(&a);
	return rc;
}

static enum m2m_err pkcs11_cert_store(struct m2m_ctx *ctx, const char *locator,
				      const struct m2m_cert *cert,
				      struct m2m_cert *const *chain,
				      size_t nchain,
				      const struct m2m_key_opts *opts)
{
	struct m2m_pkcs11_uri *uri = NULL;
	struct m2m_pkcs11_state *st = NULL;
	struct p11_token *t = NULL;
	CK_OBJECT_CLASS ccls = CKO_CERTIFICATE;
	CK_OBJECT_HANDLE old[2 * FIND_MAX], h[FIND_MAX];
	CK_OBJECT_HANDLE made[1 + CHAIN_MAX];
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE, keypub = CK_INVALID_HANDLE;
	unsigned char id[M2M_P11_ID_MAX], label[M2M_P11_OBJECT_MAX];
	unsigned char cid[20];
	size_t idlen = 0, labellen = 0, nold = 0, nmade = 0, nkeys = 0, i;
	const unsigned char *der;
	struct obj_info info[FIND_MAX], *ki = NULL;
	CK_ATTRIBUTE tmpl[2];
	CK_ULONG got = 0, j;
	EVP_PKEY *pub = NULL;
	const X509 *x;
	char q[M2M_QUOTE_MAX];
	size_t derlen;
	enum m2m_err rc;

	for (i = 0; i <= CHAIN_MAX; i++)
		made[i] = CK_INVALID_HANDLE;
	rc = uri_token(ctx, locator, opts, LOGIN_NEEDED, &uri, &st, &t);
	if (rc != M2M_OK)
		goto out;
	m2m_quote(q, uri->path, strlen(uri->path));
	if (!(uri->has & (M2M_P11_OBJECT | M2M_P11_ID))) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' names no certificate: give object= or id=",
			       q);
		goto out;
	}
	if (uri->type && uri->type != M2M_P11_TYPE_CERT &&
	    uri->type != M2M_P11_TYPE_PRIVATE) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' names no certificate (type=)", q);
		goto out;
	}
	if (nchain > CHAIN_MAX) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "a chain of %zu certificates is longer than %d",
			       nchain, CHAIN_MAX);
		goto out;
	}
	/* Borrowed: parsed at most once per certificate. */
	der = m2m_cert_der(cert, &derlen);
	x = m2m_cert_x509(cert);
	if (!x) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "cannot parse the certificate for '%s'", q);
		goto out;
	}

	/*
	 * What is there, in one search without a class: by the label if the
	 * URI has one (the certificate and its chain are kept under it),
	 * else by the id.  Among it: the key with the URI's id and label,
	 * its public half, and the certificates to replace.
	 */
	tmpl[0] = uri->has & M2M_P11_OBJECT ?
		  (CK_ATTRIBUTE){ CKA_LABEL, (void *)uri->object,
				  uri->object_len } :
		  (CK_ATTRIBUTE){ CKA_ID, (void *)uri->id, uri->id_len };
	rc = find(ctx, t, tmpl, 1, h, FIND_MAX, &got);
	if (rc != M2M_OK)
		goto out;
	for (j = 0; j < got; j++) {
		obj_info(t, h[j], &info[j]);
		if (info[j].cls == CKO_CERTIFICATE)
			old[nold++] = h[j];
		else if (info[j].cls == CKO_PRIVATE_KEY &&
			 (!(uri->has & M2M_P11_ID) ||
			  same_id(&info[j], uri->id, uri->id_len))) {
			key = h[j];
			ki = &info[j];
			nkeys++;
		}
	}
	if (nkeys > 1) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' matches more than one key on token '%s': add id= or object=",
			       q, t->label);
		goto out;
	}
	if (uri->has & M2M_P11_ID) {
		memcpy(id, uri->id, uri->id_len);
		idlen = uri->id_len;
	}
	if (uri->has & M2M_P11_OBJECT) {
		memcpy(label, uri->object, uri->object_len);
		labellen = uri->object_len;
	}
	if (nkeys == 1) {
		/* Its public key object, if the search found it too. */
		for (j = 0; j < got && ki->idlen; j++)
			if (info[j].cls == CKO_PUBLIC_KEY &&
			    info[j].key_type == ki->key_type &&
			    same_id(&info[j], ki->id, ki->idlen))
				keypub = h[j];
		if (keypub != CK_INVALID_HANDLE &&
		    (ki->key_type == CKK_EC || ki->key_type == CKK_RSA))
			rc = pub_from_object(ctx, t, keypub, ki->key_type,
					     &pub);
		else
			rc = pub_for_key(ctx, t, key, &pub);
		if (rc != M2M_OK)
			goto out;
		if (EVP_PKEY_eq(X509_get0_pubkey(x), pub) != 1) {
			ERR_clear_error();
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "certificate does not match the key '%s'",
				       q);
			goto out;
		}
		if (!idlen)
			rc = get_attr(ctx, t, key, CKA_ID, id, sizeof(id),
				      &idlen);
		if (rc == M2M_OK && !labellen)
			rc = get_attr(ctx, t, key, CKA_LABEL, label,
				      sizeof(label), &labellen);
		if (rc != M2M_OK)
			goto out;
	}
	if (!idlen) {
		rc = spki_sha1(ctx, X509_get_X509_PUBKEY(x), id);
		if (rc != M2M_OK)
			goto out;
		idlen = 20;
	}
	if (nchain && !labellen) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "a chain needs a label to be found by: give object= in '%s'",
			       q);
		goto out;
	}

	/*
	 * The certificates with the id, or with the label, are replaced.
	 * With both in the URI, those under the label are what it names
	 * (found above); with one, those under the other (the key's, or
	 * the id made from the certificate) are looked for too.
	 */
	tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &ccls, sizeof(ccls) };
	tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, NULL, 0 };
	if (!(uri->has & M2M_P11_OBJECT))
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, label, labellen };
	else if (!(uri->has & M2M_P11_ID))
		tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, id, idlen };
	if (tmpl[1].ulValueLen) {
		rc = find(ctx, t, tmpl, 2, h, FIND_MAX, &got);
		if (rc != M2M_OK)
			goto out;
		for (j = 0; j < got; j++) {
			for (i = 0; i < nold && old[i] != h[j]; i++)
				;
			if (i == nold)
				old[nold++] = h[j];
		}
	}
	if (nold && !opts->force) {
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "a certificate '%s' exists on token '%s' (force replaces it)",
			       q, t->label);
		goto out;
	}

	/* New first, then the old go: never nothing there. */
	rc = cert_create(ctx, t, x, der, derlen, id, idlen, label, labellen,
			 1, &made[nmade]);
	nmade++;
	for (i = 0; i < nchain && rc == M2M_OK; i++) {
		const X509 *cx = m2m_cert_x509(chain[i]);

		if (!cx) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "cannot parse chain certificate %zu",
				       i + 1);
			break;
		}
		der = m2m_cert_der(chain[i], &derlen);
		rc = spki_sha1(ctx, X509_get_X509_PUBKEY(cx), cid);
		if (rc == M2M_OK)
			rc = cert_create(ctx, t, cx, der, derlen, cid, 20, label,
				 labellen, 2, &made[nmade]);
		nmade++;
	}
	if (rc != M2M_OK)
		goto out;
	for (i = 0; i < nold; i++) {
		rc = destroy(ctx, t, old[i]);
		if (rc != M2M_OK)
			goto out;
	}
out:
	if (rc != M2M_OK && t)
		undo(t, made, nmade);
	EVP_PKEY_free(pub);
	uri_free(uri);
	return rc;
}

/* The certificate of obj, parsed, into *out. */
static enum m2m_err cert_read(struct m2m_ctx *ctx, struct p11_token *t,
			      CK_OBJECT_HANDLE obj, struct m2m_cert **out)
{
	unsigned char *der = NULL;
	size_t len = 0;
	enum m2m_err rc;

	rc = get_attr_alloc(ctx, t, obj, CKA_VALUE, &der, &len);
	if (rc == M2M_OK)
		rc = m2m_cert_parse(ctx, der, len, out);
	if (rc != M2M_OK)
		m2m_error_prefix(ctx, "certificate on token '%s'", t->label);
	free(der);
	return rc;
}

static int cert_issued(const struct m2m_cert *child,
		       const struct m2m_cert *parent)
{
	const X509 *c = m2m_cert_x509(child), *pa = m2m_cert_x509(parent);

	return c && pa && X509_NAME_cmp(X509_get_issuer_name(c),
					X509_get_subject_name(pa)) == 0;
}

static enum m2m_err pkcs11_cert_load(struct m2m_ctx *ctx, const char *locator,
				     const struct m2m_key_opts *opts,
				     struct m2m_cert ***out, size_t *n)
{
	struct m2m_pkcs11_uri *uri = NULL;
	struct m2m_pkcs11_state *st = NULL;
	struct p11_token *t = NULL;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ULONG auth = 2, got = 0, j;
	CK_OBJECT_HANDLE h[FIND_MAX], chain[CHAIN_MAX];
	CK_OBJECT_HANDLE leaf = CK_INVALID_HANDLE;
	unsigned char label[M2M_P11_OBJECT_MAX];
	struct m2m_cert **list = NULL, *tmp;
	struct obj_info oi;
	CK_ATTRIBUTE tmpl[3];
	char q[M2M_QUOTE_MAX];
	size_t nleaf = 0, nchain = 0, labellen = 0, count = 0, i, k;
	enum m2m_err rc;

	*out = NULL;
	*n = 0;
	rc = uri_token(ctx, locator, opts, LOGIN_IF_PIN, &uri, &st, &t);
	if (rc != M2M_OK)
		goto out;
	m2m_quote(q, uri->path, strlen(uri->path));
	if (uri->type && uri->type != M2M_P11_TYPE_CERT &&
	    uri->type != M2M_P11_TYPE_PRIVATE) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' names no certificate (type=)", q);
		goto out;
	}
	/*
	 * With a label, one search: the leaf and its chain share it, and
	 * the leaf is the one that is not an authority (and has the id, if
	 * the URI gives one).  Without, the leaf by its id, then its chain
	 * by the leaf's label.
	 */
	if (uri->has & M2M_P11_OBJECT) {
		tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)uri->object,
					  uri->object_len };
		rc = find(ctx, t, tmpl, 2, h, FIND_MAX, &got);
	} else {
		rc = find(ctx, t, tmpl, uri_tmpl(tmpl, &cls, uri), h, FIND_MAX,
			  &got);
	}
	if (rc != M2M_OK)
		goto out;
	for (j = 0; j < got; j++) {
		obj_info(t, h[j], &oi);
		if (oi.category == 2) {
			if ((uri->has & M2M_P11_OBJECT) && nchain < CHAIN_MAX)
				chain[nchain++] = h[j];
		} else if (!(uri->has & M2M_P11_ID) ||
			   same_id(&oi, uri->id, uri->id_len)) {
			leaf = h[j];
			nleaf++;
		}
	}
	if (nleaf != 1) {
		rc = m2m_error(ctx, nleaf ? M2M_ERR_USAGE : M2M_ERR_NOT_FOUND,
			       nleaf ? "'%s' matches more than one certificate on token '%s': add id= or object=" :
			       "no certificate '%s' on token '%s'",
			       q, t->label);
		goto out;
	}
	if (!(uri->has & M2M_P11_OBJECT) &&
	    get_attr(ctx, t, leaf, CKA_LABEL, label, sizeof(label),
		     &labellen) == M2M_OK && labellen) {
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, label, labellen };
		tmpl[2] = (CK_ATTRIBUTE){ CKA_CERTIFICATE_CATEGORY, &auth,
					  sizeof(auth) };
		rc = find(ctx, t, tmpl, 3, chain, CHAIN_MAX, &got);
		if (rc != M2M_OK)
			goto out;
		nchain = got;
	}
	list = calloc(1 + nchain, sizeof(*list));
	if (!list) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = cert_read(ctx, t, leaf, &list[count]);
	if (rc != M2M_OK)
		goto out;
	count++;
	for (i = 0; i < nchain; i++) {
		rc = cert_read(ctx, t, chain[i], &list[count]);
		if (rc != M2M_OK)
			goto out;
		count++;
	}
	/* Issuer first, root last: follow issuer names from the leaf. */
	for (i = 1; i < count; i++)
		for (k = i; k < count; k++)
			if (cert_issued(list[i - 1], list[k])) {
				tmp = list[i];
				list[i] = list[k];
				list[k] = tmp;
				break;
			}
	*out = list;
	*n = count;
	list = NULL;
out:
	m2m_cert_list_free(list, count);
	uri_free(uri);
	return rc;
}

/*
 * The certificate the URI names goes; its chain (the authorities under
 * its label) goes with it unless another certificate is kept under that
 * label too.
 */
static enum m2m_err pkcs11_cert_remove(struct m2m_ctx *ctx,
				       const char *locator,
				       const struct m2m_key_opts *opts)
{
	struct m2m_pkcs11_uri *uri = NULL;
	struct m2m_pkcs11_state *st = NULL;
	struct p11_token *t = NULL;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_OBJECT_HANDLE h[FIND_MAX], chain[FIND_MAX];
	CK_OBJECT_HANDLE leaf = CK_INVALID_HANDLE;
	unsigned char label[M2M_P11_OBJECT_MAX];
	struct obj_info oi;
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG got = 0, j;
	char q[M2M_QUOTE_MAX];
	size_t nleaf = 0, nchain = 0, others = 0, labellen = 0, i;
	enum m2m_err rc;

	rc = uri_token(ctx, locator, opts, LOGIN_NEEDED, &uri, &st, &t);
	if (rc != M2M_OK)
		goto out;
	m2m_quote(q, uri->path, strlen(uri->path));
	if (!(uri->has & (M2M_P11_OBJECT | M2M_P11_ID)) ||
	    (uri->type && uri->type != M2M_P11_TYPE_CERT &&
	     uri->type != M2M_P11_TYPE_PRIVATE)) {
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "'%s' names no certificate: give object= or id=",
			       q);
		goto out;
	}
	if (uri->has & M2M_P11_OBJECT) {
		memcpy(label, uri->object, uri->object_len);
		labellen = uri->object_len;
		tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, label, labellen };
		rc = find(ctx, t, tmpl, 2, h, FIND_MAX, &got);
	} else {
		rc = find(ctx, t, tmpl, uri_tmpl(tmpl, &cls, uri), h, FIND_MAX,
			  &got);
	}
	if (rc != M2M_OK)
		goto out;
	for (j = 0; j < got; j++) {
		obj_info(t, h[j], &oi);
		if (oi.category == 2) {
			chain[nchain++] = h[j];
		} else if (!(uri->has & M2M_P11_ID) ||
			   same_id(&oi, uri->id, uri->id_len)) {
			leaf = h[j];
			nleaf++;
		} else {
			others++;
		}
	}
	if (nleaf != 1) {
		rc = m2m_error(ctx, nleaf ? M2M_ERR_USAGE : M2M_ERR_NOT_FOUND,
			       nleaf ? "'%s' matches more than one certificate on token '%s': add id= or object=" :
			       "no certificate '%s' on token '%s'",
			       q, t->label);
		goto out;
	}
	if (!(uri->has & M2M_P11_OBJECT)) {
		/* Found by its id: what else is under its label. */
		nchain = 0;
		if (get_attr(ctx, t, leaf, CKA_LABEL, label, sizeof(label),
			     &labellen) != M2M_OK)
			labellen = 0;
		tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, label, labellen };
		got = 0;
		if (labellen) {
			rc = find(ctx, t, tmpl, 2, h, FIND_MAX, &got);
			if (rc != M2M_OK)
				goto out;
		}
		for (j = 0; j < got; j++) {
			if (h[j] == leaf)
				continue;
			obj_info(t, h[j], &oi);
			if (oi.category == 2)
				chain[nchain++] = h[j];
			else
				others++;
		}
	}
	rc = destroy(ctx, t, leaf);
	for (i = 0; i < nchain && !others && rc == M2M_OK; i++)
		rc = destroy(ctx, t, chain[i]);
out:
	uri_free(uri);
	return rc;
}

const struct m2m_keystore_ops m2m_keystore_pkcs11 = {
	"pkcs11",
	pkcs11_generate,
	pkcs11_load,
	pkcs11_remove,
	pkcs11_cert_store,
	pkcs11_cert_load,
	pkcs11_ctx_free,
	pkcs11_cert_remove,
};
