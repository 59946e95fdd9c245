# ConvNeXt V2-Base: FCMAE encoder fine-tuned on ImageNet-22K, 224x224 (intermediate stage).
_base_ = '../_base_/convnextv2_fcmae-ft_in22k.py'

model = dict(backbone=dict(arch='base', drop_path_rate=0.1), head=dict(in_channels=1024))
