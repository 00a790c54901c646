#!/usr/bin/env bash
# Package HMWorld for headless Linux rendering.
#   ue_project/Scripts/package_linux.sh /path/to/UnrealEngine [output folder, default ue_project/Packaged]
# Produces <out>/Linux/HMWorld.sh, the `renderer.runtime.binary` to give `hmworld render renderer=unrealcv`.
set -euo pipefail
UE_ROOT=${1:?usage: package_linux.sh /path/to/UnrealEngine [out]}
PROJECT_DIR=$(cd "$(dirname "$0")/.." && pwd)
OUT=${2:-$PROJECT_DIR/Packaged}
UAT="$UE_ROOT/Engine/Build/BatchFiles/RunUAT.sh"
[ -x "$UAT" ] || { echo "no RunUAT.sh under $UE_ROOT/Engine/Build/BatchFiles" >&2; exit 2; }
[ -d "$PROJECT_DIR/Plugins/UnrealCV" ] || { echo "UnrealCV plugin missing: see ue_project/README.md step 1" >&2; exit 2; }
# Development (not Shipping): Shipping builds drop the console commands the renderer sends with `vrun`.
"$UAT" BuildCookRun -project="$PROJECT_DIR/HMWorld.uproject" -platform=Linux -clientconfig=Development \
  -build -cook -stage -pak -iostore -archive -archivedirectory="$OUT" -noP4 -utf8output -unattended
BIN_DIR="$OUT/Linux/HMWorld/Binaries/Linux"
cp "$PROJECT_DIR/Config/unrealcv.ini" "$BIN_DIR/unrealcv.ini"
echo "packaged: $OUT/Linux/HMWorld.sh  (renderer.runtime.binary=$OUT/Linux/HMWorld.sh)"
