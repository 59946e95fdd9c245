"""The channel cosine distance against a double loop over channel pairs and known values."""
import numpy as np
import pytest
import torch

from mmconvnextv2.analysis import (centre_channels, channel_matrix, cosine_table,
                                   mean_cosine_distance, unit_channels)


def loop_distance(channels: np.ndarray) -> float:
    """(1/C^2) sum_i sum_j (1 - cos(X_i, X_j)) / 2, one pair at a time, in float64."""
    count = len(channels)
    total = 0.0
    for i in range(count):
        for j in range(count):
            a, b = channels[i].astype(np.float64), channels[j].astype(np.float64)
            total += (1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) / 2.0
    return total / count ** 2


def test_batched_gram_matches_the_pair_loop_on_random_maps():
    generator = torch.Generator().manual_seed(0)
    # Offsets and scales per channel, so the cosines spread over (-1, 1) and not around 0.
    maps = (torch.randn(3, 12, 5, 7, generator=generator)
            + torch.randn(3, 12, 1, 1, generator=generator)) \
        * torch.rand(3, 12, 1, 1, generator=generator)
    got = mean_cosine_distance(channel_matrix(maps))
    expected = [loop_distance(image.flatten(1).numpy()) for image in maps]
    assert got.shape == (3, )
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5, rtol=0)
    assert len(set(np.round(expected, 4))) == 3  # the images differ, so the batch is not mixed


def test_vit_channels_are_token_sequences_without_the_class_token():
    tokens = torch.randn(2, 1 + 6, 4, generator=torch.Generator().manual_seed(1))  # (B, 1+N, C)
    matrix = channel_matrix(tokens, num_extra_tokens=1)
    assert matrix.shape == (2, 4, 6)
    torch.testing.assert_close(matrix[1, 3], tokens[1, 1:, 3])
    np.testing.assert_allclose(mean_cosine_distance(matrix).numpy(),
                               [loop_distance(t[1:].T.numpy()) for t in tokens], atol=1e-5)


def test_channels_last_maps_give_the_same_rows():
    maps = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(3))  # (B, C, H, W)
    torch.testing.assert_close(channel_matrix(maps.permute(0, 2, 3, 1), channels_last=True),
                               channel_matrix(maps))


@pytest.mark.parametrize('channels, expected', [
    # Identical (and positively scaled) channels: no diversity.
    ([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], 0.0),
    # Two orthogonal channels: the 2x2 pair table holds 0, 1/2, 1/2, 0.
    ([[1.0, 0.0, 0.0], [0.0, 5.0, 0.0]], 0.25),
    # Two opposite channels: the pair table holds 0, 1, 1, 0; 1/2 is the maximum for any C.
    ([[1.0, -2.0, 0.5], [-1.0, 2.0, -0.5]], 0.5),
    ([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, -3.0]], 0.5),
])
def test_known_values(channels, expected):
    x = torch.tensor([channels])
    assert mean_cosine_distance(x).item() == pytest.approx(expected, abs=1e-6)


def test_the_distance_never_exceeds_one_half():
    x = torch.randn(64, 5, 3, generator=torch.Generator().manual_seed(2))
    assert mean_cosine_distance(x).max().item() <= 0.5 + 1e-7


@pytest.mark.parametrize('channels, expected', [
    # One live, one dead channel: dead-live pairs are orthogonal (1/2), the diagonal 0.
    ([[1.0, 2.0], [0.0, 0.0]], 0.25),
    # All dead: one shared direction, fully collapsed.
    ([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], 0.0),
    # Two identical live and two dead: only the 8 live-dead pairs count, 8 * 1/2 / 16.
    ([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]], 0.25),
    # A norm of 1e-9 of the largest is dead too, whatever its direction.
    ([[1.0, 2.0], [1e-9, -3e-9]], 0.25),
    ([[1.0, 2.0], [1e-9, 3e-9]], 0.25),
])
def test_dead_channel_rule(channels, expected):
    x = torch.tensor([channels])
    assert mean_cosine_distance(x).item() == pytest.approx(expected, abs=1e-6)


def test_dead_channels_are_relative_to_the_largest_norm_of_the_same_image():
    x = torch.tensor([[[1.0, 0.0], [0.0, 1e-7]], [[1e-3, 0.0], [0.0, 1e-7]]])
    _, dead = unit_channels(x)
    assert dead.tolist() == [[False, True], [False, False]]
    table = cosine_table(x)
    torch.testing.assert_close(table[0], torch.eye(2))  # dead: own direction, orthogonal
    torch.testing.assert_close(table[1], torch.eye(2))  # live and orthogonal


def test_centring_separates_a_shared_offset_from_shared_patterns():
    # Four channels: a large positive constant each plus one of four mutually orthogonal
    # zero-mean patterns (rows of a 4x4 Hadamard matrix without the constant row).
    patterns = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0],
                             [1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0]])
    offsets = torch.tensor([[10.0], [20.0], [5.0], [8.0]])
    x = (offsets + 0.1 * patterns).unsqueeze(0)
    raw = [loop_distance(x[0].numpy())]
    np.testing.assert_allclose(mean_cosine_distance(x).numpy(), raw, atol=1e-6)
    assert raw[0] < 1e-3  # the offset makes them read as collapsed
    centred = centre_channels(x)
    torch.testing.assert_close(centred[0], 0.1 * patterns)
    # The first three patterns are orthogonal, the fourth the opposite of the third.
    np.testing.assert_allclose(mean_cosine_distance(centred).numpy(),
                               [loop_distance(centred[0].numpy())], atol=1e-6)
    assert mean_cosine_distance(centred).item() == pytest.approx((6 * 0.5 + 2 * 1.0 + 4 * 0.5) / 16)


def test_a_constant_channel_is_dead_once_centred():
    x = torch.tensor([[[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]]])
    _, dead = unit_channels(centre_channels(x))
    assert dead.tolist() == [[True, False]]
