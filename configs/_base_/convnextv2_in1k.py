# ConvNeXt V2 classifier on ImageNet-1K at 224x224: our model with mmpretrain's data pipeline,
# AdamW schedule and runtime. Per-size configs set the arch, drop path and head width.
_base_ = [
    './models/convnextv2_classifier.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=32)
