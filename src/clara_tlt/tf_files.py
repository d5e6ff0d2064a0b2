"""Suffixes of Clara's TensorFlow model and checkpoint files, which users' configs and scripts still name.

PyTorch cannot load them: model loaders take the PyTorch file beside one (`model.trt.pb` → `model.pt`), weight
loaders refuse one with a message. Longest first, so `.trt.pb` is matched before `.pb`. Imports nothing (the
command line reads it without loading torch).
"""

TF_SUFFIXES = (".trt.pb", ".pb", ".ckpt", ".index", ".meta", ".h5", ".hdf5", ".graphdef")
