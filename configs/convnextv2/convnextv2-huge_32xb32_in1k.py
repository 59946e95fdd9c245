# ConvNeXt V2-Huge: FCMAE encoder fine-tuned on ImageNet-1K, 224x224 (paper: 86.3 top-1).
_base_ = '../_base_/convnextv2_fcmae-ft_in1k.py'

model = dict(
    backbone=dict(arch='huge', drop_path_rate=0.3),
    head=dict(in_channels=2816))

base_lr = 6.25e-4 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.75, layer_decay_mode='group'))
param_scheduler = [
    dict(type='mmconvnextv2.LinearWarmupLR', start_factor=0.0, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / base_lr, by_epoch=True, begin=10,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=50)
