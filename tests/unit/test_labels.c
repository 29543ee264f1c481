/*
 * test_labels.c - normalizing label sets and matching requirements.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "labels.h"

static const struct {
	const char *in, *out;
} good[] = {
	{"", ""},
	{"   ", ""},
	{"a=1", "a=1"},
	{"zone=eu, gpu=yes", "gpu=yes,zone=eu"},
	{" b = 2 ,a=1,\tc=3 ", "a=1,b=2,c=3"},
	{"rack=r-1.a_b/c", "rack=r-1.a_b/c"},
	{"B=1,a=1,A=1", "A=1,B=1,a=1"}, /* byte order, case-sensitive */
	{"kk=v,k.=v,k=v", "k=v,k.=v,kk=v"}, /* by key, not by "k=v" */
};

Test(labels, normalize_sorts_and_trims)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char out[256], err[128] = "";
		int rc = labels_normalize(good[i].in, out, sizeof(out), err, sizeof(err));
		cr_assert_eq(rc, 0, "'%s': %s", good[i].in, err);
		cr_assert_str_eq(out, good[i].out, "'%s'", good[i].in);
		/* Normalizing twice changes nothing. */
		char again[256];
		cr_assert_eq(labels_normalize(out, again, sizeof(again), err, sizeof(err)), 0);
		cr_assert_str_eq(again, out);
	}
}

static const struct {
	const char *in, *err;
} bad[] = {
	{"gpu", "label 'gpu' is not key=value"},
	{"a=1,,b=2", "empty label (stray ',')"},
	{"a=1,", "empty label (stray ',')"},
	{",a=1", "empty label (stray ',')"},
	{"=1", "empty label key"},
	{"a=", "empty label value"},
	{"a b=1", "bad character ' ' in label key 'a b'"},
	{"a=x=y", "bad character '=' in label value 'x=y'"},
	{"a=1,b=2,a=3", "duplicate label key 'a'"},
	{"k=0123456789012345678901234567890123456789012345678901234567890123",
	 "label value '0123456789012345...' longer than 63 bytes"},
};

Test(labels, normalize_rejects_bad_input_with_a_reason)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[256] = "junk", err[128] = "";
		int rc = labels_normalize(bad[i].in, out, sizeof(out), err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "'%s'", bad[i].in);
		cr_assert(strncmp(err, bad[i].err, strlen(bad[i].err)) == 0,
			  "'%s': got '%s'", bad[i].in, err);
		cr_assert_str_eq(out, "");
	}
}

Test(labels, longest_parts_are_accepted)
{
	char in[200], out[200], err[128];
	memset(in, 'k', 63);
	in[63] = '=';
	memset(in + 64, 'v', 63);
	in[127] = '\0';
	cr_assert_eq(labels_normalize(in, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out, in);
}

Test(labels, result_must_fit)
{
	char out[8], err[128];
	cr_assert_eq(labels_normalize("a=1,b=2", out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, "a=1,b=2");
	cr_assert_eq(labels_normalize("a=1,b=22", out, sizeof(out), err, sizeof(err)),
		     -ENAMETOOLONG);
	cr_assert_str_eq(out, "");
}

Test(labels, match)
{
	cr_assert(labels_match("", ""));
	cr_assert(labels_match("", "gpu=yes"));
	cr_assert(labels_match(NULL, "gpu=yes"));
	cr_assert(labels_match("gpu=yes", "gpu=yes"));
	cr_assert(labels_match("gpu=yes", "a=1,gpu=yes,zone=eu"));
	cr_assert(labels_match("a=1,zone=eu", "a=1,gpu=yes,zone=eu"));
	cr_assert_not(labels_match("gpu=yes", ""));
	cr_assert_not(labels_match("gpu=yes", NULL));
	cr_assert_not(labels_match("gpu=yes", "gpu=no"));
	cr_assert_not(labels_match("gpu=y", "gpu=yes"));  /* no prefix match */
	cr_assert_not(labels_match("gpu=yes", "gpu=ye"));
	cr_assert_not(labels_match("a=1,zone=us", "a=1,gpu=yes,zone=eu"));
}
