<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
    <context>
        <name />
        <message numerus="yes">
            <source>%n item(s)</source>
            <translation>
                <numerusform>%n item</numerusform>
                <numerusform>%n items</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>{names} and %n more</source>
            <translation>
                <numerusform>{names} and %n more</numerusform>
                <numerusform>{names} and %n more</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n trusted key(s); others are refused</source>
            <translation>
                <numerusform>%n trusted key; others are refused</numerusform>
                <numerusform>%n trusted keys; others are refused</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>{host} and %n more</source>
            <translation>
                <numerusform>{host} and %n more</numerusform>
                <numerusform>{host} and %n more</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n file(s)</source>
            <extracomment>The notification's action keys (``OPEN``: a click on the notification itself, by the freedesktop specification's name for it). The freedesktop notification service. How long a call to the notification service may take, in milliseconds.</extracomment>
            <translation>
                <numerusform>%n file</numerusform>
                <numerusform>%n files</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Downloading %n file(s) of {label} into {folder}</source>
            <translation>
                <numerusform>Downloading %n file of {label} into {folder}</numerusform>
                <numerusform>Downloading %n files of {label} into {folder}</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n host(s) online</source>
            <translation>
                <numerusform>%n host online</numerusform>
                <numerusform>%n hosts online</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n host(s)</source>
            <translation>
                <numerusform>%n host</numerusform>
                <numerusform>%n hosts</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Downloading %n file(s) to {folder}</source>
            <translation>
                <numerusform>Downloading %n file to {folder}</numerusform>
                <numerusform>Downloading %n files to {folder}</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n file(s){where} from {hosts}</source>
            <translation>
                <numerusform>%n file{where} from {hosts}</numerusform>
                <numerusform>%n files{where} from {hosts}</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source> arrived in {folders} and %n more folder(s)</source>
            <translation>
                <numerusform> arrived in {folders} and %n more folder</numerusform>
                <numerusform> arrived in {folders} and %n more folders</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n download(s) failed</source>
            <translation>
                <numerusform>%n download failed</numerusform>
                <numerusform>%n downloads failed</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>{text} (and %n more)</source>
            <translation>
                <numerusform>{text} (and %n more)</numerusform>
                <numerusform>{text} (and %n more)</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Refused %n untrusted computer(s)</source>
            <translation>
                <numerusform>Refused %n untrusted computer</numerusform>
                <numerusform>Refused %n untrusted computers</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n folder(s) offered to sync</source>
            <translation>
                <numerusform>%n folder offered to sync</numerusform>
                <numerusform>%n folders offered to sync</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>{done} of %n send(s) delivered</source>
            <translation>
                <numerusform>{done} of %n send delivered</numerusform>
                <numerusform>{done} of %n sends delivered</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n send(s) delivered</source>
            <translation>
                <numerusform>%n send delivered</numerusform>
                <numerusform>%n sends delivered</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>{first}, {second} and %n more</source>
            <translation>
                <numerusform>{first}, {second} and %n more</numerusform>
                <numerusform>{first}, {second} and %n more</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>… and %n more</source>
            <translation>
                <numerusform>… and %n more</numerusform>
                <numerusform>… and %n more</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>{sender} wants to send you %n file(s)</source>
            <extracomment>Open dialogs, by offer. Notification ids, by offer, and offers by notification id.</extracomment>
            <translation>
                <numerusform>{sender} wants to send you %n file</numerusform>
                <numerusform>{sender} wants to send you %n files</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n transfer(s) running</source>
            <extracomment>How many recent downloads the tray menu lists. How long a notification stays up, in milliseconds. *Send files…*: the app asks for the files, then the host.</extracomment>
            <translation>
                <numerusform>%n transfer running</numerusform>
                <numerusform>%n transfers running</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Only these %n host(s) may connect, both ways</source>
            <translation>
                <numerusform>Only this %n host may connect, both ways</numerusform>
                <numerusform>Only these %n hosts may connect, both ways</numerusform>
            </translation>
        </message>
    </context>
</TS>
