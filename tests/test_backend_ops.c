/* SPDX-License-Identifier: MIT */
/*
 * Every op x dtype x option on every device backend present (CUDA, OpenCL), against the
 * CPU reference (the model is ggml's test-backend-ops): the cases of device_suite.c, one
 * test per op of the catalogue x backend x dtype, each running that op's whole sweep
 * (sizes 0, 1, 7, 1023, 4097 and 2^20 + 3, views aligned and offset by one element,
 * extremes: +-inf, NaN, +-1e4, +-88.7, subnormals; every option and output set; in place;
 * reductions run twice and bitwise equal). Then per backend and dtype the arguments a
 * device must refuse and the in-place shape rule, one case past 2^31 elements, and the
 * CUDA streams and graphs.
 *
 * A test is named <op>_<backend>_<dtype>; every failure message starts with the case name
 * (op, backend, dtype, shape, options), e.g.
 *   bce_with_logits(backend=cuda,dtype=bf16,shape=[17,241],red=sum,...,targets=u8,...,view=+1)
 * Re-run one test with --filter 'backend_ops/bce_with_logits_opencl_bf16'.
 * A backend with no device here reports each of its tests as skipped ("skipped: no CUDA
 * device", "skipped: no OpenCL device"), never as passed. SIGFUSE_TEST_QUICK=1 in the
 * environment drops the large sizes and thins the sweeps (for compute-sanitizer runs).
 * Compiled with -DSIGFUSE_TEST_SELFCHECK it also runs every case with the reference as the
 * "device" (host memory): each must pass exactly, a check of the harness without a GPU.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "device_suite.h"
#include "sf_internal.h"

#ifdef SIGFUSE_WITH_CUDA
#include "sigfuse_cuda.h"
#endif

static const char *dt_name(sigfuse_dtype d) { return sigfuse_dtype_name(d); }

/* One op's sweep. */
static void op_test(sigfuse_backend b, int op, sigfuse_dtype dt)
{
    ds_env e;
    ds_open_test(&e, b, sf_op_name((sf_op)op), dt);
    ds_sweep(&e, (sf_op)op, dt);
    ds_close(&e);
}

/* ====================================================================================
 * Arguments a device context must refuse
 * ==================================================================================== */

static void bad_argument_tests(sigfuse_backend b, int unused, sigfuse_dtype dt)
{
    (void)unused;
    ds_env e;
    const char *test = ds_open_test(&e, b, "bad_arguments", dt);
    if (b == SIGFUSE_BACKEND_CPU)
        cr_skip_test("host memory and f64 are the cpu backend's own");
    sigfuse_ctx *dev = e.dev.ctx;
    const char *be = e.dev.name;
    const int64_t n = 64;
    kit_buf x = ds_buf(&e.dev, dt, n, 0), y = ds_buf(&e.dev, dt, n, 0);
    tu_buf hx = tu_alloc(dt, n);
    tu_fill_uniform(&hx, &(tu_rng){7}, -1.0, 1.0);

    /* A host pointer given to a device context. */
    sigfuse_status st = sigfuse_sigmoid_forward(dev, n, &hx.desc, &y.desc);
    cr_expect_eq(st, SIGFUSE_ERR_WRONG_MEMORY, "sigmoid_forward(backend=%s,dtype=%s): host x: got %s (%s)", be,
                 dt_name(dt), sigfuse_status_string(st), sigfuse_ctx_last_error(dev));
    /* f64 is the reference's alone. */
    sigfuse_buffer x64 = x.desc, y64 = y.desc;
    x64.dtype = y64.dtype = SIGFUSE_F64;
    st = sigfuse_sigmoid_forward(dev, n / 8, &x64, &y64);
    cr_expect_eq(st, SIGFUSE_ERR_UNSUPPORTED, "sigmoid_forward(backend=%s,dtype=f64): got %s (%s)", be,
                 sigfuse_status_string(st), sigfuse_ctx_last_error(dev));
    cr_expect(strlen(sigfuse_ctx_last_error(dev)) > 0);
    /* A workspace smaller than one row needs. */
    kit_buf tgt = ds_buf(&e.dev, SIGFUSE_U8, 16, 0);
    sigfuse_head_train_args a;
    ds_args(SF_OP_head_train_step, &a, (int64_t[]){4, 4, 4}, "x", &x.desc, "w", &x.desc, "dx", &y.desc, "targets",
            &tgt.desc, NULL);
    size_t bytes = 0;
    cr_assert_eq(sigfuse_head_train_workspace_size(dev, &a, 1, &bytes), SIGFUSE_SUCCESS, "%s",
                 sigfuse_ctx_last_error(dev));
    if (bytes > 0) {
        a.workspace = &y.desc;
        a.workspace_bytes = bytes - 1;
        st = sigfuse_head_train_step(dev, &a);
        cr_expect_eq(st, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE, "head_train_step(backend=%s): got %s", be,
                     sigfuse_status_string(st));
    }
    cr_expect(ds_untouched(&y), "%s: a refused call wrote its output", test);
    cr_expect(ds_guards_ok(&y));
    tu_free(&hx);
    kit_buf_free(&tgt);
    kit_buf_free(&x);
    kit_buf_free(&y);
    ds_close(&e);
}

/* ====================================================================================
 * In place means the same shape and role
 * ==================================================================================== */

/* An output on an input of another shape that spans the same bytes (LSTM c on bias at
 * B = 4, H = 1: 16 bytes each; GRU h on bias_x at B = 3, H = 1) is refused with
 * INVALID_ARGUMENT naming both buffers, and nothing is written; on the device, then on the
 * reference (host memory). (The same-shape cases, c = c_prev, h = h_prev and the
 * backward's, run in the cells' sweeps.) */
static void in_place_shape_checks(kit_dev *d, sigfuse_dtype dt, const char *test)
{
    sigfuse_ctx *dev = d->ctx;
    tu_rng rng = tu_rng_seed(ds_hash(test), test);
    tu_buf hg = tu_alloc(dt, 16), hb = tu_alloc(dt, 4), hc = tu_alloc(dt, 4);
    tu_fill_uniform(&hg, &rng, -2.0, 2.0);
    tu_fill_uniform(&hb, &rng, -1.0, 1.0);
    tu_fill_uniform(&hc, &rng, -1.0, 1.0);
    kit_buf g = ds_buf(d, dt, 16, 0), b = ds_buf(d, dt, 4, 0), c = ds_buf(d, dt, 4, 0), h = ds_buf(d, dt, 4, 0);
    ds_upload(&g, &hg);
    ds_upload(&b, &hb);
    ds_upload(&c, &hc);

    sigfuse_lstm_forward_args la = {4, 1, &g.desc, NULL, &b.desc, &c.desc, &h.desc, &b.desc};
    sigfuse_status st = sigfuse_lstm_cell_forward(dev, &la);
    const char *msg = sigfuse_ctx_last_error(dev);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT,
                 "lstm_cell_forward(backend=%s,dtype=%s,batch=4,hidden=1,c=bias): got %s (%s)", d->name, dt_name(dt),
                 sigfuse_status_string(st), msg);
    cr_expect(tu_names_buffer(msg, "c") && tu_names_buffer(msg, "bias"), "%s: %s: the message names c and bias: %s",
              test, d->name, msg);
    cr_assert_eq(sigfuse_ctx_synchronize(dev), SIGFUSE_SUCCESS);
    tu_buf back = ds_download(&b);
    cr_expect(tu_bytes_equal(&back, &hb) && ds_guards_ok(&b), "%s: %s: lstm c on bias wrote bias", test, d->name);
    cr_expect(ds_untouched(&h), "%s: %s: lstm c on bias wrote h", test, d->name);

    /* GRU, B = 3, H = 1: h on bias_x (3 elements each); the first 9 of g as both gates. */
    kit_buf bx = ds_buf(d, dt, 3, 0);
    tu_buf hbx = tu_alloc(dt, 3);
    tu_fill_uniform(&hbx, &rng, -1.0, 1.0);
    ds_upload(&bx, &hbx);
    sigfuse_buffer hp = c.desc;   /* h_prev: 3 of c_prev's elements */
    sigfuse_gru_forward_args ga = {3, 1, &g.desc, &g.desc, &bx.desc, NULL, &hp, &bx.desc};
    st = sigfuse_gru_cell_forward(dev, &ga);
    msg = sigfuse_ctx_last_error(dev);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT,
                 "gru_cell_forward(backend=%s,dtype=%s,batch=3,hidden=1,h=bias_x): got %s (%s)", d->name, dt_name(dt),
                 sigfuse_status_string(st), msg);
    cr_expect(tu_names_buffer(msg, "h") && tu_names_buffer(msg, "bias_x"),
              "%s: %s: the message names h and bias_x: %s", test, d->name, msg);
    tu_buf bxback = ds_download(&bx);
    cr_expect(tu_bytes_equal(&bxback, &hbx) && ds_guards_ok(&bx), "%s: %s: gru h on bias_x wrote bias_x", test,
              d->name);

    tu_free(&hg), tu_free(&hb), tu_free(&hc), tu_free(&back), tu_free(&hbx), tu_free(&bxback);
    kit_buf_free(&g), kit_buf_free(&b), kit_buf_free(&c), kit_buf_free(&h), kit_buf_free(&bx);
}

static void in_place_shape_tests(sigfuse_backend be, int unused, sigfuse_dtype dt)
{
    (void)unused;
    ds_env e;
    const char *test = ds_open_test(&e, be, "in_place_shapes", dt);
    in_place_shape_checks(&e.dev, dt, test);
    kit_dev host;
    cr_assert_eq(kit_open(&host, SIGFUSE_BACKEND_CPU, 0), SIGFUSE_SUCCESS, "%s", kit_error());
    in_place_shape_checks(&host, dt, test);
    kit_close(&host);
    ds_close(&e);
}

/* ====================================================================================
 * Past 2^31 elements: int64 indexing end to end
 * ==================================================================================== */

static void huge_sigmoid_test(sigfuse_backend be, sigfuse_dtype dt)
{
    const int64_t n = ((int64_t)1 << 31) + 17;
    char test[128];
    snprintf(test, sizeof test, "sigmoid_forward_%s_%s_n%lld", kit_backend_name(be), dt_name(dt), (long long)n);
    ds_env e;
    ds_open(&e, be, test);
    const size_t elem = sigfuse_dtype_size(dt), bytes = (size_t)n * elem;
    const size_t need = 2 * (bytes + 2 * KIT_GUARD_BYTES) + ((size_t)1 << 30);   /* x, y and 1 GiB to spare */
    if (ds_quick() || kit_free_bytes(&e.dev) < need) {
        fprintf(stderr, "%s: skipped: needs %zu bytes of free device memory%s\n", test, need,
                ds_quick() ? " (and SIGFUSE_TEST_QUICK is set)" : "");
        ds_close(&e);
        cr_skip_test("needs %zu bytes of free device memory", need);
    }
    kit_dev *d = &e.dev;
    char name[256];
    snprintf(name, sizeof name, "sigmoid_forward(backend=%s,dtype=%s,n=%lld)", d->name, dt_name(dt), (long long)n);

    /* x repeats a random pattern of P elements (P odd: no alignment with vectors or
     * blocks); y is checked against the reference of that pattern. */
    const int64_t P = ((int64_t)1 << 24) + 3;
    tu_rng rng = tu_rng_seed(ds_hash(name), name);
    tu_buf px = tu_alloc(dt, P), py = tu_alloc(SIGFUSE_F64, P);   /* py: the truth, in double */
    tu_fill_uniform(&px, &rng, -12.0, 12.0);
    ds_put_extremes(&px, DS_SPREAD);
    tu_buf px64 = tu_copy_as(&px, SIGFUSE_F64);
    cr_assert_eq(sigfuse_sigmoid_forward(e.cpu, P, &px64.desc, &py.desc), SIGFUSE_SUCCESS);
    tu_free(&px64);

    kit_buf x = ds_buf(d, dt, n, 0), y = ds_buf(d, dt, n, 0);
    cr_assert(kit_upload(d, x.h, x.data_off, tu_data(&px), (size_t)P * elem), "%s", kit_error());
    for (int64_t k = P; k < n; k *= 2) {   /* doubling copies: x[k + j] = x[j], k a multiple of P */
        int64_t len = k < n - k ? k : n - k;
        cr_assert(kit_copy(d, x.h, x.data_off + (size_t)k * elem, x.h, x.data_off, (size_t)len * elem), "%s",
                  kit_error());
    }
    sigfuse_status st = sigfuse_sigmoid_forward(d->ctx, n, &x.desc, &y.desc);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(d->ctx));
    cr_assert_eq(sigfuse_ctx_synchronize(d->ctx), SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(d->ctx));

    /* Check whole windows (start, across 2^31, end) and scattered single elements, in ulps
     * (sigma is well conditioned: 4 ulp of f32, the 16-bit rounding +-1). */
    const int64_t W = (int64_t)1 << 20;
    const int64_t starts[] = {0, ((int64_t)1 << 31) - W, n - W};
    tu_buf win = tu_alloc(dt, W), truth = tu_alloc(SIGFUSE_F64, W);
    int64_t bad = 0;
    char what[64];
    for (int w = 0; w < 3; w++) {
        cr_assert(kit_download(d, y.h, y.data_off + (size_t)starts[w] * elem, tu_data(&win), (size_t)W * elem));
        for (int64_t i = 0; i < W; i++)
            tu_set(&truth, i, tu_get(&py, (starts[w] + i) % P));
        snprintf(what, sizeof what, "y[%lld + i]", (long long)starts[w]);
        bad += tu_expect_ulp(name, what, &win, &truth, NULL, NULL, NULL);
    }
    tu_buf one = tu_alloc(dt, 4096), one_truth = tu_alloc(SIGFUSE_F64, 4096);
    for (int k = 0; k < 4096; k++) {
        int64_t g = (int64_t)(tu_next(&rng) % (uint64_t)n);
        cr_assert(kit_download(d, y.h, y.data_off + (size_t)g * elem, (char *)tu_data(&one) + (size_t)k * elem, elem));
        tu_set(&one_truth, k, tu_get(&py, g % P));
    }
    bad += tu_expect_ulp(name, "y (4096 sampled)", &one, &one_truth, NULL, NULL, NULL);
    cr_expect(bad == 0, "%s: %lld sampled elements differ", name, (long long)bad);
    cr_expect(ds_guards_ok(&y), "%s: a guard byte around y was overwritten", name);
    tu_free(&truth), tu_free(&one_truth), tu_free(&one), tu_free(&win), tu_free(&px), tu_free(&py);
    kit_buf_free(&x);
    kit_buf_free(&y);
    ds_close(&e);
}

/* ====================================================================================
 * CUDA only: streams, graphs, device indices
 * ==================================================================================== */

#ifdef SIGFUSE_WITH_CUDA
/* A BCE call captured into a CUDA graph and replayed gives bitwise what a direct call
 * gives: the op allocates nothing and never waits on the host. */
Test(backend_ops, bce_with_logits_cuda_f32_graph_capture)
{
    ds_env e;
    ds_open(&e, SIGFUSE_BACKEND_CUDA, "bce_with_logits_cuda_f32_graph_capture");
    const int64_t rows = 513, cols = 1031, n = rows * cols;
    const char *name = "bce_with_logits(backend=cuda,dtype=f32,shape=[513,1031],red=sum,graph_capture)";
    cudaStream_t stream;
    cr_assert_eq(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    sigfuse_ctx *ctx = NULL;
    cr_assert_eq(sigfuse_ctx_create_cuda(&ctx, 0, stream), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    tu_rng rng = tu_rng_seed(ds_hash(name), name);
    tu_buf hx = tu_alloc(SIGFUSE_F32, n), hy = tu_alloc(SIGFUSE_F32, n);
    tu_fill_uniform(&hx, &rng, -6.0, 6.0);
    tu_fill_binary(&hy, &rng);
    kit_buf x = ds_buf(&e.dev, SIGFUSE_F32, n, 0), y = ds_buf(&e.dev, SIGFUSE_F32, n, 0);
    kit_buf loss1 = ds_buf(&e.dev, SIGFUSE_F32, 1, 0), loss2 = ds_buf(&e.dev, SIGFUSE_F32, 1, 0);
    kit_buf g1 = ds_buf(&e.dev, SIGFUSE_F32, n, 0), g2 = ds_buf(&e.dev, SIGFUSE_F32, n, 0);
    ds_upload(&x, &hx);
    ds_upload(&y, &hy);

    sigfuse_bce_args a;
    ds_args(SF_OP_bce_with_logits, &a, (int64_t[]){rows, cols}, "logits", &x.desc, "targets", &y.desc, "loss",
            &loss1.desc, "dlogits", &g1.desc, NULL);
    a.reduction = SIGFUSE_REDUCTION_SUM;
    cr_assert_eq(sigfuse_bce_with_logits(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    cr_assert_eq(sigfuse_ctx_synchronize(ctx), SIGFUSE_SUCCESS);

    a.loss = &loss2.desc;
    a.dlogits = &g2.desc;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    cr_assert_eq(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    sigfuse_status st = sigfuse_bce_with_logits(ctx, &a);
    cr_assert_eq(cudaStreamEndCapture(stream, &graph), cudaSuccess, "%s: capture failed", name);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(ctx));
    cr_assert_eq(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int rep = 0; rep < 3; rep++)
        cr_assert_eq(cudaGraphLaunch(exec, stream), cudaSuccess);
    cr_assert_eq(cudaStreamSynchronize(stream), cudaSuccess);

    tu_buf l1 = ds_download(&loss1), l2 = ds_download(&loss2), d1 = ds_download(&g1), d2 = ds_download(&g2);
    cr_expect(tu_bytes_equal(&l1, &l2), "%s: loss %.9g (direct) vs %.9g (graph)", name, tu_get(&l1, 0),
              tu_get(&l2, 0));
    cr_expect(tu_bytes_equal(&d1, &d2), "%s: dlogits differ between the direct call and the graph", name);
    cr_expect(isfinite(tu_get(&l1, 0)) && tu_get(&l1, 0) > 0.0, "%s: loss %g", name, tu_get(&l1, 0));

    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    tu_free(&l1), tu_free(&l2), tu_free(&d1), tu_free(&d2), tu_free(&hx), tu_free(&hy);
    kit_buf_free(&x), kit_buf_free(&y), kit_buf_free(&loss1), kit_buf_free(&loss2), kit_buf_free(&g1);
    kit_buf_free(&g2);
    sigfuse_ctx_destroy(ctx);
    cudaStreamDestroy(stream);
    ds_close(&e);
}

/* Device indices, streams and their round trip. */
Test(backend_ops, context_cuda_devices_and_streams)
{
    ds_env e;
    ds_open(&e, SIGFUSE_BACKEND_CUDA, "context_cuda_devices_and_streams");
    int count = 0;
    cr_assert_eq(cudaGetDeviceCount(&count), cudaSuccess);
    sigfuse_ctx *ctx = (sigfuse_ctx *)0x1;
    sigfuse_status st = sigfuse_ctx_create_cuda(&ctx, count, NULL);
    cr_expect(st == SIGFUSE_ERR_NO_DEVICE || st == SIGFUSE_ERR_INVALID_ARGUMENT, "device %d of %d: got %s", count,
              count, sigfuse_status_string(st));
    cr_expect_null(ctx);
    cr_expect(strstr(sigfuse_last_create_error(), "device") != NULL, "message: %s", sigfuse_last_create_error());
    st = sigfuse_ctx_create_cuda(&ctx, -1, NULL);
    cr_expect(st == SIGFUSE_ERR_NO_DEVICE || st == SIGFUSE_ERR_INVALID_ARGUMENT, "device -1: got %s",
              sigfuse_status_string(st));
    cr_expect_null(ctx);

    cudaStream_t s1, s2, got = NULL;
    cr_assert_eq(cudaStreamCreate(&s1), cudaSuccess);
    cr_assert_eq(cudaStreamCreate(&s2), cudaSuccess);
    cr_assert_eq(sigfuse_ctx_create_cuda(&ctx, 0, s1), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    cr_expect_eq(sigfuse_ctx_backend(ctx), SIGFUSE_BACKEND_CUDA);
    cr_expect_eq(sigfuse_ctx_memory(ctx), SIGFUSE_MEMORY_CUDA);
    cr_expect(strlen(sigfuse_ctx_device_name(ctx)) > 0);
    cr_expect_eq(sigfuse_cuda_get_stream(ctx, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, s1);
    cr_expect_eq(sigfuse_cuda_set_stream(ctx, s2), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    cr_expect_eq(sigfuse_cuda_get_stream(ctx, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, s2);
    cr_expect_eq(sigfuse_cuda_get_stream(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_cuda_set_stream(NULL, s2), SIGFUSE_ERR_NULL_ARGUMENT);

    /* Work goes where the stream says: an op on s2, then synchronize. */
    kit_buf x = ds_buf(&e.dev, SIGFUSE_F32, 1000, 0), y = ds_buf(&e.dev, SIGFUSE_F32, 1000, 0);
    tu_buf hx = tu_alloc(SIGFUSE_F32, 1000);
    for (int i = 0; i < 1000; i++)
        tu_set(&hx, i, 0.0);
    ds_upload(&x, &hx);
    cr_expect_eq(sigfuse_sigmoid_forward(ctx, 1000, &x.desc, &y.desc), SIGFUSE_SUCCESS);
    cr_expect_eq(sigfuse_ctx_synchronize(ctx), SIGFUSE_SUCCESS);
    tu_buf hy = ds_download(&y);
    cr_expect_eq(tu_get(&hy, 999), 0.5);

    /* A CPU context has no stream. */
    cr_expect_eq(sigfuse_cuda_set_stream(e.cpu, s2), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(sigfuse_cuda_get_stream(e.cpu, &got), SIGFUSE_ERR_INVALID_ARGUMENT);

    tu_free(&hx), tu_free(&hy);
    kit_buf_free(&x), kit_buf_free(&y);
    sigfuse_ctx_destroy(ctx);
    cudaStreamDestroy(s1);
    cudaStreamDestroy(s2);
    ds_close(&e);
}
#endif

/* ====================================================================================
 * The test table: one Test per op of the catalogue x backend x dtype, then the others
 * ==================================================================================== */

#define ID3_(a, b, c) a##_##b##_##c
#define ID3(a, b, c) ID3_(a, b, c)
#define BE_(b) BE_##b
#define BE(b) BE_(b)
#define BE_cuda SIGFUSE_BACKEND_CUDA
#define BE_opencl SIGFUSE_BACKEND_OPENCL
#define BE_cpu SIGFUSE_BACKEND_CPU

#define DTYPE_TESTS(name, fn, arg)                                                                                     \
    Test(backend_ops, ID3(name, BACKEND, f32)) { fn(BE(BACKEND), arg, SIGFUSE_F32); }                                  \
    Test(backend_ops, ID3(name, BACKEND, f16)) { fn(BE(BACKEND), arg, SIGFUSE_F16); }                                  \
    Test(backend_ops, ID3(name, BACKEND, bf16)) { fn(BE(BACKEND), arg, SIGFUSE_BF16); }
#define OP_TESTS_(name, family, shape, args) DTYPE_TESTS(name, op_test, SF_OP_##name)
#define BACKEND_TESTS                                                                                                  \
    SF_CATALOG(OP_TESTS_)                                                                                              \
    DTYPE_TESTS(bad_arguments, bad_argument_tests, 0)                                                                  \
    DTYPE_TESTS(in_place_shapes, in_place_shape_tests, 0)                                                              \
    Test(backend_ops, ID3(sigmoid_forward, BACKEND, bf16_n2147483665), .timeout = 600)                                 \
    {                                                                                                                  \
        huge_sigmoid_test(BE(BACKEND), SIGFUSE_BF16);                                                                  \
    }

#define BACKEND cuda
BACKEND_TESTS
#undef BACKEND
#define BACKEND opencl
BACKEND_TESTS
#undef BACKEND
#ifdef SIGFUSE_TEST_SELFCHECK
#define BACKEND cpu
BACKEND_TESTS
#undef BACKEND
#endif
