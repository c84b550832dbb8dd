/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_LINT_H
#define M2M_LINT_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>

/*
 * Certificate profile lint: every rule of shared/spec/profiles.md for
 * IDevIDs, LDevIDs and CA certificates, and the RFC 5280 encoding rules
 * they rely on, each a named check with a severity, in the manner of
 * zlint.  A certificate m2m-ca issues with its default profiles has no
 * error and no warning.
 *
 * The lint also decodes what a DevID carries about its device: the
 * HardwareModuleName of its subjectAltName (RFC 4108), the PPID in its
 * hwSerialNum (shared/spec/identifier.md), and the subject serialNumber.
 */

enum m2m_lint_profile {
	M2M_LINT_AUTO = 0,	/* from the certificate: ca if basicConstraints
				   says cA, else ldevid if it has
				   extendedKeyUsage, else idevid */
	M2M_LINT_IDEVID,
	M2M_LINT_LDEVID,
	M2M_LINT_CA
};

/* "auto", "idevid", "ldevid", "ca"; NULL for anything else. */
const char *m2m_lint_profile_name(enum m2m_lint_profile p);

/* The profile called name ("any" is AUTO too), or -1. */
int m2m_lint_profile_lookup(const char *name);

enum m2m_lint_severity {
	M2M_LINT_NOTICE = 0,	/* worth knowing; allowed */
	M2M_LINT_WARNING,	/* a SHOULD (NOT) of the spec or an RFC */
	M2M_LINT_ERROR		/* a MUST (NOT) */
};

/* "notice", "warning", "error". */
const char *m2m_lint_severity_name(enum m2m_lint_severity s);

/* Which profiles a rule applies to. */
#define M2M_LINT_FOR_IDEVID	0x1
#define M2M_LINT_FOR_LDEVID	0x2
#define M2M_LINT_FOR_CA		0x4
#define M2M_LINT_FOR_DEVID	(M2M_LINT_FOR_IDEVID | M2M_LINT_FOR_LDEVID)
#define M2M_LINT_FOR_ALL	(M2M_LINT_FOR_DEVID | M2M_LINT_FOR_CA)

struct m2m_lint_rule {
	const char *id;			/* "serial-positive": stable, the
					   name scripts and the man page use */
	enum m2m_lint_severity severity;
	unsigned profiles;		/* M2M_LINT_FOR_* */
	const char *summary;		/* what it requires, one sentence */
	const char *source;		/* "RFC 5280 4.1.2.2", "802.1AR", ... */
};

/* Every rule, in a fixed order; *n gets their number.  Static. */
const struct m2m_lint_rule *m2m_lint_rules(size_t *n);

/* The rule called id, or NULL. */
const struct m2m_lint_rule *m2m_lint_rule(const char *id);

#define M2M_LINT_FINDINGS_MAX	32	/* findings kept per certificate */
#define M2M_LINT_DETAIL_MAX	192	/* with NUL */
#define M2M_LINT_OID_MAX	128	/* dotted OID text, with NUL */
#define M2M_HW_SERIAL_MAX	128	/* hwSerialNum octets kept */

struct m2m_lint_finding {
	const struct m2m_lint_rule *rule;
	char detail[M2M_LINT_DETAIL_MAX];	/* what this certificate has */
};

/* What a DevID says about its device. */
struct m2m_devid_info {
	int hwmodules;			/* HardwareModuleNames in its SAN */
	int hwmodule_ok;		/* the first one is well-formed */
	char hw_type[M2M_LINT_OID_MAX];	/* its hwType, dotted; "" if none */
	int tcg;			/* hwType is the TCG's 2.23.133.1.2:
					   hwSerialNum names the TPM, and the
					   PPID is the subject serialNumber */
	size_t hw_serial_len;		/* hwSerialNum's length */
	uint8_t hw_serial[M2M_HW_SERIAL_MAX];	/* its first octets */
	int has_ppid;			/* ppid holds the decoded PPID */
	struct m2m_ppid ppid;
	char ppid_error[M2M_LINT_DETAIL_MAX];	/* why not, if a PPID was
						   looked for */
	int serial_numbers;		/* serialNumber attributes in the
					   subject */
	char serial_number[M2M_SERIAL_MAX + 1];	/* the first, if it is a
						   valid PrintableString */
};

struct m2m_lint_report {
	enum m2m_lint_profile profile;	/* the one checked, never AUTO */
	unsigned errors, warnings, notices;	/* all findings counted */
	size_t n;			/* findings kept, the first
					   M2M_LINT_FINDINGS_MAX */
	struct m2m_lint_finding f[M2M_LINT_FINDINGS_MAX];
	struct m2m_devid_info devid;
};

/*
 * Lint the certificate der[0..len) (DER, nothing after it) against
 * profile (AUTO: chosen as the enum says) into *out.  Returns M2M_OK
 * whatever the findings; M2M_ERR_INVALID (with a detail) if der is not a
 * certificate OpenSSL can parse.  The findings are in the order of
 * m2m_lint_rules().
 */
enum m2m_err m2m_lint_der(struct m2m_ctx *ctx, const uint8_t *der, size_t len,
			  enum m2m_lint_profile profile,
			  struct m2m_lint_report *out);

/* The first finding of out with severity sev or worse, or NULL. */
const struct m2m_lint_finding *
m2m_lint_first(const struct m2m_lint_report *out, enum m2m_lint_severity sev);

#endif
