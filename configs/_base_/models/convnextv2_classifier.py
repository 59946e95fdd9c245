# ConvNeXt V2 classifier: backbone -> GAP -> LayerNorm (backbone's `norm`) -> Linear head.
# Per-size configs set `arch`, `drop_path_rate` and the head's `in_channels`.
custom_imports = dict(imports=['mmconvnextv2.models', 'mmconvnextv2.engine'],
                      allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmconvnextv2.ConvNeXtV2',
        arch='tiny',
        drop_path_rate=0.0,
        gap_before_final_norm=True),
    head=dict(
        type='mmconvnextv2.ConvNeXtV2ClsHead',
        num_classes=1000,
        in_channels=768,
        head_init_scale=1.0,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1),
        topk=(1, 5)),
)
