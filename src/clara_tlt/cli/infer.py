"""`clara-tlt infer` (MMAR flags) and `tlt-infer` (TLT flags)."""

from clara_tlt.cli.dialects import mmar_workflow_command, tlt_inference_command

mmar_command = mmar_workflow_command(
    "infer",
    stage="inference",
    default_data_list_key="validation",
    summary="Run inference with an MMAR's config on the DATA_LIST_KEY list of its datalist.",
)
tlt_command = tlt_inference_command(
    "tlt-infer", stage="inference", summary="Run inference on a datalist's validation list."
)
