/* SPDX-License-Identifier: MIT */
/*
 * The multi-label head's elementwise parts around CLBlast's f32 products: storage <-> f32
 * conversion of chunks (8 or 6 bytes per element for f16/bf16), head_predict's epilogue
 * (bias, sigma, labels: reads 4 bytes of Z, writes up to 2 x dtype + 1 per logit),
 * head_train_step's in-place gradient of a logits chunk (reads Z and the target, writes G
 * and a per-group loss partial: 8 + target bytes per logit; with CSR positives a binary
 * search of the row's few ids instead of the target), and the fixed-order loss and
 * column sums (in sf_acc, accumulated across chunks in the workspace).
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

/* head_predict's outputs for rows row0 .. row0 + rows - 1 from the chunk's Z = X W^T
 * (without bias), on a 2-D grid: dimension 0 the L labels, dimension 1 the rows. */
kernel void head_predict(global const float *z, ulong z_off, ulong rows, ulong L, SF_IN(bias), SF_OUT(logits),
                         SF_OUT(probs), SF_OUT_U8(labels), ulong row0, float threshold)
{
    z += z_off;
    SF_OPEN(bias, logits, probs)
    SF_OPEN_U8(labels)
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

/* Whether global label id `id` is among ids[lo .. hi), which ascend (the CSR check saw to
 * it): a binary search, log2 of the row's positives deep. ids are i32 or i64 (ids64). */
SF_FN int sf_csr_has(global const int *ids, int ids64, ulong lo, ulong hi, ulong id)
{
    while (lo < hi) {
        const ulong mid = lo + (hi - lo) / 2;
        const ulong v = ids64 ? (ulong)((global const long *)ids)[mid] : (ulong)(uint)ids[mid];
        if (v == id)
            return 1;
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

SF_FN ulong sf_csr_at(global const int *p, int is64, ulong i)
{
    return is64 ? (ulong)((global const long *)p)[i] : (ulong)(uint)p[i];
}

/* head_train_step's elementwise step: the chunk's logits (Z + b) become G = grad x scale
 * in place, with loss_e = (1 - y) softplus(z) + p y softplus(-z) and
 * grad = (1 - y) sigma(z) - p y sigma(-z), which are BCE's with y' = y and w = 1
 * (sf_math.h). Element e of the chunk is label e % L of row e / L; column and row advance
 * by G % L and G / L per pass of the grid (G work-items: no 64-bit division per element).
 * y is the dense target, or with CSR positives (pos_off set) 1 iff the global id
 * label_offset + column is among the row's ids (pos_lab, both i32 or both i64: pos64).
 * part (when set) receives one partial loss sum per work-group. */
kernel void head_train_step(global float *z, ulong z_off, ulong n, ulong L, SF_IN(bias), SF_IN_U8(targets),
                            global const int *pos_off, ulong pos_off_off, global const int *pos_lab,
                            ulong pos_lab_off, int pos64, ulong label_offset, SF_IN(pw), ulong row0, float scale,
                            global sf_acc *part, local sf_acc *tmp)
{
    z += z_off;
    SF_OPEN(bias, pw)
    SF_OPEN_U8(targets)
    targets = SF_AT_U8(targets, row0 * L, targets_u8);
    if (pos_off)
        pos_off = pos64 ? (global const int *)((global const long *)pos_off + pos_off_off + row0)
                        : pos_off + pos_off_off + row0;
    if (pos_lab)
        pos_lab = pos64 ? (global const int *)((global const long *)pos_lab + pos_lab_off) : pos_lab + pos_lab_off;
    sf_acc acc = sf_acc_zero();
    /* Each remainder from its quotient: a pair of / and % lets LLVM's div-rem pass insert
     * `freeze`, which oclgrind cannot run. */
    ulong row = get_global_id(0) / L, col = get_global_id(0) - row * L;
    const ulong row_step = get_global_size(0) / L, step = get_global_size(0) - row_step * L;
    SF_FOR_EACH(i, n) {
        const float v = sf_round_storage(z[i]) + (bias ? sf_ld(bias, col) : 0.0f);
        float y;
        if (pos_off)
            y = pos_lab && sf_csr_has(pos_lab, pos64, sf_csr_at(pos_off, pos64, row), sf_csr_at(pos_off, pos64, row + 1),
                                      label_offset + col)
                    ? 1.0f
                    : 0.0f;
        else
            y = sf_ld_target(targets, targets_u8, i);
        const float p = pw ? sf_ld(pw, col) : 1.0f;
        float g, sig;   /* sig: not an output of the train step */
        if (part) {
            float le;
            sf_bce_loss_grad(v, y, 1.0f, p, &le, &g, &sig);
            acc = sf_acc_add(acc, le);
        } else {
            g = sf_bce_grad(v, y, 1.0f, p, &sig);
        }
        z[i] = g * scale;
        col += step;
        row += row_step;
        if (col >= L) {
            col -= L;
            row++;
        }
    }
    sf_put_partial(acc, part, tmp);
}

/* One work-group: acc = (first ? 0 : acc) + the fixed-order sum of count partials; on the
 * last chunk also out = acc / denom (denom 1 for SUM, N L for MEAN: 0 / 0 = NaN when
 * N L = 0). The accumulator is one sf_acc at float offset acc_off of the workspace ws; ws
 * may be absent when first and last are both set (no chunk at all). */
kernel void head_train_step_loss(global const sf_acc *part, uint count, global float *ws, ulong acc_off, int first,
                                 int last, ulong denom, global float *out, ulong out_off, local sf_acc *tmp)
{
    const sf_acc s = sf_sum_partials(part, count, tmp);
    if (get_local_id(0) == 0) {
        global sf_acc *acc = ws ? (global sf_acc *)(ws + acc_off) : 0;
        const sf_acc total = (first || !acc) ? s : sf_acc_merge(acc[0], s);
        if (acc)
            acc[0] = total;
        if (last)
            out[out_off] = sf_acc_div(total, denom);
    }
}

/* The bias gradient, one chunk at a time: acc[j] = (first ? 0 : acc[j]) + the sum over
 * the chunk's rows, in order, of g[i * L + j], in L sf_acc at float offset acc_off of the
 * workspace ws; on the last chunk the total goes to dbias (in the dtype) instead. */
kernel void head_train_step_dbias(global const float *g, ulong g_off, ulong rows, ulong L, global float *ws,
                                  ulong acc_off, int first, int last, SF_OUT(dbias))
{
    g += g_off;
    SF_OPEN(dbias)
    global sf_acc *acc = (global sf_acc *)(ws + acc_off);
    SF_FOR_EACH(j, L) {
        sf_acc s = first ? sf_acc_zero() : acc[j];
        for (ulong i = 0; i < rows; i++)
            s = sf_acc_add(s, g[i * L + j]);
        if (last)
            sf_st(dbias, j, sf_acc_float(s));
        else
            acc[j] = s;
    }
}
