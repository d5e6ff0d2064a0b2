#!/usr/bin/env bash
# Make the synthetic CT data the MMAR trains on (4 training + 2 validation cases of 96×96×48 voxels, a bright
# "spleen" in each) where environment.json's DATA_ROOT points: examples/work/clara4_data.
set -euo pipefail
. "$(dirname "$0")/set_env.sh"
"${PYTHON:-python}" -m clara_tlt.synthetic "$MMAR_ROOT/../work/clara4_data" --train 4 --val 2 --shape 96 96 48 "$@"
