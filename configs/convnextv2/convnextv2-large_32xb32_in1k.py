# ConvNeXt V2-Large: FCMAE encoder fine-tuned on ImageNet-1K, 224x224 (paper: 85.8 top-1).
_base_ = '../_base_/convnextv2_fcmae-ft_in1k.py'

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),
    head=dict(in_channels=1536))
