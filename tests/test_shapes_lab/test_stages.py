"""The stage runner: consoles to logs (file descriptors included), errors recorded while the other
stages run, timing, results on disk, and the same in worker processes."""
import functools
import json
import os
import re
import sys
import time

import pytest
import torch

from shapes_lab.stages import Stage, failures, run_stages, stage_dir


def talk_and_sleep(seconds: float) -> dict:
    print('through sys.stdout')
    print('through sys.stderr', file=sys.stderr)
    os.write(1, b'through file descriptor 1\n')  # as C extensions write
    time.sleep(seconds)
    return dict(slept=seconds, summary=f'slept {seconds} s')


def fail() -> dict:
    raise RuntimeError('the stage broke')


def where() -> dict:
    return dict(pid=os.getpid(), threads=torch.get_num_threads())


def test_stages_run_in_order_with_their_consoles_in_logs(tmp_path, capfd):
    results = run_stages([Stage('talk', functools.partial(talk_and_sleep, 0.3)),
                          Stage('broken', fail), Stage('after', where)], str(tmp_path))
    assert list(results) == ['talk', 'broken', 'after']
    talk, broken, after = results.values()

    assert talk.ok and talk.values == dict(slept=0.3, summary='slept 0.3 s')
    assert 0.3 <= talk.seconds < 30
    log = (tmp_path / 'talk' / 'console.log').read_text()
    for line in ('through sys.stdout', 'through sys.stderr', 'through file descriptor 1'):
        assert line in log
    # The error is recorded, its traceback is in its log, and the next stage still ran.
    assert not broken.ok and broken.values is None
    assert broken.error == 'RuntimeError: the stage broke'
    assert 'Traceback' in (tmp_path / 'broken' / 'console.log').read_text()
    assert after.ok and after.values['pid'] == os.getpid()
    assert failures(results) == (f'broken: RuntimeError: the stage broke '
                                 f'(log: {stage_dir(str(tmp_path), "broken")}/console.log)')

    # Each result is on disk as the runner returned it.
    for name, result in results.items():
        on_disk = json.loads((tmp_path / name / 'stage.json').read_text())
        assert on_disk == dict(name=name, values=result.values, error=result.error,
                               seconds=result.seconds, log=result.log)
    # The terminal got one line as each stage started and one as it ended, nothing else.
    terminal = capfd.readouterr().out
    assert re.findall(r'\] (\w+): started', terminal) == ['talk', 'broken', 'after']
    assert re.search(r'\] talk: slept 0.3 s \(\d+ s\)\n', terminal)
    assert re.search(r'\] broken: FAILED \(RuntimeError: the stage broke\); see ', terminal)
    assert re.search(r'\] after: done \(\d+ s\)\n', terminal)
    assert 'through' not in terminal


def test_stages_run_in_worker_processes_with_a_share_of_the_cores(tmp_path):
    results = run_stages([Stage('first', where), Stage('second', fail)], str(tmp_path),
                         processes=2)
    assert results['first'].values['pid'] != os.getpid()
    assert results['first'].values['threads'] == max(1, len(os.sched_getaffinity(0)) // 2)
    assert results['second'].error == 'RuntimeError: the stage broke'


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match='names must differ'):
        run_stages([Stage('a', where), Stage('a', where)], str(tmp_path))
    with pytest.raises(ValueError, match='processes must be at least 1'):
        run_stages([Stage('a', where)], str(tmp_path), processes=0)
