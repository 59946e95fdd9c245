# The paper's COCO recipe for ConvNeXt V2 base/large/huge on top of the shared base: large-scale
# jitter at 1024 (scale 0.1-2.0, crop and pad to 1024x1024), batch 32 (16 GPUs x 2 images),
# the 3x schedule, and the official 12-group layer-wise lr decay of the big models.
_base_ = './mask-rcnn_convnextv2_fpn_ms-3x_coco.py'

image_size = (1024, 1024)
model = dict(data_preprocessor=dict(
    # Every batch padded to 1024x1024, masks included.
    batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_mode='group'))

auto_scale_lr = dict(base_batch_size=32)
