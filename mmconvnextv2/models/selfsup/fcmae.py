"""FCMAE: fully convolutional masked autoencoder pre-training (ConvNeXt V2, Sec. 3.1)."""

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmconvnextv2.registry import MODELS

from ..utils import random_patch_mask, seeded_patch_mask
from .fcmae_init import INIT_MODES, init_decoder_official, init_encoder_official


@MODELS.register_module()
class FCMAE(BaseSelfSupervisor):
    """Masks 32x32 patches, encodes the visible ones sparsely, reconstructs the removed ones.

    Args:
        backbone: The sparse encoder, e.g. ``dict(type='mmconvnextv2.SparseConvNeXtV2', ...)``.
        neck: The decoder, ``FCMAEDecoder``.
        head: The loss, ``FCMAEReconstructionHead``.
        mask_ratio: Fraction of patches removed per image, in (0, 1).
        patch_size: Must equal the encoder's total stride (32): the mask lives on its output grid
            (official issue #30).
        mask_seed: None draws masks from the global torch generator, which differs per process.
            An integer makes each training mask a function of (mask_seed, training step, the
            sample's dataset index), so a run gives the same masks on any number of processes
            and after a resume; the step count is kept in the state dict (``mask_step``).
        init_mode: ``'default'`` initialises every conv and linear layer with std 0.02;
            ``'official'`` re-initialises as the official ``models/fcmae.py`` does (most convs
            and the encoder's MLPs std 1.0), see :mod:`.fcmae_init` and docs/recipes.md.
        **kwargs: ``data_preprocessor``, ``init_cfg``, ``pretrained``.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, mask_ratio: float = 0.6,
                 patch_size: int = 32, mask_seed: int | None = None,
                 init_mode: str = 'default', **kwargs) -> None:
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f'mask_ratio must be in (0, 1), got {mask_ratio}')
        if init_mode not in INIT_MODES:
            raise ValueError(f'init_mode must be one of {INIT_MODES}, got {init_mode!r}')
        if init_mode == 'official' and kwargs.get('init_cfg') is not None:
            raise ValueError("init_mode='official' re-initialises every weight after init_cfg "
                             'would set it; leave init_cfg unset (start from a checkpoint with '
                             'load_from instead).')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        if patch_size != self.backbone.total_stride:
            raise ValueError(f'patch_size ({patch_size}) must equal the encoder\'s total stride '
                             f'({self.backbone.total_stride}): the mask is drawn on its output '
                             'grid.')
        if mask_seed is not None and mask_seed < 0:
            raise ValueError(f'mask_seed must be None or a non-negative integer, got {mask_seed}')
        self.mask_ratio = mask_ratio
        self.patch_size = patch_size
        self.mask_seed = mask_seed
        self.init_mode = init_mode
        if mask_seed is not None:
            self.register_buffer('mask_step', torch.zeros((), dtype=torch.long))

    def init_weights(self) -> None:
        """Each part's own initialisation; then, for ``init_mode='official'``, the official one."""
        first_time = not self._is_init
        super().init_weights()
        if first_time and self.init_mode == 'official':
            init_encoder_official(self.backbone)
            init_decoder_official(self.neck)

    def _grid_size(self, images: torch.Tensor) -> tuple[int, int]:
        """The patch grid of a batch of images; refuses sizes that are not whole patches."""
        h, w = images.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f'FCMAE needs image height and width divisible by the patch size '
                             f'{self.patch_size}, got {h}x{w}; crop or resize the images '
                             '(e.g. RandomResizedCrop(224)).')
        return h // self.patch_size, w // self.patch_size

    def draw_mask(self, images: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """A fresh random mask for a batch of images, (N, H/32, W/32)."""
        return random_patch_mask(images.shape[0], self._grid_size(images), self.mask_ratio,
                                 generator=generator, device=images.device)

    def draw_seeded_mask(self, images: torch.Tensor,
                         data_samples: list[DataSample]) -> torch.Tensor:
        """The training masks of ``mask_seed``: one per (step, dataset index); counts the step."""
        indices = [sample.get('sample_idx') for sample in data_samples]
        if None in indices:
            raise ValueError('FCMAE(mask_seed=...) seeds each mask with its sample\'s dataset '
                             'index, but a data sample has no `sample_idx`; keep it in the '
                             'meta_keys of PackInputs (mmpretrain packs it by default).')
        step = int(self.mask_step)
        self.mask_step += 1
        return seeded_patch_mask([(self.mask_seed, step, int(index)) for index in indices],
                                 self._grid_size(images), self.mask_ratio, device=images.device)

    def reconstruct(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The decoder's per-patch prediction for ``images`` under ``mask``."""
        return self.neck(self.backbone(images, mask)[-1], mask)

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        """Encoder features of the whole image (nothing masked)."""
        n, _, h, w = inputs.shape
        mask = inputs.new_zeros(n, h // self.patch_size, w // self.patch_size)
        return self.backbone(inputs, mask)

    def loss(self, inputs: torch.Tensor, data_samples: list[DataSample],
             **kwargs) -> dict[str, torch.Tensor]:
        if self.mask_seed is None:
            mask = self.draw_mask(inputs)
        else:
            mask = self.draw_seeded_mask(inputs, data_samples)
        return dict(loss=self.head.loss(self.reconstruct(inputs, mask), inputs, mask))
