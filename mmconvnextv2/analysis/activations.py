"""Per-channel statistics of one layer's activation and the paper's grid of channel maps.

A channel is *dead* when it is all about zero: its RMS over the positions is at most ``dead_tol``
times the RMS of the whole layer (all channels and positions). It is *saturated* when it is
about constant and not dead: its standard deviation over the positions is at most
``saturated_tol`` times its RMS (RMS^2 = mean^2 + std^2, so the map is a near-uniform non-zero
plane). These are the two failure modes the paper sees in FCMAE-trained ConvNeXt V1.
"""
import math
from dataclasses import dataclass

import torch

DEAD_TOL = 1e-2
SATURATED_TOL = 0.1
# The grid's colour scale: this quantile of |x| over the layer, so a few huge channels (common in
# a ConvNeXt's residual stream) do not wash out the rest.
SCALE_QUANTILE = 0.99


@dataclass(frozen=True)
class ChannelStatistics:
    """Statistics of the C channels of one activation, each over its positions.

    Attributes:
        mean: (C,) mean.
        std: (C,) population standard deviation.
        rms: (C,) root mean square.
        dead: (C,) all about zero.
        saturated: (C,) about constant and not dead.
    """

    mean: torch.Tensor
    std: torch.Tensor
    rms: torch.Tensor
    dead: torch.Tensor
    saturated: torch.Tensor

    @property
    def dead_fraction(self) -> float:
        return self.dead.double().mean().item()

    @property
    def saturated_fraction(self) -> float:
        return self.saturated.double().mean().item()

    def summary(self) -> dict[str, object]:
        """Fractions and per-channel lists, ready for JSON."""
        return dict(channels=len(self.mean), dead_fraction=self.dead_fraction,
                    saturated_fraction=self.saturated_fraction,
                    dead_channels=self.dead.nonzero().flatten().tolist(),
                    saturated_channels=self.saturated.nonzero().flatten().tolist(),
                    mean=self.mean.tolist(), std=self.std.tolist(), rms=self.rms.tolist())


def channel_statistics(maps: torch.Tensor, dead_tol: float = DEAD_TOL,
                       saturated_tol: float = SATURATED_TOL) -> ChannelStatistics:
    """Dead and saturated channels of one image's activation.

    Args:
        maps: (C, M): each channel's values over the M positions (or tokens).
        dead_tol: See the module docstring.
        saturated_tol: See the module docstring.
    """
    maps = maps.double()
    mean = maps.mean(1)
    std = maps.std(1, unbiased=False)
    rms = maps.square().mean(1).sqrt()
    dead = rms <= dead_tol * maps.square().mean().sqrt()
    saturated = ~dead & (std <= saturated_tol * rms)
    return ChannelStatistics(mean=mean, std=std, rms=rms, dead=dead, saturated=saturated)


def plot_channel_grid(maps: torch.Tensor, stats: ChannelStatistics, path: str,
                      title: str = '') -> None:
    """Saves a grid of channel maps on one shared, symmetric colour scale.

    A shared scale shows dead channels as blank and saturated ones as flat colour; a per-channel
    scale would stretch both into noise. Dead maps get a red frame, saturated ones an orange one.

    Args:
        maps: (C, h, w) channel maps, all of them drawn.
        stats: :func:`channel_statistics` of these channels (or of a layer they are the first of).
        path: The image file.
        title: The figure's title.
    """
    from matplotlib.figure import Figure

    count = maps.shape[0]
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    limit = maps.abs().flatten().double().quantile(SCALE_QUANTILE).item() or 1.0
    figure = Figure(figsize=(1.1 * cols, 1.1 * rows + 0.5), dpi=120)
    axes: list = figure.subplots(rows, cols, squeeze=False).flatten().tolist()
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= count:
            ax.set_axis_off()
            continue
        ax.imshow(maps[i].float().numpy(), cmap='RdBu_r', vmin=-limit, vmax=limit)
        colour = 'red' if stats.dead[i] else 'orange' if stats.saturated[i] else 'lightgrey'
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.0 if colour != 'lightgrey' else 0.5)
    figure.suptitle(title or f'{count} channels; red: dead, orange: saturated', fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
