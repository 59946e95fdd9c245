"""The Mask R-CNN configs initialise the backbone from an official checkpoint as downloaded: the
config's ``mmconvnextv2.ConvNeXtV2Pretrained`` converts it while loading (no separate convert
step), leaves the classifier head and the FCMAE decoder out, and refuses another size."""
import functools
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine import Config, DefaultScope

from mmconvnextv2.models import ConvNeXtV2

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_ms-1x_coco.py')
# Top-level modules of the official FCMAE model besides the encoder.
FCMAE_DECODER = {'decoder.0.dwconv.weight': (512, 1, 7, 7), 'mask_token': (1, 512, 1, 1),
                 'proj.weight': (512, 320, 1, 1), 'pred.weight': (3072, 512, 1, 1)}


@functools.cache
def _config() -> Config:
    # Resolving the mmdet:: bases reads all of mmdet's metafiles: seconds per config.
    return Config.fromfile(CONFIG)


def random_backbone(arch: str, seed: int) -> dict[str, torch.Tensor]:
    """A backbone's tensors under the official names (which ours keep), all drawn at random."""
    generator = torch.Generator().manual_seed(seed)
    with torch.device('meta'):
        shapes = {k: v.shape for k, v in ConvNeXtV2(arch, out_indices=-1).state_dict().items()}
    return {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}


def save_official(backbone: dict[str, torch.Tensor], path: str, kind: str) -> None:
    """The release layout: ``{'model': ...}`` with GRN as (1, 1, 1, C); a fine-tuned classifier
    has ``norm`` and a 1000-class ``head``, an FCMAE model no ``norm`` but the decoder."""
    left_out = () if kind == 'finetuned' else ('norm.weight', 'norm.bias')
    model = {key: value.reshape(1, 1, 1, -1) if '.grn.' in key else value
             for key, value in backbone.items() if key not in left_out}
    if kind == 'finetuned':
        width = backbone['norm.weight'].shape[0]
        model.update({'head.weight': torch.randn(1000, width), 'head.bias': torch.randn(1000)})
    else:
        model.update({key: torch.randn(shape) for key, shape in FCMAE_DECODER.items()})
    torch.save({'model': model}, path)


def detector_from(checkpoint: str) -> torch.nn.Module:
    """The atto Mask R-CNN of the COCO config with ``checkpoint`` in its backbone's init_cfg."""
    cfg = _config().copy()
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        model.init_weights()
    return model


@pytest.mark.parametrize('kind', ['finetuned', 'fcmae'])
def test_official_checkpoint_initialises_the_backbone(tmp_path, kind):
    source = random_backbone('atto', seed=0)
    path = str(tmp_path / f'convnextv2_atto_1k_224_{"ema" if kind == "finetuned" else "fcmae"}.pt')
    save_official(source, path, kind)
    loaded = detector_from(path).backbone.state_dict()
    fresh = ['norm0', 'norm1', 'norm2'] + (['norm'] if kind == 'fcmae' else [])
    for key, value in source.items():
        if key.split('.')[0] not in fresh:
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
    # The output norms the checkpoint lacks keep their initialisation: identity norms.
    for name in fresh:
        assert torch.equal(loaded[f'{name}.weight'], torch.ones_like(loaded[f'{name}.weight']))
        assert torch.equal(loaded[f'{name}.bias'], torch.zeros_like(loaded[f'{name}.bias']))


def test_checkpoint_of_another_size_is_refused(tmp_path):
    path = str(tmp_path / 'convnextv2_femto_1k_224_ema.pt')
    save_official(random_backbone('femto', seed=1), path, 'finetuned')
    with pytest.raises(ValueError, match=r'holds ConvNeXt V2-femto .* the model is ConvNeXt '
                                         r'V2-atto'):
        detector_from(path)
