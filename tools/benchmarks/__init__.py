"""Timing and FLOP counting of the backbone and the FCMAE encoder, against peers in one process.

Not installed with the package: the benchmarks (tools/analysis/benchmark_backbone.py,
tools/analysis/benchmark_fcmae.py) and the GPU check's timed rows (tools/gpu_check.py) import it
from tools/. A user's import of mmconvnextv2 never pulls it in, nor timm, its reference.
"""
