"""Clara's `ai4med.components.models`: the base class of custom networks (PyTorch here)."""
