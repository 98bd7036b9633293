/* SPDX-License-Identifier: MIT */
/*
 * The launcher of the elementwise ops, which activation.c and glu.c share: each op is one
 * grid-stride kernel named after it (activation.cl, glu.cl; common.cl's SF_ELEMENTWISE)
 * over n elements, its inputs and outputs in the catalogue's order. It takes the 4-wide
 * path (vload4 / vstore4 and their half and bf16 forms) when every buffer's element offset
 * is a multiple of 4, the scalar path otherwise; the two give the same bits.
 */
#include "sf_opencl.h"

#define SF_CL_FAMILY_OF_(name, family, shape, args) [SF_OP_##name] = SF_CL_FAMILY_##family,
static const sf_cl_family family_of[SF_OP_COUNT] = {SF_CATALOG(SF_CL_FAMILY_OF_)};
#undef SF_CL_FAMILY_OF_

sigfuse_status sf_cl_elementwise(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    if ((unsigned)call->op >= SF_OP_COUNT || sf_op_infos[call->op].shape != SF_SHAPE_EW)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "opencl: %s is not an elementwise op",
                       sf_op_name(call->op));
    const sf_op_info *info = &sf_op_infos[call->op];
    const int n_in = info->n_inputs, n_out = info->n_bufs - info->n_inputs;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family_of[call->op], call->in[0]->dtype, (sf_cl_kernel)call->op, &l));
    /* Every elementwise kernel takes 3 inputs and 2 outputs (absent: NULL), n, the path
     * and beta (1 for the ops without one). */
    bool vec = true;
    for (int i = 0; i < 3; i++) {
        const sigfuse_buffer *b = i < n_in ? call->in[i] : NULL;
        sf_cl_arg_buf(&l, b);
        vec = vec && sf_cl_vec4(b);
    }
    for (int o = 0; o < 2; o++) {
        const sigfuse_buffer *b = o < n_out ? call->out[o] : NULL;
        sf_cl_arg_buf(&l, b);
        vec = vec && sf_cl_vec4(b);
    }
    const uint64_t n = (uint64_t)call->n;
    sf_cl_arg_u64(&l, n);
    sf_cl_arg_int(&l, vec);
    sf_cl_arg_f32(&l, call->beta);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(sf_cl_of(ctx), sf_cl_span_items(n, vec), l.local));
}
