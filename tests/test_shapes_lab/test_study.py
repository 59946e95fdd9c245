"""The label-efficiency study (shapes_lab.study): configs, probe, table, resuming.

Its real runs train dozens of models (tools/analysis/finetune_study.py): not a test.
"""
import json

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from shapes_lab import study


def test_config_trains_the_budget_on_the_first_scenes(tmp_path):
    run = study.StudyRun('fcmae_v2', num_train=60, seed=3)
    encoder = str(tmp_path / 'enc.pth')
    open(encoder, 'wb').close()  # the config only names it
    cfg = study.finetune_config(run, encoder, iters=300, work_dir=str(tmp_path), num_val=50)
    # drop_last: 60 scenes are 1 batch of 32 per epoch, so 300 steps take 300 epochs.
    assert cfg.train_dataloader.dataset.num_scenes == 60
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.train_dataloader.batch_size == 32 and cfg.train_cfg.max_epochs == 300
    assert cfg.test_dataloader.dataset.num_scenes == 50 and cfg.val_dataloader is None
    assert cfg.model.backbone.init_cfg.checkpoint == encoder and cfg.randomness.seed == 3
    # A budget below one batch trains on smaller batches of all its scenes.
    small = study.finetune_config(study.StudyRun('scratch', 12), None, 30, str(tmp_path))
    assert small.train_dataloader.batch_size == 12 and small.train_cfg.max_epochs == 30
    assert small.model.backbone.init_cfg is None
    # The V1-style encoder: its own blocks, loaded as our checkpoint.
    v1 = study.finetune_config(study.StudyRun('fcmae_v1', 60), 'v1.pth', 30, str(tmp_path))
    assert v1.model.backbone.use_grn is False and v1.model.backbone.layer_scale_init_value == 1e-6
    assert v1.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='v1.pth',
                                              prefix='backbone.')


def test_the_plain_scratch_arm_trains_the_plain_recipe(tmp_path):
    run = study.StudyRun('scratch_plain', num_train=300, seed=1)
    cfg = study.finetune_config(run, None, iters=300, work_dir=str(tmp_path), num_val=50)
    paper = study.finetune_config(study.StudyRun('scratch', 300, 1), None, 300, str(tmp_path), 50)
    # The plain recipe: crops and flips only, no mixup/cutmix; the same steps (34 epochs of 9).
    assert [step['type'] for step in cfg.train_dataloader.dataset.pipeline] == [
        'RandomResizedCrop', 'RandomFlip', 'PackInputs']
    assert cfg.model.get('train_cfg') is None and paper.model.train_cfg.augments
    assert cfg.train_cfg.max_epochs == paper.train_cfg.max_epochs == 34
    # 34 epochs of 9 steps for both: the 12 scenes left over are dropped, not a tenth batch.
    loader = Runner.build_dataloader(cfg.train_dataloader)
    assert len(loader) == len(Runner.build_dataloader(paper.train_dataloader)) == 9
    assert cfg.model.backbone.init_cfg is None and cfg.randomness.seed == 1


def test_the_low_lr_arms_differ_from_the_plain_ones_only_in_lr(tmp_path):
    encoder = str(tmp_path / 'enc.pth')
    open(encoder, 'wb').close()  # the config only names it

    def without_scope(item):
        # Reading a config through a base tags the base's dicts with the scope they were read in.
        if isinstance(item, dict):
            return {k: without_scope(v) for k, v in item.items() if k != '_scope_'}
        if isinstance(item, (list, tuple)):
            return type(item)(without_scope(v) for v in item)
        return item

    def config(arm: str) -> dict:
        cfg = study.finetune_config(study.StudyRun(arm, 60, 2), encoder, 300, str(tmp_path))
        return without_scope(cfg.to_dict())

    low, plain = config('fcmae_v2_lr3e-4'), config('fcmae_v2_plain')
    assert low['optim_wrapper']['optimizer']['lr'] == 3e-4
    assert plain['optim_wrapper']['optimizer']['lr'] == 1e-3
    low['optim_wrapper']['optimizer']['lr'] = 1e-3
    assert low == plain


def test_ridge_probe_equals_the_least_squares_solution():
    rng = np.random.default_rng(0)
    train, val = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    train_labels, val_labels = rng.integers(6, size=40), rng.integers(6, size=30)
    top1 = study.ridge_probe(torch.from_numpy(train), torch.from_numpy(train_labels),
                             torch.from_numpy(val), torch.from_numpy(val_labels))
    # The same ridge regression as an augmented least-squares problem, solved by numpy.
    mean, std = train.mean(0), train.std(0, ddof=1) + 1e-6
    x = np.hstack([(train - mean) / std, np.ones((40, 1))])
    penalty = np.sqrt(study.PROBE_RIDGE * (x ** 2).sum(1).mean())
    weights = np.linalg.lstsq(np.vstack([x, penalty * np.eye(6)]),
                              np.vstack([np.eye(6)[train_labels], np.zeros((6, 6))]),
                              rcond=None)[0]
    scores = np.hstack([(val - mean) / std, np.ones((30, 1))]) @ weights
    assert top1 == pytest.approx(100 * np.mean(scores.argmax(1) == val_labels))


def test_table_reports_mean_and_sample_std_per_budget():
    results = [dict(arm='scratch', num_train=60, seed=s, probe=False, top1=v)
               for s, v in enumerate((50.0, 50.0, 56.0))]
    results += [dict(arm='fcmae_v2', num_train=60, seed=s, probe=False, top1=v)
                for s, v in enumerate((60.0, 70.0, 70.0))]
    results.append(dict(arm='random', num_train=300, seed=0, probe=True, top1=30.0))
    text = study.table(results)
    # 50, 50, 56: mean 52.0, sample std 3.46; 60, 70, 70: mean 66.67, std 5.77.
    assert '| from scratch, fine-tuning recipe | 52.0 ± 3.5 (3) | – |' in text
    assert '| FCMAE V2 (GRN), fine-tuning recipe | 66.7 ± 5.8 (3) | – |' in text
    assert '| random init, linear probe | – | 30.0 ± 0.0 (1) |' in text


def test_finished_runs_are_kept_and_collected(tmp_path, monkeypatch):
    done = study.StudyRun('scratch', 60, 0)
    (tmp_path / done.name).mkdir(parents=True)
    (tmp_path / done.name / 'result.json').write_text(json.dumps(
        dict(arm='scratch', num_train=60, seed=0, probe=False, top1=40.0)))
    trained = []
    monkeypatch.setattr(study, 'finetune', lambda run, *args: trained.append(run) or 45.0)
    todo = study.StudyRun('scratch', 60, 1)
    study.run_study([done, todo], {}, iters=1, work_dir=str(tmp_path), num_val=5)
    assert trained == [todo]
    assert sorted(r['top1'] for r in study.collect(str(tmp_path))) == [40.0, 45.0]


def test_only_the_random_probe_runs_per_seed():
    runs = study.probe_runs(['fcmae_v2', 'random'], [60, 300], [4, 5, 6])
    assert {(r.arm, r.num_train, r.seed) for r in runs} == {
        ('fcmae_v2', 60, 4), ('fcmae_v2', 300, 4),
        *(('random', n, seed) for n in (60, 300) for seed in (4, 5, 6))}
    assert all(r.probe for r in runs) and len(runs) == 8


def test_a_pretrained_encoders_probe_does_not_depend_on_the_seed(tmp_path):
    # Why probe_runs runs it once: the same top-1 and the same ridge inputs for any seed.
    from mmconvnextv2.models import ConvNeXtV2
    torch.manual_seed(0)
    encoder = str(tmp_path / 'encoder.pth')
    backbone = ConvNeXtV2(arch='atto', gap_before_final_norm=False, with_out_norms=False)
    backbone.init_weights()
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in backbone.state_dict().items()}),
               encoder)
    features = []
    real = study.pooled_features

    def recording(model, dataset, batch_size=100):
        features.append(real(model, dataset, batch_size))
        return features[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(study, 'pooled_features', recording)
        top1 = [study.probe(study.StudyRun('fcmae_v2', 12, seed, probe=True), encoder, 12)
                for seed in (0, 7)]
        study.probe(study.StudyRun('random', 12, 7, probe=True), None, 12)
    assert top1[0] == top1[1]
    assert torch.equal(features[0], features[2]) and torch.equal(features[1], features[3])
    # Random weights are drawn from the seed: other features than the seed-0 encoder's.
    assert not torch.allclose(features[4], features[0])


@pytest.mark.parametrize('network', study.ENCODERS)
def test_each_encoder_is_checked_against_the_blocks_of_its_network(tmp_path, network):
    from mmconvnextv2.models import ConvNeXtV2
    blocks = study.BACKBONE_OVERRIDES.get(network, {})
    paths = {}
    for name in study.ENCODERS:
        backbone = ConvNeXtV2(arch='atto', with_out_norms=False,
                              **study.BACKBONE_OVERRIDES.get(name, {}))
        paths[name] = str(tmp_path / f'{name}.pth')
        torch.save(dict(state_dict={f'backbone.{k}': v
                                    for k, v in backbone.state_dict().items()}), paths[name])
    study.check_encoder_blocks(network, paths[network])
    for other in set(study.ENCODERS) - {network}:
        with pytest.raises(ValueError, match=f'is not a {network} encoder'):
            study.check_encoder_blocks(network, paths[other])
    # The fine-tuning builds the network of those blocks and loads the encoder as ours.
    cfg = study.finetune_config(study.StudyRun(f'{network}_lr3e-4', 60), paths[network], 30,
                                str(tmp_path))
    assert {k: cfg.model.backbone[k] for k in blocks} == blocks
    if blocks:
        assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    torch.save(dict(state_dict={'head.fc.weight': torch.zeros(1)}), tmp_path / 'head.pth')
    with pytest.raises(ValueError, match='no backbone.stages'):
        study.check_encoder_blocks(network, str(tmp_path / 'head.pth'))
