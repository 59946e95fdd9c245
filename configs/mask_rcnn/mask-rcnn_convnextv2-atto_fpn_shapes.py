# Mask R-CNN + FPN with ConvNeXt V2-Atto on the bundled shapes scenes (COCO layout), for the CPU.
# The scenes are 320 px, where COCO's small/medium/large ranges are all populated, resized to
# 224 px for the network. The data sets write them into data/shapes_320 on first use, as
#   .venv/bin/python tools/generate_shapes.py --out data/shapes_320 --size 320
# does, and refuse scenes of other settings there. The backbone starts from scratch unless given
# a checkpoint (e.g. the demo's FCMAE run, through mmconvnextv2.ConvNeXtV2Pretrained).
_base_ = './_base_/mask-rcnn_convnextv2_fpn_ms-1x_coco.py'

data_root = 'data/shapes_320/coco/'
scenes = dict(num_train=1200, num_val=200, size=320, seed=0)
classes = ('circle', 'cross', 'ring', 'square', 'star', 'triangle')
img_scale = (224, 224)

# CPU-sized heads: 128 FPN channels and 64 sampled RoIs per image (a scene has at most five
# objects) cut the cost of the heads, which outweigh the atto backbone, about fourfold. The
# 384-wide box head keeps the zoo's float16 checkpoint under 16 MB (its first layer, 6272 x 384,
# is the largest tensor of the model).
channels = 128
model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.0, init_cfg=None),
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, fc_out_channels=384, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels,
                       num_classes=len(classes))),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=500),
                   rcnn=dict(sampler=dict(num=64))),
    # A scene holds at most five objects: 20 detections per image (COCO's AP counts up to 100)
    # spare the test the masks of 80 more low-scoring boxes, the slowest part of it on a CPU.
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
# In mmdet's scope wherever they are built: mmdet's DetInferencer, which finds this model by name
# in the mmconvnextv2 scope (mmconvnextv2.apis.register_zoo), builds the test pipeline there.
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='Resize', scale=img_scale, keep_ratio=True, _scope_='mmdet'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, _scope_='mmdet'),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
         _scope_='mmdet'),
]
metainfo = dict(classes=classes)
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, scenes=scenes, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, scenes=scenes, metainfo=metainfo,
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# From scratch, every layer learns at the full rate.
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(layer_decay_rate=1.0))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[9, 11],
         gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
