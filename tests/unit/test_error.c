/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of include/m2m/error.h and include/m2m/ctx.h. */
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/error.h>
#include <m2m/ppid.h>

#include "unit.h"

UNIT_TEST(strerror_every_code_non_empty_and_distinct)
{
	int i, j;

	for (i = 0; i < M2M_ERR_COUNT; i++) {
		const char *s = m2m_strerror((enum m2m_err)i);

		if (!CHECK(s != NULL))
			continue;
		CHECK(s[0] != '\0');
		CHECK(strcmp(s, "unknown error") != 0);
		for (j = 0; j < i; j++)
			CHECK(strcmp(s, m2m_strerror((enum m2m_err)j)) != 0);
	}
}

UNIT_TEST(strerror_known_values)
{
	CHECK_EQ_STR(m2m_strerror(M2M_OK), "success");
	CHECK_EQ_STR(m2m_strerror(M2M_ERR_INVALID), "invalid input");
	CHECK_EQ_STR(m2m_strerror(M2M_ERR_NOMEM), "out of memory");
}

UNIT_TEST(strerror_out_of_range_is_unknown_error)
{
	CHECK_EQ_STR(m2m_strerror(M2M_ERR_COUNT), "unknown error");
	CHECK_EQ_STR(m2m_strerror((enum m2m_err)(M2M_ERR_COUNT + 1)),
		     "unknown error");
	CHECK_EQ_STR(m2m_strerror((enum m2m_err)1000), "unknown error");
	CHECK_EQ_STR(m2m_strerror((enum m2m_err)-1), "unknown error");
}

UNIT_TEST(ctx_new_has_empty_detail_and_no_error)
{
	struct m2m_ctx *ctx = NULL;

	CHECK_EQ_INT(m2m_ctx_new(&ctx), M2M_OK);
	if (!CHECK(ctx != NULL))
		return;
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "");
	CHECK_EQ_INT(m2m_ctx_error(ctx), M2M_OK);
	m2m_ctx_free(ctx);
}

UNIT_TEST(ctx_detail_set_by_failed_call_and_cleared)
{
	struct m2m_ctx *ctx = NULL;
	struct m2m_ppid p;

	if (!CHECK_EQ_INT(m2m_ctx_new(&ctx), M2M_OK))
		return;
	m2m_ppid_init(&p);
	CHECK_EQ_INT(m2m_ppid_decode_hex(ctx, &p, "zz", 2), M2M_ERR_INVALID);
	CHECK_EQ_INT(m2m_ctx_error(ctx), M2M_ERR_INVALID);
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "'z' at position 1 is not a hex digit");
	m2m_ctx_clear_error(ctx);
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "");
	CHECK_EQ_INT(m2m_ctx_error(ctx), M2M_OK);
	m2m_ctx_free(ctx);
}

UNIT_TEST(ctx_two_contexts_keep_their_own_detail)
{
	struct m2m_ctx *a = NULL, *b = NULL;
	struct m2m_ppid p;

	CHECK_EQ_INT(m2m_ctx_new(&a), M2M_OK);
	CHECK_EQ_INT(m2m_ctx_new(&b), M2M_OK);
	if (!CHECK(a && b && a != b))
		goto out;
	CHECK_EQ_INT(m2m_ppid_decode_hex(a, &p, "", 0), M2M_ERR_INVALID);
	CHECK_EQ_STR(m2m_ctx_detail(a), "empty input");
	CHECK_EQ_STR(m2m_ctx_detail(b), "");
	CHECK_EQ_INT(m2m_ctx_error(b), M2M_OK);
out:
	m2m_ctx_free(a);
	m2m_ctx_free(b);
}

UNIT_TEST(ctx_free_null_is_harmless)
{
	struct m2m_ctx *ctx = NULL;

	m2m_ctx_free(NULL);
	/* Still a working library afterwards. */
	CHECK_EQ_INT(m2m_ctx_new(&ctx), M2M_OK);
	CHECK(ctx != NULL);
	m2m_ctx_free(ctx);
}

UNIT_TEST(version_is_major_minor_patch)
{
	const char *v = m2m_version();
	unsigned a, b, c;
	char end;

	if (!CHECK(v != NULL))
		return;
	CHECK(v[0] != '\0');
	CHECK_EQ_INT(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &end), 3);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(strerror_every_code_non_empty_and_distinct),
		UNIT(strerror_known_values),
		UNIT(strerror_out_of_range_is_unknown_error),
		UNIT(ctx_new_has_empty_detail_and_no_error),
		UNIT(ctx_detail_set_by_failed_call_and_cleared),
		UNIT(ctx_two_contexts_keep_their_own_detail),
		UNIT(ctx_free_null_is_harmless),
		UNIT(version_is_major_minor_patch),
	};

	return unit_run(tests, UNIT_COUNT(tests));
}
