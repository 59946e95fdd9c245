# ImageNet-1K at 512x512: the 224 augmentation with 512 crops. From 384 on, the official
# evaluation warps the whole image to the input size (bicubic) instead of cropping.
_base_ = './imagenet_bs32_convnextv2_224.py'

img_size = 512
train_pipeline = [
    dict(step, scale=img_size) if step.type == 'RandomResizedCrop' else step
    for step in _base_.train_pipeline
]
# mmpretrain's inferencer drops a test pipeline's LoadImageFromFile (by name) to feed arrays;
# unreadable test images still stop the run, with mmcv's message.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
