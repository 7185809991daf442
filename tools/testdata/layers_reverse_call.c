/*
 * layers_reverse_call.c -- a planted layering violation for the ctest
 * layers.bites.call: the real core/waker.c plus one call from it into the
 * wake queue (core/wakeq.c), a higher layer.  tools/layers.py, given this
 * object in place of waker.c's, must fail naming both files.  Never
 * linked into anything.
 */
#include "../../engine/src/core/waker.c"

int yp__planted_reverse_call(yp__wakeq_t *q, yp__wakeq_link_t *link);

int
yp__planted_reverse_call(yp__wakeq_t *q, yp__wakeq_link_t *link)
{
    return yp__wakeq_push(q, link);
}
