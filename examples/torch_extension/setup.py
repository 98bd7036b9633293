# SPDX-License-Identifier: MIT
"""Builds the sigfuse_torch extension (sigfuse_torch.cpp) against a built sigfuse.

    SIGFUSE_INCLUDE_DIR=include SIGFUSE_LIBRARY_DIR=build \
        python setup.py build_ext --build-lib OUT --build-temp OUT/tmp

run.sh does this. The CUDA path (tensors on the GPU, PyTorch's current stream handed to
sigfuse) is compiled when this PyTorch has CUDA and the CUDA toolkit is found; set
SIGFUSE_TORCH_CUDA=0 to leave it out, 1 to insist on it.
"""
import os

from setuptools import setup
import torch
from torch.utils import cpp_extension

here = os.path.dirname(os.path.abspath(__file__))
include_dir = os.environ.get("SIGFUSE_INCLUDE_DIR", os.path.join(here, "..", "..", "include"))
library_dir = os.path.abspath(os.environ["SIGFUSE_LIBRARY_DIR"])

want_cuda = os.environ.get("SIGFUSE_TORCH_CUDA", "auto")
have_cuda = torch.version.cuda is not None and cpp_extension.CUDA_HOME is not None
if want_cuda == "1" and not have_cuda:
    raise SystemExit("SIGFUSE_TORCH_CUDA=1 but this PyTorch has no CUDA or the CUDA toolkit was not found")
use_cuda = have_cuda and want_cuda != "0"

# A C++ extension either way: the file has no device code (sigfuse's kernels are in
# libsigfuse), so nvcc is never run and its version need not match PyTorch's. The CUDA
# path needs only the CUDA headers (for cudaStream_t) and c10_cuda (PyTorch's streams).
cuda_include = [os.path.join(cpp_extension.CUDA_HOME, "include")] if use_cuda else []
ext = cpp_extension.CppExtension(
    name="sigfuse_torch",
    sources=[os.path.join(here, "sigfuse_torch.cpp")],
    include_dirs=[os.path.abspath(include_dir)] + cuda_include,
    library_dirs=[library_dir],
    libraries=["sigfuse"] + (["c10_cuda"] if use_cuda else []),
    # Find libsigfuse.so where it was built, without LD_LIBRARY_PATH.
    extra_link_args=["-Wl,-rpath," + library_dir],
    define_macros=[("SIGFUSE_TORCH_CUDA", "1")] if use_cuda else [],
    extra_compile_args=["-O2", "-Wall"],
)

setup(
    name="sigfuse_torch",
    ext_modules=[ext],
    cmdclass={"build_ext": cpp_extension.BuildExtension},
)
