/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the PKCS#11 URI parser (lib/keystore/pkcs11_uri.h): every
 * attribute, %-escapes, vendor attributes, and every rule that refuses a
 * URI, each with the detail it must give.  Table-driven.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>

#include "../../lib/keystore/pkcs11_uri.h"
#include "unit.h"

static struct m2m_ctx *ctx;
static struct m2m_pkcs11_uri uri;

static enum m2m_err parse(const char *s)
{
	m2m_ctx_clear_error(ctx);
	return m2m_pkcs11_uri_parse(ctx, s, strlen(s), &uri);
}

/* Locators that parse, and which attribute bits they set. */
static const struct {
	const char *in;
	unsigned has;
} good[] = {
	{ "", 0 },
	{ "token=factory", M2M_P11_TOKEN },
	{ "manufacturer=SoftHSM%20project", M2M_P11_MANUFACTURER },
	{ "serial=0123456789abcdef", M2M_P11_SERIAL },
	{ "model=SoftHSM%20v2", M2M_P11_MODEL },
	{ "library-manufacturer=OpenSC", M2M_P11_LIB_MANUFACTURER },
	{ "library-description=lib", M2M_P11_LIB_DESCRIPTION },
	{ "library-version=2.6", M2M_P11_LIB_VERSION },
	{ "slot-id=3", M2M_P11_SLOT_ID },
	{ "slot-description=SoftHSM%20slot%20ID%200x0",
	  M2M_P11_SLOT_DESCRIPTION },
	{ "slot-manufacturer=SoftHSM", M2M_P11_SLOT_MANUFACTURER },
	{ "object=idevid", M2M_P11_OBJECT },
	{ "id=%01%02", M2M_P11_ID },
	{ "type=private", M2M_P11_TYPE },
	{ "?pin-source=file:/run/pin", M2M_P11_PIN_SOURCE },
	{ "?pin-value=1234", M2M_P11_PIN_VALUE },
	{ "?module-name=softhsm2", M2M_P11_MODULE_NAME },
	{ "?module-path=/usr/lib/softhsm/libsofthsm2.so",
	  M2M_P11_MODULE_PATH },
	{ "token=factory;object=idevid;id=%01?pin-source=file:/run/pin",
	  M2M_P11_TOKEN | M2M_P11_OBJECT | M2M_P11_ID | M2M_P11_PIN_SOURCE },
	/* Vendor attributes (a '-' in the name) are ignored. */
	{ "token=a;x-vendor=anything", M2M_P11_TOKEN },
	{ "token=a?x-vendor=yes&module-name=m",
	  M2M_P11_TOKEN | M2M_P11_MODULE_NAME },
	/* '&' is plain in the path, '/', '?' and '|' in the query. */
	{ "object=a&b", M2M_P11_OBJECT },
	{ "?pin-source=file:/a?b|c", M2M_P11_PIN_SOURCE },
	{ "token=a?", M2M_P11_TOKEN },
	/* A value may hold '='. */
	{ "object=a=b", M2M_P11_OBJECT },
};

UNIT_TEST(test_good)
{
	size_t i;

	for (i = 0; i < UNIT_COUNT(good); i++) {
		enum m2m_err rc = parse(good[i].in);

		CHECK_MSG(rc == M2M_OK, "'%s': rc %d, detail '%s'", good[i].in,
			  (int)rc, m2m_ctx_detail(ctx));
		CHECK_MSG(uri.has == good[i].has, "'%s': has 0x%x, want 0x%x",
			  good[i].in, uri.has, good[i].has);
		m2m_pkcs11_uri_release(&uri);
	}
}

UNIT_TEST(test_values)
{
	static const uint8_t id[] = { 0x00, 0xff, 0x41, 0x7e };

	if (!CHECK_EQ_INT(parse("token=My%20Token;manufacturer=M;serial=S1;"
				"model=Mo;library-manufacturer=LM;"
				"library-description=LD;library-version=1;"
				"slot-id=18446744073709551615;"
				"slot-description=SD;slot-manufacturer=SM;"
				"object=dev%2fkey;id=%00%FfA~;type=cert"
				"?pin-value=12%334&module-name=softhsm2"),
			  M2M_OK))
		return;
	CHECK_EQ_STR(uri.token, "My Token");
	CHECK_EQ_STR(uri.manufacturer, "M");
	CHECK_EQ_STR(uri.serial, "S1");
	CHECK_EQ_STR(uri.model, "Mo");
	CHECK_EQ_STR(uri.lib_manufacturer, "LM");
	CHECK_EQ_STR(uri.lib_description, "LD");
	CHECK_EQ_INT(uri.lib_version[0], 1);
	CHECK_EQ_INT(uri.lib_version[1], 0);
	CHECK(uri.slot_id == 18446744073709551615UL);
	CHECK_EQ_STR(uri.slot_description, "SD");
	CHECK_EQ_STR(uri.slot_manufacturer, "SM");
	if (CHECK_EQ_INT(uri.object_len, 7))
		CHECK_EQ_MEM(uri.object, "dev/key", 7);
	if (CHECK_EQ_INT(uri.id_len, sizeof(id)))
		CHECK_EQ_MEM(uri.id, id, sizeof(id));
	CHECK_EQ_INT(uri.type, M2M_P11_TYPE_CERT);
	CHECK_EQ_STR(uri.pin_value, "1234");
	CHECK_EQ_STR(uri.module_name, "softhsm2");
	CHECK_EQ_STR(uri.path, "pkcs11:token=My%20Token;manufacturer=M;"
		     "serial=S1;model=Mo;library-manufacturer=LM;"
		     "library-description=LD;library-version=1;"
		     "slot-id=18446744073709551615;slot-description=SD;"
		     "slot-manufacturer=SM;object=dev%2fkey;id=%00%FfA~;"
		     "type=cert");
	m2m_pkcs11_uri_release(&uri);
	CHECK_EQ_INT(uri.has, 0);
	CHECK_EQ_INT(uri.pin_value[0], 0);

	CHECK_EQ_INT(parse("library-version=255.7;type=secret-key"), M2M_OK);
	CHECK_EQ_INT(uri.lib_version[0], 255);
	CHECK_EQ_INT(uri.lib_version[1], 7);
	CHECK_EQ_INT(uri.type, M2M_P11_TYPE_SECRET_KEY);
	CHECK_EQ_INT(parse("type=public"), M2M_OK);
	CHECK_EQ_INT(uri.type, M2M_P11_TYPE_PUBLIC);
	CHECK_EQ_INT(parse("type=data"), M2M_OK);
	CHECK_EQ_INT(uri.type, M2M_P11_TYPE_DATA);
	CHECK_EQ_INT(parse("type=private"), M2M_OK);
	CHECK_EQ_INT(uri.type, M2M_P11_TYPE_PRIVATE);
	/* A label and a serial at exactly their room. */
	CHECK_EQ_INT(parse("token=0123456789abcdef0123456789abcdef;"
			   "serial=0123456789abcdef"), M2M_OK);
	CHECK_EQ_INT(strlen(uri.token), 32);
	m2m_pkcs11_uri_release(&uri);
}

/* Locators refused, and a phrase their detail must hold. */
static const struct {
	const char *in, *phrase;
} bad[] = {
	{ "object=a%", "bad %-escape in 'object'" },
	{ "object=a%4", "bad %-escape in 'object'" },
	{ "object=a%4g", "bad %-escape in 'object'" },
	{ "id=%zz", "bad %-escape in 'id'" },
	{ "object=a b", "byte 0x20 in 'object' must be %-escaped" },
	{ "object=a/b", "byte 0x2f in 'object' must be %-escaped" },
	{ "object=a\"b", "byte 0x22 in 'object' must be %-escaped" },
	{ "object=a\x80", "byte 0x80 in 'object' must be %-escaped" },
	{ "?module-name=a&b=c", "unknown query attribute 'b'" },
	{ "?pin-source=a#b", "byte 0x23 in 'pin-source' must be %-escaped" },
	{ "foo=bar", "unknown path attribute 'foo'" },
	{ "pin-source=file:/x", "'pin-source' belongs in the query" },
	{ "?token=x", "'token' belongs in the path" },
	{ "?frobnicate=1", "unknown query attribute 'frobnicate'" },
	{ "?pin-value=12&3456=7", "unknown query attribute (not shown: the query holds a pin-value)" },
	{ "token=a;token=b", "'token' is given twice" },
	{ "id=%01;id=%01", "'id' is given twice" },
	{ "?pin-source=a&pin-source=b", "'pin-source' is given twice" },
	{ "?module-path=lib/x.so", "'module-path' is not an absolute path" },
	{ "?pin-value=1&pin-source=file:/p",
	  "both 'pin-value' and 'pin-source' are given" },
	{ "token=0123456789abcdef0123456789abcdefX",
	  "'token' is longer than 32 bytes" },
	{ "serial=0123456789abcdefX", "'serial' is longer than 16 bytes" },
	{ "model=0123456789abcdefX", "'model' is longer than 16 bytes" },
	{ "token=a;;object=b", "empty attribute in the path" },
	{ "token=a;", "empty attribute in the path" },
	{ ";", "empty attribute in the path" },
	{ "?pin-value=1&&module-name=x", "empty attribute in the query" },
	{ "token", "'token' is not NAME=VALUE" },
	{ "=x", "'=x' is not NAME=VALUE" },
	{ "to ken=x", "'to ken=x' is not NAME=VALUE" },
	{ "object=", "'object' is empty" },
	{ "token=a%00b", "'token' holds a NUL byte" },
	{ "slot-id=x", "'slot-id' is not a number" },
	{ "slot-id=-1", "'slot-id' is not a number" },
	{ "slot-id=18446744073709551616", "'slot-id' is not a number" },
	{ "library-version=1.", "'library-version' is not MAJOR[.MINOR]" },
	{ "library-version=256", "'library-version' is not MAJOR[.MINOR]" },
	{ "library-version=1.2.3", "'library-version' is not MAJOR[.MINOR]" },
	{ "type=key", "'type' is not private, public, cert, secret-key or data" },
	{ "type=Private", "'type' is not private" },
	{ "?pin-value:=s3cr3t", "a query attribute is not NAME=VALUE" },
	{ "x-vendor=a b", "byte 0x20 in 'vendor attribute' must be %-escaped" },
};

UNIT_TEST(test_bad)
{
	size_t i;

	for (i = 0; i < UNIT_COUNT(bad); i++) {
		enum m2m_err rc = parse(bad[i].in);

		CHECK_MSG(rc == M2M_ERR_INVALID, "'%s': rc %d", bad[i].in,
			  (int)rc);
		CHECK_MSG(strncmp(m2m_ctx_detail(ctx),
				  "invalid PKCS#11 URI 'pkcs11:", 28) == 0,
			  "'%s': detail '%s'", bad[i].in, m2m_ctx_detail(ctx));
		CHECK_MSG(strstr(m2m_ctx_detail(ctx), bad[i].phrase) != NULL,
			  "'%s': detail '%s' lacks '%s'", bad[i].in,
			  m2m_ctx_detail(ctx), bad[i].phrase);
		CHECK_EQ_INT(uri.has, 0);
		m2m_pkcs11_uri_release(&uri);
	}
}

/* The detail names the path, never the query with a pin-value. */
UNIT_TEST(test_no_pin_in_detail)
{
	CHECK_EQ_INT(parse("token=t;bogus=1?pin-value=s3cr3t"), M2M_ERR_INVALID);
	CHECK_EQ_STR(m2m_ctx_detail(ctx),
		     "invalid PKCS#11 URI 'pkcs11:token=t;bogus=1': "
		     "unknown path attribute 'bogus'");
	CHECK_EQ_INT(parse("token=t?pin-value=s3cr3t&pin-source=file:/p"),
		     M2M_ERR_INVALID);
	CHECK(!strstr(m2m_ctx_detail(ctx), "s3cr3t"));
	CHECK_EQ_INT(parse("token=t?pin-value=s3cr3t%zz"), M2M_ERR_INVALID);
	CHECK(!strstr(m2m_ctx_detail(ctx), "s3cr3t"));
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "bad %-escape in 'pin-value'");
	CHECK_EQ_INT(uri.pin_value[0], 0);
	/* Nor a pin-value put in the path by mistake. */
	CHECK_EQ_INT(parse("object=k;pin-value=s3cr3t"), M2M_ERR_INVALID);
	CHECK_EQ_STR(m2m_ctx_detail(ctx),
		     "invalid PKCS#11 URI 'pkcs11:object=k;pin-value=***': "
		     "'pin-value' belongs in the query (after '?')");
	CHECK_EQ_INT(parse("pin-value=s3cr3t;token=t;bogus=1"),
		     M2M_ERR_INVALID);
	CHECK_EQ_STR(m2m_ctx_detail(ctx),
		     "invalid PKCS#11 URI 'pkcs11:pin-value=***;token=t;bogus=1': "
		     "'pin-value' belongs in the query (after '?')");
	/* Cut at 40 bytes after it is hidden. */
	CHECK_EQ_INT(parse("token=a-longer-label;pin-value=s3cr3t"),
		     M2M_ERR_INVALID);
	CHECK_EQ_STR(m2m_ctx_detail(ctx),
		     "invalid PKCS#11 URI 'pkcs11:token=a-longer-label;pin-value=**...': "
		     "'pin-value' belongs in the query (after '?')");
}

UNIT_TEST(test_bounds)
{
	char *s;
	size_t n = M2M_P11_URI_MAX + 1;

	/* Over the whole bound, before anything is looked at. */
	s = malloc(n + 1);
	if (!CHECK(s))
		return;
	memset(s, 'a', n);
	s[n] = '\0';
	memcpy(s, "object=", 7);
	CHECK_EQ_INT(parse(s), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "longer than 8192 bytes");
	/* object at its room, and one over. */
	memset(s, 'a', n);
	memcpy(s, "object=", 7);
	s[7 + M2M_P11_OBJECT_MAX] = '\0';
	CHECK_EQ_INT(parse(s), M2M_OK);
	CHECK_EQ_INT(uri.object_len, M2M_P11_OBJECT_MAX);
	s[7 + M2M_P11_OBJECT_MAX] = 'a';
	s[8 + M2M_P11_OBJECT_MAX] = '\0';
	CHECK_EQ_INT(parse(s), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "'object' is longer than 256 bytes");
	/* An escaped id: 128 bytes in, 129 out. */
	strcpy(s, "id=");
	for (n = 0; n < M2M_P11_ID_MAX; n++)
		strcat(s, "%ab");
	CHECK_EQ_INT(parse(s), M2M_OK);
	CHECK_EQ_INT(uri.id_len, M2M_P11_ID_MAX);
	strcat(s, "%ab");
	CHECK_EQ_INT(parse(s), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "'id' is longer than 128 bytes");
	free(s);
	/* A length, not a C string: nothing past len is read. */
	m2m_ctx_clear_error(ctx);
	CHECK_EQ_INT(m2m_pkcs11_uri_parse(ctx, "token=ab;bogus", 8, &uri),
		     M2M_OK);
	CHECK_EQ_STR(uri.token, "ab");
	CHECK_EQ_INT(m2m_pkcs11_uri_parse(ctx, "object=a%4", 9, &uri),
		     M2M_ERR_INVALID);
	m2m_pkcs11_uri_release(&uri);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(test_good),
		UNIT(test_values),
		UNIT(test_bad),
		UNIT(test_no_pin_in_detail),
		UNIT(test_bounds),
	};
	int rc;

	if (m2m_ctx_new(&ctx) != M2M_OK) {
		fprintf(stderr, "cannot make a context\n");
		return 2;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	return rc;
}
