/* test_errors.c -- yp_strerror / yp_err_name for every code. */
#include <criterion/criterion.h>

#include <limits.h>
#include <string.h>

#include "helpers.h"

TestSuite(errors, .timeout = 30);

static const struct {
    int code;
    const char *name;
    const char *text;
} codes[] = {
    {YP_ENOMEM, "YP_ENOMEM", "out of memory"},
    {YP_ECANCELED, "YP_ECANCELED",
     "the other end of the channel was dropped"},
    {YP_EBORROWED, "YP_EBORROWED", "Already borrowed"},
    {YP_EMUTBORROWED, "YP_EMUTBORROWED", "Already mutably borrowed"},
    {YP_EAGAIN, "YP_EAGAIN", "resource temporarily unavailable"},
    {YP_ESHUTDOWN, "YP_ESHUTDOWN", "the engine is shutting down"},
    {YP_EINVAL, "YP_EINVAL", "invalid argument"},
};

YP_UTEST(errors, every_code_has_its_name_and_text)
{
    for (size_t i = 0; i < YP__ARRAY_SIZE(codes); i++) {
        cr_assert_lt(codes[i].code, 0, "codes are negative");
        cr_assert_str_eq(yp_err_name(codes[i].code), codes[i].name);
        cr_assert_str_eq(yp_strerror(codes[i].code), codes[i].text);
    }
}

YP_UTEST(errors, table_covers_the_map)
{
    /* Every code in YP_ERRNO_MAP is in the table above, and all are
     * distinct: a new code fails here until it is tested. */
    size_t n = 0;
#define COUNT(name, value, text) n++;
    YP_ERRNO_MAP(COUNT)
#undef COUNT
    cr_assert_eq(n, YP__ARRAY_SIZE(codes));
    for (size_t i = 0; i < YP__ARRAY_SIZE(codes); i++) {
        for (size_t j = i + 1; j < YP__ARRAY_SIZE(codes); j++) {
            cr_assert_neq(codes[i].code, codes[j].code);
        }
    }
}

YP_UTEST(errors, unknown_codes)
{
    static const int unknown[] = {0, 1, -8, -100, 42, INT_MIN, INT_MAX};
    for (size_t i = 0; i < YP__ARRAY_SIZE(unknown); i++) {
        const char *s = yp_strerror(unknown[i]);
        const char *n = yp_err_name(unknown[i]);
        cr_assert_not_null(s);
        cr_assert_not_null(n);
        cr_assert_str_eq(s, "unknown error", "%d", unknown[i]);
        cr_assert_str_eq(n, "unknown error", "%d", unknown[i]);
    }
}
