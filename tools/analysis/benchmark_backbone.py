"""Benchmark our ConvNeXt V2 against timm's and mmpretrain's on the CPU.

Three classifiers of the same size are timed in one process, on the same input:

* ``ours``: :class:`mmconvnextv2.models.ConvNeXtV2` + ``nn.Linear(C, 1000)``;
* ``timm``: ``timm.create_model('convnextv2_<arch>', num_classes=1000, drop_path_rate=0)``;
* ``mmpretrain``: ``mmpretrain`` ``ConvNeXt(arch, use_grn=True, layer_scale_init_value=0.,
  linear_pw_conv=True)`` + ``nn.Linear(C, 1000)``.

All weights are the constructors' defaults (no ``init_weights()``, whose values do not change the
fp32 CPU speed). Two modes are timed:

* ``infer``: eval mode under :func:`torch.inference_mode`, one forward;
* ``train``: train mode, forward, ``loss = logits.float().mean()``, ``backward()`` and
  ``zero_grad(set_to_none=True)``; with ``--optimizer adamw`` an ``AdamW.step()`` (foreach) is
  added for every model alike.

After the warm-up iterations, each round runs one timed iteration of every (mode, model) pair,
round-robin and with the model order rotated from round to round, so that drift of the machine
(other jobs, clock changes) hits all models alike. On a shared machine the CPU time that other
processes use during each timed call is read from ``/proc`` (the "foreign load", a fraction of all
cores); a sample is clean when it is at most ``--max-foreign``, and rounds go on until every step
has ``--repeats`` clean samples (or ``--max-rounds`` is reached). Statistics use the clean samples;
all samples are kept in the JSON (the harness is :mod:`benchmarks.timing`). A
2048x2048 fp32 ``torch.mm`` is timed in the same rotation; its median throughput is the "matmul
roof" against which the inference throughput of every model is reported. Model FLOPs are counted
by :class:`torch.utils.flop_counter.FlopCounterMode` on one eval forward: 2 FLOPs per multiply-add
of the convolutions and matrix products only (elementwise work such as GELU, LayerNorm and GRN is
not counted), so ConvNeXt V2-Atto at 224x224 counts ~1.1 GFLOPs per image, the paper's 0.55 G
multiply-adds.

Examples::

    # Eager, atto and tiny, batch 8 at 224x224, 30 repeats, results in a JSON file.
    python tools/analysis/benchmark_backbone.py --archs atto tiny --repeats 30 \\
        --out work_dirs/bench_eager.json
    # The same with torch.compile (inductor); compile times are reported separately.
    python tools/analysis/benchmark_backbone.py --archs atto tiny --compile \\
        --out work_dirs/bench_compile.json
    # Compiled inference with inductor freezing (weights folded and prepacked).
    python tools/analysis/benchmark_backbone.py --compile --freezing --modes infer
    # channels_last memory format for all models and the input, inference only.
    python tools/analysis/benchmark_backbone.py --channels-last --modes infer
    # A quick smoke run.
    python tools/analysis/benchmark_backbone.py --archs atto --batch-size 1 --img-size 64 \\
        --repeats 1 --warmup 0 --modes infer
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from collections.abc import Sequence

import torch
from torch import nn

# benchmarks is in tools/, the folder above this script's; it is not installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.classifiers import (MODEL_NAMES, build_classifiers, count_flops,  # noqa: E402
                                    count_parameters, make_infer_step, make_input, make_matmul_step,
                                    make_optimizer, make_train_step, matmul_gflops)
from benchmarks.environment import environment  # noqa: E402
from benchmarks.timing import Step, run_repeats, summarize, time_call  # noqa: E402

MODES = ('infer', 'train')
MATMUL = 'matmul'


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses the command line.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Time ConvNeXt V2 of mmconvnextv2, timm and mmpretrain on the CPU.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--archs', nargs='+', default=['atto', 'tiny'],
                        help='ConvNeXt V2 sizes (atto, femto, pico, nano, tiny, base, large, huge)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--repeats', type=int, default=20,
                        help='clean timed iterations per model (see --max-foreign)')
    parser.add_argument('--max-foreign', type=float, default=0.25,
                        help='a sample is clean when other processes used at most this fraction '
                             'of the CPU meanwhile; 1 or more accepts every sample')
    parser.add_argument('--max-rounds', type=int, default=None,
                        help='most round-robin rounds to collect clean samples; default '
                             '3 * repeats')
    parser.add_argument('--warmup', type=int, default=3, help='untimed iterations per model')
    parser.add_argument('--modes', nargs='+', choices=MODES, default=list(MODES))
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last memory format for all models and the input')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile (inductor) every model; the first call is timed apart')
    parser.add_argument('--freezing', action='store_true',
                        help='with --compile: inductor freezing (constant folding and weight '
                             'prepacking) for the inference graphs')
    parser.add_argument('--optimizer', choices=('none', 'adamw'), default='none',
                        help='add an AdamW step to every training iteration')
    parser.add_argument('--matmul-size', type=int, default=2048,
                        help='side of the square fp32 matmul that measures the roof')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads; default: all cores')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None, help='write raw timings and metadata to this JSON')
    args = parser.parse_args(argv)
    for name in ('batch_size', 'img_size', 'repeats', 'matmul_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be positive')
    if args.warmup < 0:
        parser.error('--warmup must not be negative')
    if args.freezing and not args.compile:
        parser.error('--freezing needs --compile')
    if args.max_rounds is None:
        args.max_rounds = 3 * args.repeats
    return args


def log(message: str) -> None:
    """Prints a progress line with the wall time, to stderr so that stdout keeps the table."""
    print(f'[{time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages, where the OS reports them."""
    try:
        return os.getloadavg()
    except OSError:
        return None


def configure_inductor(freezing: bool) -> None:
    """Sets inductor's ``freezing`` option, which only affects graphs compiled without grad."""
    import torch._inductor.config as inductor_config
    inductor_config.freezing = freezing


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile`` (inductor) the model if ``enabled``, else return it unchanged."""
    return torch.compile(model, backend='inductor') if enabled else model


def make_steps(models: dict[str, nn.Module], x: torch.Tensor,
               args: argparse.Namespace) -> dict[tuple[str, str], Step]:
    """One step per (mode, model) for the requested modes, plus the matmul under ``infer``.

    Args:
        models: Classifiers by name, already compiled if requested.
        x: Shared input batch.
        args: Benchmark arguments (``modes``, ``optimizer``, ``matmul_size``, ``seed``).

    Returns:
        Steps keyed by ``(mode, name)``; the matmul is ``('infer', 'matmul')`` (or
        ``('train', 'matmul')`` when only training is timed).
    """
    steps: dict[tuple[str, str], Step] = {}
    for mode in args.modes:
        for name, model in models.items():
            if mode == 'infer':
                steps[mode, name] = make_infer_step(model, x)
            else:
                optimizer = make_optimizer(model, args.optimizer)
                steps[mode, name] = make_train_step(model, x, optimizer)
    steps[args.modes[0], MATMUL] = make_matmul_step(args.matmul_size, args.seed)
    return steps


def first_calls(steps: dict[tuple[str, str], Step]) -> dict[str, float]:
    """Runs every step once and returns its time (the compile time when compiling)."""
    times = {}
    for (mode, name), step in steps.items():
        key = f'{mode}/{name}'
        log(f'  first call {key} ...')
        times[key], _ = time_call(step)
        log(f'  first call {key}: {times[key]:.2f} s')
    return times


def warm_up(steps: dict[tuple[str, str], Step], iterations: int) -> None:
    """Runs every step ``iterations`` times, untimed."""
    for i in range(iterations):
        for step in steps.values():
            step()
        log(f'  warm-up {i + 1}/{iterations}')


def benchmark_arch(arch: str, args: argparse.Namespace) -> dict[str, object]:
    """Builds, (compiles,) warms up and times the three models of one size.

    Args:
        arch: ConvNeXt V2 size.
        args: Benchmark arguments.

    Returns:
        A JSON-able record with parameter and FLOP counts, first-call times, raw timings and their
        summaries.
    """
    log(f'{arch}: building models')
    models = build_classifiers(arch, args.channels_last, args.seed)
    x = make_input(args.batch_size, args.img_size, args.channels_last, args.seed)
    params = {name: count_parameters(m) for name, m in models.items()}
    flops = {name: count_flops(m, x) for name, m in models.items()}
    log(f'{arch}: GFLOPs/batch ' + ', '.join(f'{n} {f / 1e9:.3f}' for n, f in flops.items()))
    models = {name: maybe_compile(m, args.compile) for name, m in models.items()}
    steps = make_steps(models, x, args)
    log(f'{arch}: first calls' + (' (compiling)' if args.compile else ''))
    first = first_calls(steps)
    log(f'{arch}: warm-up')
    warm_up(steps, args.warmup)
    log(f'{arch}: timing {args.repeats} clean repeats (foreign load <= {args.max_foreign})')
    load_before = load_average()
    raw = run_repeats(steps, args.repeats, args.max_foreign, args.max_rounds,
                      progress=lambda line: log(f'  {line}'))
    summary = {key: summarize(r['s'], r['foreign'], args.max_foreign) for key, r in raw.items()}
    return dict(arch=arch, params=params, flops=flops, first_call_s=first, load_before=load_before,
                load_after=load_average(), raw=raw, summary=summary)


def roof_gflops(record: dict[str, object], matmul_size: int) -> float:
    """Median matmul throughput (GFLOP/s) measured alongside one size."""
    key = next(k for k in record['summary'] if k.endswith('/' + MATMUL))
    return matmul_gflops(matmul_size, record['summary'][key]['median_ms'] / 1e3)


def add_derived(record: dict[str, object], args: argparse.Namespace) -> None:
    """Adds the matmul roof, speed ratios and inference throughput to a record, in place."""
    summary = record['summary']
    roof = roof_gflops(record, args.matmul_size)
    record['matmul_gflops'] = roof
    record['ratio_vs_ours'] = {}
    record['infer_gflops'] = {}
    record['infer_roof_fraction'] = {}
    for mode in args.modes:
        ours = summary[f'{mode}/ours']['median_ms']
        for name in MODEL_NAMES[1:]:
            median = summary[f'{mode}/{name}']['median_ms']
            record['ratio_vs_ours'][f'{mode}/{name}'] = median / ours
    if 'infer' in args.modes:
        for name in MODEL_NAMES:
            gflops = record['flops'][name] / (summary[f'infer/{name}']['median_ms'] / 1e3) / 1e9
            record['infer_gflops'][name] = gflops
            record['infer_roof_fraction'][name] = gflops / roof


def clean_fraction(record: dict[str, object], mode: str) -> str:
    """``'clean/all'`` samples of the model of one mode with the fewest clean samples."""
    stats = [record['summary'][f'{mode}/{name}'] for name in MODEL_NAMES]
    worst = min(stats, key=lambda s: (s['clean'], s['n']))
    used = worst['n'] if worst['clean'] else 0
    return f'{used}/{worst["n_all"]}' + ('' if worst['clean'] else '*')


def compile_label(args: argparse.Namespace) -> str:
    """How the models were run: eager, or compiled with or without freezing."""
    if not args.compile:
        return 'eager'
    return 'compiled (inductor' + (', freezing)' if args.freezing else ')')


def format_table(records: list[dict[str, object]], args: argparse.Namespace) -> str:
    """A readable table: per size and mode the median (IQR) of each model and the ratios.

    Ratios are other/ours of the median times, so > 1 means ours is faster. The last column is the
    inference throughput of each model as a percentage of the matmul roof.
    """
    setting = (f'batch {args.batch_size}, {args.img_size}x{args.img_size}, fp32, '
               f'{torch.get_num_threads()} threads, '
               f'{"channels_last" if args.channels_last else "contiguous"}, '
               f'{compile_label(args)}, '
               f'optimizer {args.optimizer}, {args.repeats} repeats, clean: foreign load <= '
               f'{args.max_foreign}')
    header = (f'{"arch":<6} {"mode":<5} | {"ours ms":>15} {"timm ms":>15} {"mmpre ms":>15} | '
              f'{"timm/ours":>9} {"mmpre/ours":>10} | {"% matmul roof (ours/timm/mmpre)":>31} | '
              f'{"clean":>7}')
    lines = [setting, header, '-' * len(header)]
    for rec in records:
        for mode in args.modes:
            cells = []
            for name in MODEL_NAMES:
                s = rec['summary'][f'{mode}/{name}']
                cells.append(f'{s["median_ms"]:7.1f} ±{s["iqr_ms"]:5.1f}')
            ratios = rec['ratio_vs_ours']
            roof = ''
            if mode == 'infer':
                roof = ' / '.join(f'{100 * rec["infer_roof_fraction"][n]:5.1f}'
                                  for n in MODEL_NAMES)
            lines.append(f'{rec["arch"]:<6} {mode:<5} | {cells[0]:>15} {cells[1]:>15} '
                         f'{cells[2]:>15} | {ratios[f"{mode}/timm"]:9.3f} '
                         f'{ratios[f"{mode}/mmpretrain"]:10.3f} | {roof:>31} | '
                         f'{clean_fraction(rec, mode):>7}')
    lines.append('-' * len(header))
    for rec in records:
        gflops = ', '.join(f'{n} {rec["flops"][n] / 1e9 / args.batch_size:.3f}'
                           for n in MODEL_NAMES)
        lines.append(f'{rec["arch"]}: matmul roof {rec["matmul_gflops"]:.1f} GFLOP/s '
                     f'({args.matmul_size}^2 fp32 mm); GFLOPs per image (FlopCounterMode, 2/MAC): '
                     f'{gflops}')
        if args.compile:
            first = ', '.join(f'{k} {v:.1f}' for k, v in rec['first_call_s'].items()
                              if not k.endswith(MATMUL))
            lines.append(f'{rec["arch"]}: compile (first call) s: {first}')
    lines.append('ms: median ±IQR over the clean samples; ratios > 1 mean ours is faster; clean: '
                 'clean/all samples of the model with the fewest clean ones (* none clean: all '
                 'samples used).')
    return '\n'.join(lines)


def write_json(path: str, payload: dict[str, object]) -> None:
    """Writes the results, creating the parent directory if needed."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(payload, f, indent=1)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Runs the benchmark, prints the table and writes the JSON.

    Args:
        argv: Command line arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The results as written to ``--out``.
    """
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.compile:
        configure_inductor(args.freezing)
    start = time.perf_counter()
    log(f'threads {torch.get_num_threads()}, load {load_average()}')
    records = []
    for arch in args.archs:
        record = benchmark_arch(arch, args)
        add_derived(record, args)
        records.append(record)
    wall = time.perf_counter() - start
    table = format_table(records, args)
    print(table, flush=True)
    log(f'done in {wall:.0f} s, load {load_average()}')
    payload = dict(args=vars(args), environment=environment(), wall_s=wall,
                   time_utc=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), table=table,
                   results=records)
    if args.out:
        write_json(args.out, payload)
        log(f'wrote {args.out}')
    return payload


if __name__ == '__main__':
    main()
