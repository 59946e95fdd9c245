# ConvNeXt V2-Tiny: FCMAE encoder fine-tuned on ImageNet-22K, 224x224 (intermediate stage).
_base_ = '../_base_/convnextv2_fcmae-ft_in22k.py'

model = dict(backbone=dict(arch='tiny', drop_path_rate=0.2), head=dict(in_channels=768))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
