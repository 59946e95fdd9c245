# ConvNeXt V2-Atto + UperNet on the ADE20K-style layout of the bundled shapes: 7 classes
# (background and the 6 shapes), 224x224 scenes, trained as 128x128 crops on the CPU. The data
# sets write the scenes into data/shapes on first use, as `tools/generate_shapes.py` does, and
# refuse scenes of other settings there. The ADE20K recipe with narrow heads (64/32 channels
# instead of 512/256), BatchNorm in the heads (one process, no SyncBN), a lighter background in
# the loss and a short schedule. The backbone starts from scratch, so there is no pre-trained
# knowledge for layer-wise lr decay to preserve (rate 1.0).
_base_ = './convnextv2-atto_upernet_8xb2-160k_ade20k-512x512.py'

data_root = 'data/shapes/ade'
scenes = dict(num_train=1200, num_val=200, size=224, seed=0)
num_classes = 7
crop_size = (128, 128)
test_scale = (128, 128)
max_iters = 4000
warmup_iters = 200
norm_cfg = dict(type='BN', requires_grad=True)
# The background holds about 85% of the pixels; at full weight it drowns the shapes' gradient:
# trained from scratch, the model still labelled every pixel background after 800 iterations.
class_weight = [0.2] + [1.0] * (num_classes - 1)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(drop_path_rate=0.0, init_cfg=None),
    decode_head=dict(channels=64, num_classes=num_classes, norm_cfg=norm_cfg,
                     loss_decode=dict(class_weight=class_weight)),
    auxiliary_head=dict(channels=32, num_classes=num_classes, norm_cfg=norm_cfg,
                        loss_decode=dict(class_weight=class_weight)),
    test_cfg=dict(_delete_=True, mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # Never below the crop size, so crops need no padding: with class_weight, mmseg 1.2.2's
    # CrossEntropyLoss indexes the weights with the ignore label 255 of padded pixels and fails.
    dict(type='RandomResize', scale=test_scale, ratio_range=(1.0, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# In mmseg's scope wherever they are built: mmseg's MMSegInferencer, which finds this model by name
# in the mmconvnextv2 scope (mmconvnextv2.apis.register_zoo), builds the test pipeline there.
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmseg'),
    dict(type='Resize', scale=test_scale, keep_ratio=True, _scope_='mmseg'),
    # Loaded after the resize: the metric compares with the label map at full resolution.
    dict(type='LoadAnnotations', _scope_='mmseg'),
    dict(type='PackSegInputs', _scope_='mmseg'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                     keep_ratio=True) for r in [0.75, 1.0, 1.25]
            ],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ]),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        type='mmconvnextv2.ShapesSegDataset',
        data_root=data_root,
        scenes=scenes,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        type='mmconvnextv2.ShapesSegDataset',
        data_root=data_root,
        scenes=scenes,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3), paramwise_cfg=dict(layer_decay_rate=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=warmup_iters,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_last=True))
randomness = dict(seed=0)
