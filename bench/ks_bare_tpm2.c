/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ks_bare_tpm2: the baseline for provisioning through m2m's key interface
 * on a TPM (bench/keystore): the same steps made with bare ESYS calls,
 * in process, no sessions beyond the password one.
 *
 *   ks_bare_tpm2 TCTI FIRST N CERT_DER [CHAIN_DER]
 *
 * Once: open the TPM through the TCTI config string TCTI (for instance
 * "swtpm:host=127.0.0.1,port=2321"), make the SRK at 0x81000001 if it is
 * absent (ECC P-256, the TCG template), ask for TPM_PT_NV_BUFFER_MAX.
 * Then for each device i in FIRST..FIRST+N-1, timed:
 *   check that the persistent handle 0x81020000 + i and the NV index
 *   0x01C90000 + i are free (evict / undefine what a failed run left);
 *   TPM2_Create an ECDSA P-256 signing key (fixedTPM, fixedParent,
 *   sensitiveDataOrigin, userWithAuth, sign) under the SRK, TPM2_Load it,
 *   TPM2_EvictControl it to 0x81020000 + i, flush the transient object;
 *   build the device's PKCS#10 request body (ks_common.h), hash it,
 *   TPM2_Sign the digest with the persistent key, encode the request;
 *   TPM2_NV_DefineSpace 0x01C90000 + i to CERT_DER's size (owner write and
 *   read, auth read, no DA), TPM2_NV_Write it in chunks of
 *   TPM_PT_NV_BUFFER_MAX, TPM2_NV_Read it back likewise and compare;
 *   with CHAIN_DER (bench/enroll: what m2m-enroll idevid stores in a TPM),
 *   the same with CHAIN_DER at 0x01800100 + i, which is checked to be free
 *   first too.
 * After the loop, untimed: check that the last request verifies, then
 * evict every key and undefine every index made.
 *
 * A TPM's NV memory holds a few dozen such devices (swtpm: 48 with a
 * 686-byte certificate), so bench/keystore provisions 100 devices as
 * batches, each on a fresh swtpm, as a factory would provision one TPM
 * per device.
 *
 * Prints "N<TAB>SECONDS" on stdout: devices provisioned and the time the
 * loop took.  Exits 0, 1 if a step fails, 2 for bad arguments.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "ks_common.h"

#define SRK_HANDLE	0x81000001u
#define KEY_BASE	0x81020000u
#define NV_BASE		0x01C90000u
#define CHAIN_BASE	0x01800100u

static const char progname[] = "ks_bare_tpm2";

static void die_rc(const char *what, unsigned dev, TSS2_RC rc)
{
	fprintf(stderr, "%s: %s failed for device %u: %s\n", progname, what,
		dev, Tss2_RC_Decode(rc));
	exit(1);
}

static const TPM2B_SENSITIVE_CREATE empty_sensitive;

static const TPM2B_PUBLIC srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM |
			TPMA_OBJECT_FIXEDPARENT |
			TPMA_OBJECT_SENSITIVEDATAORIGIN |
			TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
		.parameters.eccDetail = {
			.symmetric = {
				.algorithm = TPM2_ALG_AES,
				.keyBits.aes = 128,
				.mode.aes = TPM2_ALG_CFB,
			},
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
		.unique.ecc = {
			.x.size = 32,
			.y.size = 32,
		},
	},
};

static const TPM2B_PUBLIC key_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM |
			TPMA_OBJECT_FIXEDPARENT |
			TPMA_OBJECT_SENSITIVEDATAORIGIN |
			TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT,
		.parameters.eccDetail = {
			.symmetric.algorithm = TPM2_ALG_NULL,
			.scheme = {
				.scheme = TPM2_ALG_ECDSA,
				.details.ecdsa.hashAlg = TPM2_ALG_SHA256,
			},
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

/* Nonzero if the TPM has the (persistent or NV) handle h. */
static int tpm_has(ESYS_CONTEXT *esys, TPM2_HANDLE h, unsigned dev)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int has;

	rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_HANDLES, h, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_GetCapability", dev, rc);
	has = cap->data.handles.count == 1 && cap->data.handles.handle[0] == h;
	Esys_Free(cap);
	return has;
}

/* An ESYS_TR for the handle h that the TPM has. */
static ESYS_TR tr_of(ESYS_CONTEXT *esys, TPM2_HANDLE h, unsigned dev)
{
	ESYS_TR tr = ESYS_TR_NONE;
	TSS2_RC rc;

	rc = Esys_TR_FromTPMPublic(esys, h, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, &tr);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_ReadPublic", dev, rc);
	return tr;
}

static void evict(ESYS_CONTEXT *esys, TPM2_HANDLE h, unsigned dev)
{
	ESYS_TR tr = tr_of(esys, h, dev), out = ESYS_TR_NONE;
	TSS2_RC rc;

	rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
			       ESYS_TR_NONE, ESYS_TR_NONE, h, &out);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_EvictControl (evict)", dev, rc);
}

static void undefine(ESYS_CONTEXT *esys, TPM2_HANDLE h, unsigned dev)
{
	ESYS_TR tr = tr_of(esys, h, dev);
	TSS2_RC rc;

	rc = Esys_NV_UndefineSpace(esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
				   ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_NV_UndefineSpace", dev, rc);
}

/* The SRK, made and persisted if the TPM has none. */
static ESYS_TR srk_get(ESYS_CONTEXT *esys)
{
	ESYS_TR prim = ESYS_TR_NONE, srk = ESYS_TR_NONE;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	const TPML_PCR_SELECTION no_pcrs = { .count = 0 };
	const TPM2B_DATA no_data = { .size = 0 };
	TSS2_RC rc;

	if (tpm_has(esys, SRK_HANDLE, 0))
		return tr_of(esys, SRK_HANDLE, 0);
	rc = Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				ESYS_TR_NONE, ESYS_TR_NONE, &empty_sensitive,
				&srk_template, &no_data, &no_pcrs, &prim, &pub,
				&cdata, &chash, &ticket);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_CreatePrimary (SRK)", 0, rc);
	Esys_Free(pub);
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, prim, ESYS_TR_PASSWORD,
			       ESYS_TR_NONE, ESYS_TR_NONE, SRK_HANDLE, &srk);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_EvictControl (SRK)", 0, rc);
	Esys_FlushContext(esys, prim);
	return srk;
}

static uint32_t nv_buffer_max(ESYS_CONTEXT *esys)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	uint32_t max = 512;	/* what every TPM can do */
	TSS2_RC rc;

	rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX,
				1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_GetCapability (NV buffer)", 0, rc);
	if (cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property ==
	    TPM2_PT_NV_BUFFER_MAX)
		max = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	if (max > TPM2_MAX_NV_BUFFER_SIZE)
		max = TPM2_MAX_NV_BUFFER_SIZE;
	return max;
}

/* A P-256 parameter, left-padded to 32 bytes, at out. */
static void ecc_param(unsigned char *out, const TPM2B_ECC_PARAMETER *p,
		      unsigned dev)
{
	if (p->size > 32) {
		fprintf(stderr, "%s: device %u: a P-256 point coordinate of %u bytes\n",
			progname, dev, p->size);
		exit(1);
	}
	memset(out, 0, 32 - p->size);
	memcpy(out + 32 - p->size, p->buffer, p->size);
}

/*
 * Define the NV index nh to data[0..len), write it in chunks of chunk
 * bytes, read it back likewise and compare.
 */
static void nv_store(ESYS_CONTEXT *esys, TPM2_HANDLE nh, unsigned dev,
		     const unsigned char *data, size_t len, uint32_t chunk)
{
	TPM2B_MAX_NV_BUFFER *rd = NULL;
	ESYS_TR nv = ESYS_TR_NONE;
	unsigned char back[KS_CERT_MAX];
	const TPM2B_AUTH no_auth = { .size = 0 };
	TPM2B_NV_PUBLIC nvpub = {
		.nvPublic = {
			.nvIndex = nh,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD |
				TPMA_NV_AUTHREAD | TPMA_NV_NO_DA,
			.dataSize = (UINT16)len,
		},
	};
	TPM2B_MAX_NV_BUFFER wr;
	size_t off;
	TSS2_RC rc;

	rc = Esys_NV_DefineSpace(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				 ESYS_TR_NONE, ESYS_TR_NONE, &no_auth, &nvpub,
				 &nv);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_NV_DefineSpace", dev, rc);
	for (off = 0; off < len; off += wr.size) {
		wr.size = (UINT16)(len - off < chunk ? len - off : chunk);
		memcpy(wr.buffer, data + off, wr.size);
		rc = Esys_NV_Write(esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
				   ESYS_TR_NONE, ESYS_TR_NONE, &wr,
				   (UINT16)off);
		if (rc != TSS2_RC_SUCCESS)
			die_rc("TPM2_NV_Write", dev, rc);
	}
	for (off = 0; off < len; off += rd->size) {
		UINT16 want = (UINT16)(len - off < chunk ? len - off : chunk);

		Esys_Free(rd);
		rd = NULL;
		rc = Esys_NV_Read(esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
				  ESYS_TR_NONE, ESYS_TR_NONE, want, (UINT16)off,
				  &rd);
		if (rc != TSS2_RC_SUCCESS)
			die_rc("TPM2_NV_Read", dev, rc);
		if (rd->size != want) {
			fprintf(stderr, "%s: device %u: NV read gave %u bytes, not %u\n",
				progname, dev, rd->size, want);
			exit(1);
		}
		memcpy(back + off, rd->buffer, rd->size);
	}
	if (memcmp(back, data, len) != 0) {
		fprintf(stderr, "%s: device %u: NV index 0x%08x reads back other bytes\n",
			progname, dev, nh);
		exit(1);
	}
	Esys_TR_Close(esys, &nv);
	Esys_Free(rd);
}

/*
 * Provision device dev; its request into csr[0..KS_CSR_MAX), *csr_len.
 * chain_len 0: no chain.
 */
static void provision(ESYS_CONTEXT *esys, ESYS_TR srk, unsigned dev,
		      const unsigned char *cert, size_t cert_len,
		      const unsigned char *chain, size_t chain_len,
		      uint32_t chunk, unsigned char *csr, size_t *csr_len)
{
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TPMT_SIGNATURE *sig = NULL;
	ESYS_TR obj = ESYS_TR_NONE, key = ESYS_TR_NONE;
	TPM2_HANDLE kh = KEY_BASE + dev, nh = NV_BASE + dev;
	TPM2_HANDLE ch = CHAIN_BASE + dev;
	unsigned char pt[65], tbs[KS_CSR_MAX];
	const TPMT_SIG_SCHEME scheme = {
		.scheme = TPM2_ALG_ECDSA,
		.details.ecdsa.hashAlg = TPM2_ALG_SHA256,
	};
	const TPMT_TK_HASHCHECK null_ticket = {
		.tag = TPM2_ST_HASHCHECK,
		.hierarchy = TPM2_RH_NULL,
	};
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	const TPML_PCR_SELECTION no_pcrs = { .count = 0 };
	const TPM2B_DATA no_data = { .size = 0 };
	TPM2B_DIGEST digest = { .size = 32 };
	size_t tlen;
	TSS2_RC rc;

	if (tpm_has(esys, kh, dev))
		evict(esys, kh, dev);
	if (tpm_has(esys, nh, dev))
		undefine(esys, nh, dev);
	if (chain_len && tpm_has(esys, ch, dev))
		undefine(esys, ch, dev);

	rc = Esys_Create(esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			 ESYS_TR_NONE, &empty_sensitive, &key_template,
			 &no_data, &no_pcrs, &priv, &pub, &cdata, &chash,
			 &ticket);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_Create", dev, rc);
	rc = Esys_Load(esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		       priv, pub, &obj);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_Load", dev, rc);
	rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD,
			       ESYS_TR_NONE, ESYS_TR_NONE, kh, &key);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_EvictControl", dev, rc);
	rc = Esys_FlushContext(esys, obj);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_FlushContext", dev, rc);

	pt[0] = 0x04;
	ecc_param(pt + 1, &pub->publicArea.unique.ecc.x, dev);
	ecc_param(pt + 33, &pub->publicArea.unique.ecc.y, dev);
	tlen = ks_csr_tbs(tbs, dev, pt);
	if (!ks_sha256(tbs, tlen, digest.buffer)) {
		fprintf(stderr, "%s: SHA-256 failed\n", progname);
		exit(1);
	}
	rc = Esys_Sign(esys, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		       &digest, &scheme, &null_ticket, &sig);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("TPM2_Sign", dev, rc);
	*csr_len = ks_csr_finish(csr, tbs, tlen,
				 sig->signature.ecdsa.signatureR.buffer,
				 sig->signature.ecdsa.signatureR.size,
				 sig->signature.ecdsa.signatureS.buffer,
				 sig->signature.ecdsa.signatureS.size);

	nv_store(esys, nh, dev, cert, cert_len, chunk);
	if (chain_len)
		nv_store(esys, ch, dev, chain, chain_len, chunk);

	Esys_TR_Close(esys, &key);
	Esys_Free(sig);
	Esys_Free(ticket);
	Esys_Free(chash);
	Esys_Free(cdata);
	Esys_Free(pub);
	Esys_Free(priv);
}

int main(int argc, char **argv)
{
	static unsigned char cert[KS_CERT_MAX], chain[KS_CERT_MAX];
	static unsigned char csr[KS_CSR_MAX];
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *esys = NULL;
	size_t cert_len, chain_len = 0, csr_len = 0;
	unsigned first, n, i;
	uint32_t chunk;
	ESYS_TR srk;
	double t0, t1;
	TSS2_RC rc;

	if ((argc != 5 && argc != 6) ||
	    !ks_range(argv[2], argv[3], &first, &n)) {
		fprintf(stderr, "usage: %s TCTI FIRST N CERT_DER [CHAIN_DER]\n",
			progname);
		return 2;
	}
	cert_len = ks_read_file(argv[4], cert, sizeof(cert));
	if (argc == 6)
		chain_len = ks_read_file(argv[5], chain, sizeof(chain));
	if (cert_len == 0 || (argc == 6 && chain_len == 0)) {
		fprintf(stderr, "%s: cannot read '%s' (or larger than %u bytes)\n",
			progname, argv[cert_len == 0 ? 4 : 5], KS_CERT_MAX);
		return 1;
	}
	/* A TPM error here is a result; the TSS logging it twice is noise. */
	setenv("TSS2_LOG", "all+none", 0);
	rc = Tss2_TctiLdr_Initialize(argv[1], &tcti);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("opening the TCTI", 0, rc);
	rc = Esys_Initialize(&esys, tcti, NULL);
	if (rc != TSS2_RC_SUCCESS)
		die_rc("Esys_Initialize", 0, rc);
	srk = srk_get(esys);
	chunk = nv_buffer_max(esys);

	t0 = ks_now();
	for (i = first; i < first + n; i++)
		provision(esys, srk, i, cert, cert_len, chain, chain_len,
			  chunk, csr, &csr_len);
	t1 = ks_now();

	if (!ks_csr_verifies(csr, csr_len)) {
		fprintf(stderr, "%s: the request of device %u does not verify\n",
			progname, first + n - 1);
		return 1;
	}
	for (i = first; i < first + n; i++) {
		evict(esys, KEY_BASE + i, i);
		undefine(esys, NV_BASE + i, i);
		if (chain_len)
			undefine(esys, CHAIN_BASE + i, i);
	}
	Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&tcti);
	printf("%u\t%.6f\n", n, t1 - t0);
	return 0;
}
