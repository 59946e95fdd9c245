"""LinearWarmupLR: a linear warm-up from lr 0 (the official recipes'), then exactly cosine."""
import math

import pytest
import torch
from mmengine.optim import CosineAnnealingLR
from torch import nn

from mmconvnextv2.engine import LinearWarmupLR

WARMUP, TOTAL = 5, 12
BASE_LRS = (0.4, 0.1)  # two groups, e.g. two layers of a layer-wise lr decay


def schedule(start_factor: float) -> list[list[float]]:
    """Each iteration's lr per group, warm-up then cosine to 0, stepped as mmengine's hook does."""
    layers = [nn.Linear(1, 1) for _ in BASE_LRS]
    optimizer = torch.optim.SGD([dict(params=layer.parameters(), lr=lr)
                                 for layer, lr in zip(layers, BASE_LRS)], lr=1.0)
    schedulers = [
        LinearWarmupLR(optimizer, start_factor=start_factor, begin=0, end=WARMUP,
                       by_epoch=False),
        CosineAnnealingLR(optimizer, eta_min=0.0, begin=WARMUP, end=TOTAL, by_epoch=False),
    ]
    lrs = []
    for _ in range(TOTAL):
        lrs.append([group['lr'] for group in optimizer.param_groups])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


def test_warmup_from_zero_then_cosine():
    lrs = schedule(start_factor=0.0)
    for i, values in enumerate(lrs):
        for lr, base in zip(values, BASE_LRS):
            if i < WARMUP:  # 0 at the first iteration, the full lr at the warm-up's last
                expected = base * i / (WARMUP - 1)
            else:  # the cosine starts from the full lr, not from a warm-up leftover
                expected = base * (1 + math.cos(math.pi * (i - WARMUP) / (TOTAL - WARMUP))) / 2
            assert lr == pytest.approx(expected, rel=1e-12, abs=1e-15), (i, base)


def test_other_start_factor():
    lrs = schedule(start_factor=0.25)
    assert [values[0] for values in lrs[:WARMUP]] == pytest.approx(
        [BASE_LRS[0] * (0.25 + 0.75 * i / (WARMUP - 1)) for i in range(WARMUP)], rel=1e-12)


def test_bad_start_factor():
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match='between 0 and 1'):
        LinearWarmupLR(optimizer, start_factor=-0.1, end=WARMUP, by_epoch=False)
