#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (an Ubuntu base image).
# It makes a Python >= 3.11 virtualenv in $AUTOGRADER_ROOT/venv (a venv: pip refuses the system Python
# on PEP 668 images), installs torch pinned from PyTorch's CPU wheel index, bubblewrap and the kit.
#   setup.sh --dry-run   prints every command instead of running it (the kit's tests use it)
set -euo pipefail

DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; fi
ROOT="${AUTOGRADER_ROOT:-/autograder}"
KIT="$ROOT/source/kit"
VENV="$ROOT/venv"
TORCH="@TORCH_PIN@"
TORCH_INDEX="https://download.pytorch.org/whl/cpu"
export DEBIAN_FRONTEND=noninteractive

run() {
    echo "+ $*"
    if [[ $DRY_RUN == 0 ]]; then "$@"; fi
}

# A Python >= 3.11 that can make a virtualenv (Debian/Ubuntu ship venv's ensurepip separately).
python_ok() {
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

find_python() {
    local candidate path
    for candidate in python3.13 python3.12 python3.11 python3; do
        if path="$(command -v "$candidate")" && python_ok "$path"; then
            echo "$path"
            return 0
        fi
    done
    return 1
}

if ! PYTHON="$(find_python)"; then
    echo "No Python >= 3.11 with venv found: installing one."
    # Ubuntu 24.04: python3.12; 22.04: python3.11 (universe); older images: the deadsnakes PPA.
    run apt-get update
    run apt-get install -y python3.12 python3.12-venv \
        || run apt-get install -y python3.11 python3.11-venv \
        || { run apt-get install -y software-properties-common \
             && run add-apt-repository -y ppa:deadsnakes/ppa \
             && run apt-get update \
             && run apt-get install -y python3.11 python3.11-venv; }
    if [[ $DRY_RUN == 1 ]]; then
        PYTHON=python3.12
    elif ! PYTHON="$(find_python)"; then
        echo "error: could not install Python >= 3.11 with venv on this image" >&2
        exit 1
    fi
fi
echo "Using $PYTHON"

# The sandbox; without it (or where the container forbids user namespaces) the grader falls back
# to a plain subprocess with its audit hook and resource limits, and says so in its output.
run apt-get install -y bubblewrap || echo "warning: bubblewrap could not be installed"

run "$PYTHON" -m venv "$VENV"
run "$VENV/bin/python" -m pip install --upgrade pip
run "$VENV/bin/python" -m pip install "$TORCH" --index-url "$TORCH_INDEX"
run "$VENV/bin/python" -m pip install -e "$KIT/reference" -e "$KIT"
run "$VENV/bin/python" -c "import torch, micrograd, grader.gradescope; print('kit ready, torch', torch.__version__)"
