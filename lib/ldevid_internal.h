/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_LDEVID_INTERNAL_H
#define M2M_LDEVID_INTERNAL_H

/* Internal: LDevID acceptance for requests that do not come as CMS. */

#include <m2m/ldevid.h>

/*
 * A request made of parts already checked by the caller (a CMP message
 * whose protection verified with signer's key, its POP verified): signer
 * (the vouching certificate), chain[0..nchain) (the other certificates
 * the message carries; *chain may be NULL when nchain is 0) and csr (the
 * new key), all taken over (set to NULL).  Caller owns *out; free with
 * m2m_ldevid_request_free().
 */
enum m2m_err m2m_ldevid_request_assemble(struct m2m_ctx *ctx,
					 enum m2m_ldevid_purpose purpose,
					 unsigned flags,
					 struct m2m_cert **signer,
					 struct m2m_cert ***chain,
					 size_t nchain, struct m2m_csr **csr,
					 struct m2m_ldevid_request **out);

/*
 * cert's chain, through chain[0..nchain), to one of a's anchors at now,
 * with a's CRLs, as m2m_ldevid_accept() checks an IDevID.  what names the
 * certificate in the detail ("IDevID", "station certificate"), file the
 * anchors file.  M2M_ERR_VERIFY when it does not verify.
 */
enum m2m_err m2m_anchors_verify(struct m2m_ctx *ctx,
				const struct m2m_anchors *a,
				const struct m2m_cert *cert,
				struct m2m_cert *const *chain, size_t nchain,
				int64_t now, const char *what, const char *file);

#endif
