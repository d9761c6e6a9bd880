#!/usr/bin/env bash
# The netstandard2.1 SvdQuant.Interop under Mono, as Unity's Mono runs it: publishes the assembly with its dependency
# closure, compiles tests/mono/MonoCheck.cs with Mono's mcs against it, puts the native engine beside the program
# (plain DllImport lookup; netstandard2.1 has no NativeLibrary) and runs it with mono.
# Usage: tests/mono/run.sh [OUT_DIR]   (default build/mono; the native library from $SVDQ_NATIVE_DIR, default build/lib)
# Needs: dotnet, mono-runtime, mono-mcs and mono-devel (its /usr/lib/mono/4.5/Facades/netstandard.dll).
# Ends with "mono: N passed, N failed"; exits non-zero on a failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
native_dir=$(cd "${SVDQ_NATIVE_DIR:-$root/build/lib}" && pwd)
out=${1:-$root/build/mono}
app=$out/app
facades=/usr/lib/mono/4.5/Facades
for tool in dotnet mono mcs; do
    command -v "$tool" > /dev/null || { echo "mono: 0 passed, 1 failed ($tool not found)"; exit 1; }
done
[ -f "$facades/netstandard.dll" ] || { echo "mono: 0 passed, 1 failed ($facades/netstandard.dll missing: install mono-devel)"; exit 1; }
[ -f "$native_dir/libsvdquant.so" ] || { echo "mono: 0 passed, 1 failed ($native_dir/libsvdquant.so missing)"; exit 1; }

rm -rf "$out" && mkdir -p "$out/facades"
# The assembly and its dependency closure (CommunityToolkit.HighPerformance, System.Runtime.CompilerServices.Unsafe,
# Microsoft.ML.Tokenizers, System.Text.Json, ...) in one folder.
dotnet publish "$root/src/SvdQuant/SvdQuant.csproj" -c Release -f netstandard2.1 -o "$app" \
    -p:SvdqNativeDir="$native_dir/" -nologo -v:q > "$out/publish.log" || { cat "$out/publish.log"; exit 1; }
cp "$native_dir/libsvdquant.so" "$app/"
cp -r "$root/native/tests/data/flux-tiny" "$app/flux-tiny"

# System.Memory, System.Buffers and System.Threading.Tasks.Extensions: forwarding facades Debian's Mono lacks.
mcs -nologo -out:"$out/facades/PolyfillFacades.exe" -r:System.Core.dll "$root/tests/mono/PolyfillFacades.cs"
mono "$out/facades/PolyfillFacades.exe" "$app/System.Text.Json.dll" "$out/facades"
for name in System.Memory System.Buffers System.Threading.Tasks.Extensions; do
    mcs -nologo -t:library -delaysign+ -keyfile:"$out/facades/open.snk" -out:"$app/$name.dll" "$out/facades/$name.cs"
done

mcs -nologo -unsafe -out:"$app/MonoCheck.exe" -r:"$facades/netstandard.dll" -r:System.Core.dll \
    -r:"$app/SvdQuant.Interop.dll" -r:"$app/CommunityToolkit.HighPerformance.dll" \
    "$root/tests/mono/MonoCheck.cs" "$root/tests/mono/LinkCheck.cs"
cd "$app" && mono --debug MonoCheck.exe "$app/flux-tiny"
