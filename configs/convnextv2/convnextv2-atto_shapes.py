# ConvNeXt V2-Atto trained from scratch on the bundled synthetic shapes (tools/generate_shapes.py):
# label = the dominant shape of a scene. Images are resized to 64x64 to keep CPU runs short.
# From scratch, lr 1e-3 and above stalls at chance on these 1200 scenes; 2e-4 learns.
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    'mmpretrain::_base_/default_runtime.py',
]

data_root = 'data/shapes/cls'
num_classes = 6
img_size = 64

model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.0),
    head=dict(num_classes=num_classes, in_channels=320, topk=(1, ),
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1)))

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='mmconvnextv2.LoadImageFromFileChecked'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# mmpretrain's inferencer drops a test pipeline's LoadImageFromFile (by name) to feed arrays;
# unreadable test images still stop the run, with mmcv's message.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# No weight decay on GRN gamma/beta (official issue #15), biases and norms.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.grn.gamma': dict(decay_mult=0.0), '.grn.beta': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='mmconvnextv2.RandomStateHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook', interval=10, max_keep_ckpts=1,
                    save_last=True))
randomness = dict(seed=0)
