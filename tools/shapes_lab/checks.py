"""The GPU check's rows: what each says, how a row's numbers decide its status, the table.

A row is ``ok`` when its numbers are finite and within their limits, ``fail`` otherwise, and
``error`` (with the exception) when its stage raised; one stage's error does not stop the
others. A row that this installation cannot run on the device is ``unavailable``, with the
reason and the fix (mmcv without CUDA kernels, spconv missing or its CPU-only wheel on CUDA, row
kernels that do not compile): a failure, since the check has then not checked what it names.
``skip`` is kept for rows that do not apply by design (float16 autocast on the CPU, which trains
in bfloat16; bfloat16 on a GPU without it). The check passes when every row is ``ok`` or
``skip``.
"""
import math
from dataclasses import dataclass, field

OK, FAIL, SKIP, UNAVAILABLE, ERROR = 'ok', 'fail', 'skip', 'unavailable', 'error'
# The statuses of a passing check.
PASSING = (OK, SKIP)


@dataclass
class CheckRow:
    """One line of the check's table.

    Attributes:
        stage: One of :data:`~shapes_lab.gpu_stages.STAGES`.
        case: What of the stage, e.g. ``'eager bf16'`` or ``'gather rows'``.
        status: ``'ok'``, ``'fail'``, ``'skip'``, ``'unavailable'`` or ``'error'`` (module
            docstring).
        metrics: The measured numbers.
        limits: Upper limits of some metrics; a metric above its limit fails the row.
        note: Why a row was skipped, is unavailable or raised, or what its numbers mean.
    """
    stage: str
    case: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    note: str = ''


def judged(stage: str, case: str, metrics: dict[str, float], limits: dict[str, float],
           note: str = '', bounds: dict[str, tuple[float, float]] | None = None) -> CheckRow:
    """A row whose status follows from its numbers.

    Args:
        stage: The stage.
        case: The case.
        metrics: The numbers; every one must be finite.
        limits: Upper limits of some of them.
        note: Remarks for the table.
        bounds: Closed ranges some metrics must lie in (e.g. an AP in [-1, 1]).

    Returns:
        An ``'ok'`` row, or a ``'fail'`` row whose note names the offending metrics.
    """
    bad = [name for name, value in metrics.items() if not math.isfinite(value)]
    bad += [name for name, limit in limits.items() if metrics[name] > limit]
    bad += [name for name, (low, high) in (bounds or {}).items()
            if not low <= metrics[name] <= high]
    if bad:
        note = f'out of range: {", ".join(sorted(set(bad)))}' + (f'; {note}' if note else '')
    return CheckRow(stage, case, FAIL if bad else OK, metrics, limits, note)


def unavailable_rows(stage: str, reasons: dict[str, str]) -> list[CheckRow]:
    """An ``'unavailable'`` row per case of ``reasons`` (case name to reason)."""
    return [CheckRow(stage, case, UNAVAILABLE, note=reason) for case, reason in reasons.items()]


def check_passed(rows: list[CheckRow]) -> bool:
    """Whether every row is ``ok`` or ``skip``: a ``fail``, ``unavailable`` or ``error`` row
    fails the check."""
    return all(row.status in PASSING for row in rows)


def format_row(row: CheckRow) -> str:
    """One table line: stage, case, status, the numbers (``<= limit`` where there is one), note."""
    numbers = ', '.join(f'{name} {_number(value)}'
                        + (f' (<= {_number(row.limits[name])})' if name in row.limits else '')
                        for name, value in row.metrics.items())
    text = f'{row.stage:<19}{row.case:<32}{row.status:<7}{numbers}'
    return text + (f' | {row.note}' if row.note else '')


def format_table(rows: list[CheckRow]) -> str:
    """The rows under a header."""
    header = f'{"stage":<19}{"case":<32}{"status":<7}numbers | note'
    return '\n'.join([header, '-' * len(header), *map(format_row, rows)])


def _number(value: float) -> str:
    """A compact rendering: 3 significant digits, integers as integers."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f'{value:.3g}'
