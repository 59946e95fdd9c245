# The FCMAE fine-tuning recipe of convnextv2-atto_32xb32_in1k.py (layer decay, EMA, label
# smoothing, RandAugment, random erasing) plus mixup/cutmix, on the bundled shapes
# (tools/generate_shapes.py) at 64x64 on the CPU. Start from the last checkpoint of an FCMAE
# run of configs/fcmae/fcmae_convnextv2-atto_shapes.py, as it is:
#   --cfg-options model.backbone.init_cfg.checkpoint=FCMAE_WORK_DIR/epoch_8.pth
# Changed for 1200 scenes and 30 epochs: lr 2e-4 at batch 32 (the lr that learns on these
# scenes), weight decay 0.05, 2 warm-up epochs, EMA decay 0.99 (0.9999 would average over ten
# times the whole run), mixup/cutmix 0.3 (the femto/pico value), crops of at least half the image
# (the label is the dominant shape).
_base_ = 'mmconvnextv2::convnextv2/convnextv2-atto_32xb32_in1k.py'

data_root = 'data/shapes/cls'
num_classes = 6
img_size = 64

model = dict(
    head=dict(num_classes=num_classes),
    train_cfg=dict(
        _delete_=True,  # the atto recipe has none
        augments=[dict(type='Mixup', alpha=0.3), dict(type='CutMix', alpha=0.3)]))
data_preprocessor = dict(num_classes=num_classes)

train_pipeline = [
    dict(step, scale=img_size, crop_ratio_range=(0.5, 1.0))
    if step.type == 'RandomResizedCrop' else step for step in _base_.train_pipeline
]
# mmpretrain's inferencer drops a test pipeline's LoadImageFromFile (by name) to feed arrays;
# unreadable test images still stop the run, with mmcv's message.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

base_lr = 2e-4
optim_wrapper = dict(optimizer=dict(lr=base_lr, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / base_lr, by_epoch=True, begin=2,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=10)

custom_hooks = [
    dict(type='mmpretrain.EMAHook', momentum=0.01, priority='ABOVE_NORMAL'),
    dict(type='mmconvnextv2.RandomStateHook'),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook', interval=10, max_keep_ckpts=1,
                    save_last=True))
auto_scale_lr = dict(base_batch_size=32)
randomness = dict(seed=0)
