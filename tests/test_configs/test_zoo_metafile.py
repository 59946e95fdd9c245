"""The model zoo of the bundled data: every file is committed, named by a metafile entry with its
provenance, matches its sha256, stays within the size limits and loads into its config's model."""
import os.path as osp
import re

import pytest
import torch
import yaml

from mmconvnextv2.converters.zoo import ZOO_MAX_BYTES, file_sha256
from mmconvnextv2.utils import load_weights_only

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METAFILE = 'zoo/metafile.yml'
ZOO_TOTAL_MAX_BYTES = 60_000_000  # 60 MB, decimal


def zoo_models() -> list[dict]:
    with open(osp.join(REPO, METAFILE)) as f:
        return yaml.safe_load(f)['Models']


def test_model_index_imports_the_zoo_and_every_file_is_listed():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        assert METAFILE in yaml.safe_load(f)['Import']
    listed = {model['Weights'] for model in zoo_models()}
    on_disk = {osp.join('zoo', name) for name in __import__('os').listdir(osp.join(REPO, 'zoo'))
               if name.endswith('.pth')}
    assert listed == on_disk
    assert sum(osp.getsize(osp.join(REPO, path)) for path in listed) <= ZOO_TOTAL_MAX_BYTES


@pytest.mark.parametrize('model', zoo_models(), ids=lambda model: model['Name'])
def test_entry_has_provenance_and_its_file_matches(model):
    weights = osp.join(REPO, model['Weights'])
    assert osp.isfile(osp.join(REPO, model['Config']))
    meta = model['Metadata']
    assert re.fullmatch(r'[0-9a-f]{40}', meta['Commit'])
    assert meta['Training Command'].startswith(('python tools/', 'OMP_NUM_THREADS'))
    assert osp.getsize(weights) <= ZOO_MAX_BYTES
    assert file_sha256(weights) == meta['SHA256']
    for result in model['Results']:
        assert {'Task', 'Dataset', 'Metrics', 'Command'} <= set(result)
    saved = load_weights_only(weights)
    assert saved['meta']['commit'] == meta['Commit']
    assert all(value.dtype == torch.float16 for value in saved['state_dict'].values()
               if value.is_floating_point())
