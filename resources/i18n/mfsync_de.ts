<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de">
<context>
    <name></name>
    <message>
        <source>mfsync is still running</source>
        <extracomment>The power source is asked this often (a change of power is not urgent). Batched notifications are checked this often. Where offers of files are asked about (None: the desktop&apos;s, found at start). Where the window&apos;s size, place and tab are kept between starts (None: nowhere).</extracomment>
        <translation>mfsync läuft weiter</translation>
    </message>
    <message>
        <source>It keeps sharing from the tray. Quit it from the tray icon&apos;s menu.</source>
        <translation>Es gibt im Infobereich weiter frei. Beenden lässt es sich über das Menü des Symbols im Infobereich.</translation>
    </message>
    <message>
        <source>Not a folder: {paths}</source>
        <translation>Kein Ordner: {paths}</translation>
    </message>
    <message>
        <source>Not found: {paths}</source>
        <translation>Nicht gefunden: {paths}</translation>
    </message>
    <message>
        <source>Files to send</source>
        <translation>Zu sendende Dateien</translation>
    </message>
    <message numerus="yes">
        <source>%n item(s)</source>
        <translation>
            <numerusform>%n Element</numerusform>
            <numerusform>%n Elemente</numerusform>
        </translation>
    </message>
    <message>
        <source>{error}; choose another port in Settings</source>
        <translation>{error}; wählen Sie in den Einstellungen einen anderen Port</translation>
    </message>
    <message>
        <source>everyone</source>
        <extracomment>The most keys named one by one before the rest are counted (&quot;a, b, c and 2 more&quot;).</extracomment>
        <translation>alle</translation>
    </message>
    <message>
        <source>trusted keys ({count})</source>
        <translation>vertrauenswürdige Schlüssel ({count})</translation>
    </message>
    <message>
        <source>nobody else</source>
        <translation>niemand sonst</translation>
    </message>
    <message numerus="yes">
        <source>{names} and %n more</source>
        <translation>
            <numerusform>{names} und %n weiterer</numerusform>
            <numerusform>{names} und %n weitere</numerusform>
        </translation>
    </message>
    <message>
        <source>unexpected error: {error}</source>
        <translation>unerwarteter Fehler: {error}</translation>
    </message>
    <message>
        <source>the download folder</source>
        <extracomment>How notifications name the download folder.</extracomment>
        <translation>den Download-Ordner</translation>
    </message>
    <message>
        <source>another host</source>
        <translation>einem anderen Rechner</translation>
    </message>
    <message>
        <source>Shared folders</source>
        <extracomment>The user asked to quit the application (menu or window close without a tray). The window was closed and mfsync keeps running in the tray.</extracomment>
        <translation>Freigegebene Ordner</translation>
    </message>
    <message>
        <source>Drop folders here from your file manager to share them, or press Add folder.</source>
        <translation>Ziehen Sie Ordner aus Ihrer Dateiverwaltung hierher, um sie freizugeben, oder drücken Sie „Ordner hinzufügen“.</translation>
    </message>
    <message>
        <source>Add folder…</source>
        <translation>Ordner hinzufügen…</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Entfernen</translation>
    </message>
    <message>
        <source>Sync this folder</source>
        <translation>Diesen Ordner abgleichen</translation>
    </message>
    <message>
        <source>Sync: share this folder and also fetch into it every file other hosts offer.
Share only: others may fetch from it; nothing is written into it.</source>
        <translation>Abgleichen: diesen Ordner freigeben und jede Datei, die andere Rechner anbieten, in ihn holen.
Nur freigeben: andere dürfen daraus holen; nichts wird in ihn geschrieben.</translation>
    </message>
    <message>
        <source>Share with…</source>
        <translation>Freigeben für…</translation>
    </message>
    <message>
        <source>Choose which computers see this folder: they alone get its files, and only
their changes are taken into it.</source>
        <translation>Wählen Sie, welche Rechner diesen Ordner sehen: nur sie erhalten seine Dateien, und nur
ihre Änderungen werden übernommen.</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>Öffnen</translation>
    </message>
    <message>
        <source>Share only</source>
        <extracomment>The &quot;Share with…&quot; dialog open now, if any (tests and the screenshot script use it). Sync folders the network offers us (hidden while there are none).</extracomment>
        <translation>Nur freigeben</translation>
    </message>
    <message>
        <source>Choose a folder to share</source>
        <translation>Freizugebenden Ordner wählen</translation>
    </message>
    <message>
        <source>Adding {folder}…</source>
        <translation>{folder} wird hinzugefügt…</translation>
    </message>
    <message>
        <source>Sync with everyone?</source>
        <translation>Mit allen abgleichen?</translation>
    </message>
    <message>
        <source>No trusted keys are set, so any computer on this network can add files to {folder}.

Sync it anyway? (Trusted keys… limits sync to hosts you know.)</source>
        <translation>Es sind keine vertrauenswürdigen Schlüssel festgelegt, also kann jeder Rechner in diesem Netzwerk Dateien zu {folder} hinzufügen.

Trotzdem abgleichen? („Vertrauenswürdige Schlüssel…“ beschränkt den Abgleich auf Rechner, die Sie kennen.)</translation>
    </message>
    <message>
        <source>Hosts on the network</source>
        <extracomment>The trust dialog is wanted: at the verification of a key, or (None) at the list.</extracomment>
        <translation>Rechner im Netzwerk</translation>
    </message>
    <message>
        <source>Drop files or folders on a host to send them to it</source>
        <translation>Ziehen Sie Dateien oder Ordner auf einen Rechner, um sie ihm zu senden</translation>
    </message>
    <message>
        <source>Verify and trust…</source>
        <translation>Prüfen und vertrauen…</translation>
    </message>
    <message>
        <source>Send files…</source>
        <translation>Dateien senden…</translation>
    </message>
    <message>
        <source>Trusted keys…</source>
        <translation>Vertrauenswürdige Schlüssel…</translation>
    </message>
    <message>
        <source>Anyone on the network may fetch your files</source>
        <translation>Jeder im Netzwerk darf Ihre Dateien holen</translation>
    </message>
    <message numerus="yes">
        <source>%n trusted key(s); others are refused</source>
        <translation>
            <numerusform>%n vertrauenswürdiger Schlüssel; andere werden abgewiesen</numerusform>
            <numerusform>%n vertrauenswürdige Schlüssel; andere werden abgewiesen</numerusform>
        </translation>
    </message>
    <message>
        <source>Choose a host first</source>
        <translation>Wählen Sie zuerst einen Rechner</translation>
    </message>
    <message numerus="yes">
        <source>{host} and %n more</source>
        <translation>
            <numerusform>{host} und %n weiterer</numerusform>
            <numerusform>{host} und %n weitere</numerusform>
        </translation>
    </message>
    <message>
        <source>{hosts} shares &apos;{folder}&apos; to sync: {files}, {size}</source>
        <translation>{hosts} gibt „{folder}“ zum Abgleich frei: {files}, {size}</translation>
    </message>
    <message numerus="yes">
        <source>%n file(s)</source>
        <extracomment>The notification&apos;s action keys (``OPEN``: a click on the notification itself, by the freedesktop specification&apos;s name for it). The freedesktop notification service. How long a call to the notification service may take, in milliseconds.</extracomment>
        <translation>
            <numerusform>%n Datei</numerusform>
            <numerusform>%n Dateien</numerusform>
        </translation>
    </message>
    <message>
        <source>Sync {label} here</source>
        <translation>{label} hier abgleichen</translation>
    </message>
    <message>
        <source>Sync &apos;{folder}&apos; into this folder (created if it does not exist):</source>
        <translation>„{folder}“ in diesen Ordner abgleichen (er wird angelegt, falls er fehlt):</translation>
    </message>
    <message>
        <source>Choose…</source>
        <translation>Wählen…</translation>
    </message>
    <message>
        <source>Where to sync {label}</source>
        <translation>Wohin {label} abgleichen</translation>
    </message>
    <message>
        <source>Sync</source>
        <translation>Abgleichen</translation>
    </message>
    <message>
        <source>Type a full folder path, such as ~/Photos, or press Choose…</source>
        <translation>Geben Sie einen vollständigen Ordnerpfad ein, etwa ~/Bilder, oder drücken Sie „Wählen…“</translation>
    </message>
    <message>
        <source>Sync it here…</source>
        <translation>Hier abgleichen…</translation>
    </message>
    <message>
        <source>Download once</source>
        <translation>Einmal herunterladen</translation>
    </message>
    <message>
        <source>Download its files into your download folder once, without syncing it</source>
        <translation>Seine Dateien einmal in Ihren Download-Ordner herunterladen, ohne ihn abzugleichen</translation>
    </message>
    <message>
        <source>Ignore</source>
        <translation>Ignorieren</translation>
    </message>
    <message>
        <source>Do not offer this folder again</source>
        <translation>Diesen Ordner nicht mehr anbieten</translation>
    </message>
    <message>
        <source>Syncing {label} into {path}…</source>
        <translation>{label} wird in {path} abgeglichen…</translation>
    </message>
    <message numerus="yes">
        <source>Downloading %n file(s) of {label} into {folder}</source>
        <translation>
            <numerusform>%n Datei von {label} wird nach {folder} heruntergeladen</numerusform>
            <numerusform>%n Dateien von {label} werden nach {folder} heruntergeladen</numerusform>
        </translation>
    </message>
    <message>
        <source>No system tray was found on this desktop, so mfsync cannot keep running in the background: closing this window quits it. (On GNOME, the AppIndicator extension adds a tray.)</source>
        <translation>Auf diesem Desktop wurde kein Infobereich gefunden, darum kann mfsync nicht im Hintergrund weiterlaufen: Schließen dieses Fensters beendet es. (Unter GNOME fügt die Erweiterung AppIndicator einen Infobereich hinzu.)</translation>
    </message>
    <message>
        <source>Network</source>
        <translation>Netzwerk</translation>
    </message>
    <message>
        <source>Transfers</source>
        <extracomment>The progress column&apos;s width, in pixels.</extracomment>
        <translation>Übertragungen</translation>
    </message>
    <message>
        <source>Hosts</source>
        <translation>Rechner</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>&amp;Datei</translation>
    </message>
    <message>
        <source>&amp;Add folder…</source>
        <translation>Ordner &amp;hinzufügen…</translation>
    </message>
    <message>
        <source>&amp;Settings…</source>
        <translation>&amp;Einstellungen…</translation>
    </message>
    <message>
        <source>&amp;Trusted keys…</source>
        <translation>&amp;Vertrauenswürdige Schlüssel…</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>&amp;Beenden</translation>
    </message>
    <message>
        <source>&amp;Copy my public key</source>
        <translation>Meinen öffentlichen Schlüssel &amp;kopieren</translation>
    </message>
    <message>
        <source>&amp;Transfers</source>
        <translation>&amp;Übertragungen</translation>
    </message>
    <message>
        <source>&amp;Pause all transfers</source>
        <translation>Alle Übertragungen &amp;anhalten</translation>
    </message>
    <message>
        <source>Your public key: click to copy it</source>
        <translation>Ihr öffentlicher Schlüssel: zum Kopieren klicken</translation>
    </message>
    <message>
        <source>Click to pause or resume all transfers</source>
        <translation>Klicken, um alle Übertragungen anzuhalten oder fortzusetzen</translation>
    </message>
    <message>
        <source>Click to dismiss</source>
        <translation>Zum Schließen klicken</translation>
    </message>
    <message>
        <source>Key {key}…</source>
        <translation>Schlüssel {key}…</translation>
    </message>
    <message numerus="yes">
        <source>%n host(s) online</source>
        <translation>
            <numerusform>%n Rechner erreichbar</numerusform>
            <numerusform>%n Rechner erreichbar</numerusform>
        </translation>
    </message>
    <message>
        <source>Active</source>
        <translation>Aktiv</translation>
    </message>
    <message>
        <source>&amp;Resume all transfers</source>
        <translation>Alle Übertragungen &amp;fortsetzen</translation>
    </message>
    <message>
        <source>Your public key is on the clipboard</source>
        <translation>Ihr öffentlicher Schlüssel ist in der Zwischenablage</translation>
    </message>
    <message>
        <source>Folder</source>
        <extracomment>Transfer states in which the network table shows a file as being downloaded. Transfer states in which the file is here (as long as the transfer is remembered). The paths of the transfers the network table shows, each with one of those two words. A fraction from 0 to 1 for the progress column (None: no bar). A value to sort by, where the text does not sort well (sizes, times). The column whose cell carries ``PROGRESS_ROLE``.</extracomment>
        <translation>Ordner</translation>
    </message>
    <message>
        <source>Mode</source>
        <translation>Modus</translation>
    </message>
    <message>
        <source>Files</source>
        <translation>Dateien</translation>
    </message>
    <message>
        <source>State</source>
        <translation>Zustand</translation>
    </message>
    <message>
        <source>Label and id</source>
        <translation>Name und Kennung</translation>
    </message>
    <message>
        <source>Devices</source>
        <translation>Geräte</translation>
    </message>
    <message>
        <source>busy: {reason}</source>
        <translation>belegt: {reason}</translation>
    </message>
    <message>
        <source>starting</source>
        <translation>startet</translation>
    </message>
    <message>
        <source>error: {error}</source>
        <translation>Fehler: {error}</translation>
    </message>
    <message>
        <source>scanning</source>
        <translation>wird durchsucht</translation>
    </message>
    <message>
        <source>up to date</source>
        <translation>aktuell</translation>
    </message>
    <message>
        <source>sync</source>
        <translation>abgleichen</translation>
    </message>
    <message>
        <source>share only</source>
        <translation>nur freigeben</translation>
    </message>
    <message>
        <source>{path}
{name}
Shared with {devices}</source>
        <translation>{path}
{name}
Freigegeben für {devices}</translation>
    </message>
    <message>
        <source>Name</source>
        <extracomment>Fetched here into a folder we do not share (the download folder, or a chosen one).
----------
Keys are kept on the key cell, so the name column can be edited and sorted freely. The name column&apos;s starting width, in pixels.</extracomment>
        <translation>Name</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>Größe</translation>
    </message>
    <message>
        <source>folder {label} ({id})</source>
        <translation>Ordner {label} ({id})</translation>
    </message>
    <message>
        <source>{name}
{folder}{size} bytes
content {content}</source>
        <translation>{name}
{folder}{size} Bytes
Inhalt {content}</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Adresse</translation>
    </message>
    <message>
        <source>Key</source>
        <translation>Schlüssel</translation>
    </message>
    <message>
        <source>Trust</source>
        <translation>Vertrauen</translation>
    </message>
    <message>
        <source>Last seen</source>
        <translation>Zuletzt gesehen</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>unbekannt</translation>
    </message>
    <message>
        <source>refuses us</source>
        <translation>weist uns ab</translation>
    </message>
    <message>
        <source>trusted</source>
        <translation>vertrauenswürdig</translation>
    </message>
    <message>
        <source>trusted (not yet proven)</source>
        <translation>vertrauenswürdig (noch nicht bestätigt)</translation>
    </message>
    <message>
        <source>anyone may connect</source>
        <translation>jeder darf sich verbinden</translation>
    </message>
    <message>
        <source>untrusted</source>
        <translation>nicht vertrauenswürdig</translation>
    </message>
    <message>
        <source>now</source>
        <translation>jetzt</translation>
    </message>
    <message>
        <source>{duration} ago</source>
        <translation>vor {duration}</translation>
    </message>
    <message>
        <source>Files on the network</source>
        <translation>Dateien im Netzwerk</translation>
    </message>
    <message>
        <source>Search the network&apos;s files</source>
        <translation>Dateien im Netzwerk durchsuchen</translation>
    </message>
    <message>
        <source>Download</source>
        <translation>Herunterladen</translation>
    </message>
    <message>
        <source>Download to…</source>
        <translation>Herunterladen nach…</translation>
    </message>
    <message>
        <source>{files} on {hosts}</source>
        <translation>{files} auf {hosts}</translation>
    </message>
    <message numerus="yes">
        <source>%n host(s)</source>
        <translation>
            <numerusform>%n Rechner</numerusform>
            <numerusform>%n Rechnern</numerusform>
        </translation>
    </message>
    <message>
        <source>No hosts found yet. Is mfsync running on another computer on this network?</source>
        <translation>Noch keine Rechner gefunden. Läuft mfsync auf einem anderen Rechner in diesem Netzwerk?</translation>
    </message>
    <message numerus="yes">
        <source>Downloading %n file(s) to {folder}</source>
        <translation>
            <numerusform>%n Datei wird nach {folder} heruntergeladen</numerusform>
            <numerusform>%n Dateien werden nach {folder} heruntergeladen</numerusform>
        </translation>
    </message>
    <message>
        <source>Download to folder</source>
        <translation>In Ordner herunterladen</translation>
    </message>
    <message>
        <source>another computer</source>
        <extracomment>Files we sent to a host reached their end: delivered, declined, refused, ... Every kind of notification, in the order a flush shows them. Seconds without a new event of a kind before its batch is shown. A batch waits at most this many windows, however steadily events keep coming. Seconds during which the same refused key is not shown again. Longest name shown (a file or host name); longer ones are shortened in the middle. the batch&apos;s events by what identifies them (a later event for the same key replaces one) Which kinds are shown; events of a switched-off kind are dropped.</extracomment>
        <translation>einem anderen Rechner</translation>
    </message>
    <message>
        <source>Download finished</source>
        <translation>Download abgeschlossen</translation>
    </message>
    <message>
        <source>{file}{where} from {hosts}</source>
        <translation>{file}{where} von {hosts}</translation>
    </message>
    <message>
        <source>Downloads finished</source>
        <translation>Downloads abgeschlossen</translation>
    </message>
    <message numerus="yes">
        <source>%n file(s){where} from {hosts}</source>
        <translation>
            <numerusform>%n Datei{where} von {hosts}</numerusform>
            <numerusform>%n Dateien{where} von {hosts}</numerusform>
        </translation>
    </message>
    <message>
        <source> arrived in {folder}</source>
        <translation> angekommen in {folder}</translation>
    </message>
    <message numerus="yes">
        <source> arrived in {folders} and %n more folder(s)</source>
        <translation>
            <numerusform> angekommen in {folders} und %n weiterem Ordner</numerusform>
            <numerusform> angekommen in {folders} und %n weiteren Ordnern</numerusform>
        </translation>
    </message>
    <message>
        <source> arrived in {first} and {second}</source>
        <translation> angekommen in {first} und {second}</translation>
    </message>
    <message>
        <source>Download failed</source>
        <translation>Download fehlgeschlagen</translation>
    </message>
    <message numerus="yes">
        <source>%n download(s) failed</source>
        <translation>
            <numerusform>%n Download fehlgeschlagen</numerusform>
            <numerusform>%n Downloads fehlgeschlagen</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>{text} (and %n more)</source>
        <translation>
            <numerusform>{text} (und %n weiterer)</numerusform>
            <numerusform>{text} (und %n weitere)</numerusform>
        </translation>
    </message>
    <message>
        <source>Refused an untrusted computer</source>
        <translation>Einen nicht vertrauenswürdigen Rechner abgewiesen</translation>
    </message>
    <message>
        <source>{host} (key {key}) is not in your trusted keys</source>
        <translation>{host} (Schlüssel {key}) ist nicht unter Ihren vertrauenswürdigen Schlüsseln</translation>
    </message>
    <message numerus="yes">
        <source>Refused %n untrusted computer(s)</source>
        <translation>
            <numerusform>%n nicht vertrauenswürdigen Rechner abgewiesen</numerusform>
            <numerusform>%n nicht vertrauenswürdige Rechner abgewiesen</numerusform>
        </translation>
    </message>
    <message>
        <source>{hosts} are not in your trusted keys</source>
        <translation>{hosts} sind nicht unter Ihren vertrauenswürdigen Schlüsseln</translation>
    </message>
    <message>
        <source>{host} shares &apos;{label}&apos;</source>
        <translation>{host} gibt „{label}“ frei</translation>
    </message>
    <message>
        <source>Sync it here, download it once or ignore it: open mfsync ({id}).</source>
        <translation>Hier abgleichen, einmal herunterladen oder ignorieren: öffnen Sie mfsync ({id}).</translation>
    </message>
    <message numerus="yes">
        <source>%n folder(s) offered to sync</source>
        <translation>
            <numerusform>%n Ordner zum Abgleich angeboten</numerusform>
            <numerusform>%n Ordner zum Abgleich angeboten</numerusform>
        </translation>
    </message>
    <message>
        <source>{hosts} share {labels}: open mfsync to sync, download or ignore them.</source>
        <translation>{hosts} geben {labels} frei: öffnen Sie mfsync, um sie abzugleichen, herunterzuladen oder zu ignorieren.</translation>
    </message>
    <message>
        <source>Sent to {host}</source>
        <translation>An {host} gesendet</translation>
    </message>
    <message>
        <source>{label}: received and verified</source>
        <translation>{label}: empfangen und geprüft</translation>
    </message>
    <message>
        <source>Not sent to {host}</source>
        <translation>Nicht an {host} gesendet</translation>
    </message>
    <message numerus="yes">
        <source>{done} of %n send(s) delivered</source>
        <translation>
            <numerusform>{done} von %n Sendung zugestellt</numerusform>
            <numerusform>{done} von %n Sendungen zugestellt</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n send(s) delivered</source>
        <translation>
            <numerusform>%n Sendung zugestellt</numerusform>
            <numerusform>%n Sendungen zugestellt</numerusform>
        </translation>
    </message>
    <message>
        <source>to {hosts}</source>
        <translation>an {hosts}</translation>
    </message>
    <message>
        <source>{first} and {second}</source>
        <translation>{first} und {second}</translation>
    </message>
    <message numerus="yes">
        <source>{first}, {second} and %n more</source>
        <translation>
            <numerusform>{first}, {second} und %n weiterer</numerusform>
            <numerusform>{first}, {second} und %n weitere</numerusform>
        </translation>
    </message>
    <message>
        <source>&apos;{label}&apos;: {files}</source>
        <translation>„{label}“: {files}</translation>
    </message>
    <message>
        <source>{sender} wants to send you {what} ({size})</source>
        <translation>{sender} möchte Ihnen {what} senden ({size})</translation>
    </message>
    <message>
        <source>Files from {sender}</source>
        <translation>Dateien von {sender}</translation>
    </message>
    <message>
        <source>{offer}.
Key {key}…, from {address}. They go into your download folder.</source>
        <translation>{offer}.
Schlüssel {key}…, von {address}. Sie kommen in Ihren Download-Ordner.</translation>
    </message>
    <message numerus="yes">
        <source>… and %n more</source>
        <translation>
            <numerusform>… und %n weitere</numerusform>
            <numerusform>… und %n weitere</numerusform>
        </translation>
    </message>
    <message>
        <source>Accept</source>
        <translation>Annehmen</translation>
    </message>
    <message>
        <source>Decline</source>
        <translation>Ablehnen</translation>
    </message>
    <message numerus="yes">
        <source>{sender} wants to send you %n file(s)</source>
        <extracomment>Open dialogs, by offer. Notification ids, by offer, and offers by notification id.</extracomment>
        <translation>
            <numerusform>{sender} möchte Ihnen %n Datei senden</numerusform>
            <numerusform>{sender} möchte Ihnen %n Dateien senden</numerusform>
        </translation>
    </message>
    <message>
        <source>Show files</source>
        <translation>Dateien zeigen</translation>
    </message>
    <message>
        <source>Show files…</source>
        <translation>Dateien zeigen…</translation>
    </message>
    <message>
        <source>Cannot send to {host}: {error}</source>
        <extracomment>The data role of a host item: its key.</extracomment>
        <translation>Senden an {host} nicht möglich: {error}</translation>
    </message>
    <message>
        <source>Sending {what} to {host}…</source>
        <translation>{what} wird an {host} gesendet…</translation>
    </message>
    <message>
        <source>Send files</source>
        <translation>Dateien senden</translation>
    </message>
    <message>
        <source>Send {what} to:</source>
        <translation>{what} senden an:</translation>
    </message>
    <message>
        <source>Hosts that can take files</source>
        <translation>Rechner, die Dateien annehmen</translation>
    </message>
    <message>
        <source>{host}  (key {key}…)</source>
        <translation>{host}  (Schlüssel {key}…)</translation>
    </message>
    <message>
        <source>No host is on the network now.</source>
        <translation>Gerade ist kein Rechner im Netzwerk.</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>Senden</translation>
    </message>
    <message>
        <source>Trusted keys</source>
        <extracomment>The text of the last error (save, import, export), also shown in ``error_label``.</extracomment>
        <translation>Vertrauenswürdige Schlüssel</translation>
    </message>
    <message>
        <source>public keys allowed to connect; empty means anyone</source>
        <translation>öffentliche Schlüssel, die sich verbinden dürfen; leer heißt: jeder</translation>
    </message>
    <message>
        <source>Key names</source>
        <translation>Namen der Schlüssel</translation>
    </message>
    <message>
        <source>names shown for keys</source>
        <translation>für Schlüssel angezeigte Namen</translation>
    </message>
    <message>
        <source>Hosts to reach directly</source>
        <translation>Direkt erreichbare Rechner</translation>
    </message>
    <message>
        <source>HOST[:PORT] to reach directly where multicast fails</source>
        <translation>RECHNER[:PORT], direkt anzusprechen, wo Multicast versagt</translation>
    </message>
    <message>
        <source>Name of this computer</source>
        <translation>Name dieses Rechners</translation>
    </message>
    <message>
        <source>host name announced to others (default: the hostname)</source>
        <translation>der anderen angekündigte Name (Vorgabe: der Rechnername)</translation>
    </message>
    <message>
        <source>Transfer port</source>
        <translation>Port für Übertragungen</translation>
    </message>
    <message>
        <source>TCP port for transfers</source>
        <translation>TCP-Port für Übertragungen</translation>
    </message>
    <message>
        <source>Discovery group</source>
        <translation>Gruppe für die Suche</translation>
    </message>
    <message>
        <source>multicast group for discovery</source>
        <translation>Multicast-Gruppe für die Suche nach Rechnern</translation>
    </message>
    <message>
        <source>Discovery port</source>
        <translation>Port für die Suche</translation>
    </message>
    <message>
        <source>UDP port for discovery</source>
        <translation>UDP-Port für die Suche nach Rechnern</translation>
    </message>
    <message>
        <source>Network interfaces</source>
        <translation>Netzwerkschnittstellen</translation>
    </message>
    <message>
        <source>interface names or IPv4 addresses to use (default: all multicast-capable ones)</source>
        <translation>zu nutzende Schnittstellennamen oder IPv4-Adressen (Vorgabe: alle multicastfähigen)</translation>
    </message>
    <message>
        <source>Multicast TTL</source>
        <translation>Multicast-TTL</translation>
    </message>
    <message>
        <source>multicast TTL (1 keeps discovery on the local link)</source>
        <translation>Multicast-TTL (1 hält die Suche im lokalen Netz)</translation>
    </message>
    <message>
        <source>Download folder</source>
        <translation>Download-Ordner</translation>
    </message>
    <message>
        <source>where downloads go (empty: Downloads/mfsync in your home folder)</source>
        <translation>wohin Downloads kommen (leer: mfsync in Ihrem Download-Ordner)</translation>
    </message>
    <message>
        <source>folders to share: [{&quot;path&quot;: ..., &quot;mode&quot;: &quot;share&quot; or &quot;sync&quot;, &quot;id&quot;: ..., &quot;label&quot;: ..., &quot;devices&quot;: ...}]; any number may sync</source>
        <translation>freizugebende Ordner: [{&quot;path&quot;: ..., &quot;mode&quot;: &quot;share&quot; oder &quot;sync&quot;, &quot;id&quot;: ..., &quot;label&quot;: ..., &quot;devices&quot;: ...}]; beliebig viele dürfen abgleichen</translation>
    </message>
    <message>
        <source>Ignored invitations</source>
        <translation>Ignorierte Einladungen</translation>
    </message>
    <message>
        <source>ids of folders offered to sync whose invitations were ignored</source>
        <translation>Kennungen angebotener Ordner, deren Einladungen ignoriert wurden</translation>
    </message>
    <message>
        <source>Downloads at once</source>
        <translation>Gleichzeitige Downloads</translation>
    </message>
    <message>
        <source>how many files are downloaded at the same time</source>
        <translation>wie viele Dateien gleichzeitig heruntergeladen werden</translation>
    </message>
    <message>
        <source>Notify when downloads finish</source>
        <translation>Benachrichtigen, wenn Downloads fertig sind</translation>
    </message>
    <message>
        <source>show a notification when downloads finish</source>
        <translation>eine Benachrichtigung zeigen, wenn Downloads fertig sind</translation>
    </message>
    <message>
        <source>Notify when a download fails</source>
        <translation>Benachrichtigen, wenn ein Download fehlschlägt</translation>
    </message>
    <message>
        <source>show a notification when a download fails</source>
        <translation>eine Benachrichtigung zeigen, wenn ein Download fehlschlägt</translation>
    </message>
    <message>
        <source>Notify when an untrusted computer is refused</source>
        <translation>Benachrichtigen, wenn ein nicht vertrauenswürdiger Rechner abgewiesen wird</translation>
    </message>
    <message>
        <source>show a notification when an untrusted computer is refused</source>
        <translation>eine Benachrichtigung zeigen, wenn ein nicht vertrauenswürdiger Rechner abgewiesen wird</translation>
    </message>
    <message>
        <source>Notify when a computer offers a folder to sync</source>
        <translation>Benachrichtigen, wenn ein Rechner einen Ordner zum Abgleich anbietet</translation>
    </message>
    <message>
        <source>show a notification when a computer offers a folder to sync</source>
        <translation>eine Benachrichtigung zeigen, wenn ein Rechner einen Ordner zum Abgleich anbietet</translation>
    </message>
    <message>
        <source>Start when I log in</source>
        <translation>Beim Anmelden starten</translation>
    </message>
    <message>
        <source>start the app when you log in</source>
        <translation>die App starten, wenn Sie sich anmelden</translation>
    </message>
    <message>
        <source>Pause on battery power</source>
        <translation>Im Akkubetrieb anhalten</translation>
    </message>
    <message>
        <source>pause transfers and announce less often while on battery power</source>
        <translation>im Akkubetrieb Übertragungen anhalten und seltener ankündigen</translation>
    </message>
    <message>
        <source>Accept files from trusted computers without asking</source>
        <translation>Dateien von vertrauenswürdigen Rechnern ohne Nachfrage annehmen</translation>
    </message>
    <message>
        <source>accept files sent by trusted keys without asking (trusted: listed in trustedKeys)</source>
        <translation>von vertrauenswürdigen Schlüsseln gesendete Dateien ohne Nachfrage annehmen (vertrauenswürdig: in trustedKeys aufgeführt)</translation>
    </message>
    <message>
        <source>Accept files from anyone without asking</source>
        <translation>Dateien von jedem ohne Nachfrage annehmen</translation>
    </message>
    <message>
        <source>accept files sent by anyone without asking</source>
        <translation>von jedem gesendete Dateien ohne Nachfrage annehmen</translation>
    </message>
    <message>
        <source>General</source>
        <translation>Allgemein</translation>
    </message>
    <message>
        <source>Notifications</source>
        <translation>Benachrichtigungen</translation>
    </message>
    <message>
        <source>Receiving</source>
        <translation>Empfangen</translation>
    </message>
    <message>
        <source>Laptop</source>
        <translation>Laptop</translation>
    </message>
    <message>
        <source>Other</source>
        <translation>Sonstiges</translation>
    </message>
    <message>
        <source>These apply after restarting mfsync.</source>
        <extracomment>Which group each shown setting goes in, in order; settings not named here go in &quot;Other&quot;. The network settings are read once, when the node starts.</extracomment>
        <translation>Diese gelten nach einem Neustart von mfsync.</translation>
    </message>
    <message>
        <source>mfsync settings</source>
        <extracomment>Kinds that have no editor here: the trust dialog edits the keys, the main window the folders. Number ranges for settings whose ``limits`` the table leaves open. The language row (the app&apos;s own setting, kept in gui.ini), where the app has one.</extracomment>
        <translation>mfsync-Einstellungen</translation>
    </message>
    <message>
        <source>{setting}:</source>
        <extracomment>The &quot;applies after restarting&quot; note of the network group. The JSON value each field started from (after the last save). Whether the autostart entry exists, as last read or switched (read once, here: the entry itself is the truth, the user may have removed it by hand). Switching the autostart entry in a worker thread (see ``apply``).</extracomment>
        <translation>{setting}:</translation>
    </message>
    <message>
        <source>separated by commas</source>
        <translation>durch Kommas getrennt</translation>
    </message>
    <message>
        <source>{help}
Autostart entry: {location}</source>
        <translation>{help}
Autostart-Eintrag: {location}</translation>
    </message>
    <message>
        <source>Some settings are not valid; nothing was saved.</source>
        <translation>Einige Einstellungen sind ungültig; nichts wurde gespeichert.</translation>
    </message>
    <message>
        <source>Cannot change {location}: {error}</source>
        <translation>{location} lässt sich nicht ändern: {error}</translation>
    </message>
    <message>
        <source>The autostart entry could not be changed; nothing was saved.</source>
        <translation>Der Autostart-Eintrag ließ sich nicht ändern; nichts wurde gespeichert.</translation>
    </message>
    <message>
        <source>Cannot save the settings: {error}</source>
        <translation>Die Einstellungen lassen sich nicht speichern: {error}</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Durchsuchen…</translation>
    </message>
    <message>
        <source>Every computer that may connect to you sees this folder.</source>
        <extracomment>What each choice means, shown under the choices.</extracomment>
        <translation>Jeder Rechner, der sich mit Ihnen verbinden darf, sieht diesen Ordner.</translation>
    </message>
    <message>
        <source>The computers of your trusted keys see this folder, as the list stands when they ask (a key you trust later sees it too).</source>
        <translation>Die Rechner Ihrer vertrauenswürdigen Schlüssel sehen diesen Ordner, so wie die Liste steht, wenn sie fragen (ein Schlüssel, dem Sie später vertrauen, sieht ihn auch).</translation>
    </message>
    <message>
        <source>Only the computers checked in the list see this folder.</source>
        <translation>Nur die in der Liste angehakten Rechner sehen diesen Ordner.</translation>
    </message>
    <message>
        <source>Both ways: only these computers get its files, and only their changes are taken into it. A change applies at once, to connections already open too.</source>
        <extracomment>Said under every choice: the list works both ways.</extracomment>
        <translation>In beide Richtungen: nur diese Rechner erhalten seine Dateien, und nur ihre Änderungen werden übernommen. Eine Änderung gilt sofort, auch für schon offene Verbindungen.</translation>
    </message>
    <message>
        <source>You have no trusted keys yet: no other computer would see this folder.</source>
        <extracomment>Said when there is no trust list and &quot;Trusted computers&quot; is chosen.</extracomment>
        <translation>Sie haben noch keine vertrauenswürdigen Schlüssel: kein anderer Rechner würde diesen Ordner sehen.</translation>
    </message>
    <message>
        <source>Check at least one computer, or choose another option (to keep the folder to this computer, stop sharing it).</source>
        <extracomment>The refusal of &quot;Only these&quot; with nothing checked.</extracomment>
        <translation>Haken Sie mindestens einen Rechner an oder wählen Sie eine andere Möglichkeit (um den Ordner nur auf diesem Rechner zu behalten, beenden Sie die Freigabe).</translation>
    </message>
    <message>
        <source>not trusted: cannot connect while you have trusted keys</source>
        <extracomment>Said of a checked host whose key is not trusted while a trust list is set.</extracomment>
        <translation>nicht vertrauenswürdig: kann sich nicht verbinden, solange Sie vertrauenswürdige Schlüssel haben</translation>
    </message>
    <message>
        <source>Share {label} with…</source>
        <translation>{label} freigeben für…</translation>
    </message>
    <message>
        <source>{folder} is shared with {audience}.</source>
        <translation>{folder} ist freigegeben für {audience}.</translation>
    </message>
    <message>
        <source>&amp;Everyone</source>
        <translation>&amp;Alle</translation>
    </message>
    <message>
        <source>&amp;Trusted computers ({count})</source>
        <translation>&amp;Vertrauenswürdige Rechner ({count})</translation>
    </message>
    <message>
        <source>&amp;Only these:</source>
        <translation>&amp;Nur diese:</translation>
    </message>
    <message>
        <source>seen on the network</source>
        <translation>im Netzwerk gesehen</translation>
    </message>
    <message>
        <source>queued</source>
        <translation>wartet</translation>
    </message>
    <message>
        <source>verifying</source>
        <translation>wird geprüft</translation>
    </message>
    <message>
        <source>downloading</source>
        <translation>wird heruntergeladen</translation>
    </message>
    <message>
        <source>waiting</source>
        <translation>wartet auf Quelle</translation>
    </message>
    <message>
        <source>done</source>
        <translation>fertig</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>fehlgeschlagen</translation>
    </message>
    <message>
        <source>skipped</source>
        <translation>übersprungen</translation>
    </message>
    <message>
        <source>paused</source>
        <translation>angehalten</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>abgebrochen</translation>
    </message>
    <message>
        <source>announced</source>
        <translation>angekündigt</translation>
    </message>
    <message>
        <source>connected</source>
        <translation>verbunden</translation>
    </message>
    <message>
        <source>refused</source>
        <translation>abgewiesen</translation>
    </message>
    <message>
        <source>unreachable</source>
        <translation>nicht erreichbar</translation>
    </message>
    <message>
        <source>pending</source>
        <translation>offen</translation>
    </message>
    <message>
        <source>receiving</source>
        <translation>wird empfangen</translation>
    </message>
    <message>
        <source>received</source>
        <translation>empfangen</translation>
    </message>
    <message>
        <source>declined</source>
        <translation>abgelehnt</translation>
    </message>
    <message>
        <source>staging</source>
        <translation>wird vorbereitet</translation>
    </message>
    <message>
        <source>sending</source>
        <translation>wird gesendet</translation>
    </message>
    <message>
        <source>delivered</source>
        <translation>zugestellt</translation>
    </message>
    <message>
        <source>timed out</source>
        <translation>Zeit abgelaufen</translation>
    </message>
    <message>
        <source>paused on battery</source>
        <translation>im Akkubetrieb angehalten</translation>
    </message>
    <message>
        <source>share</source>
        <translation>freigeben</translation>
    </message>
    <message>
        <source>remote</source>
        <translation>entfernt</translation>
    </message>
    <message>
        <source>local</source>
        <translation>lokal</translation>
    </message>
    <message>
        <source>downloaded</source>
        <translation>heruntergeladen</translation>
    </message>
    <message>
        <source>conflict</source>
        <translation>Konflikt</translation>
    </message>
    <message>
        <source>waiting for {host} to accept</source>
        <translation>wartet, dass {host} annimmt</translation>
    </message>
    <message>
        <source>sending to {host}</source>
        <translation>wird an {host} gesendet</translation>
    </message>
    <message>
        <source>delivered to {host}</source>
        <translation>an {host} zugestellt</translation>
    </message>
    <message>
        <source>↓ download</source>
        <extracomment>The Direction column&apos;s words.</extracomment>
        <translation>↓ Download</translation>
    </message>
    <message>
        <source>↑ send</source>
        <translation>↑ Senden</translation>
    </message>
    <message>
        <source>Direction</source>
        <translation>Richtung</translation>
    </message>
    <message>
        <source>Progress</source>
        <translation>Fortschritt</translation>
    </message>
    <message>
        <source>Speed</source>
        <translation>Tempo</translation>
    </message>
    <message>
        <source>Time left</source>
        <translation>Restzeit</translation>
    </message>
    <message>
        <source>Host</source>
        <translation>Rechner</translation>
    </message>
    <message>
        <source>Pause</source>
        <translation>Anhalten</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>Fortsetzen</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Abbrechen</translation>
    </message>
    <message>
        <source>Clear finished</source>
        <translation>Erledigte entfernen</translation>
    </message>
    <message>
        <source>Pause all</source>
        <translation>Alle anhalten</translation>
    </message>
    <message>
        <source>Resume all</source>
        <extracomment>Offers of files made to us that wait for an answer (hidden while there are none).</extracomment>
        <translation>Alle fortsetzen</translation>
    </message>
    <message>
        <source>Transfers ({count})</source>
        <translation>Übertragungen ({count})</translation>
    </message>
    <message numerus="yes">
        <source>%n transfer(s) running</source>
        <extracomment>How many recent downloads the tray menu lists. How long a notification stays up, in milliseconds. *Send files…*: the app asks for the files, then the host.</extracomment>
        <translation>
            <numerusform>%n Übertragung läuft</numerusform>
            <numerusform>%n Übertragungen laufen</numerusform>
        </translation>
    </message>
    <message>
        <source>Idle</source>
        <translation>Untätig</translation>
    </message>
    <message>
        <source>Open mfsync</source>
        <translation>mfsync öffnen</translation>
    </message>
    <message>
        <source>Resume transfers</source>
        <translation>Übertragungen fortsetzen</translation>
    </message>
    <message>
        <source>Pause transfers</source>
        <translation>Übertragungen anhalten</translation>
    </message>
    <message>
        <source>Recent downloads</source>
        <translation>Letzte Downloads</translation>
    </message>
    <message>
        <source>None yet</source>
        <translation>Noch keine</translation>
    </message>
    <message>
        <source>Quit mfsync</source>
        <translation>mfsync beenden</translation>
    </message>
    <message>
        <source>Anyone on the network may fetch from you (no trusted keys)</source>
        <translation>Jeder im Netzwerk darf bei Ihnen holen (keine vertrauenswürdigen Schlüssel)</translation>
    </message>
    <message>
        <source>Everyone on the network will be able to fetch your files</source>
        <translation>Jeder im Netzwerk wird Ihre Dateien holen können</translation>
    </message>
    <message numerus="yes">
        <source>Only these %n host(s) may connect, both ways</source>
        <translation>
            <numerusform>Nur dieser %n Rechner darf sich verbinden, in beide Richtungen</numerusform>
            <numerusform>Nur diese %n Rechner dürfen sich verbinden, in beide Richtungen</numerusform>
        </translation>
    </message>
    <message>
        <source>Trusted hosts</source>
        <translation>Vertrauenswürdige Rechner</translation>
    </message>
    <message>
        <source>Remove selected</source>
        <translation>Ausgewählte entfernen</translation>
    </message>
    <message>
        <source>Import…</source>
        <translation>Importieren…</translation>
    </message>
    <message>
        <source>Export…</source>
        <translation>Exportieren…</translation>
    </message>
    <message>
        <source>This computer&apos;s key (give it to the hosts that should trust you)</source>
        <translation>Der Schlüssel dieses Rechners (geben Sie ihn den Rechnern, die Ihnen vertrauen sollen)</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>Kopieren</translation>
    </message>
    <message>
        <source>Cannot save the trust list: {error}</source>
        <translation>Die Vertrauensliste lässt sich nicht speichern: {error}</translation>
    </message>
    <message>
        <source>JSON files (*.json);;All files (*)</source>
        <translation>JSON-Dateien (*.json);;Alle Dateien (*)</translation>
    </message>
    <message>
        <source>Export trusted keys</source>
        <extracomment>The file name an export suggests.</extracomment>
        <translation>Vertrauenswürdige Schlüssel exportieren</translation>
    </message>
    <message>
        <source>Import trusted keys</source>
        <translation>Vertrauenswürdige Schlüssel importieren</translation>
    </message>
    <message>
        <source>No untrusted hosts seen on the network</source>
        <translation>Keine nicht vertrauenswürdigen Rechner im Netzwerk gesehen</translation>
    </message>
    <message>
        <source>Add a host seen on the network</source>
        <translation>Einen im Netzwerk gesehenen Rechner hinzufügen</translation>
    </message>
    <message>
        <source>Host to trust</source>
        <extracomment>The verification dialog currently open, if any.</extracomment>
        <translation>Rechner, dem vertraut werden soll</translation>
    </message>
    <message>
        <source>Add a key</source>
        <translation>Einen Schlüssel hinzufügen</translation>
    </message>
    <message>
        <source>Paste a public key (64 hex characters)</source>
        <translation>Öffentlichen Schlüssel einfügen (64 Hexadezimalzeichen)</translation>
    </message>
    <message>
        <source>Public key to trust</source>
        <translation>Öffentlicher Schlüssel, dem vertraut werden soll</translation>
    </message>
    <message>
        <source>Name (optional)</source>
        <translation>Name (freiwillig)</translation>
    </message>
    <message>
        <source>Name for the key</source>
        <translation>Name für den Schlüssel</translation>
    </message>
    <message>
        <source>Add</source>
        <translation>Hinzufügen</translation>
    </message>
    <message>
        <source>Paste a public key first.</source>
        <translation>Fügen Sie zuerst einen öffentlichen Schlüssel ein.</translation>
    </message>
    <message>
        <source>{key}… is on the list already.</source>
        <translation>{key}… steht schon auf der Liste.</translation>
    </message>
    <message>
        <source>Verify {host}</source>
        <extracomment>The verification code is read aloud and compared by eye: make it big. The verification dialog&apos;s least width, in pixels.</extracomment>
        <translation>{host} prüfen</translation>
    </message>
    <message>
        <source>Compare this code with the one shown on {host}&apos;s screen (in mfsync: Hosts → Verify and trust…, or {command}). Trust only if they match.</source>
        <translation>Vergleichen Sie diesen Code mit dem auf dem Bildschirm von {host} (in mfsync: Rechner → Prüfen und vertrauen…, oder {command}). Vertrauen Sie nur, wenn beide gleich sind.</translation>
    </message>
    <message>
        <source>{host} at {address}, key {key}</source>
        <translation>{host} unter {address}, Schlüssel {key}</translation>
    </message>
    <message>
        <source>{host}, key {key}</source>
        <translation>{host}, Schlüssel {key}</translation>
    </message>
    <message>
        <source> (announced only, not yet proven by a connection)</source>
        <translation> (nur angekündigt, noch nicht durch eine Verbindung bestätigt)</translation>
    </message>
    <message>
        <source>They match – trust</source>
        <translation>Sie stimmen überein – vertrauen</translation>
    </message>
    <message>
        <source>, announced only</source>
        <translation>, nur angekündigt</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Sprache</translation>
    </message>
    <message>
        <source>The system&apos;s language</source>
        <translation>Die Sprache des Systems</translation>
    </message>
    <message>
        <source>Language:</source>
        <translation>Sprache:</translation>
    </message>
    <message>
        <source>A change applies after restarting mfsync.</source>
        <translation>Eine Änderung gilt nach einem Neustart von mfsync.</translation>
    </message>
    <message>
        <source>superseded: the file changed on the network</source>
        <translation>überholt: die Datei hat sich im Netzwerk geändert</translation>
    </message>
    <message>
        <source>every host offering it failed: {why}</source>
        <translation>jeder Rechner, der sie anbietet, ist gescheitert: {why}</translation>
    </message>
    <message>
        <source>no host offers it any more</source>
        <translation>kein Rechner bietet sie mehr an</translation>
    </message>
    <message>
        <source>no host delivered any of it for {seconds} s</source>
        <translation>kein Rechner hat {seconds} s lang etwas davon geliefert</translation>
    </message>
    <message>
        <source>the folder {folder} is here already</source>
        <translation>der Ordner {folder} ist schon hier</translation>
    </message>
    <message>
        <source>{path} is not a shared folder</source>
        <translation>{path} ist kein freigegebener Ordner</translation>
    </message>
    <message>
        <source>{path} is shared already</source>
        <translation>{path} ist schon freigegeben</translation>
    </message>
    <message>
        <source>{path} overlaps the shared folder {other}</source>
        <translation>{path} überschneidet sich mit dem freigegebenen Ordner {other}</translation>
    </message>
    <message>
        <source>cannot create {path}: {error}</source>
        <translation>{path} lässt sich nicht anlegen: {error}</translation>
    </message>
    <message>
        <source>nothing to send</source>
        <translation>nichts zu senden</translation>
    </message>
    <message>
        <source>no offer {offer} is under way</source>
        <translation>kein Angebot {offer} ist unterwegs</translation>
    </message>
    <message>
        <source>no offer {offer} was sent</source>
        <translation>kein Angebot {offer} wurde gesendet</translation>
    </message>
    <message>
        <source>no host with that key is on the network now (give its address)</source>
        <translation>kein Rechner mit diesem Schlüssel ist gerade im Netzwerk (geben Sie seine Adresse an)</translation>
    </message>
    <message>
        <source>no host offers the folder {folder} to sync now</source>
        <translation>kein Rechner bietet den Ordner {folder} gerade zum Abgleich an</translation>
    </message>
    <message>
        <source>served by {command}</source>
        <translation>bedient von {command}</translation>
    </message>
    <message>
        <source>served by {command} (pid {pid})</source>
        <translation>bedient von {command} (PID {pid})</translation>
    </message>
    <message>
        <source>served by another mfsync</source>
        <translation>bedient von einem anderen mfsync</translation>
    </message>
    <message>
        <source>served by another mfsync (pid {pid})</source>
        <translation>bedient von einem anderen mfsync (PID {pid})</translation>
    </message>
    <message>
        <source>cannot serve it: {error}</source>
        <translation>kann ihn nicht bedienen: {error}</translation>
    </message>
</context>
</TS>
