/* SPDX-License-Identifier: Apache-2.0 */
#include <strings.h>

#include <m2m/key.h>

static const char *const names[M2M_KEY_ALG_COUNT] = {
	[M2M_KEY_EC_P256] = "ec-p256",
	[M2M_KEY_EC_P384] = "ec-p384",
	[M2M_KEY_RSA2048] = "rsa2048",
	[M2M_KEY_RSA3072] = "rsa3072",
	[M2M_KEY_ED25519] = "ed25519",
};

const char *m2m_key_alg_name(enum m2m_key_alg alg)
{
	return (unsigned)alg < M2M_KEY_ALG_COUNT ? names[alg] : NULL;
}

int m2m_key_alg_lookup(const char *name)
{
	int i;

	for (i = 0; i < M2M_KEY_ALG_COUNT; i++)
		if (strcasecmp(name, names[i]) == 0)
			return i;
	return -1;
}
