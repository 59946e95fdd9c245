# ConvNeXt V2-Base: FCMAE encoder fine-tuned on ImageNet-1K, 224x224 (paper: 84.9 top-1).
_base_ = '../_base_/convnextv2_fcmae-ft_in1k.py'

model = dict(
    backbone=dict(arch='base', drop_path_rate=0.1),
    head=dict(in_channels=1024))
