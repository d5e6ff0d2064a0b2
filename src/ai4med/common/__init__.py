"""Clara's `ai4med.common`: images, shape formats, property names and the transform context."""
