# FCMAE pre-training of a "V1-style" Atto encoder on the bundled shapes: the ConvNeXt V1 block
# (no GRN, LayerScale initialised to 1e-6) in the same network, sparse encoder, decoder and
# schedule as fcmae_convnextv2-atto_shapes.py. The paper's "V1 + FCMAE" of its feature-collapse
# analysis (docs/analysis.md); only the encoder's blocks differ from the V2 run.
_base_ = './fcmae_convnextv2-atto_shapes.py'

model = dict(backbone=dict(use_grn=False, layer_scale_init_value=1e-6))
# LayerScale is a per-channel vector: no weight decay, as for V1's norms and biases.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.gamma': dict(decay_mult=0.0)}))
