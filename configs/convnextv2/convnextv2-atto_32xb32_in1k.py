# ConvNeXt V2-Atto: FCMAE encoder fine-tuned on ImageNet-1K, 224x224 (paper: 76.7 top-1).
_base_ = '../_base_/convnextv2_fcmae-ft_in1k.py'

model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.1),
    head=dict(in_channels=320, loss=dict(label_smooth_val=0.2)),
    train_cfg=None)  # no mixup or cutmix

base_lr = 2e-4 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr, weight_decay=0.3),
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / base_lr, by_epoch=True, begin=0,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=600)
