"""The timing harness of the benchmark tools: timed calls, interleaved rounds, one summary.

Steps (callables running one iteration) are timed round-robin with their order rotated from round
to round, so that drift of the machine hits all alike. On a shared machine the CPU time other
processes use during each call is read from ``/proc`` (the "foreign load", a fraction of all
cores); a sample is clean when that stays at most a bound, and :func:`summarize` keeps the clean
samples. Quartiles are computed one way for every tool, :func:`quartiles`.
"""
import os
import statistics
import time
from collections.abc import Callable, Sequence

import torch

# A step of a benchmark: runs one iteration of a model (or of a reference kernel).
Step = Callable[[], None]
# Samples of one step: seconds ('s') and foreign loads ('foreign'), clean or not.
Samples = dict[str, list]


def cpu_snapshot() -> tuple[int, int] | None:
    """Busy CPU ticks of the whole machine and of this process, from ``/proc`` (Linux only).

    The machine's busy ticks are user, nice, system, irq, softirq and steal time of all CPUs (steal
    counts because the hypervisor then runs someone else on our cores).

    Returns:
        ``(machine_ticks, own_ticks)``, or None where ``/proc`` cannot be read.
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


def foreign_load(before: tuple[int, int] | None, after: tuple[int, int] | None,
                 seconds: float) -> float | None:
    """Fraction of the machine's CPU time used by other processes over an interval.

    Args:
        before: :func:`cpu_snapshot` at the start of the interval.
        after: :func:`cpu_snapshot` at its end.
        seconds: Length of the interval.

    Returns:
        0 for an otherwise idle machine, 0.5 when others kept half of the cores busy (the
        resolution is one clock tick, usually 10 ms); None without ``/proc``.
    """
    if before is None or after is None or seconds <= 0:
        return None
    foreign_ticks = (after[0] - before[0]) - (after[1] - before[1])
    capacity = seconds * os.sysconf('SC_CLK_TCK') * (os.cpu_count() or 1)
    return max(0.0, foreign_ticks / capacity)


def time_call(step: Step, device: torch.device | None = None) -> tuple[float, float | None]:
    """Runs ``step`` once; on a CUDA ``device`` with the queued kernels finished on both sides.

    Returns:
        The seconds it took and the :func:`foreign_load` meanwhile.
    """
    synchronize = device is not None and device.type == 'cuda'
    if synchronize:
        torch.cuda.synchronize(device)
    before = cpu_snapshot()
    start = time.perf_counter()
    step()
    if synchronize:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return seconds, foreign_load(before, cpu_snapshot(), seconds)


def is_clean(foreign: float | None, max_foreign: float) -> bool:
    """Whether a sample was taken with other processes below ``max_foreign`` of the machine.

    Every sample is clean where the load is unknown or ``max_foreign`` is 1 or more.
    """
    return foreign is None or max_foreign >= 1 or foreign <= max_foreign


def rotated(keys: list, shift: int) -> list:
    """``keys`` rotated left by ``shift`` (modulo their number)."""
    shift %= len(keys)
    return keys[shift:] + keys[:shift]


def run_round(steps: dict[tuple[str, str], Step], samples: dict[str, Samples],
              wanted: Callable[[str], bool], shift: int) -> None:
    """Times each wanted step once, mode by mode, in an order rotated by ``shift``.

    Modes stay grouped (all infer steps, then all train steps) so that the switch between eval and
    train does not happen between every two calls.

    Args:
        steps: Steps keyed by ``(mode, name)``.
        samples: Filled in place under ``'mode/name'``.
        wanted: Whether the step ``'mode/name'`` still needs samples.
        shift: Rotation of the order within each mode.
    """
    modes = list(dict.fromkeys(mode for mode, _ in steps))
    for mode in modes:
        for key in rotated([k for k in steps if k[0] == mode], shift):
            name = f'{key[0]}/{key[1]}'
            if wanted(name):
                seconds, foreign = time_call(steps[key])
                samples[name]['s'].append(seconds)
                samples[name]['foreign'].append(foreign)


def run_repeats(steps: dict[tuple[str, str], Step], repeats: int, max_foreign: float,
                max_rounds: int,
                progress: Callable[[str], None] | None = None) -> dict[str, Samples]:
    """Times every step round-robin until it has ``repeats`` clean samples.

    Rounds go on, each timing only the steps that still lack clean samples, until all have
    ``repeats`` of them or ``max_rounds`` rounds were run. The order rotates by one each round.

    Args:
        steps: Steps keyed by ``(mode, name)``.
        repeats: Clean samples wanted per step.
        max_foreign: Largest foreign load of a clean sample (:func:`is_clean`).
        max_rounds: Upper bound on the number of rounds (at least ``repeats`` are run).
        progress: Called with a line on the progress about ten times, and at the end.

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
        if progress and ((r + 1) % max(1, repeats // 10) == 0 or done >= repeats):
            progress(f'round {r + 1}: {done}/{repeats} clean samples for every step '
                     f'({time.perf_counter() - start:.0f} s)')
        if done >= repeats:
            break
    return samples


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """First quartile, median and third quartile of at least one value.

    Linear interpolation between the sorted values (``statistics`` method ``'inclusive'``,
    numpy's default): the quartiles stay within the data, also for the few repeats of a slow
    benchmark, where the ``'exclusive'`` method would extrapolate beyond them.
    """
    if not values:
        raise ValueError('quartiles of no values: time at least one repeat.')
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method='inclusive')
    return q1, median, q3


def summarize(seconds: Sequence[float], foreign: Sequence[float | None] | None = None,
              max_foreign: float = 1.0) -> dict[str, float]:
    """Statistics in milliseconds of the clean samples (of all samples if none is clean).

    Args:
        seconds: Durations of all samples.
        foreign: Their foreign loads (:func:`foreign_load`); None counts every sample clean.
        max_foreign: Largest foreign load of a clean sample.

    Returns:
        Median, quartiles, IQR, minimum and maximum in ms, the number of samples used (``n``), of
        all samples (``n_all``) and whether only clean ones were used (``clean``).
    """
    foreign = [None] * len(seconds) if foreign is None else foreign
    clean = [s for s, f in zip(seconds, foreign) if is_clean(f, max_foreign)]
    ms = sorted(1e3 * s for s in (clean or seconds))
    q1, median, q3 = quartiles(ms)
    return dict(median_ms=median, q1_ms=q1, q3_ms=q3, iqr_ms=q3 - q1, min_ms=ms[0],
                max_ms=ms[-1], n=len(ms), n_all=len(seconds), clean=bool(clean))
