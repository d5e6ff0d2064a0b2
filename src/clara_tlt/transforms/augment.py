"""Clara 3.x random augmentations: spatial flips, zoom, intensity scale and shift, smoothing, bias field."""
