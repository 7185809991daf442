/* test_borrow.c -- yp_borrowflag_*: the run-time borrow checker. */
#include <criterion/criterion.h>

#include "helpers.h"

TestSuite(borrow, .timeout = 30);

#define SH YP_BORROW_SHARED
#define EX YP_BORROW_EXCLUSIVE

YP_UTEST(borrow, starts_free)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    cr_assert_eq(yp_borrowflag_state(&f), 0);
}

YP_UTEST(borrow, shared_with_shared_is_ok)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    for (long n = 1; n <= 5; n++) {
        cr_assert_eq(yp_borrowflag_try(&f, SH), 0);
        cr_assert_eq(yp_borrowflag_state(&f), n);
    }
    for (long n = 4; n >= 0; n--) {
        yp_borrowflag_untry(&f, SH);
        cr_assert_eq(yp_borrowflag_state(&f), n);
    }
}

YP_UTEST(borrow, exclusive_alone_is_ok)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    cr_assert_eq(yp_borrowflag_try(&f, EX), 0);
    cr_assert_eq(yp_borrowflag_state(&f), -1);
    yp_borrowflag_untry(&f, EX);
    cr_assert_eq(yp_borrowflag_state(&f), 0);
}

/* Every pairing that involves an exclusive borrow is refused with the
 * code named after what is already held, and a refusal changes nothing. */
YP_UTEST(borrow, shared_then_exclusive_refused)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    cr_assert_eq(yp_borrowflag_try(&f, SH), 0);
    cr_assert_eq(yp_borrowflag_try(&f, EX), YP_EBORROWED);
    cr_assert_eq(yp_borrowflag_state(&f), 1);
    cr_assert_eq(yp_borrowflag_try(&f, SH), 0);
    cr_assert_eq(yp_borrowflag_try(&f, EX), YP_EBORROWED);
    cr_assert_eq(yp_borrowflag_state(&f), 2);
    yp_borrowflag_untry(&f, SH);
    cr_assert_eq(yp_borrowflag_try(&f, EX), YP_EBORROWED,
                 "still one shared borrow");
    yp_borrowflag_untry(&f, SH);
    cr_assert_eq(yp_borrowflag_try(&f, EX), 0, "release restores");
    yp_borrowflag_untry(&f, EX);
    cr_assert_eq(yp_borrowflag_state(&f), 0);
}

YP_UTEST(borrow, exclusive_then_shared_refused)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    cr_assert_eq(yp_borrowflag_try(&f, EX), 0);
    cr_assert_eq(yp_borrowflag_try(&f, SH), YP_EMUTBORROWED);
    cr_assert_eq(yp_borrowflag_state(&f), -1);
    yp_borrowflag_untry(&f, EX);
    cr_assert_eq(yp_borrowflag_try(&f, SH), 0, "release restores");
    yp_borrowflag_untry(&f, SH);
    cr_assert_eq(yp_borrowflag_state(&f), 0);
}

YP_UTEST(borrow, exclusive_then_exclusive_refused)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    cr_assert_eq(yp_borrowflag_try(&f, EX), 0);
    cr_assert_eq(yp_borrowflag_try(&f, EX), YP_EBORROWED);
    cr_assert_eq(yp_borrowflag_state(&f), -1);
    yp_borrowflag_untry(&f, EX);
    cr_assert_eq(yp_borrowflag_try(&f, EX), 0, "release restores");
    yp_borrowflag_untry(&f, EX);
    cr_assert_eq(yp_borrowflag_state(&f), 0);
}

YP_UTEST(borrow, messages_match_pyo3)
{
    cr_assert_str_eq(yp_strerror(YP_EBORROWED), "Already borrowed");
    cr_assert_str_eq(yp_strerror(YP_EMUTBORROWED),
                     "Already mutably borrowed");
}
