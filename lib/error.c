/* SPDX-License-Identifier: Apache-2.0 */
#include <m2m/error.h>

static const char *const messages[M2M_ERR_COUNT] = {
	[M2M_OK] = "success",
	[M2M_ERR_VERIFY] = "does not verify",
	[M2M_ERR_USAGE] = "invalid usage",
	[M2M_ERR_INVALID] = "invalid input",
	[M2M_ERR_UNSUPPORTED] = "not supported",
	[M2M_ERR_DUPLICATE] = "already exists",
	[M2M_ERR_NOT_FOUND] = "not found",
	[M2M_ERR_IO] = "input/output error",
	[M2M_ERR_NOMEM] = "out of memory",
	[M2M_ERR_SYSTEM] = "system error",
	[M2M_ERR_CRYPTO] = "cryptographic failure",
	[M2M_ERR_BACKEND] = "back-end failure",
	[M2M_ERR_INTERNAL] = "internal error",
};

const char *m2m_strerror(enum m2m_err err)
{
	if ((unsigned)err >= M2M_ERR_COUNT || !messages[err])
		return "unknown error";
	return messages[err];
}
