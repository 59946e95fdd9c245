# FCMAE pre-training of ConvNeXt V2-Nano, 800 epochs, total batch 4096.
_base_ = '../_base_/fcmae_in1k.py'

model = dict(backbone=dict(arch='nano'), neck=dict(in_channels=640))
