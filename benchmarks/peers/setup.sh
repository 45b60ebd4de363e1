#!/usr/bin/env bash
# Install peer methods, each into its own virtual environment benchmarks/peers/.venvs/<peer>.
#
#   benchmarks/peers/setup.sh [graphst|spagcn|banksy|all]      (default: all)
#
# PEER_PYTHON picks the interpreter the environments are built from (default: python3).
# Environments that need torch get the CPU build torch==2.13.0 first, then the peer under a
# constraints file that holds torch at that version, so pip never pulls a CUDA build.
# A finished environment holds the marker file .installed; an interrupted one is rebuilt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PEER_PYTHON:-python3}"
torch_pin="torch==2.13.0"

# install NAME CONSTRAINTS PACKAGE...: a fresh venv with the packages, pinned by the constraints.
install() {
    local name="$1" constraints="$2"
    shift 2
    local venv="$here/.venvs/$name"
    echo "== $name -> $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    printf '%s\n' $constraints > "$venv/constraints.txt"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    if grep -q '^torch==' "$venv/constraints.txt"; then
        "$venv/bin/python" -m pip install --quiet "$torch_pin"
    fi
    "$venv/bin/python" -m pip install --quiet -c "$venv/constraints.txt" "$@"
    "$venv/bin/python" -m pip freeze > "$venv/installed.txt"
    touch "$venv/.installed"
}

graphst() {
    # GraphST declares no dependencies of its own: these are the ones it imports, plus scanpy's Leiden (igraph).
    install graphst "$torch_pin" GraphST POT scanpy scikit-misc igraph leidenalg scikit-learn scipy pandas tqdm
}

spagcn() {
    # SpaGCN imports statsmodels without declaring it; louvain (its default initialisation) needs pkg_resources.
    install spagcn "$torch_pin setuptools<80" SpaGCN statsmodels louvain igraph scanpy setuptools
}

banksy() {
    install banksy "numpy<2" pybanksy
}

case "${1:-all}" in
    graphst) graphst ;;
    spagcn) spagcn ;;
    banksy) banksy ;;
    all) graphst; spagcn; banksy ;;
    *) echo "usage: $0 [graphst|spagcn|banksy|all]" >&2; exit 2 ;;
esac
