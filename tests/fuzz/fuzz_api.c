/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over every public op of include/sigfuse.h on the CPU reference
 * (build with clang: -fsanitize=fuzzer,address,undefined; scripts/sanitize.sh fuzz).
 *
 * From the fuzz bytes it picks an entry point (the ten elementwise ops, the two cells
 * forward and backward, the two losses, the two heads and their two workspace-size
 * queries), sizes (0, small, negative, overflowing), dtypes (valid and not), options
 * (NaN, +-inf, negative, out of range), absent and present buffers, exact and partial
 * aliasing, offsets, wrong memory kinds, too-small workspaces. Every buffer is its own
 * malloc of exactly the bytes its declared shape needs, so that ASan sees any overread.
 *
 * Each call runs twice, with outputs poisoned by two different byte patterns, and is
 * checked for:
 *   - no crash, no ASan / UBSan report (the sanitizers abort);
 *   - a known status, the same both times, a message when it fails and none when not;
 *   - failing status: every buffer byte-for-byte as before the call (*bytes too);
 *   - success: every element of every output written (poisoned in both runs = never
 *     written), the two runs bitwise equal, inputs untouched outside the outputs'
 *     bytes, no overlap accepted that the header forbids;
 *   - an output given in place on an input: the result equal to the same call with
 *     separate buffers;
 *   - the heads: the result the same with the smallest workspace (one row per chunk)
 *     and the largest (all rows), and a fuzzed workspace below the smallest rejected;
 *   - the size queries: smallest (chunk_rows 1) <= asked <= largest (chunk_rows >= N).
 * A failed check prints what it saw and aborts, which libFuzzer reports as a crash.
 *
 * Input layout (missing bytes read as 0, which is the plain valid choice everywhere):
 *   [0] op  [1] flags (NULL ctx / args / bytes)  [2..4] sizes  [5] dtype
 *   [6] reduction  [7..9] options  [10] chunk_rows  [11] workspace mode  [12] its aux
 *   [13] fill mode  [14..21] value seed  then 3 bytes per buffer slot: mode, aux, aux2.
 * tests/fuzz/make_corpus.py writes the seed corpus in this layout.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigfuse.h"

/* ---- The catalogue, as the fuzzer sees it (written from the header, not the library) -- */

enum {
    OP_SIGMOID_F, OP_SIGMOID_B, OP_LOGSIG_F, OP_LOGSIG_B, OP_SILU_F, OP_SILU_B,
    OP_GLU_F, OP_GLU_B, OP_SWIGLU_F, OP_SWIGLU_B,
    OP_LSTM_F, OP_LSTM_B, OP_GRU_F, OP_GRU_B, OP_BCE, OP_FOCAL, OP_ASL, OP_DICE,
    OP_HP_WS, OP_HT_WS, OP_HP, OP_HT, OP_TK_WS, OP_TK, OP_MERGE, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "sigmoid_forward", "sigmoid_backward", "log_sigmoid_forward", "log_sigmoid_backward",
    "silu_forward", "silu_backward", "glu_forward", "glu_backward", "swiglu_forward",
    "swiglu_backward", "lstm_cell_forward", "lstm_cell_backward", "gru_cell_forward",
    "gru_cell_backward", "bce_with_logits", "sigmoid_focal", "asymmetric", "bce_dice", "head_predict_workspace_size",
    "head_train_workspace_size", "head_predict", "head_train_step", "head_topk_workspace_size", "head_topk",
    "topk_merge",
};

typedef enum { K_IN, K_OUT, K_WS } slot_kind;
typedef enum { R_FLOAT, R_TARGET, R_LABEL, R_LOSS, R_SCALAR, R_BYTES, R_MASK, R_INDEX } slot_role;
/* Shapes: n; [B,H]; [B,G*H]; [G*H]; [R,C]; [C]; [R]; loss ([R,C] for NONE, else 1); 1;
 * [N,D]; [L,D]; [N,L]; [L]; workspace bytes; [N+1], [nnz] (CSR); [N,k]; [shards,N,k]. */
typedef enum { S_N, S_BH, S_BGH, S_GH, S_RC, S_C, S_R, S_LOSS, S_ONE, S_ND, S_LD, S_NL, S_L, S_WS, S_N1, S_NNZ,
               S_NK, S_SNK } slot_shape;

typedef struct slot_def {
    const char *name;
    slot_kind kind;
    slot_role role;
    slot_shape shape;
    bool required;
} slot_def;

#define MAX_SLOTS 12

typedef struct op_def {
    int nslots;
    slot_def s[MAX_SLOTS];
} op_def;

#define IN(n, r, s, q) {n, K_IN, r, s, q}
#define OUT(n, r, s, q) {n, K_OUT, r, s, q}

/* The slot lists several ops share: the activations' (the backward's first input is the
 * saved y for sigmoid, x for the others), the gated units', the cells' inputs (the
 * backward takes the forward's first), the heads' parameters. */
#define ACT_FORWARD {2, {IN("x", R_FLOAT, S_N, 1), OUT("y", R_FLOAT, S_N, 1)}}
#define ACT_BACKWARD(saved) {3, {IN(saved, R_FLOAT, S_N, 1), IN("dy", R_FLOAT, S_N, 1), OUT("dx", R_FLOAT, S_N, 1)}}
#define GATED_FORWARD {3, {IN("a", R_FLOAT, S_N, 1), IN("b", R_FLOAT, S_N, 1), OUT("y", R_FLOAT, S_N, 1)}}
#define GATED_BACKWARD                                                                                  \
    {5, {IN("a", R_FLOAT, S_N, 1), IN("b", R_FLOAT, S_N, 1), IN("dy", R_FLOAT, S_N, 1),                \
         OUT("da", R_FLOAT, S_N, 0), OUT("db", R_FLOAT, S_N, 0)}}
#define LSTM_INPUTS                                                                     \
    IN("gates_x", R_FLOAT, S_BGH, 1), IN("gates_h", R_FLOAT, S_BGH, 0),                 \
        IN("bias", R_FLOAT, S_GH, 0), IN("c_prev", R_FLOAT, S_BH, 1)
#define GRU_INPUTS                                                                      \
    IN("gates_x", R_FLOAT, S_BGH, 1), IN("gates_h", R_FLOAT, S_BGH, 1),                 \
        IN("bias_x", R_FLOAT, S_GH, 0), IN("bias_h", R_FLOAT, S_GH, 0), IN("h_prev", R_FLOAT, S_BH, 1)
#define HEAD_PARAMS IN("x", R_FLOAT, S_ND, 1), IN("w", R_FLOAT, S_LD, 1), IN("bias", R_FLOAT, S_L, 0)
/* A head's slots after its parameters: O is OUT for the op, IN for its size query (which
 * only reads them); WS the workspace slot. */
#define HEAD_PREDICT_SLOTS(O, WS) \
    HEAD_PARAMS, O("logits", R_FLOAT, S_NL, 0), O("probs", R_FLOAT, S_NL, 0), O("labels", R_LABEL, S_NL, 0), WS
#define HEAD_TRAIN_SLOTS(O, WS)                                                                          \
    HEAD_PARAMS, IN("targets", R_TARGET, S_NL, 1), IN("pos_weight", R_FLOAT, S_L, 0),                   \
        IN("pos_offsets", R_INDEX, S_N1, 0), IN("pos_labels", R_INDEX, S_NNZ, 0),                        \
        O("loss", R_SCALAR, S_ONE, 0), O("dx", R_FLOAT, S_ND, 0), O("dw", R_FLOAT, S_LD, 0),             \
        O("dbias", R_FLOAT, S_L, 0), WS
#define HEAD_TOPK_SLOTS(O, WS)                                                                           \
    HEAD_PARAMS, O("top_labels", R_INDEX, S_NK, 1), O("top_logits", R_FLOAT, S_NK, 0),                  \
        O("top_probs", R_FLOAT, S_NK, 0), WS
#define WS_QUERIED IN("workspace", R_BYTES, S_WS, 0)
#define WS_USED {"workspace", K_WS, R_BYTES, S_WS, 0}

static const op_def defs[OP_COUNT] = {
    [OP_SIGMOID_F] = ACT_FORWARD,
    [OP_SIGMOID_B] = ACT_BACKWARD("y"),
    [OP_LOGSIG_F] = ACT_FORWARD,
    [OP_LOGSIG_B] = ACT_BACKWARD("x"),
    [OP_SILU_F] = ACT_FORWARD,
    [OP_SILU_B] = ACT_BACKWARD("x"),
    [OP_GLU_F] = GATED_FORWARD,
    [OP_GLU_B] = GATED_BACKWARD,
    [OP_SWIGLU_F] = GATED_FORWARD,
    [OP_SWIGLU_B] = GATED_BACKWARD,
    [OP_LSTM_F] = {6, {LSTM_INPUTS, OUT("h", R_FLOAT, S_BH, 0), OUT("c", R_FLOAT, S_BH, 0)}},
    [OP_LSTM_B] = {9, {LSTM_INPUTS, IN("dh", R_FLOAT, S_BH, 0), IN("dc", R_FLOAT, S_BH, 0),
                       OUT("dgates", R_FLOAT, S_BGH, 0), OUT("dc_prev", R_FLOAT, S_BH, 0),
                       OUT("dbias", R_FLOAT, S_GH, 0)}},
    [OP_GRU_F] = {6, {GRU_INPUTS, OUT("h", R_FLOAT, S_BH, 1)}},
    [OP_GRU_B] = {11, {GRU_INPUTS, IN("dh", R_FLOAT, S_BH, 1), OUT("dgates_x", R_FLOAT, S_BGH, 0),
                       OUT("dgates_h", R_FLOAT, S_BGH, 0), OUT("dh_prev", R_FLOAT, S_BH, 0),
                       OUT("dbias_x", R_FLOAT, S_GH, 0), OUT("dbias_h", R_FLOAT, S_GH, 0)}},
    [OP_BCE] = {10, {IN("logits", R_FLOAT, S_RC, 1), IN("targets", R_TARGET, S_RC, 1),
                    IN("mask", R_MASK, S_RC, 0), IN("weight", R_FLOAT, S_RC, 0), IN("pos_weight", R_FLOAT, S_C, 0),
                    IN("dloss_in", R_LOSS, S_LOSS, 0), OUT("loss", R_LOSS, S_LOSS, 0),
                    OUT("dlogits", R_FLOAT, S_RC, 0), OUT("probs", R_FLOAT, S_RC, 0),
                    OUT("labels", R_LABEL, S_RC, 0)}},
    [OP_FOCAL] = {6, {IN("logits", R_FLOAT, S_RC, 1), IN("targets", R_TARGET, S_RC, 1),
                      IN("mask", R_MASK, S_RC, 0), IN("dloss_in", R_LOSS, S_LOSS, 0),
                      OUT("loss", R_LOSS, S_LOSS, 0), OUT("dlogits", R_FLOAT, S_RC, 0)}},
    [OP_ASL] = {6, {IN("logits", R_FLOAT, S_RC, 1), IN("targets", R_TARGET, S_RC, 1),
                    IN("mask", R_MASK, S_RC, 0), IN("dloss_in", R_LOSS, S_LOSS, 0),
                    OUT("loss", R_LOSS, S_LOSS, 0), OUT("dlogits", R_FLOAT, S_RC, 0)}},
    [OP_DICE] = {8, {IN("logits", R_FLOAT, S_RC, 1), IN("targets", R_TARGET, S_RC, 1),
                     IN("mask", R_MASK, S_RC, 0), IN("pos_weight", R_FLOAT, S_C, 0),
                     IN("dloss_in", R_SCALAR, S_ONE, 0), OUT("loss", R_SCALAR, S_ONE, 0),
                     OUT("dlogits", R_FLOAT, S_RC, 0), OUT("dice", R_FLOAT, S_R, 0)}},
    /* The queries take the ops' argument structs: every buffer is only read (or not at
     * all), so all are inputs there. */
    [OP_HP_WS] = {7, {HEAD_PREDICT_SLOTS(IN, WS_QUERIED)}},
    [OP_HT_WS] = {12, {HEAD_TRAIN_SLOTS(IN, WS_QUERIED)}},
    [OP_HP] = {7, {HEAD_PREDICT_SLOTS(OUT, WS_USED)}},
    [OP_HT] = {12, {HEAD_TRAIN_SLOTS(OUT, WS_USED)}},
    [OP_TK_WS] = {7, {HEAD_TOPK_SLOTS(IN, WS_QUERIED)}},
    [OP_TK] = {7, {HEAD_TOPK_SLOTS(OUT, WS_USED)}},
    [OP_MERGE] = {5, {IN("in_labels", R_INDEX, S_SNK, 1), IN("in_logits", R_FLOAT, S_SNK, 1),
                      OUT("top_labels", R_INDEX, S_NK, 1), OUT("top_logits", R_FLOAT, S_NK, 0),
                      OUT("top_probs", R_FLOAT, S_NK, 0)}},
};

static bool is_head(int op) { return op == OP_HP || op == OP_HT || op == OP_TK; }
static bool is_query(int op) { return op == OP_HP_WS || op == OP_HT_WS || op == OP_TK_WS; }
static int cell_gates(int op) { return op == OP_LSTM_F || op == OP_LSTM_B ? 4 : 3; }

/* ---- Decoding the fuzz bytes ------------------------------------------------------------ */

typedef struct reader {
    const uint8_t *p;
    size_t n, at;
} reader;

static uint8_t rd(reader *r) { return r->at < r->n ? r->p[r->at++] : 0; }

static const int64_t size_specials[32] = {
    -1, -2, INT64_MIN, INT64_MAX, INT64_MAX - 1, (int64_t)1 << 31, ((int64_t)1 << 31) - 1,
    (int64_t)1 << 32, ((int64_t)1 << 32) + 1, (int64_t)1 << 62, (int64_t)1 << 40, 3037000499,
    3037000500, 3037000501, (int64_t)1 << 21, (int64_t)1 << 20, INT64_MAX / 3, INT64_MAX / 4,
    INT64_MAX / 4 + 1, INT64_MAX / 8 + 1, -((int64_t)1 << 40), 65536, (int64_t)1 << 30,
    (int64_t)1 << 61, 2305843009213693952 / 3 + 1, 1, 2, 3, 4, 64, 100, 257,
};

/* Mostly 0..5, sometimes 6..37 (6..13 for the heads, whose cost is N x D x L), and
 * the special values (negative, overflowing products, 2^31 and 2^32 edges). */
static int64_t decode_size(uint8_t v, bool head)
{
    if (v < 192)
        return v % 6;
    if (v < 224)
        return 6 + (head ? (v - 192) % 8 : v - 192);
    return size_specials[v - 224];
}

/* Option tables: index 0 is the default. */
static const float opt_beta[16] = {1, 0, -1, 0.5f, 2, NAN, INFINITY, -INFINITY, 1e30f, FLT_MAX,
                                   -FLT_MAX, 1e-30f, 20, -20, 3.5f, 1.702f};
static const float opt_smooth[16] = {0, 0.1f, 1, 0.5f, -0.1f, 1.0001f, NAN, INFINITY, -INFINITY,
                                     1e-30f, 0.999f, -0.0f, 2, 0.25f, 0, 0};
static const float opt_scale[16] = {1, 0, -2, 1e30f, NAN, INFINITY, -INFINITY, 1e-30f, 1024, -1,
                                    0.5f, FLT_MAX, 1, 1e-45f, 3, -0.0f};
static const float opt_thresh[16] = {0.5f, 0, 1, -0.1f, 1.1f, NAN, INFINITY, 0.25f, 0.75f, -0.0f,
                                     1e-30f, 0.999999f, -INFINITY, 0.5f, 0.5f, 0.5f};
static const float opt_alpha[16] = {0.25f, -1, 0, 1, 1.5f, NAN, -INFINITY, INFINITY, 0.5f, -0.0f,
                                    1.0001f, -1e30f, 0.75f, 0.25f, 0.25f, 0.25f};
static const float opt_gamma[16] = {2, 0, 5, -1, NAN, INFINITY, 100, 0.5f, 1, 3, -0.0f, 1e-30f,
                                    4.5f, -INFINITY, 2, 2};

typedef struct slot_cfg {
    uint8_t mode, aux, aux2;
} slot_cfg;

typedef struct cfg {
    int op;
    bool null_ctx, null_args, null_bytes;
    int64_t s[3];
    sigfuse_dtype dtype;
    int reduction;
    float beta, smooth, scale, thresh, alpha, gamma, gamma2;
    /* The heads' further sizes: top-k's k, the CSR's nnz, a shard's place, and whether
     * the CSR slots hold a valid CSR (one id a row, rows past nnz empty). */
    int64_t k, nnz, label_offset, total_labels;
    bool valid_csr;
    uint8_t chunk_sel, ws_mode, ws_aux, fill;
    uint64_t seed;
    slot_cfg slot[MAX_SLOTS];
} cfg;

static void decode(const uint8_t *data, size_t size, cfg *c)
{
    reader r = {data, size, 0};
    memset(c, 0, sizeof *c);
    c->op = rd(&r) % OP_COUNT;
    uint8_t flags = rd(&r);
    c->null_ctx = flags % 64 == 61;
    c->null_args = flags % 64 == 62;
    c->null_bytes = flags % 64 == 63;
    for (int i = 0; i < 3; i++)
        c->s[i] = decode_size(rd(&r), c->op >= OP_HP_WS);
    static const sigfuse_dtype dts[8] = {SIGFUSE_F32, SIGFUSE_F16, SIGFUSE_BF16, SIGFUSE_F64,
                                         SIGFUSE_F32, SIGFUSE_U8, (sigfuse_dtype)0, (sigfuse_dtype)6};
    c->dtype = dts[rd(&r) % 8];
    static const int reds[8] = {SIGFUSE_REDUCTION_MEAN, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_NONE,
                                SIGFUSE_REDUCTION_MEAN, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_NONE,
                                3, -1};
    c->reduction = reds[rd(&r) % 8];
    uint8_t o0 = rd(&r), o1 = rd(&r), o2 = rd(&r);
    c->beta = opt_beta[o0 % 16];
    c->smooth = opt_smooth[o0 % 16];
    c->alpha = opt_alpha[o0 % 16];
    c->scale = opt_scale[o1 % 16];
    c->gamma = opt_gamma[o1 % 16];
    c->thresh = opt_thresh[o2 % 16];
    c->gamma2 = opt_gamma[o2 % 16];
    if (c->op == OP_FOCAL)
        c->scale = opt_scale[o2 % 16];
    c->chunk_sel = rd(&r);
    c->ws_mode = rd(&r);
    c->ws_aux = rd(&r);
    c->fill = rd(&r);
    for (int i = 0; i < 8; i++)
        c->seed |= (uint64_t)rd(&r) << (8 * i);
    static const int64_t offsets[8] = {0, 0, 0, 0, 0, 1, (int64_t)1 << 31, INT64_MAX / 2};
    c->k = 1 + (c->chunk_sel >> 4) % 6;
    c->nnz = (int64_t)((c->seed >> 20) % 9);
    c->label_offset = offsets[(c->seed >> 32) % 8];
    /* total_labels: none, exactly the shard's end, l, or past it (saturating: sizes may be
     * INT64_MAX or negative). */
    int64_t end;
    if (__builtin_add_overflow(c->s[2], c->label_offset, &end))
        end = INT64_MAX;
    switch ((c->seed >> 36) % 4) {
    case 0: c->total_labels = 0; break;
    case 1: c->total_labels = end; break;
    case 2: c->total_labels = c->s[2]; break;
    default: c->total_labels = end > INT64_MAX - 3 ? INT64_MAX : end + 3; break;
    }
    c->valid_csr = (c->seed >> 40) % 2 == 0;
    for (int i = 0; i < MAX_SLOTS; i++) {
        c->slot[i].mode = rd(&r);
        c->slot[i].aux = rd(&r);
        c->slot[i].aux2 = rd(&r);
    }
}

/* ---- Values ----------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const double specials[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, 17.0, -17.0, 88.7, -88.7, 1e4, -1e4, INFINITY, -INFINITY, NAN,
    1e-40, -1e-40, 1e-45, 1e30, -1e30, 3.0e38, -3.0e38, 65504.0, 6e-8, 20.0, -20.0, 40.0, -40.0,
};

static double random_value(uint64_t *s, slot_role role)
{
    uint64_t u = splitmix(s);
    if (role == R_MASK)
        return u % 3 == 0 ? 0.0 : 1.0;
    if (role == R_INDEX)   /* ids and offsets: small, now and then -1 or huge */
        return u % 9 == 0 ? -1.0 : u % 9 == 1 ? 4294967296.0 : (double)((u >> 8) % 12);
    if (role == R_TARGET) {
        switch (u % 8) {
        case 0: return 0.0;
        case 1: return 1.0;
        case 2: return specials[(u >> 8) % (sizeof specials / sizeof specials[0])];
        default: return (double)((u >> 11) & 0xFFFF) / 65535.0;
        }
    }
    if (u % 4 == 0)
        return specials[(u >> 8) % (sizeof specials / sizeof specials[0])];
    return ((double)(u >> 11) / 9007199254740992.0) * 16.0 - 8.0;
}

/* One element of `width` bytes (the dtype's size, 4 for an unknown dtype, 1 in a workspace). */
static void store_value(unsigned char *p, size_t width, sigfuse_dtype dt, double v, uint64_t raw, bool use_raw)
{
    if (use_raw || width != (sigfuse_dtype_size(dt) ? sigfuse_dtype_size(dt) : 4)) {
        memcpy(p, &raw, width < 8 ? width : 8);
        return;
    }
    switch (dt) {
    case SIGFUSE_F32: { float f = (float)v; memcpy(p, &f, 4); break; }
    case SIGFUSE_F64: memcpy(p, &v, 8); break;
    case SIGFUSE_F16: { uint16_t h = sigfuse_float_to_f16((float)v); memcpy(p, &h, 2); break; }
    case SIGFUSE_BF16: { uint16_t h = sigfuse_float_to_bf16((float)v); memcpy(p, &h, 2); break; }
    case SIGFUSE_U8: *p = (uint8_t)(raw % 4 == 3 ? (raw >> 8) & 0xFF : v != 0.0); break;
    /* Integers: the value where it converts (|v| < 2^31, 2^62), else the raw bits. */
    case SIGFUSE_I32: { int32_t t = fabs(v) < 2147483648.0 ? (int32_t)v : (int32_t)raw; memcpy(p, &t, 4); break; }
    case SIGFUSE_I64: { int64_t t = fabs(v) < 4.6e18 ? (int64_t)v : (int64_t)raw; memcpy(p, &t, 8); break; }
    default: memset(p, 0, 4); break;
    }
}

/* ---- Layout: one allocation per buffer that is not an alias --------------------------- */

#define CAP_BYTES ((size_t)1 << 16)

typedef struct layout {
    int op, nslots;
    const slot_def *def;
    bool present[MAX_SLOTS];
    int64_t count[MAX_SLOTS];      /* declared elements (bytes for the workspace); -1: overflow */
    size_t elem[MAX_SLOTS];
    sigfuse_buffer desc[MAX_SLOTS];
    int root[MAX_SLOTS];           /* the slot whose allocation holds this one (itself if own) */
    unsigned char *alloc[MAX_SLOTS];
    size_t alloc_bytes[MAX_SLOTS];
    bool in_place[MAX_SLOTS];      /* output exactly on an input: same bytes and dtype */
    size_t ws_bytes;               /* the workspace_bytes passed */
    int64_t chunk;
} layout;

static int64_t mul3(int64_t a, int64_t b, int64_t c)
{
    int64_t t;
    if (a < 0 || b < 0 || c < 0 || __builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, &t))
        return -1;
    return t;
}

static int64_t shape_count(const cfg *c, slot_shape sh, size_t ws_bytes)
{
    const int64_t *s = c->s;
    int64_t g = cell_gates(c->op);
    switch (sh) {
    case S_N: return s[0] < 0 ? -1 : s[0];
    case S_BH: return mul3(s[0], s[1], 1);
    case S_BGH: return mul3(s[0], g, s[1]);
    case S_GH: return mul3(g, s[1], 1);
    case S_RC: return mul3(s[0], s[1], 1);
    case S_C: return s[1] < 0 ? -1 : s[1];
    case S_R: return s[0] < 0 ? -1 : s[0];
    case S_N1: return s[0] < 0 || s[0] == INT64_MAX ? -1 : s[0] + 1;
    case S_NNZ: return c->nnz;
    case S_NK: return c->op == OP_MERGE ? mul3(s[0], s[1], 1) : mul3(s[0], c->k, 1);
    case S_SNK: return mul3(s[0], s[1], s[2]);
    case S_LOSS: return c->reduction == SIGFUSE_REDUCTION_NONE ? mul3(s[0], s[1], 1) : 1;
    case S_ONE: return 1;
    case S_ND: return mul3(s[0], s[1], 1);
    case S_LD: return mul3(s[2], s[1], 1);
    case S_NL: return mul3(s[0], s[2], 1);
    case S_L: return s[2] < 0 ? -1 : s[2];
    case S_WS: return ws_bytes > (size_t)INT64_MAX ? -1 : (int64_t)ws_bytes;
    }
    return -1;
}

static sigfuse_dtype slot_dtype(const cfg *c, const slot_def *d)
{
    sigfuse_dtype f = c->dtype;
    switch (d->role) {
    case R_FLOAT: return f;
    case R_TARGET:
    case R_LABEL: return (c->seed >> 3) % 3 == 0 ? SIGFUSE_U8 : f;
    case R_LOSS:
        if (c->reduction == SIGFUSE_REDUCTION_NONE)
            return f;
        return f == SIGFUSE_F64 ? SIGFUSE_F64 : SIGFUSE_F32;
    case R_SCALAR: return f == SIGFUSE_F64 ? SIGFUSE_F64 : SIGFUSE_F32;
    case R_BYTES: return SIGFUSE_U8;
    case R_MASK: return (c->seed >> 5) % 5 == 0 ? f : SIGFUSE_U8;   /* now and then the wrong dtype */
    case R_INDEX: return (c->seed >> 7) % 7 == 0 ? f : (c->seed >> 9) % 2 ? SIGFUSE_I32 : SIGFUSE_I64;
    }
    return f;
}

static uintptr_t slot_lo(const layout *L, int i) { return (uintptr_t)L->desc[i].ptr + L->desc[i].offset; }

/* Bytes the slot covers (0 when absent, empty or not describable). */
static size_t slot_len(const layout *L, int i)
{
    if (!L->present[i] || L->count[i] <= 0 || !L->desc[i].ptr)
        return 0;
    size_t es = L->def[i].role == R_BYTES ? 1 : sigfuse_dtype_size(L->desc[i].dtype);
    if (es == 0 || (uint64_t)L->count[i] > SIZE_MAX / es)
        return 0;
    return (size_t)L->count[i] * es;
}

static bool is_output(const layout *L, int i) { return L->def[i].kind != K_IN; }

/* The workspace sizes of the smallest and largest chunks, when the queries answer. */
static bool ws_bounds(sigfuse_ctx *ctx, const cfg *c, size_t *lo, size_t *hi);

/* Build the layout. no_alias: slots that get their own allocation whatever the config
 * says (the separate-buffers rerun of an in-place call). ws_force: the workspace bytes
 * to use instead of the config's choice (SIZE_MAX: the config's). */
static void build(const cfg *c, layout *L, unsigned no_alias, size_t ws_force, size_t ws_lo, size_t ws_hi,
                  bool ws_known)
{
    memset(L, 0, sizeof *L);
    L->op = c->op;
    L->def = defs[c->op].s;
    L->nslots = defs[c->op].nslots;

    /* The workspace size. */
    size_t ws = 0;
    if (ws_force != SIZE_MAX) {
        ws = ws_force;
    } else {
        uint8_t m = c->ws_mode % 10, a = c->ws_aux;
        size_t lo = ws_known ? ws_lo : 0, hi = ws_known ? ws_hi : 0;
        switch (m) {
        case 0: case 1: ws = lo; break;
        case 2: ws = lo > 0 ? lo - 1 : 0; break;
        case 3: ws = lo > a ? lo - a : 0; break;
        case 4: ws = hi; break;
        case 5: ws = hi + a; break;
        case 6: ws = (size_t)a * 8; break;
        case 7: ws = SIZE_MAX; break;
        case 8: ws = lo + (hi > lo ? (size_t)a % (hi - lo + 1) : 0); break;
        default: ws = (size_t)1 << 40; break;
        }
    }
    L->ws_bytes = ws;

    for (int i = 0; i < L->nslots; i++) {
        const slot_def *d = &L->def[i];
        slot_cfg sc = c->slot[i];
        uint8_t mode = sc.mode % 16;
        L->root[i] = i;
        L->count[i] = shape_count(c, d->shape, ws);
        bool absent = mode == 9 || mode == 10;
        if (d->shape == S_WS) {
            /* The workspace follows its own mode: absent when it is not needed. A forced
             * size (the reruns) gets a plain aligned allocation, or none for 0 bytes. */
            absent = ws == 0 && mode % 2 == 0;
            if (ws_force != SIZE_MAX) {
                absent = ws == 0;
                mode = sc.mode = 0;
            }
        }
        L->present[i] = !absent;
        if (absent)
            continue;
        sigfuse_dtype dt = slot_dtype(c, d);
        if (mode == 12)
            dt = (sigfuse_dtype)(sc.aux % 8 == 7 ? sc.aux : sc.aux % 7);   /* 0..6 and odd values */
        L->desc[i].memory = SIGFUSE_MEMORY_HOST;
        L->desc[i].dtype = dt;
        if (mode == 14)
            L->desc[i].memory = (sigfuse_memory)(sc.aux % 4 == 0 ? 0 : sc.aux % 4 == 3 ? 9 : sc.aux % 4 + 1);
        size_t es = d->role == R_BYTES ? 1 : sigfuse_dtype_size(dt);
        L->elem[i] = es ? es : 4;

        /* An alias: an output onto any earlier-built buffer, an input onto an input. */
        if (mode == 11 && !(no_alias >> i & 1)) {
            int t = sc.aux % L->nslots;
            if (t < i && L->present[t]) {
                int rt = L->root[t];
                if ((is_output(L, i) || !is_output(L, rt)) && L->alloc[rt]) {
                    size_t tlen = slot_len(L, t);
                    size_t own = L->count[i] > 0 && (uint64_t)L->count[i] <= SIZE_MAX / L->elem[i]
                                     ? (size_t)L->count[i] * L->elem[i] : 0;
                    size_t off = L->desc[t].offset;
                    switch (sc.aux2 % 8) {
                    case 1: off += L->elem[t]; break;
                    case 2: off = off >= L->elem[t] ? off - L->elem[t] : off; break;
                    case 3: off += 1; break;
                    case 4: off += tlen / 2; break;
                    case 6: off += tlen > own ? tlen - own : 0; break;
                    default: break;
                    }
                    /* Bytes past the allocation only where the call must fail: an
                     * output overlapping the target's own bytes without being them. */
                    size_t start = (size_t)((uintptr_t)L->desc[t].ptr + off - (uintptr_t)L->alloc[rt]);
                    size_t tstart = (size_t)(slot_lo(L, t) - (uintptr_t)L->alloc[rt]);
                    bool inside = start + own <= L->alloc_bytes[rt];
                    bool overlaps = tlen && own && start < tstart + tlen && tstart < start + own;
                    /* A size too big to describe (own == 0 with count != 0) never
                     * aliases: a real pointer would then claim bytes nobody has, and
                     * whether the library can tell depends on where the heap put the
                     * other buffers. Such a slot gets a NULL pointer below. */
                    bool describable = L->count[i] == 0 || own > 0;
                    if (describable && (own == 0 || inside || (is_output(L, i) && overlaps))) {
                        L->desc[i].ptr = L->desc[t].ptr;
                        L->desc[i].offset = off;
                        L->root[i] = rt;
                        continue;
                    }
                }
            }
        }

        /* Its own allocation, exactly the declared bytes (after an optional offset). */
        size_t off = 0;
        if (mode == 13) {
            switch (sc.aux % 4) {
            case 0: off = 1; break;
            case 1: off = L->elem[i]; break;
            case 2: off = 8; break;
            default: off = 3; break;
            }
        }
        size_t bytes = 0;
        bool fits = L->count[i] >= 0 && (uint64_t)L->count[i] <= CAP_BYTES / L->elem[i];
        if (fits)
            bytes = (size_t)L->count[i] * L->elem[i];
        if (!fits || (mode == 15 && sc.aux % 2 == 0)) {
            /* Too big to allocate (or a NULL pointer on purpose): the call must fail, or
             * touch nothing when the count is 0. */
            L->desc[i].ptr = NULL;
            L->desc[i].offset = mode == 15 ? 0 : off;
            continue;
        }
        L->alloc[i] = (unsigned char *)malloc(off + bytes);   /* malloc(0): no usable byte */
        if (!L->alloc[i] && off + bytes == 0)
            L->alloc[i] = (unsigned char *)malloc(1);
        if (!L->alloc[i])
            abort();
        L->alloc_bytes[i] = off + bytes;
        L->desc[i].ptr = L->alloc[i];
        L->desc[i].offset = off;
    }

    /* Values: inputs from the seed; outputs are poisoned by the caller. */
    uint64_t s = c->seed ^ 0x5DEECE66Dull;
    bool raw = c->fill % 4 == 3;
    for (int i = 0; i < L->nslots; i++) {
        if (L->root[i] != i || !L->alloc[i] || is_output(L, i))
            continue;
        memset(L->alloc[i], 0x3C, L->alloc_bytes[i]);
        size_t len = slot_len(L, i);
        size_t es = L->def[i].role == R_BYTES ? 1 : L->elem[i];
        if (L->desc[i].offset + len > L->alloc_bytes[i])
            len = 0;
        const bool csr_offsets = c->valid_csr && strcmp(L->def[i].name, "pos_offsets") == 0;
        const bool csr_ids = c->valid_csr && strcmp(L->def[i].name, "pos_labels") == 0;
        const int64_t total = c->total_labels > 0 ? c->total_labels : c->s[2];
        for (size_t b = 0; b + es <= len; b += es) {
            double v = random_value(&s, L->def[i].role);
            const int64_t at = (int64_t)(b / es);
            if (csr_offsets)   /* one id a row while there are ids */
                v = (double)(at < c->nnz ? at : c->nnz);
            if (csr_ids && total > 0)
                v = (double)(c->label_offset + (int64_t)(splitmix(&s) % (uint64_t)(total - c->label_offset > 0 ? total - c->label_offset : 1)));
            uint64_t r = splitmix(&s);
            store_value(L->alloc[i] + L->desc[i].offset + b, es, L->desc[i].dtype, v, r, raw || es == 1);
        }
    }

    /* Exact in place: an output with the very bytes and dtype of an input. */
    for (int o = 0; o < L->nslots; o++) {
        if (!is_output(L, o) || L->root[o] == o || !L->present[o])
            continue;
        size_t olen = slot_len(L, o);
        for (int i = 0; i < L->nslots; i++)
            if (i != o && !is_output(L, i) && L->present[i] && olen > 0 && slot_len(L, i) == olen &&
                slot_lo(L, i) == slot_lo(L, o) && L->desc[i].dtype == L->desc[o].dtype)
                L->in_place[o] = true;
    }

    /* chunk_rows for the queries. */
    const int64_t n = c->s[0];
    static const int kinds = 10;
    switch (c->chunk_sel % kinds) {
    case 0: L->chunk = 0; break;
    case 1: L->chunk = 1; break;
    case 2: L->chunk = -1; break;
    case 3: L->chunk = 2; break;
    case 4: L->chunk = n; break;
    case 5: L->chunk = n < INT64_MAX ? n + 1 : n; break;
    case 6: L->chunk = INT64_MAX; break;
    case 7: L->chunk = INT64_MIN; break;
    case 8: L->chunk = n > 1 ? n - 1 : 3; break;
    default: L->chunk = 5; break;
    }
}

static void release(layout *L)
{
    for (int i = 0; i < L->nslots; i++)
        free(L->alloc[i]);
    memset(L->alloc, 0, sizeof L->alloc);
}

static const sigfuse_buffer *B(const layout *L, int i) { return L->present[i] ? &L->desc[i] : NULL; }

/* ---- Calling an op ------------------------------------------------------------------------ */

static sigfuse_status call(sigfuse_ctx *ctx, const cfg *c, const layout *L, size_t *bytes)
{
    const int64_t *s = c->s;
    const bool na = c->null_args;
    switch (c->op) {
    case OP_SIGMOID_F: return sigfuse_sigmoid_forward(ctx, s[0], B(L, 0), B(L, 1));
    case OP_SIGMOID_B: return sigfuse_sigmoid_backward(ctx, s[0], B(L, 0), B(L, 1), B(L, 2));
    case OP_LOGSIG_F: return sigfuse_log_sigmoid_forward(ctx, s[0], B(L, 0), B(L, 1));
    case OP_LOGSIG_B: return sigfuse_log_sigmoid_backward(ctx, s[0], B(L, 0), B(L, 1), B(L, 2));
    case OP_SILU_F: return sigfuse_silu_forward(ctx, s[0], c->beta, B(L, 0), B(L, 1));
    case OP_SILU_B: return sigfuse_silu_backward(ctx, s[0], c->beta, B(L, 0), B(L, 1), B(L, 2));
    case OP_GLU_F: return sigfuse_glu_forward(ctx, s[0], B(L, 0), B(L, 1), B(L, 2));
    case OP_GLU_B: return sigfuse_glu_backward(ctx, s[0], B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4));
    case OP_SWIGLU_F: return sigfuse_swiglu_forward(ctx, s[0], c->beta, B(L, 0), B(L, 1), B(L, 2));
    case OP_SWIGLU_B:
        return sigfuse_swiglu_backward(ctx, s[0], c->beta, B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4));
    case OP_LSTM_F: {
        sigfuse_lstm_forward_args a = {s[0], s[1], B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4), B(L, 5)};
        return sigfuse_lstm_cell_forward(ctx, na ? NULL : &a);
    }
    case OP_LSTM_B: {
        sigfuse_lstm_backward_args a = {s[0], s[1], B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4),
                                        B(L, 5), B(L, 6), B(L, 7), B(L, 8)};
        return sigfuse_lstm_cell_backward(ctx, na ? NULL : &a);
    }
    case OP_GRU_F: {
        sigfuse_gru_forward_args a = {s[0], s[1], B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4), B(L, 5)};
        return sigfuse_gru_cell_forward(ctx, na ? NULL : &a);
    }
    case OP_GRU_B: {
        sigfuse_gru_backward_args a = {s[0], s[1], B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4), B(L, 5),
                                       B(L, 6), B(L, 7), B(L, 8), B(L, 9), B(L, 10)};
        return sigfuse_gru_cell_backward(ctx, na ? NULL : &a);
    }
    /* The struct ops as the cells above: every field in the header's order, the buffers
     * being the slots in defs[]'s order (-Wextra names a field the header adds). */
    case OP_BCE: {
        sigfuse_bce_args a = {s[0], s[1], (sigfuse_reduction)c->reduction, c->smooth, c->scale, c->thresh,
                              B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4), B(L, 5), B(L, 6), B(L, 7), B(L, 8),
                              B(L, 9)};
        return sigfuse_bce_with_logits(ctx, na ? NULL : &a);
    }
    case OP_FOCAL: {
        sigfuse_focal_args a = {s[0], s[1], (sigfuse_reduction)c->reduction, c->alpha, c->gamma, c->scale,
                                B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4), B(L, 5)};
        return sigfuse_sigmoid_focal(ctx, na ? NULL : &a);
    }
    case OP_ASL: {   /* gamma_pos, gamma_neg, margin from the gamma, alpha and smoothing tables */
        sigfuse_asymmetric_args a = {s[0], s[1], (sigfuse_reduction)c->reduction, c->gamma, c->gamma2, c->smooth,
                                     c->scale, B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4), B(L, 5)};
        return sigfuse_asymmetric(ctx, na ? NULL : &a);
    }
    case OP_DICE: {   /* bce_weight, dice_weight, smooth, label_smoothing, grad_scale */
        sigfuse_bce_dice_args a = {s[0], s[1], (sigfuse_reduction)c->reduction, c->beta, c->alpha, c->gamma2,
                                   c->smooth, c->scale, B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4), B(L, 5),
                                   B(L, 6), B(L, 7)};
        return sigfuse_bce_dice(ctx, na ? NULL : &a);
    }
    case OP_HP_WS:
    case OP_HP: {
        sigfuse_head_predict_args a = {s[0], s[1], s[2], c->thresh, B(L, 0), B(L, 1), B(L, 2), B(L, 3),
                                       B(L, 4), B(L, 5), B(L, 6), L->ws_bytes};
        if (c->op == OP_HP)
            return sigfuse_head_predict(ctx, na ? NULL : &a);
        return sigfuse_head_predict_workspace_size(ctx, na ? NULL : &a, L->chunk, c->null_bytes ? NULL : bytes);
    }
    case OP_HT_WS:
    case OP_HT: {
        sigfuse_head_train_args a = {s[0], s[1], s[2], (sigfuse_reduction)c->reduction, c->scale, B(L, 0), B(L, 1),
                                     B(L, 2), B(L, 3), B(L, 4), B(L, 5), B(L, 6), c->nnz, c->label_offset,
                                     c->total_labels, B(L, 7), B(L, 8), B(L, 9), B(L, 10), B(L, 11), L->ws_bytes};
        if (c->op == OP_HT)
            return sigfuse_head_train_step(ctx, na ? NULL : &a);
        return sigfuse_head_train_workspace_size(ctx, na ? NULL : &a, L->chunk, c->null_bytes ? NULL : bytes);
    }
    case OP_TK_WS:
    case OP_TK: {
        sigfuse_head_topk_args a = {s[0], s[1], s[2], c->k, c->label_offset, B(L, 0), B(L, 1), B(L, 2), B(L, 3),
                                    B(L, 4), B(L, 5), B(L, 6), L->ws_bytes};
        if (c->op == OP_TK)
            return sigfuse_head_topk(ctx, na ? NULL : &a);
        return sigfuse_head_topk_workspace_size(ctx, na ? NULL : &a, L->chunk, c->null_bytes ? NULL : bytes);
    }
    case OP_MERGE: {
        sigfuse_topk_merge_args a = {s[0], s[1], s[2], B(L, 0), B(L, 1), B(L, 2), B(L, 3), B(L, 4)};
        return sigfuse_topk_merge(ctx, na ? NULL : &a);
    }
    }
    return SIGFUSE_ERR_INVALID_ARGUMENT;
}

/* The smallest and largest workspace of the head this config describes: the queries on
 * a layout without workspace mutations (the queries do not look at the workspace). */
static bool ws_bounds(sigfuse_ctx *ctx, const cfg *c, size_t *lo, size_t *hi)
{
    if (!is_head(c->op))
        return false;
    cfg q = *c;
    q.op = c->op == OP_HP ? OP_HP_WS : c->op == OP_TK ? OP_TK_WS : OP_HT_WS;
    q.null_args = q.null_bytes = false;
    layout L;
    build(&q, &L, 0, 0, 0, 0, false);
    L.chunk = 1;
    bool ok = call(ctx, &q, &L, lo) == SIGFUSE_SUCCESS;
    L.chunk = INT64_MAX;   /* >= N: all rows at once */
    ok = ok && call(ctx, &q, &L, hi) == SIGFUSE_SUCCESS;
    release(&L);
    return ok;
}

/* ---- Checks ----------------------------------------------------------------------------- */

static const cfg *current;

#define FAIL(...)                                                                                         \
    do {                                                                                                  \
        fprintf(stderr, "fuzz_api: %s (sizes %lld %lld %lld, dtype %d): ", op_names[current->op],          \
                (long long)current->s[0], (long long)current->s[1], (long long)current->s[2],              \
                (int)current->dtype);                                                                     \
        fprintf(stderr, __VA_ARGS__);                                                                     \
        fprintf(stderr, "\n");                                                                            \
        abort();                                                                                          \
    } while (0)

typedef struct image {
    unsigned char *b[MAX_SLOTS];
} image;

static void snap(const layout *L, image *im)
{
    memset(im, 0, sizeof *im);
    for (int i = 0; i < L->nslots; i++) {
        im->b[i] = NULL;
        if (L->alloc[i]) {
            im->b[i] = (unsigned char *)malloc(L->alloc_bytes[i] ? L->alloc_bytes[i] : 1);
            memcpy(im->b[i], L->alloc[i], L->alloc_bytes[i]);
        }
    }
}

static void unsnap(image *im)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        free(im->b[i]);
}

static void poison(layout *L, unsigned char p)
{
    for (int i = 0; i < L->nslots; i++)
        if (L->alloc[i] && is_output(L, i))
            memset(L->alloc[i], p, L->alloc_bytes[i]);
}

static bool ok_status(sigfuse_status st) { return st >= SIGFUSE_SUCCESS && st <= SIGFUSE_ERR_PROGRAM_BUILD; }

/* An overlap the header forbids, among present buffers of a successful call. */
static void check_overlaps_rule(const layout *L)
{
    for (int o = 0; o < L->nslots; o++) {
        if (!is_output(L, o))
            continue;
        size_t olen = slot_len(L, o);
        if (!olen)
            continue;
        uintptr_t olo = slot_lo(L, o);
        for (int i = 0; i < L->nslots; i++) {
            size_t len = slot_len(L, i);
            if (i == o || !len)
                continue;
            uintptr_t lo = slot_lo(L, i);
            if (lo + len <= olo || olo + olen <= lo)
                continue;
            bool same = lo == olo && len == olen && L->desc[i].dtype == L->desc[o].dtype;
            bool scalar = L->def[i].role == R_SCALAR || L->def[o].role == R_SCALAR ||
                          ((L->def[i].role == R_LOSS || L->def[o].role == R_LOSS) &&
                           current->reduction != SIGFUSE_REDUCTION_NONE);
            bool allowed = same && !is_output(L, i) && !is_head(L->op) && !scalar;
            if (!allowed)
                FAIL("succeeded although %s overlaps %s (%s)", L->def[o].name, L->def[i].name,
                     is_output(L, i) ? "two outputs" : is_head(L->op) ? "a head's output on an input"
                     : scalar ? "a reduced scalar" : "a partial overlap");
        }
    }
}

typedef struct run_result {
    sigfuse_status st;
    char msg[2100];
    size_t bytes;
    image after;
} run_result;

static void run_once(sigfuse_ctx *ctx, const cfg *c, layout *L, const image *inputs, unsigned char p,
                     size_t bytes_sentinel, run_result *res)
{
    for (int i = 0; i < L->nslots; i++)
        if (L->alloc[i] && !is_output(L, i))
            memcpy(L->alloc[i], inputs->b[i], L->alloc_bytes[i]);
    poison(L, p);
    image before;
    snap(L, &before);
    res->bytes = bytes_sentinel;
    sigfuse_ctx *use = c->null_ctx ? NULL : ctx;
    res->st = call(use, c, L, &res->bytes);
    snprintf(res->msg, sizeof res->msg, "%s", use ? sigfuse_ctx_last_error(use) : "");
    snap(L, &res->after);

    if (!ok_status(res->st))
        FAIL("unknown status %d", (int)res->st);
    if (use && res->st != SIGFUSE_SUCCESS && res->msg[0] == '\0')
        FAIL("status %d (%s) without a message", (int)res->st, sigfuse_status_string(res->st));
    if (use && res->st == SIGFUSE_SUCCESS && res->msg[0] != '\0')
        FAIL("success with a message: %s", res->msg);
    if ((c->null_ctx || (c->null_args && c->op >= OP_LSTM_F) || (c->null_bytes && is_query(c->op))) &&
        res->st != SIGFUSE_ERR_NULL_ARGUMENT)
        FAIL("a NULL ctx / args / bytes gave status %d, not NULL_ARGUMENT", (int)res->st);

    for (int r = 0; r < L->nslots; r++) {
        if (!L->alloc[r] || memcmp(res->after.b[r], before.b[r], L->alloc_bytes[r]) == 0)
            continue;
        if (res->st != SIGFUSE_SUCCESS)
            for (size_t k = 0; k < L->alloc_bytes[r]; k++)
                if (res->after.b[r][k] != before.b[r][k])
                    FAIL("failed with status %d (%s) but changed byte %zu of %s's memory", (int)res->st, res->msg,
                         k, L->def[r].name);
        /* Where the outputs lie in this allocation: [lo, hi) ranges, at most one a slot. */
        size_t lo[MAX_SLOTS], hi[MAX_SLOTS];
        int nr = 0;
        for (int o = 0; o < L->nslots; o++) {
            size_t len = slot_len(L, o);
            if (is_output(L, o) && L->root[o] == r && len) {
                lo[nr] = slot_lo(L, o) - (uintptr_t)L->alloc[r];
                hi[nr] = lo[nr] + len;
                nr++;
            }
        }
        for (size_t k = 0; k < L->alloc_bytes[r]; k++) {
            if (res->after.b[r][k] == before.b[r][k])
                continue;
            bool inside = false;
            for (int q = 0; q < nr && !inside; q++)
                inside = k >= lo[q] && k < hi[q];
            if (!inside)
                FAIL("changed byte %zu of %s's memory, outside every output", k, L->def[r].name);
        }
    }
    if (res->st != SIGFUSE_SUCCESS && res->bytes != bytes_sentinel)
        FAIL("failed (%s) but wrote *bytes", res->msg);
    if (res->st == SIGFUSE_SUCCESS && !is_query(c->op))
        check_overlaps_rule(L);
    unsnap(&before);
}

/* Bytes of output slot o in a run's image. */
static const unsigned char *out_bytes(const layout *L, const image *im, int o)
{
    int r = L->root[o];
    return im->b[r] + (slot_lo(L, o) - (uintptr_t)L->alloc[r]);
}

static bool slot_in_alloc(const layout *L, int o)
{
    int r = L->root[o];
    size_t len = slot_len(L, o);
    return len && L->alloc[r] && slot_lo(L, o) >= (uintptr_t)L->alloc[r] &&
           slot_lo(L, o) + len <= (uintptr_t)L->alloc[r] + L->alloc_bytes[r];
}

/* Full run of one layout: two poisons, the checks; the outputs of the first run are left
 * in *keep (caller frees). Returns the status. */
static sigfuse_status run_checked(sigfuse_ctx *ctx, const cfg *c, layout *L, run_result *keep)
{
    image inputs;
    snap(L, &inputs);
    static run_result r1;
    run_once(ctx, c, L, &inputs, 0xA5, (size_t)0xA5A5A5A5u, keep);
    run_once(ctx, c, L, &inputs, 0x5A, (size_t)0x5A5A5A5Au, &r1);
    if (keep->st != r1.st)
        FAIL("status %d then %d for the same call", (int)keep->st, (int)r1.st);
    if (strcmp(keep->msg, r1.msg) != 0)
        FAIL("messages differ between two same calls: \"%s\" / \"%s\"", keep->msg, r1.msg);
    if (keep->st == SIGFUSE_SUCCESS && is_query(c->op)) {
        if (keep->bytes == (size_t)0xA5A5A5A5u && r1.bytes == (size_t)0x5A5A5A5Au)
            FAIL("succeeded without writing *bytes");
        if (keep->bytes != r1.bytes)
            FAIL("two answers %zu / %zu to one query", keep->bytes, r1.bytes);
    }
    if (keep->st == SIGFUSE_SUCCESS && !is_query(c->op)) {
        for (int o = 0; o < L->nslots; o++) {
            if (L->def[o].kind != K_OUT || !slot_in_alloc(L, o))
                continue;
            const unsigned char *a = out_bytes(L, &keep->after, o), *b = out_bytes(L, &r1.after, o);
            size_t len = slot_len(L, o), es = sigfuse_dtype_size(L->desc[o].dtype);
            for (size_t k = 0; k < len; k += es) {
                bool unwritten = true;
                for (size_t j = 0; j < es; j++)
                    unwritten = unwritten && a[k + j] == 0xA5 && b[k + j] == 0x5A;
                if (unwritten && !L->in_place[o])
                    FAIL("succeeded but left element %zu of output %s unwritten", k / es, L->def[o].name);
                if (memcmp(a + k, b + k, es) != 0)
                    FAIL("element %zu of %s differs between two same calls", k / es, L->def[o].name);
            }
        }
    }
    unsnap(&r1.after);
    unsnap(&inputs);
    return keep->st;
}

/* Every output of two successful runs bitwise equal. */
static void compare_outputs(const layout *La, const run_result *a, const layout *Lb, const run_result *b,
                            const char *what)
{
    for (int o = 0; o < La->nslots; o++) {
        if (La->def[o].kind != K_OUT || !slot_in_alloc(La, o) || !slot_in_alloc(Lb, o))
            continue;
        size_t len = slot_len(La, o), es = sigfuse_dtype_size(La->desc[o].dtype);
        if (len != slot_len(Lb, o))
            continue;
        const unsigned char *x = out_bytes(La, &a->after, o), *y = out_bytes(Lb, &b->after, o);
        for (size_t k = 0; k < len; k += es)
            if (memcmp(x + k, y + k, es) != 0)
                FAIL("%s: element %zu of %s differs", what, k / es, La->def[o].name);
    }
}

static sigfuse_ctx *g_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (sigfuse_ctx_create(&g_ctx, SIGFUSE_BACKEND_CPU) != SIGFUSE_SUCCESS) {
        fprintf(stderr, "fuzz_api: no cpu context: %s\n", sigfuse_last_create_error());
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg c;
    decode(data, size, &c);
    current = &c;
    size_t ws_lo = 0, ws_hi = 0;
    bool ws_known = ws_bounds(g_ctx, &c, &ws_lo, &ws_hi);
    if (ws_known && ws_lo > ws_hi)
        FAIL("smallest workspace %zu > largest %zu", ws_lo, ws_hi);

    layout L;
    build(&c, &L, 0, SIZE_MAX, ws_lo, ws_hi, ws_known);
    static run_result main_run;
    sigfuse_status st = run_checked(g_ctx, &c, &L, &main_run);

    if (st == SIGFUSE_SUCCESS && !c.null_ctx && !c.null_args) {
        /* The size queries: smallest <= asked <= largest. */
        if (is_query(c.op) && !c.null_bytes) {
            cfg q = c;
            layout Q;
            build(&q, &Q, 0, SIZE_MAX, 0, 0, false);
            size_t lo = 0, hi = 0;
            Q.chunk = 1;
            sigfuse_status s1 = call(g_ctx, &q, &Q, &lo);
            Q.chunk = INT64_MAX;
            sigfuse_status s2 = call(g_ctx, &q, &Q, &hi);
            if (s1 || s2)
                FAIL("the query succeeded for chunk_rows %lld but not for 1 or INT64_MAX", (long long)L.chunk);
            if (lo > main_run.bytes || main_run.bytes > hi)
                FAIL("workspace for chunk_rows %lld is %zu, outside [%zu (1 row), %zu (all rows)]",
                     (long long)L.chunk, main_run.bytes, lo, hi);
            release(&Q);
        }

        /* In place equal to separate buffers. */
        unsigned in_place = 0;
        for (int o = 0; o < L.nslots; o++)
            if (L.in_place[o])
                in_place |= 1u << o;
        if (in_place) {
            layout S;
            build(&c, &S, in_place, L.ws_bytes, ws_lo, ws_hi, ws_known);
            run_result sep;
            sigfuse_status s2 = run_checked(g_ctx, &c, &S, &sep);
            if (s2 != SIGFUSE_SUCCESS)
                FAIL("succeeded in place but failed with separate buffers (%d: %s)", (int)s2, sep.msg);
            compare_outputs(&L, &main_run, &S, &sep, "in place vs separate buffers");
            unsnap(&sep.after);
            release(&S);
        }

        /* The heads: a fuzzed workspace below the smallest must not have worked, and the
         * smallest and the largest give the same result. */
        if (is_head(c.op)) {
            if (!ws_known)
                FAIL("the op succeeded but its workspace queries did not");
            if (L.ws_bytes < ws_lo)
                FAIL("succeeded with workspace_bytes %zu below the smallest %zu", L.ws_bytes, ws_lo);
            if (ws_hi <= CAP_BYTES) {
                layout A, Z;
                run_result ra, rz;
                build(&c, &A, in_place, ws_lo, ws_lo, ws_hi, true);
                build(&c, &Z, in_place, ws_hi, ws_lo, ws_hi, true);
                sigfuse_status sa = run_checked(g_ctx, &c, &A, &ra);
                sigfuse_status sz = run_checked(g_ctx, &c, &Z, &rz);
                if (sa != SIGFUSE_SUCCESS || sz != SIGFUSE_SUCCESS)
                    FAIL("succeeded with %zu workspace bytes but gave %d with the smallest (%zu) and %d with "
                         "the largest (%zu): %s / %s",
                         L.ws_bytes, (int)sa, ws_lo, (int)sz, ws_hi, ra.msg, rz.msg);
                compare_outputs(&A, &ra, &Z, &rz, "smallest vs largest workspace");
                if (!in_place)
                    compare_outputs(&L, &main_run, &A, &ra, "fuzzed vs smallest workspace");
                unsnap(&ra.after);
                unsnap(&rz.after);
                release(&A);
                release(&Z);
            }
        }
    }
    unsnap(&main_run.after);
    release(&L);
    return 0;
}
