#!/usr/bin/env bash
# Install peer methods, each into its own virtual environment benchmarks/peers/.venvs/<peer>.
#
#   benchmarks/peers/setup.sh [PEER...|all]      (default: all)
#
# A peer is a folder benchmarks/peers/<peer>/ with its runner run.py and its requirements.txt: this script
# installs the packages of that file. Every line of it with a version specifier (e.g. torch==2.13.0, numpy<2)
# is also written to the environment's constraints.txt, which holds the whole install to it; a torch pin is
# installed first (the CPU build), so pip never pulls a CUDA build.
# PEER_PYTHON picks the interpreter the environments are built from (default: python3).
# A finished environment holds the marker file .installed; an interrupted one is rebuilt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PEER_PYTHON:-python3}"

# every peer: the folders with a requirements.txt
peers() {
    local dir
    for dir in "$here"/*/; do
        if [[ -f "$dir/requirements.txt" ]]; then basename "$dir"; fi
    done
}

# install NAME: a fresh venv with NAME/requirements.txt, held by its pinned lines.
install() {
    local name="$1"
    local venv="$here/.venvs/$name" requirements="$here/$name/requirements.txt" torch_pin
    echo "== $name -> $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    { grep -E '^[^#]*[<>=!~]' "$requirements" || true; } | sed -E 's/[[:space:]]*#.*//' > "$venv/constraints.txt"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    torch_pin="$(grep -E '^torch==' "$venv/constraints.txt" || true)"
    if [[ -n "$torch_pin" ]]; then
        "$venv/bin/python" -m pip install --quiet "$torch_pin"
    fi
    "$venv/bin/python" -m pip install --quiet -c "$venv/constraints.txt" -r "$requirements"
    "$venv/bin/python" -m pip freeze > "$venv/installed.txt"
    touch "$venv/.installed"
}

known="$(peers | tr '\n' ' ')"
if [[ $# -eq 0 || " $* " == *" all "* ]]; then
    chosen="$known"
else
    chosen="$*"
    for name in $chosen; do
        if [[ ! -f "$here/$name/requirements.txt" ]]; then
            echo "usage: $0 [PEER...|all]; peers: ${known% }" >&2
            exit 2
        fi
    done
fi
for name in $chosen; do
    install "$name"
done
