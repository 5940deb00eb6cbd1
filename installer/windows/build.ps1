<#
.SYNOPSIS
Builds dist\mfsync-setup-VERSION.exe: the frozen bundle (packaging\build.py bundle), then the
Inno Setup 6 script installer\windows\mfsync.iss.

.DESCRIPTION
The version, application id, ports and folders reach the script as /D defines from
`python packaging\build.py inno-defines` (packaging\inno.py): the .iss repeats none of them.

.PARAMETER SkipBundle
Package the dist\mfsync that is already there instead of building it again.

.PARAMETER Python
The Python 3.11+ that runs packaging\build.py (default: .venv\Scripts\python.exe if it exists,
else python on PATH).

.PARAMETER Iscc
Inno Setup's compiler (default: ISCC.exe on PATH, else in Program Files\Inno Setup 6).

.EXAMPLE
powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1
#>
[CmdletBinding()]
param(
    [switch]$SkipBundle,
    [string]$Python = "",
    [string]$Iscc = ""
)
Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"

$Root = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
$BuildPy = Join-Path $Root "packaging\build.py"
$Script = Join-Path $PSScriptRoot "mfsync.iss"

# Run a program; stop if it fails (a native command's exit code does not stop a script).
function Invoke-Checked([string]$Program, [string[]]$Arguments) {
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$Program $($Arguments -join ' ') failed (exit code $LASTEXITCODE)"
    }
}

if (-not $Python) {
    $VenvPython = Join-Path $Root ".venv\Scripts\python.exe"
    $Python = if (Test-Path $VenvPython) { $VenvPython } else { "python" }
}
if (-not $Iscc) {
    $OnPath = Get-Command ISCC.exe -ErrorAction SilentlyContinue
    if ($OnPath) {
        $Iscc = $OnPath.Source
    } else {
        foreach ($Dir in @(${env:ProgramFiles(x86)}, $env:ProgramFiles)) {
            if ($Dir -and (Test-Path (Join-Path $Dir "Inno Setup 6\ISCC.exe"))) {
                $Iscc = Join-Path $Dir "Inno Setup 6\ISCC.exe"
                break
            }
        }
    }
    if (-not $Iscc) {
        throw "Inno Setup 6 is not installed (winget install JRSoftware.InnoSetup), or pass -Iscc"
    }
}

if (-not $SkipBundle) {
    Invoke-Checked $Python @($BuildPy, "bundle")
}

# build.py prints the defines on one line; split before each /D so that a value with spaces (a
# folder) stays one argument, which PowerShell then quotes for ISCC
$Line = (& $Python $BuildPy "inno-defines") -join " "
if ($LASTEXITCODE -ne 0) {
    throw "build.py inno-defines failed (exit code $LASTEXITCODE)"
}
$Defines = @($Line.Trim() -split '\s+(?=/D[A-Za-z_]\w*=)')
$Values = @{}
foreach ($Define in $Defines) {
    $Name, $Value = $Define.Substring(2) -split "=", 2
    $Values[$Name] = $Value
}
if (-not (Test-Path (Join-Path $Values["MyBundleDir"] "mfsync-gui.exe"))) {
    throw "no bundle in $($Values['MyBundleDir']): run without -SkipBundle"
}

Invoke-Checked $Iscc ($Defines + @($Script))
Write-Output (Join-Path $Values["MyOutputDir"] "mfsync-setup-$($Values['MyAppVersion']).exe")
