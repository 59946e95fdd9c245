# ConvNeXt V2-Atto trained from scratch on the bundled synthetic shapes, rendered on the fly
# (mmconvnextv2.ShapesClsDataset): label = the class of the scene's main shape, 6 classes, 96x96.
# A plain recipe (AdamW, light crops and flips, label smoothing): the baseline that
# convnextv2-atto_fcmae-ft_shapes.py (the paper's fine-tuning recipe) is compared with.
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    'mmpretrain::_base_/default_runtime.py',
]

num_classes = 6
img_size = 96
num_train = 3000
num_val = 600

model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.0),
    head=dict(num_classes=num_classes, in_channels=320, topk=(1, ),
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1)))

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# Scenes arrive decoded (BGR, as from a file), so the pipelines start after loading.
train_pipeline = [
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.6, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
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
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='mmconvnextv2.ShapesClsDataset', split='train', num_scenes=num_train,
                 size=img_size, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='mmconvnextv2.ShapesClsDataset', split='val', num_scenes=num_val,
                 size=img_size, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# No weight decay on GRN gamma/beta (official issue #15), biases and norms.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.grn.gamma': dict(decay_mult=0.0), '.grn.beta': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='mmconvnextv2.RandomStateHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook', interval=10, max_keep_ckpts=1,
                    save_last=True))
randomness = dict(seed=0)
