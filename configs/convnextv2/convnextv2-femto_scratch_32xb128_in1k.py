# ConvNeXt V2-Femto trained from scratch on ImageNet-1K, 224x224 (paper, supervised: 78.0).
_base_ = '../_base_/convnextv2_scratch_in1k.py'

model = dict(
    backbone=dict(arch='femto', drop_path_rate=0.0),
    head=dict(in_channels=384))
