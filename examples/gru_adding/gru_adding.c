/* SPDX-License-Identifier: MIT */
/*
 * A GRU on the adding problem, trained with sigfuse's gru_cell forward and backward.
 *
 * Each sequence has T steps of (value, marker): values are uniform in [0, 1), exactly two
 * markers are 1 (one in each half of the sequence), and the target is the sum of the two
 * marked values. A linear readout of the last hidden state predicts it; the loss is the
 * mean squared error. Predicting the mean (1.0) scores Var(u1 + u2) = 2/12 = 0.1667, so a
 * loss well under that means the network learned to find and add the marked values.
 *
 * sigfuse runs the cell (gates, nonlinearities, the state update, and in backward the
 * gradients of both projections, dh_prev and the bias gradients); the products with the
 * weights are plain loops on the host, so on opencl/cuda the small per-step tensors are
 * copied between host and device around each cell. Backpropagation through time:
 *   dgates_x -> dW_ih (and dx), dgates_h -> dW_hh and, through W_hh, the rest of dh_prev
 *   (the cell's dh_prev is only the direct path z * dh: it cannot know W_hh).
 * Adam with the gradient's global norm clipped at 1.
 *
 * Usage: gru_adding [--backend cpu|opencl|cuda] [--steps N] [--seq-len T] [--hidden H]
 *                   [--batch B] [--lr LR] [--seed S] [--target-mse M]
 * The backend also comes from SIGFUSE_BACKEND (default cpu). Exit status: 0 when the
 * held-out MSE reaches --target-mse within --steps, 1 when it does not (or on an error),
 * 77 when the backend is not built or has no device (ctest's "skipped").
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_backend.h"
#include "example_util.h"
#include "sigfuse.h"

/* ---- Small helpers --------------------------------------------------------------------- */

static int rng_below(example_rng *r, int n) { return (int)(example_rng_uniform(r) * n); }

/* ---- The model --------------------------------------------------------------------------- */

enum { IN = 2 };   /* (value, marker) */

typedef struct params {
    int H;
    float *w_ih;   /* [3H, IN] (PyTorch weight_ih_l0) */
    float *w_hh;   /* [3H, H] */
    float *b_ih;   /* [3H] */
    float *b_hh;   /* [3H] */
    float *w_out;  /* [H] readout */
    float *b_out;  /* [1] */
} params;

/* All parameters live in one array so that Adam and clipping are one loop. */
typedef struct flat {
    float *v;
    size_t n;
} flat;

static params params_view(float *v, int H)
{
    params p;
    p.H = H;
    p.w_ih = v;
    p.w_hh = p.w_ih + (size_t)3 * H * IN;
    p.b_ih = p.w_hh + (size_t)3 * H * H;
    p.b_hh = p.b_ih + 3 * H;
    p.w_out = p.b_hh + 3 * H;
    p.b_out = p.w_out + H;
    return p;
}

static size_t params_count(int H) { return (size_t)3 * H * IN + (size_t)3 * H * H + 6 * (size_t)H + H + 1; }

/* A batch of B sequences: x [T, B, IN] (time-major, as the recurrence walks it), y [B]. */
static void make_batch(example_rng *r, int T, int B, float *x, float *y)
{
    for (int b = 0; b < B; b++) {
        int first = rng_below(r, T / 2), second = T / 2 + rng_below(r, T - T / 2);
        y[b] = 0.0f;
        for (int t = 0; t < T; t++) {
            float v = (float)example_rng_uniform(r), mark = (t == first || t == second) ? 1.0f : 0.0f;
            x[((size_t)t * B + b) * IN + 0] = v;
            x[((size_t)t * B + b) * IN + 1] = mark;
            if (mark != 0.0f)
                y[b] += v;
        }
    }
}

/* Everything one forward and backward pass over T steps of B sequences needs; the
 * per-step tensors sit side by side and each step's cell gets views at byte offsets. */
typedef struct work {
    int T, B, H;
    example_mirror gx;          /* [T, B, 3H] input projections */
    example_mirror gh;          /* [T, B, 3H] hidden projections */
    example_mirror hs;          /* [T + 1, B, H] hidden states; hs[0] = 0 */
    example_mirror b_ih, b_hh;  /* [3H] the biases, as the cells read them */
    example_mirror dh;          /* [B, H] gradient reaching h_t */
    example_mirror dgx, dgh;    /* [B, 3H] */
    example_mirror dh_prev;     /* [B, H] the cell's direct part of dh_{t-1} */
    example_mirror dbx, dbh;    /* [T, 3H] per-step bias gradients, summed on the host at the end */
    float *pred;                /* [B] */
    float *dh_host;             /* [B, H] */
} work;

static void work_init(example_device *d, work *w, int T, int B, int H)
{
    w->T = T;
    w->B = B;
    w->H = H;
    example_mirror_init(d, &w->gx, (size_t)T * B * 3 * H);
    example_mirror_init(d, &w->gh, (size_t)T * B * 3 * H);
    example_mirror_init(d, &w->hs, (size_t)(T + 1) * B * H);
    example_mirror_init(d, &w->b_ih, (size_t)3 * H);
    example_mirror_init(d, &w->b_hh, (size_t)3 * H);
    example_mirror_init(d, &w->dh, (size_t)B * H);
    example_mirror_init(d, &w->dgx, (size_t)B * 3 * H);
    example_mirror_init(d, &w->dgh, (size_t)B * 3 * H);
    example_mirror_init(d, &w->dh_prev, (size_t)B * H);
    example_mirror_init(d, &w->dbx, (size_t)T * 3 * H);
    example_mirror_init(d, &w->dbh, (size_t)T * 3 * H);
    w->pred = (float *)example_xcalloc((size_t)B, sizeof(float));
    w->dh_host = (float *)example_xcalloc((size_t)B * H, sizeof(float));
}

static void work_free(example_device *d, work *w)
{
    example_mirror *all[] = {&w->gx,  &w->gh,  &w->hs,      &w->b_ih, &w->b_hh, &w->dh,
                             &w->dgx, &w->dgh, &w->dh_prev, &w->dbx,  &w->dbh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        example_mirror_free(d, all[i]);
    free(w->pred);
    free(w->dh_host);
}

/* Forward over the sequence; returns the MSE against y and leaves predictions in w->pred. */
static double forward(example_device *d, work *w, const params *p, const float *x, const float *y)
{
    const int T = w->T, B = w->B, H = w->H, G = 3 * H;
    memcpy(w->b_ih.host, p->b_ih, sizeof(float) * G);
    memcpy(w->b_hh.host, p->b_hh, sizeof(float) * G);
    example_mirror_push(d, &w->b_ih, 0, (size_t)G);
    example_mirror_push(d, &w->b_hh, 0, (size_t)G);
    memset(w->hs.host, 0, sizeof(float) * (size_t)B * H);
    example_mirror_push(d, &w->hs, 0, (size_t)B * H);

    for (int t = 0; t < T; t++) {
        const size_t g0 = (size_t)t * B * G, h0 = (size_t)t * B * H, h1 = (size_t)(t + 1) * B * H;
        const float *xt = x + (size_t)t * B * IN, *hp = w->hs.host + h0;
        float *gx = w->gx.host + g0, *gh = w->gh.host + g0;
        for (int b = 0; b < B; b++) {
            for (int k = 0; k < G; k++) {
                const float *wi = p->w_ih + (size_t)k * IN, *wh = p->w_hh + (size_t)k * H;
                float sx = 0.0f, sh = 0.0f;
                for (int i = 0; i < IN; i++)
                    sx += wi[i] * xt[b * IN + i];
                for (int j = 0; j < H; j++)
                    sh += wh[j] * hp[(size_t)b * H + j];
                gx[(size_t)b * G + k] = sx;
                gh[(size_t)b * G + k] = sh;
            }
        }
        example_mirror_push(d, &w->gx, g0, (size_t)B * G);
        example_mirror_push(d, &w->gh, g0, (size_t)B * G);

        sigfuse_buffer bgx = example_mirror_at(&w->gx, g0), bgh = example_mirror_at(&w->gh, g0);
        sigfuse_buffer hprev = example_mirror_at(&w->hs, h0), hnext = example_mirror_at(&w->hs, h1);
        sigfuse_gru_forward_args a = {
            .batch = B, .hidden = H, .gates_x = &bgx, .gates_h = &bgh,
            .bias_x = &w->b_ih.dev, .bias_h = &w->b_hh.dev, .h_prev = &hprev, .h = &hnext,
        };
        example_check(d->ctx, sigfuse_gru_cell_forward(d->ctx, &a), "sigfuse_gru_cell_forward");
        example_mirror_pull(d, &w->hs, h1, (size_t)B * H);
    }

    double sse = 0.0;
    const float *hT = w->hs.host + (size_t)T * B * H;
    for (int b = 0; b < B; b++) {
        float s = p->b_out[0];
        for (int j = 0; j < H; j++)
            s += p->w_out[j] * hT[(size_t)b * H + j];
        w->pred[b] = s;
        sse += ((double)s - y[b]) * ((double)s - y[b]);
    }
    return sse / B;
}

/* Backward through time after forward(); writes the gradient of the MSE into g. */
static void backward(example_device *d, work *w, const params *p, const float *x, const float *y, params *g)
{
    const int T = w->T, B = w->B, H = w->H, G = 3 * H;
    memset(g->w_ih, 0, sizeof(float) * params_count(H));   /* g's arrays are contiguous */

    /* The readout: d(MSE)/d pred = 2 (pred - y) / B. */
    const float *hT = w->hs.host + (size_t)T * B * H;
    for (int b = 0; b < B; b++) {
        float dp = 2.0f * (w->pred[b] - y[b]) / (float)B;
        g->b_out[0] += dp;
        for (int j = 0; j < H; j++) {
            g->w_out[j] += dp * hT[(size_t)b * H + j];
            w->dh_host[(size_t)b * H + j] = dp * p->w_out[j];
        }
    }

    for (int t = T - 1; t >= 0; t--) {
        const size_t g0 = (size_t)t * B * G, h0 = (size_t)t * B * H;
        memcpy(w->dh.host, w->dh_host, sizeof(float) * (size_t)B * H);
        example_mirror_push(d, &w->dh, 0, (size_t)B * H);

        sigfuse_buffer bgx = example_mirror_at(&w->gx, g0), bgh = example_mirror_at(&w->gh, g0);
        sigfuse_buffer hprev = example_mirror_at(&w->hs, h0);
        sigfuse_buffer dbx = example_mirror_at(&w->dbx, (size_t)t * G);
        sigfuse_buffer dbh = example_mirror_at(&w->dbh, (size_t)t * G);
        sigfuse_gru_backward_args a = {
            .batch = B, .hidden = H, .gates_x = &bgx, .gates_h = &bgh,
            .bias_x = &w->b_ih.dev, .bias_h = &w->b_hh.dev, .h_prev = &hprev, .dh = &w->dh.dev,
            .dgates_x = &w->dgx.dev, .dgates_h = &w->dgh.dev, .dh_prev = &w->dh_prev.dev,
            .dbias_x = &dbx, .dbias_h = &dbh,
        };
        example_check(d->ctx, sigfuse_gru_cell_backward(d->ctx, &a), "sigfuse_gru_cell_backward");
        example_mirror_pull(d, &w->dgx, 0, (size_t)B * G);
        example_mirror_pull(d, &w->dgh, 0, (size_t)B * G);
        example_mirror_pull(d, &w->dh_prev, 0, (size_t)B * H);

        const float *xt = x + (size_t)t * B * IN, *hp = w->hs.host + h0;
        for (int b = 0; b < B; b++) {
            const float *dgx = w->dgx.host + (size_t)b * G, *dgh = w->dgh.host + (size_t)b * G;
            float *dhp = w->dh_host + (size_t)b * H;
            for (int j = 0; j < H; j++)
                dhp[j] = w->dh_prev.host[(size_t)b * H + j];
            for (int k = 0; k < G; k++) {
                float *gwi = g->w_ih + (size_t)k * IN, *gwh = g->w_hh + (size_t)k * H;
                const float *wh = p->w_hh + (size_t)k * H;
                for (int i = 0; i < IN; i++)
                    gwi[i] += dgx[k] * xt[b * IN + i];
                for (int j = 0; j < H; j++) {
                    gwh[j] += dgh[k] * hp[(size_t)b * H + j];
                    dhp[j] += dgh[k] * wh[j];
                }
            }
        }
    }

    example_mirror_pull(d, &w->dbx, 0, (size_t)T * G);
    example_mirror_pull(d, &w->dbh, 0, (size_t)T * G);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < G; k++) {
            g->b_ih[k] += w->dbx.host[(size_t)t * G + k];
            g->b_hh[k] += w->dbh.host[(size_t)t * G + k];
        }
}

/* ---- Training ------------------------------------------------------------------------------- */

typedef struct options {
    const char *backend;
    int steps, T, H, B, eval_every;
    double lr, target_mse;
    uint64_t seed;
} options;

static void usage(void)
{
    fprintf(stderr,
            "usage: gru_adding [--backend cpu|opencl|cuda] [--steps N] [--seq-len T] [--hidden H]\n"
            "                  [--batch B] [--lr LR] [--seed S] [--target-mse M]\n"
            "The backend also comes from SIGFUSE_BACKEND (default cpu). Exits 1 when the held-out\n"
            "MSE is not below --target-mse after --steps steps, 77 when the backend is absent.\n");
    exit(1);
}

static options parse(int argc, char **argv)
{
    options o;
    o.backend = example_backend_default();
    o.steps = 3000;
    o.T = 20;
    o.H = 24;
    o.B = 32;
    o.eval_every = 50;
    o.lr = 1e-2;
    o.target_mse = 0.01;
    o.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        char *end;
        if (strcmp(a, "--backend") == 0) {
            o.backend = v;
            continue;
        }
        double num = strtod(v, &end);
        if (*end || end == v)
            usage();
        if (strcmp(a, "--steps") == 0)
            o.steps = (int)num;
        else if (strcmp(a, "--seq-len") == 0)
            o.T = (int)num;
        else if (strcmp(a, "--hidden") == 0)
            o.H = (int)num;
        else if (strcmp(a, "--batch") == 0)
            o.B = (int)num;
        else if (strcmp(a, "--lr") == 0)
            o.lr = num;
        else if (strcmp(a, "--seed") == 0)
            o.seed = (uint64_t)num;
        else if (strcmp(a, "--target-mse") == 0)
            o.target_mse = num;
        else
            usage();
    }
    if (o.steps < 1 || o.T < 2 || o.H < 1 || o.B < 1 || !(o.lr > 0) || !(o.target_mse > 0))
        usage();
    return o;
}

int main(int argc, char **argv)
{
    example_program = "gru_adding";
    options o = parse(argc, argv);
    example_device d;
    int rc = example_device_open(&d, o.backend, 1);
    if (rc)
        return rc;

    /* A held-out set: the same 512 sequences are scored at every report. */
    const int EVAL_B = 512;
    printf("gru_adding: backend %s (%s), T = %d, hidden %d, batch %d, Adam lr %g, clip 1, seed %llu\n",
           o.backend, sigfuse_ctx_device_name(d.ctx), o.T, o.H, o.B, o.lr, (unsigned long long)o.seed);

    example_rng r = {o.seed};
    example_rng eval_rng = {o.seed ^ 0x5EEDF00Dull};
    float *ex = (float *)example_xcalloc((size_t)o.T * EVAL_B * IN, sizeof(float));
    float *ey = (float *)example_xcalloc((size_t)EVAL_B, sizeof(float));
    make_batch(&eval_rng, o.T, EVAL_B, ex, ey);
    double mean = 0.0, baseline = 0.0;
    for (int b = 0; b < EVAL_B; b++)
        mean += ey[b] / EVAL_B;
    for (int b = 0; b < EVAL_B; b++)
        baseline += (ey[b] - 1.0) * (ey[b] - 1.0) / EVAL_B;
    printf("baseline: predicting the mean (1.0) gives MSE 0.1667 in theory (Var of a sum of two U(0,1)), "
           "%.4f on the held-out set (its mean is %.3f)\n",
           baseline, mean);
    printf("goal: held-out MSE below %g within %d steps\n", o.target_mse, o.steps);

    /* PyTorch's GRU initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter. */
    const size_t np = params_count(o.H);
    float *pv = (float *)example_xcalloc(np, sizeof(float)), *gv = (float *)example_xcalloc(np, sizeof(float));
    float *m1 = (float *)example_xcalloc(np, sizeof(float)), *m2 = (float *)example_xcalloc(np, sizeof(float));
    params p = params_view(pv, o.H), g = params_view(gv, o.H);
    const double k = 1.0 / sqrt((double)o.H);
    for (size_t i = 0; i < np; i++)
        pv[i] = (float)((2.0 * example_rng_uniform(&r) - 1.0) * k);

    work train, eval;
    work_init(&d, &train, o.T, o.B, o.H);
    work_init(&d, &eval, o.T, EVAL_B, o.H);
    float *x = (float *)example_xcalloc((size_t)o.T * o.B * IN, sizeof(float));
    float *y = (float *)example_xcalloc((size_t)o.B, sizeof(float));

    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, clip = 1.0;
    const double t0 = example_now_s();
    double running = 0.0, best = INFINITY;
    int reached = 0, step;
    for (step = 1; step <= o.steps; step++) {
        make_batch(&r, o.T, o.B, x, y);
        double loss = forward(&d, &train, &p, x, y);
        backward(&d, &train, &p, x, y, &g);
        running = step == 1 ? loss : 0.95 * running + 0.05 * loss;

        /* Gradients through 20 steps of tanh and sigmoid can spike: clip the global norm. */
        double norm2 = 0.0;
        for (size_t i = 0; i < np; i++)
            norm2 += (double)gv[i] * gv[i];
        const double scale = sqrt(norm2) > clip ? clip / sqrt(norm2) : 1.0;
        const double c1 = 1.0 - pow(b1, step), c2 = 1.0 - pow(b2, step);
        for (size_t i = 0; i < np; i++) {
            double gi = gv[i] * scale;
            m1[i] = (float)(b1 * m1[i] + (1.0 - b1) * gi);
            m2[i] = (float)(b2 * m2[i] + (1.0 - b2) * gi * gi);
            pv[i] -= (float)(o.lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + eps));
        }

        if (step % o.eval_every == 0 || step == o.steps) {
            double mse = forward(&d, &eval, &p, ex, ey);
            if (mse < best)
                best = mse;
            printf("step %5d  train MSE %.5f  held-out MSE %.5f  (%.1f s)\n", step, running, mse, example_now_s() - t0);
            fflush(stdout);
            if (mse < o.target_mse) {
                reached = 1;
                break;
            }
        }
    }

    /* A few held-out sequences: what the network adds up against the truth. */
    forward(&d, &eval, &p, ex, ey);
    for (int b = 0; b < 4; b++)
        printf("sequence %d: target %.3f, predicted %.3f\n", b, ey[b], eval.pred[b]);
    if (reached)
        printf("reached held-out MSE %.5f < %g at step %d (baseline 0.1667) in %.1f s on %s\n", best, o.target_mse,
               step, example_now_s() - t0, o.backend);
    else
        printf("FAILED: best held-out MSE %.5f is not below %g after %d steps (baseline 0.1667)\n", best,
               o.target_mse, o.steps);

    work_free(&d, &train);
    work_free(&d, &eval);
    free(ex), free(ey), free(x), free(y), free(pv), free(gv), free(m1), free(m2);
    example_device_close(&d);
    return reached ? 0 : 1;
}
