"""The stage runner of the shapes tools (the demo, the GPU check, the mixed-precision check).

A :class:`Stage` is a name and a function that returns a JSON-serialisable dict. The runner runs
stages one after another in this process, or side by side in processes; each stage's console
(stdout and stderr, file descriptors included) goes to ``<work_dir>/<stage>/console.log``, its
result to ``<work_dir>/<stage>/stage.json``, and the terminal gets one line as it starts and one
as it ends. A stage that raises is recorded with its error (the traceback in its log) and the
others still run.
"""
import contextlib
import json
import multiprocessing
import os
import os.path as osp
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import torch

from mmconvnextv2.utils import atomic_write_text


@dataclass(frozen=True)
class Stage:
    """A named step of a tool.

    Attributes:
        name: Its name: on the terminal and as its folder under the work directory.
        function: Runs it; returns JSON-serialisable values, ``'summary'`` (if there) its line on
            the terminal. In processes it must pickle: a module-level function, or a
            ``functools.partial`` of one.
    """
    name: str
    function: Callable[[], dict]


@dataclass(frozen=True)
class StageResult:
    """What one stage gave.

    Attributes:
        name: The stage's name.
        values: What its function returned; None when it raised.
        error: ``'<exception type>: <message>'`` when it raised, else None.
        seconds: Its wall time.
        log: Its console log.
    """
    name: str
    values: dict | None
    error: str | None
    seconds: float
    log: str

    @property
    def ok(self) -> bool:
        """Whether it ran to the end."""
        return self.error is None


def stage_dir(work_dir: str, name: str) -> str:
    """The folder of stage ``name``: its console log, its result and whatever it writes."""
    return osp.join(work_dir, name)


def log_line(start: float, text: str) -> None:
    """One line on the terminal, with the seconds since ``start``.

    Written in one call, so that the lines of stages running side by side do not mix.
    """
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), f'[{time.time() - start:5.0f} s] {text}\n'.encode())


@contextlib.contextmanager
def console_to(path: str) -> Iterator[None]:
    """Sends this process's stdout and stderr to ``path`` meanwhile.

    The file descriptors themselves are redirected, so that mmengine's loggers and progress bars
    (which hold the streams they started with) and C extensions follow; so are ``sys.stdout``
    and ``sys.stderr``, for when they are not the descriptors' (pytest's capture).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, 'a', buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)


def run_stage(stage: Stage, work_dir: str, start: float) -> StageResult:
    """Runs one stage with its console in its log; records its result in its folder."""
    folder = stage_dir(work_dir, stage.name)
    os.makedirs(folder, exist_ok=True)
    log = osp.join(folder, 'console.log')
    log_line(start, f'{stage.name}: started')
    began = time.time()
    values, error = None, None
    with console_to(log):
        try:
            values = stage.function()
        except Exception as exception:  # recorded; the other stages still run
            traceback.print_exc()
            error = f'{type(exception).__name__}: {exception}'
    result = StageResult(stage.name, values, error, time.time() - began, log)
    atomic_write_text(osp.join(folder, 'stage.json'), json.dumps(asdict(result), indent=1))
    if error is None:
        log_line(start, f'{stage.name}: {values.get("summary", "done")} ({result.seconds:.0f} s)')
    else:
        log_line(start, f'{stage.name}: FAILED ({error}); see {log}')
    return result


def _worker_setup(threads: int) -> None:
    """A worker's share of the cores (OpenMP threads competing for cores slow down manifold)."""
    torch.set_num_threads(threads)


def run_stages(stages: Sequence[Stage], work_dir: str, processes: int = 1,
               start: float | None = None) -> dict[str, StageResult]:
    """Runs ``stages``, in their order, in this process or in up to ``processes`` processes.

    Args:
        stages: The stages; their names must differ. In processes they start in their order
            (put the longest first) and must not depend on each other; in this process each
            may use what the ones before it wrote.
        work_dir: Where their folders go.
        processes: 1 runs them here, one after another; more run them side by side in fresh
            processes that share the CPU's cores.
        start: The time the terminal lines count from; now when None.

    Returns:
        Each stage's result by name, in the order of ``stages``.

    Raises:
        ValueError: If names repeat or ``processes < 1``.
    """
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        raise ValueError(f'Stage names must differ, got {names}.')
    if processes < 1:
        raise ValueError(f'processes must be at least 1, got {processes}.')
    start = time.time() if start is None else start
    if processes == 1:
        return {stage.name: run_stage(stage, work_dir, start) for stage in stages}
    threads = max(1, len(os.sched_getaffinity(0)) // processes)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context('spawn'),
                             initializer=_worker_setup, initargs=(threads, )) as pool:
        futures = {stage.name: pool.submit(run_stage, stage, work_dir, start)
                   for stage in stages}
        return {name: future.result() for name, future in futures.items()}


def failures(results: dict[str, StageResult]) -> str:
    """One line per stage that raised: its error and its log; empty when none did."""
    return '\n'.join(f'{name}: {result.error} (log: {result.log})'
                     for name, result in results.items() if not result.ok)
