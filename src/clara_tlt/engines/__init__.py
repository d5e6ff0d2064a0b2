"""Engines: workflow setup, the one assembler (resolved config → Predictor), one scoring step, and the train /
evaluate / infer loops that run on them."""
