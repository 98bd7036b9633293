/* SPDX-License-Identifier: MIT */
/*
 * Bad input through every public entry point: each kind of bad argument returns its
 * exact status, leaves a message naming the argument, and writes nothing (outputs keep
 * their poison, guards stay intact). Run on the CPU reference context; the checks are
 * the shared host layer every backend goes through.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "testutil.h"

/* A failing call: exact status, a message that mentions `needle`, untouched outputs. */
#define EXPECT_FAIL(ctx, call, want, needle, ...)                                                                      \
    do {                                                                                                               \
        sigfuse_status got_ = (call);                                                                                  \
        cr_expect_eq(got_, want, "%s: got %s (%d), want %s (%d); message: %s", #call, sigfuse_status_string(got_),     \
                     (int)got_, sigfuse_status_string(want), (int)(want), sigfuse_ctx_last_error(ctx));                \
        cr_expect(strstr(sigfuse_ctx_last_error(ctx), needle) != NULL, "%s: message '%s' lacks '%s'", #call,           \
                  sigfuse_ctx_last_error(ctx), needle);                                                                \
        const tu_buf *outs_[] = {NULL, __VA_ARGS__}; /* NULL first: the list may be empty */                           \
        for (size_t k_ = 1; k_ < sizeof outs_ / sizeof outs_[0]; k_++)                                                 \
            cr_expect(tu_untouched(outs_[k_]), "%s: output %zu was written", #call, k_);                               \
    } while (0)

static sigfuse_ctx *ctx;
static void setup(void) { ctx = tu_cpu_ctx(); }
static void teardown(void) { sigfuse_ctx_destroy(ctx); }

TestSuite(api_errors, .init = setup, .fini = teardown);

/* Element i of b set to step * i: distinct ordinary values over the whole buffer. */
static void set_ramp(tu_buf *b, double step)
{
    for (int64_t i = 0; i < b->n; i++)
        tu_set(b, i, step * (double)i);
}

enum { N = 8 };

Test(api_errors, null_context_every_entry)
{
    tu_buf x = tu_alloc(SIGFUSE_F32, N), y = tu_alloc(SIGFUSE_F32, N);
    cr_expect_eq(sigfuse_sigmoid_forward(NULL, N, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_sigmoid_backward(NULL, N, &x.desc, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_log_sigmoid_forward(NULL, N, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_log_sigmoid_backward(NULL, N, &x.desc, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_silu_forward(NULL, N, 1.0f, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_silu_backward(NULL, N, 1.0f, &x.desc, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_glu_forward(NULL, N, &x.desc, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_glu_backward(NULL, N, &x.desc, &x.desc, &x.desc, &y.desc, NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_swiglu_forward(NULL, N, 1.0f, &x.desc, &x.desc, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_swiglu_backward(NULL, N, 1.0f, &x.desc, &x.desc, &x.desc, &y.desc, NULL),
                 SIGFUSE_ERR_NULL_ARGUMENT);
    sigfuse_lstm_forward_args lf = {0};
    sigfuse_lstm_backward_args lb = {0};
    sigfuse_gru_forward_args gf = {0};
    sigfuse_gru_backward_args gb = {0};
    sigfuse_bce_args bce;
    sigfuse_bce_args_init(&bce);
    sigfuse_focal_args focal;
    sigfuse_focal_args_init(&focal);
    sigfuse_head_predict_args hp;
    sigfuse_head_predict_args_init(&hp);
    sigfuse_head_train_args ht;
    sigfuse_head_train_args_init(&ht);
    size_t bytes = 0;
    cr_expect_eq(sigfuse_lstm_cell_forward(NULL, &lf), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_lstm_cell_backward(NULL, &lb), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_gru_cell_forward(NULL, &gf), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_gru_cell_backward(NULL, &gb), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_bce_with_logits(NULL, &bce), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_sigmoid_focal(NULL, &focal), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_head_predict(NULL, &hp), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_head_train_step(NULL, &ht), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_head_predict_workspace_size(NULL, &hp, 1, &bytes), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_head_train_workspace_size(NULL, &ht, 1, &bytes), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_ctx_synchronize(NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect(tu_untouched(&y));
    tu_free(&x);
    tu_free(&y);
}

Test(api_errors, null_args_struct_every_op)
{
    size_t bytes = 0;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_backward(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_gru_cell_forward(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_gru_cell_backward(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_head_predict_workspace_size(ctx, NULL, 1, &bytes), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    EXPECT_FAIL(ctx, sigfuse_head_train_workspace_size(ctx, NULL, 1, &bytes), SIGFUSE_ERR_NULL_ARGUMENT, "args");
    sigfuse_head_train_args ht;
    sigfuse_head_train_args_init(&ht);
    EXPECT_FAIL(ctx, sigfuse_head_train_workspace_size(ctx, &ht, 1, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "bytes");
}

/* Every elementwise op, every kind of bad buffer and size. */
Test(api_errors, elementwise_bad_buffers_and_sizes)
{
    tu_buf x = tu_alloc(SIGFUSE_F32, N), dy = tu_alloc(SIGFUSE_F32, N), y = tu_alloc(SIGFUSE_F32, N);
    tu_buf y16 = tu_alloc(SIGFUSE_F16, N), u8 = tu_alloc(SIGFUSE_U8, N);
    for (int i = 0; i < N; i++)
        tu_set(&x, i, 0.5), tu_set(&dy, i, 1.0);

    EXPECT_FAIL(ctx, sigfuse_sigmoid_forward(ctx, -1, &x.desc, &y.desc), SIGFUSE_ERR_INVALID_SIZE, "n", &y);
    EXPECT_FAIL(ctx, sigfuse_sigmoid_forward(ctx, INT64_MAX, &x.desc, &y.desc), SIGFUSE_ERR_INVALID_SIZE, "x", &y);
    EXPECT_FAIL(ctx, sigfuse_sigmoid_forward(ctx, N, NULL, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT, "x", &y);
    EXPECT_FAIL(ctx, sigfuse_sigmoid_forward(ctx, N, &x.desc, NULL), SIGFUSE_ERR_NULL_ARGUMENT, "y");
    EXPECT_FAIL(ctx, sigfuse_sigmoid_backward(ctx, N, &x.desc, NULL, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT, "dy", &y);
    EXPECT_FAIL(ctx, sigfuse_sigmoid_forward(ctx, N, &x.desc, &y16.desc), SIGFUSE_ERR_INVALID_DTYPE, "y", &y16);
    EXPECT_FAIL(ctx, sigfuse_log_sigmoid_forward(ctx, N, &u8.desc, &y.desc), SIGFUSE_ERR_INVALID_DTYPE, "x", &y);
    EXPECT_FAIL(ctx, sigfuse_log_sigmoid_backward(ctx, N, &x.desc, &y16.desc, &y.desc), SIGFUSE_ERR_INVALID_DTYPE,
                "dy", &y);

    sigfuse_buffer unknown = x.desc;
    unknown.dtype = (sigfuse_dtype)42;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_forward(ctx, N, &unknown, &y.desc), SIGFUSE_ERR_INVALID_DTYPE, "x", &y);

    sigfuse_buffer null_ptr = sigfuse_host_buffer(NULL, SIGFUSE_F32);
    EXPECT_FAIL(ctx, sigfuse_silu_forward(ctx, N, 1.0f, &null_ptr, &y.desc), SIGFUSE_ERR_NULL_ARGUMENT, "x", &y);
    /* A NULL pointer is fine when nothing is touched (an empty tensor). */
    cr_expect_eq(sigfuse_silu_forward(ctx, 0, 1.0f, &null_ptr, &null_ptr), SIGFUSE_SUCCESS);

    sigfuse_buffer device = sigfuse_cuda_buffer(x.desc.ptr, SIGFUSE_F32);
    EXPECT_FAIL(ctx, sigfuse_silu_backward(ctx, N, 1.0f, &device, &dy.desc, &y.desc), SIGFUSE_ERR_WRONG_MEMORY, "x",
                &y);
    sigfuse_buffer cl = x.desc;
    cl.memory = SIGFUSE_MEMORY_OPENCL;
    EXPECT_FAIL(ctx, sigfuse_glu_forward(ctx, N, &x.desc, &cl, &y.desc), SIGFUSE_ERR_WRONG_MEMORY, "b", &y);

    sigfuse_buffer misaligned = x.desc;
    misaligned.offset = 2;   /* half-way into a float */
    EXPECT_FAIL(ctx, sigfuse_glu_forward(ctx, N - 1, &x.desc, &misaligned, &y.desc), SIGFUSE_ERR_INVALID_ARGUMENT,
                "aligned", &y);

    EXPECT_FAIL(ctx, sigfuse_silu_forward(ctx, N, NAN, &x.desc, &y.desc), SIGFUSE_ERR_INVALID_OPTION, "beta", &y);
    EXPECT_FAIL(ctx, sigfuse_swiglu_forward(ctx, N, INFINITY, &x.desc, &x.desc, &y.desc), SIGFUSE_ERR_INVALID_OPTION,
                "beta", &y);
    EXPECT_FAIL(ctx, sigfuse_glu_backward(ctx, N, &x.desc, &x.desc, &dy.desc, NULL, NULL),
                SIGFUSE_ERR_INVALID_ARGUMENT, "no output");
    EXPECT_FAIL(ctx, sigfuse_swiglu_backward(ctx, N, 1.0f, &x.desc, NULL, &dy.desc, &y.desc, NULL),
                SIGFUSE_ERR_NULL_ARGUMENT, "b", &y);

    /* After a success the message is cleared. */
    cr_expect_eq(sigfuse_sigmoid_forward(ctx, N, &x.desc, &y.desc), SIGFUSE_SUCCESS);
    cr_expect_str_eq(sigfuse_ctx_last_error(ctx), "");
    cr_expect(tu_guards_ok(&y));
    tu_free(&x), tu_free(&dy), tu_free(&y), tu_free(&y16), tu_free(&u8);
}

Test(api_errors, f64_only_on_reference)
{
    /* The reference takes f64; the status for other backends is checked where they exist. */
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N);
    set_ramp(&x, 1.0);
    cr_expect_eq(sigfuse_sigmoid_forward(ctx, N, &x.desc, &y.desc), SIGFUSE_SUCCESS);
    tu_free(&x), tu_free(&y);
}

typedef struct lstm_bufs {
    tu_buf gx, c_prev, h, c, dh, dgates;
} lstm_bufs;

Test(api_errors, lstm_and_gru)
{
    const int B = 2, H = 3;
    tu_buf gx = tu_alloc(SIGFUSE_F32, B * 4 * H), c_prev = tu_alloc(SIGFUSE_F32, B * H);
    tu_buf h = tu_alloc(SIGFUSE_F32, B * H), c = tu_alloc(SIGFUSE_F32, B * H), dh = tu_alloc(SIGFUSE_F32, B * H);
    tu_buf dgates = tu_alloc(SIGFUSE_F32, B * 4 * H), bias16 = tu_alloc(SIGFUSE_F16, 4 * H);
    set_ramp(&gx, 0.1);
    for (int i = 0; i < B * H; i++)
        tu_set(&c_prev, i, 0.2), tu_set(&dh, i, 1.0);

    sigfuse_lstm_forward_args f = {B, H, &gx.desc, NULL, NULL, &c_prev.desc, &h.desc, &c.desc};
    f.batch = -1;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_INVALID_SIZE, "batch", &h, &c);
    f.batch = B, f.hidden = INT64_MAX / 2;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_INVALID_SIZE, "overflows", &h, &c);
    f.hidden = H, f.c_prev = NULL;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_NULL_ARGUMENT, "c_prev", &h, &c);
    f.c_prev = &c_prev.desc, f.bias = &bias16.desc;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_INVALID_DTYPE, "bias", &h, &c);
    f.bias = NULL, f.h = NULL, f.c = NULL;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_INVALID_ARGUMENT, "no output");

    sigfuse_lstm_backward_args b = {B, H, &gx.desc, NULL, NULL, &c_prev.desc, NULL, NULL, &dgates.desc, NULL, NULL};
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_backward(ctx, &b), SIGFUSE_ERR_NULL_ARGUMENT, "dh and dc", &dgates);
    b.dh = &dh.desc, b.dgates = NULL;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_backward(ctx, &b), SIGFUSE_ERR_INVALID_ARGUMENT, "no output");

    /* GRU: gates are [B, 3H]; reuse the larger buffers. */
    sigfuse_gru_forward_args g = {B, H, &gx.desc, NULL, NULL, NULL, &c_prev.desc, &h.desc};
    EXPECT_FAIL(ctx, sigfuse_gru_cell_forward(ctx, &g), SIGFUSE_ERR_NULL_ARGUMENT, "gates_h", &h);
    g.gates_h = &gx.desc, g.h = NULL;
    EXPECT_FAIL(ctx, sigfuse_gru_cell_forward(ctx, &g), SIGFUSE_ERR_NULL_ARGUMENT, "h");
    sigfuse_gru_backward_args gb = {B, H, &gx.desc, &gx.desc, NULL, NULL, &c_prev.desc, NULL,
                                    &dgates.desc, NULL, NULL, NULL, NULL};
    EXPECT_FAIL(ctx, sigfuse_gru_cell_backward(ctx, &gb), SIGFUSE_ERR_NULL_ARGUMENT, "dh", &dgates);
    gb.dh = &dh.desc, gb.dgates_x = NULL;
    EXPECT_FAIL(ctx, sigfuse_gru_cell_backward(ctx, &gb), SIGFUSE_ERR_INVALID_ARGUMENT, "no output");
    gb.dgates_x = &dgates.desc, gb.hidden = -3;
    EXPECT_FAIL(ctx, sigfuse_gru_cell_backward(ctx, &gb), SIGFUSE_ERR_INVALID_SIZE, "hidden", &dgates);

    tu_free(&gx), tu_free(&c_prev), tu_free(&h), tu_free(&c), tu_free(&dh), tu_free(&dgates), tu_free(&bias16);
}

Test(api_errors, bce_options_and_dtypes)
{
    const int R = 3, C = 4;
    tu_buf x = tu_alloc(SIGFUSE_F32, R * C), t = tu_alloc(SIGFUSE_F32, R * C), t8 = tu_alloc(SIGFUSE_U8, R * C);
    tu_buf loss = tu_alloc(SIGFUSE_F32, 1), loss16 = tu_alloc(SIGFUSE_F16, 1), dx = tu_alloc(SIGFUSE_F32, R * C);
    tu_buf pw = tu_alloc(SIGFUSE_F32, C), labels = tu_alloc(SIGFUSE_U8, R * C);
    for (int i = 0; i < R * C; i++)
        tu_set(&x, i, i - 6.0), tu_set(&t, i, i % 2), tu_set(&t8, i, i % 2);
    for (int i = 0; i < C; i++)
        tu_set(&pw, i, 2.0);

    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    cr_expect_eq(a.reduction, SIGFUSE_REDUCTION_MEAN);
    cr_expect_eq(a.grad_scale, 1.0f);
    cr_expect_eq(a.threshold, 0.5f);
    a.rows = R, a.cols = C, a.logits = &x.desc, a.targets = &t.desc, a.loss = &loss.desc, a.dlogits = &dx.desc;
    a.labels = &labels.desc, a.pos_weight = &pw.desc;

    sigfuse_bce_args bad = a;
    bad.cols = -4;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_SIZE, "cols", &loss, &dx, &labels);
    bad = a, bad.rows = INT64_MAX, bad.cols = 3;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_SIZE, "overflows", &loss, &dx, &labels);
    bad = a, bad.targets = NULL;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_NULL_ARGUMENT, "targets", &loss, &dx, &labels);
    bad = a, bad.label_smoothing = -0.1f;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "label_smoothing", &loss, &dx);
    bad = a, bad.label_smoothing = 1.5f;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "label_smoothing", &loss, &dx);
    bad = a, bad.label_smoothing = NAN;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "label_smoothing", &loss, &dx);
    bad = a, bad.threshold = 2.0f;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "threshold", &loss, &labels);
    bad = a, bad.grad_scale = INFINITY;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "grad_scale", &loss, &dx);
    bad = a, bad.reduction = (sigfuse_reduction)7;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "reduction", &loss, &dx);
    bad = a, bad.targets = &t8.desc, bad.label_smoothing = 0.1f;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_DTYPE,
                "targets: dtype u8 is not allowed with label_smoothing > 0", &loss, &dx, &labels);
    bad = a, bad.loss = &loss16.desc;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_DTYPE, "loss", &loss16, &dx, &labels);
    bad = a, bad.weight = &t8.desc;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_DTYPE, "weight", &loss, &dx, &labels);
    bad = a, bad.reduction = SIGFUSE_REDUCTION_NONE;   /* loss must now hold R*C elements of logits' dtype */
    bad.loss = &loss16.desc;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_DTYPE, "loss", &loss16, &dx);
    bad = a, bad.loss = NULL, bad.dlogits = NULL, bad.labels = NULL, bad.probs = NULL;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bad), SIGFUSE_ERR_INVALID_ARGUMENT, "no output");

    /* u8 targets without smoothing are fine. */
    a.targets = &t8.desc;
    cr_expect_eq(sigfuse_bce_with_logits(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    tu_free(&x), tu_free(&t), tu_free(&t8), tu_free(&loss), tu_free(&loss16), tu_free(&dx), tu_free(&pw),
        tu_free(&labels);
}

Test(api_errors, focal_options)
{
    const int R = 2, C = 3;
    tu_buf x = tu_alloc(SIGFUSE_BF16, R * C), t = tu_alloc(SIGFUSE_U8, R * C), loss = tu_alloc(SIGFUSE_F32, 1);
    for (int i = 0; i < R * C; i++)
        tu_set(&x, i, i), tu_set(&t, i, i % 2);
    sigfuse_focal_args a;
    sigfuse_focal_args_init(&a);
    cr_expect_eq(a.alpha, 0.25f);
    cr_expect_eq(a.gamma, 2.0f);
    a.rows = R, a.cols = C, a.logits = &x.desc, a.targets = &t.desc, a.loss = &loss.desc;
    sigfuse_focal_args bad = a;
    bad.gamma = -1.0f;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "gamma", &loss);
    bad = a, bad.gamma = NAN;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "gamma", &loss);
    bad = a, bad.gamma = INFINITY;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "gamma", &loss);
    bad = a, bad.alpha = 1.5f;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "alpha", &loss);
    bad = a, bad.alpha = NAN;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "alpha", &loss);
    bad = a, bad.logits = &t.desc;   /* u8 logits */
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &bad), SIGFUSE_ERR_INVALID_DTYPE, "logits", &loss);
    bad = a, bad.loss = NULL;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &bad), SIGFUSE_ERR_INVALID_ARGUMENT, "no output");
    a.alpha = -1.0f;   /* negative alpha: no alpha term, accepted */
    cr_expect_eq(sigfuse_sigmoid_focal(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    tu_free(&x), tu_free(&t), tu_free(&loss);
}

Test(api_errors, head_sizes_options_and_workspace)
{
    const int Nr = 5, D = 4, L = 3;
    tu_buf x = tu_alloc(SIGFUSE_F32, Nr * D), w = tu_alloc(SIGFUSE_F32, L * D), t = tu_alloc(SIGFUSE_U8, Nr * L);
    tu_buf loss = tu_alloc(SIGFUSE_F32, 1), dw = tu_alloc(SIGFUSE_F32, L * D), probs = tu_alloc(SIGFUSE_F32, Nr * L);
    set_ramp(&x, 0.1);
    set_ramp(&w, 0.05);
    for (int i = 0; i < Nr * L; i++)
        tu_set(&t, i, i % 2);

    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = Nr, a.d = D, a.l = L, a.x = &x.desc, a.w = &w.desc, a.targets = &t.desc, a.loss = &loss.desc;
    a.dw = &dw.desc;
    size_t need = 0;
    cr_assert_eq(sigfuse_head_train_workspace_size(ctx, &a, 1, &need), SIGFUSE_SUCCESS);
    tu_buf ws = tu_alloc(SIGFUSE_U8, (int64_t)need + 8);
    a.workspace = &ws.desc;

    sigfuse_head_train_args bad = a;
    bad.workspace_bytes = need - 1;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INSUFFICIENT_WORKSPACE, "workspace", &loss, &dw);
    bad = a, bad.workspace = NULL, bad.workspace_bytes = need;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_NULL_ARGUMENT, "workspace", &loss, &dw);
    bad = a, bad.workspace_bytes = need, bad.reduction = SIGFUSE_REDUCTION_NONE;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "reduction", &loss, &dw);
    bad = a, bad.workspace_bytes = need, bad.d = -1;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INVALID_SIZE, "d", &loss, &dw);
    bad = a, bad.workspace_bytes = need, bad.w = NULL;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_NULL_ARGUMENT, "w", &loss, &dw);
    bad = a, bad.workspace_bytes = need, bad.loss = &probs.desc, bad.dw = NULL;   /* f32 but 1 element: fine */
    bad.loss = NULL, bad.dw = NULL;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INVALID_ARGUMENT, "no output", &loss, &dw);
    sigfuse_buffer shifted = ws.desc;
    shifted.offset += 8;   /* 8-byte aligned only */
    bad = a, bad.workspace = &shifted, bad.workspace_bytes = need;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INVALID_ARGUMENT, "aligned", &loss, &dw);
    bad = a, bad.workspace_bytes = need, bad.grad_scale = NAN;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INVALID_OPTION, "grad_scale", &loss, &dw);

    sigfuse_head_predict_args p;
    sigfuse_head_predict_args_init(&p);
    p.n = Nr, p.d = D, p.l = L, p.x = &x.desc, p.w = &w.desc, p.probs = &probs.desc;
    sigfuse_head_predict_args pbad = p;
    pbad.threshold = -0.5f;
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &pbad), SIGFUSE_ERR_INVALID_OPTION, "threshold", &probs);
    pbad = p, pbad.x = &t.desc;
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &pbad), SIGFUSE_ERR_INVALID_DTYPE, "x", &probs);
    pbad = p, pbad.probs = NULL;
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &pbad), SIGFUSE_ERR_INVALID_ARGUMENT, "no output");

    a.workspace_bytes = need;
    cr_expect_eq(sigfuse_head_train_step(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    cr_expect(tu_guards_ok(&ws));
    tu_free(&x), tu_free(&w), tu_free(&t), tu_free(&loss), tu_free(&dw), tu_free(&probs), tu_free(&ws);
}

/* A view of `b` starting `elems` elements further in (a partial overlap with b). */
static sigfuse_buffer shifted_view(const tu_buf *b, int elems)
{
    sigfuse_buffer v = b->desc;
    v.offset += (size_t)elems * sigfuse_dtype_size(v.dtype);
    return v;
}

/* Overlapping buffers: an output may be exactly an input (elementwise, GLU, losses,
 * cells); any partial overlap, two outputs sharing memory, a reduced scalar sharing
 * memory with an output, and anything a head writes overlapping anything else fail,
 * writing nothing. */
Test(api_errors, overlapping_buffers)
{
    const int B = 2, H = 3;
    tu_buf x = tu_alloc(SIGFUSE_F32, N + 1), dy = tu_alloc(SIGFUSE_F32, N), da = tu_alloc(SIGFUSE_F32, N);
    set_ramp(&x, 0.25);   /* all N + 1 */
    for (int i = 0; i < N; i++)
        tu_set(&dy, i, 1.0);
    float before[N + 1];
    memcpy(before, tu_data(&x), sizeof before);
    sigfuse_buffer x_plus1 = shifted_view(&x, 1);

    /* Elementwise: y one element into x overlaps it partly. */
    EXPECT_FAIL(ctx, sigfuse_sigmoid_forward(ctx, N, &x.desc, &x_plus1), SIGFUSE_ERR_INVALID_ARGUMENT,
                "y overlaps x");
    cr_expect(memcmp(before, tu_data(&x), sizeof before) == 0, "sigmoid wrote into x");
    EXPECT_FAIL(ctx, sigfuse_silu_backward(ctx, N, 1.0f, &x.desc, &dy.desc, &x_plus1), SIGFUSE_ERR_INVALID_ARGUMENT,
                "dx overlaps x");
    EXPECT_FAIL(ctx, sigfuse_glu_backward(ctx, N, &x.desc, &x.desc, &dy.desc, &da.desc, &da.desc),
                SIGFUSE_ERR_INVALID_ARGUMENT, "two outputs", &da);
    cr_expect(memcmp(before, tu_data(&x), sizeof before) == 0, "an op wrote into x");
    /* Exactly in place is allowed. */
    cr_expect_eq(sigfuse_sigmoid_forward(ctx, N, &x.desc, &x.desc), SIGFUSE_SUCCESS, "%s",
                 sigfuse_ctx_last_error(ctx));

    /* Losses: a scalar upstream gradient inside dlogits, or shared with the loss. */
    tu_buf logits = tu_alloc(SIGFUSE_F32, N), targets = tu_alloc(SIGFUSE_F32, N), grad = tu_alloc(SIGFUSE_F32, N);
    tu_buf scalar = tu_alloc(SIGFUSE_F32, 1);
    for (int i = 0; i < N; i++)
        tu_set(&logits, i, i - 3.0), tu_set(&targets, i, i % 2);
    tu_set(&scalar, 0, 1.0);
    sigfuse_bce_args bce;
    sigfuse_bce_args_init(&bce);
    bce.rows = 2, bce.cols = N / 2, bce.logits = &logits.desc, bce.targets = &targets.desc;
    bce.dloss_in = &grad.desc, bce.dlogits = &grad.desc;   /* dloss_in (one f32) is grad[0] */
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bce), SIGFUSE_ERR_INVALID_ARGUMENT, "dlogits overlaps dloss_in",
                &grad);
    bce.dloss_in = &scalar.desc, bce.dlogits = NULL, bce.loss = &scalar.desc;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &bce), SIGFUSE_ERR_INVALID_ARGUMENT, "reduced scalar");
    cr_expect_eq(tu_get(&scalar, 0), 1.0, "the scalar was written");
    sigfuse_focal_args focal;
    sigfuse_focal_args_init(&focal);
    focal.rows = 1, focal.cols = N, focal.logits = &logits.desc, focal.targets = &targets.desc;
    focal.loss = &grad.desc, focal.dlogits = &grad.desc;
    EXPECT_FAIL(ctx, sigfuse_sigmoid_focal(ctx, &focal), SIGFUSE_ERR_INVALID_ARGUMENT, "two outputs", &grad);
    /* NONE with the upstream gradient replaced by the gradient: in place, allowed. */
    bce.reduction = SIGFUSE_REDUCTION_NONE, bce.loss = NULL, bce.dloss_in = &grad.desc, bce.dlogits = &grad.desc;
    for (int i = 0; i < N; i++)
        tu_set(&grad, i, 1.0);
    cr_expect_eq(sigfuse_bce_with_logits(ctx, &bce), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));

    /* Cells: h and c in one buffer; h inside the gates. c = c_prev is allowed. */
    tu_buf gx = tu_alloc(SIGFUSE_F32, B * 4 * H), c_prev = tu_alloc(SIGFUSE_F32, B * H);
    tu_buf h = tu_alloc(SIGFUSE_F32, B * H);
    set_ramp(&gx, 0.1);
    for (int i = 0; i < B * H; i++)
        tu_set(&c_prev, i, 0.2);
    sigfuse_lstm_forward_args f = {B, H, &gx.desc, NULL, NULL, &c_prev.desc, &h.desc, &h.desc};
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_INVALID_ARGUMENT, "two outputs", &h);
    f.h = &gx.desc, f.c = NULL;
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_INVALID_ARGUMENT, "h overlaps gates_x");
    f.h = &h.desc, f.c = &c_prev.desc;
    cr_expect_eq(sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));

    /* Heads: nothing written may overlap anything, not even exactly. */
    const int Nr = 5, D = 4, L = 3;
    tu_buf hx = tu_alloc(SIGFUSE_F32, Nr * D), hw = tu_alloc(SIGFUSE_F32, L * D), ht = tu_alloc(SIGFUSE_U8, Nr * L);
    tu_buf dw = tu_alloc(SIGFUSE_F32, L * D), probs = tu_alloc(SIGFUSE_F32, Nr * L);
    set_ramp(&hx, 0.1);
    set_ramp(&hw, 0.05);
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = Nr, a.d = D, a.l = L, a.x = &hx.desc, a.w = &hw.desc, a.targets = &ht.desc, a.dw = &dw.desc;
    size_t need = 0;
    cr_assert_eq(sigfuse_head_train_workspace_size(ctx, &a, 1, &need), SIGFUSE_SUCCESS);
    tu_buf ws = tu_alloc(SIGFUSE_U8, (int64_t)need);
    a.workspace = &ws.desc, a.workspace_bytes = need;
    sigfuse_head_train_args bad = a;
    bad.dx = &hx.desc;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INVALID_ARGUMENT, "dx overlaps x", &dw, &ws);
    sigfuse_buffer ws_as_dw = ws.desc;   /* dw inside the workspace */
    ws_as_dw.dtype = SIGFUSE_F32;
    bad = a, bad.dw = &ws_as_dw;
    EXPECT_FAIL(ctx, sigfuse_head_train_step(ctx, &bad), SIGFUSE_ERR_INVALID_ARGUMENT, "two outputs", &dw, &ws);
    sigfuse_head_predict_args p;
    sigfuse_head_predict_args_init(&p);
    p.n = Nr, p.d = D, p.l = L, p.x = &hx.desc, p.w = &hw.desc, p.logits = &probs.desc, p.probs = &probs.desc;
    size_t pneed = 0;
    cr_assert_eq(sigfuse_head_predict_workspace_size(ctx, &p, 1, &pneed), SIGFUSE_SUCCESS);
    tu_buf pws = tu_alloc(SIGFUSE_U8, pneed > 0 ? (int64_t)pneed : 1);
    p.workspace = &pws.desc, p.workspace_bytes = pneed;
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &p), SIGFUSE_ERR_INVALID_ARGUMENT, "two outputs", &probs);

    tu_free(&x), tu_free(&dy), tu_free(&da), tu_free(&logits), tu_free(&targets), tu_free(&grad), tu_free(&scalar);
    tu_free(&gx), tu_free(&c_prev), tu_free(&h), tu_free(&hx), tu_free(&hw), tu_free(&ht), tu_free(&dw);
    tu_free(&probs), tu_free(&ws), tu_free(&pws);
}

Test(api_contexts, backends_and_creation)
{
    sigfuse_ctx *c = (sigfuse_ctx *)0x1;
    cr_expect_eq(sigfuse_ctx_create(NULL, SIGFUSE_BACKEND_CPU), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_ctx_create(&c, (sigfuse_backend)99), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect_null(c);
    cr_expect_neq(strlen(sigfuse_last_create_error()), 0);
    cr_expect_eq(sigfuse_backend_available(SIGFUSE_BACKEND_CPU), SIGFUSE_SUCCESS);

    /* A device backend either works or says clearly why not; it never crashes. */
    const sigfuse_backend devices[] = {SIGFUSE_BACKEND_CUDA, SIGFUSE_BACKEND_OPENCL};
    for (int i = 0; i < 2; i++) {
        sigfuse_status avail = sigfuse_backend_available(devices[i]);
        cr_expect(avail == SIGFUSE_SUCCESS || avail == SIGFUSE_ERR_NOT_BUILT || avail == SIGFUSE_ERR_NO_DEVICE,
                  "%s: %d", sigfuse_backend_name(devices[i]), (int)avail);
        c = (sigfuse_ctx *)0x1;
        sigfuse_status st = sigfuse_ctx_create(&c, devices[i]);
        if (avail == SIGFUSE_SUCCESS) {
            cr_expect_eq(st, SIGFUSE_SUCCESS, "%s: %s", sigfuse_backend_name(devices[i]), sigfuse_last_create_error());
            cr_expect_eq(sigfuse_ctx_backend(c), devices[i]);
        } else {
            cr_expect_eq(st, avail, "%s: create says %d, available says %d", sigfuse_backend_name(devices[i]),
                         (int)st, (int)avail);
            cr_expect_null(c);
            cr_expect_neq(strlen(sigfuse_last_create_error()), 0);
        }
        sigfuse_ctx_destroy(c);
    }
    sigfuse_ctx_destroy(NULL);   /* a no-op */

    sigfuse_ctx *cpu = tu_cpu_ctx();
    cr_expect_eq(sigfuse_ctx_backend(cpu), SIGFUSE_BACKEND_CPU);
    cr_expect_eq(sigfuse_ctx_memory(cpu), SIGFUSE_MEMORY_HOST);
    cr_expect_neq(strlen(sigfuse_ctx_device_name(cpu)), 0);
    cr_expect_eq(sigfuse_ctx_synchronize(cpu), SIGFUSE_SUCCESS);
    sigfuse_ctx_destroy(cpu);
}

Test(api_contexts, statuses_versions_dtypes)
{
    /* Pinned numbers: they are ABI. */
    cr_expect_eq(SIGFUSE_SUCCESS, 0);
    cr_expect_eq(SIGFUSE_ERR_NULL_ARGUMENT, 1);
    cr_expect_eq(SIGFUSE_ERR_PROGRAM_BUILD, 13);
    for (int s = 0; s <= 13; s++) {
        const char *str = sigfuse_status_string((sigfuse_status)s);
        cr_expect(str && strcmp(str, "unknown status") != 0, "status %d has no string", s);
        for (int t = 0; t < s; t++)
            cr_expect_str_neq(str, sigfuse_status_string((sigfuse_status)t));
    }
    cr_expect_str_eq(sigfuse_status_string((sigfuse_status)1000), "unknown status");
    cr_expect_eq(sigfuse_version_number(), SIGFUSE_VERSION_NUMBER);
    cr_expect_str_eq(sigfuse_version(), "0.1.0");
    cr_expect_eq(sigfuse_dtype_size(SIGFUSE_BF16), 2);
    cr_expect_eq(sigfuse_dtype_size((sigfuse_dtype)0), 0);
    cr_expect_str_eq(sigfuse_dtype_name(SIGFUSE_U8), "u8");
    cr_expect_str_eq(sigfuse_backend_name(SIGFUSE_BACKEND_OPENCL), "opencl");
}

/* In place means the same shape and role, not the same bytes. c [batch, hidden] on bias
 * [4 hidden] at batch = 4, hidden = 1 (16 bytes each), and h on bias_x at batch = 3,
 * hidden = 1, returned SUCCESS with wrong values: later rows read a bias that earlier rows
 * had overwritten. Each is rejected, naming both buffers, with nothing written; the same
 * shapes in place stay allowed. */
Test(api_errors, in_place_needs_the_same_shape_not_the_same_bytes)
{
    tu_buf gx = tu_alloc(SIGFUSE_F32, 4 * 4), bias = tu_alloc(SIGFUSE_F32, 4), c_prev = tu_alloc(SIGFUSE_F32, 4);
    tu_buf h = tu_alloc(SIGFUSE_F32, 4);
    for (int i = 0; i < 16; i++)
        tu_set(&gx, i, 0.1 * i - 0.7);
    for (int i = 0; i < 4; i++)
        tu_set(&bias, i, 0.25 * i), tu_set(&c_prev, i, 0.5 - 0.2 * i);
    unsigned char before[4 * sizeof(float)];
    memcpy(before, tu_data(&bias), sizeof before);
    sigfuse_lstm_forward_args f = {4, 1, &gx.desc, NULL, &bias.desc, &c_prev.desc, &h.desc, &bias.desc};
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_ERR_INVALID_ARGUMENT, "c overlaps bias", &h);
    cr_expect(strstr(sigfuse_ctx_last_error(ctx), "[batch, hidden]") && strstr(sigfuse_ctx_last_error(ctx), "[4 hidden]"),
              "the message names both shapes: %s", sigfuse_ctx_last_error(ctx));
    cr_expect(memcmp(before, tu_data(&bias), sizeof before) == 0, "lstm_cell_forward wrote into bias");
    /* The backward: dc_prev [batch, hidden] on bias [4 hidden] at batch = 4. */
    tu_buf dh = tu_alloc(SIGFUSE_F32, 4), dg = tu_alloc(SIGFUSE_F32, 16);
    for (int i = 0; i < 4; i++)
        tu_set(&dh, i, 1.0);
    sigfuse_lstm_backward_args b = {4, 1, &gx.desc, NULL, &bias.desc, &c_prev.desc, &dh.desc, NULL,
                                    &dg.desc, &bias.desc, NULL};
    EXPECT_FAIL(ctx, sigfuse_lstm_cell_backward(ctx, &b), SIGFUSE_ERR_INVALID_ARGUMENT, "dc_prev overlaps bias", &dg);
    cr_expect(memcmp(before, tu_data(&bias), sizeof before) == 0, "lstm_cell_backward wrote into bias");
    /* Same shape in place: allowed (c on c_prev). */
    f.c = &c_prev.desc;
    cr_expect_eq(sigfuse_lstm_cell_forward(ctx, &f), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));

    /* GRU: h [batch, hidden] on bias_x [3 hidden] at batch = 3, hidden = 1. */
    tu_buf gi = tu_alloc(SIGFUSE_F32, 9), gh = tu_alloc(SIGFUSE_F32, 9), bx = tu_alloc(SIGFUSE_F32, 3);
    tu_buf hp = tu_alloc(SIGFUSE_F32, 3), gout = tu_alloc(SIGFUSE_F32, 3);
    for (int i = 0; i < 9; i++)
        tu_set(&gi, i, 0.3 * i - 1.0), tu_set(&gh, i, 0.5 - 0.1 * i);
    for (int i = 0; i < 3; i++)
        tu_set(&bx, i, 0.2 * i), tu_set(&hp, i, 0.1 * i);
    unsigned char bx_before[3 * sizeof(float)];
    memcpy(bx_before, tu_data(&bx), sizeof bx_before);
    sigfuse_gru_forward_args g = {3, 1, &gi.desc, &gh.desc, &bx.desc, NULL, &hp.desc, &bx.desc};
    EXPECT_FAIL(ctx, sigfuse_gru_cell_forward(ctx, &g), SIGFUSE_ERR_INVALID_ARGUMENT, "h overlaps bias_x");
    cr_expect(memcmp(bx_before, tu_data(&bx), sizeof bx_before) == 0, "gru_cell_forward wrote into bias_x");
    g.h = &hp.desc;
    cr_expect_eq(sigfuse_gru_cell_forward(ctx, &g), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));

    /* A loss: dlogits [rows, cols] on pos_weight [cols] at rows = 1, and on targets (the
     * same shape, another role). */
    tu_buf logits = tu_alloc(SIGFUSE_F32, 3), targets = tu_alloc(SIGFUSE_F32, 3), pw = tu_alloc(SIGFUSE_F32, 3);
    for (int i = 0; i < 3; i++)
        tu_set(&logits, i, i - 1.0), tu_set(&targets, i, i % 2), tu_set(&pw, i, 2.0);
    sigfuse_bce_args l;
    sigfuse_bce_args_init(&l);
    l.rows = 1, l.cols = 3, l.reduction = SIGFUSE_REDUCTION_NONE;
    l.logits = &logits.desc, l.targets = &targets.desc, l.pos_weight = &pw.desc, l.dlogits = &pw.desc;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &l), SIGFUSE_ERR_INVALID_ARGUMENT, "dlogits overlaps pos_weight");
    cr_expect_eq(tu_get(&pw, 0), 2.0, "bce wrote into pos_weight");
    l.pos_weight = NULL, l.dlogits = &targets.desc;
    EXPECT_FAIL(ctx, sigfuse_bce_with_logits(ctx, &l), SIGFUSE_ERR_INVALID_ARGUMENT, "dlogits overlaps targets");
    cr_expect_eq(tu_get(&targets, 1), 1.0, "bce wrote into targets");
    l.dlogits = &logits.desc;
    cr_expect_eq(sigfuse_bce_with_logits(ctx, &l), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));

    tu_free(&gx), tu_free(&bias), tu_free(&c_prev), tu_free(&h), tu_free(&dh), tu_free(&dg);
    tu_free(&gi), tu_free(&gh), tu_free(&bx), tu_free(&hp), tu_free(&gout);
    tu_free(&logits), tu_free(&targets), tu_free(&pw);
}

/* A workspace descriptor is checked whenever one is given: head_predict on the reference
 * needs none, and used to accept an unknown memory kind, an unknown dtype and a NULL
 * pointer there, which head_train_step rejects. */
Test(api_errors, head_predict_checks_a_workspace_it_does_not_need)
{
    const int Nr = 3, D = 2, L = 2;
    tu_buf x = tu_alloc(SIGFUSE_F32, Nr * D), w = tu_alloc(SIGFUSE_F32, L * D), probs = tu_alloc(SIGFUSE_F32, Nr * L);
    set_ramp(&x, 0.1);
    set_ramp(&w, 0.2);
    sigfuse_head_predict_args p;
    sigfuse_head_predict_args_init(&p);
    p.n = Nr, p.d = D, p.l = L, p.x = &x.desc, p.w = &w.desc, p.probs = &probs.desc;
    size_t need = 1;
    cr_assert_eq(sigfuse_head_predict_workspace_size(ctx, &p, 0, &need), SIGFUSE_SUCCESS);
    cr_assert_eq(need, 0u, "the reference's predict needs no workspace");
    _Alignas(16) unsigned char scratch[64];
    sigfuse_buffer ws = sigfuse_host_buffer(scratch, SIGFUSE_U8);
    p.workspace = &ws, p.workspace_bytes = sizeof scratch;
    ws.memory = (sigfuse_memory)77;
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &p), SIGFUSE_ERR_WRONG_MEMORY, "workspace", &probs);
    ws = sigfuse_host_buffer(scratch, (sigfuse_dtype)99);
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &p), SIGFUSE_ERR_INVALID_DTYPE, "workspace", &probs);
    ws = sigfuse_host_buffer(NULL, SIGFUSE_U8);
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &p), SIGFUSE_ERR_NULL_ARGUMENT, "workspace", &probs);
    ws = sigfuse_host_buffer(scratch + 1, SIGFUSE_U8);
    p.workspace_bytes = 8;
    EXPECT_FAIL(ctx, sigfuse_head_predict(ctx, &p), SIGFUSE_ERR_INVALID_ARGUMENT, "aligned", &probs);
    /* A valid one, and none at all, both work. */
    ws = sigfuse_host_buffer(scratch, SIGFUSE_U8);
    cr_expect_eq(sigfuse_head_predict(ctx, &p), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    p.workspace = NULL, p.workspace_bytes = 0;
    cr_expect_eq(sigfuse_head_predict(ctx, &p), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    tu_free(&x), tu_free(&w), tu_free(&probs);
}
