"""The feature-checked torch APIs: each branch gives the same answers (the device-generic one runs
in make test, the per-device one in make test-compat)."""
import pytest
import torch

from mmconvnextv2.utils.torch_compat import autocast_state


@pytest.fixture(params=['device-generic', 'per-device'])
def api(request):
    """Runs a test through the branch of this torch: the device-generic autocast API
    (torch >= 2.4), or the per-device one (torch 2.1 to 2.3)."""
    if request.param == 'device-generic':
        if not hasattr(torch, 'get_autocast_dtype'):
            pytest.skip('needs torch >= 2.4 (torch.get_autocast_dtype)')
    elif hasattr(torch, 'get_autocast_dtype'):
        # The per-device functions call the device-generic ones there: the branch cannot be
        # emulated; make test-compat runs it on torch 2.1.
        pytest.skip('the per-device branch is for torch < 2.4 (no torch.get_autocast_dtype)')
    return request.param


def test_autocast_state_on_the_cpu(api):
    assert autocast_state('cpu')[0] is False
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert autocast_state('cpu') == (True, torch.bfloat16)
        # Autocast on one device says nothing of another.
        assert autocast_state('cuda')[0] is False
    assert autocast_state('cpu')[0] is False


def test_autocast_state_of_a_device_the_old_api_does_not_know(monkeypatch):
    monkeypatch.delattr(torch, 'get_autocast_dtype', raising=False)
    with pytest.raises(ValueError, match='torch >= 2.4 reports it for every device'):
        autocast_state('xpu')
