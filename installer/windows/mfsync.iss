; Inno Setup 6 script of the Windows installer: the frozen onedir bundle (dist\mfsync) in
; Program Files, a Start menu entry, and two optional tasks: start at login, firewall rules.
;
; Build it with installer\windows\build.ps1, which passes what this script must not hard-code
; as /D defines from `python packaging/build.py inno-defines` (packaging/inno.py): the version,
; the application id and ports (all from mfsync itself) and the folders (packaging/layout.py).
; The uninstaller removes every file, the Start menu entry, the Run value and the firewall rules.

#ifndef MyAppVersion
  #error MyAppVersion is not defined: build with installer\windows\build.ps1
#endif
#ifndef MyAppId
  #error MyAppId is not defined: build with installer\windows\build.ps1
#endif
#ifndef MyTcpPort
  #error MyTcpPort is not defined: build with installer\windows\build.ps1
#endif
#ifndef MyUdpPort
  #error MyUdpPort is not defined: build with installer\windows\build.ps1
#endif
#ifndef MyBundleDir
  #error MyBundleDir is not defined: build with installer\windows\build.ps1
#endif
#ifndef MyOutputDir
  #error MyOutputDir is not defined: build with installer\windows\build.ps1
#endif

#define MyAppName "mfsync"
#define MyGuiExe "mfsync-gui.exe"
#define MyCliExe "mfsync.exe"

[Setup]
; fixed for every version: it is how an upgrade finds the installation it replaces
AppId={{79882179-8468-4F4A-97F1-EB004039FB61}
AppName={#MyAppName}
AppVersion={#MyAppVersion}
AppVerName={#MyAppName} {#MyAppVersion}
AppPublisher={#MyAppName}
DefaultDirName={autopf}\{#MyAppName}
DefaultGroupName={#MyAppName}
DisableProgramGroupPage=yes
; Program Files and the firewall rules need an administrator
PrivilegesRequired=admin
; the Run value is the installing user's own (HKCU), as the app's settings switch writes it
UsedUserAreasWarning=no
; PyInstaller froze a 64-bit Python
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; a running mfsync holds its files open: ask to close it (Restart Manager)
CloseApplications=yes
SetupMutex=setup-{#MyAppId}
OutputDir={#MyOutputDir}
OutputBaseFilename=mfsync-setup-{#MyAppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#MyGuiExe}
UninstallDisplayName={#MyAppName} {#MyAppVersion}
#ifdef MyIcon
SetupIconFile={#MyIcon}
#endif

[Tasks]
Name: "autostart"; Description: "Start mfsync when I log in (in the notification area)"; GroupDescription: "Options:"; Flags: unchecked
Name: "firewall"; Description: "Allow mfsync through Windows Firewall from the local network (TCP {#MyTcpPort}, UDP {#MyUdpPort})"; GroupDescription: "Options:"

[Files]
Source: "{#MyBundleDir}\{#MyGuiExe}"; DestDir: "{app}"; Flags: ignoreversion
Source: "{#MyBundleDir}\{#MyCliExe}"; DestDir: "{app}"; Flags: ignoreversion
Source: "{#MyBundleDir}\_internal\*"; DestDir: "{app}\_internal"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#MyAppName}"; Filename: "{app}\{#MyGuiExe}"; Comment: "Share files with computers on your network"
; Explorer's "Send to" menu: it appends the selected paths, so this runs mfsync-gui --send PATH...
; (the running app asks which host gets them)
Name: "{usersendto}\{#MyAppName}"; Filename: "{app}\{#MyGuiExe}"; Parameters: "--send"; Comment: "Send to another computer on the network with mfsync"

[Registry]
; exactly what mfsync.gui.autostart.WindowsRunAutostart writes (tests/install checks it), so the
; app's own "start at login" switch shows this as on and can turn it off
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "mfsync"; ValueData: """{app}\{#MyGuiExe}"" --hidden"; Flags: uninsdeletevalue; Tasks: autostart

[Run]
; each rule deleted first, so that an upgrade does not add it twice; both programs listen
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync-gui TCP"" dir=in program=""{app}\{#MyGuiExe}"" protocol=TCP localport={#MyTcpPort}"; Flags: runhidden; Tasks: firewall
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall add rule name=""mfsync-gui TCP"" dir=in program=""{app}\{#MyGuiExe}"" protocol=TCP localport={#MyTcpPort} action=allow remoteip=localsubnet"; Flags: runhidden; StatusMsg: "Adding firewall rules..."; Tasks: firewall
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync-gui UDP"" dir=in program=""{app}\{#MyGuiExe}"" protocol=UDP localport={#MyUdpPort}"; Flags: runhidden; Tasks: firewall
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall add rule name=""mfsync-gui UDP"" dir=in program=""{app}\{#MyGuiExe}"" protocol=UDP localport={#MyUdpPort} action=allow remoteip=localsubnet"; Flags: runhidden; StatusMsg: "Adding firewall rules..."; Tasks: firewall
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync TCP"" dir=in program=""{app}\{#MyCliExe}"" protocol=TCP localport={#MyTcpPort}"; Flags: runhidden; Tasks: firewall
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall add rule name=""mfsync TCP"" dir=in program=""{app}\{#MyCliExe}"" protocol=TCP localport={#MyTcpPort} action=allow remoteip=localsubnet"; Flags: runhidden; StatusMsg: "Adding firewall rules..."; Tasks: firewall
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync UDP"" dir=in program=""{app}\{#MyCliExe}"" protocol=UDP localport={#MyUdpPort}"; Flags: runhidden; Tasks: firewall
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall add rule name=""mfsync UDP"" dir=in program=""{app}\{#MyCliExe}"" protocol=UDP localport={#MyUdpPort} action=allow remoteip=localsubnet"; Flags: runhidden; StatusMsg: "Adding firewall rules..."; Tasks: firewall
; as the user who started the setup, not as the administrator it runs as
Filename: "{app}\{#MyGuiExe}"; Description: "Start mfsync now"; Flags: nowait postinstall skipifsilent runasoriginaluser

[UninstallRun]
; whatever tasks were chosen: rules from an earlier install go too (a missing one is no error)
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync-gui TCP"" dir=in program=""{app}\{#MyGuiExe}"" protocol=TCP localport={#MyTcpPort}"; Flags: runhidden; RunOnceId: "FirewallGuiTcp"
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync-gui UDP"" dir=in program=""{app}\{#MyGuiExe}"" protocol=UDP localport={#MyUdpPort}"; Flags: runhidden; RunOnceId: "FirewallGuiUdp"
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync TCP"" dir=in program=""{app}\{#MyCliExe}"" protocol=TCP localport={#MyTcpPort}"; Flags: runhidden; RunOnceId: "FirewallCliTcp"
Filename: "{sys}\netsh.exe"; Parameters: "advfirewall firewall delete rule name=""mfsync UDP"" dir=in program=""{app}\{#MyCliExe}"" protocol=UDP localport={#MyUdpPort}"; Flags: runhidden; RunOnceId: "FirewallCliUdp"

[Code]
{ The app's own "start at login" switch writes the same Run value even when the task was not
  chosen: remove it too when it starts this installation, so that no login starts a program
  that is gone. A value naming another copy of mfsync is left alone. }
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Command: String;
begin
  if (CurUninstallStep = usPostUninstall) and
     RegQueryStringValue(HKCU, 'Software\Microsoft\Windows\CurrentVersion\Run', 'mfsync', Command) and
     (Pos(Lowercase(ExpandConstant('{app}\{#MyGuiExe}')), Lowercase(Command)) > 0) then
    RegDeleteValue(HKCU, 'Software\Microsoft\Windows\CurrentVersion\Run', 'mfsync');
end;
