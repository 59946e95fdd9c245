# ConvNeXt V2-Atto on ImageNet-1K at 224x224 (evaluation of converted or trained weights).
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.1),
    head=dict(in_channels=320, loss=dict(label_smooth_val=0.2)))
train_dataloader = dict(batch_size=32)
