"""`clara-tlt evaluate` (MMAR flags) and `tlt-evaluate` (TLT flags)."""

from clara_tlt.cli.dialects import mmar_workflow_command, tlt_inference_command

mmar_command = mmar_workflow_command(
    "evaluate",
    stage="evaluation",
    default_data_list_key="validation",
    summary="Evaluate a model against ground truth with an MMAR's config_validation.json.",
)
tlt_command = tlt_inference_command(
    "tlt-evaluate",
    stage="evaluation",
    summary="Evaluate a model against the ground truth of a datalist's validation list.",
)
