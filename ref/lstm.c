/* SPDX-License-Identifier: MIT */
/*
 * Reference LSTM cell (PyTorch gate order i, f, g, o along the 4H columns of a row),
 * forward and backward in double. Backward recomputes the cell from its inputs and
 * gives d(pre-activation gates), dc_prev and the bias gradient (a row sum in row order).
 */
#include <math.h>

#include "ref_math.h"
#include "sf_internal.h"

/* The pre-activation of one gate column of one row. */
static double pre(const sigfuse_buffer *gx, const sigfuse_buffer *gh, int64_t idx, double bias)
{
    double v = sf_host_load(gx, idx);
    if (gh)
        v += sf_host_load(gh, idx);
    return v + bias;
}

sigfuse_status sf_ref_lstm_cell_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a)
{
    (void)ctx;
    const int64_t B = a->batch, H = a->hidden;
    for (int64_t r = 0; r < B; r++) {
        for (int64_t j = 0; j < H; j++) {
            const int64_t row = r * 4 * H, k = r * H + j;
            double bi = 0.0, bf = 0.0, bg = 0.0, bo = 0.0;
            if (a->bias) {
                bi = sf_host_load(a->bias, j);
                bf = sf_host_load(a->bias, H + j);
                bg = sf_host_load(a->bias, 2 * H + j);
                bo = sf_host_load(a->bias, 3 * H + j);
            }
            double gi = pre(a->gates_x, a->gates_h, row + j, bi);
            double gf = pre(a->gates_x, a->gates_h, row + H + j, bf);
            double gg = pre(a->gates_x, a->gates_h, row + 2 * H + j, bg);
            double go = pre(a->gates_x, a->gates_h, row + 3 * H + j, bo);
            double c_prev = sf_host_load(a->c_prev, k);
            /* c_prev[k] is read before c[k] / h[k] are written: c may alias c_prev. */
            double c = ref_sigmoid(gf) * c_prev + ref_sigmoid(gi) * tanh(gg);
            if (a->c)
                sf_host_store(a->c, k, c);
            if (a->h)
                sf_host_store(a->h, k, ref_sigmoid(go) * tanh(c));
        }
    }
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_ref_lstm_cell_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a)
{
    (void)ctx;
    const int64_t B = a->batch, H = a->hidden;
    /* Column-outer, row-inner: the bias gradient of the four columns of j is then four
     * running sums in row order, with no scratch. An element (r, j) reads only its own
     * four gate columns and [r, j] of the [B, H] tensors before writing the same places,
     * and bias[.. j] is read before dbias[.. j] is written, so outputs may alias inputs. */
    for (int64_t j = 0; j < H; j++) {
        double bi = 0.0, bf = 0.0, bg = 0.0, bo = 0.0;
        if (a->bias) {
            bi = sf_host_load(a->bias, j);
            bf = sf_host_load(a->bias, H + j);
            bg = sf_host_load(a->bias, 2 * H + j);
            bo = sf_host_load(a->bias, 3 * H + j);
        }
        double sum_i = 0.0, sum_f = 0.0, sum_g = 0.0, sum_o = 0.0;
        for (int64_t r = 0; r < B; r++) {
            const int64_t row = r * 4 * H, k = r * H + j;
            double gi = pre(a->gates_x, a->gates_h, row + j, bi);
            double gf = pre(a->gates_x, a->gates_h, row + H + j, bf);
            double gg = pre(a->gates_x, a->gates_h, row + 2 * H + j, bg);
            double go = pre(a->gates_x, a->gates_h, row + 3 * H + j, bo);
            double c_prev = sf_host_load(a->c_prev, k);
            double dh = a->dh ? sf_host_load(a->dh, k) : 0.0;
            double dc = a->dc ? sf_host_load(a->dc, k) : 0.0;

            double si = ref_sigmoid(gi), sf = ref_sigmoid(gf), so = ref_sigmoid(go), tg = tanh(gg);
            double c = sf * c_prev + si * tg;
            double tc = tanh(c);
            double dc_total = dc + dh * so * ref_tanh_grad(c);
            double d_i = dc_total * tg * (si * ref_sigmoid(-gi));
            double d_f = dc_total * c_prev * (sf * ref_sigmoid(-gf));
            double d_g = dc_total * si * ref_tanh_grad(gg);
            double d_o = dh * tc * (so * ref_sigmoid(-go));

            if (a->dgates) {
                sf_host_store(a->dgates, row + j, d_i);
                sf_host_store(a->dgates, row + H + j, d_f);
                sf_host_store(a->dgates, row + 2 * H + j, d_g);
                sf_host_store(a->dgates, row + 3 * H + j, d_o);
            }
            if (a->dc_prev)
                sf_host_store(a->dc_prev, k, dc_total * sf);
            sum_i += d_i;
            sum_f += d_f;
            sum_g += d_g;
            sum_o += d_o;
        }
        if (a->dbias) {
            sf_host_store(a->dbias, j, sum_i);
            sf_host_store(a->dbias, H + j, sum_f);
            sf_host_store(a->dbias, 2 * H + j, sum_g);
            sf_host_store(a->dbias, 3 * H + j, sum_o);
        }
    }
    return SIGFUSE_SUCCESS;
}
