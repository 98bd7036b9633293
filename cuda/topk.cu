/* SPDX-License-Identifier: MIT */
/*
 * head_topk and topk_merge on CUDA. head_topk: each row chunk's products X W^T by cuBLAS
 * into the workspace (head.cu's chunks, as head_predict), then a block a row selects the
 * row's k best of its L logits z = round(Z + b). topk_merge: a block a row selects the k
 * best of the shards * k candidates. Selection is a radix select on a key that orders as
 * sf_topk_before (host/labels.c) does, then a bitonic sort of the k chosen; every key is
 * distinct, so the k chosen and their order are the same on every run, whatever order
 * the threads run in. Bytes: a row's L logits are read once a radix pass (2 passes of
 * 8 bits decide a 16-bit logit, 4 an f32 one; ties at the k-th add passes over the ids)
 * plus once to collect: bound by those reads and by the products, not by instructions
 * (no budget row: sass.py reports it as aux).
 */
#include <math.h>

#include "sf_math.h"

#include "dtype.cuh"
#include "sf_cuda.h"

namespace {

/* The most k a row may ask for: the k chosen sit in shared memory as 16-byte entries,
 * padded to a power of 2 for the sort: 4096 of them are 64 KiB of the 227 KiB an sm_90
 * block may opt in to (sm_80 and later offer at least 99 KiB). */
#define SF_TOPK_MAX_K 4096
#define SF_TOPK_DEFAULT_SHARED (48 * 1024)   /* what a block gets without opting in */

/* ---- The key: smaller is better --------------------------------------------------------- */

/* A logit's rank as an unsigned number of the dtype's width, smaller for larger logits:
 * the IEEE order of the value made monotonic (sign-magnitude to offset binary), then
 * inverted; -0 ranks as +0 (they compare equal, so the id decides), and every NaN ranks
 * after every number (all ones) with one key, so that NaNs too go by id. */
template <typename T> __device__ __forceinline__ uint32_t raw_bits(T v);
template <> __device__ __forceinline__ uint32_t raw_bits<float>(float v) { return __float_as_uint(v); }
template <> __device__ __forceinline__ uint32_t raw_bits<__half>(__half v) { return __half_as_ushort(v); }
template <> __device__ __forceinline__ uint32_t raw_bits<__nv_bfloat16>(__nv_bfloat16 v)
{
    return __bfloat16_as_ushort(v);
}

template <typename T> __host__ __device__ constexpr int value_bits() { return 8 * (int)sizeof(T); }

template <typename T> __device__ __forceinline__ uint32_t value_key(T v)
{
    constexpr int vb = value_bits<T>();
    constexpr uint32_t all = vb == 32 ? 0xffffffffu : (1u << vb) - 1u, sign = 1u << (vb - 1);
    const float f = sf_to_float(v);
    if (f != f)
        return all;
    const uint32_t u = f == 0.0f ? 0u : raw_bits(v);
    const uint32_t up = (u & sign) ? (~u & all) : (u | sign);   /* larger values, larger keys */
    return ~up & all;
}

/* A candidate's key is (value key, id, c) compared in that order: c, the candidate's
 * place in the merge's input, tells exact duplicates apart (the reference keeps the first
 * of equal entries); head_topk's ids are already distinct (c unused). */
struct key3 {
    uint64_t f[3];
};

/* Widths in bits of the three fields, and the radix passes over them: 8 bits a pass, from
 * the top of field 0 down. */
struct key_shape {
    int width[3];
};

__device__ __forceinline__ uint64_t shr(uint64_t x, int s) { return s >= 64 ? 0 : x >> s; }

/* -1, 0, 1: the key's bits from field 0 down to bit `sh` of field `fd` against the
 * prefix's. */
__device__ __forceinline__ int cmp_top(const key3 &k, const uint64_t (&pre)[3], int fd, int sh)
{
    for (int g = 0; g < fd; g++)
        if (k.f[g] != pre[g])
            return k.f[g] < pre[g] ? -1 : 1;
    const uint64_t a = shr(k.f[fd], sh), b = shr(pre[fd], sh);
    return a < b ? -1 : (a > b ? 1 : 0);
}

/* ---- Candidates ------------------------------------------------------------------------------- */

/* head_topk: row i's L logits z_j = round(Z[i, j] + b[j]) (in T, as head_predict stores
 * them), id j (made global on output). */
template <typename T> struct head_source {
    const T *z;      /* [rows, L] chunk */
    const T *bias;   /* [L] or NULL */
    int64_t l;
    __device__ __forceinline__ int64_t count() const { return l; }
    __device__ __forceinline__ bool get(int64_t row, int64_t c, T *v, uint64_t *id) const
    {
        const float b = bias ? sf_to_float(bias[c]) : 0.0f;
        *v = sf_from_float<T>(sf_to_float(z[row * l + c]) + b);
        *id = (uint64_t)c;
        return true;
    }
    static constexpr bool all_valid = true;
    /* The candidate of a chosen entry: its id (c, 32 bits, would not hold every L). */
    __device__ __forceinline__ int64_t index_of(uint64_t id, uint32_t c) const { return (int64_t)id; }
};

/* topk_merge: row i's candidates c = s k + t are entry t of row i in shard s's block;
 * pads (id < 0) are no candidates. */
template <typename T, typename TI> struct merge_source {
    const TI *labels;
    const T *logits;
    int64_t k, shards, block;   /* block: N k, one shard's lists */
    __device__ __forceinline__ int64_t count() const { return shards * k; }
    __device__ __forceinline__ bool get(int64_t row, int64_t c, T *v, uint64_t *id) const
    {
        const int64_t s = c / k, e = s * block + row * k + (c - s * k);
        const int64_t label = (int64_t)labels[e];
        if (label < 0)
            return false;
        *v = logits[e];
        *id = (uint64_t)label;
        return true;
    }
    static constexpr bool all_valid = false;
    __device__ __forceinline__ int64_t index_of(uint64_t id, uint32_t c) const { return (int64_t)c; }
};

template <typename TI> struct topk_out {
    TI *labels;
    void *logits, *probs;   /* T, or NULL */
    int64_t k;
    int64_t id_offset;      /* added to the ids (head_topk's label_offset; 0 for the merge) */
    int64_t row_base;       /* the output row of the launch's row 0 (head_topk's chunk) */
};

/* Sum over the block of 256 of one count a thread, and its exclusive prefix: warp scans,
 * then a scan of the 8 warps' totals. Every thread must call it. */
__device__ __forceinline__ unsigned long long block_scan(unsigned long long x, unsigned long long *excl,
                                                         unsigned long long *warp_tot)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned long long inc = x;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const unsigned long long y = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o)
            inc += y;
    }
    if (lane == 31)
        warp_tot[warp] = inc;
    __syncthreads();
    unsigned long long before = 0, total = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
        if (w < warp)
            before += warp_tot[w];
        total += warp_tot[w];
    }
    __syncthreads();   /* warp_tot may be reused right after */
    *excl = before + inc - x;
    return total;
}

/* One row a block (SF_BLOCK threads), `pow2` entries of dynamic shared memory (at least
 * min(k, candidates), a power of 2). */
template <typename T, typename TI, typename Src>
__global__ void __launch_bounds__(SF_BLOCK) topk_select_kernel(Src src, int64_t rows, key_shape shape, int pow2,
                                                               topk_out<TI> out)
{
    extern __shared__ uint64_t topk_shared[];
    uint64_t *ent_id = topk_shared;                       /* [pow2] */
    uint32_t *ent_v = (uint32_t *)(ent_id + pow2);        /* [pow2] */
    uint32_t *ent_c = ent_v + pow2;                       /* [pow2] */
    __shared__ unsigned long long hist[256];
    __shared__ unsigned long long warp_tot[32];
    __shared__ uint64_t pre[3];
    __shared__ long long need;      /* how many of the keys matching the prefix are still to choose */
    __shared__ int done, fd_s, sh_s;
    __shared__ unsigned int taken;

    const int tid = threadIdx.x;
    const int64_t m = src.count();
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        /* How many candidates the row has: all of head_topk's; the merge's real ids. */
        unsigned long long valid = (unsigned long long)m;
        if constexpr (!Src::all_valid) {
            unsigned long long mine = 0, ex;
            for (int64_t c = tid; c < m; c += blockDim.x) {
                T v;
                uint64_t id;
                mine += src.get(row, c, &v, &id);
            }
            valid = block_scan(mine, &ex, warp_tot);
        }
        const int64_t kk = (int64_t)valid < out.k ? (int64_t)valid : out.k;   /* the k chosen */
        if (tid == 0) {
            pre[0] = pre[1] = pre[2] = 0;
            need = kk;
            done = (int64_t)valid <= out.k;   /* every candidate is chosen */
            fd_s = 0;
            sh_s = 0;
            taken = 0;
        }
        __syncthreads();

        /* Radix passes from the top: the bin of the next 8 bits where the k-th smallest key
         * falls joins the prefix, until the keys matching the prefix are exactly the ones
         * still to choose (at the latest when every bit is fixed: the keys are distinct). */
        for (int fd = 0; fd < 3 && !done; fd++) {
            for (int sh = (shape.width[fd] + 7) / 8 * 8 - 8; sh >= 0 && !done; sh -= 8) {
                hist[tid] = 0;
                __syncthreads();
                for (int64_t c = tid; c < m; c += blockDim.x) {
                    T v;
                    key3 key;
                    if (!src.get(row, c, &v, &key.f[1]))
                        continue;
                    key.f[0] = value_key(v);
                    key.f[2] = (uint64_t)c;
                    if (cmp_top(key, pre, fd, sh + 8) == 0)
                        atomicAdd(&hist[(key.f[fd] >> sh) & 255u], 1ull);
                }
                __syncthreads();
                const unsigned long long h = hist[tid];
                const long long still = need;   /* read by all before the barriers of the scan */
                unsigned long long below;
                block_scan(h, &below, warp_tot);
                if ((long long)below < still && still <= (long long)(below + h)) {   /* one thread */
                    pre[fd] |= (uint64_t)tid << sh;
                    need = still - (long long)below;
                    fd_s = fd;
                    sh_s = sh;
                    if ((long long)h == need)
                        done = 1;
                }
                __syncthreads();
            }
        }

        /* Collect the chosen (in any order: the sort puts them in the one order), then pad
         * the sort to pow2 with keys past every real one. */
        const int fdc = fd_s, shc = sh_s;
        const bool all = (int64_t)valid <= out.k;
        for (int64_t c = tid; c < m; c += blockDim.x) {
            T v;
            key3 key;
            if (!src.get(row, c, &v, &key.f[1]))
                continue;
            key.f[0] = value_key(v);
            key.f[2] = (uint64_t)c;
            if (all || cmp_top(key, pre, fdc, shc) <= 0) {
                const unsigned at = atomicAdd(&taken, 1u);
                if (at < (unsigned)pow2) {
                    ent_id[at] = key.f[1];
                    ent_v[at] = (uint32_t)key.f[0];
                    ent_c[at] = (uint32_t)c;
                }
            }
        }
        __syncthreads();
        for (int e = (int)kk + tid; e < pow2; e += blockDim.x) {
            ent_id[e] = ~0ull;
            ent_v[e] = 0xffffffffu;
            ent_c[e] = 0xffffffffu;
        }
        __syncthreads();

        /* Bitonic sort, ascending by (value key, id, c). */
        for (int size = 2; size <= pow2; size <<= 1)
            for (int stride = size >> 1; stride > 0; stride >>= 1) {
                for (int i = tid; i < pow2 / 2; i += blockDim.x) {
                    const int lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
                    const bool ascending = (lo & size) == 0;
                    const bool hi_first = ent_v[hi] != ent_v[lo]   ? ent_v[hi] < ent_v[lo]
                                          : ent_id[hi] != ent_id[lo] ? ent_id[hi] < ent_id[lo]
                                                                     : ent_c[hi] < ent_c[lo];
                    if (hi_first == ascending) {
                        const uint64_t ti = ent_id[lo];
                        ent_id[lo] = ent_id[hi];
                        ent_id[hi] = ti;
                        const uint32_t tv = ent_v[lo];
                        ent_v[lo] = ent_v[hi];
                        ent_v[hi] = tv;
                        const uint32_t tc = ent_c[lo];
                        ent_c[lo] = ent_c[hi];
                        ent_c[hi] = tc;
                    }
                }
                __syncthreads();
            }

        /* The k outputs: the chosen best first, then pads (id -1, logit -inf, prob 0). The
         * value is the candidate's own (its sign of zero, its NaN), read again. */
        for (int64_t t = tid; t < out.k; t += blockDim.x) {
            const int64_t e = (out.row_base + row) * out.k + t;
            T v = sf_from_float<T>(-INFINITY);
            float pr = 0.0f;
            TI id = (TI)-1;
            if (t < kk) {
                uint64_t unused;
                src.get(row, src.index_of(ent_id[t], ent_c[t]), &v, &unused);
                pr = sf_sigmoid(sf_to_float(v));
                id = (TI)((int64_t)ent_id[t] + out.id_offset);
            }
            out.labels[e] = id;
            if (out.logits)
                ((T *)out.logits)[e] = v;
            if (out.probs)
                ((T *)out.probs)[e] = sf_from_float<T>(pr);
        }
        __syncthreads();   /* the shared state is reset for the next row */
    }
}

} // namespace

namespace {

/* Entries of the sort for k chosen: the power of 2 at or above k (1 for none). */
static int sort_entries(int64_t k)
{
    int p = 1;
    while (p < k)
        p <<= 1;
    return p;
}

static size_t shared_bytes(int pow2) { return (size_t)pow2 * (sizeof(uint64_t) + 2 * sizeof(uint32_t)); }

template <typename T, typename TI, typename Src>
sigfuse_status select_launch(sigfuse_ctx *ctx, const char *op, const Src &src, int64_t rows, key_shape shape,
                             int64_t kk, const topk_out<TI> &out)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const int pow2 = sort_entries(kk);
    const size_t smem = shared_bytes(pow2);
    auto kernel = topk_select_kernel<T, TI, Src>;
    if (smem > SF_TOPK_DEFAULT_SHARED)
        SF_CUDA_TRY(ctx, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    const unsigned grid = rows < 0x7fffffff ? (unsigned)rows : 0x7fffffffu;   /* a block a row */
    kernel<<<grid, SF_BLOCK, smem, s->stream>>>(src, rows, shape, pow2, out);
    SF_LAUNCH_CHECK(ctx, op);
    return SIGFUSE_SUCCESS;
}

/* k places a row, `chosen` of them real labels (the rest pads): the sort holds the chosen. */
static sigfuse_status check_k(sigfuse_ctx *ctx, const char *op, int64_t k, int64_t chosen)
{
    if (chosen > SF_TOPK_MAX_K)
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "%s: k = %lld; the cuda backend selects at most %d a row", op,
                       (long long)k, SF_TOPK_MAX_K);
    return SIGFUSE_SUCCESS;
}

template <typename T, typename TI> sigfuse_status head_topk(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a)
{
    const int64_t n = a->n, d = a->d, l = a->l, k = a->k;
    if (n == 0 || k == 0)
        return SIGFUSE_SUCCESS;
    const int64_t kk = k < l ? k : l;   /* chosen a row: the rest of the k places are pads */
    SF_TRY(check_k(ctx, "head_topk", k, kk));
    topk_out<TI> out;
    out.labels = (TI *)sf_dptr(a->top_labels);
    out.logits = sf_dptr(a->top_logits);
    out.probs = sf_dptr(a->top_probs);
    out.k = k;
    out.id_offset = a->label_offset;
    out.row_base = 0;
    key_shape shape = {{value_bits<T>(), (int)sf_bit_length(l > 0 ? (uint64_t)(l - 1) : 0), 0}};
    head_source<T> src = {nullptr, (const T *)sf_dptr(a->bias), l};
    if (l == 0)   /* no labels: every row is pads */
        return select_launch<T, TI>(ctx, "head_topk select kernel launch", src, n, shape, kk, out);

    const size_t have = a->workspace ? a->workspace_bytes : 0;
    const int64_t chunk = sf_cuda_head_logits_chunk(n, l, sizeof(T), have);
    if (chunk < 1)
        return sf_fail(ctx, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE,
                       "head_topk: workspace of %zu bytes, the cuda backend needs at least %zu", have,
                       sf_cuda_head_logits_bytes(sizeof(T), l, 1));
    SF_TRY(sf_cuda_cublas_bind(ctx));
    T *z = (T *)sf_cuda_workspace_base(a->workspace);
    const T *x = (const T *)sf_dptr(a->x);
    src.z = z;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        const int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        SF_TRY(sf_cuda_head_logits(ctx, a->x->dtype, x + r0 * d, sf_dptr(a->w), rows, d, l, z));
        out.row_base = r0;
        SF_TRY((select_launch<T, TI>(ctx, "head_topk select kernel launch", src, rows, shape, kk, out)));
    }
    return SIGFUSE_SUCCESS;
}

template <typename T, typename TI> sigfuse_status topk_merge(sigfuse_ctx *ctx, const sigfuse_topk_merge_args *a)
{
    const int64_t n = a->n, k = a->k, shards = a->shards;
    if (n == 0 || k == 0)
        return SIGFUSE_SUCCESS;
    if (shards > (int64_t)0xffffffff / k)   /* a candidate's place is kept in 32 bits */
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "topk_merge: shards * k = %lld * %lld candidates a row; the cuda backend takes at most %lld",
                       (long long)shards, (long long)k, (long long)0xffffffff);
    const int64_t m = shards * k;
    const int64_t kk = k < m ? k : m;   /* chosen a row at most (no shards: every place a pad), as on OpenCL */
    SF_TRY(check_k(ctx, "topk_merge", k, kk));
    topk_out<TI> out;
    out.labels = (TI *)sf_dptr(a->top_labels);
    out.logits = sf_dptr(a->top_logits);
    out.probs = sf_dptr(a->top_probs);
    out.k = k;
    out.id_offset = 0;
    out.row_base = 0;
    merge_source<T, TI> src = {(const TI *)sf_dptr(a->in_labels), (const T *)sf_dptr(a->in_logits), k, shards, n * k};
    key_shape shape = {{value_bits<T>(), 8 * (int)sizeof(TI) - 1, (int)sf_bit_length(m > 0 ? (uint64_t)(m - 1) : 0)}};
    return select_launch<T, TI>(ctx, "topk_merge select kernel launch", src, n, shape, kk, out);
}

/* Call f(T{}, TI{}): T the float dtype's storage, TI the ids'. */
template <typename F>
sigfuse_status dispatch_ids(sigfuse_ctx *ctx, const char *op, sigfuse_dtype dtype, sigfuse_dtype ids, F &&f)
{
    return sf_cuda_dispatch(ctx, op, dtype, [&](auto tag) {
        if (ids == SIGFUSE_I32)
            return f(tag, int32_t());
        return f(tag, int64_t());
    });
}

} // namespace

size_t sf_cuda_head_topk_workspace(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows)
{
    (void)ctx;
    if (a->n == 0 || a->l == 0 || a->k == 0 || chunk_rows <= 0)
        return 0;
    return sf_cuda_head_logits_bytes(sigfuse_dtype_size(a->x->dtype), a->l, chunk_rows);
}

sigfuse_status sf_cuda_head_topk(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a)
{
    return dispatch_ids(ctx, "head_topk", a->x->dtype, a->top_labels->dtype, [&](auto tag, auto itag) {
        return head_topk<decltype(tag), decltype(itag)>(ctx, a);
    });
}

sigfuse_status sf_cuda_topk_merge(sigfuse_ctx *ctx, const sigfuse_topk_merge_args *a)
{
    return dispatch_ids(ctx, "topk_merge", a->in_logits->dtype, a->in_labels->dtype, [&](auto tag, auto itag) {
        return topk_merge<decltype(tag), decltype(itag)>(ctx, a);
    });
}
