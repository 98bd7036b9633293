/* SPDX-License-Identifier: MIT */
/*
 * head_topk and topk_merge (topk.c): a work-group a row selects the row's k best
 * candidates by a radix select of the k-th key, then sorts the chosen in local memory
 * (bitonic). The key orders as sf_topk_before (host/labels.c) does and is distinct for
 * every candidate, so the k chosen and their order are the same on every run, whatever
 * order the work-items run in (the histograms' integer atomics only count).
 * Bytes: a row's logits are read once a radix pass (a value pass per 8 bits of the
 * dtype's key: 4 for f32, 3 for f16, 2 for bf16; ties at the k-th add passes over the
 * ids) plus once to collect, and k x (id + logit + prob) are written: bound by those
 * reads and, for head_topk, by the products; no instruction budget.
 */

/* A value's key drops the low bits that every value of the storage dtype, as an f32,
 * has zero (they follow from the sign): bf16 is the top half of an f32, and f16's 11
 * significant bits leave the low 13 of its f32 zero. */
#if SF_DTYPE == 1
#define TOPK_VALUE_SHIFT 0
#elif SF_DTYPE == 2
#define TOPK_VALUE_SHIFT 13
#else
#define TOPK_VALUE_SHIFT 16
#endif
#define TOPK_VALUE_BITS (32 - TOPK_VALUE_SHIFT)

/* A sort entry past every real one: reals hold a candidate index below 2^32 - 1. */
#define TOPK_PAD 0xffffffffffffffffUL

/* A value's rank, smaller for larger values: the IEEE order made monotonic
 * (sign-magnitude to offset binary), then inverted. -0 ranks as +0 (they compare equal,
 * so the id decides) and every NaN after every number with one key (NaNs go by id). */
SF_FN uint topk_value_key(float v)
{
    if (isnan(v))
        return 0xffffffffu >> TOPK_VALUE_SHIFT;
    const uint u = v == 0.0f ? 0u : as_uint(v);
    const uint up = (u & 0x80000000u) ? ~u : (u | 0x80000000u);   /* larger values, larger up */
    return ~up >> TOPK_VALUE_SHIFT;
}

/* The row's state in local memory, written by work-item 0 between barriers. */
typedef struct topk_state {
    ulong pre[3];   /* the k-th key's prefix, field by field (value key, id, place) */
    ulong need;     /* how many of the keys matching the prefix are still to choose */
    uint valid;     /* the row's candidates: every label of head_topk, the merge's real ids */
    uint taken;     /* chosen entries collected */
    uint fd, sh;    /* the prefix ends at bit sh of field fd */
    int done;       /* the keys at or below the prefix are exactly the k chosen */
} topk_state;

/* Where a row's candidates come from. head_topk (merge = 0): candidate c is label c of
 * the row's logits zr (Z without bias, f32), its value round(round(z) + b) as
 * head_predict stores it, its id c. topk_merge: candidate c = s k + t is entry t of the
 * row (at row_k = row x k) in shard s's block of n x k; a pad (id < 0) is none. */
typedef struct topk_src {
    int merge;
    global const float *zr;
    global const SF_T *bias;
    global const int *labels;   /* i32, or i64 where ids64 */
    global const SF_T *logits;
    int ids64;
    uint k;                     /* the merge's k (shards x k < 2^32) */
    ulong block, row_k;
} topk_src;

SF_FN ulong topk_ld_id(global const int *p, int ids64, ulong e)
{
    return ids64 ? (ulong)((global const long *)p)[e] : (ulong)(long)p[e];
}

/* Candidate c's value and id; 0 for a merge's pad. */
SF_FN int topk_get(const topk_src *src, uint c, float *v, ulong *id)
{
    if (!src->merge) {
        const float b = src->bias ? sf_ld(src->bias, c) : 0.0f;
        *v = sf_round_storage(sf_round_storage(src->zr[c]) + b);
        *id = c;
        return 1;
    }
    /* The remainder from the quotient: a pair of / and % lets LLVM's div-rem pass insert
     * `freeze`, which oclgrind cannot run. */
    const uint s = c / src->k;
    const ulong e = s * src->block + src->row_k + (c - s * src->k);
    const long label = (long)topk_ld_id(src->labels, src->ids64, e);
    if (label < 0)
        return 0;
    *v = sf_ld(src->logits, e);
    *id = (ulong)label;
    return 1;
}

/* Candidate c's key: its value's order key, its id, its place; 0 for a merge's pad. */
SF_FN int topk_key(const topk_src *src, uint c, ulong *key)
{
    float v;
    if (!topk_get(src, c, &v, &key[1]))
        return 0;
    key[0] = topk_value_key(v);
    key[2] = c;
    return 1;
}

SF_FN ulong topk_shr(ulong x, uint s) { return s >= 64 ? 0 : x >> s; }

/* -1, 0, 1: the key's fields before fd, then field fd from bit sh up, against the
 * prefix's. */
SF_FN int topk_cmp_top(const ulong *key, local const ulong *pre, uint fd, uint sh)
{
    for (uint g = 0; g < fd; g++)
        if (key[g] != pre[g])
            return key[g] < pre[g] ? -1 : 1;
    const ulong a = topk_shr(key[fd], sh), b = topk_shr(pre[fd], sh);
    return a < b ? -1 : (a > b ? 1 : 0);
}

/* Whether sort entry a (value key << 32 | candidate) comes before b. head_topk's ids are
 * its candidates, so the entry orders by itself; the merge breaks a tie of values by the
 * ids, then by the place (the reference keeps the first of equal entries). */
SF_FN int topk_before(const topk_src *src, ulong a, ulong b)
{
    if (!src->merge || (a >> 32) != (b >> 32) || a == TOPK_PAD || b == TOPK_PAD)
        return a < b;
    float v;
    ulong ia = 0, ib = 0;
    topk_get(src, (uint)a, &v, &ia);
    topk_get(src, (uint)b, &v, &ib);
    return ia != ib ? ia < ib : a < b;
}

/* Row `row` of the launch: its k best of m candidates into the outputs' row out_row
 * (ids + id_offset), best first, then pads (id -1, logit -inf, probability 0). widths:
 * the key fields' bits (value key, id, place); ent: pow2 sort entries, at least
 * min(k, m). Every work-item must call it. */
SF_FN void topk_row(const topk_src *src, ulong m, ulong k, const uint *widths, global int *out_labels,
                    global SF_T *out_logits, global SF_T *out_probs, ulong out_row, ulong id_offset,
                    local topk_state *st, local uint *hist, local ulong *ent, uint pow2)
{
    const uint lid = get_local_id(0), lsz = get_local_size(0);
    if (lid == 0) {
        st->pre[0] = st->pre[1] = st->pre[2] = 0;
        st->valid = src->merge ? 0u : (uint)m;
        st->taken = 0;
        st->fd = st->sh = 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (src->merge) {   /* the merge's real candidates: an exact count */
        uint mine = 0;
        for (ulong c = lid; c < m; c += lsz) {
            float v;
            ulong id;
            mine += (uint)topk_get(src, (uint)c, &v, &id);
        }
        atomic_add(&st->valid, mine);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const ulong valid = st->valid, kk = valid < k ? valid : k;   /* kk: the chosen */
    if (lid == 0) {
        st->need = kk;
        st->done = valid <= k;   /* every candidate is chosen */
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    /* Radix passes from the top, 8 bits at a time: the bin where the k-th smallest key
     * falls joins the prefix, until the keys matching it are exactly those still to
     * choose (at the latest when every bit is fixed: the keys are distinct). */
    for (uint fd = 0; fd < 3 && !st->done; fd++) {
        for (int sh = (int)((widths[fd] + 7) / 8 * 8) - 8; sh >= 0 && !st->done; sh -= 8) {
            for (uint b = lid; b < 256; b += lsz)
                hist[b] = 0;
            barrier(CLK_LOCAL_MEM_FENCE);
            for (ulong c = lid; c < m; c += lsz) {
                ulong key[3];
                if (!topk_key(src, (uint)c, key))
                    continue;
                if (topk_cmp_top(key, st->pre, fd, (uint)sh + 8) == 0)
                    atomic_inc(&hist[(key[fd] >> sh) & 255u]);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid == 0) {
                ulong below = 0;
                for (uint b = 0; b < 256; b++) {
                    const ulong h = hist[b];
                    if (below + h >= st->need) {
                        st->pre[fd] |= (ulong)b << sh;
                        st->need -= below;
                        st->fd = fd;
                        st->sh = (uint)sh;
                        st->done = h == st->need;
                        break;
                    }
                    below += h;
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }

    /* Collect the chosen in any order (the sort puts them in the one order), then pad the
     * sort to pow2 with entries past every real one. */
    const uint fdc = st->fd, shc = st->sh;
    for (ulong c = lid; c < m; c += lsz) {
        ulong key[3];
        if (!topk_key(src, (uint)c, key))
            continue;
        if (valid <= k || topk_cmp_top(key, st->pre, fdc, shc) <= 0) {
            const uint at = atomic_inc(&st->taken);
            if (at < pow2)
                ent[at] = key[0] << 32 | c;
        }
    }
    for (ulong e = kk + lid; e < pow2; e += lsz)
        ent[e] = TOPK_PAD;
    barrier(CLK_LOCAL_MEM_FENCE);

    /* Bitonic sort, ascending by topk_before. */
    for (uint size = 2; size <= pow2; size <<= 1)
        for (uint stride = size >> 1; stride > 0; stride >>= 1) {
            for (uint i = lid; i < pow2 / 2; i += lsz) {
                const uint lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
                const ulong a = ent[lo], b = ent[hi];
                const int up = (lo & size) == 0;
                if (up ? topk_before(src, b, a) : topk_before(src, a, b)) {
                    ent[lo] = b;
                    ent[hi] = a;
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }

    /* The outputs, each value the candidate's own, read again. */
    for (ulong t = lid; t < k; t += lsz) {
        const ulong e = out_row * k + t;
        float v = -INFINITY, p = 0.0f;
        long id = -1;
        if (t < kk) {
            ulong cid;
            topk_get(src, (uint)ent[t], &v, &cid);
            id = (long)(cid + id_offset);
            p = sf_sigmoid(v);
        }
        if (src->ids64)
            ((global long *)out_labels)[e] = id;
        else
            out_labels[e] = (int)id;
        if (out_logits)
            sf_st(out_logits, e, v);
        if (out_probs)
            sf_st(out_probs, e, p);
    }
    barrier(CLK_LOCAL_MEM_FENCE);   /* the row's state is reset for the next row */
}


/* head_topk on rows row0 .. row0 + rows - 1 of the head: the chunk's Z = X W^T (no
 * bias) at z + z_off, [rows, L] (absent when L = 0: every place a pad); ids out as
 * label_offset + j. id_bits: the bits of L - 1. */
kernel void head_topk(global const float *z, ulong z_off, ulong rows, ulong L, SF_IN(bias), global int *labels,
                      ulong labels_off, int ids64, SF_OUT(top_logits), SF_OUT(top_probs), ulong k,
                      ulong label_offset, ulong row0, uint id_bits, local ulong *ent, uint pow2)
{
    local topk_state st;
    local uint hist[256];
    SF_OPEN(bias, top_logits, top_probs)
    labels = ids64 ? (global int *)((global long *)labels + labels_off) : labels + labels_off;
    const uint widths[3] = {TOPK_VALUE_BITS, id_bits, 0};
    topk_src src = {0, 0, bias, 0, 0, ids64, 0, 0, 0};
    for (ulong row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        src.zr = z ? z + z_off + row * L : 0;
        topk_row(&src, L, k, widths, labels, top_logits, top_probs, row0 + row, label_offset, &st, hist, ent, pow2);
    }
}

/* topk_merge: the k best of each row's shards x k candidates (in_labels, in_logits:
 * shards blocks of [n, k]). id_bits: 63 for i64 ids, 31 for i32 (ids are not negative);
 * place_bits: the bits of shards x k - 1. */
kernel void topk_merge(global const int *in_labels, ulong in_labels_off, SF_IN(in_logits), ulong n, ulong k,
                       ulong shards, int ids64, global int *labels, ulong labels_off, SF_OUT(top_logits),
                       SF_OUT(top_probs), uint id_bits, uint place_bits, local ulong *ent, uint pow2)
{
    local topk_state st;
    local uint hist[256];
    SF_OPEN(in_logits, top_logits, top_probs)
    in_labels = ids64 ? (global const int *)((global const long *)in_labels + in_labels_off)
                      : in_labels + in_labels_off;
    labels = ids64 ? (global int *)((global long *)labels + labels_off) : labels + labels_off;
    const uint widths[3] = {TOPK_VALUE_BITS, id_bits, place_bits};
    topk_src src = {1, 0, 0, in_labels, in_logits, ids64, (uint)k, n * k, 0};
    for (ulong row = get_group_id(0); row < n; row += get_num_groups(0)) {
        src.row_k = row * k;
        topk_row(&src, shards * k, k, widths, labels, top_logits, top_probs, row, 0, &st, hist, ent, pow2);
    }
}
