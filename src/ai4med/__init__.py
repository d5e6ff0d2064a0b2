"""Clara Train 3.x's `ai4med` API for custom components, on clara_tlt (PyTorch and MONAI): a compatibility layer.

Custom transforms, losses and networks written against Clara's API import from here unchanged when they are
free of TensorFlow. Each module re-exports its classes from `clara_tlt.byoc`; docs/byoc.md lists what exists.
"""
