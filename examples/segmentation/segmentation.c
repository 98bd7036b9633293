/* SPDX-License-Identifier: MIT */
/*
 * Binary segmentation trained with sigfuse_bce_dice: BCE plus soft Dice per image, with
 * unlabelled pixels ignored through the mask.
 *
 * Each image is S x S pixels with one to three discs of foreground (about a seventh of the
 * pixels: the imbalance Dice is for) seen through Gaussian noise of 0.7 times the contrast.
 * A pixel's logit is a linear function of its
 * 5 x 5 neighbourhood (25 weights and a bias, what a one-layer convolution computes), so a
 * single pixel is not enough and the model must learn to average. The outer two rows and
 * columns of every image and one pixel in twenty elsewhere carry no label: the mask leaves
 * them out of the loss, its MEAN and its gradient.
 *
 * sigfuse computes the loss, dlogits and each image's soft Dice in one call; the linear
 * layer (logits = features . w, dw = features^T . dlogits) is a plain loop on the host, so
 * on opencl/cuda the logits go to the device and their gradient comes back every step.
 * Adam. The score is the held-out hard Dice (sigma(z) > 0.5 against the labels, over the
 * labelled pixels, averaged over images); predicting all background scores 0.
 *
 * Usage: segmentation [--backend cpu|opencl|cuda] [--steps N] [--size S] [--batch B]
 *                     [--lr LR] [--seed S] [--target-dice D]
 * Exit status: 0 when the held-out Dice reaches --target-dice within --steps, 1 when it
 * does not (or on an error), 77 when the backend is not built or has no device.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_backend.h"
#include "example_util.h"
#include "sigfuse.h"

enum { K = 5, R = K / 2, NW = K * K + 1 };   /* neighbourhood, its radius, weights + bias */

typedef struct images {
    int n, S;
    float *pixels;      /* [n, S*S] what the model sees */
    uint8_t *labels;    /* [n, S*S] 1: foreground */
    uint8_t *known;     /* [n, S*S] the mask: 0 where there is no label */
} images;

static double gaussian(example_rng *r)
{
    double u = example_rng_uniform(r), v = example_rng_uniform(r);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

static void make_images(example_rng *r, int n, int S, images *im)
{
    const size_t P = (size_t)S * S;
    im->n = n, im->S = S;
    im->pixels = example_xcalloc((size_t)n * P, sizeof(float));
    im->labels = example_xcalloc((size_t)n * P, 1);
    im->known = example_xcalloc((size_t)n * P, 1);
    for (int k = 0; k < n; k++) {
        const int discs = 1 + (int)(example_rng_uniform(r) * 3);
        double cx[3], cy[3], rad[3];
        for (int d = 0; d < discs; d++) {
            cx[d] = S * (0.2 + 0.6 * example_rng_uniform(r));
            cy[d] = S * (0.2 + 0.6 * example_rng_uniform(r));
            rad[d] = S * (0.1 + 0.1 * example_rng_uniform(r));
        }
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int fg = 0;
                for (int d = 0; d < discs; d++)
                    fg |= (x - cx[d]) * (x - cx[d]) + (y - cy[d]) * (y - cy[d]) < rad[d] * rad[d];
                const size_t i = (size_t)k * P + (size_t)y * S + x;
                im->labels[i] = (uint8_t)fg;
                im->pixels[i] = (float)(fg + 0.7 * gaussian(r));
                const int border = x < 2 || y < 2 || x >= S - 2 || y >= S - 2;
                im->known[i] = !border && example_rng_uniform(r) >= 0.05;
            }
    }
}

static void free_images(images *im) { free(im->pixels), free(im->labels), free(im->known); }

/* Pixel (y, x) of image k, zero outside the image. */
static float pixel(const images *im, int k, int y, int x)
{
    const int S = im->S;
    return (y < 0 || x < 0 || y >= S || x >= S) ? 0.0f : im->pixels[(size_t)k * S * S + (size_t)y * S + x];
}

/* logits of images [first, first + n) into z. */
static void forward(const images *im, int first, int n, const float *w, float *z)
{
    const int S = im->S;
    for (int k = 0; k < n; k++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double acc = w[K * K];
                for (int dy = -R; dy <= R; dy++)
                    for (int dx = -R; dx <= R; dx++)
                        acc += w[(dy + R) * K + dx + R] * pixel(im, first + k, y + dy, x + dx);
                z[(size_t)k * S * S + (size_t)y * S + x] = (float)acc;
            }
}

/* dw = features^T . dlogits. */
static void backward(const images *im, int first, int n, const float *dz, double *dw)
{
    const int S = im->S;
    memset(dw, 0, NW * sizeof *dw);
    for (int k = 0; k < n; k++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const double g = dz[(size_t)k * S * S + (size_t)y * S + x];
                if (g == 0.0)
                    continue;
                dw[K * K] += g;
                for (int dy = -R; dy <= R; dy++)
                    for (int dx = -R; dx <= R; dx++)
                        dw[(dy + R) * K + dx + R] += g * pixel(im, first + k, y + dy, x + dx);
            }
}

/* The hard Dice over the labelled pixels of each image, averaged. */
static double hard_dice(const images *im, const float *z)
{
    const size_t P = (size_t)im->S * im->S;
    double sum = 0.0;
    for (int k = 0; k < im->n; k++) {
        double inter = 0.0, uni = 0.0;
        for (size_t j = 0; j < P; j++) {
            const size_t i = (size_t)k * P + j;
            if (!im->known[i])
                continue;
            const int pred = z[i] > 0.0f;
            inter += pred && im->labels[i];
            uni += pred + im->labels[i];
        }
        sum += uni > 0 ? 2.0 * inter / uni : 1.0;
    }
    return sum / im->n;
}

/* One batch's tensors where the context works on them. */
typedef struct batch {
    example_mirror z, dz, dice;
    example_mem labels, known, loss;
} batch;

typedef struct options {
    const char *backend;
    int steps, S, B, eval_every;
    double lr, target;
    uint64_t seed;
} options;

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: segmentation [--backend cpu|opencl|cuda] [--steps N] [--size S] [--batch B] [--lr LR] "
                    "[--seed S] [--target-dice D]\n");
    exit(1);
}

static options parse(int argc, char **argv)
{
    options o = {example_backend_default(), 300, 32, 8, 25, 0.05, 0.8, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        const double num = atof(v);
        if (strcmp(a, "--backend") == 0)
            o.backend = v;
        else if (strcmp(a, "--steps") == 0)
            o.steps = (int)num;
        else if (strcmp(a, "--size") == 0)
            o.S = (int)num;
        else if (strcmp(a, "--batch") == 0)
            o.B = (int)num;
        else if (strcmp(a, "--lr") == 0)
            o.lr = num;
        else if (strcmp(a, "--seed") == 0)
            o.seed = (uint64_t)num;
        else if (strcmp(a, "--target-dice") == 0)
            o.target = num;
        else
            usage();
    }
    if (o.steps < 1 || o.S < 8 || o.B < 1 || !(o.lr > 0) || !(o.target > 0 && o.target <= 1))
        usage();
    return o;
}

static void check_mem(int rc)
{
    if (rc)
        exit(1);
}

int main(int argc, char **argv)
{
    example_program = "segmentation";
    options o = parse(argc, argv);
    example_device d;
    int rc = example_device_open(&d, o.backend, 1);
    if (rc)
        return rc;
    const int S = o.S, B = o.B, TRAIN = 16 * B, EVAL = 64;
    const size_t P = (size_t)S * S;
    printf("segmentation: backend %s (%s), %dx%d images, batch %d, Adam lr %g, seed %llu\n", o.backend,
           sigfuse_ctx_device_name(d.ctx), S, S, B, o.lr, (unsigned long long)o.seed);

    example_rng r = {o.seed}, er = {o.seed ^ 0xD1CEull};
    images train, eval;
    make_images(&r, TRAIN, S, &train);
    make_images(&er, EVAL, S, &eval);

    batch b;
    example_mirror_init(&d, &b.z, (size_t)B * P);
    example_mirror_init(&d, &b.dz, (size_t)B * P);
    example_mirror_init(&d, &b.dice, (size_t)B);
    check_mem(example_mem_alloc(&d, (size_t)B * P, &b.labels));
    check_mem(example_mem_alloc(&d, (size_t)B * P, &b.known));
    check_mem(example_mem_alloc(&d, sizeof(float), &b.loss));
    const sigfuse_buffer labels = example_mem_buffer(&d, &b.labels, 0, SIGFUSE_U8);
    const sigfuse_buffer known = example_mem_buffer(&d, &b.known, 0, SIGFUSE_U8);
    const sigfuse_buffer loss = example_mem_buffer(&d, &b.loss, 0, SIGFUSE_F32);

    sigfuse_bce_dice_args a;
    sigfuse_bce_dice_args_init(&a);   /* BCE (MEAN over the labelled pixels) + Dice, smooth 1 */
    a.images = B, a.pixels = (int64_t)P;
    a.logits = &b.z.dev, a.targets = &labels, a.mask = &known;
    a.loss = &loss, a.dlogits = &b.dz.dev, a.dice = &b.dice.dev;

    float w[NW] = {0}, *ez = example_xcalloc((size_t)EVAL * P, sizeof(float));
    double dw[NW], m1[NW] = {0}, m2[NW] = {0};
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, t0 = example_now_s();
    double best = 0.0;
    int reached = 0, step;
    for (step = 1; step <= o.steps; step++) {
        const int first = (step - 1) * B % TRAIN;
        forward(&train, first, B, w, b.z.host);
        example_mirror_push(&d, &b.z, 0, b.z.n);
        check_mem(example_mem_write(&d, &b.labels, 0, train.labels + (size_t)first * P, (size_t)B * P));
        check_mem(example_mem_write(&d, &b.known, 0, train.known + (size_t)first * P, (size_t)B * P));
        example_check(d.ctx, sigfuse_bce_dice(d.ctx, &a), "bce_dice");
        example_mirror_pull(&d, &b.dz, 0, b.dz.n);
        backward(&train, first, B, b.dz.host, dw);
        const double c1 = 1.0 - pow(b1, step), c2 = 1.0 - pow(b2, step);
        for (int i = 0; i < NW; i++) {
            m1[i] = b1 * m1[i] + (1.0 - b1) * dw[i];
            m2[i] = b2 * m2[i] + (1.0 - b2) * dw[i] * dw[i];
            w[i] -= (float)(o.lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + eps));
        }
        if (step % o.eval_every == 0 || step == o.steps) {
            float lv;
            check_mem(example_mem_read(&d, &b.loss, 0, &lv, sizeof lv));
            example_mirror_pull(&d, &b.dice, 0, b.dice.n);
            double soft = 0.0;
            for (int k = 0; k < B; k++)
                soft += b.dice.host[k] / B;
            forward(&eval, 0, EVAL, w, ez);
            const double dice = hard_dice(&eval, ez);
            best = dice > best ? dice : best;
            printf("step %4d  loss %.4f  batch soft Dice %.3f  held-out hard Dice %.3f  (%.1f s)\n", step, lv, soft,
                   dice, example_now_s() - t0);
            fflush(stdout);
            if (dice >= o.target) {
                reached = 1;
                break;
            }
        }
    }
    if (reached)
        printf("reached held-out Dice %.3f >= %g at step %d in %.1f s on %s (all background scores 0)\n", best,
               o.target, step, example_now_s() - t0, o.backend);
    else
        printf("FAILED: best held-out Dice %.3f is below %g after %d steps\n", best, o.target, o.steps);

    example_mirror_free(&d, &b.z);
    example_mirror_free(&d, &b.dz);
    example_mirror_free(&d, &b.dice);
    example_mem_free(&d, &b.labels);
    example_mem_free(&d, &b.known);
    example_mem_free(&d, &b.loss);
    free_images(&train), free_images(&eval), free(ez);
    example_device_close(&d);
    return reached ? 0 : 1;
}
