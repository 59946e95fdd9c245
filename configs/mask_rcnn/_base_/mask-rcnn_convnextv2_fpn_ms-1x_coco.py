# Mask R-CNN + FPN on COCO with a ConvNeXt V2 backbone: the parts every size shares.
# mmdet's model, data, schedule and runtime, with the paper's detection optimiser (AdamW lr 1e-4,
# weight decay 0.05, layer-wise lr decay), soft-NMS at test, standard multi-scale training and the
# 1x schedule (12 epochs). Per-size configs set the arch, drop path, FPN inputs and checkpoint.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmconvnextv2.models', 'mmconvnextv2.engine'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmconvnextv2.ConvNeXtV2',
        arch='tiny',
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        # The IN-1K fine-tuned weights (FCMAE pre-trained) in any layout the converters read: the
        # official convnextv2_<size>_1k_224_ema.pt as downloaded, timm, HF or ours; an FCMAE
        # checkpoint works too. Converted while loading; a checkpoint of another size is an error.
        init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                      checkpoint='checkpoints/convnextv2-tiny_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]),
    # Soft-NMS at test, as in the paper.
    test_cfg=dict(rcnn=dict(nms=dict(type='soft_nms', iou_threshold=0.5))))

# Standard multi-scale training: shorter side 640-800, longer side at most 1333.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
# mmdet's CocoDataset that first checks the annotation file and names what is wrong with it.
train_dataloader = dict(dataset=dict(type='mmconvnextv2.CocoDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='mmconvnextv2.CocoDataset'))
test_dataloader = val_dataloader

# Layer-wise lr decay: 'single' gives each block its own id (scale 0.9 ** (L - id - 1)); the
# necks and heads learn at the full rate. No weight decay on GRN, norms and biases.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))

# Checkpoints are written whole or not at all, with the random generators' states, so a killed
# run resumes (--resume) where it stopped.
default_hooks = dict(checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook'))
custom_hooks = [dict(type='mmconvnextv2.RandomStateHook')]
