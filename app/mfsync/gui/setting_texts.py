"""The settings' labels and help in the user's language.

The settings are declared once, in ``mfsync.config.SETTINGS`` (the engine's, which imports no
Qt); the settings dialog shows each label and help through ``tr``. So that ``pyside6-lupdate``
puts them before the translator they are listed here again, as ``QT_TR_NOOP``;
``tests/gui/test_translations.py`` fails when a setting's text is missing here.
"""


from mfsync.gui.i18n import QT_TR_NOOP

__all__ = ["SETTING_TEXTS"]

SETTING_TEXTS = (
    QT_TR_NOOP('Trusted keys'),
    QT_TR_NOOP('public keys allowed to connect; empty means anyone'),
    QT_TR_NOOP('Key names'),
    QT_TR_NOOP('names shown for keys'),
    QT_TR_NOOP('Hosts to reach directly'),
    QT_TR_NOOP('HOST[:PORT] to reach directly where multicast fails'),
    QT_TR_NOOP('Name of this computer'),
    QT_TR_NOOP('host name announced to others (default: the hostname)'),
    QT_TR_NOOP('Transfer port'),
    QT_TR_NOOP('TCP port for transfers'),
    QT_TR_NOOP('Discovery group'),
    QT_TR_NOOP('multicast group for discovery'),
    QT_TR_NOOP('Discovery port'),
    QT_TR_NOOP('UDP port for discovery'),
    QT_TR_NOOP('Network interfaces'),
    QT_TR_NOOP('interface names or IPv4 addresses to use (default: all multicast-capable '
               'ones)'),
    QT_TR_NOOP('Multicast TTL'),
    QT_TR_NOOP('multicast TTL (1 keeps discovery on the local link)'),
    QT_TR_NOOP('Download folder'),
    QT_TR_NOOP('where downloads go (empty: Downloads/mfsync in your home folder)'),
    QT_TR_NOOP('Shared folders'),
    QT_TR_NOOP('folders to share: [{"path": ..., "mode": "share" or "sync", "id": ..., '
               '"label": ..., "devices": ...}]; any number may sync'),
    QT_TR_NOOP('Ignored invitations'),
    QT_TR_NOOP('ids of folders offered to sync whose invitations were ignored'),
    QT_TR_NOOP('Downloads at once'),
    QT_TR_NOOP('how many files are downloaded at the same time'),
    QT_TR_NOOP('Notify when downloads finish'),
    QT_TR_NOOP('show a notification when downloads finish'),
    QT_TR_NOOP('Notify when a download fails'),
    QT_TR_NOOP('show a notification when a download fails'),
    QT_TR_NOOP('Notify when an untrusted computer is refused'),
    QT_TR_NOOP('show a notification when an untrusted computer is refused'),
    QT_TR_NOOP('Notify when a computer offers a folder to sync'),
    QT_TR_NOOP('show a notification when a computer offers a folder to sync'),
    QT_TR_NOOP('Start when I log in'),
    QT_TR_NOOP('start the app when you log in'),
    QT_TR_NOOP('Pause on battery power'),
    QT_TR_NOOP('pause transfers and announce less often while on battery power'),
    QT_TR_NOOP('Accept files from trusted computers without asking'),
    QT_TR_NOOP('accept files sent by trusted keys without asking (trusted: listed in '
               'trustedKeys)'),
    QT_TR_NOOP('Accept files from anyone without asking'),
    QT_TR_NOOP('accept files sent by anyone without asking'),
    # the groups of the settings dialog
    QT_TR_NOOP("General"), QT_TR_NOOP("Notifications"), QT_TR_NOOP("Receiving"),
    QT_TR_NOOP("Laptop"), QT_TR_NOOP("Network"), QT_TR_NOOP("Other"),
)
