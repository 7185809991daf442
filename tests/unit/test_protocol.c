/* test_protocol.c -- yp__proto_begin, exhaustively: every (state, op,
 * has_cancel) gives exactly the action and next state in the table. */
#include <criterion/criterion.h>

#include "helpers.h"

TestSuite(protocol, .timeout = 30);

typedef struct {
    yp__cr_state_t state;
    yp__op_t op;
    int has_cancel;
    yp__action_t action;
    yp__cr_state_t next;
} row_t;

#define C YP__CR_CREATED
#define S YP__CR_SUSPENDED
#define R YP__CR_RUNNING
#define F YP__CR_FINISHED

/* The expected behaviour, written from the contract (internal.h and
 * CPython's genobject.c guards), not from protocol.c:
 *  - send polls unless running (ValueError) or finished ("cannot reuse
 *    already awaited coroutine", as CPython raises for a coroutine);
 *  - throw goes to the cancel handle and polls if there is one, else
 *    drops the future and raises; same guards as send;
 *  - close drops silently, is a no-op once finished, and refuses while
 *    running (CPython: "coroutine already executing");
 *  - finalize drops, warning only if the coroutine was never polled; it
 *    cannot meaningfully happen while running, and is a no-op then. */
static const row_t table[] = {
    /* CREATED */
    {C, YP__OP_SEND, 0, YP__ACT_POLL, R},
    {C, YP__OP_SEND, 1, YP__ACT_POLL, R},
    {C, YP__OP_THROW, 0, YP__ACT_DROP_RAISE, F},
    {C, YP__OP_THROW, 1, YP__ACT_CANCEL_POLL, R},
    {C, YP__OP_CLOSE, 0, YP__ACT_DROP, F},
    {C, YP__OP_CLOSE, 1, YP__ACT_DROP, F},
    {C, YP__OP_FINALIZE, 0, YP__ACT_DROP_WARN, F},
    {C, YP__OP_FINALIZE, 1, YP__ACT_DROP_WARN, F},
    /* SUSPENDED */
    {S, YP__OP_SEND, 0, YP__ACT_POLL, R},
    {S, YP__OP_SEND, 1, YP__ACT_POLL, R},
    {S, YP__OP_THROW, 0, YP__ACT_DROP_RAISE, F},
    {S, YP__OP_THROW, 1, YP__ACT_CANCEL_POLL, R},
    {S, YP__OP_CLOSE, 0, YP__ACT_DROP, F},
    {S, YP__OP_CLOSE, 1, YP__ACT_DROP, F},
    {S, YP__OP_FINALIZE, 0, YP__ACT_DROP, F},
    {S, YP__OP_FINALIZE, 1, YP__ACT_DROP, F},
    /* RUNNING */
    {R, YP__OP_SEND, 0, YP__ACT_ERR_RUNNING, R},
    {R, YP__OP_SEND, 1, YP__ACT_ERR_RUNNING, R},
    {R, YP__OP_THROW, 0, YP__ACT_ERR_RUNNING, R},
    {R, YP__OP_THROW, 1, YP__ACT_ERR_RUNNING, R},
    {R, YP__OP_CLOSE, 0, YP__ACT_ERR_RUNNING, R},
    {R, YP__OP_CLOSE, 1, YP__ACT_ERR_RUNNING, R},
    {R, YP__OP_FINALIZE, 0, YP__ACT_NOOP, R},
    {R, YP__OP_FINALIZE, 1, YP__ACT_NOOP, R},
    /* FINISHED */
    {F, YP__OP_SEND, 0, YP__ACT_ERR_REUSE, F},
    {F, YP__OP_SEND, 1, YP__ACT_ERR_REUSE, F},
    {F, YP__OP_THROW, 0, YP__ACT_ERR_REUSE, F},
    {F, YP__OP_THROW, 1, YP__ACT_ERR_REUSE, F},
    {F, YP__OP_CLOSE, 0, YP__ACT_NOOP, F},
    {F, YP__OP_CLOSE, 1, YP__ACT_NOOP, F},
    {F, YP__OP_FINALIZE, 0, YP__ACT_NOOP, F},
    {F, YP__OP_FINALIZE, 1, YP__ACT_NOOP, F},
};

static const char *const op_names[] = {"SEND", "THROW", "CLOSE",
                                       "FINALIZE"};

/* Reach `state` through the public transitions only, so the test does
 * not depend on the struct's encoding of the state. */
static void
reach(yp__proto_t *p, yp__cr_state_t state, int has_cancel)
{
    yp__proto_init(p, has_cancel);
    switch (state) {
    case YP__CR_CREATED:
        break;
    case YP__CR_SUSPENDED:
        cr_assert_eq(yp__proto_begin(p, YP__OP_SEND), YP__ACT_POLL);
        yp__proto_end_poll(p, YP_PENDING);
        break;
    case YP__CR_RUNNING:
        cr_assert_eq(yp__proto_begin(p, YP__OP_SEND), YP__ACT_POLL);
        break;
    case YP__CR_FINISHED:
        cr_assert_eq(yp__proto_begin(p, YP__OP_CLOSE), YP__ACT_DROP);
        break;
    }
    cr_assert_eq(p->state, state, "could not reach %s",
                 yp__cr_state_name(state));
    cr_assert_eq(p->has_cancel, has_cancel);
}

YP_UTEST(protocol, table_is_exhaustive)
{
    /* 4 states x 4 ops x 2, each exactly once. */
    int seen[4][4][2] = {{{0}}};
    cr_assert_eq(YP__ARRAY_SIZE(table), 4 * 4 * 2);
    for (size_t i = 0; i < YP__ARRAY_SIZE(table); i++) {
        const row_t *r = &table[i];
        seen[r->state][r->op][r->has_cancel]++;
    }
    for (int s = 0; s < 4; s++) {
        for (int o = 0; o < 4; o++) {
            for (int c = 0; c < 2; c++) {
                cr_assert_eq(seen[s][o][c], 1, "(%d, %d, %d)", s, o, c);
            }
        }
    }
}

YP_UTEST(protocol, every_state_op_cancel_combination)
{
    for (size_t i = 0; i < YP__ARRAY_SIZE(table); i++) {
        const row_t *r = &table[i];
        yp__proto_t p;
        reach(&p, r->state, r->has_cancel);
        yp__action_t got = yp__proto_begin(&p, r->op);
        cr_expect_eq(got, r->action,
                     "%s + %s (cancel=%d): action %s, expected %s",
                     yp__cr_state_name(r->state), op_names[r->op],
                     r->has_cancel, yp__action_name(got),
                     yp__action_name(r->action));
        cr_expect_eq(p.state, r->next,
                     "%s + %s (cancel=%d): state %s, expected %s",
                     yp__cr_state_name(r->state), op_names[r->op],
                     r->has_cancel,
                     yp__cr_state_name((yp__cr_state_t)p.state),
                     yp__cr_state_name(r->next));
        cr_expect_eq(p.has_cancel, r->has_cancel, "has_cancel changed");
    }
}

YP_UTEST(protocol, init)
{
    yp__proto_t p;
    yp__proto_init(&p, 0);
    cr_assert_eq(p.state, YP__CR_CREATED);
    cr_assert_eq(p.has_cancel, 0);
    yp__proto_init(&p, 7);
    cr_assert_eq(p.has_cancel, 1, "has_cancel is normalised to 0/1");
}

YP_UTEST(protocol, end_poll)
{
    static const struct {
        yp_poll_t outcome;
        yp__cr_state_t next;
    } cases[] = {
        {YP_PENDING, YP__CR_SUSPENDED},
        {YP_READY, YP__CR_FINISHED},
        {YP_ERROR, YP__CR_FINISHED},
    };
    for (int c = 0; c < 2; c++) {
        for (size_t i = 0; i < YP__ARRAY_SIZE(cases); i++) {
            yp__proto_t p;
            reach(&p, YP__CR_RUNNING, c);
            yp__proto_end_poll(&p, cases[i].outcome);
            cr_assert_eq(p.state, cases[i].next, "outcome %d -> %s",
                         cases[i].outcome,
                         yp__cr_state_name((yp__cr_state_t)p.state));
        }
        /* The cancel-poll path ends the same way. */
        yp__proto_t p;
        reach(&p, YP__CR_SUSPENDED, 1);
        cr_assert_eq(yp__proto_begin(&p, YP__OP_THROW),
                     YP__ACT_CANCEL_POLL);
        yp__proto_end_poll(&p, YP_PENDING);
        cr_assert_eq(p.state, YP__CR_SUSPENDED);
    }
}

/* A whole life: created, polled pending twice, thrown into with a cancel
 * handle, finished, then every op refused or ignored. */
YP_UTEST(protocol, life_cycle)
{
    yp__proto_t p;
    yp__proto_init(&p, 1);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_SEND), YP__ACT_POLL);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_SEND), YP__ACT_ERR_RUNNING,
                 "re-entrant send");
    yp__proto_end_poll(&p, YP_PENDING);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_SEND), YP__ACT_POLL);
    yp__proto_end_poll(&p, YP_PENDING);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_THROW), YP__ACT_CANCEL_POLL);
    yp__proto_end_poll(&p, YP_READY);
    cr_assert_eq(p.state, YP__CR_FINISHED);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_SEND), YP__ACT_ERR_REUSE);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_THROW), YP__ACT_ERR_REUSE);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_CLOSE), YP__ACT_NOOP);
    cr_assert_eq(yp__proto_begin(&p, YP__OP_FINALIZE), YP__ACT_NOOP);
    cr_assert_eq(p.state, YP__CR_FINISHED);
}

YP_UTEST(protocol, names)
{
    static const struct {
        yp__action_t a;
        const char *name;
    } actions[] = {
        {YP__ACT_POLL, "POLL"},
        {YP__ACT_CANCEL_POLL, "CANCEL_POLL"},
        {YP__ACT_DROP_RAISE, "DROP_RAISE"},
        {YP__ACT_DROP, "DROP"},
        {YP__ACT_DROP_WARN, "DROP_WARN"},
        {YP__ACT_NOOP, "NOOP"},
        {YP__ACT_ERR_RUNNING, "ERR_RUNNING"},
        {YP__ACT_ERR_REUSE, "ERR_REUSE"},
    };
    for (size_t i = 0; i < YP__ARRAY_SIZE(actions); i++) {
        cr_assert_str_eq(yp__action_name(actions[i].a), actions[i].name);
    }
    cr_assert_str_eq(yp__action_name((yp__action_t)42), "?");
    cr_assert_str_eq(yp__cr_state_name(YP__CR_CREATED), "CREATED");
    cr_assert_str_eq(yp__cr_state_name(YP__CR_SUSPENDED), "SUSPENDED");
    cr_assert_str_eq(yp__cr_state_name(YP__CR_RUNNING), "RUNNING");
    cr_assert_str_eq(yp__cr_state_name(YP__CR_FINISHED), "FINISHED");
    cr_assert_str_eq(yp__cr_state_name((yp__cr_state_t)42), "?");
}
