# UperNet with an auxiliary FCN head and a ConvNeXt V2 backbone on ADE20K at 512x512, the paper's
# segmentation setup: mmseg's UperNet, ADE20K pipeline, runtime and 160k-iteration schedule, batch
# 16 (8 GPUs x 2), AdamW with layer-wise lr decay, backbone initialised from the IN-1K fine-tuned
# classifier. The per-size configs set the arch, the head widths, drop path, lr, layer decay and
# the checkpoint; this file alone is not a complete config.
_base_ = [
    'mmseg::_base_/models/upernet_convnext.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(
    imports=['mmconvnextv2.models', 'mmconvnextv2.engine', 'mmconvnextv2.datasets'],
    allow_failed_imports=False)

crop_size = (512, 512)
num_classes = 150
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # mmseg's base uses mmpretrain's ConvNeXt (LayerScale, other keys): replace it entirely.
    backbone=dict(
        _delete_=True,
        type='mmconvnextv2.ConvNeXtV2',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        # The IN-1K fine-tuned classifier in any layout the converters read (the official
        # convnextv2_<size>_1k_224_ema.pt as downloaded, timm, HF or ours), converted while
        # loading, its head left out; the per-size configs name the file.
        init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained', checkpoint=None)),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes),
    # Single-scale test: the 2048x512-resized image in overlapping 512x512 windows.
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
# aAcc, mIoU and mAcc.
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# Multi-scale + flip test (mmseg's `tools/test.py --tta`, or the `*_ms-flip.py` configs): the
# scales are ratios of the single-scale 2048x512, as in the paper's multi-scale numbers (mmseg's
# own tta_pipeline scales the original image instead).
test_scale = (2048, 512)
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                     keep_ratio=True) for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ]),
]

# GRN, norms and biases get no weight decay (official issue #15); the per-size configs set lr,
# layer_decay_rate and layer_decay_mode.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]

# Checkpoints are written whole or not at all, with the random generators' states, so a killed
# run resumes (--resume) where it stopped.
default_hooks = dict(checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook'))
custom_hooks = [dict(type='mmconvnextv2.RandomStateHook')]
