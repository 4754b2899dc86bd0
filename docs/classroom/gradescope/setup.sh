#!/usr/bin/env bash
# Gradescope autograder: setup.sh runs once, as root, while Gradescope builds the image.
#
# The autograder zip holds (paths inside /autograder/source):
#   setup.sh, run_autograder   these two scripts
#   pytorch-path/              a copy of this project (or your fork), without .git
#   private/graders/           optional: your private graders, shaped like graders/
#   private/solutions/         optional: your private reference solutions, shaped like solutions/
# Students never see /autograder/source; nothing of it is copied into their submission.
#
# Every path can be moved with an environment variable (AUTOGRADER_ROOT defaults to
# /autograder), so the scripts can be tried outside Gradescope.
set -euo pipefail

AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="${AUTOGRADER_SOURCE:-$AUTOGRADER_ROOT/source}"
PROJECT="${PYTORCH_PATH_PROJECT:-$SOURCE/pytorch-path}"
VENV="${PYTORCH_PATH_VENV:-$AUTOGRADER_ROOT/venv}"

if [ ! -f "$PROJECT/pyproject.toml" ]; then
  echo "setup.sh: no pytorch-path project at $PROJECT (expected pytorch-path/pyproject.toml in the autograder zip)" >&2
  exit 1
fi

# Python 3.10 or newer and bubblewrap, the sandbox that hides the reference solutions
# from submissions (run_autograder probes it and falls back when the container forbids it).
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip
# CPU-only torch first, from PyTorch's CPU index: the default wheel from PyPI is the
# multi-GB CUDA build, which Gradescope's machines (no GPU) cannot use.
"$VENV/bin/python" -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
# Then the project itself; torch and torchvision are already satisfied.
"$VENV/bin/python" -m pip install "$PROJECT"

# Fail the build now, not at the first submission, if the install cannot run.
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__)"
(cd "$PROJECT" && "$VENV/bin/python" -m pytorch_path list all > /dev/null)
echo "setup.sh: pytorch-path is installed in $VENV"
