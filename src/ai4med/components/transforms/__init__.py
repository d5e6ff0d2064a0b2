"""Clara's `ai4med.components.transforms`: the base classes of custom transforms."""
