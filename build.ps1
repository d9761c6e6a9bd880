#!/usr/bin/env pwsh
# One entry point for Windows (and any pwsh): native engine, bindings drift
# check, .NET build, tests and package. Usage: ./build.ps1 [build|test|pack|demo]
param(
    [ValidateSet('build', 'test', 'pack', 'demo')]
    [string]$Command = 'build'
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = $PSScriptRoot
$BuildDir = if ($env:SVDQ_BUILD_DIR) { $env:SVDQ_BUILD_DIR } else { Join-Path $Root 'build' }
$Config = 'Release'
$NativeDir = (Join-Path $BuildDir 'lib') + [IO.Path]::DirectorySeparatorChar
$PackagesDir = Join-Path $Root 'artifacts/packages'

function Step([string]$Text) { Write-Host "`n== $Text" }

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Assert-Tool([string]$Name, [string]$Hint) {
    if (-not (Get-Command $Name -ErrorAction SilentlyContinue)) { throw "$Name is required: $Hint" }
}

function Build-Native {
    Step "native engine (CMake, $Config)"
    Assert-Tool cmake 'install CMake 3.20+ (https://cmake.org) or run ./build.sh on Linux'
    $configure = @('-S', $Root, '-B', $BuildDir, "-DCMAKE_BUILD_TYPE=$Config", '-DSVDQ_WERROR=ON', '-DSVDQ_BUILD_TESTS=ON')
    # SVDQ_CUDA=ON|OFF|AUTO: whether libsvdquant_cuda is built (CMake's default: AUTO, when nvcc is found).
    if ($env:SVDQ_CUDA) { $configure += "-DSVDQ_CUDA=$env:SVDQ_CUDA" }
    Invoke-Checked cmake $configure
    # A job per processor: a bare --parallel is `make -j` (no limit) under the Makefile generator.
    Invoke-Checked cmake @('--build', $BuildDir, '--config', $Config, '--parallel', [Environment]::ProcessorCount)
}

# The header and bindings/Generated must change together. Without CastXML
# (rare on Windows) the committed bindings are used and the check is skipped.
function Test-Bindings {
    Step 'bindings drift check'
    if (-not (Get-Command ($env:CASTXML ?? 'castxml') -ErrorAction SilentlyContinue)) {
        Write-Warning 'castxml not found: skipping the bindings drift check (install CastXML to enable it)'
        return
    }
    $fresh = Join-Path $BuildDir 'NativeMethods.g.cs'
    Invoke-Checked dotnet @('run', '--project', (Join-Path $Root 'bindings/Generator'), '-c', $Config, '--',
        (Join-Path $Root 'native/include/svdquant.h'), $fresh)
    $committed = Join-Path $Root 'bindings/Generated/NativeMethods.g.cs'
    if ((Get-FileHash $fresh).Hash -ne (Get-FileHash $committed).Hash) {
        throw 'bindings/Generated/NativeMethods.g.cs is out of date: regenerate it (./build.sh bindings) and commit it'
    }
}

function Build-DotNet {
    Step '.NET build'
    Assert-Tool dotnet 'install the .NET 10 SDK (https://dot.net)'
    Invoke-Checked dotnet @('build', (Join-Path $Root 'SvdQuant.Interop.sln'), '-c', $Config, '-nologo', '-v', 'quiet',
        "-p:SvdqNativeDir=$NativeDir")
}

function Invoke-Pack {
    Step 'NuGet package -> artifacts/packages'
    if (Test-Path $PackagesDir) { Remove-Item -Recurse -Force $PackagesDir }
    Invoke-Checked dotnet @('pack', (Join-Path $Root 'src/SvdQuant/SvdQuant.csproj'), '-c', $Config, '-nologo', '-v', 'quiet',
        '-o', $PackagesDir, "-p:SvdqNativeDir=$NativeDir")
}

function Invoke-Tests {
    Step 'native tests (CTest)'
    Invoke-Checked ctest @('--test-dir', $BuildDir, '-C', $Config, '--output-on-failure')
    Step 'managed tests (NUnit)'
    $env:SVDQ_PACKAGE_SOURCE = $PackagesDir
    Invoke-Checked dotnet @('test', (Join-Path $Root 'tests/SvdQuant.Tests/SvdQuant.Tests.csproj'), '-c', $Config,
        '--no-build', '-nologo', "-p:SvdqNativeDir=$NativeDir")
}

Build-Native
Test-Bindings
Build-DotNet
switch ($Command) {
    'test' { Invoke-Pack; Invoke-Tests }
    'pack' { Invoke-Pack }
    'demo' { Invoke-Checked dotnet @('run', '--project', (Join-Path $Root 'src/SvdQuant.Cli'), '-c', $Config, '--no-build', '--', 'demo') }
}
