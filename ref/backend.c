/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference backend: the definition of every op, computing in double on host
 * memory, synchronously. The ops themselves live in ref/<family>.c.
 */
#include "sf_internal.h"

#define REF_ENTRY_(name, family, shape, args) SF_OP_ENTRY_##shape(name, sf_ref_##name)

const sf_backend_ops sf_ref_ops = {
    .destroy = NULL,
    .wait = NULL,   /* every op has finished when it returns */
    .check_buffer = NULL,
    .activation = sf_ref_activation,
    .glu = sf_ref_glu,
    SF_CATALOG(REF_ENTRY_)
    .head_predict_workspace = sf_ref_head_predict_workspace,
    .head_train_step_workspace = sf_ref_head_train_step_workspace,
    .head_topk_workspace = sf_ref_head_topk_workspace,
};
