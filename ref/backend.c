/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference backend: the definition of every op, computing in double on host
 * memory, synchronously. The ops themselves live in ref/<family>.c.
 */
#include "sf_internal.h"

const sf_backend_ops sf_ref_ops = {
    .destroy = NULL,
    .synchronize = NULL,   /* every op has finished when it returns */
    .check_buffer = NULL,
    .activation = sf_ref_activation,
    .glu = sf_ref_glu,
    .lstm_cell_forward = sf_ref_lstm_cell_forward,
    .lstm_cell_backward = sf_ref_lstm_cell_backward,
    .gru_cell_forward = sf_ref_gru_cell_forward,
    .gru_cell_backward = sf_ref_gru_cell_backward,
    .bce_with_logits = sf_ref_bce_with_logits,
    .sigmoid_focal = sf_ref_sigmoid_focal,
    .head_predict_workspace = sf_ref_head_predict_workspace,
    .head_train_step_workspace = sf_ref_head_train_step_workspace,
    .head_predict = sf_ref_head_predict,
    .head_train_step = sf_ref_head_train_step,
};
