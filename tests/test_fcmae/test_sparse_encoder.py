"""The three sparse backends against a plain per-sample reference written here."""
import pytest
import torch
import torch.nn.functional as F

from mmconvnextv2.models import SPARSE_BACKENDS, ConvNeXtV2, SparseConvNeXtV2
from mmconvnextv2.models.backbones import sparse_convnextv2
from mmconvnextv2.models.backbones.row_depthwise import neighbour_rows
from mmconvnextv2.models.utils import random_patch_mask

ARCH = dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32])
# CUDA runs where a GPU exists (a lent device machine); CPU CI runs the CPU cases only.
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def reference_encoder(model: ConvNeXtV2, image: torch.Tensor, removed: torch.Tensor) -> list:
    """One image (3, H, W); ``removed`` (H/32, W/32). Sparse semantics spelled out op by op."""
    outs = []
    x = image[None]
    for i, (down, stage) in enumerate(zip(model.downsample_layers, model.stages)):
        x = down(x)
        s = x.shape[-1] // removed.shape[-1]
        keep = (1 - removed).repeat_interleave(s, 0).repeat_interleave(s, 1).bool()
        x = x * keep
        for block in stage:
            y = F.conv2d(x, block.dwconv.weight, block.dwconv.bias, padding=3, groups=x.shape[1])
            sites = y[0][:, keep].t()  # (V, C): the visible sites only
            sites = F.layer_norm(sites, sites.shape[-1:], block.norm.weight, block.norm.bias, 1e-6)
            sites = F.gelu(F.linear(sites, block.pwconv1.weight, block.pwconv1.bias))
            gx = sites.norm(dim=0)
            nx = gx / (gx.mean() + 1e-6)
            sites = block.grn.gamma * (sites * nx) + block.grn.beta + sites
            sites = F.linear(sites, block.pwconv2.weight, block.pwconv2.bias)
            update = torch.zeros_like(x[0])
            update[:, keep] = sites.t()
            x = x + update
        outs.append(x[0])
    return outs


@pytest.fixture(scope='module')
def weights():
    torch.manual_seed(0)
    model = ConvNeXtV2(arch=ARCH, with_out_norms=False)
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'grn' in name:
                param.normal_(0, 0.5)
    return model.state_dict()


@pytest.fixture
def exact_cuda_math():
    """TF32 convolutions would miss the fp32 tolerance; turn them off for the test."""
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = previous


def uneven_mask(kept: list[int], grid: tuple[int, int], seed: int) -> torch.Tensor:
    """(N, h, w) mask where sample n keeps ``kept[n]`` patches at random places."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(len(kept), grid[0] * grid[1])
    for n, count in enumerate(kept):
        mask[n, torch.randperm(grid[0] * grid[1], generator=generator)[:count]] = 0
    return mask.view(len(kept), *grid)


MASKS = {
    'equal': lambda: random_patch_mask(3, (4, 3), 0.6, generator=torch.Generator().manual_seed(0)),
    # One patch, some, all of them, and none: GRN's statistics must stay within each sample.
    'uneven': lambda: uneven_mask([1, 7, 12], (4, 3), seed=0),
    'uneven_with_empty': lambda: uneven_mask([5, 0, 9], (4, 3), seed=1),
}


def assert_matches_reference(backend: str, device: str, mask: torch.Tensor, weights: dict,
                             depthwise: str = 'auto') -> None:
    """Outputs and gradients (parameters and images) equal running each sample alone."""
    torch.manual_seed(1)
    model = SparseConvNeXtV2(arch=ARCH, sparse_backend=backend, depthwise=depthwise,
                             out_indices=(0, 1, 2, 3))
    model.load_state_dict(weights)
    images = torch.randn(3, 3, 128, 96)
    inputs = images.to(device).detach().requires_grad_()
    outs = [out.cpu() for out in model.to(device)(inputs, mask.to(device))]
    (sum(o.square().mean() for o in outs)).backward()
    grads = {n: p.grad.cpu() for n, p in model.named_parameters()}

    reference = ConvNeXtV2(arch=ARCH, with_out_norms=False)
    reference.load_state_dict(weights)
    ref_inputs = images.detach().requires_grad_()
    alone = [reference_encoder(reference, ref_inputs[i], mask[i]) for i in range(len(images))]
    ref_outs = [torch.stack(o) for o in zip(*alone)]
    (sum(o.square().mean() for o in ref_outs)).backward()
    for out, ref in zip(outs, ref_outs):
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(inputs.grad.cpu(), ref_inputs.grad, atol=1e-4, rtol=1e-3)
    for name, param in reference.named_parameters():
        torch.testing.assert_close(grads[name], param.grad, atol=1e-4, rtol=1e-3, msg=name)


@pytest.mark.parametrize('mask_name', list(MASKS))
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('backend', SPARSE_BACKENDS)
def test_backend_matches_reference(backend, device, mask_name, weights, exact_cuda_math):
    assert_matches_reference(backend, device, MASKS[mask_name](), weights)


def count_neighbour_indices(monkeypatch) -> list:
    """A list that gets an entry each time a stage builds the row kernels' neighbour index."""
    built = []
    monkeypatch.setattr(sparse_convnextv2, 'neighbour_rows',
                        lambda *args: built.append(1) or neighbour_rows(*args))
    return built


@pytest.mark.parametrize('depthwise', ['auto', 'rows'])
@pytest.mark.parametrize('compiled', [True, False])
def test_gather_on_cpu_uses_the_row_kernels_where_they_compile(compiled, depthwise, monkeypatch,
                                                               weights):
    """With the compiled kernels every stage builds its neighbour index once; without them the
    depthwise convs run on the full map. Both match the reference."""
    if not compiled:
        monkeypatch.setattr(sparse_convnextv2, 'fused_kernels', lambda device: None)
    built = count_neighbour_indices(monkeypatch)
    assert_matches_reference('gather', 'cpu', MASKS['uneven_with_empty'](), weights, depthwise)
    assert len(built) == (len(ARCH['depths']) if compiled else 0)


@pytest.mark.parametrize('depthwise, row_devices, uses_rows', [
    ('full_map', ('cpu', ), False),
    # The CPU standing in for a device 'auto' keeps on the full map, as CUDA: 'rows' still takes
    # the row kernels there.
    ('auto', (), False),
    ('rows', (), True),
])
def test_depthwise_switch_picks_the_path(depthwise, row_devices, uses_rows, monkeypatch, weights):
    """The path follows ``depthwise`` and the device; outputs and gradients match the reference
    (which the 'dense' backend matches too) on either path."""
    monkeypatch.setattr(sparse_convnextv2, 'ROW_DEPTHWISE_DEVICES', row_devices)
    built = count_neighbour_indices(monkeypatch)
    assert_matches_reference('gather', 'cpu', MASKS['uneven_with_empty'](), weights, depthwise)
    assert len(built) == (len(ARCH['depths']) if uses_rows else 0)


@pytest.mark.parametrize('backend', SPARSE_BACKENDS)
def test_with_cp_recomputes_blocks_and_changes_nothing(backend, weights):
    """``with_cp`` runs every block again in the backward; outputs and gradients are the same
    computation, so they are equal to the last bit."""
    images = torch.randn(3, 3, 128, 96)
    mask = uneven_mask([2, 6, 11], (4, 3), seed=2)
    results = []
    for with_cp in (False, True):
        model = SparseConvNeXtV2(arch=ARCH, sparse_backend=backend, out_indices=(0, 1, 2, 3),
                                 drop_path_rate=0.5, with_cp=with_cp)
        model.load_state_dict(weights)
        calls = []
        for stage in model.stages:
            for block in stage:
                block.pwconv1.register_forward_hook(lambda *args: calls.append(1))
        inputs = images.clone().requires_grad_()
        torch.manual_seed(3)  # the same drop-path draws in both runs
        outs = model(inputs, mask)
        sum(o.square().mean() for o in outs).backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        results.append((outs, inputs.grad, grads, len(calls)))
    (outs, image_grad, grads, calls), (cp_outs, cp_image_grad, cp_grads, cp_calls) = results
    assert (calls, cp_calls) == (sum(ARCH['depths']), 2 * sum(ARCH['depths']))
    for out, cp_out in zip(outs, cp_outs):
        torch.testing.assert_close(cp_out, out, rtol=0, atol=0)
    torch.testing.assert_close(cp_image_grad, image_grad, rtol=0, atol=0)
    for name, grad in grads.items():
        torch.testing.assert_close(cp_grads[name], grad, rtol=0, atol=0, msg=name)


def test_outputs_are_zero_at_masked_sites(weights):
    model = SparseConvNeXtV2(arch=ARCH, sparse_backend='gather', out_indices=(0, 3))
    model.load_state_dict(weights)
    mask = random_patch_mask(1, (2, 2), 0.5, generator=torch.Generator().manual_seed(0))
    first, last = model(torch.randn(1, 3, 64, 64), mask)
    removed = mask[0].bool()
    assert not last[0][:, removed].any() and last[0][:, ~removed].abs().sum() > 0
    assert not first[0][:, removed.repeat_interleave(8, 0).repeat_interleave(8, 1)].any()


def test_state_dict_keys_equal_the_dense_backbone():
    sparse = SparseConvNeXtV2(arch='atto')
    dense = ConvNeXtV2(arch='atto', with_out_norms=False)
    assert list(sparse.state_dict()) == list(dense.state_dict())


def test_bad_inputs_name_the_problem():
    model = SparseConvNeXtV2(arch=ARCH)
    with pytest.raises(ValueError, match='divisible by the total stride 32, got 48x64'):
        model(torch.randn(1, 3, 48, 64), torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match=r'mask must have shape .* \(1, 2, 2\), got \(1, 4, 4\)'):
        model(torch.randn(1, 3, 64, 64), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="sparse_backend must be one of"):
        SparseConvNeXtV2(arch=ARCH, sparse_backend='minkowski')
    with pytest.raises(ValueError, match=r"depthwise must be one of \('auto', 'rows', 'full"):
        SparseConvNeXtV2(arch=ARCH, depthwise='triton')
    with pytest.raises(ValueError, match="depthwise='rows' chooses the 'gather' backend's"):
        SparseConvNeXtV2(arch=ARCH, sparse_backend='spconv', depthwise='rows')
