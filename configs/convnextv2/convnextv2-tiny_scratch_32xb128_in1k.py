# ConvNeXt V2-Tiny trained from scratch on ImageNet-1K, 224x224 (paper, supervised: 82.5).
_base_ = '../_base_/convnextv2_scratch_in1k.py'

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.1),
    head=dict(in_channels=768))
