"""Clara's `ai4med.components.losses`: the base class of custom losses (PyTorch here)."""
