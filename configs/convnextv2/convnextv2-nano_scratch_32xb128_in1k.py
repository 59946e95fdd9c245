# ConvNeXt V2-Nano trained from scratch on ImageNet-1K, 224x224 (paper, supervised: 81.2).
_base_ = '../_base_/convnextv2_scratch_in1k.py'

model = dict(
    backbone=dict(arch='nano', drop_path_rate=0.1),
    head=dict(in_channels=640))
