# FCMAE pre-training of ConvNeXt V2-Atto on the bundled shapes (tools/generate_shapes.py), on CPU:
# 128x128 crops (a 4x4 patch grid), batch 32, fp32. The encoder exported from it starts
# configs/convnextv2/convnextv2-atto_shapes.py (see tools/model_converters/fcmae_to_backbone.py).
_base_ = '../_base_/fcmae_in1k.py'

data_root = 'data/shapes/cls'
model = dict(backbone=dict(arch='atto'), neck=dict(in_channels=320))

train_pipeline = [
    dict(type='mmconvnextv2.LoadImageFromFileChecked'),
    dict(type='RandomResizedCrop', scale=128, crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    pin_memory=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 with_label=False, pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=7, eta_min=1e-5, by_epoch=True, begin=1, end=8,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=8)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=4, max_keep_ckpts=1, save_last=True))
auto_scale_lr = dict(base_batch_size=32)
randomness = dict(seed=0, diff_rank_seed=True)
