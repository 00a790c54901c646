#!/usr/bin/env bash
# One-step set-up for a fresh Debian/Ubuntu machine: the EGL/Mesa packages the embedded renderer needs,
# then a virtual environment at .venv in the checkout with hmworld installed (editable).
#   scripts/setup.sh          rendering, captions, split I/O and the leaderboard metrics (the demo's needs)
#   scripts/setup.sh test     also the model, metrics and test extras (and vbench for the parity tests)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

debs=(libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri)
# test mode only: the leaderboard page test runs in a real headless browser
test_debs=(chromium)
if [ "$mode" = test ]; then debs+=("${test_debs[@]}"); fi
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
# pip warns about every package missing from the machine's optional local indexes; those lines are noise. So is
# setuptools' 11-line "Editable installation" notice (information only: a folder named like a package in the
# working directory could shadow it; ours are the packages themselves), dropped by its message.
pip() {
    PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip --disable-pip-version-check -q "$@" \
        2> >(grep -v "is ignored: it is neither" >&2)
}
pip install --upgrade pip wheel "setuptools>=77,<81"  # 77: pyproject.toml's SPDX licence string
case "$mode" in
    run)  pip install -e ".[metrics]" ;;  # rendering, plus the metrics the demo scores with
    test)
        pip install -e ".[test]"
        # vbench pins old timm/transformers; its inner functions run fine beside ours (parity tests only).
        # dreamsim (MIT) ships the DINO repository's vision_transformer.py (Apache-2.0, header kept): the class
        # VBench's subject consistency loads, for the DINO parity test; only that file is used (no deps needed).
        pip install --no-deps vbench openai-clip decord dreamsim==0.2.1 ;;
    *) echo "usage: scripts/setup.sh [run|test]" >&2; exit 2 ;;
esac
echo "setup: .venv ready ($mode)"

# The embedded renderer's default subjects are 0 A.D. models (CC-BY-SA 3.0): their ~6 MB subset goes into a cache
# outside the checkout (${HMWORLD_ASSET_CACHE:-~/.cache/hmworld/assets}), shared by every clone and CI run on this
# machine. A complete cache is only verified (under a second); otherwise `apt-get download` fetches the 1.4 GB
# package (no root, nothing installed) and only the subset is kept. The last line says where, how big and how long.
if ! .venv/bin/python -m hmworld assets action=status >/dev/null 2>&1 \
        && ! apt-cache show "0ad-data=0.0.26-1" >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq  # a fresh machine's package lists may not know the package yet
fi
.venv/bin/python -m hmworld assets 2>&1 | sed 's/^/setup: /'
