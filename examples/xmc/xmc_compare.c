/* SPDX-License-Identifier: MIT */
/*
 * Checks that two xmc runs (xmc --out FILE; e.g. 1 rank and 4 ranks) trained the same model:
 *  - every reported loss within a relative `loss_tol` (--loss-tol, 1e-5 by default): the
 *    shards' losses and dX parts are summed across ranks, so the summation order, and with
 *    it the last bits, changes with the number of ranks, and Adam carries those bits on;
 *  - P@1, P@5 and R@5 within `metric_tol` (--metric-tol, 0 by default: one flipped hit
 *    in 500 rows would move P@1 by 0.002);
 *  - the same merged top-k lists: per row, the logits at each position within `tie_tol`
 *    (--tie-tol, absolute, 1e-4 by default), and where the ids differ, the two labels
 *    are near-tied (both runs' lists hold each at logits within tie_tol of the other's,
 *    or the one missing from a list sits within tie_tol of that list's last logit).
 * Usage: xmc_compare A B [--loss-tol T] [--metric-tol T] [--tie-tol T]. Prints what it
 * checked, and every mismatch (the first 10); exit status 0 when they agree, 77 when a
 * file is missing (the run that writes it was skipped or failed, which ctest reports;
 * xmc removes its --out file when it starts, so none is left from an earlier run).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K = 5, MAX_ROWS = 100000, MAX_LOSS = 100000 };

typedef struct run {
    int nloss, rows;
    int *loss_step;
    double *loss;
    double p1, p5, r5;
    long long *id;   /* [rows, K] */
    double *z;       /* [rows, K] */
} run;

static void load(const char *path, run *r)
{
    FILE *f = fopen(path, "r");
    if (!f) {   /* 77, ctest's "skipped": a run that was skipped (no device) wrote nothing */
        fprintf(stderr, "xmc_compare: cannot read %s\n", path);
        exit(77);
    }
    memset(r, 0, sizeof *r);
    r->loss_step = calloc(MAX_LOSS, sizeof(int));
    r->loss = calloc(MAX_LOSS, sizeof(double));
    r->id = calloc((size_t)MAX_ROWS * K, sizeof(long long));
    r->z = calloc((size_t)MAX_ROWS * K, sizeof(double));
    r->p1 = r->p5 = r->r5 = NAN;
    char line[1024], name[16];
    while (fgets(line, sizeof line, f)) {
        int step, row, used;
        double v;
        if (sscanf(line, "loss %d %lf", &step, &v) == 2 && r->nloss < MAX_LOSS) {
            r->loss_step[r->nloss] = step;
            r->loss[r->nloss++] = v;
        } else if (sscanf(line, "metric %15s %lf", name, &v) == 2) {
            if (!strcmp(name, "p1")) r->p1 = v;
            if (!strcmp(name, "p5")) r->p5 = v;
            if (!strcmp(name, "r5")) r->r5 = v;
        } else if (sscanf(line, "top %d%n", &row, &used) == 1 && row == r->rows && row < MAX_ROWS) {
            const char *p = line + used;
            for (int q = 0; q < K; q++) {
                int n = 0;
                if (sscanf(p, "%lld %lf%n", &r->id[(size_t)row * K + q], &r->z[(size_t)row * K + q], &n) != 2) {
                    fprintf(stderr, "xmc_compare: %s: bad line: %s", path, line);
                    exit(1);
                }
                p += n;
            }
            r->rows++;
        }
    }
    fclose(f);
    if (r->nloss == 0 || r->rows == 0 || isnan(r->p1)) {
        fprintf(stderr, "xmc_compare: %s holds no loss curve, metrics or top-k lists\n", path);
        exit(1);
    }
}

/* Position of id in row i of r, or -1. */
static int find(const run *r, int i, long long id)
{
    for (int q = 0; q < K; q++)
        if (r->id[(size_t)i * K + q] == id)
            return q;
    return -1;
}

/* Label id at position p of a's row i is where b has it, or near-tied there. */
static int tied_ok(const run *a, const run *b, int i, int p, double tol)
{
    long long id = a->id[(size_t)i * K + p];
    int q = find(b, i, id);
    double za = a->z[(size_t)i * K + p];
    if (q >= 0)
        return fabs(b->z[(size_t)i * K + q] - za) <= tol;
    return fabs(za - b->z[(size_t)i * K + K - 1]) <= tol;   /* pushed out of b's list by a near-tie */
}

int main(int argc, char **argv)
{
    double loss_tol = 1e-5, metric_tol = 0.0, tie_tol = 1e-4;
    const char *pa = NULL, *pb = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--loss-tol") && i + 1 < argc) loss_tol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--metric-tol") && i + 1 < argc) metric_tol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--tie-tol") && i + 1 < argc) tie_tol = atof(argv[++i]);
        else if (!pa) pa = argv[i];
        else if (!pb) pb = argv[i];
        else pa = NULL;
    }
    if (!pa || !pb) {
        fprintf(stderr, "usage: xmc_compare A B [--loss-tol T] [--metric-tol T] [--tie-tol T]\n");
        return 1;
    }
    run a, b;
    load(pa, &a);
    load(pb, &b);
    int bad = 0;
    double worst_loss = 0.0, worst_z = 0.0;
    if (a.nloss != b.nloss || a.rows != b.rows) {
        fprintf(stderr, "xmc_compare: %d vs %d losses, %d vs %d rows\n", a.nloss, b.nloss, a.rows, b.rows);
        return 1;
    }
    for (int s = 0; s < a.nloss; s++) {
        double rel = fabs(a.loss[s] - b.loss[s]) / fmax(fabs(a.loss[s]), 1e-30);
        worst_loss = fmax(worst_loss, rel);
        if (a.loss_step[s] != b.loss_step[s] || !(rel <= loss_tol)) {
            if (bad++ < 10)
                fprintf(stderr, "xmc_compare: step %d: loss %.9g vs %.9g (relative %.3g > %.3g)\n", a.loss_step[s],
                        a.loss[s], b.loss[s], rel, loss_tol);
        }
    }
    const double ma[3] = {a.p1, a.p5, a.r5}, mb[3] = {b.p1, b.p5, b.r5};
    const char *mn[3] = {"P@1", "P@5", "R@5"};
    for (int m = 0; m < 3; m++)
        if (!(fabs(ma[m] - mb[m]) <= metric_tol) && bad++ < 10)
            fprintf(stderr, "xmc_compare: %s %.6f vs %.6f\n", mn[m], ma[m], mb[m]);
    int swaps = 0;
    for (int i = 0; i < a.rows; i++) {
        for (int p = 0; p < K; p++) {
            double dz = fabs(a.z[(size_t)i * K + p] - b.z[(size_t)i * K + p]);
            worst_z = fmax(worst_z, dz);
            int same = a.id[(size_t)i * K + p] == b.id[(size_t)i * K + p];
            swaps += !same;
            if (!(dz <= tie_tol) || (!same && !(tied_ok(&a, &b, i, p, tie_tol) && tied_ok(&b, &a, i, p, tie_tol)))) {
                if (bad++ < 10)
                    fprintf(stderr, "xmc_compare: row %d position %d: %lld (%.9g) vs %lld (%.9g)\n", i, p,
                            a.id[(size_t)i * K + p], a.z[(size_t)i * K + p], b.id[(size_t)i * K + p],
                            b.z[(size_t)i * K + p]);
            }
        }
    }
    printf("xmc_compare: %d losses (largest relative difference %.3g, tolerance %.3g); P@1 %.4f/%.4f, P@5 "
           "%.4f/%.4f, R@5 %.4f/%.4f; %d rows x %d: %d positions with other ids (near-ties), largest logit "
           "difference %.3g (tolerance %.3g): %s\n",
           a.nloss, worst_loss, loss_tol, a.p1, b.p1, a.p5, b.p5, a.r5, b.r5, a.rows, K, swaps, worst_z, tie_tol,
           bad ? "DIFFERENT" : "same");
    return bad ? 1 : 0;
}
