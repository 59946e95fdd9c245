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
all samples are kept in the JSON. A 2048x2048 fp32 ``torch.mm`` is timed in the
same rotation; its median throughput is the "matmul roof" against which the inference throughput of
every model is reported. Model FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`
on one eval forward: 2 FLOPs per multiply-add of the convolutions and matrix products only
(elementwise work such as GELU, LayerNorm and GRN is not counted), so ConvNeXt V2-Atto at 224x224
counts ~1.1 GFLOPs per image, the paper's 0.55 G multiply-adds.

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
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

MODEL_NAMES = ('ours', 'timm', 'mmpretrain')
MODES = ('infer', 'train')
MATMUL = 'matmul'
NUM_CLASSES = 1000

# A step of the benchmark: runs one iteration of a model (or of the matmul) and returns nothing.
Step = Callable[[], None]


class BackboneClassifier(nn.Module):
    """An OpenMMLab backbone returning a tuple of pooled (N, C) features, plus a linear head.

    Args:
        backbone: Module whose last output is a pooled and normalised (N, C) tensor.
        channels: C, the width of that output.
        num_classes: Number of logits.
    """

    def __init__(self, backbone: nn.Module, channels: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)[-1])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
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


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def package_version(name: str) -> Optional[str]:
    """Version of an importable package, or ``None`` if it is missing."""
    try:
        module = __import__(name)
    except ImportError:
        return None
    return getattr(module, '__version__', None)


def environment() -> Dict[str, object]:
    """Software and hardware the benchmark ran on."""
    return dict(
        python=platform.python_version(),
        torch=torch.__version__,
        timm=package_version('timm'),
        mmpretrain=package_version('mmpretrain'),
        mmconvnextv2=package_version('mmconvnextv2'),
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count(),
        cpu_model=cpu_model(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        mkldnn=torch.backends.mkldnn.is_available(),
        platform=platform.platform(),
    )


def load_average() -> Optional[Tuple[float, float, float]]:
    """The 1, 5 and 15 minute load averages, where the OS reports them."""
    try:
        return os.getloadavg()
    except OSError:
        return None


def build_ours(arch: str, channels_last: bool) -> nn.Module:
    """Our ConvNeXtV2 backbone with a linear 1000-class head."""
    from mmconvnextv2.models import ConvNeXtV2
    backbone = ConvNeXtV2(arch=arch, channels_last=channels_last)
    return BackboneClassifier(backbone, backbone.channels[-1])


def build_timm(arch: str, channels_last: bool) -> nn.Module:
    """timm's ``convnextv2_<arch>`` with random weights, a 1000-class head and no drop path."""
    import timm
    return timm.create_model(f'convnextv2_{arch}', pretrained=False, num_classes=NUM_CLASSES,
                             drop_path_rate=0.0)


def build_mmpretrain(arch: str, channels_last: bool) -> nn.Module:
    """mmpretrain's ConvNeXt configured as V2 (GRN, no layer scale) with a linear head."""
    from mmpretrain.models.backbones import ConvNeXt
    backbone = ConvNeXt(arch=arch, use_grn=True, layer_scale_init_value=0.0,
                        linear_pw_conv=True)
    return BackboneClassifier(backbone, backbone.channels[-1])


BUILDERS: Dict[str, Callable[[str, bool], nn.Module]] = dict(
    ours=build_ours, timm=build_timm, mmpretrain=build_mmpretrain)


def build_models(arch: str, channels_last: bool, seed: int) -> Dict[str, nn.Module]:
    """The three classifiers of one size, each built from the same seed.

    Args:
        arch: ConvNeXt V2 size.
        channels_last: Convert parameters to ``torch.channels_last`` (and build ours with it).
        seed: Random seed set before building each model.

    Returns:
        The models by name, in :data:`MODEL_NAMES` order.
    """
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    models = {}
    for name in MODEL_NAMES:
        torch.manual_seed(seed)
        models[name] = BUILDERS[name](arch, channels_last).to(memory_format=memory_format)
    return models


def make_input(batch_size: int, img_size: int, channels_last: bool, seed: int) -> torch.Tensor:
    """A random fp32 image batch in the requested memory format."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, img_size, img_size, generator=generator)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one eval forward as counted by :class:`FlopCounterMode`.

    Only convolutions and matrix products are counted, 2 FLOPs per multiply-add.

    Args:
        model: The model; it is put in eval mode.
        x: Its input.

    Returns:
        The total FLOP count for the whole batch.
    """
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of a model."""
    return sum(p.numel() for p in model.parameters())


def configure_inductor(freezing: bool) -> None:
    """Sets inductor's ``freezing`` option, which only affects graphs compiled without grad."""
    import torch._inductor.config as inductor_config
    inductor_config.freezing = freezing


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile`` (inductor) the model if ``enabled``, else return it unchanged."""
    return torch.compile(model, backend='inductor') if enabled else model


def make_infer_step(model: nn.Module, x: torch.Tensor) -> Step:
    """A step running one eval forward under :func:`torch.inference_mode`."""

    def step() -> None:
        model.eval()
        with torch.inference_mode():
            model(x)

    return step


def make_train_step(model: nn.Module, x: torch.Tensor,
                    optimizer: Optional[torch.optim.Optimizer]) -> Step:
    """A step running forward, a mean loss, backward, an optional optimizer step and zero_grad."""

    def step() -> None:
        model.train()
        loss = model(x).float().mean()
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        model.zero_grad(set_to_none=True)

    return step


def make_optimizer(model: nn.Module, kind: str) -> Optional[torch.optim.Optimizer]:
    """The optimizer added to the training step (``None`` for ``'none'``)."""
    if kind == 'none':
        return None
    return torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.05, foreach=True)


def make_matmul_step(size: int, seed: int) -> Step:
    """A step computing one fp32 ``size x size`` matrix product into a preallocated output."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    out = torch.empty(size, size)

    def step() -> None:
        torch.mm(a, b, out=out)

    return step


def cpu_snapshot() -> Optional[Tuple[int, int]]:
    """Busy CPU ticks of the whole machine and of this process, from ``/proc`` (Linux only).

    The machine's busy ticks are user, nice, system, irq, softirq and steal time of all CPUs (steal
    counts because the hypervisor then runs someone else on our cores).

    Returns:
        ``(machine_ticks, own_ticks)``, or ``None`` where ``/proc`` cannot be read.
    """
    try:
        with open('/proc/stat') as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
        with open('/proc/self/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, ValueError):
        return None
    machine = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
    own = int(fields[11]) + int(fields[12])  # utime and stime of all threads (fields 14 and 15)
    return machine, own


def foreign_load(before: Optional[Tuple[int, int]], after: Optional[Tuple[int, int]],
                 seconds: float) -> Optional[float]:
    """Fraction of the machine's CPU time used by other processes over an interval.

    Args:
        before: :func:`cpu_snapshot` at the start of the interval.
        after: :func:`cpu_snapshot` at its end.
        seconds: Length of the interval.

    Returns:
        0 for an otherwise idle machine, 0.5 when others kept half of the cores busy (the
        resolution is one clock tick, usually 10 ms); ``None`` without ``/proc``.
    """
    if before is None or after is None or seconds <= 0:
        return None
    foreign_ticks = (after[0] - before[0]) - (after[1] - before[1])
    capacity = seconds * os.sysconf('SC_CLK_TCK') * (os.cpu_count() or 1)
    return max(0.0, foreign_ticks / capacity)


def time_call(step: Step) -> Tuple[float, Optional[float]]:
    """Runs ``step`` once.

    Returns:
        The seconds it took and the :func:`foreign_load` meanwhile.
    """
    before = cpu_snapshot()
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    return seconds, foreign_load(before, cpu_snapshot(), seconds)


def make_steps(models: Dict[str, nn.Module], x: torch.Tensor,
               args: argparse.Namespace) -> Dict[Tuple[str, str], Step]:
    """One step per (mode, model) for the requested modes, plus the matmul under ``infer``.

    Args:
        models: Classifiers by name, already compiled if requested.
        x: Shared input batch.
        args: Benchmark arguments (``modes``, ``optimizer``, ``matmul_size``, ``seed``).

    Returns:
        Steps keyed by ``(mode, name)``; the matmul is ``('infer', 'matmul')`` (or
        ``('train', 'matmul')`` when only training is timed).
    """
    steps: Dict[Tuple[str, str], Step] = {}
    for mode in args.modes:
        for name, model in models.items():
            if mode == 'infer':
                steps[mode, name] = make_infer_step(model, x)
            else:
                optimizer = make_optimizer(model, args.optimizer)
                steps[mode, name] = make_train_step(model, x, optimizer)
    steps[args.modes[0], MATMUL] = make_matmul_step(args.matmul_size, args.seed)
    return steps


def first_calls(steps: Dict[Tuple[str, str], Step]) -> Dict[str, float]:
    """Runs every step once and returns its time (the compile time when compiling)."""
    times = {}
    for (mode, name), step in steps.items():
        key = f'{mode}/{name}'
        log(f'  first call {key} ...')
        times[key], _ = time_call(step)
        log(f'  first call {key}: {times[key]:.2f} s')
    return times


def warm_up(steps: Dict[Tuple[str, str], Step], iterations: int) -> None:
    """Runs every step ``iterations`` times, untimed."""
    for i in range(iterations):
        for step in steps.values():
            step()
        log(f'  warm-up {i + 1}/{iterations}')


def rotated(keys: List[Tuple[str, str]], shift: int) -> List[Tuple[str, str]]:
    """``keys`` rotated left by ``shift`` (modulo their number)."""
    shift %= len(keys)
    return keys[shift:] + keys[:shift]


def is_clean(foreign: Optional[float], max_foreign: float) -> bool:
    """Whether a sample was taken with other processes below ``max_foreign`` of the machine.

    Every sample is clean where the load is unknown or ``max_foreign`` is 1 or more.
    """
    return foreign is None or max_foreign >= 1 or foreign <= max_foreign


def run_round(steps: Dict[Tuple[str, str], Step], samples: Dict[str, Dict[str, list]],
              wanted: Callable[[str], bool], shift: int) -> None:
    """Times each wanted step once, mode by mode, in an order rotated by ``shift``.

    Modes stay grouped (all infer steps, then all train steps) so that the switch between eval and
    train does not happen between every two calls.
    """
    modes = list(dict.fromkeys(mode for mode, _ in steps))
    for mode in modes:
        for key in rotated([k for k in steps if k[0] == mode], shift):
            name = f'{key[0]}/{key[1]}'
            if wanted(name):
                seconds, foreign = time_call(steps[key])
                samples[name]['s'].append(seconds)
                samples[name]['foreign'].append(foreign)


def run_repeats(steps: Dict[Tuple[str, str], Step], repeats: int, max_foreign: float,
                max_rounds: int) -> Dict[str, Dict[str, list]]:
    """Times every step round-robin until it has ``repeats`` clean samples.

    A sample is clean when other processes used at most ``max_foreign`` of the machine's CPU time
    while it ran (:func:`foreign_load`). Rounds go on, each timing only the steps that still lack
    clean samples, until all have ``repeats`` of them or ``max_rounds`` rounds were run. The order
    of the models (and the matmul) rotates by one each round.

    Args:
        steps: Steps keyed by ``(mode, name)``.
        repeats: Clean samples wanted per step.
        max_foreign: Largest foreign load of a clean sample.
        max_rounds: Upper bound on the number of rounds (at least ``repeats`` are run).

    Returns:
        For each ``'mode/name'``, the seconds (``'s'``) and foreign loads (``'foreign'``) of all
        samples, clean or not.
    """
    samples = {f'{mode}/{name}': dict(s=[], foreign=[]) for mode, name in steps}

    def clean_count(name: str) -> int:
        return sum(is_clean(f, max_foreign) for f in samples[name]['foreign'])

    start = time.perf_counter()
    for r in range(max(repeats, max_rounds)):
        run_round(steps, samples, lambda name: clean_count(name) < repeats, r)
        done = min(clean_count(name) for name in samples)
        if (r + 1) % max(1, repeats // 10) == 0 or done >= repeats:
            log(f'  round {r + 1}: {done}/{repeats} clean samples for every step '
                f'({time.perf_counter() - start:.0f} s)')
        if done >= repeats:
            break
    return samples


def summarize(seconds: Sequence[float], foreign: Sequence[Optional[float]],
              max_foreign: float) -> Dict[str, float]:
    """Statistics in milliseconds of the clean samples (of all samples if none is clean).

    Args:
        seconds: Durations of all samples.
        foreign: Their foreign loads (:func:`foreign_load`).
        max_foreign: Largest foreign load of a clean sample.

    Returns:
        Median, quartiles, IQR, minimum and maximum in ms, the number of samples used (``n``), of
        all samples (``n_all``) and whether only clean ones were used (``clean``).
    """
    clean = [s for s, f in zip(seconds, foreign) if is_clean(f, max_foreign)]
    ms = sorted(1e3 * s for s in (clean or seconds))
    if len(ms) >= 2:
        q1, _, q3 = statistics.quantiles(ms, n=4, method='inclusive')
    else:
        q1 = q3 = ms[0]
    return dict(median_ms=statistics.median(ms), q1_ms=q1, q3_ms=q3, iqr_ms=q3 - q1,
                min_ms=ms[0], max_ms=ms[-1], n=len(ms), n_all=len(seconds), clean=bool(clean))


def matmul_gflops(size: int, seconds: float) -> float:
    """GFLOP/s of a ``size``-square matmul (``2 size^3`` FLOPs) taking ``seconds``."""
    return 2 * size ** 3 / seconds / 1e9


def benchmark_arch(arch: str, args: argparse.Namespace) -> Dict[str, object]:
    """Builds, (compiles,) warms up and times the three models of one size.

    Args:
        arch: ConvNeXt V2 size.
        args: Benchmark arguments.

    Returns:
        A JSON-able record with parameter and FLOP counts, first-call times, raw timings and their
        summaries.
    """
    log(f'{arch}: building models')
    models = build_models(arch, args.channels_last, args.seed)
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
    raw = run_repeats(steps, args.repeats, args.max_foreign, args.max_rounds)
    summary = {key: summarize(r['s'], r['foreign'], args.max_foreign) for key, r in raw.items()}
    return dict(arch=arch, params=params, flops=flops, first_call_s=first, load_before=load_before,
                load_after=load_average(), raw=raw, summary=summary)


def roof_gflops(record: Dict[str, object], matmul_size: int) -> float:
    """Median matmul throughput (GFLOP/s) measured alongside one size."""
    key = next(k for k in record['summary'] if k.endswith('/' + MATMUL))
    return matmul_gflops(matmul_size, record['summary'][key]['median_ms'] / 1e3)


def add_derived(record: Dict[str, object], args: argparse.Namespace) -> None:
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
            record['ratio_vs_ours'][f'{mode}/{name}'] = summary[f'{mode}/{name}']['median_ms'] / ours
    if 'infer' in args.modes:
        for name in MODEL_NAMES:
            gflops = record['flops'][name] / (summary[f'infer/{name}']['median_ms'] / 1e3) / 1e9
            record['infer_gflops'][name] = gflops
            record['infer_roof_fraction'][name] = gflops / roof


def clean_fraction(record: Dict[str, object], mode: str) -> str:
    """``'clean/all'`` samples of the model of one mode with the fewest clean samples."""
    stats = [record['summary'][f'{mode}/{name}'] for name in MODEL_NAMES]
    worst = min(stats, key=lambda s: (s['clean'], s['n']))
    return f'{worst["n"] if worst["clean"] else 0}/{worst["n_all"]}' + ('' if worst['clean'] else '*')


def compile_label(args: argparse.Namespace) -> str:
    """How the models were run: eager, or compiled with or without freezing."""
    if not args.compile:
        return 'eager'
    return 'compiled (inductor' + (', freezing)' if args.freezing else ')')


def format_table(records: List[Dict[str, object]], args: argparse.Namespace) -> str:
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
                roof = ' / '.join(f'{100 * rec["infer_roof_fraction"][n]:5.1f}' for n in MODEL_NAMES)
            lines.append(f'{rec["arch"]:<6} {mode:<5} | {cells[0]:>15} {cells[1]:>15} '
                         f'{cells[2]:>15} | {ratios[f"{mode}/timm"]:9.3f} '
                         f'{ratios[f"{mode}/mmpretrain"]:10.3f} | {roof:>31} | '
                         f'{clean_fraction(rec, mode):>7}')
    lines.append('-' * len(header))
    for rec in records:
        gflops = ', '.join(f'{n} {rec["flops"][n] / 1e9 / args.batch_size:.3f}' for n in MODEL_NAMES)
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


def write_json(path: str, payload: Dict[str, object]) -> None:
    """Writes the results, creating the parent directory if needed."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(payload, f, indent=1)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
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
