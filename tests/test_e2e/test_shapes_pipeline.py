"""FCMAE pre-training -> resume -> encoder export -> classifier fine-tuning -> test -> inference,
through the same runners as tools/train.py, on a few shapes scenes rendered on the fly."""
import os.path as osp

import pytest
import torch
from PIL import Image

from mmconvnextv2.apis import build_runner, load_config
from mmconvnextv2.converters import export_fcmae_encoder
from mmconvnextv2.datasets import SHAPE_CLASSES, draw_dataset_scene
from mmconvnextv2.utils import load_weights_only

pytestmark = pytest.mark.slow  # starts real training runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
CLASSIFIER_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_shapes.py')


def fcmae_runner(work_dir: str, epochs: int, resume: bool = False):
    return build_runner(load_config(FCMAE_CONFIG, work_dir, {
        'train_dataloader.dataset.num_scenes': 12,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_cfg.max_epochs': epochs,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 1,
        'resume': resume,
    }))


def test_pretrain_resume_export_finetune_test_infer(tmp_path):
    work_dir = str(tmp_path / 'fcmae')
    runner = fcmae_runner(work_dir, epochs=2)
    runner.train()
    assert runner.iter == 6  # 12 images, batch 4, 2 epochs
    first_losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert torch.isfinite(torch.as_tensor(first_losses)).all()

    resumed = fcmae_runner(work_dir, epochs=3, resume=True)
    resumed.train()
    assert resumed.epoch == 3 and resumed.iter == 9
    # The optimiser state came back: AdamW has step counts from the first run.
    state = resumed.optim_wrapper.optimizer.state_dict()['state']
    assert next(iter(state.values()))['step'] == 9

    encoder = str(tmp_path / 'encoder.pth')
    result = export_fcmae_encoder(osp.join(work_dir, 'epoch_3.pth'), encoder)
    assert result.arch == 'atto' and any(k.startswith('neck.') for k in result.dropped)
    exported = load_weights_only(encoder)['state_dict']
    for key, value in resumed.model.backbone.state_dict().items():
        torch.testing.assert_close(exported['backbone.' + key], value)

    options = {
        'train_cfg.max_epochs': 3,  # past the 2-epoch warm-up of the schedule
        'train_cfg.val_interval': 3,
        'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=encoder,
                                        prefix='backbone.'),
    }
    for split, num_scenes in (('train', 12), ('val', 6), ('test', 6)):
        options.update({f'{split}_dataloader.dataset.num_scenes': num_scenes,
                        f'{split}_dataloader.batch_size': 4,
                        f'{split}_dataloader.num_workers': 0,
                        f'{split}_dataloader.persistent_workers': False})
    cls_dir = str(tmp_path / 'cls')
    classifier = build_runner(load_config(CLASSIFIER_CONFIG, cls_dir, options))
    classifier.train()
    metrics = classifier.test()
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0

    from mmpretrain import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(CLASSIFIER_CONFIG,
                                               pretrained=osp.join(cls_dir, 'epoch_3.pth'),
                                               device='cpu')
    image = str(tmp_path / 'scene.png')  # a user's image file
    Image.fromarray(draw_dataset_scene(0, 'val', 0, 96).image).save(image)
    prediction = inferencer(image)[0]
    assert prediction['pred_scores'].shape == (len(SHAPE_CLASSES), )
    assert abs(float(prediction['pred_scores'].sum()) - 1.0) < 1e-4
