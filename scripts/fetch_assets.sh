#!/usr/bin/env bash
# Fetch the asset cache of the embedded renderer's skinned subjects (preview, renderer.subjects_style=asset):
# Debian's 0ad-data (CC-BY-SA 3.0) is downloaded with apt-get (no root) and only the subset the catalog uses is
# kept, under ${HMWORLD_ASSET_CACHE:-${XDG_CACHE_HOME:-~/.cache}/hmworld/assets}. Idempotent.
# usage: scripts/fetch_assets.sh [cache_dir=DIR] [deb=PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m hmworld assets "$@"
