# ConvNeXt V2-Pico: FCMAE encoder fine-tuned on ImageNet-1K, 224x224 (paper: 80.3 top-1).
_base_ = '../_base_/convnextv2_fcmae-ft_in1k.py'

model = dict(
    backbone=dict(arch='pico', drop_path_rate=0.0),
    head=dict(in_channels=512, loss=dict(label_smooth_val=0.2)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.3), dict(type='CutMix', alpha=0.3)]))

base_lr = 2e-4 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr, weight_decay=0.3),
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / base_lr, by_epoch=True, begin=0,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=600)
