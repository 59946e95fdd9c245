# The FCMAE fine-tuning recipe of convnextv2-atto_32xb32_in1k.py (layer decay, EMA, label
# smoothing, RandAugment, random erasing) plus mixup/cutmix, on the bundled shapes rendered on the
# fly (mmconvnextv2.ShapesClsDataset) at 96x96 on the CPU. Start from an FCMAE encoder of
# configs/fcmae/fcmae_convnextv2-atto_shapes.py (an FCMAE run's checkpoint or the zoo's encoder):
#   --cfg-options model.backbone.init_cfg.checkpoint=FCMAE_CHECKPOINT
# Changed for a few thousand scenes and tens of epochs: lr 1e-3 at batch 32, weight decay 0.05,
# 2 warm-up epochs, EMA decay 0.99 (0.9999 would average over more steps than the whole run),
# mixup/cutmix 0.3 (the femto/pico value), crops of at least 60 % of the scene (the label is the
# main shape). `num_train` scenes of the 'train' split; the study varies it.
_base_ = './convnextv2-atto_32xb32_in1k.py'

num_classes = 6
img_size = 96
num_train = 3000
num_val = 600

model = dict(
    head=dict(num_classes=num_classes, topk=(1, )),
    train_cfg=dict(
        _delete_=True,  # the atto recipe has none
        augments=[dict(type='Mixup', alpha=0.3), dict(type='CutMix', alpha=0.3)]))
data_preprocessor = dict(num_classes=num_classes)

# Scenes arrive decoded (BGR, as from a file): the recipe's pipeline without its loading step.
train_pipeline = [
    dict(step, scale=img_size, crop_ratio_range=(0.6, 1.0))
    if step.type == 'RandomResizedCrop' else step
    for step in _base_.train_pipeline if 'LoadImage' not in step.type
]
# The scenes are rendered at img_size; the resize is the step that tests at other sides rewrite
# (mmconvnextv2.MultiResolutionTestLoop).
test_pipeline = [
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(_delete_=True, type='mmconvnextv2.ShapesClsDataset', split='train',
                 num_scenes=num_train, size=img_size, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(_delete_=True, type='mmconvnextv2.ShapesClsDataset', split='val',
                 num_scenes=num_val, size=img_size, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

base_lr = 1e-3
optim_wrapper = dict(optimizer=dict(lr=base_lr, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / base_lr, by_epoch=True, begin=2,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=10)

custom_hooks = [
    dict(type='mmconvnextv2.OptimStepEMAHook', momentum=0.01, priority='ABOVE_NORMAL'),
    dict(type='mmconvnextv2.RandomStateHook'),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook', interval=10, max_keep_ckpts=1,
                    save_last=True))
auto_scale_lr = dict(base_batch_size=32)
randomness = dict(seed=0)
