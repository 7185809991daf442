/*
 * protocol.c -- what a coroutine does on send / throw / close / finalize.
 *
 * The decisions mirror CPython's genobject.c guards (checked first, each
 * with its own error) and PyO3's Coroutine (throw without a cancel handle
 * drops the future; close never polls).  See conformance/SPEC.md, area
 * "coro" and "throw", for the clauses each branch implements.
 */
#include "internal.h"

void
yp__proto_init(yp__proto_t *p, int has_cancel)
{
    p->state = YP__CR_CREATED;
    p->has_cancel = has_cancel != 0;
}

yp__action_t
yp__proto_begin(yp__proto_t *p, yp__op_t op)
{
    yp__cr_state_t s = (yp__cr_state_t)p->state;

    if (s == YP__CR_RUNNING) {
        /* Re-entrant call from inside our own poll.  Finalize cannot get
         * here: the object is referenced while it runs. */
        return op == YP__OP_FINALIZE ? YP__ACT_NOOP : YP__ACT_ERR_RUNNING;
    }
    if (s == YP__CR_FINISHED) {
        switch (op) {
        case YP__OP_SEND:
        case YP__OP_THROW:
#ifdef YP_FAULT_REUSE_ERROR_MISSING
            return YP__ACT_NOOP;
#else
            return YP__ACT_ERR_REUSE;
#endif
        default:
            return YP__ACT_NOOP;
        }
    }
    switch (op) {
    case YP__OP_SEND:
        p->state = YP__CR_RUNNING;
        return YP__ACT_POLL;
    case YP__OP_THROW:
        if (p->has_cancel) {
            p->state = YP__CR_RUNNING;
            return YP__ACT_CANCEL_POLL;
        }
        p->state = YP__CR_FINISHED;
        return YP__ACT_DROP_RAISE;
    case YP__OP_CLOSE:
        p->state = YP__CR_FINISHED;
        return YP__ACT_DROP;
    case YP__OP_FINALIZE:
    default:
        p->state = YP__CR_FINISHED;
        return s == YP__CR_CREATED ? YP__ACT_DROP_WARN : YP__ACT_DROP;
    }
}

void
yp__proto_end_poll(yp__proto_t *p, yp_poll_t outcome)
{
    p->state = outcome == YP_PENDING ? YP__CR_SUSPENDED : YP__CR_FINISHED;
}

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
