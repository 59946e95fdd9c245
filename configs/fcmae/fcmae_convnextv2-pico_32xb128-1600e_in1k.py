# FCMAE pre-training of ConvNeXt V2-Pico, 1600 epochs, total batch 4096.
_base_ = '../_base_/fcmae_in1k_1600e.py'

model = dict(backbone=dict(arch='pico'), neck=dict(in_channels=512))
