"""Model formats: read and run a saved model (TorchScript, ONNX, a TensorRT engine, a Triton-served model).

The catalogue layer, below engines and export: `infer` (engines/model_loaders.py) and export's verification
load every file through these modules, so each format is loaded in one place. Modules here import only
errors, io, config and the factory. `suffixes` and `outputs` (the `--output-format` names) import nothing
heavy (the command line reads them without loading torch), so this package imports none of its modules
eagerly.
"""
