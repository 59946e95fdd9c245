# FCMAE pre-training of ConvNeXt V2-Tiny, 1600 epochs, total batch 4096.
_base_ = '../_base_/fcmae_in1k_1600e.py'

model = dict(backbone=dict(arch='tiny'), neck=dict(in_channels=768))
