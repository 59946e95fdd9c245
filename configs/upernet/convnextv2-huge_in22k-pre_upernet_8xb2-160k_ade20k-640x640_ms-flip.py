# Multi-scale (0.5 to 1.75 times the single-scale size) + flip test, how the paper reports
# ADE20K; test only: tools/test.py THIS_CONFIG CHECKPOINT (trained with the config below).
_base_ = './convnextv2-huge_in22k-pre_upernet_8xb2-160k_ade20k-640x640.py'

model = dict(_delete_=True, type='SegTTAModel', module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
