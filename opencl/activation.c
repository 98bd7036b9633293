/* SPDX-License-Identifier: MIT */
/*
 * Launcher of the activations (activation.cl): sigmoid, log_sigmoid and silu, forward and
 * backward, each one elementwise kernel named after its op (elementwise.c).
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_activation(sigfuse_ctx *ctx, const sf_ew_call *call) { return sf_cl_elementwise(ctx, call); }
