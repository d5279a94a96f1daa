#!/usr/bin/env bash
# JupyterLab on the student release, as a student sees it: no nbgrader instructor tools (Create
# Assignment sidebar, formgrader, course list), no news pop-up, and nbgrader's student settings
# (tools/student-lab/nbgrader_config.py) for the Validate button.
#   tools/student-lab.sh [jupyter lab options]      e.g. --no-browser --port=8889
# The settings come from tools/student-lab/, put on JUPYTER_CONFIG_PATH: they take precedence over
# the installed packages' defaults, and the user's own ~/.jupyter still wins over them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JUPYTER_CONFIG_PATH="$root/tools/student-lab${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
exec jupyter lab --ServerApp.root_dir="$root/chapters" "$@"
