/*
 * borrow.c -- the run-time borrow flag (PyO3's PyCell borrow checker).
 *
 * Plain longs, no atomics: every caller holds the GIL, which is what makes
 * "check then set" safe here.  The messages match PyO3's: a refused
 * exclusive borrow is "Already borrowed", a refused shared borrow is
 * "Already mutably borrowed".
 */
#include "internal.h"

#include <assert.h>

int
yp_borrowflag_try(yp_borrowflag_t *flag, yp_borrow_mode_t mode)
{
    if (mode == YP_BORROW_EXCLUSIVE) {
        if (flag->state != 0) {
            return YP_EBORROWED;
        }
        flag->state = -1;
        return 0;
    }
    if (flag->state < 0) {
        return YP_EMUTBORROWED;
    }
    flag->state++;
    return 0;
}

void
yp_borrowflag_untry(yp_borrowflag_t *flag, yp_borrow_mode_t mode)
{
    if (YP_FAULT(BORROW_NEVER_RELEASED)) {
        return;
    }
    if (mode == YP_BORROW_EXCLUSIVE) {
        assert(flag->state == -1);
        flag->state = 0;
    }
    else {
        assert(flag->state > 0);
        flag->state--;
    }
}

long
yp_borrowflag_state(const yp_borrowflag_t *flag)
{
    return flag->state;
}
