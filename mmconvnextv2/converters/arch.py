"""The size a converted state dict holds, and whether it fits a given size.

Shapes come from the arch table and the layout of :class:`~mmconvnextv2.models.ConvNeXtV2` written
out here (:func:`classifier_shapes`), not from a built model: the backbone's ``init_cfg`` converts
checkpoints, so the converters cannot import the models. A test holds the two layouts equal.
"""
import re

from mmconvnextv2.utils.arch_settings import NUM_STAGES, Arch, arch_name, resolve_arch
from mmconvnextv2.utils.checkpoint import StateDict, key_listing

Shape = tuple[int, ...]
# The head's class count is free: a target size of -1 matches any size.
ANY_SIZE = -1
_BLOCK_KEY = re.compile(r'backbone\.stages\.(\d+)\.(\d+)\.')


def _block_shapes(channels: int) -> dict[str, Shape]:
    """The parameters of a block of ``channels``: dwconv 7x7, norm, MLP of 4C with GRN."""
    hidden = 4 * channels
    return {'dwconv.weight': (channels, 1, 7, 7), 'dwconv.bias': (channels, ),
            'norm.weight': (channels, ), 'norm.bias': (channels, ),
            'pwconv1.weight': (hidden, channels), 'pwconv1.bias': (hidden, ),
            'grn.gamma': (hidden, ), 'grn.beta': (hidden, ),
            'pwconv2.weight': (channels, hidden), 'pwconv2.bias': (channels, )}


_BLOCK_PARAMS = tuple(_block_shapes(1))


def _downsample_shapes(stage: int, channels: list[int]) -> dict[str, Shape]:
    """The stem (4x4 conv of the RGB image, then norm) or a downsampling layer (norm, 2x2 conv)."""
    width = channels[stage]
    if stage == 0:
        return {'0.weight': (width, 3, 4, 4), '0.bias': (width, ), '1.weight': (width, ),
                '1.bias': (width, )}
    before = channels[stage - 1]
    return {'0.weight': (before, ), '0.bias': (before, ), '1.weight': (width, before, 2, 2),
            '1.bias': (width, )}


def _out_norm_name(stage: int) -> str:
    """The backbone's name of the norm on the output of ``stage`` (the official ``norm`` last)."""
    return 'norm' if stage == NUM_STAGES - 1 else f'norm{stage}'


def classifier_shapes(depths: list[int], channels: list[int]) -> dict[str, Shape]:
    """Every tensor of our classifier of this size, with its shape.

    The backbone has all four output norms (``out_indices=(0, 1, 2, 3)``), so that mmpretrain's
    ``norm0`` .. ``norm2`` have a counterpart; the head's class count is :data:`ANY_SIZE`.
    """
    shapes: dict[str, Shape] = {}
    for stage in range(NUM_STAGES):
        shapes.update({f'backbone.downsample_layers.{stage}.{name}': shape
                       for name, shape in _downsample_shapes(stage, channels).items()})
        for block in range(depths[stage]):
            shapes.update({f'backbone.stages.{stage}.{block}.{name}': shape
                           for name, shape in _block_shapes(channels[stage]).items()})
        for param in ('weight', 'bias'):
            shapes[f'backbone.{_out_norm_name(stage)}.{param}'] = (channels[stage], )
    shapes['head.fc.weight'] = (ANY_SIZE, channels[-1])
    shapes['head.fc.bias'] = (ANY_SIZE, )
    return shapes


def infer_arch(state_dict: StateDict) -> tuple[str | None, list[int], list[int]]:
    """Depths and channels of a converted state dict, and the matching arch name.

    Raises:
        ValueError: If a stage, downsampling layer or block parameter is missing.
    """
    blocks: dict[int, set[int]] = {}
    for key in state_dict:
        match = _BLOCK_KEY.match(key)
        if match:
            blocks.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    depths = [max(blocks.get(i, {-1})) + 1 for i in range(NUM_STAGES)]
    expected = [f'backbone.downsample_layers.{i}.{j}.{p}'
                for i in range(NUM_STAGES) for j in (0, 1) for p in ('weight', 'bias')]
    expected += [f'backbone.stages.{i}.{j}.{p}' for i in range(NUM_STAGES)
                 for j in range(max(depths[i], 1)) for p in _BLOCK_PARAMS]
    missing = [key for key in expected if key not in state_dict]
    if missing:
        raise ValueError(
            f'The converted checkpoint is incomplete, it lacks {key_listing(missing)}. A ConvNeXt '
            'V1 checkpoint has no GRN and cannot be converted; otherwise check the source format.')
    channels = [state_dict[f'backbone.stages.{i}.0.dwconv.weight'].shape[0]
                for i in range(NUM_STAGES)]
    return arch_name(depths, channels), depths, channels


def check_against_arch(state_dict: StateDict, arch: Arch) -> None:
    """Checks a converted state dict against our classifier of ``arch``.

    Every backbone tensor must exist in the model with the same shape, every backbone tensor of
    the model must be present (the output norms excepted: FCMAE encoders have none), and the head
    must take the model's last channels.

    Raises:
        ValueError: For an unknown ``arch``; naming the first mismatching key with both shapes;
            or naming the missing and extra keys.
    """
    setting = resolve_arch(arch)
    target = classifier_shapes(setting['depths'], setting['channels'])
    mismatched = [k for k, v in state_dict.items() if k in target and not _fits(v.shape, target[k])]
    if mismatched:
        key = mismatched[0]
        raise ValueError(
            f'Shape mismatch with arch {arch!r} at {key}: checkpoint {tuple(state_dict[key].shape)}'
            f' vs model {target[key]} ({len(mismatched)} mismatching keys). Pass the arch of the '
            'checkpoint, or none to infer it.')
    extra = [k for k in state_dict if k.startswith('backbone.') and k not in target]
    optional = {f'backbone.{_out_norm_name(i)}.{p}'
                for i in range(NUM_STAGES) for p in ('weight', 'bias')}
    missing = [k for k in target if k.startswith('backbone.') and k not in state_dict
               and k not in optional]
    if extra or missing:
        raise ValueError(
            f'The checkpoint does not fit arch {arch!r} (depths {setting["depths"]}, channels '
            f'{setting["channels"]}): ' + '; '.join(
                f'{what} {key_listing(keys)}' for what, keys in
                (('it has the extra keys', extra), ('it lacks', missing)) if keys))


def _fits(shape: tuple[int, ...], target: Shape) -> bool:
    """Equal shapes, where a target size of :data:`ANY_SIZE` matches any size."""
    return len(shape) == len(target) and all(t in (ANY_SIZE, s) for s, t in zip(shape, target))
