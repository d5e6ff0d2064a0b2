"""What Clara 3.x custom code (`ai4med` imports) runs on here: images with their shape format and properties,
the transform context over one sample, and the base classes of custom transforms, losses and networks.

The `ai4med` package beside `clara_tlt` re-exports these under the module paths Clara's code imports
(docs/byoc.md); AIAA custom inferences (`clara_tlt.aiaa`) use the same `MedicalImage` and `TransformContext`.
"""
