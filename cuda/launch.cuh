/* SPDX-License-Identifier: MIT */
/*
 * Launch sizing of the CUDA backend's kernels: a kernel's resident blocks per SM, asked
 * of the runtime once per device, and the grid of a grid-stride loop that fills the
 * device once. Both are functions of (kernel, device, work) only, so that sums over a
 * launch's blocks keep one order from run to run.
 */
#ifndef SF_CUDA_LAUNCH_CUH
#define SF_CUDA_LAUNCH_CUH

#include <stdint.h>

#include "sf_cuda.h"

/* Resident blocks of `Kernel` per SM at `block` threads, asked once per device (the
 * answer depends only on the kernel's registers and the device's architecture). The
 * cache is a zero-initialised static array, not a function-local static: that would need
 * the C++ runtime's guard functions, and C programs link the static library with a C
 * linker. Racing threads store the same value. */
#define SF_MAX_DEVICES 64
template <auto Kernel> struct sf_occupancy_cache {
    static int blocks[SF_MAX_DEVICES];
};
template <auto Kernel> int sf_occupancy_cache<Kernel>::blocks[SF_MAX_DEVICES];

template <auto Kernel> int sf_blocks_per_sm(int device, int block)
{
    int *slot = device >= 0 && device < SF_MAX_DEVICES ? &sf_occupancy_cache<Kernel>::blocks[device] : nullptr;
    if (slot) {
        int v = __atomic_load_n(slot, __ATOMIC_RELAXED);
        if (v > 0)
            return v;
    }
    int v = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, Kernel, block, 0) != cudaSuccess || v < 1) {
        cudaGetLastError();
        return 1;   /* still correct, just fewer blocks; asked again next time */
    }
    if (slot)
        __atomic_store_n(slot, v, __ATOMIC_RELAXED);
    return v;
}

/* Blocks for a grid-stride loop over `units` work items: enough to fill every SM once
 * (more only adds a tail wave), at least 1 (a tail may still need a thread), and never
 * more than the partials the scratch holds. A function of (kernel, device, units) only,
 * so reductions over the blocks come out in the same order on every run. */
template <auto Kernel> unsigned sf_grid_for(const sf_cuda_state *s, int64_t units, int block = SF_BLOCK)
{
    int64_t cap = (int64_t)s->sm_count * sf_blocks_per_sm<Kernel>(s->device, block);
    if (cap > (int64_t)s->scratch_doubles)
        cap = (int64_t)s->scratch_doubles;
    int64_t want = (units + block - 1) / block;
    if (want > cap)
        want = cap;
    return want < 1 ? 1u : (unsigned)want;
}

#endif /* SF_CUDA_LAUNCH_CUH */
