# Multi-scale (0.75 to 1.25 times 128x128) + flip test of convnextv2-atto_upernet_shapes.py;
# test only: tools/test.py THIS_CONFIG CHECKPOINT.
_base_ = './convnextv2-atto_upernet_shapes.py'

model = dict(_delete_=True, type='SegTTAModel', module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
