# ConvNeXt V2-Large trained from scratch on ImageNet-1K, 224x224 (paper, supervised: 84.5).
_base_ = '../_base_/convnextv2_scratch_in1k.py'

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.5),
    head=dict(in_channels=1536))
