# FCMAE pre-training of ConvNeXt V2-Atto on the unlabelled pool of the bundled shapes (scenes
# rendered on the fly by mmconvnextv2.ShapesClsDataset, split 'pool', disjoint from the labelled
# 'train' and 'val' scenes) at 96x96: a 3x3 grid of 32x32 patches, 6 of 9 removed. CPU, fp32.
# The encoder exported from it starts configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py.
_base_ = '../_base_/fcmae_in1k.py'

img_size = 96
num_pool = 20000
model = dict(backbone=dict(arch='atto'), neck=dict(in_channels=320))

# Crops keep at least 40 % of a scene: smaller ones would often lose the main shape.
train_pipeline = [
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.4, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=1,
    pin_memory=False,
    dataset=dict(_delete_=True, type='mmconvnextv2.ShapesClsDataset', split='pool',
                 num_scenes=num_pool, size=img_size, with_label=False, pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=8)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True))
auto_scale_lr = dict(base_batch_size=64)
randomness = dict(seed=0, diff_rank_seed=True)
