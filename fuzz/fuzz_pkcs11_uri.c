/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 URI parser, m2m_pkcs11_uri_parse(), on arbitrary bytes (the
 * locator after "pkcs11:").
 *
 * Oracles (abort() on violation):
 *   - the result is M2M_OK or M2M_ERR_INVALID, and parsing the same bytes
 *     again gives the same result and the same struct, byte for byte;
 *   - success: only known attribute bits; every text field NUL-terminated
 *     inside its room with no NUL before its end; object and id lengths
 *     within their room; type set exactly when its bit is; module-path
 *     absolute; not both pin-value and pin-source; path is "pkcs11:" and
 *     the input up to its first '?';
 *   - failure: a detail starting "invalid PKCS#11 URI", the struct wiped
 *     to zeros, and the detail never holding the input's pin-value (when
 *     that text is not also in the path).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>

#include "../lib/keystore/pkcs11_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KNOWN_BITS ((M2M_P11_MODULE_PATH << 1) - 1)

static struct m2m_ctx *ctx;

/* Large: kept out of the stack. */
static struct m2m_pkcs11_uri one, two;
static const struct m2m_pkcs11_uri zero;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_pkcs11_uri: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static void check_text(const char *s, size_t size, unsigned bit,
		       const char *what)
{
	size_t n = strnlen(s, size);

	if (n == size)
		oops(what, M2M_OK);
	if (!(one.has & bit) && n)
		oops(what, M2M_OK);
	if ((one.has & bit) && n == 0)
		oops(what, M2M_OK);
}

static void check_ok(const char *t, size_t size)
{
	const char *q = memchr(t, '?', size);
	size_t plen = q ? (size_t)(q - t) : size;

	if (one.has & ~(unsigned)KNOWN_BITS)
		oops("unknown attribute bits", M2M_OK);
	check_text(one.token, sizeof(one.token), M2M_P11_TOKEN, "token");
	check_text(one.manufacturer, sizeof(one.manufacturer),
		   M2M_P11_MANUFACTURER, "manufacturer");
	check_text(one.serial, sizeof(one.serial), M2M_P11_SERIAL, "serial");
	check_text(one.model, sizeof(one.model), M2M_P11_MODEL, "model");
	check_text(one.lib_manufacturer, sizeof(one.lib_manufacturer),
		   M2M_P11_LIB_MANUFACTURER, "library-manufacturer");
	check_text(one.lib_description, sizeof(one.lib_description),
		   M2M_P11_LIB_DESCRIPTION, "library-description");
	check_text(one.slot_description, sizeof(one.slot_description),
		   M2M_P11_SLOT_DESCRIPTION, "slot-description");
	check_text(one.slot_manufacturer, sizeof(one.slot_manufacturer),
		   M2M_P11_SLOT_MANUFACTURER, "slot-manufacturer");
	check_text(one.pin_source, sizeof(one.pin_source), M2M_P11_PIN_SOURCE,
		   "pin-source");
	check_text(one.pin_value, sizeof(one.pin_value), M2M_P11_PIN_VALUE,
		   "pin-value");
	check_text(one.module_name, sizeof(one.module_name),
		   M2M_P11_MODULE_NAME, "module-name");
	check_text(one.module_path, sizeof(one.module_path),
		   M2M_P11_MODULE_PATH, "module-path");
	if (one.object_len > M2M_P11_OBJECT_MAX || one.id_len > M2M_P11_ID_MAX)
		oops("object or id over its room", M2M_OK);
	if (!!(one.has & M2M_P11_OBJECT) != !!one.object_len ||
	    !!(one.has & M2M_P11_ID) != !!one.id_len)
		oops("object or id length without its bit", M2M_OK);
	if (!!(one.has & M2M_P11_TYPE) != !!one.type ||
	    one.type > M2M_P11_TYPE_DATA)
		oops("type and its bit disagree", M2M_OK);
	if ((one.has & M2M_P11_MODULE_PATH) && one.module_path[0] != '/')
		oops("relative module-path accepted", M2M_OK);
	if ((one.has & M2M_P11_PIN_VALUE) && (one.has & M2M_P11_PIN_SOURCE))
		oops("pin-value and pin-source both accepted", M2M_OK);
	if (strncmp(one.path, "pkcs11:", 7) != 0 ||
	    strlen(one.path) != 7 + plen || memcmp(one.path + 7, t, plen) != 0)
		oops("path is not the input's path", M2M_OK);
}

/* The detail holds no pin-value of the input that the path lacks. */
static void check_no_pin(const char *t, size_t size)
{
	static const char key[] = "pin-value=";
	const char *q = memchr(t, '?', size), *p, *end = t + size;
	const char *detail = m2m_ctx_detail(ctx);
	char value[64];
	size_t n;

	if (!q)
		return;
	for (p = q; p + sizeof(key) <= end; p++) {
		if ((*p != '?' && *p != '&') ||
		    memcmp(p + 1, key, sizeof(key) - 1) != 0)
			continue;
		p++;
		p += sizeof(key) - 1;
		for (n = 0; p + n < end && p[n] != '&' && n < sizeof(value) - 1;
		     n++)
			value[n] = p[n];
		value[n] = '\0';
		if (n >= 4 && strlen(value) == n && strstr(detail, value) &&
		    !memmem(t, (size_t)(q - t), value, n))
			oops("the detail shows a pin-value", M2M_ERR_INVALID);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	enum m2m_err rc, rc2;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();

	m2m_ctx_clear_error(ctx);
	rc = m2m_pkcs11_uri_parse(ctx, t, size, &one);
	rc2 = m2m_pkcs11_uri_parse(ctx, t, size, &two);
	if (rc != rc2 || memcmp(&one, &two, sizeof(one)) != 0)
		oops("two parses of the same bytes differ", rc);
	if (rc == M2M_OK) {
		check_ok(t, size);
	} else {
		if (rc != M2M_ERR_INVALID || m2m_ctx_error(ctx) != rc)
			oops("failed without M2M_ERR_INVALID", rc);
		if (strncmp(m2m_ctx_detail(ctx), "invalid PKCS#11 URI", 19) != 0)
			oops("detail does not start as it should", rc);
		if (memcmp(&one, &zero, sizeof(one)) != 0)
			oops("a failed parse left data behind", rc);
		check_no_pin(t, size);
	}
	m2m_pkcs11_uri_release(&one);
	m2m_pkcs11_uri_release(&two);
	return 0;
}
