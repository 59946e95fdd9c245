# ConvNeXt V2-Base trained from scratch on ImageNet-1K, 224x224 (paper, supervised: 84.3).
_base_ = '../_base_/convnextv2_scratch_in1k.py'

model = dict(
    backbone=dict(arch='base', drop_path_rate=0.5),
    head=dict(in_channels=1024))
