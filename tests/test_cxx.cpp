// SPDX-License-Identifier: MIT
// A C++ translation unit that includes every public header and calls the API: the
// headers must be clean C++ (extern "C", no C-only constructs).
#include <cmath>
#include <cstring>
#include <vector>

#include <criterion/criterion.h>

#include "sigfuse.h"
#ifdef SIGFUSE_WITH_CUDA
#include "sigfuse_cuda.h"
#endif
#ifdef SIGFUSE_WITH_OPENCL
#include "sigfuse_opencl.h"
#endif

Test(cxx, headers_and_calls)
{
    sigfuse_ctx *ctx = nullptr;
    cr_assert_eq(sigfuse_ctx_create(&ctx, SIGFUSE_BACKEND_CPU), SIGFUSE_SUCCESS);

    std::vector<float> x{-2.0f, 0.0f, 3.0f}, y(3, -1.0f);
    sigfuse_buffer xb = sigfuse_host_buffer(x.data(), SIGFUSE_F32);
    sigfuse_buffer yb = sigfuse_host_buffer(y.data(), SIGFUSE_F32);
    cr_expect_eq(sigfuse_sigmoid_forward(ctx, 3, &xb, &yb), SIGFUSE_SUCCESS);
    cr_expect_eq(y[1], 0.5f);
    cr_expect(std::fabs(y[0] - 1.0f / (1.0f + std::exp(2.0f))) < 1e-7f);

    std::vector<float> t{0.0f, 1.0f, 1.0f}, loss(1, 0.0f);
    sigfuse_buffer tb = sigfuse_host_buffer(t.data(), SIGFUSE_F32);
    sigfuse_buffer lb = sigfuse_host_buffer(loss.data(), SIGFUSE_F32);
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = 1;
    a.cols = 3;
    a.logits = &xb;
    a.targets = &tb;
    a.loss = &lb;
    a.reduction = SIGFUSE_REDUCTION_SUM;
    cr_expect_eq(sigfuse_bce_with_logits(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    double want = std::log1p(std::exp(-2.0)) + std::log(2.0) + std::log1p(std::exp(-3.0));
    cr_expect(std::fabs(loss[0] - want) < 1e-6, "loss %g want %g", loss[0], want);

    cr_expect_str_eq(sigfuse_version(), "0.1.0");
    cr_expect_eq(sigfuse_f16_to_float(sigfuse_float_to_f16(0.5f)), 0.5f);
#ifdef SIGFUSE_WITH_CUDA
    sigfuse_ctx *cuda = nullptr;
    sigfuse_status st = sigfuse_ctx_create_cuda(&cuda, 0, cudaStream_t{});
    cr_expect(st == SIGFUSE_SUCCESS || st == SIGFUSE_ERR_NO_DEVICE || st == SIGFUSE_ERR_NOT_BUILT);
    sigfuse_ctx_destroy(cuda);
#endif
#ifdef SIGFUSE_WITH_OPENCL
    sigfuse_ctx *cl = nullptr;
    sigfuse_status cst = sigfuse_ctx_create_opencl(&cl, nullptr);
    cr_expect(cst != SIGFUSE_SUCCESS);   // a NULL queue is never accepted
    cr_expect_null(cl);
    sigfuse_buffer clb = sigfuse_opencl_buffer(nullptr, 16, SIGFUSE_F16);
    cr_expect_eq(clb.offset, 16u);
#endif
    sigfuse_ctx_destroy(ctx);
}
