"""Average pairwise cosine distance between the channels of a feature map (paper Sec. 3.1).

For one image and one layer with activation X of C channels, each channel's map X_i (H x W for a
convnet, the N patch tokens for a ViT) is flattened to a vector and

    d(X) = (1 / C^2) * sum_i sum_j (1 - cos(X_i, X_j)) / 2,

which lies in [0, 1/2]: since sum_ij cos(X_i, X_j) = |sum_i X_i / |X_i||^2 >= 0, it is 0 when
all channels point the same way (collapse), 1/2 * (1 - 1/C) for mutually orthogonal channels
(0.25 for two) and at most 1/2, reached when the unit channels cancel (two opposite channels).
The C x C cosine table is the Gram matrix of the unit-normalised channels, so a batch costs one
batched matrix product.

Dead channels. A channel whose L2 norm is at most ``dead_eps`` times the largest channel norm of
that image and layer (exactly zero included) has no direction. Such channels are given one shared
direction orthogonal to every live channel: two dead channels have cosine 1 (distance 0), a dead
and a live one cosine 0 (distance 1/2). The rule is deterministic, keeps the paper's 1/C^2
normalisation, and makes dead channels count as redundant with each other, so a layer of many dead
channels scores low (collapsed) and an all-dead layer scores exactly 0.

Centring. The distance reads a spatially constant part of a channel as a direction: channels that
are each a positive constant plus small maps of their own all point along the all-ones vector and
score near 0, as collapsed ones do. :func:`centre_channels` removes each channel's mean over the
positions first, so the distance of the centred channels compares only their spatial patterns (a
constant channel becomes dead).
"""

import torch

# Relative to the largest channel norm: below this a channel's direction is numerical noise.
DEAD_EPS = 1e-6


def channel_matrix(feature: torch.Tensor, num_extra_tokens: int = 0,
                   channels_last: bool = False) -> torch.Tensor:
    """Rearranges a layer output into one row per channel: (B, C, M).

    Args:
        feature: (B, C, H, W) convnet maps, (B, H, W, C) with ``channels_last`` (the MLP inside a
            ConvNeXt block), or (B, N, C) transformer tokens.
        num_extra_tokens: Leading non-patch tokens (a ViT's class token) dropped from (B, N, C)
            input, so a ViT channel is its sequence over the image patches.
        channels_last: Read a 4-D ``feature`` as (B, H, W, C).

    Returns:
        (B, C, M) with M = H * W or the number of patch tokens.
    """
    if feature.dim() == 4:
        return feature.flatten(1, 2).transpose(1, 2) if channels_last else feature.flatten(2)
    if feature.dim() == 3:
        return feature[:, num_extra_tokens:].transpose(1, 2)
    raise ValueError(f'Expected a (B, C, H, W) or (B, H, W, C) feature map or (B, N, C) tokens, '
                     f'got shape {tuple(feature.shape)}')


def centre_channels(x: torch.Tensor) -> torch.Tensor:
    """Each channel minus its mean over the positions: (B, C, M) in, (B, C, M) out."""
    return x - x.mean(dim=2, keepdim=True)


def unit_channels(x: torch.Tensor, dead_eps: float = DEAD_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Each channel divided by its L2 norm, dead channels set to zero.

    Args:
        x: (B, C, M) channel vectors.
        dead_eps: A channel is dead when its norm is at most ``dead_eps`` times the largest
            channel norm of its image.

    Returns:
        The unit channels (B, C, M) in at least fp32, and the (B, C) boolean dead mask.
    """
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    norms = torch.linalg.vector_norm(x, dim=2, keepdim=True)
    dead = norms <= dead_eps * norms.amax(dim=1, keepdim=True)
    unit = torch.where(dead, torch.zeros_like(x), x / norms.clamp_min(torch.finfo(x.dtype).tiny))
    return unit, dead.squeeze(2)


def cosine_table(x: torch.Tensor, dead_eps: float = DEAD_EPS) -> torch.Tensor:
    """The (B, C, C) table of cos(X_i, X_j), with the dead-channel rule of the module docstring.

    Args:
        x: (B, C, M) channel vectors.
        dead_eps: See :func:`unit_channels`.
    """
    unit, dead = unit_channels(x, dead_eps)
    gram = torch.bmm(unit, unit.transpose(1, 2))
    shared = dead.to(gram.dtype)
    # Dead pairs share one direction (cos 1); dead-live pairs stay orthogonal (0 from the Gram).
    return gram + shared.unsqueeze(2) * shared.unsqueeze(1)


def mean_cosine_distance(x: torch.Tensor, dead_eps: float = DEAD_EPS) -> torch.Tensor:
    """Per image ``(1/C^2) sum_ij (1 - cos(X_i, X_j)) / 2``.

    Args:
        x: (B, C, M) channel vectors, see :func:`channel_matrix`.
        dead_eps: See :func:`unit_channels`.

    Returns:
        (B,) distances in [0, 1/2].
    """
    return ((1 - cosine_table(x, dead_eps)) / 2).mean(dim=(1, 2))
