/* SPDX-License-Identifier: MIT */
/* The reference tests' shared checks (ref_check.h). */
#include "ref_check.h"

#include <stdio.h>

#include <criterion/criterion.h>

void rc_free_bufs(tu_buf *const *bufs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        tu_free(bufs[i]);
}

void rc_random_bufs(tu_buf *bufs, int count, sigfuse_dtype dt, int64_t n, tu_rng *rng, const double (*range)[2])
{
    for (int k = 0; k < count; k++) {
        bufs[k] = tu_alloc(dt, n);
        tu_fill_uniform(&bufs[k], rng, range[k][0], range[k][1]);
    }
}

/* ---- Elementwise ops ------------------------------------------------------------------ */

enum { EW_MAX_INPUTS = 3, EW_MAX_OUTPUTS = 2 };

void rc_check_ew_dtype(sigfuse_ctx *ctx, const rc_ew_call *call, sigfuse_dtype dt, int64_t n, uint64_t seed,
                       const double (*range)[2])
{
    char what[96];
    snprintf(what, sizeof what, "%s %s %s n=%lld beta=%g", call->name, call->backward ? "backward" : "forward",
             sigfuse_dtype_name(dt), (long long)n, call->beta);
    tu_rng rng = tu_rng_seed(seed, what);
    tu_buf in[EW_MAX_INPUTS], in64[EW_MAX_INPUTS], out[EW_MAX_OUTPUTS], out64[EW_MAX_OUTPUTS];
    const tu_buf *in_p[EW_MAX_INPUTS], *in64_p[EW_MAX_INPUTS], *out_p[EW_MAX_OUTPUTS], *out64_p[EW_MAX_OUTPUTS];
    rc_random_bufs(in, call->inputs, dt, n, &rng, range);
    for (int k = 0; k < call->inputs; k++) {
        in64[k] = tu_copy_as(&in[k], SIGFUSE_F64);
        in_p[k] = &in[k];
        in64_p[k] = &in64[k];
    }
    for (int k = 0; k < call->max_outputs; k++) {
        out[k] = tu_alloc(dt, n);
        out64[k] = tu_alloc(SIGFUSE_F64, n);
        out_p[k] = &out[k];
        out64_p[k] = &out64[k];
    }
    TU_OK(ctx, call->run(ctx, call, n, in_p, out_p));
    TU_OK(ctx, call->run(ctx, call, n, in64_p, out64_p));
    for (int k = call->outputs; k < call->max_outputs; k++)
        cr_assert(tu_untouched(&out[k]), "%s: wrote output %d, which the call does not take", what, k);
    bool untouched = true, guards = true;
    for (int k = 0; k < call->max_outputs; k++)
        untouched = untouched && tu_untouched(&out[k]);
    if (n == 0)
        cr_assert(untouched, "%s: wrote something", what);
    for (int k = 0; k < call->outputs; k++)
        tu_assert_rounded(&out[k], &out64[k], what);
    for (int k = 0; k < call->inputs; k++)
        guards = guards && tu_guards_ok(&in[k]);
    cr_assert(guards, "%s: input guard overwritten", what);
    for (int k = 0; k < call->inputs; k++)
        RC_FREE(&in[k], &in64[k]);
    for (int k = 0; k < call->max_outputs; k++)
        RC_FREE(&out[k], &out64[k]);
}

void rc_assert_elementwise_fd(const char *what, sigfuse_ctx *ctx, rc_forward_at forward, const void *problem,
                              const char *in_name, const tu_buf *in, const tu_buf *dy, const tu_buf *grad,
                              const char *other_name, const tu_buf *other)
{
    const int64_t n = in->n;
    tu_buf plus = tu_alloc(SIGFUSE_F64, n), minus = tu_alloc(SIGFUSE_F64, n);
    tu_buf y_plus = tu_alloc(SIGFUSE_F64, n), y_minus = tu_alloc(SIGFUSE_F64, n);
    for (int64_t i = 0; i < n; i++) {
        double v = tu_get(in, i), h = tu_fd_step(v);
        tu_set(&plus, i, v + h);
        tu_set(&minus, i, v - h);
    }
    forward(ctx, problem, &plus, &y_plus);
    forward(ctx, problem, &minus, &y_minus);
    for (int64_t i = 0; i < n; i++) {
        double fd = tu_get(dy, i) * (tu_get(&y_plus, i) - tu_get(&y_minus, i)) /
                    (tu_get(&plus, i) - tu_get(&minus, i));
        char others[64] = "";
        if (other)
            snprintf(others, sizeof others, " %s=%.17g", other_name, tu_get(other, i));
        cr_assert(tu_close(tu_get(grad, i), fd, 1e-6, 1e-9),
                  "%s %s=%.17g%s [%lld]: d%s %.17g, finite difference %.17g", what, in_name, tu_get(in, i),
                  others, (long long)i, in_name, tu_get(grad, i), fd);
    }
    RC_FREE(&plus, &minus, &y_plus, &y_minus);
}
