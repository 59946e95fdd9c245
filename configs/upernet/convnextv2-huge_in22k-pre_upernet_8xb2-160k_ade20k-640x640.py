# ConvNeXt V2-Huge (FCMAE pre-trained, IN-22K then IN-1K fine-tuned at 512) + UperNet on ADE20K
# 640x640, 160k iterations, batch 16 (8 GPUs x 2). Paper (multi-scale): 57.0 mIoU.
_base_ = './convnextv2-huge_upernet_8xb2-160k_ade20k-512x512.py'

crop_size = (640, 640)
# mmseg's ADE20K pipeline at 640 (its ade20k_640x640.py), with the multi-scale test around 2560x640.
test_scale = (2560, 640)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=test_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                     keep_ratio=True) for r in [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
            ],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ]),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=dict(checkpoint='checkpoints/convnextv2-huge_in22k-pre_in1k-512px.pth')),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)))
