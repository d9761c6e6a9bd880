#!/usr/bin/env bash
# Builds the Unity (UPM) package folder com.svdquant.interop: the netstandard2.1
# SvdQuant.Interop.dll with every assembly it needs under Runtime/, the CPU engine
# per platform under Plugins/, and a .meta beside every file and folder whose GUID
# is derived from the path (the same package every time). Install it in Unity with
# Package Manager > "+" > "Add package from disk..." > its package.json.
#
# usage: unity/build-package.sh [--out DIR] [--linux-so FILE] [--win-dll FILE] [--configuration CFG]
#   --out DIR         the package folder to (re)create (default artifacts/unity/com.svdquant.interop)
#   --linux-so FILE   linux x86_64 engine (default build/lib/libsvdquant.so; required)
#   --win-dll FILE    windows x86_64 engine (default build-win/lib/svdquant.dll; left out, and said so, when absent)
#   --configuration   Release (default) or Debug
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACKAGE=com.svdquant.interop
OUT="$ROOT/artifacts/unity/$PACKAGE"
LINUX_SO="$ROOT/build/lib/libsvdquant.so"
WIN_DLL="$ROOT/build-win/lib/svdquant.dll"
CONFIG=Release

usage() { sed -n '8,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --out) OUT=$2 ;;
    --linux-so) LINUX_SO=$2 ;;
    --win-dll) WIN_DLL=$2 ;;
    --configuration) CONFIG=$2 ;;
    *) usage ;;
  esac
  shift 2
done
if [ ! -f "$LINUX_SO" ]; then
  echo "unity package: the linux engine $LINUX_SO does not exist (build it with ./build.sh first, or pass --linux-so)" >&2
  exit 1
fi

# The repository's version, as MSBuild evaluates it for the assembly (Directory.Build.props).
VERSION=$(dotnet msbuild "$ROOT/src/SvdQuant/SvdQuant.csproj" -nologo -getProperty:Version)
[ -n "$VERSION" ] || { echo "unity package: MSBuild gave no Version" >&2; exit 1; }

# The managed closure: dotnet publish copies every dependency assembly beside the DLL.
PUBLISH=$(mktemp -d)
trap 'rm -rf "$PUBLISH"' EXIT
dotnet publish "$ROOT/src/SvdQuant/SvdQuant.csproj" -c "$CONFIG" -f netstandard2.1 -o "$PUBLISH" -nologo -v quiet \
  -p:SvdqNativeDir="$(dirname "$LINUX_SO")/" >/dev/null

rm -rf "$OUT"
mkdir -p "$OUT/Runtime" "$OUT/Plugins/Linux/x86_64"
cp "$PUBLISH"/*.dll "$PUBLISH/SvdQuant.Interop.xml" "$PUBLISH/SvdQuant.Interop.pdb" "$OUT/Runtime/"
cp "$LINUX_SO" "$OUT/Plugins/Linux/x86_64/libsvdquant.so"
if [ -f "$WIN_DLL" ]; then
  mkdir -p "$OUT/Plugins/Windows/x86_64"
  cp "$WIN_DLL" "$OUT/Plugins/Windows/x86_64/svdquant.dll"
  echo "unity package: windows x86_64 engine from $WIN_DLL"
else
  echo "unity package: no windows engine at $WIN_DLL; the package runs on Linux only"
fi

cat >"$OUT/package.json" <<EOF
{
  "name": "$PACKAGE",
  "version": "$VERSION",
  "displayName": "SvdQuant.Interop",
  "description": "4-bit diffusion inference (SVDQuant, FLUX) on a native CPU engine, for .NET Standard 2.1. Windows and Linux x86_64.",
  "unity": "2021.3",
  "license": "MIT",
  "author": { "name": "SvdQuant.Interop contributors" },
  "keywords": ["svdquant", "quantization", "int4", "diffusion", "flux", "inference"]
}
EOF

cat >"$OUT/README.md" <<EOF
# SvdQuant.Interop for Unity

SvdQuant.Interop $VERSION: 4-bit FLUX inference on a native CPU engine.

- \`Runtime/\`: SvdQuant.Interop.dll (.NET Standard 2.1) and the assemblies it needs, with XML docs.
- \`Plugins/Linux/x86_64/libsvdquant.so\`, \`Plugins/Windows/x86_64/svdquant.dll\`: the engine,
  imported for the Editor and Standalone players of that platform.

Install: Window > Package Manager > "+" > "Add package from disk..." and pick this folder's package.json.
Set Player Settings > Api Compatibility Level to .NET Standard 2.1, and allow unsafe code only if your own
scripts need it. Run generation off the main thread (see docs/unity.md in the repository for a MonoBehaviour
that generates on a worker thread and shows the picture in a Texture2D).
EOF

cat >"$OUT/CHANGELOG.md" <<EOF
# Changelog

## [$VERSION]

- SvdQuant.Interop $VERSION for .NET Standard 2.1 with the CPU engine for Linux and Windows x86_64.
EOF

cat >"$OUT/LICENSE.md" <<'EOF'
MIT License

Copyright (c) SvdQuant.Interop contributors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
EOF

# ---- .meta files: Unity's importer settings; GUID = md5 of the path inside the package.
guid() { printf '%s/%s' "$PACKAGE" "$1" | md5sum | cut -c1-32; }

meta_head() {  # RELATIVE_PATH
  printf 'fileFormatVersion: 2\nguid: %s\n' "$(guid "$1")"
}

importer_tail() {
  printf '  userData: \n  assetBundleName: \n  assetBundleVariant: \n'
}

folder_meta() {
  meta_head "$1"
  printf 'folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n'
  importer_tail
}

simple_meta() {  # RELATIVE_PATH IMPORTER
  meta_head "$1"
  printf '%s:\n  externalObjects: {}\n' "$2"
  importer_tail
}

plugin_head() {
  printf 'PluginImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  iconMap: {}\n  executionOrder: {}\n'
  printf '  defineConstraints: []\n  isPreloaded: 0\n  isOverridable: 0\n  isExplicitlyReferenced: 0\n  validateReferences: 1\n'
  printf '  platformData:\n'
}

platform() {  # FIRST_KEY FIRST_VALUE ENABLED [SETTING=VALUE...]
  local key=$1 value=$2 enabled=$3
  shift 3
  printf '  - first:\n      %s: %s\n    second:\n      enabled: %s\n' "$key" "$value" "$enabled"
  if [ $# -eq 0 ]; then
    printf '      settings: {}\n'
  else
    printf '      settings:\n'
    local s
    for s in "$@"; do printf '        %s: %s\n' "${s%%=*}" "${s#*=}"; done
  fi
}

# A managed assembly: every platform, the Editor included.
managed_meta() {
  meta_head "$1"
  plugin_head
  platform Any '' 1
  platform Editor Editor 0 DefaultValueInitialized=true
  importer_tail
}

# A native library for one OS (Linux or Windows) on x86_64: that OS's Editor and 64-bit player only.
native_meta() {  # RELATIVE_PATH OS
  local os=$2 linux=0 win64=0
  [ "$os" = Linux ] && linux=1
  [ "$os" = Windows ] && win64=1
  cpu() { [ "$1" = 1 ] && echo x86_64 || echo None; }
  meta_head "$1"
  plugin_head
  platform "''" Any 0 "Exclude Editor=0" "Exclude Linux64=$((1 - linux))" "Exclude OSXUniversal=1" "Exclude Win=1" "Exclude Win64=$((1 - win64))"
  platform Any '' 0
  platform Editor Editor 1 CPU=x86_64 DefaultValueInitialized=true OS="$os"
  platform Standalone Linux64 "$linux" CPU="$(cpu $linux)"
  platform Standalone OSXUniversal 0 CPU=None
  platform Standalone Win 0 CPU=None
  platform Standalone Win64 "$win64" CPU="$(cpu $win64)"
  importer_tail
}

cd "$OUT"
find . -mindepth 1 ! -name '*.meta' | sed 's|^\./||' | LC_ALL=C sort | while read -r path; do
  if [ -d "$path" ]; then
    folder_meta "$path"
  else
    case "$path" in
      Plugins/Linux/*) native_meta "$path" Linux ;;
      Plugins/Windows/*) native_meta "$path" Windows ;;
      *.dll) managed_meta "$path" ;;
      package.json) simple_meta "$path" PackageManifestImporter ;;
      *.md | *.xml) simple_meta "$path" TextScriptImporter ;;
      *) simple_meta "$path" DefaultImporter ;;
    esac
  fi >"$path.meta"
done
echo "unity package $PACKAGE $VERSION -> $OUT"
