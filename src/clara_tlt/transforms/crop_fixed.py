"""Clara 3.x fixed-size crops and padding: `CropFixedSizeRandomCenter`, `SymmetricPadderDiv`."""
