/* SPDX-License-Identifier: MIT */
/*
 * The OpenCL backend's own contract: contexts on a caller's queue and queue changes,
 * creation failures as statuses, device selection from the environment, out-of-order
 * queues, bad cl_mem handles, offsets and contexts (nothing written), bitwise-repeatable
 * reductions, program build failures with their log; and opencl_small, every kernel and
 * path at sizes small enough for scripts/oclgrind.sh to run it under oclgrind. Every op
 * against the reference runs in test_backend_ops (backend_ops/<op>_opencl_<dtype>), through
 * device_suite.c, which these tests use too. Without an OpenCL device each test says
 * "skipped: no OpenCL device".
 */
/* setenv, mkdtemp: POSIX, which strict C11 leaves out. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "device_suite.h"
#include "sigfuse_opencl.h"

static ds_env env_open(void)
{
    ds_env e;
    ds_open(&e, SIGFUSE_BACKEND_OPENCL, criterion_current_test->name);
    return e;
}

static cl_command_queue queue_of(ds_env *e) { return kit_opencl_queue(&e->dev); }

static cl_device_id device_of(ds_env *e)
{
    cl_device_id dev;
    cr_assert_eq(clGetCommandQueueInfo(queue_of(e), CL_QUEUE_DEVICE, sizeof dev, &dev, NULL), CL_SUCCESS);
    return dev;
}

/* Whether the driver tells handle kinds apart (a cl_mem passed as a queue and the
 * reverse). The OpenCL spec leaves such a mix-up undefined: PoCL answers it (and the
 * library's cross-checks then catch it), NVIDIA's driver may crash or accept it. */
static bool driver_checks_handle_kinds(ds_env *e)
{
    cl_platform_id platform;
    char name[256] = "";
    clGetDeviceInfo(device_of(e), CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);
    clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
    if (strstr(name, "Portable Computing Language") != NULL)
        return true;
    cr_log_warn("platform \"%s\": wrong-kind handle cases not run (undefined behaviour for this driver)", name);
    return false;
}

/* n elements of dtype in [lo, hi) (0 / 1 in u8) on the device `misalign` elements past
 * alignment; their values also in *host when it is not NULL (the caller frees it). */
static kit_buf rand_buf(ds_env *e, sigfuse_dtype dt, int64_t n, int misalign, tu_rng *r, double lo, double hi,
                        tu_buf *host)
{
    tu_buf h = tu_alloc(dt, n);
    if (dt == SIGFUSE_U8)
        tu_fill_binary(&h, r);
    else
        tu_fill_uniform(&h, r, lo, hi);
    kit_buf d = ds_buf(&e->dev, dt, n, misalign);
    ds_upload(&d, &h);
    if (host)
        *host = h;
    else
        tu_free(&h);
    return d;
}

/* y (n elements of f32) against the reference's sigmoid of hx, in ulps, with its guards. */
static void check_sigmoid(ds_env *e, const kit_buf *y, const tu_buf *hx, const char *name)
{
    tu_buf x64 = tu_copy_as(hx, SIGFUSE_F64), truth = tu_alloc(SIGFUSE_F64, hx->n);
    cr_assert_eq(sigfuse_sigmoid_forward(e->cpu, hx->n, &x64.desc, &truth.desc), SIGFUSE_SUCCESS);
    tu_buf got = ds_download(y);
    cr_expect(ds_guards_ok(y), "%s: y: a guard region around the output was overwritten", name);
    tu_expect_ulp(name, "y", &got, &truth, NULL, NULL, NULL);
    tu_free(&x64), tu_free(&truth), tu_free(&got);
}

static void must(sigfuse_ctx *ctx, sigfuse_status st, const char *what)
{
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s (%s)", what, sigfuse_status_string(st), sigfuse_ctx_last_error(ctx));
}

/* A case of the suite, drawn as test_opencl always drew them (device_suite.h). */
#define CASE(e, ...) ds_case(e, &(ds_spec){.draw = DS_LEADING, __VA_ARGS__})

/* ---- Contexts and queues ------------------------------------------------------------------------------- */

Test(opencl_ctx, create_from_caller_queue_and_set_get_queue)
{
    ds_env e = env_open();
    sigfuse_ctx *ocl = e.dev.ctx;
    cl_device_id dev = device_of(&e);
    cl_context context = kit_opencl_context(&e.dev);
    char dev_name[256];
    cr_assert_eq(clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof dev_name, dev_name, NULL), CL_SUCCESS);
    cr_expect_str_eq(sigfuse_ctx_device_name(ocl), dev_name);
    cr_expect_eq(sigfuse_ctx_backend(ocl), SIGFUSE_BACKEND_OPENCL);
    cr_expect_eq(sigfuse_ctx_memory(ocl), SIGFUSE_MEMORY_OPENCL);

    /* A context on a queue of the caller's, which the caller then drops: the sigfuse
     * context keeps its own reference. */
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(context, dev, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    sigfuse_ctx *c = NULL;
    cr_assert_eq(sigfuse_ctx_create_opencl(&c, q), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    cl_command_queue got = NULL;
    cr_expect_eq(sigfuse_opencl_get_queue(c, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, q);
    clReleaseCommandQueue(q);
    const char *name = "sigmoid_forward(opencl, f32, n=64) on a caller's queue";
    tu_rng r = tu_rng_seed(1, name);
    tu_buf hx;
    kit_buf x = rand_buf(&e, SIGFUSE_F32, 64, 0, &r, -5, 5, &hx), y = ds_buf(&e.dev, SIGFUSE_F32, 64, 0);
    must(c, sigfuse_sigmoid_forward(c, 64, &x.desc, &y.desc), "caller queue");
    cr_expect_eq(sigfuse_ctx_synchronize(c), SIGFUSE_SUCCESS);
    check_sigmoid(&e, &y, &hx, name);

    /* Another queue of the same context and device is accepted... */
    cl_command_queue q2 = clCreateCommandQueue(context, dev, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_expect_eq(sigfuse_opencl_set_queue(c, q2), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(c));
    cr_expect_eq(sigfuse_opencl_get_queue(c, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, q2);
    /* ...one of another OpenCL context is not, nor NULL, nor a handle that is no queue. */
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_command_queue q3 = clCreateCommandQueue(other, dev, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_expect_eq(sigfuse_opencl_set_queue(c, q3), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(sigfuse_ctx_last_error(c), "another OpenCL context") != NULL, "%s", sigfuse_ctx_last_error(c));
    cr_expect_eq(sigfuse_opencl_set_queue(c, NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    if (driver_checks_handle_kinds(&e))
        cr_expect_eq(sigfuse_opencl_set_queue(c, (cl_command_queue)x.h), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(sigfuse_opencl_get_queue(c, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, q2, "a refused queue leaves the context's queue as it was");
    cr_expect_eq(sigfuse_opencl_set_queue(e.cpu, q2), SIGFUSE_ERR_INVALID_ARGUMENT, "not an opencl context");
    clReleaseCommandQueue(q2);
    sigfuse_ctx_destroy(c);
    clReleaseCommandQueue(q3);
    clReleaseContext(other);
    tu_free(&hx);
    kit_buf_free(&x), kit_buf_free(&y);
    ds_close(&e);
}

Test(opencl_ctx, creation_failures_are_statuses)
{
    ds_env e = env_open();
    sigfuse_ctx *c = (sigfuse_ctx *)0x1;
    cr_expect_eq(sigfuse_ctx_create_opencl(&c, NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_null(c);
    cr_expect(strstr(sigfuse_last_create_error(), "queue") != NULL, "%s", sigfuse_last_create_error());
    /* A live OpenCL handle that is not a queue. */
    if (driver_checks_handle_kinds(&e)) {
        cl_int err;
        cl_mem mem = clCreateBuffer(kit_opencl_context(&e.dev), CL_MEM_READ_WRITE, 64, NULL, &err);
        cr_assert_eq(err, CL_SUCCESS);
        c = (sigfuse_ctx *)0x1;
        cr_expect_eq(sigfuse_ctx_create_opencl(&c, (cl_command_queue)mem), SIGFUSE_ERR_INVALID_ARGUMENT);
        cr_expect_null(c);
        cr_expect(strstr(sigfuse_last_create_error(), "cl_command_queue") != NULL, "%s",
                  sigfuse_last_create_error());
        clReleaseMemObject(mem);
    }
    cr_expect_eq(sigfuse_ctx_create_opencl(NULL, queue_of(&e)), SIGFUSE_ERR_NULL_ARGUMENT);
    ds_close(&e);
}

Test(opencl_ctx, device_selection_from_environment)
{
    ds_env e = env_open();
    char name[256];
    snprintf(name, sizeof name, "%s", sigfuse_ctx_device_name(e.dev.ctx));
    ds_close(&e);

    sigfuse_ctx *c = NULL;
    /* By index, and by a case-changed piece of the name. */
    setenv("SIGFUSE_OPENCL_DEVICE", "0", 1);
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    sigfuse_ctx_destroy(c);
    char piece[8] = {0};
    for (int i = 0; i < 3 && name[i]; i++)
        piece[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
    setenv("SIGFUSE_OPENCL_DEVICE", piece, 1);
    c = NULL;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_SUCCESS, "%s: %s", piece,
                 sigfuse_last_create_error());
    sigfuse_ctx_destroy(c);

    setenv("SIGFUSE_OPENCL_DEVICE", "no such device anywhere", 1);
    c = (sigfuse_ctx *)0x1;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_ERR_NO_DEVICE);
    cr_expect_null(c);
    cr_expect(strstr(sigfuse_last_create_error(), "SIGFUSE_OPENCL_DEVICE") != NULL, "%s", sigfuse_last_create_error());
    unsetenv("SIGFUSE_OPENCL_DEVICE");

    setenv("SIGFUSE_OPENCL_PLATFORM", "99", 1);
    c = (sigfuse_ctx *)0x1;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_ERR_NO_DEVICE);
    cr_expect_null(c);
    cr_expect(strstr(sigfuse_last_create_error(), "SIGFUSE_OPENCL_PLATFORM") != NULL, "%s",
              sigfuse_last_create_error());
    setenv("SIGFUSE_OPENCL_PLATFORM", "0", 1);
    c = NULL;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    sigfuse_ctx_destroy(c);
    unsetenv("SIGFUSE_OPENCL_PLATFORM");
}

/* An out-of-order queue: the ops that chain kernels (a reduced loss, the bias gradients,
 * the head) put barriers between them. The kit's transfers wait for what came before. */
Test(opencl_ctx, out_of_order_queue_reductions)
{
    ds_env e = env_open();
    cl_device_id dev = device_of(&e);
    cl_command_queue_properties props = 0;
    clGetDeviceInfo(dev, CL_DEVICE_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (!(props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)) {
        ds_close(&e);
        cr_skip_test("skipped: the OpenCL device has no out-of-order queues");
    }
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(kit_opencl_context(&e.dev), dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE,
                                              &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_assert_eq(sigfuse_opencl_set_queue(e.dev.ctx, q), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(e.dev.ctx));
    CASE(&e, .op = SF_OP_bce_with_logits, .dtype = SIGFUSE_F32, .rows = 17, .cols = 241, .misalign = 1,
         .red = SIGFUSE_REDUCTION_MEAN, .targets = T_SOFT, .pos_weight = true, .grad_scale = 1.0f,
         .threshold = 0.375f, .labels_u8 = true);
    CASE(&e, .op = SF_OP_lstm_cell_backward, .dtype = SIGFUSE_F16, .batch = 300, .hidden = 5, .grads = 3);
    CASE(&e, .op = SF_OP_head_train_step, .dtype = SIGFUSE_BF16, .n = 33, .d = 17, .l = 31, .chunk = 4,
         .bias = true, .targets = T_SOFT, .red = SIGFUSE_REDUCTION_MEAN, .grad_scale = 1.0f, .mixed_views = true);
    ds_close(&e);
    clReleaseCommandQueue(q);
}

/* ---- Bad buffers ------------------------------------------------------------------------------------------ */

Test(opencl_buffers, bad_handles_offsets_and_contexts_write_nothing)
{
    ds_env e = env_open();
    sigfuse_ctx *ocl = e.dev.ctx;
    tu_rng r = tu_rng_seed(7, "bad buffers");
    const int64_t n = 100;
    tu_buf hx;
    kit_buf x = rand_buf(&e, SIGFUSE_F32, n, 0, &r, -1, 1, &hx), y = ds_buf(&e.dev, SIGFUSE_F32, n, 0);
    sigfuse_status st;

    /* A live handle that is no buffer. */
    const bool kinds = driver_checks_handle_kinds(&e);
    sigfuse_buffer not_mem = sigfuse_opencl_buffer((cl_mem)queue_of(&e), 0, SIGFUSE_F32);
    if (kinds) {
        st = sigfuse_sigmoid_forward(ocl, n, &not_mem, &y.desc);
        cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(ocl));
        cr_expect(strstr(sigfuse_ctx_last_error(ocl), "x: ") != NULL, "names the buffer: %s",
                  sigfuse_ctx_last_error(ocl));
        cr_expect(ds_untouched(&y));
    }

    /* Offset + bytes past the end of the cl_mem: one element too many, and an offset past
     * the end altogether. */
    sigfuse_buffer late = x.desc;
    late.offset += sizeof(float);
    st = sigfuse_sigmoid_forward(ocl, n + KIT_GUARD_BYTES / 4, &late, &y.desc);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(ocl));
    cr_expect(strstr(sigfuse_ctx_last_error(ocl), "past the end") != NULL, "%s", sigfuse_ctx_last_error(ocl));
    cr_expect(strncmp(sigfuse_ctx_last_error(ocl), "sigmoid_forward: x: ", 20) == 0,
              "the message names the op, then the buffer: %s", sigfuse_ctx_last_error(ocl));
    sigfuse_buffer y_late = y.desc;
    y_late.offset = 1u << 20;
    st = sigfuse_sigmoid_forward(ocl, 1, &x.desc, &y_late);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(ocl));
    cr_expect(strstr(sigfuse_ctx_last_error(ocl), "y: ") != NULL, "%s", sigfuse_ctx_last_error(ocl));
    cr_expect(ds_untouched(&y));

    /* A buffer of another OpenCL context. */
    cl_device_id dev = device_of(&e);
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem foreign = clCreateBuffer(other, CL_MEM_READ_WRITE, n * sizeof(float), NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    sigfuse_buffer fb = sigfuse_opencl_buffer(foreign, 0, SIGFUSE_F32);
    st = sigfuse_sigmoid_forward(ocl, n, &fb, &y.desc);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(ocl));
    cr_expect(strncmp(sigfuse_ctx_last_error(ocl), "sigmoid_forward: x: ", 20) == 0,
              "the message names the op, then the buffer: %s", sigfuse_ctx_last_error(ocl));
    cr_expect(ds_untouched(&y));

    /* Host memory on an OpenCL context, and f64 (the reference's only). */
    tu_buf x64h = tu_copy_as(&hx, SIGFUSE_F64);
    st = sigfuse_sigmoid_forward(ocl, n, &x64h.desc, &y.desc);
    cr_expect_eq(st, SIGFUSE_ERR_WRONG_MEMORY);
    sigfuse_buffer x64 = sigfuse_opencl_buffer((cl_mem)x.h, 0, SIGFUSE_F64);
    sigfuse_buffer y64 = sigfuse_opencl_buffer((cl_mem)y.h, 0, SIGFUSE_F64);
    st = sigfuse_sigmoid_forward(ocl, 8, &x64, &y64);
    cr_expect_eq(st, SIGFUSE_ERR_UNSUPPORTED);
    cr_expect(ds_untouched(&y));

    /* Overlaps are seen inside one cl_mem (offsets): y one element into x. */
    sigfuse_buffer x_plus1 = x.desc;
    x_plus1.offset += sizeof(float);
    st = sigfuse_sigmoid_forward(ocl, n - 1, &x.desc, &x_plus1);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(ocl));
    const char *msg = sigfuse_ctx_last_error(ocl);
    cr_expect(strstr(msg, "overlaps") != NULL && tu_names_buffer(msg, "y") && tu_names_buffer(msg, "x"), "%s", msg);

    /* The same checks guard the structured ops: a loss whose weight runs past its end,
     * a cell whose c_prev is no buffer, a head whose workspace is too short. */
    kit_buf t = rand_buf(&e, SIGFUSE_U8, n, 0, &r, 0, 1, NULL), loss = ds_buf(&e.dev, SIGFUSE_F32, 1, 0);
    sigfuse_buffer w_late = x.desc;
    w_late.offset += KIT_GUARD_BYTES + sizeof(float);
    sigfuse_bce_args ba;
    ds_args(SF_OP_bce_with_logits, &ba, (int64_t[]){10, 10}, "logits", &x.desc, "targets", &t.desc, "weight", &w_late,
            "loss", &loss.desc, NULL);
    cr_expect_eq(sigfuse_bce_with_logits(ocl, &ba), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(sigfuse_ctx_last_error(ocl), "weight") != NULL, "%s", sigfuse_ctx_last_error(ocl));
    cr_expect(ds_untouched(&loss));

    sigfuse_lstm_forward_args la = {5, 5, &x.desc, NULL, NULL, kinds ? &not_mem : &fb, &y.desc, NULL};
    cr_expect_eq(sigfuse_lstm_cell_forward(ocl, &la), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect(ds_untouched(&y));

    sigfuse_head_train_args ha;
    ds_args(SF_OP_head_train_step, &ha, (int64_t[]){10, 5, 10}, "x", &x.desc, "w", &x.desc, "targets", &t.desc, "loss",
            &loss.desc, NULL);
    size_t need = 0;
    cr_assert_eq(sigfuse_head_train_workspace_size(ocl, &ha, 1, &need), SIGFUSE_SUCCESS);
    kit_buf ws = ds_buf(&e.dev, SIGFUSE_U8, (int64_t)need, 16);
    ha.workspace = &ws.desc;
    ha.workspace_bytes = need - 4;
    cr_expect_eq(sigfuse_head_train_step(ocl, &ha), SIGFUSE_ERR_INSUFFICIENT_WORKSPACE);
    ha.workspace_bytes = need + 2 * KIT_GUARD_BYTES;   /* more than the cl_mem holds */
    cr_expect_eq(sigfuse_head_train_step(ocl, &ha), SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(ocl));
    cr_expect(ds_untouched(&loss));

    clReleaseMemObject(foreign);
    clReleaseContext(other);
    tu_free(&hx), tu_free(&x64h);
    kit_buf_free(&ws), kit_buf_free(&x), kit_buf_free(&y), kit_buf_free(&t), kit_buf_free(&loss);
    ds_close(&e);
}

/* ---- Determinism -------------------------------------------------------------------------------------------- */

/* Run the op on the context twice: each of the outputs must hold the same bits after both. */
typedef sigfuse_status (*twice_fn)(sigfuse_ctx *ctx, const void *args);

static void expect_twice_the_same(ds_env *e, twice_fn fn, const void *args, kit_buf *const *outs, int n_outs,
                                  const char *const *what)
{
    tu_buf first[4];
    must(e->dev.ctx, fn(e->dev.ctx, args), what[0]);
    for (int k = 0; k < n_outs; k++)
        first[k] = ds_download(outs[k]);
    must(e->dev.ctx, fn(e->dev.ctx, args), what[0]);
    for (int k = 0; k < n_outs; k++) {
        tu_buf now = ds_download(outs[k]);
        cr_expect(tu_bytes_equal(&now, &first[k]), "%s: a second run gave different bits", what[k]);
        tu_free(&now);
        tu_free(&first[k]);
    }
}

static sigfuse_status run_bce(sigfuse_ctx *c, const void *a) { return sigfuse_bce_with_logits(c, a); }
static sigfuse_status run_focal(sigfuse_ctx *c, const void *a) { return sigfuse_sigmoid_focal(c, a); }
static sigfuse_status run_lstm(sigfuse_ctx *c, const void *a) { return sigfuse_lstm_cell_backward(c, a); }
static sigfuse_status run_gru(sigfuse_ctx *c, const void *a) { return sigfuse_gru_cell_backward(c, a); }
static sigfuse_status run_head(sigfuse_ctx *c, const void *a) { return sigfuse_head_train_step(c, a); }

Test(opencl_determinism, reductions_run_twice_are_bitwise_equal)
{
    ds_env e = env_open();
    kit_dev *d = &e.dev;
    tu_rng r = tu_rng_seed(42, "determinism");
    /* bce_with_logits(opencl, f32, 1021x1027, sum and mean): the loss and its partials. */
    const int64_t rows = 1021, cols = 1027, n = rows * cols;
    kit_buf x = rand_buf(&e, SIGFUSE_F32, n, 1, &r, -10, 10, NULL), y = rand_buf(&e, SIGFUSE_F32, n, 1, &r, 0, 1, NULL);
    kit_buf loss = ds_buf(d, SIGFUSE_F32, 1, 1);
    sigfuse_bce_args a;
    ds_args(SF_OP_bce_with_logits, &a, (int64_t[]){rows, cols}, "logits", &x.desc, "targets", &y.desc, "loss",
            &loss.desc, NULL);
    kit_buf *l1[] = {&loss};
    for (int red = SIGFUSE_REDUCTION_SUM; red <= SIGFUSE_REDUCTION_MEAN; red++) {
        a.reduction = (sigfuse_reduction)red;
        const char *what[] = {red == SIGFUSE_REDUCTION_SUM ? "bce sum" : "bce mean"};
        expect_twice_the_same(&e, run_bce, &a, l1, 1, what);
    }
    /* sigmoid_focal(opencl, f32, ...), mean. */
    sigfuse_focal_args fa;
    ds_args(SF_OP_sigmoid_focal, &fa, (int64_t[]){rows, cols}, "logits", &x.desc, "targets", &y.desc, "loss",
            &loss.desc, NULL);
    expect_twice_the_same(&e, run_focal, &fa, l1, 1, (const char *const[]){"focal mean"});

    /* lstm_cell_backward(opencl, f32, B=2048, H=64): dbias over many row chunks. */
    const int64_t B = 2048, Hd = 64;
    kit_buf gx = rand_buf(&e, SIGFUSE_F32, B * 4 * Hd, 0, &r, -3, 3, NULL);
    kit_buf cp = rand_buf(&e, SIGFUSE_F32, B * Hd, 0, &r, -1, 1, NULL);
    kit_buf dh = rand_buf(&e, SIGFUSE_F32, B * Hd, 0, &r, -1, 1, NULL), db = ds_buf(d, SIGFUSE_F32, 4 * Hd, 0);
    sigfuse_lstm_backward_args la = {B, Hd, &gx.desc, NULL, NULL, &cp.desc, &dh.desc, NULL, NULL, NULL, &db.desc};
    expect_twice_the_same(&e, run_lstm, &la, (kit_buf *const[]){&db}, 1, (const char *const[]){"lstm dbias"});

    /* gru_cell_backward(opencl, f32, B=2048, H=64): both bias gradients (3H of the gates). */
    kit_buf dbx = ds_buf(d, SIGFUSE_F32, 3 * Hd, 0), dbh = ds_buf(d, SIGFUSE_F32, 3 * Hd, 0);
    sigfuse_gru_backward_args ga = {B,    Hd,   &gx.desc, &gx.desc, NULL, NULL, &cp.desc, &dh.desc,
                                    NULL, NULL, NULL,     &dbx.desc, &dbh.desc};
    expect_twice_the_same(&e, run_gru, &ga, (kit_buf *const[]){&dbx, &dbh}, 2,
                          (const char *const[]){"gru dbias_x", "gru dbias_h"});

    /* head_train_step(opencl, f16, N=300, D=40, L=50, chunk_rows=64): loss, dW, db. */
    const int64_t N = 300, Dd = 40, L = 50;
    kit_buf hx = rand_buf(&e, SIGFUSE_F16, N * Dd, 0, &r, -1, 1, NULL);
    kit_buf hw = rand_buf(&e, SIGFUSE_F16, L * Dd, 0, &r, -1, 1, NULL);
    kit_buf hy = rand_buf(&e, SIGFUSE_U8, N * L, 0, &r, 0, 1, NULL), hdw = ds_buf(d, SIGFUSE_F16, L * Dd, 0);
    kit_buf hdb = ds_buf(d, SIGFUSE_F16, L, 0);
    sigfuse_head_train_args ha;
    ds_args(SF_OP_head_train_step, &ha, (int64_t[]){N, Dd, L}, "x", &hx.desc, "w", &hw.desc, "targets", &hy.desc,
            "loss", &loss.desc, "dw", &hdw.desc, "dbias", &hdb.desc, NULL);
    size_t need = 0;
    cr_assert_eq(sigfuse_head_train_workspace_size(d->ctx, &ha, 64, &need), SIGFUSE_SUCCESS);
    kit_buf ws = ds_buf(d, SIGFUSE_U8, (int64_t)need, 16);
    ha.workspace = &ws.desc;
    ha.workspace_bytes = need;
    expect_twice_the_same(&e, run_head, &ha, (kit_buf *const[]){&loss, &hdw, &hdb}, 3,
                          (const char *const[]){"head loss", "head dW", "head dbias"});

    kit_buf *all[] = {&x, &y, &loss, &gx, &cp, &dh, &db, &dbx, &dbh, &hx, &hw, &hy, &hdw, &hdb, &ws};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        kit_buf_free(all[k]);
    ds_close(&e);
}

/* ---- Program builds ------------------------------------------------------------------------------------------- */

/* SIGFUSE_OPENCL_KERNEL_DIR pointing at a folder with a broken activation.cl: the first
 * activation reports SIGFUSE_ERR_PROGRAM_BUILD with the compiler's log, writes nothing,
 * and caches nothing (the same context builds the embedded source once the variable is
 * gone). Criterion runs each test in its own process, so the variable stays here. */
Test(opencl_build, broken_kernel_source_gives_program_build_with_log)
{
    ds_env e = env_open();
    sigfuse_ctx *ocl = e.dev.ctx;
    char dir[] = "/tmp/sigfuse_cl_XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/activation.cl", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("kernel void sigmoid_forward(global float *x) { this_is_not_opencl_c; }\n", f);
    fclose(f);
    setenv("SIGFUSE_OPENCL_KERNEL_DIR", dir, 1);

    tu_rng r = tu_rng_seed(3, "program build failure");
    tu_buf hx;
    kit_buf x = rand_buf(&e, SIGFUSE_F32, 16, 0, &r, -1, 1, &hx), y = ds_buf(&e.dev, SIGFUSE_F32, 16, 0);
    sigfuse_status st = sigfuse_sigmoid_forward(ocl, 16, &x.desc, &y.desc);
    const char *msg = sigfuse_ctx_last_error(ocl);
    cr_expect_eq(st, SIGFUSE_ERR_PROGRAM_BUILD, "%d: %s", (int)st, msg);
    cr_expect(strstr(msg, "activation.cl") != NULL, "the message names the file: %s", msg);
    cr_expect(strstr(msg, "this_is_not_opencl_c") != NULL, "the message carries the build log: %s", msg);
    cr_expect(ds_untouched(&y));
    /* Other families still build from their embedded sources. */
    must(ocl, sigfuse_glu_forward(ocl, 16, &x.desc, &x.desc, &y.desc), "glu beside a broken activation.cl");

    unsetenv("SIGFUSE_OPENCL_KERNEL_DIR");
    remove(path);
    rmdir(dir);
    must(ocl, sigfuse_sigmoid_forward(ocl, 16, &x.desc, &y.desc), "sigmoid after the variable is gone");
    check_sigmoid(&e, &y, &hx, "sigmoid_forward(opencl, f32, n=16) after a failed build");
    tu_free(&hx);
    kit_buf_free(&x), kit_buf_free(&y);
    ds_close(&e);
}

/* ---- A small set for scripts/oclgrind.sh --------------------------------------------------------------------- */

/* Every kernel and every path through it (dtypes, absent and present buffers, u8 targets
 * and labels, direct and chunked bias sums, chunked head steps) at sizes small enough for
 * a simulator: scripts/oclgrind.sh runs the opencl_small suite under oclgrind. They
 * pass on any device as ordinary tests too. */
static const sigfuse_dtype all_dtypes[] = {SIGFUSE_F32, SIGFUSE_F16, SIGFUSE_BF16};

Test(opencl_small, elementwise_every_op_and_dtype)
{
    ds_env e = env_open();
    for (int d = 0; d < 3; d++)
        for (int op = 0; op < SF_OP_COUNT; op++) {
            const sf_op_info *info = &sf_op_infos[op];
            if (info->shape != SF_SHAPE_EW)
                continue;
            CASE(&e, .op = (sf_op)op, .dtype = all_dtypes[d], .n = 37, .misalign = 1, .beta = 1.5f, .extremes = true);
            for (unsigned outs = 1; outs <= 2 && info->n_bufs - info->n_inputs == 2; outs++)   /* da, db alone */
                CASE(&e, .op = (sf_op)op, .dtype = all_dtypes[d], .n = 5, .beta = 1.0f, .outs = outs);
        }
    ds_close(&e);
}

Test(opencl_small, losses_every_option_and_dtype)
{
    ds_env e = env_open();
    const sigfuse_reduction reds[] = {SIGFUSE_REDUCTION_NONE, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_MEAN};
    for (int d = 0; d < 3; d++)
        for (int ri = 0; ri < 3; ri++) {
            const sigfuse_dtype dt = all_dtypes[d];
            const sigfuse_reduction red = reds[ri];
            CASE(&e, .op = SF_OP_bce_with_logits, .dtype = dt, .rows = 3, .cols = 11, .misalign = 1, .red = red,
                 .targets = T_SOFT, .weight = true, .pos_weight = true, .dloss = true, .eps = 0.1f,
                 .grad_scale = -1.75f, .threshold = 0.375f, .extremes = true);
            CASE(&e, .op = SF_OP_bce_with_logits, .dtype = dt, .rows = 4, .cols = 5, .red = red, .targets = T_U8,
                 .grad_scale = 1.0f, .threshold = 0.375f, .labels_u8 = true);
            CASE(&e, .op = SF_OP_bce_with_logits, .dtype = dt, .rows = 4, .cols = 5, .red = red, .targets = T_SOFT,
                 .grad_scale = 1.0f, .threshold = 0.375f, .outs = 1);
            CASE(&e, .op = SF_OP_sigmoid_focal, .dtype = dt, .rows = 3, .cols = 11, .misalign = 1, .red = red,
                 .targets = T_SOFT, .alpha = 0.25f, .gamma = 2.0f, .dloss = true, .grad_scale = 0.625f,
                 .extremes = true);
            CASE(&e, .op = SF_OP_sigmoid_focal, .dtype = dt, .rows = 4, .cols = 5, .red = red, .targets = T_U8,
                 .alpha = -1.0f, .gamma = 0.5f, .grad_scale = 1.0f);
            /* The mask (its count pass before a MEAN's gradient), the asymmetric loss with
             * and without a margin. */
            CASE(&e, .op = SF_OP_bce_with_logits, .dtype = dt, .rows = 3, .cols = 11, .misalign = 1, .red = red,
                 .targets = T_SOFT, .mask = true, .grad_scale = 1.0f, .threshold = 0.5f, .outs = 1 | 2);
            CASE(&e, .op = SF_OP_sigmoid_focal, .dtype = dt, .rows = 4, .cols = 5, .red = red, .targets = T_U8,
                 .mask = true, .alpha = 0.25f, .gamma = 2.0f, .grad_scale = 1.0f);
            CASE(&e, .op = SF_OP_asymmetric, .dtype = dt, .rows = 3, .cols = 11, .misalign = 1, .red = red,
                 .targets = T_SOFT, .gamma = 0.0f, .gamma_neg = 4.0f, .margin = 0.05f, .mask = true, .dloss = true,
                 .grad_scale = 0.5f, .extremes = true);
            CASE(&e, .op = SF_OP_asymmetric, .dtype = dt, .rows = 4, .cols = 5, .red = red, .targets = T_U8,
                 .gamma = 1.0f, .gamma_neg = 2.0f, .grad_scale = 1.0f);
        }
    /* BCE + Dice: its three passes, with every input and output, SUM and MEAN. */
    for (int d = 0; d < 3; d++)
        for (int ri = 1; ri < 3; ri++)
            CASE(&e, .op = SF_OP_bce_dice, .dtype = all_dtypes[d], .rows = 3, .cols = 13, .misalign = ri - 1,
                 .red = reds[ri], .targets = T_SOFT, .smooth = 1.0f, .eps = 0.1f, .bce_weight = 0.7f,
                 .dice_weight = 1.3f, .grad_scale = 1.0f, .pos_weight = true, .dloss = true, .mask = true);
    ds_close(&e);
}

Test(opencl_small, cells_every_option_and_dtype)
{
    ds_env e = env_open();
    for (int d = 0; d < 3; d++) {
        const sigfuse_dtype dt = all_dtypes[d];
        CASE(&e, .op = SF_OP_lstm_cell_forward, .dtype = dt, .batch = 3, .hidden = 5, .misalign = 1, .gates_h = true,
             .bias = true, .extremes = true);
        CASE(&e, .op = SF_OP_lstm_cell_forward, .dtype = dt, .batch = 3, .hidden = 5, .outs = 1);
        /* 3 rows: one chunk, dbias written directly; 70 rows: chunked partials. */
        CASE(&e, .op = SF_OP_lstm_cell_backward, .dtype = dt, .batch = 3, .hidden = 5, .misalign = 1, .gates_h = true,
             .bias = true, .grads = 3, .extremes = true);
        CASE(&e, .op = SF_OP_lstm_cell_backward, .dtype = dt, .batch = 70, .hidden = 3, .grads = 1, .outs = 4);
        CASE(&e, .op = SF_OP_lstm_cell_backward, .dtype = dt, .batch = 4, .hidden = 3, .grads = 2, .outs = 1);
        CASE(&e, .op = SF_OP_gru_cell_forward, .dtype = dt, .batch = 3, .hidden = 5, .misalign = 1, .bias = true,
             .bias_h = true, .extremes = true);
        CASE(&e, .op = SF_OP_gru_cell_forward, .dtype = dt, .batch = 3, .hidden = 5);
        CASE(&e, .op = SF_OP_gru_cell_backward, .dtype = dt, .batch = 3, .hidden = 5, .misalign = 1, .bias = true,
             .bias_h = true, .extremes = true);
        CASE(&e, .op = SF_OP_gru_cell_backward, .dtype = dt, .batch = 70, .hidden = 3, .outs = 8 | 16);
        CASE(&e, .op = SF_OP_gru_cell_backward, .dtype = dt, .batch = 4, .hidden = 3, .outs = 2 | 4);
    }
    ds_close(&e);
}

Test(opencl_small, heads_every_option_and_dtype)
{
    ds_env e = env_open();
    for (int d = 0; d < 3; d++) {
        const sigfuse_dtype dt = all_dtypes[d];
        CASE(&e, .op = SF_OP_head_predict, .dtype = dt, .n = 9, .d = 5, .l = 7, .chunk = 4, .bias = true,
             .labels_u8 = true, .threshold = 0.625f, .mixed_views = true);
        CASE(&e, .op = SF_OP_head_predict, .dtype = dt, .n = 9, .d = 5, .l = 7, .outs = 2 | 4, .threshold = 0.625f,
             .mixed_views = true);
        CASE(&e, .op = SF_OP_head_train_step, .dtype = dt, .n = 9, .d = 5, .l = 7, .chunk = 4, .bias = true,
             .pos_weight = true, .targets = T_SOFT, .red = SIGFUSE_REDUCTION_MEAN, .grad_scale = 1.0f,
             .mixed_views = true);
        CASE(&e, .op = SF_OP_head_train_step, .dtype = dt, .n = 9, .d = 5, .l = 7, .targets = T_U8,
             .red = SIGFUSE_REDUCTION_SUM, .grad_scale = -2.5f, .mixed_views = true);
    }
    ds_close(&e);
}

/* CSR positives and label shards in the train step, head_topk and topk_merge. */
Test(opencl_small, sparse_heads_topk_and_merge)
{
    ds_env e = env_open();
    for (int d = 0; d < 3; d++)
        xmc_small_sweep(&e, all_dtypes[d]);
    ds_close(&e);
}
