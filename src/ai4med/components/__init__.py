"""Clara's `ai4med.components`: the base classes of custom transforms, losses and networks."""
