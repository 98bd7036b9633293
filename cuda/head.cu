/* SPDX-License-Identifier: MIT */
/*
 * Multi-label head Z = X W^T + b (X [N, D], W [L, D]): predict (logits, sigmoid, labels)
 * and the fused BCE train step (loss, dX = G W, dW = G^T X, db), walking row chunks that
 * fit the caller's workspace, never all N x L logits. Bound by the GEMMs (2 N L D FLOPs
 * each for Z, dX, dW); the train epilogue moves z, y in and G out over z: 6 B a logit in
 * bf16 (5 with u8 targets, 12 in f32), at most 7.75 instructions a byte on its common path
 * (bench/sass.py). Target: the same cuBLAS products alone plus that epilogue.
 *
 * The products are cublasGemmEx with f32 accumulation (CUBLAS_COMPUTE_32F, default math
 * mode, so no TF32) and data types matching the storage dtype. They are deterministic for
 * a fixed configuration on one GPU (the context's fixed workspace, no split-K atomics)
 * unless CUBLAS_WORKSPACE_CONFIG or a per-stream workspace setup changes cuBLAS's choice
 * of algorithm.
 */
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "sf_math.h"

#include "dtype.cuh"
#include "launch.cuh"
#include "reduce.cuh"
#include "sf_cuda.h"
#include "tile.cuh"

namespace {

/* ---- Workspace layout ------------------------------------------------------------------ */

#define SF_WS_ALIGN ((size_t)256)

static size_t align_up(size_t v) { return (v + SF_WS_ALIGN - 1) / SF_WS_ALIGN * SF_WS_ALIGN; }

/* Saturating arithmetic: an impossible request never looks satisfiable. */
static size_t sat_mul(size_t a, size_t b) { return (a != 0 && b > SIZE_MAX / a) ? SIZE_MAX : a * b; }
static size_t sat_add(size_t a, size_t b) { return b > SIZE_MAX - a ? SIZE_MAX : a + b; }
static size_t sat_align(size_t v) { return v > SIZE_MAX - SF_WS_ALIGN ? SIZE_MAX : align_up(v); }

/* 32-bit words of a [rows, L] bit set (one bit an element, flat). */
static size_t bit_words(int64_t rows, int64_t l)
{
    const size_t bits = sat_mul((size_t)rows, (size_t)l);
    return bits / 32 + (bits % 32 != 0);
}

/* Byte offsets (from a 256-aligned base) of the train step's workspace regions. */
struct train_layout {
    size_t z;       /* T [chunk, L]: the logits' products X W^T, then the gradient G in place */
    size_t bits;    /* u32 [ceil(chunk L / 32)]: the chunk's sparse positives (CSR only) */
    size_t dw;      /* f32 [L, D]: dW accumulator (f16/bf16 with dw) */
    size_t db;      /* double [L]: dbias accumulator */
    size_t loss;    /* double [1]: loss accumulator */
    size_t total;   /* including the slack for aligning the caller's pointer */
};

static train_layout layout_train(const sigfuse_head_train_args *a, size_t elem, int64_t chunk)
{
    const bool narrow = elem != sizeof(float);
    train_layout t;
    size_t off = 0;
    t.z = off;
    off = sat_add(off, sat_align(sat_mul(sat_mul((size_t)chunk, (size_t)a->l), elem)));
    t.bits = off;
    if (a->pos_offsets)
        off = sat_add(off, sat_align(sat_mul(bit_words(chunk, a->l), sizeof(uint32_t))));
    t.dw = off;
    if (narrow && a->dw)
        off = sat_add(off, sat_align(sat_mul(sat_mul((size_t)a->l, (size_t)a->d), sizeof(float))));
    t.db = off;
    if (a->dbias)
        off = sat_add(off, sat_align(sat_mul((size_t)a->l, sizeof(double))));
    t.loss = off;
    if (a->loss)
        off = sat_add(off, SF_WS_ALIGN);
    t.total = sat_add(off, SF_WS_ALIGN);
    return t;
}

/* The chunk's products in the storage dtype. */
static size_t predict_bytes(const sigfuse_head_predict_args *a, size_t elem, int64_t chunk)
{
    return sat_add(sat_align(sat_mul(sat_mul((size_t)chunk, (size_t)a->l), elem)), SF_WS_ALIGN);
}

/* The largest chunk in [1, n] whose workspace fits in `bytes` (0 if not even one row). */
template <typename F> int64_t pick_chunk(int64_t n, size_t bytes, F &&bytes_for)
{
    if (bytes_for(n) <= bytes)
        return n;
    if (bytes_for(1) > bytes)
        return 0;
    int64_t lo = 1, hi = n;   /* bytes_for(lo) fits, bytes_for(hi) does not */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (bytes_for(mid) <= bytes)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static char *aligned_base(const sigfuse_buffer *ws)
{
    uintptr_t p = (uintptr_t)sf_dptr(ws);
    return (char *)((p + SF_WS_ALIGN - 1) / SF_WS_ALIGN * SF_WS_ALIGN);
}

/* ---- cuBLAS ------------------------------------------------------------------------------ */

template <typename T> constexpr cudaDataType_t cuda_type();
template <> constexpr cudaDataType_t cuda_type<float>() { return CUDA_R_32F; }
template <> constexpr cudaDataType_t cuda_type<__half>() { return CUDA_R_16F; }
template <> constexpr cudaDataType_t cuda_type<__nv_bfloat16>() { return CUDA_R_16BF; }

/* Column-major C[m, n] = alpha op(A) op(B) + beta C, f32 accumulation. */
static sigfuse_status gemm(sigfuse_ctx *ctx, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
                           int64_t k, float alpha, const void *A, cudaDataType_t at, int64_t lda, const void *B,
                           cudaDataType_t bt, int64_t ldb, float beta, void *C, cudaDataType_t ct, int64_t ldc)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    SF_CUBLAS_TRY(ctx, cublasGemmEx_64(s->cublas, ta, tb, m, n, k, &alpha, A, at, lda, B, bt, ldb, &beta, C, ct, ldc,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return SIGFUSE_SUCCESS;
}

/* The handle follows the context's stream; setting the stream resets cuBLAS to its own
 * workspace pool, so the context's workspace is handed back each time. */
static sigfuse_status cublas_bind(sigfuse_ctx *ctx)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    SF_CUBLAS_TRY(ctx, cublasSetStream(s->cublas, s->stream));
    SF_CUBLAS_TRY(ctx, cublasSetWorkspace(s->cublas, s->cublas_workspace, s->cublas_workspace_bytes));
    return SIGFUSE_SUCCESS;
}

/* Z[rows, L] (row-major, in T) = X[r0 : r0 + rows, :] W^T with f32 accumulation, rounded
 * once to T: a 16-bit head's logits are these 16-bit products (include/sigfuse.h). Row-major
 * Z is column-major Z^T [L, rows] = W (as col-major D x L, transposed) times X^T (col-major
 * D x rows). */
template <typename T>
sigfuse_status logits_chunk(sigfuse_ctx *ctx, const T *x, const T *w, int64_t rows, int64_t d, int64_t l, T *z)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (d == 0) {   /* an empty dot product: cuBLAS rejects lda = 0 */
        SF_CUDA_TRY(ctx, cudaMemsetAsync(z, 0, (size_t)rows * (size_t)l * sizeof(T), s->stream));
        return SIGFUSE_SUCCESS;
    }
    return gemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, l, rows, d, 1.0f, w, cuda_type<T>(), d, x, cuda_type<T>(), d, 0.0f, z,
                cuda_type<T>(), l);
}

/* ---- Tiling of the epilogues ([rows, L], threads along labels) ---------------------------- */

/* A thread of an epilogue owns V consecutive labels (one 16-byte vector of the chunk's
 * logits: V = 8 for f16 / bf16, 4 for f32) and walks rows. The vector kernels need L a
 * multiple of V (every row of the chunk then starts on a vector) and caller buffers on
 * vector boundaries; any other call takes the kernels of V = 1, one label a thread. */
template <typename T> constexpr int head_vec() { return sf_vec_width<T>(); }

struct head_geom {
    dim3 block, grid;
    bool col_partials;   /* grid.y > 1 and the column sums go through scratch partials */
};

/* Scratch use of the train epilogue: [grid.y][L] column partials, then [grid.y][grid.x]
 * loss partials. A pure function of (kernel, rows, L, V, device): deterministic sums. One
 * wave of the kernel's occupancy (blocks_per_sm), as sf_tile_for. */
static head_geom geom_for(const sf_cuda_state *s, int blocks_per_sm, int64_t rows, int64_t l, int v, bool sums)
{
    head_geom g;
    const int64_t units = l / v;   /* label vectors */
    const unsigned bx = sf_tile_block_x(units), by = SF_BLOCK / bx;
    int64_t gx = (units + bx - 1) / bx;
    const int64_t half = (int64_t)(s->scratch_doubles / 2);
    if (gx > half)
        gx = half;   /* the kernel loops over further label tiles */
    if (gx < 1)
        gx = 1;
    const unsigned gy = sf_tile_grid_rows(s, blocks_per_sm, rows, by, gx, sums ? l + gx : 0);
    g.block = dim3(bx, by, 1);
    g.grid = dim3((unsigned)gx, gy, 1);
    g.col_partials = sums && gy > 1;
    return g;
}

/* A thread's rows: first, first + step, ... below rows (step = the grid's rows), one after
 * another, a vector of V labels each: a row's loads are issued after the previous row's
 * store, which may alias them (G overwrites the logits in place), so one row is what a
 * thread has in flight. With one label a thread that was 6 to 8 bytes and the passes ran
 * at the latency of their rows (bench/NOTES.md, the head epilogues); a vector of 16 bytes of logits is 8 times that, above the bytes
 * Little's law asks for at the kernels' occupancy (bench/sass.py's bytes_in_flight_per_sm).
 * The walk steps pointers (two adds a row), not an index multiplied out per row. */
struct head_walk {
    int64_t first, count;   /* first row, rows of this thread */
};

__device__ __forceinline__ head_walk head_rows_of(int64_t rows)
{
    const int64_t step = (int64_t)gridDim.y * blockDim.y;
    head_walk w;
    w.first = (int64_t)blockIdx.y * blockDim.y + threadIdx.y;
    w.count = w.first < rows ? (rows - w.first + step - 1) / step : 0;
    return w;
}

/* V consecutive elements of T as loaded: whole 32-bit words where they fill them, so that
 * 16-bit pairs and u8 quads are read in place (bf16: a shift or a mask; u8: one test that
 * leaves the predicate t != 0), which conversions of single elements would first extract;
 * the elements themselves otherwise (V = 1). */
template <typename T, int V, bool Words = (V * sizeof(T)) % 4 == 0> struct head_raw {
    static constexpr int W = (int)(V * sizeof(T) / 4);
    sf_vec<uint32_t, W> w;
    __device__ __forceinline__ void load(const T *p) { w = *reinterpret_cast<const sf_vec<uint32_t, W> *>(p); }
    __device__ __forceinline__ float get(int k) const
    {
        if constexpr (sizeof(T) == 4) {
            return __uint_as_float(w.v[k]);
        } else if constexpr (sizeof(T) == 1) {
            return (w.v[k / 4] & (0xffu << (8 * (k % 4)))) != 0u ? 1.0f : 0.0f;
        } else {
            const uint32_t h = w.v[k / 2];
            if constexpr (std::is_same<T, __nv_bfloat16>::value)
                return __uint_as_float((k & 1) ? h & 0xffff0000u : h << 16);
            else
                return __half2float(__ushort_as_half((unsigned short)((k & 1) ? h >> 16 : h & 0xffffu)));
        }
    }
};

template <typename T, int V> struct head_raw<T, V, false> {
    sf_vec<T, V> e;
    __device__ __forceinline__ void load(const T *p) { e = *reinterpret_cast<const sf_vec<T, V> *>(p); }
    __device__ __forceinline__ float get(int k) const { return sf_to_float(e.v[k]); }
};

/* Sparse positives as the train epilogue reads them: a chunk's [rows, L] targets as one bit
 * an element (bit e of the flat index e = row * L + label, in 32-bit words), built from
 * the CSR by csr_bits_kernel. A thread's V labels start at a multiple of V (L too, in the
 * vector kernels), so they lie in one word: one 4-byte load gives a row's V targets, 1/8
 * of a byte a logit. sf_bit is the element type's tag; sf_bitptr stands where the dense
 * kernels hold a pointer to targets (the same + and += by element counts). */
struct sf_bit {
    uint32_t unused;
};
struct sf_bitptr {
    const uint32_t *words;
    int64_t e;
    __device__ __forceinline__ sf_bitptr operator+(int64_t d) const { return {words, e + d}; }
    __device__ __forceinline__ sf_bitptr &operator+=(int64_t d)
    {
        e += d;
        return *this;
    }
};

template <int V> struct head_raw<sf_bit, V, true> {
    uint32_t w;   /* the word, shifted so that bit k is label k of the vector */
    __device__ __forceinline__ void load(sf_bitptr p) { w = p.words[p.e >> 5] >> (unsigned)(p.e & 31); }
    __device__ __forceinline__ float get(int k) const { return (w >> k) & 1u ? 1.0f : 0.0f; }
};

/* How the train kernel holds its targets: a restricted pointer to dense ones, a bit cursor
 * to sparse ones. */
template <typename TY> struct head_targets {
    using ptr = const TY *__restrict__;
    using cursor = const TY *;
    static __device__ __forceinline__ ptr at(const void *p) { return (ptr)p; }
};
template <> struct head_targets<sf_bit> {
    using ptr = sf_bitptr;
    using cursor = sf_bitptr;
    static __device__ __forceinline__ ptr at(const void *p) { return {(const uint32_t *)p, 0}; }
};

/* ---- Predict epilogue: z = Z + b, then logits / sigmoid / labels ------------------------ */

struct predict_params {
    int64_t rows, l;
    int64_t stride;                  /* elements between a thread's rows: grid rows x L */
    const void *z;                   /* T [rows, L] */
    const void *bias;
    void *logits, *probs, *labels;   /* already offset to the chunk's first row */
    int labels_u8;
    float threshold;
};

/* Reads 2 (f16 / bf16) or 4 bytes of Z a logit, writes what is asked: probs alone is
 * 2 x dtype bytes, the fewest of a call that wants sigma. The outputs are options of the
 * call, tested once a vector (uniform branches). */
template <typename T, int V> __global__ void __launch_bounds__(SF_BLOCK) predict_kernel(predict_params p)
{
    const T *__restrict__ z = (const T *)p.z;
    const T *__restrict__ bias = (const T *)p.bias;
    T *logits = (T *)p.logits, *probs = (T *)p.probs;
    const int64_t units = p.l / V;
    for (int64_t v0 = (int64_t)blockIdx.x * blockDim.x; v0 < units; v0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = (v0 + threadIdx.x) * V;
        if (j >= p.l)
            continue;
        float b[V];
#pragma unroll
        for (int k = 0; k < V; k++)
            b[k] = bias ? sf_to_float(bias[j + k]) : 0.0f;
        const head_walk rw = head_rows_of(p.rows);
        int64_t e = rw.first * p.l + j;
        for (int64_t i = 0; i < rw.count; i++, e += p.stride) {
            head_raw<T, V> raw;
            raw.load(z + e);
            float zv[V], pr[V], lab[V];
#pragma unroll
            for (int k = 0; k < V; k++) {
                zv[k] = raw.get(k) + b[k];
                pr[k] = sf_sigmoid(zv[k]);
                lab[k] = pr[k] > p.threshold ? 1.0f : 0.0f;
            }
            if (logits)
                sf_store<T, V>(logits, e, zv);
            if (probs)
                sf_store<T, V>(probs, e, pr);
            if (p.labels) {
                if (p.labels_u8)
                    sf_store<uint8_t, V>((uint8_t *)p.labels, e, lab);
                else
                    sf_store<T, V>((T *)p.labels, e, lab);
            }
        }
    }
}

/* ---- Train epilogue: Z -> G (raw BCE gradient), loss and column partials ---------------- */

struct train_params {
    int64_t rows, l;
    int64_t stride;           /* elements between a thread's rows: grid rows x L */
    void *z;                  /* T [rows, L]: the products in, G out in place */
    const void *bias;         /* T [L] */
    const void *targets;      /* TY, already offset to the chunk */
    const void *pos_weight;   /* T [L] */
    double *db_acc;           /* [L]: += column sums directly (grid.y == 1) */
    double *col_partials;     /* [grid.y][L] (grid.y > 1) */
    double *loss_partials;    /* [grid.y][grid.x] when the loss is wanted */
};

/* One logit's loss and raw gradient (w = 1, no smoothing): hard targets (u8) by
 * selection, soft ones without pos_weight in the unit form, the general form otherwise
 * (sf_math.h). Exact wherever the loss is finite; sf_bce_loss_limits elsewhere. */
template <typename TY, bool PW> __device__ __forceinline__ void head_bce(float z, float y, float p, float *lo, float *g)
{
    float sig;   /* not an output of the train step */
    if constexpr (sizeof(TY) == 1 || std::is_same<TY, sf_bit>::value)
        sf_bce_hard_loss_grad_plain(z, y != 0.0f, 1.0f, PW ? p : 1.0f, lo, g, &sig);
    else if constexpr (PW)
        sf_bce_loss_grad_plain(z, y, 1.0f, p, lo, g, &sig);
    else
        sf_bce_unit_loss_grad_plain(z, y, 1.0f, lo, g, &sig);
}

/* A vector's loss where its fast form was not finite, from the vector's z and targets
 * read again (G has not yet replaced them): the common path then holds no logit or
 * target past its loss and gradient. */
template <typename T, typename TY, int V, bool PW, typename YP>
__device__ __forceinline__ float head_loss_limits(const T *zp, YP yp, const float (&b)[V], const float (&pj)[V])
{
    asm volatile("" ::: "memory");   /* a new load: else nvcc reuses the first, live all along */
    head_raw<T, V> zr;
    head_raw<TY, V> yr;
    zr.load(zp);
    yr.load(yp);
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < V; k++) {
        const float x = zr.get(k) + b[k], y = yr.get(k);
        float lo, g;
        head_bce<TY, PW>(x, y, pj[k], &lo, &g);
        sum += sf_finite(lo) ? lo : sf_bce_loss_limits(x, y, 1.0f, pj[k]);
    }
    return sum;
}

/* Column sums and the loss run in f32 over this many rows of a thread, then go to its
 * double accumulators, at one double add per column every 8 rows rather than every row.
 * The f32 sum of k terms rounds at most (k - 1) units of roundoff of their sum of
 * magnitudes: for the 8 rows of a column that is within the 4 ulp of log2(N) times it
 * that dbias is held to (tests/testutil.c, tu_scale_head), and for the loss, 8 rows of V
 * losses summed a row at a time, (V - 1) + 7 units, within 4 ulp of log2(N L) times it. */
#define SF_HEAD_FLUSH 8

/* Reads Z (2 or 4 bytes) and the target (1, 2 or 4), writes G over Z: 5 to 12 bytes a
 * logit. The loss and the column sums are formed whether or not the call wants them
 * (a few instructions a logit; the path stays straight-line) and written only when it
 * does. PW: pos_weight given (else p = 1). Occupancy: one row of V logits is what a
 * thread has in flight (head_walk), so the bytes in flight Little's law asks for come from
 * resident threads: 3 blocks an SM (at most 80 registers) for 16-bit logits, 4 (64) for
 * f32; the loss limits' path holding nothing of the common one (head_loss_limits) is what
 * lets them fit without spilling. */
template <typename T> constexpr int head_train_blocks() { return sizeof(T) == 4 ? 4 : 3; }

template <typename T, typename TY, int V, bool PW>
__global__ void __launch_bounds__(SF_BLOCK, SF_MIN_BLOCKS(head_train_blocks<T>())) train_kernel(train_params p)
{
    /* The thread's double column sums, in shared memory rather than 2 V registers: the
     * registers decide how many threads an SM holds, hence the bytes in flight. */
    __shared__ double col[V][SF_BLOCK];
    __shared__ double warp_sums[32];
    /* Whether the call wants column sums, read from shared memory where it is used: as a
     * register it would be held across the row loop, which has none to spare. */
    __shared__ int want_sums;
    if (threadIdx.x == 0 && threadIdx.y == 0)
        want_sums = p.db_acc != nullptr || p.col_partials != nullptr;
    T *z = (T *)p.z;
    const T *__restrict__ bias = (const T *)p.bias;
    const T *__restrict__ pw = (const T *)p.pos_weight;
    const typename head_targets<TY>::ptr targets = head_targets<TY>::at(p.targets);
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    const int64_t units = p.l / V;
    double loss = 0.0;
    /* Uniform across the block (depends on blockIdx only): the barriers are safe. */
    for (int64_t v0 = (int64_t)blockIdx.x * blockDim.x; v0 < units; v0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = (v0 + threadIdx.x) * V;
#pragma unroll
        for (int k = 0; k < V; k++)
            col[k][tid] = 0.0;
        if (j < p.l) {
            float b[V], pj[V];
#pragma unroll
            for (int k = 0; k < V; k++) {
                b[k] = bias ? sf_to_float(bias[j + k]) : 0.0f;
                pj[k] = PW && pw ? sf_to_float(pw[j + k]) : 1.0f;   /* V = 1 runs PW with or without it */
            }
            const head_walk rw = head_rows_of(p.rows);
            T *zp = z + rw.first * p.l + j;
            typename head_targets<TY>::cursor yp = targets + rw.first * p.l + j;
            for (int64_t i0 = 0; i0 < rw.count; i0 += SF_HEAD_FLUSH) {
                const int n = rw.count - i0 < SF_HEAD_FLUSH ? (int)(rw.count - i0) : SF_HEAD_FLUSH;
                float cs[V], ls = 0.0f;   /* these rows' column sums and loss, in f32 */
#pragma unroll
                for (int k = 0; k < V; k++)
                    cs[k] = 0.0f;
                /* Two rows an iteration, one after the other (a row's loads still follow
                 * the previous row's store): the loop's own instructions once per two. */
#pragma unroll 2
                for (int i = 0; i < n; i++, zp += p.stride, yp += p.stride) {
                    head_raw<T, V> zr;
                    head_raw<TY, V> yr;
                    zr.load(zp);
                    yr.load(yp);
                    float lo[V], g[V];
#pragma unroll
                    for (int k = 0; k < V; k++)
                        head_bce<TY, PW>(zr.get(k) + b[k], yr.get(k), pj[k], &lo[k], &g[k]);
                    float vec_loss = lo[0];   /* not 0 + lo[0]: an add that does not fold */
#pragma unroll
                    for (int k = 1; k < V; k++)
                        vec_loss += lo[k];
                    if (!sf_finite(vec_loss))   /* rare: an infinite or NaN logit, 0 * inf */
                        vec_loss = head_loss_limits<T, TY, V, PW>(zp, yp, b, pj);
                    ls += vec_loss;
                    sf_store<T, V>(zp, 0, g);
#pragma unroll
                    for (int k = 0; k < V; k++)
                        cs[k] += g[k];
                }
#pragma unroll
                for (int k = 0; k < V; k++)
                    col[k][tid] += (double)cs[k];
                loss += (double)ls;
            }
        }
        __syncthreads();   /* col is complete (and want_sums written) */
        if (!*(volatile int *)&want_sums)
            continue;
        if (threadIdx.y == 0 && j < p.l)
#pragma unroll
            for (int k = 0; k < V; k++) {
                double s = 0.0;
                for (unsigned y = 0; y < blockDim.y; y++)
                    s += col[k][y * blockDim.x + threadIdx.x];
                if (p.col_partials)
                    p.col_partials[(int64_t)blockIdx.y * p.l + j + k] = s;
                else
                    p.db_acc[j + k] += s;   /* this block alone owns column j + k */
            }
        __syncthreads();
    }
    if (p.loss_partials) {
        double total = sf_block_sum(loss, warp_sums);
        if (tid == 0)
            p.loss_partials[(int64_t)blockIdx.y * gridDim.x + blockIdx.x] = total;
    }
}

/* Fold one chunk's partials into the running accumulators, in a fixed order: blocks
 * [0, gridDim.x - 1) add column partials, the last block adds the loss partials. */
__global__ void __launch_bounds__(SF_BLOCK)
chunk_fold_kernel(const double *col_partials, int64_t rows, int64_t l, double *db_acc, const double *loss_partials,
                  int64_t nloss, double *loss_acc)
{
    __shared__ double warp_sums[32];
    if (blockIdx.x + 1 < gridDim.x) {
        for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < l;
             j += (int64_t)(gridDim.x - 1) * blockDim.x) {
            double s = 0.0;
            for (int64_t r = 0; r < rows; r++)
                s += col_partials[r * l + j];
            db_acc[j] += s;
        }
        return;
    }
    if (!loss_acc)
        return;
    double v = 0.0;
    for (int64_t i = threadIdx.x; i < nloss; i += blockDim.x)
        v += loss_partials[i];
    double total = sf_block_sum(v, warp_sums);
    if (threadIdx.x == 0)
        *loss_acc += total;
}

/* Outputs of the step: the reduced loss, dbias = alpha * column sums of G, and dW from
 * its f32 accumulator (f16/bf16). */
template <typename T>
__global__ void __launch_bounds__(SF_BLOCK)
train_finish_kernel(const double *loss_acc, int mean, double count, float *loss_out, const double *db_acc,
                    double alpha, T *dbias, int64_t l, const float *dw_acc, T *dw, int64_t ld)
{
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    if (t == 0 && loss_out)
        *loss_out = (float)(mean ? *loss_acc / count : *loss_acc);
    if (dbias)
        for (int64_t j = t; j < l; j += stride)
            dbias[j] = sf_from_float<T>((float)(alpha * db_acc[j]));
    if (dw_acc)
        for (int64_t e = t; e < ld; e += stride)
            dw[e] = sf_from_float<T>(dw_acc[e]);
}

/* ---- Sparse positives ----------------------------------------------------------------------- */

/* The chunk's CSR positives as its bit set (sf_bit; zeroed before): a warp a row, its
 * lanes along the row's ids; ids outside this shard [label_offset, label_offset + L) are
 * skipped. Integer ORs, so the bits are the same whatever order the atomics land in. */
template <typename TI>
__global__ void __launch_bounds__(SF_BLOCK)
csr_bits_kernel(const TI *offsets, const TI *ids, int64_t rows, int64_t l, int64_t label_offset, uint32_t *bits)
{
    const int lane = (int)(threadIdx.x & 31u);
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < rows; r += warps) {
        const int64_t lo = (int64_t)offsets[r], hi = (int64_t)offsets[r + 1];
        for (int64_t t = lo + lane; t < hi; t += 32) {
            const int64_t j = (int64_t)ids[t] - label_offset;
            if (j >= 0 && j < l) {
                const int64_t e = r * l + j;
                atomicOr(&bits[e >> 5], 1u << (unsigned)(e & 31));
            }
        }
    }
}

template <typename TI>
sigfuse_status csr_bits(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t r0, int64_t rows,
                        uint32_t *bits)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    SF_CUDA_TRY(ctx, cudaMemsetAsync(bits, 0, bit_words(rows, a->l) * sizeof(uint32_t), s->stream));
    const unsigned grid = sf_grid_for<csr_bits_kernel<TI>>(s, rows * 32);
    csr_bits_kernel<TI><<<grid, SF_BLOCK, 0, s->stream>>>((const TI *)sf_dptr(a->pos_offsets) + r0,
                                                          (const TI *)sf_dptr(a->pos_labels), rows, a->l,
                                                          a->label_offset, bits);
    SF_LAUNCH_CHECK(ctx, "head_train_step CSR bits kernel launch");
    return SIGFUSE_SUCCESS;
}

/* The CSR check every backend runs (host/labels.c, sf_csr_error), on host copies so that
 * this backend names the same first error as the others, before anything is written.
 * This is the op's one readback: a blocking copy of pos_offsets and pos_labels on the
 * context's stream, once per call (so a sparse train step cannot be captured into a CUDA
 * graph, and costs (N + 1 + nnz) index reads over PCIe/NVLink each call). */
static sigfuse_status csr_check(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const sigfuse_dtype dt = a->pos_offsets->dtype;
    const size_t elem = sigfuse_dtype_size(dt);
    const size_t off_bytes = (size_t)(a->n + 1) * elem, id_bytes = (size_t)a->nnz * elem;
    char *host = (char *)malloc(off_bytes + id_bytes + 1);
    if (!host)
        return sf_fail(ctx, SIGFUSE_ERR_OUT_OF_MEMORY, "head_train_step: no host memory for the %zu bytes of the CSR check",
                       off_bytes + id_bytes);
    cudaError_t e = cudaMemcpyAsync(host, sf_dptr(a->pos_offsets), off_bytes, cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess && id_bytes > 0)
        e = cudaMemcpyAsync(host + off_bytes, sf_dptr(a->pos_labels), id_bytes, cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    if (e != cudaSuccess) {
        free(host);
        return sf_cuda_fail(ctx, e, "head_train_step: reading pos_offsets / pos_labels for their check");
    }
    const sigfuse_buffer offsets = sigfuse_host_buffer(host, dt), ids = sigfuse_host_buffer(host + off_bytes, dt);
    char why[256];
    const bool bad = sf_csr_error(&offsets, &ids, a->n, a->nnz, a->total_labels > 0 ? a->total_labels : a->l, why,
                                  sizeof why);
    free(host);
    if (bad)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "head_train_step: %s", why);
    return SIGFUSE_SUCCESS;
}

/* ---- Launchers ------------------------------------------------------------------------------ */

/* Whether the vector kernels serve a call: L a multiple of V and every caller pointer the
 * epilogue reads or writes per logit on a vector boundary (elem bytes an element). */
static bool vector_ok(int64_t l, int v, const void *const *ptrs, const size_t *elems, int n)
{
    if (l % v != 0)
        return false;
    for (int i = 0; i < n; i++)
        if (ptrs[i] && !sf_aligned(ptrs[i], (size_t)v * elems[i]))
            return false;
    return true;
}

template <typename T, int V>
sigfuse_status predict_launch(sigfuse_ctx *ctx, const predict_params &p)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    head_geom g = geom_for(s, sf_blocks_per_sm<predict_kernel<T, V>>(s->device, SF_BLOCK), p.rows, p.l, V, false);
    predict_params q = p;
    q.stride = (int64_t)g.grid.y * g.block.y * p.l;
    predict_kernel<T, V><<<g.grid, g.block, 0, s->stream>>>(q);
    SF_LAUNCH_CHECK(ctx, "head_predict epilogue kernel launch");
    return SIGFUSE_SUCCESS;
}

template <typename T> sigfuse_status predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a)
{
    const int64_t n = a->n, d = a->d, l = a->l;
    if (n == 0 || l == 0)
        return SIGFUSE_SUCCESS;
    const size_t have = a->workspace ? a->workspace_bytes : 0;
    const int64_t chunk = pick_chunk(n, have, [&](int64_t c) { return predict_bytes(a, sizeof(T), c); });
    if (chunk < 1)
        return sf_fail(ctx, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE,
                       "head_predict: workspace of %zu bytes, the cuda backend needs at least %zu", have,
                       predict_bytes(a, sizeof(T), 1));
    SF_TRY(cublas_bind(ctx));
    T *z = (T *)aligned_base(a->workspace);
    const T *x = (const T *)sf_dptr(a->x), *w = (const T *)sf_dptr(a->w);
    const size_t lab_elem = a->labels ? sigfuse_dtype_size(a->labels->dtype) : 0;
    constexpr int V = head_vec<T>();
    const void *outs[3] = {sf_dptr(a->logits), sf_dptr(a->probs), sf_dptr(a->labels)};
    const size_t elems[3] = {sizeof(T), sizeof(T), lab_elem};
    const bool vec = vector_ok(l, V, outs, elems, 3);
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        const int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        SF_TRY(logits_chunk<T>(ctx, x + r0 * d, w, rows, d, l, z));
        predict_params p;
        p.rows = rows;
        p.l = l;
        p.z = z;
        p.bias = sf_dptr(a->bias);
        p.logits = a->logits ? (void *)((T *)sf_dptr(a->logits) + r0 * l) : nullptr;
        p.probs = a->probs ? (void *)((T *)sf_dptr(a->probs) + r0 * l) : nullptr;
        p.labels = a->labels ? (void *)((char *)sf_dptr(a->labels) + (size_t)(r0 * l) * lab_elem) : nullptr;
        p.labels_u8 = a->labels && a->labels->dtype == SIGFUSE_U8;
        p.threshold = a->threshold;
        SF_TRY((vec ? predict_launch<T, V>(ctx, p) : predict_launch<T, 1>(ctx, p)));
    }
    return SIGFUSE_SUCCESS;
}

/* One chunk's epilogue and the fold of its partials. */
template <typename T, typename TY, int V, bool PW>
sigfuse_status train_epilogue(sigfuse_ctx *ctx, train_params p, double *db_acc, double *loss_acc)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    head_geom g = geom_for(s, sf_blocks_per_sm<train_kernel<T, TY, V, PW>>(s->device, SF_BLOCK), p.rows, p.l, V,
                           db_acc != nullptr);
    p.stride = (int64_t)g.grid.y * g.block.y * p.l;
    p.db_acc = db_acc && !g.col_partials ? db_acc : nullptr;
    p.col_partials = g.col_partials ? s->scratch : nullptr;
    const int64_t col_doubles = g.col_partials ? (int64_t)g.grid.y * p.l : 0;
    p.loss_partials = loss_acc ? s->scratch + col_doubles : nullptr;
    train_kernel<T, TY, V, PW><<<g.grid, g.block, 0, s->stream>>>(p);
    SF_LAUNCH_CHECK(ctx, "head_train_step epilogue kernel launch");
    if (g.col_partials || loss_acc) {
        /* One wave of column blocks (a thread a column), and the last block for the loss. */
        const unsigned col_blocks = g.col_partials ? sf_grid_for<chunk_fold_kernel>(s, p.l) : 0u;
        chunk_fold_kernel<<<(unsigned)(col_blocks + 1), SF_BLOCK, 0, s->stream>>>(
            s->scratch, g.grid.y, p.l, db_acc, p.loss_partials, (int64_t)g.grid.x * g.grid.y, loss_acc);
        SF_LAUNCH_CHECK(ctx, "head_train_step chunk-fold kernel launch");
    }
    return SIGFUSE_SUCCESS;
}

/* TY: the dense targets' type, or sf_bit for CSR positives of index type TI. */
template <typename T, typename TY, typename TI = int64_t>
sigfuse_status train(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const int64_t n = a->n, d = a->d, l = a->l;
    constexpr bool sparse = std::is_same<TY, sf_bit>::value;
    const bool mean = a->reduction == SIGFUSE_REDUCTION_MEAN;
    /* MEAN is over the whole label space, of which this head may be one shard. */
    const double count = (double)n * (double)(a->total_labels > 0 ? a->total_labels : l);
    T *dx = (T *)sf_dptr(a->dx), *dw = (T *)sf_dptr(a->dw), *dbias = (T *)sf_dptr(a->dbias);
    float *loss_out = (float *)sf_dptr(a->loss);

    /* No logits at all: every sum is empty. dX = G W with L = 0 is zero, dW and db are
     * zero, and the loss is 0 (SUM) or NaN (MEAN of nothing). */
    if (n == 0 || l == 0) {
        if (dx && n * d > 0)
            SF_CUDA_TRY(ctx, cudaMemsetAsync(dx, 0, (size_t)(n * d) * sizeof(T), s->stream));
        if (dw && l * d > 0)
            SF_CUDA_TRY(ctx, cudaMemsetAsync(dw, 0, (size_t)(l * d) * sizeof(T), s->stream));
        if (dbias && l > 0)
            SF_CUDA_TRY(ctx, cudaMemsetAsync(dbias, 0, (size_t)l * sizeof(T), s->stream));
        if (loss_out)
            return sf_cuda_finish_loss(ctx, s->scratch, 0, a->reduction, count, loss_out);
        return SIGFUSE_SUCCESS;
    }

    const size_t have = a->workspace ? a->workspace_bytes : 0;
    const int64_t chunk = pick_chunk(n, have, [&](int64_t c) { return layout_train(a, sizeof(T), c).total; });
    if (chunk < 1)
        return sf_fail(ctx, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE,
                       "head_train_step: workspace of %zu bytes, the cuda backend needs at least %zu", have,
                       layout_train(a, sizeof(T), 1).total);
    const train_layout lay = layout_train(a, sizeof(T), chunk);
    char *base = aligned_base(a->workspace);
    T *z = (T *)(base + lay.z);
    const bool narrow = sizeof(T) != sizeof(float);
    float *dw_acc = narrow && dw ? (float *)(base + lay.dw) : nullptr;
    double *db_acc = dbias ? (double *)(base + lay.db) : nullptr;
    double *loss_acc = loss_out ? (double *)(base + lay.loss) : nullptr;
    uint32_t *bits = sparse ? (uint32_t *)(base + lay.bits) : nullptr;
    /* The products take the raw gradient (O(1), safe in f16) and apply the scale as alpha. */
    const float alpha = (float)(mean ? (double)a->grad_scale / count : (double)a->grad_scale);

    SF_TRY(cublas_bind(ctx));
    if (db_acc)
        SF_CUDA_TRY(ctx, cudaMemsetAsync(db_acc, 0, (size_t)l * sizeof(double), s->stream));
    if (loss_acc)
        SF_CUDA_TRY(ctx, cudaMemsetAsync(loss_acc, 0, sizeof(double), s->stream));

    const T *x = (const T *)sf_dptr(a->x), *w = (const T *)sf_dptr(a->w);
    const size_t y_elem = sizeof(TY);
    const cudaDataType_t tt = cuda_type<T>();
    constexpr int V = head_vec<T>();
    const void *targets = sparse ? nullptr : sf_dptr(a->targets);
    const bool vec = vector_ok(l, V, &targets, &y_elem, 1);   /* the bit set is aligned */
    const bool pw = a->pos_weight != nullptr;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        const int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        const T *xc = x + r0 * d;
        SF_TRY(logits_chunk<T>(ctx, xc, w, rows, d, l, z));

        train_params p = {};
        p.rows = rows;
        p.l = l;
        p.z = z;
        p.bias = sf_dptr(a->bias);
        if constexpr (sparse) {
            SF_TRY(csr_bits<TI>(ctx, a, r0, rows, bits));
            p.targets = bits;
        } else {
            p.targets = (const char *)targets + (size_t)(r0 * l) * y_elem;
        }
        p.pos_weight = sf_dptr(a->pos_weight);
        if (vec && pw)
            SF_TRY((train_epilogue<T, TY, V, true>(ctx, p, db_acc, loss_acc)));
        else if (vec)
            SF_TRY((train_epilogue<T, TY, V, false>(ctx, p, db_acc, loss_acc)));
        else   /* one label a thread, pos_weight read (or 1) at run time */
            SF_TRY((train_epilogue<T, TY, 1, true>(ctx, p, db_acc, loss_acc)));

        /* dW^T [D, L] (col-major) += alpha X_c^T G_c: A = X_c^T as col-major D x rows,
         * B = G_c^T as col-major L x rows, transposed. dW first: dX may alias X. */
        if (dw && d > 0) {
            void *c = dw_acc ? (void *)dw_acc : (void *)dw;
            SF_TRY(gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, d, l, rows, alpha, xc, tt, d, z, tt, l, r0 == 0 ? 0.0f : 1.0f,
                        c, dw_acc ? CUDA_R_32F : tt, d));
        }
        /* dX_c^T [D, rows] = alpha W^T G_c^T: A = W as col-major D x L, B = G_c^T (L x rows). */
        if (dx && d > 0)
            SF_TRY(gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, d, rows, l, alpha, w, tt, d, z, tt, l, 0.0f, dx + r0 * d, tt,
                        d));
    }

    if (loss_out || dbias || dw_acc) {
        const int64_t ld = dw_acc ? l * d : 0;
        const int64_t work = ld > l ? ld : l;
        const unsigned blocks = sf_grid_for<train_finish_kernel<T>>(s, work);   /* one wave */
        train_finish_kernel<T><<<blocks, SF_BLOCK, 0, s->stream>>>(
            loss_acc, mean, count, loss_out, db_acc, (double)alpha, dbias, l, dw_acc, dw, ld);
        SF_LAUNCH_CHECK(ctx, "head_train_step finish kernel launch");
    }
    return SIGFUSE_SUCCESS;
}

} // namespace

/* ---- For head_topk (topk.cu): the same chunks of products ------------------------------------- */

sigfuse_status sf_cuda_cublas_bind(sigfuse_ctx *ctx) { return cublas_bind(ctx); }

char *sf_cuda_workspace_base(const sigfuse_buffer *ws) { return aligned_base(ws); }

size_t sf_cuda_head_logits_bytes(size_t elem, int64_t l, int64_t chunk)
{
    return sat_add(sat_align(sat_mul(sat_mul((size_t)chunk, (size_t)l), elem)), SF_WS_ALIGN);
}

int64_t sf_cuda_head_logits_chunk(int64_t n, int64_t l, size_t elem, size_t bytes)
{
    return pick_chunk(n, bytes, [&](int64_t c) { return sf_cuda_head_logits_bytes(elem, l, c); });
}

sigfuse_status sf_cuda_head_logits(sigfuse_ctx *ctx, sigfuse_dtype dtype, const void *x, const void *w, int64_t rows,
                                   int64_t d, int64_t l, void *z)
{
    return sf_cuda_dispatch(ctx, "head logits", dtype, [&](auto tag) {
        using T = decltype(tag);
        return logits_chunk<T>(ctx, (const T *)x, (const T *)w, rows, d, l, (T *)z);
    });
}

size_t sf_cuda_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, int64_t chunk_rows)
{
    (void)ctx;
    if (a->n == 0 || a->l == 0 || chunk_rows <= 0)
        return 0;
    return predict_bytes(a, sigfuse_dtype_size(a->x->dtype), chunk_rows);
}

size_t sf_cuda_head_train_step_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows)
{
    (void)ctx;
    if (a->n == 0 || a->l == 0 || chunk_rows <= 0)
        return 0;
    return layout_train(a, sigfuse_dtype_size(a->x->dtype), chunk_rows).total;
}

sigfuse_status sf_cuda_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a)
{
    return sf_cuda_dispatch(ctx, "head_predict", a->x->dtype, [&](auto tag) {
        return predict<decltype(tag)>(ctx, a);
    });
}

sigfuse_status sf_cuda_head_train_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    if (a->pos_offsets)
        return sf_cuda_dispatch(ctx, "head_train_step", a->x->dtype, [&](auto tag) {
            using T = decltype(tag);
            SF_TRY(csr_check(ctx, a));
            return a->pos_offsets->dtype == SIGFUSE_I32 ? train<T, sf_bit, int32_t>(ctx, a)
                                                        : train<T, sf_bit, int64_t>(ctx, a);
        });
    return sf_cuda_dispatch_targets(ctx, "head_train_step", a->x->dtype, a->targets->dtype,
                                    [&](auto tag, auto ytag) { return train<decltype(tag), decltype(ytag)>(ctx, a); });
}
