/* SPDX-License-Identifier: MIT */
/*
 * Internal to the CUDA backend: the context's state, error reporting, the device scope,
 * storage-dtype loads and stores, 16-byte vectors, launch sizing, deterministic block
 * reductions, and the two kernel skeletons the op files instantiate (an elementwise map
 * and the fused logistic-loss pass shared by bce.cu and focal.cu).
 *
 * Rules every op follows: nothing is allocated and the host never waits (ops can be
 * captured into a CUDA graph); indices are int64_t; floating-point sums run in a fixed
 * order into the context's reserved scratch (no atomics), so a result is bitwise the
 * same on every run on the same device.
 */
#ifndef SF_CUDA_H
#define SF_CUDA_H

#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sf_internal.h"
#include "sf_math.h"

/* ---- Context state ------------------------------------------------------------------ */

struct sf_cuda_state {
    int device;
    cudaStream_t stream;          /* the caller's; never destroyed here */
    cublasHandle_t cublas;
    void *cublas_workspace;       /* given to cuBLAS so that it allocates nothing itself */
    size_t cublas_workspace_bytes;
    int sm_count;
    double *scratch;              /* reduction partials, reserved once at creation */
    size_t scratch_doubles;
};

static inline sf_cuda_state *sf_cuda_of(sigfuse_ctx *ctx) { return (sf_cuda_state *)ctx->impl; }

/* Threads per block of the flat kernels: 8 blocks fill the 2048 threads of an sm_90 SM. */
#define SF_BLOCK 256

/* The most threads an SM holds (the CUDA C++ Programming Guide's table of compute
 * capabilities): 1024 on sm_75, 1536 on sm_86/87/89/120, 2048 on the rest, sm_90
 * included. A kernel's __launch_bounds__ minimum of resident blocks must fit it, or ptxas
 * ignores it with a warning, so SF_MIN_BLOCKS(n) asks for n blocks of SF_BLOCK threads
 * where they fit and for as many as fit elsewhere. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 750
#define SF_SM_THREADS 1024
#elif defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 860 || __CUDA_ARCH__ == 870 || __CUDA_ARCH__ == 890 || \
                                 __CUDA_ARCH__ == 1200)
#define SF_SM_THREADS 1536
#else
#define SF_SM_THREADS 2048
#endif
#define SF_MIN_BLOCKS(n) ((n) * SF_BLOCK <= SF_SM_THREADS ? (n) : SF_SM_THREADS / SF_BLOCK)

/* ---- Errors --------------------------------------------------------------------------- */

/* Record a CUDA / cuBLAS failure on ctx as SIGFUSE_ERR_BACKEND with the runtime's own
 * name and description of the error. */
sigfuse_status sf_cuda_fail(sigfuse_ctx *ctx, cudaError_t err, const char *what);
sigfuse_status sf_cublas_fail(sigfuse_ctx *ctx, cublasStatus_t st, const char *what);

#define SF_CUDA_TRY(ctx, expr)                                                                 \
    do {                                                                                       \
        cudaError_t sf_err_ = (expr);                                                          \
        if (sf_err_ != cudaSuccess)                                                            \
            return sf_cuda_fail((ctx), sf_err_, #expr);                                        \
    } while (0)

#define SF_CUBLAS_TRY(ctx, expr)                                                               \
    do {                                                                                       \
        cublasStatus_t sf_st_ = (expr);                                                        \
        if (sf_st_ != CUBLAS_STATUS_SUCCESS)                                                   \
            return sf_cublas_fail((ctx), sf_st_, #expr);                                       \
    } while (0)

/* After a <<<>>> launch: launch errors (bad configuration, no kernel image for this
 * device) surface here; faults inside a kernel surface at the next synchronisation. */
#define SF_LAUNCH_CHECK(ctx, what)                                                             \
    do {                                                                                       \
        cudaError_t sf_err_ = cudaGetLastError();                                              \
        if (sf_err_ != cudaSuccess)                                                            \
            return sf_cuda_fail((ctx), sf_err_, (what));                                       \
    } while (0)

/* Propagate a sigfuse_status. */
#define SF_TRY(expr)                                                                           \
    do {                                                                                       \
        sigfuse_status sf_s_ = (expr);                                                         \
        if (sf_s_ != SIGFUSE_SUCCESS)                                                          \
            return sf_s_;                                                                      \
    } while (0)

/* Makes the context's device current for the duration of an op and restores the
 * caller's afterwards (a library must not move the calling thread's device). */
class sf_device_scope {
  public:
    sf_device_scope() = default;
    sf_device_scope(const sf_device_scope &) = delete;
    sf_device_scope &operator=(const sf_device_scope &) = delete;
    cudaError_t enter(int device)
    {
        int cur = 0;
        cudaError_t e = cudaGetDevice(&cur);
        if (e != cudaSuccess)
            return e;
        if (cur != device) {
            e = cudaSetDevice(device);
            if (e != cudaSuccess)
                return e;
            prev_ = cur;
        }
        return cudaSuccess;
    }
    ~sf_device_scope()
    {
        if (prev_ >= 0)
            cudaSetDevice(prev_);
    }

  private:
    int prev_ = -1;
};

#define SF_CUDA_ENTER(ctx, state)                                                              \
    sf_device_scope sf_scope_;                                                                 \
    SF_CUDA_TRY((ctx), sf_scope_.enter((state)->device))

/* ---- Buffers and dtypes ----------------------------------------------------------------- */

/* Address of element 0 of a CUDA buffer descriptor (NULL for an absent buffer). */
static inline void *sf_dptr(const sigfuse_buffer *b)
{
    return b ? (void *)((char *)b->ptr + b->offset) : nullptr;
}

static inline bool sf_aligned(const void *p, size_t bytes)
{
    return ((uintptr_t)p % bytes) == 0;
}

/* Call f(T{}) with T the storage type of a float dtype. */
template <typename F>
sigfuse_status sf_cuda_dispatch(sigfuse_ctx *ctx, const char *op, sigfuse_dtype dtype, F &&f)
{
    switch (dtype) {
    case SIGFUSE_F32: return f(float());
    case SIGFUSE_F16: return f(__half());
    case SIGFUSE_BF16: return f(__nv_bfloat16());
    case SIGFUSE_F64:
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "%s: dtype f64 is supported by the cpu reference backend only, not cuda", op);
    default: break;
    }
    return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: dtype %s is not a float dtype the cuda backend stores",
                   op, sigfuse_dtype_name(dtype));
}

__device__ __forceinline__ float sf_to_float(float v) { return v; }
__device__ __forceinline__ float sf_to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float sf_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float sf_to_float(uint8_t v) { return v ? 1.0f : 0.0f; }

/* Round to nearest even on store; overflow goes to infinity, NaN stays NaN. */
template <typename T> __device__ __forceinline__ T sf_from_float(float v);
template <> __device__ __forceinline__ float sf_from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half sf_from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 sf_from_float<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ uint8_t sf_from_float<uint8_t>(float v) { return v != 0.0f ? 1 : 0; }

/* V elements moved as one aligned access (16 bytes when V * sizeof(T) == 16). */
template <typename T, int V> struct alignas(sizeof(T) * V) sf_vec {
    T v[V];
};

template <typename T, int V>
__device__ __forceinline__ void sf_load(const T *p, int64_t i, float (&out)[V])
{
    sf_vec<T, V> t = *reinterpret_cast<const sf_vec<T, V> *>(p + i);
#pragma unroll
    for (int k = 0; k < V; k++)
        out[k] = sf_to_float(t.v[k]);
}

template <typename T, int V>
__device__ __forceinline__ void sf_store(T *p, int64_t i, const float (&in)[V])
{
    sf_vec<T, V> t;
#pragma unroll
    for (int k = 0; k < V; k++)
        t.v[k] = sf_from_float<T>(in[k]);
    *reinterpret_cast<sf_vec<T, V> *>(p + i) = t;
}

/* Label element i: 1 where sigma > threshold, else 0, in a labels buffer of u8 or of T. */
template <typename T>
__device__ __forceinline__ void sf_store_label(void *labels, bool u8, int64_t i, float sig, float threshold)
{
    const float lab = sig > threshold ? 1.0f : 0.0f;
    if (u8)
        ((uint8_t *)labels)[i] = sf_from_float<uint8_t>(lab);
    else
        ((T *)labels)[i] = sf_from_float<T>(lab);
}

/* Elements of T per 16-byte access. */
template <typename T> constexpr int sf_vec_width() { return (int)(16 / sizeof(T)); }

/* ---- Launch sizing ---------------------------------------------------------------------- */

/* Resident blocks of `Kernel` per SM at `block` threads, asked once per device (the
 * answer depends only on the kernel's registers and the device's architecture). The
 * cache is a zero-initialised static array, not a function-local static: that would need
 * the C++ runtime's guard functions, and C programs link the static library with a C
 * linker. Racing threads store the same value. */
#define SF_MAX_DEVICES 64
template <auto Kernel> struct sf_occupancy_cache {
    static int blocks[SF_MAX_DEVICES];
};
template <auto Kernel> int sf_occupancy_cache<Kernel>::blocks[SF_MAX_DEVICES];

template <auto Kernel> int sf_blocks_per_sm(int device, int block)
{
    int *slot = device >= 0 && device < SF_MAX_DEVICES ? &sf_occupancy_cache<Kernel>::blocks[device] : nullptr;
    if (slot) {
        int v = __atomic_load_n(slot, __ATOMIC_RELAXED);
        if (v > 0)
            return v;
    }
    int v = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, Kernel, block, 0) != cudaSuccess || v < 1) {
        cudaGetLastError();
        return 1;   /* still correct, just fewer blocks; asked again next time */
    }
    if (slot)
        __atomic_store_n(slot, v, __ATOMIC_RELAXED);
    return v;
}

/* Blocks for a grid-stride loop over `units` work items: enough to fill every SM once
 * (more only adds a tail wave), at least 1 (a tail may still need a thread), and never
 * more than the partials the scratch holds. A function of (kernel, device, units) only,
 * so reductions over the blocks come out in the same order on every run. */
template <auto Kernel> unsigned sf_grid_for(const sf_cuda_state *s, int64_t units, int block = SF_BLOCK)
{
    int64_t cap = (int64_t)s->sm_count * sf_blocks_per_sm<Kernel>(s->device, block);
    if (cap > (int64_t)s->scratch_doubles)
        cap = (int64_t)s->scratch_doubles;
    int64_t want = (units + block - 1) / block;
    if (want > cap)
        want = cap;
    return want < 1 ? 1u : (unsigned)want;
}

/* ---- Deterministic reductions ----------------------------------------------------------- */

/* Sum of v over a block (1-D or 2-D) whose size is a multiple of 32, in a fixed tree;
 * the result is valid in the thread of linear index 0. `warp_sums` holds 32 doubles of
 * shared memory. Every thread of the block must call it. */
__device__ __forceinline__ double sf_block_sum(double v, double *warp_sums)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    /* Hardware warps are runs of 32 in the linear index (x fastest, then y). */
    const int lin = (int)(threadIdx.y * blockDim.x + threadIdx.x);
    const int lane = lin & 31, warp = lin >> 5;
    const int warps = (blockDim.x * blockDim.y) >> 5;
    if (lane == 0)
        warp_sums[warp] = v;
    __syncthreads();
    v = 0.0;
    if (warp == 0) {
        v = lane < warps ? warp_sums[lane] : 0.0;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
    }
    __syncthreads();   /* warp_sums may be reused right after */
    return v;
}

/* out[c] = sum over r = 0..rows-1, in order, of part[r * pitch + c] (times scale). */
template <typename T>
__global__ void sf_colsum_finish_kernel(const double *part, int64_t rows, int64_t pitch, int64_t cols,
                                        double scale, T *out)
{
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < cols;
         c += (int64_t)gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int64_t r = 0; r < rows; r++)
            s += part[r * pitch + c];
        out[c] = sf_from_float<T>((float)(s * scale));
    }
}

/* Writes the reduced loss: the fixed-order sum of count partials, divided by
 * mean_count for MEAN (0 / 0 = NaN for an empty tensor). One tiny launch. */
sigfuse_status sf_cuda_finish_loss(sigfuse_ctx *ctx, const double *partials, int64_t count,
                                   sigfuse_reduction reduction, double mean_count, float *out);

/* Launches sf_colsum_finish_kernel<T> on the context's stream. */
template <typename T>
sigfuse_status sf_cuda_colsum_finish(sigfuse_ctx *ctx, const double *part, int64_t rows, int64_t pitch,
                                     int64_t cols, double scale, T *out)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (cols <= 0)
        return SIGFUSE_SUCCESS;
    const unsigned grid = sf_grid_for<sf_colsum_finish_kernel<T>>(s, cols);   /* one wave, a thread a column */
    sf_colsum_finish_kernel<T><<<grid, SF_BLOCK, 0, s->stream>>>(part, rows, pitch, cols, scale, out);
    SF_LAUNCH_CHECK(ctx, "column-sum kernel launch");
    return SIGFUSE_SUCCESS;
}

/* ---- Row x column tiling of the cell kernels ([B, k*H] gate tensors) --------------------- */

/* Threads along hidden units (x, coalesced) and rows (y); grid.y row chunks. The same
 * geometry is used for the bias-gradient partials, so it must be a pure function of
 * (kernel, B, H, device): that makes the column sums deterministic.
 * The grid is one wave: as many blocks as the kernel's occupancy lets the device hold at
 * once (blocks_per_sm, from sf_blocks_per_sm), not a fixed 8 an SM. Every block of a
 * tile walks the same number of rows, so with a fixed 8 a kernel that fits 5 or 6 blocks
 * an SM (the LSTM kernels and the GRU backward, by their registers) ran a second wave
 * 30-55 % full. A thread's rows run one after another (a row's loads are issued after the
 * previous row's stores, which may alias them, and those wait for its loads), so a block
 * takes its row count times a row's latency, and that second wave added as much again. */
struct sf_tile_geom {
    dim3 block;
    dim3 grid;
};

/* Rows a thread of a cell kernel loads before it computes any of them. Its rows would
 * otherwise run one after another (above), one row's loads in flight at a time: 11 to 16
 * scalar loads of 2 or 4 bytes. The cells' backward took about as long in f16/bf16 as in
 * f32, for half the bytes: the mark of a latency-bound loop rather than a bandwidth-bound
 * one (bench/NOTES.md has the figures). Each thread still
 * reads and writes only its own rows' elements, so exact in-place stays safe. Build with
 * -DSF_CELL_ROWS=1 to compare. */
#ifndef SF_CELL_ROWS
#define SF_CELL_ROWS 2
#endif

/* The loop over a thread's rows in a row x column tiled kernel (the cells, the head's
 * epilogues): rows threadIdx.y + blockIdx.y * blockDim.y in steps of the grid's rows. Per
 * pass, load(r, in) for R rows below B into In-typed slots, then body(r, in) for each of
 * them in increasing order (so sums over a thread's rows keep their order). */
template <int R, typename In, typename Load, typename Body>
__device__ __forceinline__ void sf_tile_rows(int64_t B, Load &&load, Body &&body)
{
    const int64_t rstep = (int64_t)gridDim.y * blockDim.y;
    for (int64_t r0 = (int64_t)blockIdx.y * blockDim.y + threadIdx.y; r0 < B; r0 += R * rstep) {
        In in[R];
#pragma unroll
        for (int u = 0; u < R; u++)
            if (r0 + u * rstep < B)
                load(r0 + u * rstep, in[u]);
#pragma unroll
        for (int u = 0; u < R; u++) {
            if (r0 + u * rstep >= B)
                break;
            body(r0 + u * rstep, in[u]);
        }
    }
}

static inline sf_tile_geom sf_tile_for(const sf_cuda_state *s, int blocks_per_sm, int64_t rows, int64_t cols,
                                       int64_t partial_cols /* 0: no partials */)
{
    sf_tile_geom g;
    unsigned bx = 1;
    while (bx < 32 && (int64_t)bx < cols)
        bx <<= 1;
    unsigned by = SF_BLOCK / bx;
    int64_t gx = (cols + bx - 1) / bx;
    if (gx > 0x7fffffff)
        gx = 0x7fffffff;
    if (gx < 1)
        gx = 1;
    int64_t gy = (rows + by - 1) / by;
    int64_t target = (int64_t)s->sm_count * blocks_per_sm;   /* blocks that fill the device once */
    int64_t gy_cap = target / gx;
    if (gy_cap < 1)
        gy_cap = 1;
    if (gy > gy_cap)
        gy = gy_cap;
    if (gy > 65535)
        gy = 65535;
    if (partial_cols > 0) {
        int64_t fit = (int64_t)(s->scratch_doubles / (size_t)partial_cols);
        if (gy > fit)
            gy = fit;
    }
    if (gy < 1)
        gy = 1;
    g.block = dim3(bx, by, 1);
    g.grid = dim3((unsigned)gx, (unsigned)gy, 1);
    return g;
}

/* ---- Elementwise map skeleton (activation.cu, glu.cu) ------------------------------------ */

/* An op is a functor with NIN inputs and NOUT outputs per element:
 *   struct { static constexpr int NIN, NOUT; float beta;
 *            __device__ void operator()(const float *in, float *out) const; } */
template <typename T> struct sf_ew_ptrs {
    const T *in[3];
    T *out[2];   /* an absent output is NULL and skipped */
};

/* Vectors a thread of a one-input op loads before it computes. The loop cannot overlap
 * one pass's loads with the last pass's stores (outputs may alias inputs, so the compiler
 * keeps their order), so the ops with one input, one 16-byte load in flight per thread,
 * fell further short of the copy rate than those with two or three (bench/NOTES.md has
 * the figures): 2 gives them two 16-byte loads in flight per thread too. The ops
 * with more inputs keep 1 (more would cost registers, hence resident threads). Build
 * with -DSF_EW_UNROLL=1 to compare. */
#ifndef SF_EW_UNROLL
#define SF_EW_UNROLL 2
#endif
/* The scalar path (pointers at different offsets from 16-byte alignment) loads one element
 * of each input a pass; 4 passes' loads at once keep as many bytes in flight per thread as
 * the 16-byte path of a 16-bit op has in one of its vectors' halves. */
#ifndef SF_EW_SCALAR_UNROLL
#define SF_EW_SCALAR_UNROLL 4
#endif

template <typename Op, typename T, int V, int U>
__global__ void __launch_bounds__(SF_BLOCK) sf_ew_kernel(Op op, int64_t n, sf_ew_ptrs<T> p)
{
    const int64_t nvec = n / V;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    /* Thread t owns vectors t, t + stride, t + 2 stride, ... and takes U of them per pass:
     * all their loads first (kept in storage form: 16-bit inputs take half the registers
     * of floats), then each one's math and store. Every element is read and then written
     * by the same thread, so exact in-place stays safe. */
    for (int64_t iv0 = t; iv0 < nvec; iv0 += U * stride) {
        sf_vec<T, V> raw[U][Op::NIN];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t iv = iv0 + u * stride;
            if (iv < nvec)
#pragma unroll
                for (int a = 0; a < Op::NIN; a++)
                    raw[u][a] = *reinterpret_cast<const sf_vec<T, V> *>(p.in[a] + iv * V);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t iv = iv0 + u * stride;
            if (iv >= nvec)
                break;
            float out[Op::NOUT][V];
#pragma unroll
            for (int k = 0; k < V; k++) {
                float xi[Op::NIN], yo[Op::NOUT];
#pragma unroll
                for (int a = 0; a < Op::NIN; a++)
                    xi[a] = sf_to_float(raw[u][a].v[k]);
                op(xi, yo);
#pragma unroll
                for (int o = 0; o < Op::NOUT; o++)
                    out[o][k] = yo[o];
            }
#pragma unroll
            for (int o = 0; o < Op::NOUT; o++)
                if (p.out[o])
                    sf_store<T, V>(p.out[o], iv * V, out[o]);
        }
    }
    if (V > 1) {   /* the n % V tail, one element per thread of the first block */
        const int64_t i = nvec * V + t;
        if (i < n) {
            float xi[Op::NIN], yo[Op::NOUT];
#pragma unroll
            for (int a = 0; a < Op::NIN; a++)
                xi[a] = sf_to_float(p.in[a][i]);
            op(xi, yo);
#pragma unroll
            for (int o = 0; o < Op::NOUT; o++)
                if (p.out[o])
                    p.out[o][i] = sf_from_float<T>(yo[o]);
        }
    }
}

/* The elements before the first 16-byte boundary when every pointer lies the same number
 * of bytes past one (a view at an element offset into aligned tensors: a slice, an odd
 * column), so that the rest can take the 16-byte path; -1 when the pointers disagree. */
template <typename T, int NIN, int NOUT> int64_t sf_common_head(const T *const *in, T *const *out)
{
    int misalign = -1;
    auto agree = [&](const void *ptr) {
        const int m = (int)((uintptr_t)ptr % 16);
        if (misalign < 0)
            misalign = m;
        return m == misalign;
    };
    for (int a = 0; a < NIN; a++)
        if (!agree(in[a]))
            return -1;
    for (int o = 0; o < NOUT; o++)
        if (out[o] && !agree(out[o]))
            return -1;
    return (int64_t)((16 - misalign) % 16) / (int64_t)sizeof(T);
}

/* Launch an elementwise op over n elements: the 16-byte path when every pointer is
 * 16-byte aligned; views that are all equally far from alignment run their first few
 * elements (fewer than a vector) on the scalar path and the rest on the 16-byte one;
 * the scalar path alone otherwise (pointers at different offsets). */
template <typename Op, typename T>
sigfuse_status sf_cuda_launch_ew(sigfuse_ctx *ctx, Op op, int64_t n, const sigfuse_buffer *const *in,
                                 const sigfuse_buffer *const *out)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (n <= 0)
        return SIGFUSE_SUCCESS;
    sf_ew_ptrs<T> p = {};
    for (int a = 0; a < Op::NIN; a++)
        p.in[a] = (const T *)sf_dptr(in[a]);
    for (int o = 0; o < Op::NOUT; o++)
        p.out[o] = (T *)sf_dptr(out[o]);
    constexpr int V = sf_vec_width<T>();
    constexpr int U = Op::NIN == 1 ? SF_EW_UNROLL : 1;
    const int64_t head = sf_common_head<T, Op::NIN, Op::NOUT>(p.in, p.out);
    const int64_t scalar_n = head < 0 ? n : (head < n ? head : n);
    if (scalar_n > 0) {   /* a few head elements, or all of a call whose pointers disagree */
        constexpr int US = SF_EW_SCALAR_UNROLL;
        unsigned grid = sf_grid_for<sf_ew_kernel<Op, T, 1, US>>(s, scalar_n);
        sf_ew_kernel<Op, T, 1, US><<<grid, SF_BLOCK, 0, s->stream>>>(op, scalar_n, p);
        SF_LAUNCH_CHECK(ctx, "elementwise kernel launch");
    }
    if (n > scalar_n) {   /* the aligned rest */
        sf_ew_ptrs<T> q = p;
        for (int a = 0; a < Op::NIN; a++)
            q.in[a] += scalar_n;
        for (int o = 0; o < Op::NOUT; o++)
            if (q.out[o])
                q.out[o] += scalar_n;
        unsigned grid = sf_grid_for<sf_ew_kernel<Op, T, V, U>>(s, (n - scalar_n) / V);
        sf_ew_kernel<Op, T, V, U><<<grid, SF_BLOCK, 0, s->stream>>>(op, n - scalar_n, q);
        SF_LAUNCH_CHECK(ctx, "elementwise kernel launch");
    }
    return SIGFUSE_SUCCESS;
}

/* ---- Fused logistic-loss pass (bce.cu, focal.cu) ----------------------------------------- */

/* One pass over logits and targets gives any subset of: the loss (per element, or
 * per-block partials of its sum), the gradient times the upstream gradient, sigma(x),
 * and labels. Per-element math comes from an Op:
 *   template <bool Loss, bool Smooth, bool PosWeight, bool Hard>
 *   __device__ void apply(float x, float y, float w, float p, float *loss, float *grad,
 *                         float *sig) const;
 *   template <bool Smooth>
 *   __device__ void limits(float x, float y, float w, float p, float *loss, float *grad) const;
 *   static constexpr bool grad_needs_limits, hard_split;
 *   __device__ void prepare();   (once per thread, before the loop: values of the options)
 * with w (element weight) and p (pos_weight of the column) 1 where absent, sig the
 * sigma(x) its terms already hold (read only for the probabilities and labels), Loss
 * whether the loss is wanted, Smooth whether label smoothing applies, PosWeight whether
 * p may differ from 1, and Hard whether the target is 0 or 1 (u8 targets; float targets
 * of a vector that are all 0 or 1, for an Op with hard_split). apply forms the loss with
 * fast forms, exact wherever that loss is finite; limits gives the exact loss and
 * gradient where it is not (an infinite or NaN input, a 0 * inf limit) and, for an Op
 * with grad_needs_limits and soft targets, where the gradient is NaN. The kernel tests a
 * vector's V elements at once and takes limits only for a vector that needs them: one
 * test and a branch not taken per vector on finite inputs, instead of per element. */
struct sf_loss_params {
    int64_t n;
    int64_t cols;
    int64_t col0;              /* column of element 0 (a launch over the rest of a tensor) */
    int64_t col_step;          /* (threads in the grid * V) % cols: column advance per pass */
    const void *logits;
    const void *targets;       /* T or u8 */
    const void *weight;        /* T, [n] */
    const void *pos_weight;    /* T, [cols] */
    const void *dloss_elem;    /* T, [n] (reduction NONE) */
    const float *dloss_scalar; /* f32, [1] (SUM / MEAN) */
    void *loss_elem;           /* T, [n] (NONE) */
    double *loss_partials;     /* [gridDim.x] (SUM / MEAN) */
    void *dlogits;             /* T */
    void *probs;               /* T */
    void *labels;              /* T or u8 */
    int labels_u8;
    int smooth;                /* label smoothing > 0 */
    float grad_scale;
    double mean_count;         /* rows * cols for MEAN, 1 otherwise */
    float threshold;
};

/* What a loss kernel does, fixed at compile time so that its common path is straight-line
 * code: the instructions bench/sass.py counts are the ones each element issues. The option
 * sets that training and evaluation use get a kernel of their own (sf_loss_features_of);
 * every other set runs SF_LF_GENERIC, which tests each option at run time. A specialised
 * kernel with SF_LF_POS_WEIGHT reads pos_weight as one vector per vector of elements, so
 * the launcher picks it only where that is possible (sf_loss_pos_weight_vectors). */
enum sf_loss_feature : unsigned {
    SF_LF_WEIGHT = 1u,        /* element weight [n] */
    SF_LF_POS_WEIGHT = 2u,    /* pos_weight [cols] */
    SF_LF_UPSTREAM = 4u,      /* dloss_in per element (NONE) */
    SF_LF_LOSS_ELEM = 8u,     /* loss per element (NONE) */
    SF_LF_LOSS_SUM = 16u,     /* per-block partials of the loss (SUM / MEAN) */
    SF_LF_GRAD = 32u,         /* dlogits */
    SF_LF_PROBS = 64u,        /* sigma(x) */
    SF_LF_LABELS = 128u,      /* thresholded labels */
    SF_LF_LABELS_U8 = 256u,   /* ... stored as u8 */
    SF_LF_SMOOTH = 512u,      /* label smoothing > 0 */
    SF_LF_GENERIC = 32768u,   /* all of the above decided at run time */
};

/* The feature bits of a call. */
inline unsigned sf_loss_features_of(const sf_loss_params &p)
{
    return (p.weight ? SF_LF_WEIGHT : 0u) | (p.pos_weight ? SF_LF_POS_WEIGHT : 0u) |
           (p.dloss_elem ? SF_LF_UPSTREAM : 0u) | (p.loss_elem ? SF_LF_LOSS_ELEM : 0u) |
           (p.loss_partials ? SF_LF_LOSS_SUM : 0u) | (p.dlogits ? SF_LF_GRAD : 0u) | (p.probs ? SF_LF_PROBS : 0u) |
           (p.labels ? SF_LF_LABELS : 0u) | (p.labels && p.labels_u8 ? SF_LF_LABELS_U8 : 0u) |
           (p.smooth ? SF_LF_SMOOTH : 0u);
}

template <bool B> struct sf_bool {
    static constexpr bool value = B;
};

/* V values of T from element i as floats. bf16 is the top half of an f32, so a pair in a
 * 32-bit word widens with one instruction each (w << 16, w & 0xffff0000) where the
 * conversion of the upper half took two (a byte permute, then the shift). */
template <typename T> constexpr bool sf_is_bf16 = false;
template <> constexpr bool sf_is_bf16<__nv_bfloat16> = true;

template <typename T, int V>
__device__ __forceinline__ void sf_loss_load(const T *p, int64_t i, float (&out)[V])
{
    if constexpr (sf_is_bf16<T> && V % 2 == 0) {
        const sf_vec<uint32_t, V / 2> raw = *reinterpret_cast<const sf_vec<uint32_t, V / 2> *>(p + i);
#pragma unroll
        for (int k = 0; k < V; k += 2) {
            out[k] = __uint_as_float(raw.v[k / 2] << 16);
            out[k + 1] = __uint_as_float(raw.v[k / 2] & 0xffff0000u);
        }
    } else {
        sf_load<T, V>(p, i, out);
    }
}

/* V targets from element i as floats. u8 targets (hard labels: 0, or 1 for any other
 * byte) are read as 32-bit words and each byte is tested in its place, one instruction
 * that leaves the predicate y != 0 the ops select with, instead of extracting each byte
 * first. */
template <typename TY, int V>
__device__ __forceinline__ void sf_loss_load_targets(const TY *p, int64_t i, float (&y)[V])
{
    if constexpr (sizeof(TY) == 1 && V % 4 == 0) {
        const sf_vec<uint32_t, V / 4> raw = *reinterpret_cast<const sf_vec<uint32_t, V / 4> *>(p + i);
#pragma unroll
        for (int k = 0; k < V; k++)
            y[k] = (raw.v[k / 4] & (0xffu << (8 * (k % 4)))) != 0u ? 1.0f : 0.0f;
    } else {
        sf_loss_load<TY, V>(p, i, y);
    }
}

/* An element's limits (Op::limits), called, not inlined: the limits sit in a branch that
 * finite inputs never take, but inlined into the loop their registers counted against the
 * whole loop (and fewer blocks fit an SM); a call keeps them out of the hot path. */
template <typename Op, bool Smooth>
__device__ __noinline__ float2 sf_loss_limits_call(const Op &op, float x, float y, float w, float pw)
{
    float2 r;
    op.template limits<Smooth>(x, y, w, pw, &r.x, &r.y);
    return r;
}

template <typename Op, typename T, typename TY, int V, unsigned F>
__global__ void __launch_bounds__(SF_BLOCK) sf_loss_kernel(Op op, sf_loss_params p)
{
    constexpr bool generic = (F & SF_LF_GENERIC) != 0;
    /* Each option: a constant in a specialised kernel, a test of p in the generic one. */
    const bool has_w = generic ? p.weight != nullptr : (F & SF_LF_WEIGHT) != 0;
    const bool has_pw = generic ? p.pos_weight != nullptr : (F & SF_LF_POS_WEIGHT) != 0;
    const bool has_up = generic ? p.dloss_elem != nullptr : (F & SF_LF_UPSTREAM) != 0;
    const bool loss_elem = generic ? p.loss_elem != nullptr : (F & SF_LF_LOSS_ELEM) != 0;
    const bool loss_sum = generic ? p.loss_partials != nullptr : (F & SF_LF_LOSS_SUM) != 0;
    const bool grad = generic ? p.dlogits != nullptr : (F & SF_LF_GRAD) != 0;
    const bool probs = generic ? p.probs != nullptr : (F & SF_LF_PROBS) != 0;
    const bool labels = generic ? p.labels != nullptr : (F & SF_LF_LABELS) != 0;
    const bool labels_u8 = generic ? p.labels_u8 != 0 : (F & SF_LF_LABELS_U8) != 0;
    const bool want_loss = loss_elem || loss_sum;
    /* A NaN gradient sends a vector to the limits only where the Op's can be NaN with a
     * finite loss and the gradient is wanted: a test of what is not stored would keep its
     * arithmetic on the common path (the loss alone of BCE kept its gradient). */
    const bool test_grad = Op::grad_needs_limits && grad;

    op.prepare();
    __shared__ double warp_sums[32];
    const T *x_ptr = (const T *)p.logits;
    const TY *y_ptr = (const TY *)p.targets;
    const T *w_ptr = (const T *)p.weight;
    const T *pw_ptr = (const T *)p.pos_weight;
    const T *up_ptr = (const T *)p.dloss_elem;
    T *le_ptr = (T *)p.loss_elem;
    T *dl_ptr = (T *)p.dlogits;
    T *pr_ptr = (T *)p.probs;

    /* The scalar upstream gradient folds into one factor, in double like the reference:
     * grad_scale * dloss_in / (rows * cols for MEAN). */
    float scale = p.grad_scale;
    if (grad) {
        double sc = (double)p.grad_scale;
        if (p.dloss_scalar)
            sc *= (double)*p.dloss_scalar;
        scale = (float)(sc / p.mean_count);
    }
    /* The limits of one element, where its fast forms gave a loss that is not finite. */
    auto exact = [&](float x, float y, float w, float pw, float *lo, float *g) {
        const float2 r = sf_loss_limits_call<Op, generic || (F & SF_LF_SMOOTH) != 0>(op, x, y, w, pw);
        *lo = r.x;
        *g = r.y;
    };
    /* One element's math, with the options the kernel has; hard: its target is 0 or 1. */
    auto element = [&](auto hard, float x, float y, float w, float pw, float *lo, float *g, float *sig) {
        constexpr bool h = decltype(hard)::value;
        if (generic) {
            if (want_loss && has_pw)
                op.template apply<true, true, true, h>(x, y, w, pw, lo, g, sig);
            else if (want_loss)
                op.template apply<true, true, false, h>(x, y, w, pw, lo, g, sig);
            else
                op.template apply<false, true, true, h>(x, y, w, pw, lo, g, sig);
        } else {
            op.template apply<((F & (SF_LF_LOSS_ELEM | SF_LF_LOSS_SUM)) != 0), ((F & SF_LF_SMOOTH) != 0),
                              ((F & SF_LF_POS_WEIGHT) != 0), h>(x, y, w, pw, lo, g, sig);
        }
    };
    /* u8 targets are hard; float targets are, a vector at a time, for an Op with a form of
     * its own for them (Op::hard_split). */
    constexpr bool u8_targets = sizeof(TY) == 1;
    constexpr bool split = Op::hard_split && !u8_targets;

    double acc = 0.0;
    const int64_t nvec = p.n / V;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t col = has_pw && t < nvec ? (p.col0 + t * V) % p.cols : 0;
    /* The specialised kernels walk the column in 32 bits (sf_loss_pos_weight_vectors): an
     * add, a compare and a select a pass instead of their 64-bit pairs. */
    uint32_t col32 = (uint32_t)col;
    const uint32_t step32 = (uint32_t)p.col_step, cols32 = (uint32_t)p.cols;

    for (int64_t iv = t; iv < nvec; iv += stride) {
        const int64_t i0 = iv * V;
        float x[V], y[V], w[V], pw[V], up[V];
        sf_loss_load<T, V>(x_ptr, i0, x);
        sf_loss_load_targets<TY, V>(y_ptr, i0, y);
        if (has_w)
            sf_loss_load<T, V>(w_ptr, i0, w);
        else
#pragma unroll
            for (int k = 0; k < V; k++)
                w[k] = 1.0f;
        if (has_up)
            sf_loss_load<T, V>(up_ptr, i0, up);
        else
#pragma unroll
            for (int k = 0; k < V; k++)
                up[k] = 1.0f;
        if (has_pw) {
            if (generic) {   /* any cols: element by element, wrapping at the row's end */
                int64_t c = col;
#pragma unroll
                for (int k = 0; k < V; k++) {
                    pw[k] = sf_to_float(pw_ptr[c]);
                    if (++c == p.cols)
                        c = 0;
                }
                col += p.col_step;
                if (col >= p.cols)
                    col -= p.cols;
            } else {   /* the vector of columns col .. col + V - 1, all in the row */
                sf_loss_load<T, V>(pw_ptr, col32, pw);
                col32 += step32;
                if (col32 >= cols32)
                    col32 -= cols32;
            }
        } else {
#pragma unroll
            for (int k = 0; k < V; k++)
                pw[k] = 1.0f;
        }
        float lo[V], g[V], sig[V], lab[V];
        float vec_loss = 0.0f;   /* this vector's V losses in f32, then one double add:
                                    a conversion and a double add per vector, not per element */
        /* The vector's math (hard: every target 0 or 1), then the limits where needed. */
        auto vector = [&](auto hard) {
            constexpr bool h = decltype(hard)::value;
            const bool tests_grad = test_grad && !h;   /* hard forms: a NaN gradient has a loss that is not finite */
            float vec_grad = 0.0f;
#pragma unroll
            for (int k = 0; k < V; k++) {
                element(hard, x[k], y[k], w[k], pw[k], &lo[k], &g[k], &sig[k]);
                vec_loss += lo[k];
                if (tests_grad)
                    vec_grad += g[k];
            }
            /* rare: an infinite or NaN input, 0 * inf. The gradient alone (no loss: lo is 0)
             * is tested where the Op's can be NaN (tests_grad), a vector at a time. */
            if ((want_loss || tests_grad) && !sf_finite(tests_grad ? vec_loss + vec_grad : vec_loss)) {
                vec_loss = 0.0f;
#pragma unroll
                for (int k = 0; k < V; k++) {
                    if (!sf_finite(tests_grad ? lo[k] + g[k] : lo[k]))
                        exact(x[k], y[k], w[k], pw[k], &lo[k], &g[k]);
                    vec_loss += lo[k];
                }
            }
        };
        if (split) {
            /* y (y - 1) is exactly 0 just for y = 0 and 1 (the fma rounds once; never -0), so
             * the OR of its bits over the vector is 0 just when every target is hard. Tested
             * as a float, like the other rare paths. */
            unsigned soft_bits = 0u;
#pragma unroll
            for (int k = 0; k < V; k++)
                soft_bits |= __float_as_uint(fmaf(y[k], y[k], -y[k]));
            if (__uint_as_float(soft_bits) == 0.0f)
                vector(sf_bool<true>{});
            else
                vector(sf_bool<false>{});
        } else {
            vector(sf_bool<u8_targets>{});
        }
#pragma unroll
        for (int k = 0; k < V; k++)
            g[k] = has_up ? g[k] * (scale * up[k]) : g[k] * scale;
        if (loss_sum)
            acc += (double)vec_loss;
        if (labels)
#pragma unroll
            for (int k = 0; k < V; k++)
                lab[k] = sig[k] > p.threshold ? 1.0f : 0.0f;
        if (loss_elem)
            sf_store<T, V>(le_ptr, i0, lo);
        if (grad)
            sf_store<T, V>(dl_ptr, i0, g);
        if (probs)
            sf_store<T, V>(pr_ptr, i0, sig);
        if (labels) {
            if (labels_u8)
                sf_store<uint8_t, V>((uint8_t *)p.labels, i0, lab);
            else
                sf_store<T, V>((T *)p.labels, i0, lab);
        }
    }
    if (V > 1) {   /* the n % V tail */
        const int64_t i = nvec * V + t;
        if (i < p.n) {
            const float x = sf_to_float(x_ptr[i]);
            const float y = sf_to_float(y_ptr[i]);
            const float w = has_w ? sf_to_float(w_ptr[i]) : 1.0f;
            const float pw = has_pw ? sf_to_float(pw_ptr[(p.col0 + i) % p.cols]) : 1.0f;
            const float up = has_up ? sf_to_float(up_ptr[i]) : 1.0f;
            float lo, g, pr;
            element(sf_bool<u8_targets>{}, x, y, w, pw, &lo, &g, &pr);   /* float targets: the soft form */
            if ((want_loss || (test_grad && !u8_targets)) && !sf_finite(test_grad && !u8_targets ? lo + g : lo))
                exact(x, y, w, pw, &lo, &g);
            if (loss_sum)
                acc += (double)lo;
            if (loss_elem)
                le_ptr[i] = sf_from_float<T>(lo);
            if (grad)
                dl_ptr[i] = sf_from_float<T>(g * (scale * up));
            if (probs)
                pr_ptr[i] = sf_from_float<T>(pr);
            if (labels)
                sf_store_label<T>(p.labels, labels_u8, i, pr, p.threshold);
        }
    }
    if (loss_sum) {
        double total = sf_block_sum(acc, warp_sums);
        if (threadIdx.x == 0)
            p.loss_partials[blockIdx.x] = total;
    }
}

/* Launches the element kernel of feature set F over p.n > 0 elements; a reduced loss
 * leaves one partial per block at p.loss_partials, at most max_blocks of them. *blocks:
 * the blocks launched. */
template <typename Op, typename T, typename TY, int V, unsigned F>
sigfuse_status sf_cuda_loss_launch_f(sigfuse_ctx *ctx, Op op, sf_loss_params p, int64_t max_blocks,
                                     unsigned *blocks)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    unsigned grid = sf_grid_for<sf_loss_kernel<Op, T, TY, V, F>>(s, p.n / V);
    if ((int64_t)grid > max_blocks)
        grid = (unsigned)max_blocks;
    const int64_t threads = (int64_t)grid * SF_BLOCK;
    p.col_step = p.cols > 0 ? (int64_t)((threads * V) % p.cols) : 0;
    sf_loss_kernel<Op, T, TY, V, F><<<grid, SF_BLOCK, 0, s->stream>>>(op, p);
    SF_LAUNCH_CHECK(ctx, "loss kernel launch");
    *blocks = grid;
    return SIGFUSE_SUCCESS;
}

/* The vector kernels: one of the option sets Fs (each with a kernel of its own) where the
 * call's features equal it, else the generic one. */
template <typename Op, typename T, typename TY, unsigned... Fs> struct sf_loss_specialised {
    static sigfuse_status launch(sigfuse_ctx *ctx, unsigned features, Op op, const sf_loss_params &p,
                                 int64_t max_blocks, unsigned *blocks)
    {
        constexpr int V = sf_vec_width<T>();
        sigfuse_status st = SIGFUSE_SUCCESS;
        /* The first Fs equal to features launches its kernel; none: the generic one. */
        const bool hit = ((features == Fs &&
                           (st = sf_cuda_loss_launch_f<Op, T, TY, V, Fs>(ctx, op, p, max_blocks, blocks), true)) ||
                          ...);
        return hit ? st : sf_cuda_loss_launch_f<Op, T, TY, V, SF_LF_GENERIC>(ctx, op, p, max_blocks, blocks);
    }
};

/* p without its first k elements: every per-element pointer moved on, the column of the
 * new element 0 updated (pos_weight itself is per column and stays). */
template <typename T, typename TY> sf_loss_params sf_loss_advance(sf_loss_params p, int64_t k)
{
    auto skip = [k](const void *ptr, size_t size) -> const void * {
        return ptr ? (const char *)ptr + k * (int64_t)size : nullptr;
    };
    p.n -= k;
    p.col0 = p.cols > 0 ? (p.col0 + k) % p.cols : 0;
    p.logits = skip(p.logits, sizeof(T));
    p.targets = skip(p.targets, sizeof(TY));
    p.weight = skip(p.weight, sizeof(T));
    p.dloss_elem = skip(p.dloss_elem, sizeof(T));
    p.loss_elem = (void *)skip(p.loss_elem, sizeof(T));
    p.dlogits = (void *)skip(p.dlogits, sizeof(T));
    p.probs = (void *)skip(p.probs, sizeof(T));
    p.labels = (void *)skip(p.labels, p.labels_u8 ? 1 : sizeof(T));
    return p;
}

/* Every per-element pointer aligned for the vector kernel's accesses of V elements. */
template <typename T, typename TY, int V> bool sf_loss_vectors_fit(const sf_loss_params &p)
{
    bool vec = sf_aligned(p.logits, 16) && sf_aligned(p.targets, V * sizeof(TY));
    const void *vec16[] = {p.weight, p.dloss_elem, p.loss_elem, p.dlogits, p.probs};
    for (const void *q : vec16)
        vec = vec && (q == nullptr || sf_aligned(q, 16));
    if (p.labels)
        vec = vec && sf_aligned(p.labels, p.labels_u8 ? (size_t)V : 16);
    return vec;
}

/* The elements before every pointer is aligned for the vector kernel (fewer than V: a view
 * at an element offset into aligned tensors, such as a slice), so that the rest can take
 * it; -1 when no such count exists (pointers at different offsets). */
template <typename T, typename TY, int V> int64_t sf_loss_head(const sf_loss_params &p)
{
    const uintptr_t a = (uintptr_t)p.logits;
    if (a % sizeof(T) != 0)
        return -1;
    const int64_t head = (int64_t)((16 - a % 16) % 16 / sizeof(T));
    return sf_loss_vectors_fit<T, TY, V>(sf_loss_advance<T, TY>(p, head)) ? head : -1;
}

/* pos_weight read a vector at a time: every vector of elements starts at a column that is
 * a multiple of V and ends in the same row (cols % V == 0, col0 % V == 0), at a 16-byte
 * boundary of pos_weight; the column walked in 32 bits (cols < 2^31, so col + col_step
 * cannot wrap). */
template <typename T, int V> bool sf_loss_pos_weight_vectors(const sf_loss_params &p)
{
    return p.cols % V == 0 && p.col0 % V == 0 && p.cols <= INT32_MAX && sf_aligned(p.pos_weight, 16);
}

/* The fused pass for a [rows, cols] loss: a view at an element offset runs its first few
 * elements (fewer than a vector) through the scalar kernel and the rest through a vector
 * kernel (Specialised's, or the generic one); pointers at different offsets take the
 * scalar kernel throughout. A reduced loss then sums both launches' partials, the scalar
 * one's first, in one fixed-order final pass. */
template <typename Op, typename T, typename TY, typename Specialised>
sigfuse_status sf_cuda_loss_launch(sigfuse_ctx *ctx, Op op, sf_loss_params p, sigfuse_reduction reduction,
                                   float *loss_scalar)
{
    constexpr int V = sf_vec_width<T>();
    sf_cuda_state *s = sf_cuda_of(ctx);
    double *scratch = loss_scalar != nullptr ? s->scratch : nullptr;
    const int64_t max_blocks = (int64_t)s->scratch_doubles;
    int64_t partials = 0;
    if (p.n > 0) {
        const int64_t head = sf_loss_head<T, TY, V>(p);
        const int64_t scalar_n = head < 0 || head > p.n ? p.n : head;
        if (scalar_n > 0) {
            sf_loss_params q = p;
            q.n = scalar_n;
            q.loss_partials = scratch;
            unsigned blocks = 0;
            SF_TRY((sf_cuda_loss_launch_f<Op, T, TY, 1, SF_LF_GENERIC>(ctx, op, q, max_blocks, &blocks)));
            partials = blocks;
        }
        if (p.n > scalar_n) {
            sf_loss_params q = sf_loss_advance<T, TY>(p, scalar_n);
            q.loss_partials = scratch ? scratch + partials : nullptr;
            unsigned features = sf_loss_features_of(q);
            if ((features & SF_LF_POS_WEIGHT) && !sf_loss_pos_weight_vectors<T, V>(q))
                features |= SF_LF_GENERIC;   /* no specialised kernel: the generic one */
            unsigned blocks = 0;
            SF_TRY(Specialised::launch(ctx, features, op, q, max_blocks - partials, &blocks));
            partials += blocks;
        }
    }
    if (loss_scalar != nullptr)
        return sf_cuda_finish_loss(ctx, s->scratch, partials, reduction, p.mean_count, loss_scalar);
    return SIGFUSE_SUCCESS;
}

/* ---- The op families (one .cu each) --------------------------------------------------------- */

sigfuse_status sf_cuda_activation(sigfuse_ctx *ctx, const sf_ew_call *call);   /* activation.cu */
sigfuse_status sf_cuda_glu(sigfuse_ctx *ctx, const sf_ew_call *call);          /* glu.cu */
sigfuse_status sf_cuda_lstm_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a);
sigfuse_status sf_cuda_lstm_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a);
sigfuse_status sf_cuda_gru_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a);
sigfuse_status sf_cuda_gru_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a);
sigfuse_status sf_cuda_bce(sigfuse_ctx *ctx, const sigfuse_bce_args *a);
sigfuse_status sf_cuda_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a);
size_t sf_cuda_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, int64_t chunk_rows);
size_t sf_cuda_head_train_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows);
sigfuse_status sf_cuda_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a);
sigfuse_status sf_cuda_head_train(sigfuse_ctx *ctx, const sigfuse_head_train_args *a);

#endif /* SF_CUDA_H */
