"""Dead and saturated channel statistics on maps built to be each kind."""
import numpy as np
import torch

from mmconvnextv2.analysis import channel_statistics, plot_channel_grid


def test_dead_and_saturated_channels_are_found():
    generator = torch.Generator().manual_seed(0)
    varying = torch.randn(36, generator=generator)
    maps = torch.stack([
        varying,                                                    # live
        torch.zeros(36),                                            # dead: exactly zero
        5.0 + 0.01 * torch.randn(36, generator=generator),          # saturated: flat, non-zero
        1e-4 * torch.randn(36, generator=generator),                # dead: tiny next to the rest
        -3.0 + 0.5 * torch.randn(36, generator=generator),          # live: std/rms ~ 0.16
    ])
    stats = channel_statistics(maps, dead_tol=1e-2, saturated_tol=0.1)
    assert stats.dead.tolist() == [False, True, False, True, False]
    assert stats.saturated.tolist() == [False, False, True, False, False]
    assert stats.dead_fraction == 0.4 and stats.saturated_fraction == 0.2
    values = maps.double().numpy()
    np.testing.assert_allclose(stats.mean.numpy(), values.mean(1))
    np.testing.assert_allclose(stats.std.numpy(), values.std(1))
    np.testing.assert_allclose(stats.rms.numpy(), np.sqrt((values ** 2).mean(1)))
    summary = stats.summary()
    assert summary['dead_channels'] == [1, 3] and summary['saturated_channels'] == [2]


def test_an_all_zero_layer_is_all_dead_and_draws(tmp_path):
    stats = channel_statistics(torch.zeros(3, 16))
    assert stats.dead_fraction == 1.0 and stats.saturated_fraction == 0.0
    plot_channel_grid(torch.zeros(3, 4, 4), stats, str(tmp_path / 'grid.png'))
    assert (tmp_path / 'grid.png').stat().st_size > 0
