"""Zoo files: float16 weights equal to the run's up to rounding, provenance, sha256, size limit."""
import hashlib

import pytest
import torch

from mmconvnextv2.converters import zoo
from mmconvnextv2.models import ConvNeXtV2
from mmconvnextv2.utils import load_weights_only


def test_encoder_is_kept_in_float16_with_its_provenance(tmp_path):
    backbone = ConvNeXtV2(arch='atto', with_out_norms=False)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['neck.proj.weight'] = torch.randn(8, 8, 1, 1)  # the decoder, dropped
    dataset_meta = dict(classes=('circle', 'cross'), palette=[[1, 2, 3], [4, 5, 6]])
    torch.save(dict(state_dict=state, meta=dict(epoch=4, dataset_meta=dataset_meta)),
               tmp_path / 'run.pth')
    meta = dict(config='c.py', command='tools/train.py c.py', commit='abc1234')
    written = zoo.publish_to_zoo(tmp_path / 'run.pth', tmp_path / 'zoo.pth', True, meta)

    saved = load_weights_only(tmp_path / 'zoo.pth')
    # The provenance, and the run's classes and palette, which the inferencers draw with.
    assert saved['meta'] == {**meta, 'dataset_meta': dataset_meta}
    assert set(saved['state_dict']) == {k for k in state if k.startswith('backbone.')}
    for key, value in saved['state_dict'].items():
        assert value.dtype == torch.float16
        # float16 keeps 11 significant bits: a relative rounding error of at most 2**-11.
        torch.testing.assert_close(value.float(), state[key], rtol=2**-11, atol=6e-8)
    with open(tmp_path / 'zoo.pth', 'rb') as f:
        assert written.sha256 == hashlib.sha256(f.read()).hexdigest()
    assert written.num_tensors == len(saved['state_dict'])
    reloaded = ConvNeXtV2(arch='atto', with_out_norms=False)
    reloaded.load_state_dict({k[len('backbone.'):]: v for k, v in saved['state_dict'].items()})
    assert reloaded.stages[0][0].dwconv.weight.dtype == torch.float32


def test_a_checkpoint_without_an_encoder_is_refused(tmp_path):
    torch.save(dict(state_dict={'head.fc.weight': torch.zeros(2, 2)}), tmp_path / 'run.pth')
    with pytest.raises(ValueError, match='no backbone'):
        zoo.publish_to_zoo(tmp_path / 'run.pth', tmp_path / 'zoo.pth', True, {})
    assert not (tmp_path / 'zoo.pth').exists()


def test_a_file_over_the_limit_is_refused_and_not_written(tmp_path, monkeypatch):
    torch.save(dict(state_dict={'w': torch.zeros(1000)}), tmp_path / 'run.pth')
    monkeypatch.setattr(zoo, 'ZOO_MAX_BYTES', 1999)  # 1000 float16 values take 2000 bytes
    with pytest.raises(ValueError, match='more than the zoo'):
        zoo.publish_to_zoo(tmp_path / 'run.pth', tmp_path / 'zoo.pth', False, {})
    assert not (tmp_path / 'zoo.pth').exists()
