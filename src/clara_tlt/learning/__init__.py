"""What a training config's `model`, `loss`, `optimizer` and `lr_policy` name: Clara's names on MONAI/torch.

`networks` (MONAI networks under Clara's names and arguments), `networks_tf` (PyTorch topologies of Clara's
TensorFlow-only networks), `losses`, `optim` (optimizers and lr policies), `data_format` (the channel axis that
networks, losses, aux ops and pipelines take). Part of the catalogue layer: they register into `clara_tlt.factory`.
"""
