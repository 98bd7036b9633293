/* SPDX-License-Identifier: MIT */
/*
 * BCE + soft Dice over [images, pixels] (sigfuse.h; the reference is ref/bce_dice.c). Two
 * passes: the per-image sums I = sum p y, U = sum p + sum y and the BCE sum (logits,
 * targets, mask read: 9 B a pixel in f32, 5 B in bf16 + u8 targets, +1 B with a mask), then
 * the gradient (read again, dlogits written: 12 B in f32, 7 B in bf16 + u8). Budget
 * (docs/design.md, Performance): 7.75 SASS instructions per byte on the H200.
 *
 * Work is split into chunks of one image's pixels, one warp a chunk, so that many small
 * images (a chunk each) and a few huge ones (many chunks each) both give every SM warps.
 * Each chunk's sums are partials in the context scratch, summed per image by a warp in a
 * fixed order, then over images by one block: bitwise the same on every run on a device.
 * Images that need more partials than the scratch holds are processed in groups, each
 * group sums, finishes its images and writes its gradient before the next reuses the
 * partials; the groups' loss terms are summed last. MEAN with a mask counts the kept
 * pixels first (the BCE term's gradient scale).
 */
#include "sf_math.h"

#include "dtype.cuh"
#include "launch.cuh"
#include "reduce.cuh"
#include "sf_cuda.h"

/* Pixels a lane handles a pass: independent loads in flight (the memory model's 32 KiB an
 * SM needs 4 pixels a thread at 2048 threads and 5-9 B a pixel). */
#define SF_DICE_UNROLL 4
#define SF_DICE_WARPS (SF_BLOCK / 32)
/* A chunk is at least this many pixels (32 a lane), so its warp's reduction and stores
 * stay small next to its loads. */
#define SF_DICE_MIN_CHUNK 1024
/* Per chunk partial: I, U, BCE sum; after the image's finish its first chunk's record holds
 * D, 1 / (U + smooth), BCE sum. */
#define SF_DICE_REC 3

namespace {

struct dice_params {
    int64_t images;        /* in this group */
    int64_t pixels;
    int64_t chunks;        /* per image */
    int64_t chunk_len;     /* pixels per chunk (the last may be shorter) */
    const void *logits;    /* T, at the group's first image */
    const void *targets;   /* TY, likewise */
    const uint8_t *mask;   /* likewise (NULL: every pixel kept) */
    const void *pos_weight;/* T, [pixels] (NULL: 1) */
    void *dlogits;         /* T, at the group's first image */
    void *dice;            /* T, [images] at the group's first image (NULL: not wanted) */
    double *part;          /* [images * chunks * SF_DICE_REC] */
    float eps;             /* label smoothing of the BCE term */
    float smooth;
    int want_bce;          /* the BCE sum is needed (loss wanted, bce_weight != 0) */
    /* The gradient's factors: grad_scale * dloss_in, the weights, MEAN's divisor. */
    float grad_scale;
    const float *dloss_in;
    float bce_weight, dice_weight;
    int mean;
    double count;                    /* MEAN's divisor without a mask: images * pixels */
    const unsigned long long *kept;  /* ... with a mask: counted on the device */
    int64_t all_images;              /* the Dice mean's divisor */
};

/* The chunk of this warp: chunk k of image r of the group, pixels [j0, j1) of it; false
 * for a warp past the last chunk (the whole warp leaves together, so shuffles stay full). */
__device__ __forceinline__ bool dice_chunk(const dice_params &p, int64_t *r, int64_t *k, int64_t *j0, int64_t *j1)
{
    const int64_t w = (int64_t)blockIdx.x * SF_DICE_WARPS + threadIdx.x / 32;
    if (w >= p.images * p.chunks)
        return false;
    *r = w / p.chunks;
    *k = w % p.chunks;
    *j0 = *k * p.chunk_len;
    *j1 = *j0 + p.chunk_len < p.pixels ? *j0 + p.chunk_len : p.pixels;
    return true;
}

__device__ __forceinline__ double warp_sum(double v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* One pixel's BCE loss (ref/bce_dice.c's bce_element: w = 1) and sigma(x), with its limits
 * where the fast form's loss is not finite. */
__device__ __forceinline__ float dice_bce_loss(float x, float ys, bool has_pw, float pw, float *s)
{
    float loss, grad;
    if (has_pw)
        sf_bce_pw_loss_grad(x, ys, 1.0f, pw, &loss, &grad, s);
    else
        sf_bce_unit_loss_grad(x, ys, 1.0f, &loss, &grad, s);
    return loss;
}

/* Pass 1: a chunk's I, U and BCE sum. Each pass adds its SF_DICE_UNROLL pixels in f32 and
 * then once in double (a lane's sum and the warp's tree in double, like the loss kernel). */
template <typename T, typename TY, bool Mask>
__global__ void __launch_bounds__(SF_BLOCK) bce_dice_sums_kernel(dice_params p)
{
    int64_t r, k, j0, j1;
    if (!dice_chunk(p, &r, &k, &j0, &j1))
        return;
    const int lane = threadIdx.x % 32;
    const T *x_ptr = (const T *)p.logits + r * p.pixels;
    const TY *y_ptr = (const TY *)p.targets + r * p.pixels;
    const uint8_t *m_ptr = Mask ? p.mask + r * p.pixels : nullptr;
    const T *pw_ptr = (const T *)p.pos_weight;
    const bool has_pw = pw_ptr != nullptr, want_bce = p.want_bce != 0;
    double si = 0.0, su = 0.0, sb = 0.0;
    for (int64_t j = j0 + lane; j < j1; j += 32 * SF_DICE_UNROLL) {
        float x[SF_DICE_UNROLL], y[SF_DICE_UNROLL], pw[SF_DICE_UNROLL];
        bool kept[SF_DICE_UNROLL];
#pragma unroll
        for (int u = 0; u < SF_DICE_UNROLL; u++) {   /* every load first */
            const int64_t jj = j + 32 * u;
            const bool in = jj < j1;
            x[u] = in ? sf_to_float(x_ptr[jj]) : 0.0f;
            y[u] = in ? sf_to_float(y_ptr[jj]) : 0.0f;
            pw[u] = in && has_pw ? sf_to_float(pw_ptr[jj]) : 1.0f;
            kept[u] = in && (!Mask || m_ptr[jj] != 0);
        }
        float pi = 0.0f, pu = 0.0f, pb = 0.0f;
#pragma unroll
        for (int u = 0; u < SF_DICE_UNROLL; u++) {
            float s;
            float le = 0.0f;
            if (want_bce)
                le = dice_bce_loss(x[u], sf_smooth_target(y[u], p.eps), has_pw, pw[u], &s);
            else
                s = sf_sigmoid(x[u]);
            /* selects: an ignored pixel's NaN or inf adds nothing */
            pi += kept[u] ? s * y[u] : 0.0f;
            pu += kept[u] ? s + y[u] : 0.0f;
            pb += kept[u] ? le : 0.0f;
        }
        si += (double)pi;
        su += (double)pu;
        sb += (double)pb;
    }
    si = warp_sum(si);
    su = warp_sum(su);
    sb = warp_sum(sb);
    if (lane == 0) {
        double *rec = p.part + (r * p.chunks + k) * SF_DICE_REC;
        rec[0] = si;
        rec[1] = su;
        rec[2] = sb;
    }
}

/* Each image's chunks summed in order by one warp; D and 1 / (U + smooth) in double (the
 * reference's), written over the image's first chunk record, and D to the dice output.
 * Lane 0 alone writes, the record it alone read. */
template <typename T> __global__ void __launch_bounds__(SF_BLOCK) bce_dice_image_kernel(dice_params p)
{
    const int64_t r = (int64_t)blockIdx.x * SF_DICE_WARPS + threadIdx.x / 32;
    if (r >= p.images)
        return;
    const int lane = threadIdx.x % 32;
    double *rec = p.part + r * p.chunks * SF_DICE_REC;
    double si = 0.0, su = 0.0, sb = 0.0;
    for (int64_t k = lane; k < p.chunks; k += 32) {
        si += rec[k * SF_DICE_REC + 0];
        su += rec[k * SF_DICE_REC + 1];
        sb += rec[k * SF_DICE_REC + 2];
    }
    si = warp_sum(si);
    su = warp_sum(su);
    sb = warp_sum(sb);
    if (lane == 0) {
        const double sm = (double)p.smooth;
        const double d = (2.0 * si + sm) / (su + sm);
        rec[0] = d;
        rec[1] = 1.0 / (su + sm);
        rec[2] = sb;
        if (p.dice)
            ((T *)p.dice)[r] = sf_from_float<T>((float)d);
    }
}

/* The group's loss terms, sum (1 - D_r) and sum BCE_r, in a fixed tree: out[0], out[1]. */
__global__ void __launch_bounds__(SF_BLOCK) bce_dice_group_kernel(dice_params p, double *out)
{
    __shared__ double warp_sums[32];
    double sd = 0.0, sb = 0.0;
    for (int64_t r = threadIdx.x; r < p.images; r += blockDim.x) {
        const double *rec = p.part + r * p.chunks * SF_DICE_REC;
        sd += 1.0 - rec[0];
        sb += rec[2];
    }
    sd = sf_block_sum(sd, warp_sums);
    sb = sf_block_sum(sb, warp_sums);
    if (threadIdx.x == 0) {
        out[0] = sd;
        out[1] = sb;
    }
}

/* MEAN's divisor of the BCE term: the pixels, or the kept ones. */
__device__ __forceinline__ double dice_bce_count(const dice_params &p)
{
    return p.kept ? (double)*p.kept : p.count;
}

/* Pass 2: dlogits = grad_scale dloss_in (bce_weight dBCE/dx / count - dice_weight /
 * images (2 y - D) p (1 - p) / (U + smooth)), 0 where ignored; a weight of 0 leaves its
 * term out. Every load of a pass before its stores: dlogits may be the logits. */
template <typename T, typename TY, bool Mask>
__global__ void __launch_bounds__(SF_BLOCK) bce_dice_grad_kernel(dice_params p)
{
    int64_t r, k, j0, j1;
    if (!dice_chunk(p, &r, &k, &j0, &j1))
        return;
    const int lane = threadIdx.x % 32;
    const T *x_ptr = (const T *)p.logits + r * p.pixels;
    const TY *y_ptr = (const TY *)p.targets + r * p.pixels;
    const uint8_t *m_ptr = Mask ? p.mask + r * p.pixels : nullptr;
    const T *pw_ptr = (const T *)p.pos_weight;
    T *g_ptr = (T *)p.dlogits + r * p.pixels;
    const bool has_pw = pw_ptr != nullptr;
    const bool with_bce = p.bce_weight != 0.0f, with_dice = p.dice_weight != 0.0f;

    /* The factors in double, as the reference forms them, rounded once to f32. */
    const double sc = (double)p.grad_scale * (p.dloss_in ? (double)*p.dloss_in : 1.0);
    const float kb = (float)((double)p.bce_weight * sc / (p.mean ? dice_bce_count(p) : 1.0));
    const double *rec = p.part + r * p.chunks * SF_DICE_REC;
    const float dice = (float)rec[0];
    const float kd = (float)((double)p.dice_weight / (double)p.all_images * rec[1] * sc);

    for (int64_t j = j0 + lane; j < j1; j += 32 * SF_DICE_UNROLL) {
        float x[SF_DICE_UNROLL], y[SF_DICE_UNROLL], pw[SF_DICE_UNROLL];
        bool kept[SF_DICE_UNROLL];
#pragma unroll
        for (int u = 0; u < SF_DICE_UNROLL; u++) {
            const int64_t jj = j + 32 * u;
            const bool in = jj < j1;
            x[u] = in ? sf_to_float(x_ptr[jj]) : 0.0f;
            y[u] = in ? sf_to_float(y_ptr[jj]) : 0.0f;
            pw[u] = in && has_pw ? sf_to_float(pw_ptr[jj]) : 1.0f;
            kept[u] = !Mask || (in && m_ptr[jj] != 0);
        }
#pragma unroll
        for (int u = 0; u < SF_DICE_UNROLL; u++) {
            const int64_t jj = j + 32 * u;
            float s, sn;
            sf_sigmoid_pair(x[u], &s, &sn);
            const float ys = sf_smooth_target(y[u], p.eps);
            const float gb = (1.0f - ys) * s - (pw[u] * ys) * sn;   /* sf_bce_grad's, w = 1 */
            float g = with_bce ? kb * gb : 0.0f;
            if (with_dice)
                g += sf_dice_grad(y[u], s, sn, dice, kd);
            if (jj < j1)
                g_ptr[jj] = sf_from_float<T>(kept[u] ? g : 0.0f);
        }
    }
}

/* The loss from the groups' terms, in group order: bce_weight BCE + dice_weight mean(1 - D). */
__global__ void bce_dice_loss_kernel(dice_params p, const double *terms, int64_t groups, float *loss)
{
    double sd = 0.0, sb = 0.0;
    for (int64_t g = 0; g < groups; g++) {
        sd += terms[2 * g];
        sb += terms[2 * g + 1];
    }
    const double bce = p.mean ? sb / dice_bce_count(p) : sb;   /* MEAN of nothing: 0 / 0 = NaN */
    double l = 0.0;
    if (p.bce_weight != 0.0f)
        l += (double)p.bce_weight * bce;
    if (p.dice_weight != 0.0f)
        l += (double)p.dice_weight * (sd / (double)p.all_images);
    *loss = (float)l;
}

template <typename T, typename TY> sigfuse_status run(sigfuse_ctx *ctx, const sigfuse_bce_dice_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const int64_t images = a->images, pixels = a->pixels;
    const uint8_t *mask = (const uint8_t *)sf_dptr(a->mask);
    const bool mean = a->reduction == SIGFUSE_REDUCTION_MEAN;
    float *loss = (float *)sf_dptr(a->loss);

    /* Scratch: chunk partials in the first half, the groups' loss terms after it, the kept
     * count in the last double (sf_cuda_kept_slot). */
    const int64_t half = (int64_t)s->scratch_doubles / 2;
    double *terms = s->scratch + half;
    unsigned long long *kept = sf_cuda_kept_slot(s);

    /* Chunks: enough warps for two waves of a full device, at least SF_DICE_MIN_CHUNK
     * pixels each; then as many images a group as their partials fit in. */
    const int64_t target = (int64_t)s->sm_count * (SF_SM_THREADS / 32) * 2;
    int64_t chunks = images > 0 ? (target + images - 1) / images : 1;
    const int64_t by_size = (pixels + SF_DICE_MIN_CHUNK - 1) / SF_DICE_MIN_CHUNK;
    if (chunks > by_size)
        chunks = by_size;
    if (chunks < 1)
        chunks = 1;
    const int64_t chunk_len = (pixels + chunks - 1) / chunks;
    int64_t group = half / (chunks * SF_DICE_REC);
    if (group > images)
        group = images;
    if (group < 1)
        group = 1;
    const int64_t groups = (images + group - 1) / group;
    if (2 * groups > (int64_t)s->scratch_doubles - half - 1)
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "bce_dice: %lld images are more than the cuda scratch's %lld "
                       "groups", (long long)images, (long long)((s->scratch_doubles - half - 1) / 2));

    dice_params p = {};
    p.pixels = pixels;
    p.chunks = chunks;
    p.chunk_len = chunk_len;
    p.pos_weight = sf_dptr(a->pos_weight);
    p.part = s->scratch;
    p.eps = a->label_smoothing;
    p.smooth = a->smooth;
    p.want_bce = loss != nullptr && a->bce_weight != 0.0f;
    p.grad_scale = a->grad_scale;
    p.dloss_in = (const float *)sf_dptr(a->dloss_in);
    p.bce_weight = a->bce_weight;
    p.dice_weight = a->dice_weight;
    p.mean = mean;
    p.count = (double)(images * pixels);
    p.all_images = images;
    if (mask && mean) {
        SF_TRY(sf_cuda_mask_count(ctx, mask, images * pixels, kept));
        p.kept = kept;
    }

    const size_t t_size = sizeof(T), y_size = sizeof(TY);
    for (int64_t g = 0; g < groups; g++) {
        const int64_t first = g * group, rows = images - first < group ? images - first : group;
        const int64_t off = first * pixels;
        p.images = rows;
        p.logits = (const char *)sf_dptr(a->logits) + off * t_size;
        p.targets = (const char *)sf_dptr(a->targets) + off * y_size;
        p.mask = mask ? mask + off : nullptr;
        p.dlogits = a->dlogits ? (char *)sf_dptr(a->dlogits) + off * t_size : nullptr;
        p.dice = a->dice ? (char *)sf_dptr(a->dice) + first * t_size : nullptr;
        const unsigned chunk_blocks = (unsigned)((rows * chunks + SF_DICE_WARPS - 1) / SF_DICE_WARPS);
        const unsigned image_blocks = (unsigned)((rows + SF_DICE_WARPS - 1) / SF_DICE_WARPS);
        if (mask)
            bce_dice_sums_kernel<T, TY, true><<<chunk_blocks, SF_BLOCK, 0, s->stream>>>(p);
        else
            bce_dice_sums_kernel<T, TY, false><<<chunk_blocks, SF_BLOCK, 0, s->stream>>>(p);
        SF_LAUNCH_CHECK(ctx, "bce_dice sums kernel launch");
        bce_dice_image_kernel<T><<<image_blocks, SF_BLOCK, 0, s->stream>>>(p);
        SF_LAUNCH_CHECK(ctx, "bce_dice image kernel launch");
        if (loss) {
            bce_dice_group_kernel<<<1, SF_BLOCK, 0, s->stream>>>(p, terms + 2 * g);
            SF_LAUNCH_CHECK(ctx, "bce_dice group kernel launch");
        }
        if (p.dlogits && pixels > 0) {
            if (mask)
                bce_dice_grad_kernel<T, TY, true><<<chunk_blocks, SF_BLOCK, 0, s->stream>>>(p);
            else
                bce_dice_grad_kernel<T, TY, false><<<chunk_blocks, SF_BLOCK, 0, s->stream>>>(p);
            SF_LAUNCH_CHECK(ctx, "bce_dice gradient kernel launch");
        }
    }
    if (loss) {
        bce_dice_loss_kernel<<<1, 1, 0, s->stream>>>(p, terms, groups, loss);
        SF_LAUNCH_CHECK(ctx, "bce_dice loss kernel launch");
    }
    return SIGFUSE_SUCCESS;
}

} // namespace

sigfuse_status sf_cuda_bce_dice(sigfuse_ctx *ctx, const sigfuse_bce_dice_args *a)
{
    return sf_cuda_dispatch_targets(ctx, "bce_dice", a->logits->dtype, a->targets->dtype,
                                    [&](auto tag, auto ytag) { return run<decltype(tag), decltype(ytag)>(ctx, a); });
}
