"""The benchmarks' timing harness: quartiles against numpy, clean-sample selection, rotation."""
import os

import numpy as np
import pytest

from benchmarks.timing import foreign_load, quartiles, rotated, run_repeats, summarize


@pytest.mark.parametrize('size', [2, 3, 4, 5, 7, 10])
def test_quartiles_are_numpys_linear_percentiles(size):
    values = sorted(np.random.default_rng(size).exponential(size=size).tolist())
    expected = np.percentile(values, [25, 50, 75], method='linear')
    np.testing.assert_allclose(quartiles(values), expected, rtol=1e-12)


def test_summary_uses_the_clean_samples_in_milliseconds():
    seconds = [0.004, 0.001, 0.003, 0.002, 0.5]
    summary = summarize(seconds, [0.0, 0.1, None, 0.2, 0.9], max_foreign=0.25)
    q1, median, q3 = np.percentile([1.0, 2.0, 3.0, 4.0], [25, 50, 75])
    assert summary == pytest.approx(dict(median_ms=median, q1_ms=q1, q3_ms=q3, iqr_ms=q3 - q1,
                                         min_ms=1.0, max_ms=4.0, n=4, n_all=5, clean=True))


def test_summary_falls_back_to_all_samples_when_none_is_clean():
    summary = summarize([0.002, 0.001], [0.5, 0.6], max_foreign=0.25)
    assert (summary['n'], summary['n_all'], summary['clean']) == (2, 2, False)
    assert summary['median_ms'] == pytest.approx(1.5)


def test_one_sample_has_no_spread_and_none_is_an_error():
    summary = summarize([0.002])
    assert summary['q1_ms'] == summary['q3_ms'] == summary['median_ms'] == pytest.approx(2.0)
    with pytest.raises(ValueError, match='no values'):
        summarize([])


def test_foreign_load_is_the_other_processes_share_of_all_cores():
    capacity = 2.0 * os.sysconf('SC_CLK_TCK') * (os.cpu_count() or 1)
    # 30 busy ticks of the machine in 2 s, 10 of them ours.
    assert foreign_load((1000, 100), (1030, 110), 2.0) == pytest.approx(20 / capacity)
    assert foreign_load(None, (1030, 110), 2.0) is None


def test_rounds_rotate_the_order_and_stop_at_the_wanted_repeats():
    calls = []
    steps = {('infer', name): (lambda name=name: calls.append(name)) for name in 'abc'}
    samples = run_repeats(steps, repeats=3, max_foreign=1.0, max_rounds=9)
    assert calls == list('abc' 'bca' 'cab')
    assert rotated(list('abc'), 4) == list('bca')
    assert {name: len(s['s']) for name, s in samples.items()} == {
        'infer/a': 3, 'infer/b': 3, 'infer/c': 3}
