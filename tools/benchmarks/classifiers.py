"""Our ConvNeXt V2 classifier beside timm's and mmpretrain's, and the steps that time them.

Used by ``tools/analysis/benchmark_backbone.py``; the timing itself is :mod:`.timing`.
"""
import torch
from mmpretrain.models.backbones import ConvNeXt
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mmconvnextv2.models import ConvNeXtV2

from .timing import Step

MODEL_NAMES = ('ours', 'timm', 'mmpretrain')
NUM_CLASSES = 1000


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


def build_ours(arch: str, channels_last: bool) -> nn.Module:
    """Our ConvNeXtV2 backbone with a linear 1000-class head."""
    backbone = ConvNeXtV2(arch=arch, channels_last=channels_last)
    return BackboneClassifier(backbone, backbone.channels[-1])


def build_timm(arch: str, channels_last: bool) -> nn.Module:
    """timm's ``convnextv2_<arch>`` with random weights, a 1000-class head and no drop path."""
    # timm is a reference for tests and benchmarks only, not a dependency of the package.
    import timm
    return timm.create_model(f'convnextv2_{arch}', pretrained=False, num_classes=NUM_CLASSES,
                             drop_path_rate=0.0)


def build_mmpretrain(arch: str, channels_last: bool) -> nn.Module:
    """mmpretrain's ConvNeXt configured as V2 (GRN, no layer scale) with a linear head."""
    backbone = ConvNeXt(arch=arch, use_grn=True, layer_scale_init_value=0.0, linear_pw_conv=True)
    return BackboneClassifier(backbone, backbone.channels[-1])


_BUILDERS = dict(ours=build_ours, timm=build_timm, mmpretrain=build_mmpretrain)


def build_classifiers(arch: str, channels_last: bool, seed: int) -> dict[str, nn.Module]:
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
        models[name] = _BUILDERS[name](arch, channels_last).to(memory_format=memory_format)
    return models


def make_input(batch_size: int, img_size: int, channels_last: bool, seed: int) -> torch.Tensor:
    """A random fp32 image batch in the requested memory format."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, img_size, img_size, generator=generator)
    return x.contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format)


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


def make_infer_step(model: nn.Module, x: torch.Tensor) -> Step:
    """A step running one eval forward under :func:`torch.inference_mode`."""

    def step() -> None:
        model.eval()
        with torch.inference_mode():
            model(x)

    return step


def make_train_step(model: nn.Module, x: torch.Tensor,
                    optimizer: torch.optim.Optimizer | None) -> Step:
    """A step running forward, a mean loss, backward, an optional optimizer step and zero_grad."""

    def step() -> None:
        model.train()
        loss = model(x).float().mean()
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        model.zero_grad(set_to_none=True)

    return step


def make_optimizer(model: nn.Module, kind: str) -> torch.optim.Optimizer | None:
    """The optimizer added to the training step: None for ``'none'``, or ``'adamw'``."""
    if kind == 'none':
        return None
    if kind != 'adamw':
        raise ValueError(f"Unknown optimizer {kind!r}; use 'none' or 'adamw'.")
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


def matmul_gflops(size: int, seconds: float) -> float:
    """GFLOP/s of a ``size``-square matmul (``2 size^3`` FLOPs) taking ``seconds``."""
    return 2 * size ** 3 / seconds / 1e9
