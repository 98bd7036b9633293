/*
 * Multi-label head Z = X W^T + b (X [N, D], W [L, D]): predict (logits, sigmoid, labels)
 * and the fused BCE train step (loss, dX = G W, dW = G^T X, db), walking row chunks that
 * fit the caller's workspace, never all N x L logits. Bound by the GEMMs (2 N L D FLOPs
 * each for Z, dX, dW); the epilogue moves ~12 B per logit, < 10 % of the time once D >= 64.
 * Target: the same cuBLAS products alone plus that epilogue.
 */
/* cuBLAS: cublasGemmEx with f32 accumulation (CUBLAS_COMPUTE_32F, default math mode, so no
 * TF32) and data types matching the storage dtype. It is deterministic for a fixed
 * configuration on one GPU (the context's fixed workspace, no split-K atomics) unless
 * CUBLAS_WORKSPACE_CONFIG or a per-stream workspace setup changes its algorithm choice. */
#include "sf_cuda.h"

namespace {

/* ---- Workspace layout ------------------------------------------------------------------ */

#define SF_WS_ALIGN ((size_t)256)

static size_t align_up(size_t v) { return (v + SF_WS_ALIGN - 1) / SF_WS_ALIGN * SF_WS_ALIGN; }

/* Saturating arithmetic: an impossible request never looks satisfiable. */
static size_t sat_mul(size_t a, size_t b) { return (a != 0 && b > SIZE_MAX / a) ? SIZE_MAX : a * b; }
static size_t sat_add(size_t a, size_t b) { return b > SIZE_MAX - a ? SIZE_MAX : a + b; }
static size_t sat_align(size_t v) { return v > SIZE_MAX - SF_WS_ALIGN ? SIZE_MAX : align_up(v); }

/* Byte offsets (from a 256-aligned base) of the train step's workspace regions. */
struct train_layout {
    size_t z;       /* f32 [chunk, L]: logits, then (f32 storage) the gradient in place */
    size_t g;       /* T [chunk, L]: the gradient in the storage dtype for the products (f16/bf16) */
    size_t dw;      /* f32 [L, D]: dW accumulator (f16/bf16 with dw) */
    size_t db;      /* double [L]: dbias accumulator */
    size_t loss;    /* double [1]: loss accumulator */
    size_t total;   /* including the slack for aligning the caller's pointer */
};

static train_layout layout_train(const sigfuse_head_train_args *a, size_t elem, int64_t chunk)
{
    const bool narrow = elem != sizeof(float);
    const size_t cl = sat_mul((size_t)chunk, (size_t)a->l);
    train_layout t;
    size_t off = 0;
    t.z = off;
    off = sat_add(off, sat_align(sat_mul(cl, sizeof(float))));
    t.g = off;
    if (narrow && (a->dx || a->dw))
        off = sat_add(off, sat_align(sat_mul(cl, elem)));
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

static size_t predict_bytes(const sigfuse_head_predict_args *a, int64_t chunk)
{
    return sat_add(sat_align(sat_mul(sat_mul((size_t)chunk, (size_t)a->l), sizeof(float))), SF_WS_ALIGN);
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

/* Z[rows, L] (row-major, f32) = X[r0 : r0 + rows, :] W^T. Row-major Z is column-major
 * Z^T [L, rows] = W (as col-major D x L, transposed) times X^T (col-major D x rows). */
template <typename T>
sigfuse_status logits_chunk(sigfuse_ctx *ctx, const T *x, const T *w, int64_t rows, int64_t d, int64_t l, float *z)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (d == 0) {   /* an empty dot product: cuBLAS rejects lda = 0 */
        SF_CUDA_TRY(ctx, cudaMemsetAsync(z, 0, (size_t)rows * (size_t)l * sizeof(float), s->stream));
        return SIGFUSE_SUCCESS;
    }
    return gemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, l, rows, d, 1.0f, w, cuda_type<T>(), d, x, cuda_type<T>(), d, 0.0f, z,
                CUDA_R_32F, l);
}

/* ---- Tiling of the epilogues ([rows, L], threads along labels) ---------------------------- */

struct head_geom {
    dim3 block, grid;
    bool col_partials;   /* grid.y > 1 and the column sums go through scratch partials */
};

/* Scratch use of the train epilogue: [grid.y][L] column partials, then [grid.y][grid.x]
 * loss partials. A pure function of (kernel, rows, L, device): deterministic sums. One wave
 * of the kernel's occupancy (blocks_per_sm), as sf_tile_for. */
static head_geom geom_for(const sf_cuda_state *s, int blocks_per_sm, int64_t rows, int64_t l, bool sums)
{
    head_geom g;
    unsigned bx = 1;
    while (bx < 32 && (int64_t)bx < l)
        bx <<= 1;
    unsigned by = SF_BLOCK / bx;
    int64_t gx = (l + bx - 1) / bx;
    const int64_t half = (int64_t)(s->scratch_doubles / 2);
    if (gx > half)
        gx = half;   /* the kernel loops over further label tiles */
    if (gx < 1)
        gx = 1;
    int64_t gy = (rows + by - 1) / by;
    int64_t cap = (int64_t)s->sm_count * blocks_per_sm / gx;
    if (gy > cap)
        gy = cap;
    if (gy > 65535)
        gy = 65535;
    if (sums) {
        int64_t fit = (int64_t)(s->scratch_doubles / (size_t)(l + gx));
        if (gy > fit)
            gy = fit;
    }
    if (gy < 1)
        gy = 1;
    g.block = dim3(bx, by, 1);
    g.grid = dim3((unsigned)gx, (unsigned)gy, 1);
    g.col_partials = sums && gy > 1;
    return g;
}

/* Rows a thread of an epilogue loads before it computes any of them (sf_tile_rows). Each
 * thread walks many rows of a chunk (128 for 8192 rows and 4096 labels on an H100 with one
 * row at a time), one after another: a row's loads are issued after the previous row's
 * stores, which may alias them (the f32 gradient overwrites the logits). With one row in
 * flight, 6 to 8 bytes a thread, the pass runs at the latency of its rows rather than at
 * the copy rate; the bf16 train step of the H100 run of 2026-11-24 is consistent with that
 * (bench/NOTES.md). A row's state is two registers. Build with -DSF_HEAD_ROWS=1 to compare. */
#ifndef SF_HEAD_ROWS
#define SF_HEAD_ROWS 4
#endif

/* ---- Predict epilogue: z = Z + b, then logits / sigmoid / labels ------------------------ */

struct predict_params {
    int64_t rows, l;
    const float *z;
    const void *bias;
    void *logits, *probs, *labels;   /* already offset to the chunk's first row */
    int labels_u8;
    float threshold;
};

/* At least 6 blocks an SM (40 registers, no spills): with SF_HEAD_ROWS = 4 rows nvcc would
 * take 45-48 and fit 5 (nvcc -Xptxas -v, sm_90). The train epilogue is left unbounded: at
 * 64 registers (4 blocks) it holds its 4 rows without spilling, and bounds of 6 or 8
 * blocks made it spill 64-156 bytes. */
template <typename T>
__global__ void __launch_bounds__(SF_BLOCK, SF_MIN_BLOCKS(6)) predict_kernel(predict_params p)
{
    const T *bias = (const T *)p.bias;
    T *logits = (T *)p.logits, *probs = (T *)p.probs;
    for (int64_t j0 = (int64_t)blockIdx.x * blockDim.x; j0 < p.l; j0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = j0 + threadIdx.x;
        if (j >= p.l)
            continue;
        const float b = bias ? sf_to_float(bias[j]) : 0.0f;
        sf_tile_rows<SF_HEAD_ROWS, float>(
            p.rows, [&](int64_t r, float &zr) { zr = p.z[r * p.l + j]; },
            [&](int64_t r, float zr) {
                const int64_t e = r * p.l + j;
                const float z = zr + b;
                const float pr = sf_sigmoid(z);
                if (logits)
                    logits[e] = sf_from_float<T>(z);
                if (probs)
                    probs[e] = sf_from_float<T>(pr);
                if (p.labels)
                    sf_store_label<T>(p.labels, p.labels_u8, e, pr, p.threshold);
            });
    }
}

/* ---- Train epilogue: Z -> G (raw BCE gradient), loss and column partials ---------------- */

struct train_params {
    int64_t rows, l;
    float *z;                 /* [rows, L] f32; G replaces it when g is NULL */
    void *g;                  /* T [rows, L] (f16/bf16) */
    const void *bias;         /* T [L] */
    const void *targets;      /* TY, already offset to the chunk */
    const void *pos_weight;   /* T [L] */
    double *db_acc;           /* [L]: += column sums directly (grid.y == 1) */
    double *col_partials;     /* [grid.y][L] (grid.y > 1) */
    double *loss_partials;    /* [grid.y][grid.x] when the loss is wanted */
};

template <typename T, typename TY> __global__ void __launch_bounds__(SF_BLOCK) train_kernel(train_params p)
{
    __shared__ double col[SF_BLOCK];
    __shared__ double warp_sums[32];
    const T *bias = (const T *)p.bias, *pw = (const T *)p.pos_weight;
    const TY *targets = (const TY *)p.targets;
    T *g_out = (T *)p.g;
    const bool sums = p.db_acc != nullptr || p.col_partials != nullptr;
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    double loss = 0.0;
    /* Uniform across the block (depends on blockIdx only): the barriers are safe. */
    for (int64_t j0 = (int64_t)blockIdx.x * blockDim.x; j0 < p.l; j0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = j0 + threadIdx.x;
        double acc = 0.0;
        if (j < p.l) {
            const float b = bias ? sf_to_float(bias[j]) : 0.0f;
            const float pj = pw ? sf_to_float(pw[j]) : 1.0f;
            struct row_in {
                float z;
                TY y;
            };
            sf_tile_rows<SF_HEAD_ROWS, row_in>(
                p.rows,
                [&](int64_t r, row_in &in) {
                    in.z = p.z[r * p.l + j];
                    in.y = targets[r * p.l + j];
                },
                [&](int64_t r, const row_in &in) {
                    const int64_t e = r * p.l + j;
                    const float z = in.z + b;
                    const float y = sf_to_float(in.y);
                    float g, sig;   /* sig: not an output of the train step */
                    if (p.loss_partials) {
                        float lo;
                        sf_bce_loss_grad(z, y, 1.0f, pj, &lo, &g, &sig);
                        loss += (double)lo;
                    } else {
                        g = sf_bce_grad(z, y, 1.0f, pj, &sig);
                    }
                    if (g_out)
                        g_out[e] = sf_from_float<T>(g);
                    else
                        p.z[e] = g;
                    acc += (double)g;
                });
        }
        if (!sums)
            continue;
        col[tid] = acc;
        __syncthreads();
        if (threadIdx.y == 0 && j < p.l) {
            double s = 0.0;
            for (unsigned y = 0; y < blockDim.y; y++)
                s += col[y * blockDim.x + threadIdx.x];
            if (p.col_partials)
                p.col_partials[(int64_t)blockIdx.y * p.l + j] = s;
            else
                p.db_acc[j] += s;   /* this block alone owns column j */
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

template <typename T> sigfuse_status predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const int64_t n = a->n, d = a->d, l = a->l;
    if (n == 0 || l == 0)
        return SIGFUSE_SUCCESS;
    const size_t have = a->workspace ? a->workspace_bytes : 0;
    const int64_t chunk = pick_chunk(n, have, [&](int64_t c) { return predict_bytes(a, c); });
    if (chunk < 1)
        return sf_fail(ctx, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE,
                       "head_predict: workspace of %zu bytes, the cuda backend needs at least %zu", have,
                       predict_bytes(a, 1));
    SF_TRY(cublas_bind(ctx));
    float *z = (float *)aligned_base(a->workspace);
    const T *x = (const T *)sf_dptr(a->x), *w = (const T *)sf_dptr(a->w);
    const size_t lab_elem = a->labels ? sigfuse_dtype_size(a->labels->dtype) : 0;
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
        head_geom g = geom_for(s, sf_blocks_per_sm<predict_kernel<T>>(s->device, SF_BLOCK), rows, l, false);
        predict_kernel<T><<<g.grid, g.block, 0, s->stream>>>(p);
        SF_LAUNCH_CHECK(ctx, "head_predict epilogue kernel launch");
    }
    return SIGFUSE_SUCCESS;
}

template <typename T, typename TY> sigfuse_status train(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const int64_t n = a->n, d = a->d, l = a->l;
    const bool mean = a->reduction == SIGFUSE_REDUCTION_MEAN;
    const double count = (double)n * (double)l;
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
    float *z = (float *)(base + lay.z);
    const bool narrow = sizeof(T) != sizeof(float);
    T *g16 = narrow && (dx || dw) ? (T *)(base + lay.g) : nullptr;
    float *dw_acc = narrow && dw ? (float *)(base + lay.dw) : nullptr;
    double *db_acc = dbias ? (double *)(base + lay.db) : nullptr;
    double *loss_acc = loss_out ? (double *)(base + lay.loss) : nullptr;
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
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        const int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        const T *xc = x + r0 * d;
        SF_TRY(logits_chunk<T>(ctx, xc, w, rows, d, l, z));

        head_geom g = geom_for(s, sf_blocks_per_sm<train_kernel<T, TY>>(s->device, SF_BLOCK), rows, l,
                               db_acc != nullptr);
        train_params p;
        p.rows = rows;
        p.l = l;
        p.z = z;
        p.g = g16;
        p.bias = sf_dptr(a->bias);
        p.targets = (const char *)sf_dptr(a->targets) + (size_t)(r0 * l) * y_elem;
        p.pos_weight = sf_dptr(a->pos_weight);
        p.db_acc = db_acc && !g.col_partials ? db_acc : nullptr;
        p.col_partials = g.col_partials ? s->scratch : nullptr;
        const int64_t col_doubles = g.col_partials ? (int64_t)g.grid.y * l : 0;
        p.loss_partials = loss_acc ? s->scratch + col_doubles : nullptr;
        train_kernel<T, TY><<<g.grid, g.block, 0, s->stream>>>(p);
        SF_LAUNCH_CHECK(ctx, "head_train_step epilogue kernel launch");
        if (g.col_partials || loss_acc) {
            int64_t col_blocks = g.col_partials ? (l + SF_BLOCK - 1) / SF_BLOCK : 0;
            if (col_blocks > (int64_t)s->sm_count * 8)
                col_blocks = (int64_t)s->sm_count * 8;
            chunk_fold_kernel<<<(unsigned)(col_blocks + 1), SF_BLOCK, 0, s->stream>>>(
                s->scratch, g.grid.y, l, db_acc, p.loss_partials, (int64_t)g.grid.x * g.grid.y, loss_acc);
            SF_LAUNCH_CHECK(ctx, "head_train_step chunk-fold kernel launch");
        }

        const void *gmat = g16 ? (const void *)g16 : (const void *)z;
        /* dW^T [D, L] (col-major) += alpha X_c^T G_c: A = X_c^T as col-major D x rows,
         * B = G_c^T as col-major L x rows, transposed. dW first: dX may alias X. */
        if (dw && d > 0) {
            void *c = dw_acc ? (void *)dw_acc : (void *)dw;
            SF_TRY(gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, d, l, rows, alpha, xc, tt, d, gmat, tt, l, r0 == 0 ? 0.0f : 1.0f,
                        c, dw_acc ? CUDA_R_32F : tt, d));
        }
        /* dX_c^T [D, rows] = alpha W^T G_c^T: A = W as col-major D x L, B = G_c^T (L x rows). */
        if (dx && d > 0)
            SF_TRY(gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, d, rows, l, alpha, w, tt, d, gmat, tt, l, 0.0f, dx + r0 * d, tt,
                        d));
    }

    if (loss_out || dbias || dw_acc) {
        const int64_t ld = dw_acc ? l * d : 0;
        const int64_t work = ld > l ? ld : l;
        int64_t blocks = (work + SF_BLOCK - 1) / SF_BLOCK;
        if (blocks > (int64_t)s->sm_count * 8)
            blocks = (int64_t)s->sm_count * 8;
        if (blocks < 1)
            blocks = 1;
        train_finish_kernel<T><<<(unsigned)blocks, SF_BLOCK, 0, s->stream>>>(
            loss_acc, mean, count, loss_out, db_acc, (double)alpha, dbias, l, dw_acc, dw, ld);
        SF_LAUNCH_CHECK(ctx, "head_train_step finish kernel launch");
    }
    return SIGFUSE_SUCCESS;
}

} // namespace

size_t sf_cuda_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, int64_t chunk_rows)
{
    (void)ctx;
    if (a->n == 0 || a->l == 0 || chunk_rows <= 0)
        return 0;
    return predict_bytes(a, chunk_rows);
}

size_t sf_cuda_head_train_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows)
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

sigfuse_status sf_cuda_head_train(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    return sf_cuda_dispatch(ctx, "head_train_step", a->x->dtype, [&](auto tag) {
        using T = decltype(tag);
        if (a->targets->dtype == SIGFUSE_U8)
            return train<T, uint8_t>(ctx, a);
        return train<T, T>(ctx, a);
    });
}
