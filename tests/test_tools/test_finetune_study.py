"""Parts of tools/analysis/finetune_study.py (its --smoke run trains nine models: not a test)."""
import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / 'tools' / 'analysis' / 'finetune_study.py'
# ConvNeXt V2-Atto: 0.547 G multiply-adds at 224x224 (paper: 0.55 G); every feature map of a
# 64x64 image is (64 / 224) ** 2 as large (the 6-class head is negligible).
ATTO_MACS_64 = 0.5473e9 * (64 / 224)**2


@pytest.fixture(scope='module')
def study() -> ModuleType:
    spec = importlib.util.spec_from_file_location('finetune_study', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def args() -> argparse.Namespace:
    return argparse.Namespace(smoke=True, pretrain_epochs=None, finetune_epochs=None)


def test_scratch_config_stretches_the_schedule_and_drops_the_checkpoint(study, args, tmp_path):
    cfg = study.finetune_config(args, str(tmp_path), seed=3, work_dir=str(tmp_path), epochs=64,
                                checkpoint=None)
    assert cfg.train_cfg.max_epochs == 64 and cfg.train_cfg.val_interval == 64
    assert cfg.model.backbone.init_cfg is None and cfg.randomness.seed == 3
    assert cfg.train_dataloader.dataset.data_root == str(tmp_path / 'cls')
    # The cosine part has no end: it follows max_epochs.
    assert [s.get('end') for s in cfg.param_scheduler] == [2, None]


def test_pretrain_config_stretches_its_explicit_schedule(study, tmp_path):
    args = argparse.Namespace(smoke=False, pretrain_epochs=20, finetune_epochs=None)
    cfg = study.pretrain_config(args, str(tmp_path), seed=1, work_dir=str(tmp_path))
    cosine = cfg.param_scheduler[1]
    assert cfg.train_cfg.max_epochs == 20 and cosine.end == 20 and 'T_max' not in cosine


def test_training_flops_are_three_forward_passes(study, args, tmp_path):
    cfg = study.finetune_config(args, str(tmp_path), seed=0, work_dir=str(tmp_path), epochs=3,
                                checkpoint=None)
    # 2 FLOPs per multiply-add, 3 passes.
    assert study.train_flops_per_image(cfg) == pytest.approx(3 * 2 * ATTO_MACS_64, rel=0.01)


def test_table_reports_mean_and_sample_std(study):
    fcmae = study.Arm('FCMAE', 8, 30, flops=2e9, top1={0: 60.0, 1: 70.0, 2: 70.0})
    scratch = study.Arm('scratch', 0, 64, flops=1e9, top1={0: 50.0, 1: 50.0, 2: 56.0})
    text = study.table([fcmae, scratch], [0, 1, 2], 'python tools/analysis/finetune_study.py',
                       num_train=1000)
    # 60, 70, 70: mean 66.67, sample std 5.77; 50, 50, 56: mean 52.0, std 3.46.
    assert '| FCMAE | 8 + 30 | 2 | 60.0 / 70.0 / 70.0 | 66.7 ± 5.8 |' in text
    assert '| scratch | 0 + 64 | 1 | 50.0 / 50.0 / 56.0 | 52.0 ± 3.5 |' in text
    assert 'FCMAE minus scratch: +14.7 points' in text


def test_too_few_epochs_for_the_schedule_are_refused(study, tmp_path):
    args = argparse.Namespace(smoke=False, pretrain_epochs=1, finetune_epochs=None)
    # The cosine part begins after the first (warm-up) epoch.
    with pytest.raises(ValueError, match='at least 2'):
        study.pretrain_config(args, str(tmp_path), seed=1, work_dir=str(tmp_path))
