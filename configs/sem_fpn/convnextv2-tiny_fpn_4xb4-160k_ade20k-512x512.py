# ConvNeXt V2-Tiny (FCMAE pre-trained, IN-1K fine-tuned) in mmseg's Semantic FPN (FPN neck +
# FPNHead) on ADE20K 512x512, 160k iterations, batch 16 (4 GPUs x 4): the backbone reused in a
# second decode head. Optimiser and schedule as in the UperNet configs.
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(
    imports=['mmconvnextv2.models', 'mmconvnextv2.engine', 'mmconvnextv2.datasets'],
    allow_failed_imports=False)

model = dict(
    # mmseg's base loads ImageNet ResNet weights through `pretrained`; ours come by init_cfg.
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmconvnextv2.ConvNeXtV2',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.3,
        # Any layout the converters read (the official convnextv2_tiny_1k_224_ema.pt as it is).
        init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                      checkpoint='checkpoints/convnextv2-tiny_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

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
