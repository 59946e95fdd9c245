# Evaluates ConvNeXt V2-Base at 224, 288 and 384 pixels in one run, each with the official
# evaluation transform (below 384: short side to size / 0.875, centre crop; from 384: warp):
#   tools/test.py configs/convnextv2/convnextv2-base_32xb32_in1k-multires.py CHECKPOINT
# Any config evaluates this way with --cfg-options
#   test_cfg.type=mmconvnextv2.MultiResolutionTestLoop "test_cfg.resolutions=[224,384]"
_base_ = './convnextv2-base_32xb32_in1k.py'

test_cfg = dict(type='mmconvnextv2.MultiResolutionTestLoop', resolutions=[224, 288, 384])
