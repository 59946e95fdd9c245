"""OptimStepEMAHook: with gradient accumulation the EMA follows the optimizer steps, as the official
``engine_finetune.py`` (``model_ema.update(model)`` right after ``optimizer.step()``)."""
import copy

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner
from mmpretrain.engine.hooks import EMAHook
from torch import nn
from torch.utils.data import Dataset

from mmconvnextv2.engine import OptimStepEMAHook

NUM_SAMPLES, BATCH, COUNTS, EPOCHS = 8, 2, 2, 2
LR, MOMENTUM = 0.1, 0.3


class ToyData(Dataset):
    """Fixed inputs and targets, served in order (no shuffling)."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(NUM_SAMPLES, 3, generator=generator)
        self.targets = torch.randn(NUM_SAMPLES, generator=generator)

    def __len__(self) -> int:
        return NUM_SAMPLES

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.inputs[index], targets=self.targets[index])


class ToyRegressor(BaseModel):
    """A linear layer fitted with the mean squared error."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, mode: str = 'tensor'):
        prediction = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((prediction - targets)**2).mean())
        return prediction


def train(model: ToyRegressor, hook: EMAHook, work_dir: str) -> Runner:
    runner = Runner(
        model=model, work_dir=work_dir,
        train_dataloader=dict(dataset=ToyData(), batch_size=BATCH, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=LR), accumulative_counts=COUNTS),
        custom_hooks=[hook], default_hooks=dict(checkpoint=None), default_scope='mmengine')
    runner.train()
    return runner


Weights = dict[str, torch.Tensor]


def hand_computed(start: nn.Linear) -> tuple[Weights, Weights]:
    """Plain-torch SGD with accumulation, and the EMA of its weights (timm's ModelEma: starts
    from the initial weights, ``ema = (1 - m) * ema + m * w``) after every optimizer step.

    Returns:
        The final weights and their EMA.
    """
    data, layer = ToyData(), copy.deepcopy(start)
    ema = {name: p.detach().clone() for name, p in layer.named_parameters()}
    iterations = NUM_SAMPLES // BATCH
    for step in range(EPOCHS * iterations):
        batch = slice(step % iterations * BATCH, (step % iterations + 1) * BATCH)
        loss = ((layer(data.inputs[batch]).squeeze(-1) - data.targets[batch])**2).mean()
        (loss / COUNTS).backward()
        if (step + 1) % COUNTS == 0:
            with torch.no_grad():
                for p in layer.parameters():
                    p -= LR * p.grad
                    p.grad = None
            for name, p in layer.named_parameters():
                ema[name] = (1 - MOMENTUM) * ema[name] + MOMENTUM * p.detach()
    return {name: p.detach() for name, p in layer.named_parameters()}, ema


def ema_weights(hook: EMAHook) -> Weights:
    return {name.removeprefix('linear.'): p.detach()
            for name, p in hook.ema_model.module.linear.named_parameters()}


# The runner and the hand computation do the same float32 operations, grouped differently:
# 8 iterations of a few products and sums of O(1) values, each within 2^-24 relative.
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def test_ema_follows_optimizer_steps(tmp_path):
    torch.manual_seed(0)
    model = ToyRegressor()
    start = copy.deepcopy(model.linear)
    hook = OptimStepEMAHook(momentum=MOMENTUM)
    train(model, hook, str(tmp_path))
    weights, expected = hand_computed(start)
    # The hand-computed SGD is the run's (4 steps of 2 accumulated iterations) ...
    for name, value in model.linear.named_parameters():
        torch.testing.assert_close(value.detach(), weights[name], **TOLERANCE, msg=name)
    # ... and the hook's average is that of its weights after each step.
    assert ema_weights(hook).keys() == expected.keys() == {'weight', 'bias'}
    for name, value in ema_weights(hook).items():
        torch.testing.assert_close(value, expected[name], **TOLERANCE, msg=name)


def test_per_iteration_ema_differs(tmp_path):
    """mmpretrain's EMAHook averages every iteration, twice per weight change here: far from the
    official EMA, so the test above can tell the two apart."""
    torch.manual_seed(0)
    model = ToyRegressor()
    start = copy.deepcopy(model.linear)
    hook = EMAHook(momentum=MOMENTUM)
    train(model, hook, str(tmp_path))
    _, official = hand_computed(start)
    gap = max((value - official[name]).abs().max().item()
              for name, value in ema_weights(hook).items())
    assert gap > 1e-3


def test_refuses_several_optimizers():
    runner = type('FakeRunner', (), {})()
    layer = nn.Linear(1, 1)
    runner.optim_wrapper = OptimWrapperDict(
        a=OptimWrapper(torch.optim.SGD(layer.parameters(), lr=0.1)))
    with pytest.raises(TypeError, match='OptimWrapperDict'):
        OptimStepEMAHook().before_train(runner)
