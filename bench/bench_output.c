/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: the rows of the results, and their three formats: the table on stdout,
 * CSV and JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

/* ---- Output ---------------------------------------------------------------------------------------------- */

void bench_result_init(result *r, const session *se, const char *op, const char *dtype, const char *size)
{
    memset(r, 0, sizeof *r);
    r->backend = se->be->name;
    snprintf(r->device, sizeof r->device, "%s", se->device);
    r->op = op;
    r->dtype = dtype;
    snprintf(r->size, sizeof r->size, "%s", size);
    r->median = r->min = r->max = r->gbps = r->pct_copy = r->gflops = NAN;
    r->gemms_s = r->vs_gemms = r->workspace_bytes = r->unfused_bytes = NAN;
    r->held_bytes = r->peer_bytes = NAN;
}

result *bench_results;
int bench_result_count;
static int result_capacity;

result *bench_new_result(const session *se, const char *op, const char *dtype, const char *size)
{
    if (bench_result_count == result_capacity) {
        int cap = result_capacity ? 2 * result_capacity : 64;
        result *grown = realloc(bench_results, sizeof *bench_results * (size_t)cap);
        if (!grown) {
            fprintf(stderr, "sigfuse-bench: out of host memory\n");
            exit(1);
        }
        bench_results = grown;
        result_capacity = cap;
    }
    result *r = &bench_results[bench_result_count++];
    bench_result_init(r, se, op, dtype, size);
    return r;
}

void bench_print_header(void)
{
    printf("%-24s %-5s %-20s %-7s %12s %9s %7s %9s  %s\n", "op", "dtype", "size", "backend", "median_us", "GB/s",
           "%copy", "GFLOP/s", "status");
}

/* A rate in at most 4 significant digits, without an exponent up to 10^9. */
static void format_rate(char *out, size_t size, double v)
{
    if (!isnan(v))
        snprintf(out, size, v >= 1000.0 ? "%.0f" : "%.4g", v);
}

void bench_print_result(const result *r)
{
    char t[32] = "", g[32] = "", p[32] = "", f[32] = "";
    if (!isnan(r->median))
        snprintf(t, sizeof t, "%.2f", r->median * 1e6);
    format_rate(g, sizeof g, r->gbps);
    if (!isnan(r->pct_copy))
        snprintf(p, sizeof p, "%.1f%%", r->pct_copy);
    format_rate(f, sizeof f, r->gflops);
    printf("%-24s %-5s %-20s %-7s %12s %9s %7s %9s  %s%s%s\n", r->op, r->dtype, r->size, r->backend, t, g, p, f,
           r->status, r->note[0] ? ": " : "", r->note);
    if (strcmp(r->status, "FAILED") == 0 && r->rerun[0])
        printf("    rerun: %s\n", r->rerun);
    fflush(stdout);
}

/* Bytes in the largest binary unit that keeps a whole part: "224.0 MiB", "9.8 KiB". */
static void format_bytes(char *out, size_t size, double bytes)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u + 1 < COUNT_OF(unit)) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(out, size, u == 0 ? "%.0f %s" : "%.1f %s", bytes, unit[u]);
}

/* The line under a head's rows: its time as a multiple of its products alone, and its
 * workspace beside the bytes an unfused head holds at once. */
void bench_print_head_summary(const result *head, const result *gemms, const bench_backend *be, bool train)
{
    char ws[32], unfused[32], ratio[96];
    format_bytes(ws, sizeof ws, head->workspace_bytes);
    format_bytes(unfused, sizeof unfused, head->unfused_bytes);
    if (gemms && strcmp(gemms->status, "ok") == 0)
        snprintf(ratio, sizeof ratio, "%.2fx the time of its %s products alone", head->vs_gemms, be->gemm_library);
    else if (gemms)
        snprintf(ratio, sizeof ratio, "its %s products alone FAILED", be->gemm_library);
    else
        snprintf(ratio, sizeof ratio, "no products-alone baseline on %s", be->name);
    printf("    %s %s %s: %s; workspace %s (chunks of %lld rows) vs %s for an unfused head's N x L logits%s\n",
           head->op, head->dtype, head->size, ratio, ws, (long long)head->chunk_rows, unfused,
           train ? " and their gradient" : "");
    fflush(stdout);
}

/* The line under an XMC head's rows: what sigfuse held (counted) beside PyTorch's formula. */
void bench_print_memory(const result *head, const char *formula)
{
    char held[32], peer[32];
    format_bytes(held, sizeof held, head->held_bytes);
    format_bytes(peer, sizeof peer, head->peer_bytes);
    printf("    %s %s %s: memory: sigfuse held %s (counted from the bench's allocations: inputs + outputs + the "
           "workspace given) vs %s for PyTorch (a formula, not measured: %s; peers.py measures it)\n",
           head->op, head->dtype, head->size, held, peer, formula);
    fflush(stdout);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_number(FILE *f, double v)
{
    if (isnan(v))
        fputs("null", f);
    else
        fprintf(f, "%.9g", v);
}

/* A count of bytes or flops: whole, without an exponent. */
static void json_count(FILE *f, double v)
{
    if (isnan(v))
        fputs("null", f);
    else
        fprintf(f, "%.0f", v);
}

static void csv_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_number(FILE *f, double v)
{
    if (!isnan(v))
        fprintf(f, "%.9g", v);
}

/* A count of bytes or flops: whole, without an exponent. */
static void csv_count(FILE *f, double v)
{
    if (!isnan(v))
        fprintf(f, "%.0f", v);
}

bool bench_write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "backend,device,op,dtype,size,rows,cols,d,bytes,flops,reps,sets,median_s,min_s,max_s,gbps,"
               "pct_copy,gflops,vs_gemms,gemms_s,workspace_bytes,chunk_rows,unfused_bytes,held_bytes,peer_bytes,"
               "status,note\n");
    for (int i = 0; i < bench_result_count; i++) {
        const result *r = &bench_results[i];
        const char *text[] = {r->backend, r->device, r->op, r->dtype, r->size};
        for (int k = 0; k < COUNT_OF(text); k++) {
            csv_string(f, text[k]);
            fputc(',', f);
        }
        fprintf(f, "%lld,%lld,%lld,", (long long)r->shape.rows, (long long)r->shape.cols, (long long)r->shape.d);
        csv_count(f, r->bytes);
        fputc(',', f);
        csv_count(f, r->flops);
        fprintf(f, ",%d,%d,", r->reps, r->sets);
        const double v[] = {r->median, r->min, r->max, r->gbps, r->pct_copy, r->gflops, r->vs_gemms, r->gemms_s};
        for (int k = 0; k < COUNT_OF(v); k++) {
            csv_number(f, v[k]);
            fputc(',', f);
        }
        csv_count(f, r->workspace_bytes);
        fputc(',', f);
        if (r->chunk_rows > 0)
            fprintf(f, "%lld", (long long)r->chunk_rows);
        fputc(',', f);
        csv_count(f, r->unfused_bytes);
        fputc(',', f);
        csv_count(f, r->held_bytes);
        fputc(',', f);
        csv_count(f, r->peer_bytes);
        fprintf(f, ",%s,", r->status);
        csv_string(f, r->note);
        fputc('\n', f);
    }
    return fclose(f) == 0;
}

bool bench_write_json(const char *path, const char *device, const char *date, const char *commit)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "{\n  \"device\": ");
    json_string(f, device);
    fprintf(f, ",\n  \"date\": ");
    json_string(f, date);
    fprintf(f, ",\n  \"commit\": ");
    json_string(f, commit);
    fprintf(f, ",\n  \"sigfuse_version\": ");
    json_string(f, sigfuse_version());
    fprintf(f, ",\n  \"seed\": %llu,\n  \"quick\": %s,\n  \"rows\": [", (unsigned long long)BENCH_SEED,
            bench_opt.quick ? "true" : "false");
    for (int i = 0; i < bench_result_count; i++) {
        const result *r = &bench_results[i];
        fprintf(f, "%s\n    {\"backend\": ", i ? "," : "");
        json_string(f, r->backend);
        fprintf(f, ", \"device\": ");
        json_string(f, r->device);
        fprintf(f, ", \"op\": ");
        json_string(f, r->op);
        fprintf(f, ", \"dtype\": ");
        json_string(f, r->dtype);
        fprintf(f, ", \"size\": ");
        json_string(f, r->size);
        fprintf(f, ", \"rows\": %lld, \"cols\": %lld, \"d\": %lld, \"bytes\": ", (long long)r->shape.rows,
                (long long)r->shape.cols, (long long)r->shape.d);
        json_count(f, r->bytes);
        fprintf(f, ", \"flops\": ");
        json_count(f, r->flops);
        fprintf(f, ", \"reps\": %d, \"sets\": %d", r->reps, r->sets);
        const char *names[] = {"median_s", "min_s", "max_s", "gbps", "pct_copy", "gflops", "vs_gemms", "gemms_s"};
        const double v[] = {r->median, r->min, r->max, r->gbps, r->pct_copy, r->gflops, r->vs_gemms, r->gemms_s};
        for (int k = 0; k < COUNT_OF(v); k++) {
            fprintf(f, ", \"%s\": ", names[k]);
            json_number(f, v[k]);
        }
        fprintf(f, ", \"workspace_bytes\": ");
        json_count(f, r->workspace_bytes);
        fprintf(f, ", \"chunk_rows\": ");
        json_count(f, r->chunk_rows > 0 ? (double)r->chunk_rows : NAN);
        fprintf(f, ", \"unfused_bytes\": ");
        json_count(f, r->unfused_bytes);
        fprintf(f, ", \"held_bytes\": ");
        json_count(f, r->held_bytes);
        fprintf(f, ", \"peer_bytes\": ");
        json_count(f, r->peer_bytes);
        fprintf(f, ", \"status\": ");
        json_string(f, r->status);
        fprintf(f, ", \"note\": ");
        json_string(f, r->note);
        fputc('}', f);
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) == 0;
}
