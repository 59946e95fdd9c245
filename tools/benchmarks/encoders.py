"""The FCMAE encoder's sparse backends and the dense backbone, set up to be timed and measured.

Used by ``tools/analysis/benchmark_fcmae.py``; the timing itself is :mod:`.timing`.
"""
from collections.abc import Callable, Sequence

import torch

from mmconvnextv2.models import ConvNeXtV2, SparseConvNeXtV2
from mmconvnextv2.models.utils import random_patch_mask
from mmconvnextv2.utils.arch_settings import Arch

from .timing import rotated, summarize, time_call

# The dense backbone on the whole image, no mask: the cost FCMAE would have without sparsity.
FULL = 'full'


def encoder_name(backend: str, depthwise: str = 'auto') -> str:
    """The name of a sparse encoder: its backend, and the 'gather' backend's depthwise mode
    unless it is ``'auto'`` (e.g. ``'gather full_map'``)."""
    return backend if backend != 'gather' or depthwise == 'auto' else f'{backend} {depthwise}'


def build_encoders(arch: Arch, backends: Sequence[str], device: torch.device,
                   depthwise: Sequence[str] = ('auto', )) -> dict[str, torch.nn.Module]:
    """A :class:`SparseConvNeXtV2` per backend and the dense backbone (:data:`FULL`).

    Args:
        arch: The ConvNeXt V2 size.
        backends: Sparse backends (``SPARSE_BACKENDS``).
        device: Where the models go.
        depthwise: The depthwise modes of the 'gather' backend: one encoder for each.

    Returns:
        The models by :func:`encoder_name`, then :data:`FULL`, all with the same weights,
        initialised from seed 0.
    """
    torch.manual_seed(0)
    reference = ConvNeXtV2(arch=arch, with_out_norms=False, gap_before_final_norm=False)
    reference.init_weights()
    models: dict[str, torch.nn.Module] = {}
    for backend in backends:
        # The depthwise mode chooses the 'gather' backend's conv only.
        for mode in depthwise if backend == 'gather' else ('auto', ):
            model = SparseConvNeXtV2(arch=arch, sparse_backend=backend, depthwise=mode)
            model.load_state_dict(reference.state_dict())
            models[encoder_name(backend, mode)] = model
    models[FULL] = reference
    return {name: model.to(device) for name, model in models.items()}


def flop_limit(img_size: int, ratio: float) -> float:
    """L / V: at most how much faster than :data:`FULL` a sparse encoder can be.

    With L patches of 32x32 pixels of which a mask of ``ratio`` keeps V visible, the encoder
    computes V / L of the sites (counted on a mask :func:`random_patch_mask` draws).
    """
    grid = img_size // 32
    mask = random_patch_mask(1, (grid, grid), ratio)
    return mask.numel() / float((1 - mask).sum())


def encoder_loss(model: torch.nn.Module, images: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    """The encoder's forward (the full model ignores the mask) and a loss on its outputs."""
    outs = model(images, mask) if isinstance(model, SparseConvNeXtV2) else model(images)
    return sum(out.square().mean() for out in outs)


def train_step(model: torch.nn.Module, images: torch.Tensor, mask: torch.Tensor) -> None:
    """Forward, :func:`encoder_loss` and backward; the gradients are dropped."""
    encoder_loss(model, images, mask).backward()
    model.zero_grad(set_to_none=True)


def saved_activation_bytes(model: torch.nn.Module, images: torch.Tensor,
                           mask: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of one step."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = encoder_loss(model, images, mask)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values())


def cuda_peak_step_bytes(step: Callable[[], None], device: torch.device) -> int:
    """Peak allocated memory during ``step`` above what was allocated before it."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def time_encoders(models: dict[str, torch.nn.Module], ratio: float, batch_size: int,
                  img_size: int, warmup: int, repeats: int, device: torch.device,
                  progress: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """Times a training step of each encoder, interleaved, and measures its memory.

    Every repeat draws a new mask (seed 0 onwards), the same for all models, and runs each model
    once in an order rotated from repeat to repeat; the first ``warmup`` repeats are not timed.

    Args:
        models: Encoders by name (:func:`build_encoders`), on ``device``.
        ratio: Fraction of the 32x32 patches masked.
        batch_size: Images per step.
        img_size: Side of the square images, a multiple of 32.
        warmup: Untimed repeats first.
        repeats: Timed repeats.
        device: Where the models run; on CUDA, the allocator's peak is measured too.
        progress: Called with a line after each repeat.

    Returns:
        Per model the :func:`~.timing.summarize` of its steps, plus ``activation_mb``
        (:func:`saved_activation_bytes`) and, on CUDA, ``peak_mb`` (:func:`cuda_peak_step_bytes`).
    """
    grid = img_size // 32
    images = torch.randn(batch_size, 3, img_size, img_size, device=device)
    generator = torch.Generator().manual_seed(0)
    names = list(models)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(warmup + repeats):
        mask = random_patch_mask(batch_size, (grid, grid), ratio, generator=generator).to(device)
        for name in rotated(names, repeat):
            seconds, _ = time_call(lambda: train_step(models[name], images, mask), device)
            if repeat >= warmup:
                times[name].append(seconds)
        if progress:
            progress(f'repeat {repeat + 1}/{warmup + repeats}')
    mask = random_patch_mask(batch_size, (grid, grid), ratio, generator=generator).to(device)
    results = {}
    for name, model in models.items():
        results[name] = summarize(times[name])
        results[name]['activation_mb'] = saved_activation_bytes(model, images, mask) / 2**20
        if device.type == 'cuda':
            results[name]['peak_mb'] = cuda_peak_step_bytes(
                lambda: train_step(model, images, mask), device) / 2**20
    return results
