"""The FCMAE encoder: ConvNeXt V2 computed on the visible (unmasked) positions only.

The official implementation runs the network as submanifold sparse convolution with a
MinkowskiEngine fork. Here the same computation has three backends, chosen at construction:

* ``'dense'``: masked-dense emulation. Masked sites are zeroed after every convolution and block,
  GRN's statistics see visible sites only. Needs no extra library; the reference.
* ``'gather'``: the network lives as rows (R, C) of the visible sites, stem and downsampling
  layers included (matmuls of visible patches). LayerNorm, the MLP and GRN run on the rows. The
  7x7 depthwise conv takes one of two paths, chosen at construction by ``depthwise``:

  - ``'rows'``: a fused tap sum over a per-stage neighbour index (:mod:`.row_depthwise`,
    ``torch.compile``-d: C++ on the CPU, Triton on CUDA); where compiling fails, the full map
    instead, with a logged warning;
  - ``'full_map'``: the conv on the zero-filled full map, gathered back at the rows (masked inputs
    are zero, so visible outputs are exact; cuDNN on CUDA);
  - ``'auto'`` (default): ``'rows'`` on the devices of :data:`ROW_DEPTHWISE_DEVICES` (the CPU,
    where it was measured faster), ``'full_map'`` elsewhere.
* ``'spconv'``: the stage lives in an spconv ``SparseConvTensor``; the depthwise conv runs on
  spconv's submanifold rulebook (spconv 2.x has no grouped convolution), everything else on its
  features.

All keep GRN per sample (the official sparse GRN mixes the batch, official issue #86), for any
mask (samples may keep different numbers of patches), honour ``with_cp`` block by block, and share
the dense :class:`ConvNeXtV2`'s modules and state-dict keys, so weights move between them unchanged.
"""
import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mmconvnextv2.registry import MODELS

from ..utils import upsample_mask
from .convnextv2 import ConvNeXtV2, ConvNeXtV2Block
from .row_depthwise import fused_kernels, neighbour_rows, row_depthwise_conv

SPARSE_BACKENDS = ('dense', 'gather', 'spconv')
# The depthwise conv paths of the 'gather' backend (module docstring).
DEPTHWISE_MODES = ('auto', 'rows', 'full_map')


def _checkpointed(block: ConvNeXtV2Block, function: Callable[..., torch.Tensor],
                  x: torch.Tensor, *args) -> torch.Tensor:
    """``function(x, *args)``, recomputed in the backward when the block has ``with_cp``.

    The condition is the dense block's: checkpoint only where a backward will follow.
    """
    if block.with_cp and x.requires_grad:
        return checkpoint(function, x, *args, use_reentrant=False)
    return function(x, *args)


class _SampleRows(NamedTuple):
    """How the visible rows (R, C) of a stage, batch-major, split into the N samples.

    Attributes:
        batch_size: N.
        slots: None when every sample keeps the same number V of sites: the rows then reshape
            to (N, V). Otherwise, for each row, its place in a zero-padded (N * V_max) layout
            where sample n owns places ``n * V_max`` to ``(n + 1) * V_max - 1``.
        valid: (N, V_max, 1, 1), 1 at the places that hold a row; None with ``slots``.
    """

    batch_size: int
    slots: torch.Tensor | None
    valid: torch.Tensor | None


def _sample_rows(counts: torch.Tensor, dtype: torch.dtype) -> _SampleRows:
    """The split of batch-major rows into samples of ``counts`` (N,) rows; ``valid`` in dtype."""
    n = counts.numel()
    if bool((counts == counts[0]).all()):
        return _SampleRows(n, None, None)
    longest = int(counts.max())
    sample = torch.repeat_interleave(torch.arange(n, device=counts.device), counts)
    # A row's place within its sample: its index minus the index of the sample's first row.
    place = torch.arange(sample.numel(), device=counts.device) - (counts.cumsum(0) - counts)[sample]
    slots = sample * longest + place
    valid = torch.zeros(n * longest, dtype=dtype, device=counts.device).index_fill(0, slots, 1.0)
    return _SampleRows(n, slots, valid.view(n, longest, 1, 1))


def _residual_rows(block: ConvNeXtV2Block, y: torch.Tensor, samples: _SampleRows) -> torch.Tensor:
    """The block's residual branch (pointwise part, drop path) on the depthwise conv's output
    rows (R, C), with GRN's statistics and drop path per sample.

    Samples of unequal sizes are zero-padded to (N, V_max) and GRN is told which places hold rows
    (the masked mode of :meth:`ConvNeXtV2Block.pointwise`); the padding's outputs are dropped.
    """
    c = y.shape[-1]
    if samples.slots is None:
        return block.drop_path(block.pointwise(y.view(samples.batch_size, -1, 1, c))).reshape(-1, c)
    padded = y.new_zeros(samples.valid.numel(), c).index_copy(0, samples.slots, y)
    out = block.pointwise(padded.view(*samples.valid.shape[:3], c), samples.valid)
    return block.drop_path(out).reshape(-1, c).index_select(0, samples.slots)


def _dense_block(x: torch.Tensor, block: ConvNeXtV2Block, visible: torch.Tensor) -> torch.Tensor:
    """One block on the full map, masked sites zeroed and left out of GRN's statistics."""
    y = (block.dwconv(x) * visible).permute(0, 2, 3, 1)
    y = block.pointwise(y, visible.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    return x + block.drop_path(y * visible)


def _scatter_rows(rows: torch.Tensor, feats: torch.Tensor,
                  shape: tuple[int, int, int, int]) -> torch.Tensor:
    """Visible-site rows (R, C) into a zero map (N, C, H, W) stored channels-last."""
    n, c, h, w = shape
    dense = feats.new_zeros(n * h * w, c).index_copy(0, rows, feats)
    return dense.view(n, h, w, c).permute(0, 3, 1, 2)


# A stage's depthwise conv on its visible rows: (rows (R, C), weight, bias) -> rows (R, C).
RowsDepthwise = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]

# Where depthwise='auto' takes the row depthwise conv: measured on CPU only (forward and
# backward 2-7x faster per stage at mask ratio 0.6); CUDA keeps cuDNN's conv until timed there.
ROW_DEPTHWISE_DEVICES = ('cpu', )


def _full_map_depthwise(rows: torch.Tensor, shape: tuple[int, int, int, int]) -> RowsDepthwise:
    """The depthwise conv on the zero-filled full map, gathered back at ``rows``."""
    n, c, h, w = shape

    def depthwise(feats: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor | None) -> torch.Tensor:
        y = F.conv2d(_scatter_rows(rows, feats, shape), weight, bias,
                     padding=weight.shape[-1] // 2, groups=c)
        return y.permute(0, 2, 3, 1).reshape(n * h * w, c).index_select(0, rows)

    return depthwise


class _StageSites(NamedTuple):
    """The visible sites of a stage in tile order (:func:`_tile_ordered_sites`), one per row.

    Attributes:
        sample: (R,) the sample of each row; batch-major.
        y: (R,) its row in the stage's map.
        x: (R,) its column.
        size: (N, H, W) of the stage's map.
    """

    sample: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor
    size: tuple[int, int, int]

    def flat(self) -> torch.Tensor:
        """(R,) flat indices into the (N * H * W)-row NHWC view of the map."""
        _, h, w = self.size
        return (self.sample * h + self.y) * w + self.x

    def counts(self) -> torch.Tensor:
        """(N,) rows per sample."""
        return torch.bincount(self.sample, minlength=self.size[0])


def _tile_ordered_sites(mask: torch.Tensor, num_stages: int) -> list[_StageSites]:
    """The visible sites of every stage, first stage first, in tile order.

    The last stage has a site per patch, in batch-major, row-major order; each earlier stage
    replaces every site of the next by its 2x2 children, (0, 0), (0, 1), (1, 0), (1, 1), one after
    the other. So the inputs of a 2x2 stride-2 downsampling are 4 consecutive rows, and a
    sample's rows stay together.
    """
    n, h, w = mask.shape
    sample, y, x = (mask == 0).nonzero().unbind(1)
    child_y = torch.tensor([0, 0, 1, 1], device=mask.device)
    child_x = torch.tensor([0, 1, 0, 1], device=mask.device)
    stages = [_StageSites(sample, y, x, (n, h, w))]
    for _ in range(num_stages - 1):
        sample = sample.repeat_interleave(4)
        y = (2 * y[:, None] + child_y).flatten()
        x = (2 * x[:, None] + child_x).flatten()
        h, w = 2 * h, 2 * w
        stages.insert(0, _StageSites(sample, y, x, (n, h, w)))
    return stages


def _layer_norm_rows(norm: torch.nn.LayerNorm, feats: torch.Tensor) -> torch.Tensor:
    """A channel LayerNorm (:class:`LayerNorm2d` included) on rows (R, C)."""
    return F.layer_norm(feats, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _stem_rows(stem: torch.nn.Sequential, images: torch.Tensor,
               sites: _StageSites) -> torch.Tensor:
    """The stem (patchify conv, LayerNorm) at the first stage's visible sites only."""
    conv, norm = stem
    n, c, h, w = images.shape
    k = conv.stride[0]  # kernel = stride: each site sees its own k x k pixels
    patches = images.reshape(n, c, h // k, k, w // k, k)[sites.sample, :, sites.y, :, sites.x, :]
    return _layer_norm_rows(norm, F.linear(patches.flatten(1), conv.weight.flatten(1), conv.bias))


def _downsample_rows(layer: torch.nn.Sequential, feats: torch.Tensor) -> torch.Tensor:
    """LayerNorm and 2x2 stride-2 conv on tile-ordered rows, whose 4 inputs are 4 rows in a row."""
    norm, conv = layer
    feats = _layer_norm_rows(norm, feats)
    # The weight (C', C, 2, 2) as (C', 4 * C) in the rows' (child, channel) order.
    weight = conv.weight.permute(0, 2, 3, 1).flatten(1)
    return F.linear(feats.reshape(-1, weight.shape[1]), weight, conv.bias)


def _stage_depthwise(sites: _StageSites, channels: int, kernel_size: int,
                     mode: str) -> RowsDepthwise:
    """The stage's depthwise conv in ``mode`` (:data:`DEPTHWISE_MODES`): the row kernels where
    the mode takes them and they compile, else the full map."""
    device = sites.sample.device.type
    rows = mode == 'rows' or (mode == 'auto' and device in ROW_DEPTHWISE_DEVICES)
    kernels = fused_kernels(device) if rows else None
    if kernels is None:
        return _full_map_depthwise(sites.flat(), (sites.size[0], channels, *sites.size[1:]))
    neighbours = neighbour_rows(sites.flat(), sites.size, kernel_size)
    return functools.partial(row_depthwise_conv, neighbours=neighbours, kernels=kernels)


def _rows_block(feats: torch.Tensor, block: ConvNeXtV2Block, depthwise: RowsDepthwise,
                samples: _SampleRows) -> torch.Tensor:
    """One block on the features (R, C) of the visible sites."""
    y = depthwise(feats, block.dwconv.weight, block.dwconv.bias)
    return feats + _residual_rows(block, y, samples)


def _gather_stage(blocks: torch.nn.Sequential, feats: torch.Tensor, sites: _StageSites,
                  dtype: torch.dtype, mode: str) -> torch.Tensor:
    """The stage's blocks on its visible rows (R, C), the depthwise conv in ``mode``
    (:func:`_stage_depthwise`).

    ``dtype``: of GRN's place mask for samples of unequal sizes (:func:`_sample_rows`).
    """
    samples = _sample_rows(sites.counts(), dtype)
    depthwise = _stage_depthwise(sites, feats.shape[1], blocks[0].dwconv.kernel_size[0], mode)
    for block in blocks:
        feats = _checkpointed(block, _rows_block, feats, block, depthwise, samples)
    return feats


class _SubmanifoldDepthwise:
    """A KxK depthwise submanifold conv on spconv's rulebook: gather, scale, scatter-add.

    spconv stores a submanifold rulebook for half of the kernel offsets: offset ``k`` maps input
    rows ``pairs[0, k]`` to output rows ``pairs[1, k]``; its mirror ``K*K-1-k`` is the same pairs
    swapped, and the centre offset is the identity.
    """

    def __init__(self, indices: torch.Tensor, batch_size: int, spatial_shape: list[int],
                 kernel_size: int) -> None:
        from spconv.core import ConvAlgo
        from spconv.pytorch import ops
        self.kernel_size = kernel_size
        pad = kernel_size // 2
        _, pairs, counts = ops.get_indice_pairs(
            indices, batch_size, spatial_shape, ConvAlgo.Native, [kernel_size] * 2, [1, 1],
            [pad, pad], [1, 1], [0, 0], subm=True)
        self.offsets: list[tuple[int, torch.Tensor, torch.Tensor]] = []
        for k, count in enumerate(counts.tolist()[:kernel_size * kernel_size // 2]):
            if count:
                self.offsets.append((k, pairs[0, k, :count].long(), pairs[1, k, :count].long()))

    def __call__(self, feats: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor | None) -> torch.Tensor:
        taps = weight.flatten(1).t()  # (K*K, C)
        last = self.kernel_size * self.kernel_size - 1
        out = feats * taps[last // 2]
        if bias is not None:
            out = out + bias
        for k, src, dst in self.offsets:
            out = out.index_add(0, dst, feats.index_select(0, src) * taps[k])
            out = out.index_add(0, src, feats.index_select(0, dst) * taps[last - k])
        return out


def _spconv_stage(blocks: torch.nn.Sequential, x: torch.Tensor,
                  visible: torch.Tensor) -> torch.Tensor:
    """The whole stage on an spconv sparse tensor of the visible sites."""
    try:
        import spconv.pytorch as spconv
    except ImportError as error:
        raise ImportError("sparse_backend='spconv' needs spconv 2.x (pip install spconv); the "
                          "'gather' and 'dense' backends need no extra library.") from error
    n, c, h, w = x.shape
    indices = visible[:, 0].nonzero().int().contiguous()
    feats = x.permute(0, 2, 3, 1)[visible[:, 0].bool()]
    tensor = spconv.SparseConvTensor(feats, indices, [h, w], n)
    depthwise = _SubmanifoldDepthwise(indices, n, [h, w], blocks[0].dwconv.kernel_size[0])
    samples = _sample_rows(visible.flatten(1).sum(1).long(), visible.dtype)
    for block in blocks:
        tensor = tensor.replace_feature(
            _checkpointed(block, _rows_block, tensor.features, block, depthwise, samples))
    return tensor.dense()


def _dense_stage(blocks: torch.nn.Sequential, x: torch.Tensor,
                 visible: torch.Tensor) -> torch.Tensor:
    for block in blocks:
        x = _checkpointed(block, _dense_block, x, block, visible)
    return x


# The backends that run each stage on a (masked) full map.
_MAP_STAGE_RUNNERS: dict[str, Callable[[torch.nn.Sequential, torch.Tensor, torch.Tensor],
                                       torch.Tensor]] = {
    'dense': _dense_stage, 'spconv': _spconv_stage}


@MODELS.register_module()
class SparseConvNeXtV2(ConvNeXtV2):
    """ConvNeXt V2 as FCMAE's encoder: ``forward(x, mask)`` computes visible positions only.

    Args:
        arch: As for :class:`ConvNeXtV2`.
        sparse_backend: ``'gather'`` (fastest on CPU), ``'spconv'`` or ``'dense'``; see the module
            docstring.
        depthwise: The ``'gather'`` backend's depthwise conv: ``'auto'`` (the row kernels on the
            CPU, the full map elsewhere), ``'rows'`` (the ``torch.compile``-d row kernels on any
            device; the full map, with a warning, where they do not compile) or ``'full_map'``.
            Set in a config as ``model.backbone.depthwise``.
        out_indices: Stages whose (un-normalised, masked) outputs are returned.
        **kwargs: Passed to :class:`ConvNeXtV2` (``in_channels``, ``drop_path_rate``,
            ``with_cp``, ``init_cfg``, ...). The encoder has no output norms, as in the official
            layout.
    """

    def __init__(self, arch: str | dict = 'tiny', sparse_backend: str = 'gather',
                 depthwise: str = 'auto', out_indices: int | tuple[int, ...] = -1,
                 **kwargs) -> None:
        if sparse_backend not in SPARSE_BACKENDS:
            raise ValueError(f'sparse_backend must be one of {SPARSE_BACKENDS}, got '
                             f'{sparse_backend!r}')
        if depthwise not in DEPTHWISE_MODES:
            raise ValueError(f'depthwise must be one of {DEPTHWISE_MODES}, got {depthwise!r}')
        if depthwise != 'auto' and sparse_backend != 'gather':
            raise ValueError(f"depthwise={depthwise!r} chooses the 'gather' backend's depthwise "
                             f'conv, but sparse_backend={sparse_backend!r}; leave depthwise at '
                             "'auto' or use sparse_backend='gather'.")
        super().__init__(arch=arch, out_indices=out_indices, gap_before_final_norm=False,
                         with_out_norms=False, **kwargs)
        self.sparse_backend = sparse_backend
        self.depthwise = depthwise

    @property
    def total_stride(self) -> int:
        """Input pixels per output position: the stem's 4 times 2 per later stage."""
        return 4 * 2 ** (self.num_stages - 1)

    def _check_inputs(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        n, _, h, w = x.shape
        if h % self.total_stride or w % self.total_stride:
            raise ValueError(f'Input height and width must be divisible by the total stride '
                             f'{self.total_stride}, got {h}x{w}; resize or crop the images.')
        expected = (n, h // self.total_stride, w // self.total_stride)
        if tuple(mask.shape) != expected:
            raise ValueError(f'mask must have shape (N, H/{self.total_stride}, '
                             f'W/{self.total_stride}) = {expected}, got {tuple(mask.shape)}')

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Encodes the visible patches.

        Args:
            x: Images (N, 3, H, W), H and W divisible by 32.
            mask: (N, H/32, W/32), 1 where a patch is removed.

        Returns:
            The stage outputs of ``out_indices``, (N, C, h, w), zero at masked sites.
        """
        self._check_inputs(x, mask)
        if self.sparse_backend == 'gather':
            return self._forward_rows(x, mask)
        return self._forward_maps(x, mask)

    def _forward_maps(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every stage on a full map, its masked sites zeroed ('dense', 'spconv')."""
        run_stage = _MAP_STAGE_RUNNERS[self.sparse_backend]
        outs = []
        for i in range(self.num_stages):
            x = self.downsample_layers[i](x)
            scale = x.shape[-1] // mask.shape[-1]
            visible = (1 - upsample_mask(mask, scale)).unsqueeze(1).to(x.dtype)
            # Masked sites never feed visible ones: zero them after each dense conv.
            x = run_stage(self.stages[i], x * visible, visible)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _forward_rows(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Stem, stages and downsampling layers on the visible rows only ('gather').

        The mask is patch-aligned, so the stem pixels and downsampling inputs of a visible site
        are all visible: the stem is a matmul of the visible pixel patches, a downsampling layer
        one of 4 consecutive tile-ordered rows (:func:`_tile_ordered_sites`). The outputs are
        scattered into zero maps.
        """
        outs = []
        stage_sites = _tile_ordered_sites(mask, self.num_stages)
        feats = _stem_rows(self.downsample_layers[0], x, stage_sites[0])
        for i, sites in enumerate(stage_sites):
            if i:
                feats = _downsample_rows(self.downsample_layers[i], feats)
            feats = _gather_stage(self.stages[i], feats, sites, x.dtype, self.depthwise)
            if i in self.out_indices:
                n, h, w = sites.size
                outs.append(_scatter_rows(sites.flat(), feats, (n, feats.shape[1], h, w)))
        return tuple(outs)
