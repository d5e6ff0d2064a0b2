"""Engines: workflow setup, and the train / evaluate / infer loops that run on it."""
