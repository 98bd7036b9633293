/* SPDX-License-Identifier: MIT */
/*
 * Logistic regression and a one-hidden-layer network (SiLU) on the Wisconsin breast cancer
 * data, trained with sigfuse's fused sigmoid-BCE: one call gives the loss, dloss/dlogits
 * and the probabilities.
 *
 * The data is scikit-learn's copy (breast_cancer.csv, shipped in Debian's python3-sklearn;
 * get_data.sh extracts it without installing the package): a header line
 * "569,30,malignant,benign" (samples, features, the names of targets 0 and 1), then one
 * row per patient of 30 features and the target. The model predicts P(malignant), so the
 * file's target 0 (malignant) is the positive class here.
 *
 * A fixed-seed shuffle holds out 20 % of the patients as the test split; features are
 * standardised with the training split's mean and standard deviation only, and pos_weight
 * is the training split's negatives / positives, so that both classes weigh the same in
 * the loss. The products with the weights are plain loops on the host; sigfuse runs the
 * SiLU (forward and backward) and the loss on the chosen backend, with the small per-batch
 * tensors copied to and from the device on opencl and cuda.
 *
 * Usage: breast_cancer [--backend cpu|opencl|cuda] [--data PATH] [--epochs N] [--hidden H]
 *                      [--batch B] [--lr LR] [--seed S] [--min-accuracy A]
 * The backend also comes from SIGFUSE_BACKEND (default cpu). Exit status: 0 when both
 * models reach --min-accuracy on the test split, 1 when one does not (or on an error),
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

static void shuffle(example_rng *r, int *v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(example_rng_uniform(r) * (i + 1));
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- The data ------------------------------------------------------------------------------- */

typedef struct dataset {
    int n, d;
    float *x;          /* [n, d] */
    float *y;          /* [n] 1 = malignant */
    char names[2][64]; /* the header's names of targets 0 and 1 */
} dataset;

/* scikit-learn's format: "n_samples,n_features,name0,name1", then n_samples rows of
 * n_features numbers and an integer target. Every count is checked. */
static dataset load_csv(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        example_die("cannot open %s (run examples/breast_cancer/get_data.sh %s to fetch it)", path, path);
    dataset ds;
    memset(&ds, 0, sizeof ds);
    char line[8192];
    if (!fgets(line, sizeof line, f))
        example_die("%s: empty file", path);
    if (sscanf(line, "%d,%d,%63[^,],%63[^,\r\n]", &ds.n, &ds.d, ds.names[0], ds.names[1]) != 4 || ds.n <= 0 ||
        ds.d <= 0)
        example_die("%s: the first line is not \"n_samples,n_features,name0,name1\": %s", path, line);
    if (strcmp(ds.names[0], "malignant") != 0)
        example_die("%s: target 0 is \"%s\", expected \"malignant\" (scikit-learn's breast_cancer.csv)", path,
                    ds.names[0]);
    ds.x = (float *)example_xcalloc((size_t)ds.n * ds.d, sizeof(float));
    ds.y = (float *)example_xcalloc((size_t)ds.n, sizeof(float));
    for (int i = 0; i < ds.n; i++) {
        if (!fgets(line, sizeof line, f))
            example_die("%s: the header announces %d rows but there are %d", path, ds.n, i);
        char *p = line, *end;
        for (int k = 0; k <= ds.d; k++) {
            double v = strtod(p, &end);
            if (end == p)
                example_die("%s: line %d: value %d is not a number", path, i + 2, k + 1);
            if (k < ds.d) {
                if (*end != ',')
                    example_die("%s: line %d has %d values, expected %d", path, i + 2, k + 1, ds.d + 1);
                ds.x[(size_t)i * ds.d + k] = (float)v;
            } else {
                if (v != 0.0 && v != 1.0)
                    example_die("%s: line %d has target %g, expected 0 or 1", path, i + 2, v);
                if (*end != '\0' && *end != '\n' && *end != '\r')
                    example_die("%s: line %d has more than %d values", path, i + 2, ds.d + 1);
                ds.y[i] = v == 0.0 ? 1.0f : 0.0f;   /* file: 0 = malignant; here: 1 = malignant */
            }
            p = end + 1;
        }
    }
    if (fgets(line, sizeof line, f) && strspn(line, " \r\n") != strlen(line))
        example_die("%s: more rows than the header's %d", path, ds.n);
    fclose(f);
    return ds;
}

/* ---- The models --------------------------------------------------------------------------- */

/* Parameters in one array (Adam is one loop). hidden = 0 is logistic regression:
 * z = x.w_out + b_out. hidden = H: a = x W1^T + b1, h = silu(a), z = h.w_out + b_out. */
typedef struct model {
    int d, hidden;
    size_t count;
    float *v;      /* all parameters */
    float *w1, *b1, *w_out, *b_out;
} model;

static void model_bind(model *m, float *v)
{
    const int H = m->hidden, in = H ? H : m->d;
    m->v = v;
    m->w1 = v;
    m->b1 = m->w1 + (size_t)H * m->d;
    m->w_out = m->b1 + H;
    m->b_out = m->w_out + in;
}

static model model_new(int d, int hidden, example_rng *r)
{
    model m;
    m.d = d;
    m.hidden = hidden;
    const int in = hidden ? hidden : d;
    m.count = (size_t)hidden * d + hidden + in + 1;
    model_bind(&m, (float *)example_xcalloc(m.count, sizeof(float)));
    /* PyTorch's Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the logistic
     * regression starts at zero (its loss is convex, any start works). */
    if (hidden) {
        for (size_t i = 0; i < (size_t)hidden * d + hidden; i++)
            m.w1[i] = (float)((2.0 * example_rng_uniform(r) - 1.0) / sqrt((double)d));
        for (int j = 0; j < hidden; j++)
            m.w_out[j] = (float)((2.0 * example_rng_uniform(r) - 1.0) / sqrt((double)hidden));
    }
    return m;
}

/* Per-batch tensors: host arrays with their device mirrors. */
typedef struct batch {
    int cap, hidden;
    float *x;          /* [cap, d] the batch's rows (host only: the products are host loops) */
    example_mirror a, h;       /* [cap, H] pre-activation and silu(a) */
    example_mirror dh, da;     /* [cap, H] their gradients */
    example_mirror z, y, g, p; /* [cap] logits, targets, dloss/dz, probabilities */
    example_mirror loss;       /* [1] */
    example_mirror pos_weight; /* [1] */
} batch;

static void batch_init(example_device *dev, batch *b, int cap, int d, int hidden, float pos_weight)
{
    b->cap = cap;
    b->hidden = hidden;
    b->x = (float *)example_xcalloc((size_t)cap * d, sizeof(float));
    const size_t nh = (size_t)cap * (hidden ? hidden : 1);
    example_mirror_init(dev, &b->a, nh);
    example_mirror_init(dev, &b->h, nh);
    example_mirror_init(dev, &b->dh, nh);
    example_mirror_init(dev, &b->da, nh);
    example_mirror_init(dev, &b->z, (size_t)cap);
    example_mirror_init(dev, &b->y, (size_t)cap);
    example_mirror_init(dev, &b->g, (size_t)cap);
    example_mirror_init(dev, &b->p, (size_t)cap);
    example_mirror_init(dev, &b->loss, 1);
    example_mirror_init(dev, &b->pos_weight, 1);
    b->pos_weight.host[0] = pos_weight;
    example_mirror_push(dev, &b->pos_weight, 0, 1);
}

static void batch_free(example_device *dev, batch *b)
{
    example_mirror *all[] = {&b->a, &b->h, &b->dh, &b->da, &b->z, &b->y, &b->g, &b->p, &b->loss, &b->pos_weight};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        example_mirror_free(dev, all[i]);
    free(b->x);
}

/* Logits for the n rows in b->x (and, with a hidden layer, a and h kept for backward). */
static void forward(example_device *dev, const model *m, batch *b, int n)
{
    const int D = m->d, H = m->hidden;
    const float *in = b->x;
    int width = D;
    if (H) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < H; j++) {
                float s = m->b1[j];
                for (int k = 0; k < D; k++)
                    s += m->w1[(size_t)j * D + k] * b->x[(size_t)i * D + k];
                b->a.host[(size_t)i * H + j] = s;
            }
        const int64_t count = (int64_t)n * H;
        example_mirror_push(dev, &b->a, 0, (size_t)count);
        example_check(dev->ctx, sigfuse_silu_forward(dev->ctx, count, 1.0f, &b->a.dev, &b->h.dev),
                      "sigfuse_silu_forward");
        example_mirror_pull(dev, &b->h, 0, (size_t)count);
        in = b->h.host;
        width = H;
    }
    for (int i = 0; i < n; i++) {
        float s = m->b_out[0];
        for (int k = 0; k < width; k++)
            s += m->w_out[k] * in[(size_t)i * width + k];
        b->z.host[i] = s;
    }
}

/* One fused sigfuse call on the n logits: mean loss, and optionally dloss/dz and the
 * probabilities, weighting the positives by pos_weight. */
static float loss_call(example_device *dev, batch *b, int n, int want_grad, int want_probs)
{
    example_mirror_push(dev, &b->z, 0, (size_t)n);
    example_mirror_push(dev, &b->y, 0, (size_t)n);
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);   /* MEAN, no smoothing, grad_scale 1 */
    a.rows = n;
    a.cols = 1;
    a.logits = &b->z.dev;
    a.targets = &b->y.dev;
    a.pos_weight = &b->pos_weight.dev;
    a.loss = &b->loss.dev;
    a.dlogits = want_grad ? &b->g.dev : NULL;
    a.probs = want_probs ? &b->p.dev : NULL;
    example_check(dev->ctx, sigfuse_bce_with_logits(dev->ctx, &a), "sigfuse_bce_with_logits");
    example_mirror_pull(dev, &b->loss, 0, 1);
    if (want_grad)
        example_mirror_pull(dev, &b->g, 0, (size_t)n);
    if (want_probs)
        example_mirror_pull(dev, &b->p, 0, (size_t)n);
    return b->loss.host[0];
}

/* Gradients of the loss from b->g (dloss/dz, already divided by n by the MEAN). */
static void backward(example_device *dev, const model *m, batch *b, int n, float *grad)
{
    const int D = m->d, H = m->hidden;
    model g = *m;
    model_bind(&g, grad);
    memset(grad, 0, m->count * sizeof(float));
    const float *in = H ? b->h.host : b->x;
    const int width = H ? H : D;
    for (int i = 0; i < n; i++) {
        const float gi = b->g.host[i];
        g.b_out[0] += gi;
        for (int k = 0; k < width; k++)
            g.w_out[k] += gi * in[(size_t)i * width + k];
    }
    if (!H)
        return;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < H; j++)
            b->dh.host[(size_t)i * H + j] = b->g.host[i] * m->w_out[j];
    const int64_t count = (int64_t)n * H;
    example_mirror_push(dev, &b->dh, 0, (size_t)count);
    example_check(dev->ctx, sigfuse_silu_backward(dev->ctx, count, 1.0f, &b->a.dev, &b->dh.dev, &b->da.dev),
          "sigfuse_silu_backward");
    example_mirror_pull(dev, &b->da, 0, (size_t)count);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < H; j++) {
            const float da = b->da.host[(size_t)i * H + j];
            g.b1[j] += da;
            for (int k = 0; k < D; k++)
                g.w1[(size_t)j * D + k] += da * b->x[(size_t)i * D + k];
        }
}

static void gather(const dataset *ds, const int *rows, int n, batch *b)
{
    for (int i = 0; i < n; i++) {
        memcpy(b->x + (size_t)i * ds->d, ds->x + (size_t)rows[i] * ds->d, sizeof(float) * ds->d);
        b->y.host[i] = ds->y[rows[i]];
    }
}

typedef struct options {
    const char *backend, *data;
    int epochs, hidden, batch;
    double lr, min_accuracy;
    uint64_t seed;
} options;

typedef struct outcome {
    double loss, accuracy;
    int correct, total;
} outcome;

/* Scores the n rows in `rows` at once: loss, accuracy at P = 0.5, probabilities in b->p. */
static outcome evaluate(example_device *dev, const model *m, const dataset *ds, const int *rows, int n, batch *b)
{
    gather(ds, rows, n, b);
    forward(dev, m, b, n);
    outcome o;
    o.loss = loss_call(dev, b, n, 0, 1);
    o.correct = 0;
    for (int i = 0; i < n; i++)
        o.correct += (b->p.host[i] > 0.5f) == (b->y.host[i] > 0.5f);
    o.total = n;
    o.accuracy = (double)o.correct / n;
    return o;
}

static outcome train(example_device *dev, const char *title, model *m, const dataset *ds, const int *train_rows,
                     int n_train, const int *test_rows, int n_test, float pos_weight, const options *o,
                     example_rng *r)
{
    printf("\n== %s: %zu parameters, Adam lr %g, batch %d, %d epochs\n", title, m->count, o->lr, o->batch,
           o->epochs);
    const int cap = n_train > n_test ? n_train : n_test;
    batch b;
    batch_init(dev, &b, cap, ds->d, m->hidden, pos_weight);
    float *grad = (float *)example_xcalloc(m->count, sizeof(float));
    float *m1 = (float *)example_xcalloc(m->count, sizeof(float));
    float *m2 = (float *)example_xcalloc(m->count, sizeof(float));
    int *order = (int *)example_xcalloc((size_t)n_train, sizeof(int));
    memcpy(order, train_rows, sizeof(int) * n_train);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    long step = 0;

    for (int epoch = 1; epoch <= o->epochs; epoch++) {
        shuffle(r, order, n_train);
        double sum = 0.0;
        for (int start = 0; start < n_train; start += o->batch) {
            const int n = n_train - start < o->batch ? n_train - start : o->batch;
            gather(ds, order + start, n, &b);
            forward(dev, m, &b, n);
            sum += (double)loss_call(dev, &b, n, 1, 0) * n;
            backward(dev, m, &b, n, grad);
            step++;
            const double c1 = 1.0 - pow(b1, (double)step), c2 = 1.0 - pow(b2, (double)step);
            for (size_t i = 0; i < m->count; i++) {
                m1[i] = (float)(b1 * m1[i] + (1.0 - b1) * grad[i]);
                m2[i] = (float)(b2 * m2[i] + (1.0 - b2) * (double)grad[i] * grad[i]);
                m->v[i] -= (float)(o->lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + eps));
            }
        }
        printf("epoch %3d  train loss %.4f\n", epoch, sum / n_train);
    }

    outcome tr = evaluate(dev, m, ds, train_rows, n_train, &b);
    outcome te = evaluate(dev, m, ds, test_rows, n_test, &b);
    printf("%s: train accuracy %.3f (%d/%d); test loss %.4f, test accuracy %.3f (%d/%d)\n", title, tr.accuracy,
           tr.correct, tr.total, te.loss, te.accuracy, te.correct, te.total);
    /* b->p holds the test split's probabilities, in test_rows order: the first few test
     * patients, then every one the model gets wrong. Patients are numbered by their row in
     * the CSV, from 0 (as in scikit-learn's load_breast_cancer). */
    printf("P(%s) for some test patients:\n", ds->names[0]);
    for (int i = 0; i < n_test; i++) {
        const int wrong = (b.p.host[i] > 0.5f) != (ds->y[test_rows[i]] > 0.5f);
        if (i < 5 || wrong)
            printf("patient %d: %.3f  (truth: %s%s)\n", test_rows[i], b.p.host[i],
                   ds->y[test_rows[i]] > 0.5f ? ds->names[0] : ds->names[1], wrong ? "; misclassified" : "");
    }

    free(grad), free(m1), free(m2), free(order);
    batch_free(dev, &b);
    return te;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: breast_cancer [--backend cpu|opencl|cuda] [--data PATH] [--epochs N] [--hidden H]\n"
            "                     [--batch B] [--lr LR] [--seed S] [--min-accuracy A]\n"
            "The backend also comes from SIGFUSE_BACKEND (default cpu); PATH defaults to\n"
            "breast_cancer.csv (get_data.sh PATH fetches it). Exits 1 when a model's test accuracy\n"
            "is below A, 77 when the backend is absent.\n");
    exit(1);
}

static options parse(int argc, char **argv)
{
    options o;
    o.backend = example_backend_default();
    o.data = "breast_cancer.csv";
    o.epochs = 30;
    o.hidden = 16;
    o.batch = 32;
    o.lr = 0.003;
    o.min_accuracy = 0.0;
    o.seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--backend") == 0) {
            o.backend = v;
            continue;
        }
        if (strcmp(a, "--data") == 0) {
            o.data = v;
            continue;
        }
        char *end;
        double num = strtod(v, &end);
        if (*end || end == v)
            usage();
        if (strcmp(a, "--epochs") == 0)
            o.epochs = (int)num;
        else if (strcmp(a, "--hidden") == 0)
            o.hidden = (int)num;
        else if (strcmp(a, "--batch") == 0)
            o.batch = (int)num;
        else if (strcmp(a, "--lr") == 0)
            o.lr = num;
        else if (strcmp(a, "--seed") == 0)
            o.seed = (uint64_t)num;
        else if (strcmp(a, "--min-accuracy") == 0)
            o.min_accuracy = num;
        else
            usage();
    }
    if (o.epochs < 1 || o.hidden < 1 || o.batch < 1 || !(o.lr > 0))
        usage();
    return o;
}

int main(int argc, char **argv)
{
    example_program = "breast_cancer";
    options o = parse(argc, argv);
    dataset ds = load_csv(o.data);
    example_device dev;
    int rc = example_device_open(&dev, o.backend, 1);
    if (rc)
        return rc;
    printf("breast_cancer: backend %s (%s), %d patients x %d features from %s\n", o.backend,
           sigfuse_ctx_device_name(dev.ctx), ds.n, ds.d, o.data);

    /* The split: a fixed-seed shuffle, the first 20 % held out. */
    example_rng r = {o.seed};
    int *rows = (int *)example_xcalloc((size_t)ds.n, sizeof(int));
    for (int i = 0; i < ds.n; i++)
        rows[i] = i;
    shuffle(&r, rows, ds.n);
    const int n_test = ds.n / 5, n_train = ds.n - n_test;
    const int *test_rows = rows, *train_rows = rows + n_test;

    /* Standardise with the training split's statistics only: the test split must not
     * leak into what the model sees. */
    for (int k = 0; k < ds.d; k++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < n_train; i++)
            mean += ds.x[(size_t)train_rows[i] * ds.d + k];
        mean /= n_train;
        for (int i = 0; i < n_train; i++) {
            double e = ds.x[(size_t)train_rows[i] * ds.d + k] - mean;
            var += e * e;
        }
        double sd = sqrt(var / n_train);
        if (sd == 0.0)
            sd = 1.0;
        for (int i = 0; i < ds.n; i++)
            ds.x[(size_t)i * ds.d + k] = (float)((ds.x[(size_t)i * ds.d + k] - mean) / sd);
    }
    int pos = 0;
    for (int i = 0; i < n_train; i++)
        pos += ds.y[train_rows[i]] > 0.5f;
    const float pos_weight = (float)(n_train - pos) / (float)pos;
    printf("split (seed %llu): %d train (%d %s, %d %s), %d test; pos_weight = %d/%d = %.3f\n",
           (unsigned long long)o.seed, n_train, pos, ds.names[0], n_train - pos, ds.names[1], n_test, n_train - pos,
           pos, pos_weight);

    model lr = model_new(ds.d, 0, &r);
    outcome a = train(&dev, "logistic regression", &lr, &ds, train_rows, n_train, test_rows, n_test, pos_weight, &o, &r);
    model mlp = model_new(ds.d, o.hidden, &r);
    char title[64];
    snprintf(title, sizeof title, "hidden layer (%d SiLU units)", o.hidden);
    outcome b = train(&dev, title, &mlp, &ds, train_rows, n_train, test_rows, n_test, pos_weight, &o, &r);

    int ok = a.accuracy >= o.min_accuracy && b.accuracy >= o.min_accuracy;
    printf("\n%s: test accuracy %.3f (logistic regression), %.3f (hidden layer); required %.3f on %s\n",
           ok ? "ok" : "FAILED", a.accuracy, b.accuracy, o.min_accuracy, o.backend);

    free(lr.v), free(mlp.v), free(rows), free(ds.x), free(ds.y);
    example_device_close(&dev);
    return ok ? 0 : 1;
}
