/*
 * protocol.c -- what a coroutine does on send / throw / close / finalize.
 *
 * The decisions mirror CPython's genobject.c guards (checked first, each
 * with its own error) and PyO3's Coroutine (throw without a cancel handle
 * drops the future; close never polls).  See conformance/SPEC.md, area
 * "coro" and "throw", for the clauses each branch implements.
 */
#include "internal.h"

/* yp__proto_init, yp__proto_begin and yp__proto_end_poll are inline in
 * internal.h: they sit on every send.  This file keeps the names. */

const char *
yp__action_name(yp__action_t a)
{
    static const char *const names[] = {
        [YP__ACT_POLL] = "POLL",
        [YP__ACT_CANCEL_POLL] = "CANCEL_POLL",
        [YP__ACT_DROP_RAISE] = "DROP_RAISE",
        [YP__ACT_DROP] = "DROP",
        [YP__ACT_DROP_WARN] = "DROP_WARN",
        [YP__ACT_NOOP] = "NOOP",
        [YP__ACT_ERR_RUNNING] = "ERR_RUNNING",
        [YP__ACT_ERR_REUSE] = "ERR_REUSE",
    };
    return (unsigned)a < YP__ARRAY_SIZE(names) ? names[a] : "?";
}

const char *
yp__cr_state_name(yp__cr_state_t s)
{
    static const char *const names[] = {
        [YP__CR_CREATED] = "CREATED",
        [YP__CR_SUSPENDED] = "SUSPENDED",
        [YP__CR_RUNNING] = "RUNNING",
        [YP__CR_FINISHED] = "FINISHED",
    };
    return (unsigned)s < YP__ARRAY_SIZE(names) ? names[s] : "?";
}
