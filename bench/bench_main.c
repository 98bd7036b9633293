/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: times every op of the catalogue (cases.c) on every backend present,
 * after checking its output against the CPU reference, and prints op, dtype, size,
 * backend, median time, GB/s of the fewest bytes the op must move, and the percentage of
 * a copy measured in the same run (device to device; a host memcpy for the cpu reference).
 *
 * For each case, dtype and size:
 *  1. inputs are drawn on the host from a fixed-seed generator (every element a pure
 *     function of seed, buffer and index) and rounded to their dtype;
 *  2. the reference computes the outputs in double from f64 copies of those inputs,
 *     its rows split over threads (a piece sums its loss; the pieces are added up);
 *     a head too large for that is checked on its first rows only;
 *  3. the backend runs on uploaded inputs with poisoned outputs, twice: the first run must
 *     write every output element and match the reference within a tolerance per dtype,
 *     the second must repeat the first bit for bit;
 *  4. after a warm-up, R timed reps; reps rotate over copies of the buffers when one set
 *     would fit twice in the device's last-level cache, so that no rep hits in it.
 *
 * A head's row is followed by a row timing its matrix products alone (cuBLAS on cuda,
 * CLBlast on opencl: the backend's head_gemms) on the same buffers and row chunks, and by
 * a line with the head's time as a multiple of theirs and its workspace beside what an
 * unfused head must hold (docs/design.md, Performance).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"


#ifdef SIGFUSE_BENCH_HAVE_COMMIT_H
#include "bench_commit.h"
#endif
#ifndef SIGFUSE_BENCH_COMMIT
#define SIGFUSE_BENCH_COMMIT "unknown"
#endif

/* The backends in the order they are run; NULL table: not built into this bench. */
static const struct {
    const char *name;
    sigfuse_backend backend;
    const bench_backend *table;
} backends[] = {
    {"cpu", SIGFUSE_BACKEND_CPU, &bench_cpu_backend},
#ifdef SIGFUSE_WITH_CUDA
    {"cuda", SIGFUSE_BACKEND_CUDA, &bench_cuda_backend},
#else
    {"cuda", SIGFUSE_BACKEND_CUDA, NULL},
#endif
#ifdef SIGFUSE_WITH_OPENCL
    {"opencl", SIGFUSE_BACKEND_OPENCL, &bench_opencl_backend},
#else
    {"opencl", SIGFUSE_BACKEND_OPENCL, NULL},
#endif
};

/* ---- Options ----------------------------------------------------------------------------------- */

static const sigfuse_dtype all_dtypes[] = {SIGFUSE_F32, SIGFUSE_F16, SIGFUSE_BF16};

bench_options bench_opt;
_Static_assert(COUNT_OF(backends) == BENCH_BACKEND_COUNT, "bench_options.backend: one per backend");
_Static_assert(COUNT_OF(all_dtypes) == BENCH_DTYPE_COUNT, "bench_options.dtype: one per dtype");

static const bench_sizes quick_sizes = {
    /* Odd sizes, so that tails past any vector width are checked too. */
    .elementwise = {3003}, .cell = {{5, 37}}, .head = {{13, 40, 24}}, .xmc = {{13, 40, 300}}};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sigfuse-bench [options]\n"
            "Checks every op against the CPU reference, then times it.\n"
            "  --backend B   cpu, cuda or opencl (repeatable, or a comma list); default: all available\n"
            "  --op NAME     only cases whose name contains NAME (repeatable, or a comma list);\n"
            "                a case's exact name selects that case only\n"
            "  --dtype D     f32, f16 or bf16 (repeatable, or a comma list); default: all three\n"
            "  --size N      elementwise and loss cases on N elements instead of the defaults\n"
            "  --head-chunk R  give the heads a workspace for chunks of R rows (default: the\n"
            "                library's, at most an unfused head's N x L logits, within 1 GiB);\n"
            "                less workspace, more and smaller matrix products\n"
            "  --reps R      timed repetitions (default: 20 on cuda, 10 on opencl, 5 on cpu)\n"
            "  --csv FILE    also write the results as CSV\n"
            "  --json FILE   also write the results as JSON (with device, date and commit)\n"
            "  --quick       tiny sizes and 3 reps (CI: checks every op runs and is right)\n"
            "  --list        list the cases with their byte counts, and the backends\n"
            "  --help        this text\n"
            "Each head row is followed by a row timing its matrix products alone (cuBLAS on cuda,\n"
            "CLBlast on opencl; same shapes, types and chunks) and by a line with the head's time\n"
            "as a multiple of theirs and its workspace beside what an unfused head holds at once.\n"
            "Exit status: 0 when every row passed its check, 1 when one failed, 2 for bad usage.\n");
}

static bool parse_list(const char *value, bool (*add)(const char *item))
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", value);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
        if (!add(item))
            return false;
    return true;
}

static bool add_backend(const char *name)
{
    for (int i = 0; i < COUNT_OF(backends); i++)
        if (strcmp(name, backends[i].name) == 0) {
            bench_opt.backend[i] = bench_opt.any_backend = true;
            return true;
        }
    fprintf(stderr, "sigfuse-bench: unknown backend '%s' (cpu, cuda, opencl)\n", name);
    return false;
}

static bool add_dtype(const char *name)
{
    for (int i = 0; i < COUNT_OF(all_dtypes); i++)
        if (strcmp(name, sigfuse_dtype_name(all_dtypes[i])) == 0) {
            bench_opt.dtype[i] = bench_opt.any_dtype = true;
            return true;
        }
    fprintf(stderr, "sigfuse-bench: unknown dtype '%s' (f32, f16, bf16)\n", name);
    return false;
}

static bool add_op(const char *name)
{
    if (bench_opt.op_count == COUNT_OF(bench_opt.op)) {
        fprintf(stderr, "sigfuse-bench: too many --op filters\n");
        return false;
    }
    char *copy = malloc(strlen(name) + 1);
    if (!copy)
        return false;
    strcpy(copy, name);
    bench_opt.op[bench_opt.op_count++] = copy;
    return true;
}

static bool parse_count(const char *flag, const char *value, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 0);
    if (errno || *end || v < lo) {
        fprintf(stderr, "sigfuse-bench: %s wants an integer >= %lld, not '%s'\n", flag, (long long)lo, value);
        return false;
    }
    *out = v;
    return true;
}

static bool case_selected(const bench_case *c)
{
    if (bench_opt.op_count == 0)
        return true;
    for (int i = 0; i < bench_opt.op_count; i++) {
        bool exact = false;
        for (int k = 0; k < bench_case_count; k++)
            exact = exact || strcmp(bench_cases[k].name, bench_opt.op[i]) == 0;
        if (exact ? strcmp(c->name, bench_opt.op[i]) == 0 : strstr(c->name, bench_opt.op[i]) != NULL)
            return true;
    }
    return false;
}

/* ---- One backend ------------------------------------------------------------------------------------------ */

static int count_rows(const bench_sizes *sizes, bool defaults)
{
    int rows = 0;
    bench_shape shape[8];
    char label[8][48];
    for (int c = 0; c < bench_case_count; c++)
        if (case_selected(&bench_cases[c]))
            for (int d = 0; d < COUNT_OF(all_dtypes); d++)
                if (!bench_opt.any_dtype || bench_opt.dtype[d])
                    rows += bench_case_shapes(&bench_cases[c], sizes, defaults, shape, label);
    return rows;
}

/* Run every selected case on one backend; returns the number of failed rows, or -1 when
 * the backend could not be opened. */
static int run_backend(const bench_backend *be, char **device_out)
{
    session se = {be, NULL, NULL, "", 0, 0, 0.0};
    if (!be->open(&se.state, &se.ctx)) {
        fprintf(stderr, "sigfuse-bench: %s: cannot open the backend: %s\n", be->name, bench_last_error());
        sigfuse_ctx_destroy(se.ctx);
        be->close(se.state);
        return -1;
    }
    snprintf(se.device, sizeof se.device, "%s", sigfuse_ctx_device_name(se.ctx));
    se.reps = bench_opt.reps > 0 ? bench_opt.reps : bench_opt.quick ? 3 : be->reps;
    se.warmup = bench_opt.quick ? 1 : be->warmup;
    printf("# %s: %s; %d reps after %d warm-up\n", be->name, se.device, se.reps, se.warmup);
    bench_print_header();
    int failed = 0;
    if (be->copy_bytes > 0) {
        bench_measure_copy(&se);
        failed += strcmp(bench_results[bench_result_count - 1].status, "FAILED") == 0;
    }

    bench_sizes sizes = bench_opt.quick ? quick_sizes : be->sizes;
    if (!bench_opt.quick && be->device_sizes)
        be->device_sizes(se.ctx, &sizes);
    if (bench_opt.size > 0) {
        memset(sizes.elementwise, 0, sizeof sizes.elementwise);
        sizes.elementwise[0] = bench_opt.size;
    }
    const bool defaults = !bench_opt.quick && bench_opt.size == 0;
    const int total = count_rows(&sizes, defaults);
    int done = 0;
    for (int c = 0; c < bench_case_count; c++) {
        const bench_case *bc = &bench_cases[c];
        if (!case_selected(bc))
            continue;
        for (int d = 0; d < COUNT_OF(all_dtypes); d++) {
            if (bench_opt.any_dtype && !bench_opt.dtype[d])
                continue;
            bench_shape shape[8];
            char label[8][48];
            int shapes = bench_case_shapes(bc, &sizes, defaults, shape, label);
            for (int k = 0; k < shapes; k++) {
                const char *dtype = sigfuse_dtype_name(all_dtypes[d]);
                if (!bench_opt.quick)
                    fprintf(stderr, "[%s %d/%d] %s %s %s\n", be->name, ++done, total, bc->name, dtype, label[k]);
                result *r = bench_new_result(&se, bc->name, dtype, label[k]);
                r->shape = shape[k];
                int len = snprintf(r->rerun, sizeof r->rerun, "sigfuse-bench --backend %s --op %s --dtype %s%s",
                                   be->name, bc->name, dtype, bench_opt.quick ? " --quick" : "");
                if (bench_case_xmc(bc))
                    ;   /* the backend's xmc sizes: --size does not change them */
                else if (bench_case_family(bc) == FAMILY_ELEMENTWISE || bench_case_family(bc) == FAMILY_LOSS)
                    snprintf(r->rerun + len, sizeof r->rerun - (size_t)len, " --size %lld",
                             (long long)(shape[k].rows * shape[k].cols));
                else if (bench_case_family(bc) == FAMILY_HEAD && bench_opt.head_chunk > 0)
                    snprintf(r->rerun + len, sizeof r->rerun - (size_t)len, " --head-chunk %lld",
                             (long long)bench_opt.head_chunk);
                instance in;
                result base;   /* the head's products alone, when bench_run_instance times them */
                base.status = NULL;
                if (!bench_instance_init(&in, bc, all_dtypes[d], &shape[k]) || !bench_reference(&in)) {
                    r->status = "FAILED";
                    snprintf(r->note, sizeof r->note, "%s", bench_last_error());
                } else {
                    bench_run_instance(&se, &in, r, &base);
                }
                r->bytes = in.bytes;
                r->flops = in.flops;
                bench_instance_free(&in);
                failed += strcmp(r->status, "FAILED") == 0;
                bench_print_result(r);
                if (bench_case_family(bc) == FAMILY_HEAD && strcmp(r->status, "ok") == 0) {
                    const result head = *r;   /* bench_new_result may move r */
                    const result *gemms = NULL;
                    if (base.status) {
                        result *row = bench_new_result(&se, base.op, base.dtype, base.size);
                        *row = base;
                        failed += strcmp(row->status, "FAILED") == 0;
                        bench_print_result(row);
                        gemms = row;
                    }
                    bench_print_head_summary(&head, gemms, be, bench_case_gemms_train(bc));
                    if (bench_case_peer_formula(bc))
                        bench_print_memory(&head, bench_case_peer_formula(bc));
                }
            }
        }
    }
    *device_out = strdup(se.device);
    sigfuse_ctx_destroy(se.ctx);
    be->close(se.state);
    return failed;
}

/* ---- main --------------------------------------------------------------------------------------------------- */

static void list_cases(void)
{
    printf("cases (s = element size of the dtype; n = rows * cols of a loss):\n");
    for (int c = 0; c < bench_case_count; c++) {
        char formula[128];
        bench_case_bytes_formula(&bench_cases[c], formula, sizeof formula);
        printf("  %-26s %s\n", bench_cases[c].name, formula);
    }
    printf("rows timed beside the heads (not cases of their own):\n");
    for (int c = 0; c < bench_case_count; c++)
        if (bench_cases[c].gemms_row)
            printf("  %-26s %s's matrix products alone (cuda: cuBLAS, opencl: CLBlast)\n", bench_cases[c].gemms_row,
                   bench_cases[c].name);
    printf("backends:\n");
    for (int i = 0; i < COUNT_OF(backends); i++) {
        sigfuse_status st = sigfuse_backend_available(backends[i].backend);
        printf("  %-8s %s%s\n", backends[i].name, st == SIGFUSE_SUCCESS ? "available" : sigfuse_status_string(st),
               st == SIGFUSE_SUCCESS && !backends[i].table ? " (but not built into this bench)" : "");
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        char flag[32];
        const char *eq = strchr(arg, '=');
        snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        bool takes_value = strcmp(flag, "--backend") == 0 || strcmp(flag, "--op") == 0 ||
                           strcmp(flag, "--dtype") == 0 || strcmp(flag, "--size") == 0 ||
                           strcmp(flag, "--reps") == 0 || strcmp(flag, "--csv") == 0 || strcmp(flag, "--json") == 0 ||
                           strcmp(flag, "--head-chunk") == 0;
        if (takes_value) {
            value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!value) {
                fprintf(stderr, "sigfuse-bench: %s needs a value\n", flag);
                return 2;
            }
        }
        int64_t v;
        bool ok = true;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(flag, "--list") == 0) {
            list_cases();
            return 0;
        } else if (strcmp(flag, "--quick") == 0) {
            bench_opt.quick = true;
        } else if (strcmp(flag, "--backend") == 0) {
            ok = parse_list(value, add_backend);
        } else if (strcmp(flag, "--op") == 0) {
            ok = parse_list(value, add_op);
        } else if (strcmp(flag, "--dtype") == 0) {
            ok = parse_list(value, add_dtype);
        } else if (strcmp(flag, "--size") == 0) {
            ok = parse_count(flag, value, 1, &bench_opt.size);
        } else if (strcmp(flag, "--head-chunk") == 0) {
            ok = parse_count(flag, value, 1, &bench_opt.head_chunk);
        } else if (strcmp(flag, "--reps") == 0) {
            ok = parse_count(flag, value, 1, &v);
            bench_opt.reps = (int)(v > 100000 ? 100000 : v);
        } else if (strcmp(flag, "--csv") == 0) {
            bench_opt.csv = value;
        } else if (strcmp(flag, "--json") == 0) {
            bench_opt.json = value;
        } else {
            fprintf(stderr, "sigfuse-bench: unknown option '%s' (see --help)\n", arg);
            ok = false;
        }
        if (!ok)
            return 2;
    }
    bool any_case = false;
    for (int c = 0; c < bench_case_count; c++)
        any_case = any_case || case_selected(&bench_cases[c]);
    if (!any_case) {
        fprintf(stderr, "sigfuse-bench: no case matches --op (see --list)\n");
        return 2;
    }

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bench_thread_count = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;

    const char *commit = SIGFUSE_BENCH_COMMIT;
    if (strcmp(commit, "unknown") == 0 && getenv("SIGFUSE_COMMIT") && getenv("SIGFUSE_COMMIT")[0])
        commit = getenv("SIGFUSE_COMMIT");
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    printf("# sigfuse-bench: sigfuse %s, commit %s, %s, seed %#llx, reference on %d threads\n", sigfuse_version(),
           commit, date, (unsigned long long)BENCH_SEED, bench_thread_count);

    int failed = 0;     /* rows that FAILED */
    bool trouble = false;   /* anything else that should fail the run */
    char *device = NULL;
    for (int i = 0; i < COUNT_OF(backends); i++) {
        const bool asked = bench_opt.backend[i];
        if (bench_opt.any_backend && !asked)
            continue;
        sigfuse_status st = sigfuse_backend_available(backends[i].backend);
        if (st != SIGFUSE_SUCCESS || !backends[i].table) {
            const char *why = st != SIGFUSE_SUCCESS ? sigfuse_status_string(st) : "not built into this bench";
            if (asked) {
                fprintf(stderr, "sigfuse-bench: %s: requested but cannot run: %s\n", backends[i].name, why);
                trouble = true;
            } else {
                printf("# %s: skipped (%s)\n", backends[i].name, why);
            }
            continue;
        }
        char *name = NULL;
        int rows_failed = run_backend(backends[i].table, &name);
        if (rows_failed < 0)
            trouble = true;
        else
            failed += rows_failed;
        if (name) {   /* the JSON's device: the last (most capable) backend run */
            free(device);
            device = name;
        }
    }

    if (bench_opt.csv && !bench_write_csv(bench_opt.csv)) {
        fprintf(stderr, "sigfuse-bench: cannot write %s: %s\n", bench_opt.csv, strerror(errno));
        trouble = true;
    }
    if (bench_opt.json && !bench_write_json(bench_opt.json, device ? device : "none", date, commit)) {
        fprintf(stderr, "sigfuse-bench: cannot write %s: %s\n", bench_opt.json, strerror(errno));
        trouble = true;
    }
    free(device);
    free(bench_results);
    for (int i = 0; i < bench_opt.op_count; i++)
        free((void *)bench_opt.op[i]);
    if (failed)
        fprintf(stderr, "sigfuse-bench: %d row(s) FAILED\n", failed);
    return failed || trouble ? 1 : 0;
}
