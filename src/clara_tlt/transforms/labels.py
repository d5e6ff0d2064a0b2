"""Clara 3.x label transforms: thresholds, largest connected component, multi-channel label conversions."""
