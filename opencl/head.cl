/* SPDX-License-Identifier: MIT */
/*
 * The multi-label head's elementwise parts around CLBlast's f32 products: storage <-> f32
 * conversion of chunks (8 or 6 bytes per element for f16/bf16), the predict epilogue
 * (bias, sigma, labels: reads 4 bytes of Z, writes up to 2 x dtype + 1 per logit), the
 * train step's in-place gradient of a logits chunk (reads Z and the target, writes G and a
 * per-group loss partial: 8 + target bytes per logit), and fixed-order column and loss sums.
 * Both epilogues first round a 16-bit head's dot products to its dtype (sf_round_storage,
 * common.cl): CLBlast's SGEMM gives them in f32; the CUDA backend's GEMM rounds them on output.
 */

kernel void head_to_f32(global const SF_T *src, ulong src_off, ulong n, global float *dst, ulong dst_off)
{
    src += src_off;
    dst += dst_off;
    SF_FOR_EACH(i, n)
        dst[i] = sf_ld(src, i);
}

kernel void head_from_f32(global const float *src, ulong src_off, ulong n, global SF_T *dst, ulong dst_off)
{
    src += src_off;
    dst += dst_off;
    SF_FOR_EACH(i, n)
        sf_st(dst, i, src[i]);
}

/* Rows row0 .. row0 + rows - 1 of the outputs from the chunk's Z = X W^T (without bias),
 * on a 2-D grid: dimension 0 the L labels, dimension 1 the rows. */
kernel void head_predict_epilogue(global const float *z, ulong z_off, ulong rows, ulong L,
                                  global const SF_T *bias, ulong bias_off,
                                  global SF_T *logits, ulong logits_off, global SF_T *probs, ulong probs_off,
                                  global uchar *labels, ulong labels_off, int labels_u8,
                                  ulong row0, float threshold)
{
    z += z_off;
    bias = SF_AT(bias, bias_off);
    logits = SF_AT(logits, logits_off);
    probs = SF_AT(probs, probs_off);
    labels = sf_label_at(labels, labels_u8, labels_off);
    for (ulong j = get_global_id(0); j < L; j += get_global_size(0)) {
        const float b = bias ? sf_ld(bias, j) : 0.0f;
        for (ulong i = get_global_id(1); i < rows; i += get_global_size(1)) {
            const float v = sf_round_storage(z[i * L + j]) + b;
            const ulong e = (row0 + i) * L + j;
            if (logits)
                sf_st(logits, e, v);
            if (probs || labels) {
                const float p = sf_sigmoid(v);
                if (probs)
                    sf_st(probs, e, p);
                if (labels)
                    sf_st_label(labels, labels_u8, e, p > threshold ? 1.0f : 0.0f);
            }
        }
    }
}

/* The chunk's logits (Z + b) become G = grad x scale in place, with
 * loss_e = (1 - y) softplus(z) + p y softplus(-z) and grad = (1 - y) sigma(z) - p y sigma(-z),
 * which are BCE's with y' = y and w = 1 (sf_math.h). Element e of the chunk is label
 * e % L; the column advances by col_step = global size % L per pass (no 64-bit modulo per
 * element). part (when set) receives one partial loss sum per work-group. */
kernel void head_train_grad(global float *z, ulong z_off, ulong n, ulong L, ulong col_step,
                            global const SF_T *bias, ulong bias_off,
                            global const uchar *targets, ulong targets_off, int targets_u8,
                            global const SF_T *pw, ulong pw_off, ulong row0, float scale,
                            global float *part, local float *tmp)
{
    z += z_off;
    bias = SF_AT(bias, bias_off);
    targets = sf_target_at(targets, targets_u8, targets_off + row0 * L);
    pw = SF_AT(pw, pw_off);
    float acc = 0.0f;
    ulong col = get_global_id(0) % L;
    SF_FOR_EACH(i, n) {
        const float v = sf_round_storage(z[i]) + (bias ? sf_ld(bias, col) : 0.0f);
        const float y = sf_ld_target(targets, targets_u8, i);
        const float p = pw ? sf_ld(pw, col) : 1.0f;
        float g, sig;   /* sig: not an output of the train step */
        if (part) {
            float le;
            sf_bce_loss_grad(v, y, 1.0f, p, &le, &g, &sig);
            acc += le;
        } else {
            g = sf_bce_grad(v, y, 1.0f, p, &sig);
        }
        z[i] = g * scale;
        col += col_step;
        if (col >= L)
            col -= L;
    }
    if (part) {
        const float s = sf_group_sum(acc, tmp);
        if (get_local_id(0) == 0)
            part[get_group_id(0)] = s;
    }
}

/* One work-group: acc = (first ? 0 : acc) + the fixed-order sum of count partials; on the
 * last chunk also out = acc (SUM) or acc / denom (MEAN; 0 / 0 = NaN when N L = 0). acc may
 * be absent when first and last are both set (no chunk at all). */
kernel void head_loss_acc(global const float *part, uint count, global float *acc, ulong acc_off, int first,
                          int last, int mean, float denom, global float *out, ulong out_off, local float *tmp)
{
    float s = 0.0f;
    for (uint i = get_local_id(0); i < count; i += get_local_size(0))
        s += part[i];
    s = sf_group_sum(s, tmp);
    if (get_local_id(0) == 0) {
        float total = (first || !acc) ? s : acc[acc_off] + s;
        if (acc)
            acc[acc_off] = total;
        if (last)
            out[out_off] = mean ? total / denom : total;
    }
}

/* acc[j] = (first ? 0 : acc[j]) + sum over the chunk's rows, in order, of g[i * L + j]:
 * the bias gradient, one chunk at a time. */
kernel void head_colsum(global const float *g, ulong g_off, ulong rows, ulong L, global float *acc, ulong acc_off,
                        int first)
{
    g += g_off;
    acc += acc_off;
    SF_FOR_EACH(j, L) {
        float s = first ? 0.0f : acc[j];
        for (ulong i = 0; i < rows; i++)
            s += g[i * L + j];
        acc[j] = s;
    }
}
