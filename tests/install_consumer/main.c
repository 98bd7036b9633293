/* SPDX-License-Identifier: MIT */
/* Computes one sigmoid through an installed sigfuse; exits 0 when it is right. */
#include <math.h>
#include <stdio.h>

#include <sigfuse.h>

int main(void)
{
    sigfuse_ctx *ctx = NULL;
    if (sigfuse_ctx_create(&ctx, SIGFUSE_BACKEND_CPU) != SIGFUSE_SUCCESS)
        return 1;
    float x = 0.0f, y = -1.0f;
    sigfuse_buffer xb = sigfuse_host_buffer(&x, SIGFUSE_F32), yb = sigfuse_host_buffer(&y, SIGFUSE_F32);
    sigfuse_status st = sigfuse_sigmoid_forward(ctx, 1, &xb, &yb);
    sigfuse_ctx_destroy(ctx);
    printf("sigfuse %s: sigmoid(0) = %g\n", sigfuse_version(), y);
    return st == SIGFUSE_SUCCESS && y == 0.5f ? 0 : 1;
}
