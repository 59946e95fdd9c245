# ConvNeXt V2-Atto trained from scratch on ImageNet-1K, 224x224 (paper, supervised: 76.2).
_base_ = '../_base_/convnextv2_scratch_in1k.py'

model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.1),
    head=dict(in_channels=320))
