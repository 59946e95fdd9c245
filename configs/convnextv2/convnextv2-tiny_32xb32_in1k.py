# ConvNeXt V2-Tiny on ImageNet-1K at 224x224 (evaluation of converted or trained weights).
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.2),
    head=dict(in_channels=768, loss=dict(label_smooth_val=0.1)))
train_dataloader = dict(batch_size=32)
