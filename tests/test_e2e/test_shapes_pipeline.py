"""FCMAE pre-training -> resume -> encoder export -> classifier fine-tuning -> test -> inference,
through the same runners as tools/train.py, on a few shapes scenes rendered on the fly."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine import load
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

from mmconvnextv2.converters import export_fcmae_encoder
from mmconvnextv2.datasets import draw_dataset_scene
from mmconvnextv2.utils import build_runner, load_config, load_weights_only

pytestmark = pytest.mark.slow  # starts real training runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
CLASSIFIER_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_shapes.py')
NUM_TEST = 6  # the classifier's test scenes: the first of its val split


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

    predictions = str(tmp_path / 'predictions.pkl')
    options = {
        'train_cfg.max_epochs': 3,  # past the 2-epoch warm-up of the schedule
        'train_cfg.val_interval': 3,
        'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=encoder,
                                        prefix='backbone.'),
        # The runner's own per-scene scores and labels beside its top-1.
        'test_evaluator': [dict(type='Accuracy', topk=(1, )),
                           dict(type='DumpResults', out_file_path=predictions)],
    }
    for split, num_scenes in (('train', 12), ('val', NUM_TEST), ('test', NUM_TEST)):
        options.update({f'{split}_dataloader.dataset.num_scenes': num_scenes,
                        f'{split}_dataloader.batch_size': 4,
                        f'{split}_dataloader.num_workers': 0,
                        f'{split}_dataloader.persistent_workers': False})
    cls_dir = str(tmp_path / 'cls')
    classifier = build_runner(load_config(CLASSIFIER_CONFIG, cls_dir, options))
    classifier.train()
    metrics = classifier.test()

    # A second route: the saved checkpoint's model on the test scenes as drawn, normalised by
    # hand, against each scene's main shape.
    checkpoint = osp.join(cls_dir, 'epoch_3.pth')
    scenes = [draw_dataset_scene(0, 'val', i, 96) for i in range(NUM_TEST)]
    scores = scene_scores(checkpoint, [scene.image for scene in scenes])
    labels = torch.tensor([scene.label for scene in scenes])
    correct = (scores.argmax(dim=1) == labels).sum().item()
    assert metrics['accuracy/top1'] == pytest.approx(100.0 * correct / NUM_TEST, abs=1e-4)
    dumped = sorted(load(predictions), key=lambda sample: sample['sample_idx'])
    assert [int(sample['gt_label']) for sample in dumped] == labels.tolist()
    torch.testing.assert_close(torch.stack([sample['pred_score'] for sample in dumped]), scores,
                               atol=1e-5, rtol=0)

    from mmpretrain import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(CLASSIFIER_CONFIG, pretrained=checkpoint,
                                               device='cpu')
    image = str(tmp_path / 'scene.png')  # a user's image file: test scene 0
    Image.fromarray(scenes[0].image).save(image)
    prediction = inferencer(image)[0]
    torch.testing.assert_close(torch.as_tensor(prediction['pred_scores']), scores[0],
                               atol=1e-5, rtol=0)
    assert prediction['pred_label'] == scores[0].argmax().item()


def scene_scores(checkpoint: str, images: list[np.ndarray]) -> torch.Tensor:
    """Class probabilities (N, classes) of the classifier config with ``checkpoint``'s weights
    for RGB images at the config's size: normalised here, no data pipeline."""
    cfg = Config.fromfile(CLASSIFIER_CONFIG)
    model = MODELS.build(cfg.model)
    model.load_state_dict(load_weights_only(checkpoint)['state_dict'])
    rgb = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    mean, std = (torch.tensor(cfg.data_preprocessor[key]).view(1, 3, 1, 1)
                 for key in ('mean', 'std'))
    with torch.no_grad():
        return model.eval()((rgb - mean) / std, mode='tensor').softmax(dim=1)
