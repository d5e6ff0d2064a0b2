"""Datalists and image pipelines (the `image_pipeline` components of a config)."""
