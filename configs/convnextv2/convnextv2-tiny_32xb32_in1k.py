# ConvNeXt V2-Tiny: FCMAE encoder fine-tuned on ImageNet-1K, 224x224 (paper: 83.0 top-1).
_base_ = '../_base_/convnextv2_fcmae-ft_in1k.py'

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.2),
    head=dict(in_channels=768))

base_lr = 8e-4 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
param_scheduler = [
    dict(type='mmconvnextv2.LinearWarmupLR', start_factor=0.0, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / base_lr, by_epoch=True, begin=40,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
