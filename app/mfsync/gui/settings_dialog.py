"""The settings dialog, generated from the ``SETTINGS`` table in ``mfsync.config``.

How it works: every setting the table does not mark internal gets one editor, chosen by its
``kind``, labelled with its ``label`` and explained by its ``help``; the only knowledge kept here
is which group a setting goes in and the range of a few numbers. Editors hold JSON values (what
``config.json`` holds, via ``to_json_value``), so on OK the changed ones are checked with the
setting's own parser, shown next to the field if they are wrong, and otherwise handed to
``Service.update_settings`` in one call. The autostart setting also switches the autostart
entry itself, through the ``Autostart`` object the dialog is given: in a worker thread (it
writes a file, or the registry), the settings being saved once it is done.
"""

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import shiboken6
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mfsync.config import SETTINGS, ConfigError, Setting, to_json_value
from mfsync.engine.service import Service, ServiceError
from mfsync.gui.dialogs import ask_folder, message_line, ok_apply_cancel
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.language_choice import LanguageChoice

__all__ = ["GROUPS", "RESTART_NOTE", "AutostartControl", "SettingsDialog"]

log = logging.getLogger("mfsync.gui")

#: Which group each shown setting goes in, in order; settings not named here go in "Other".
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("General", ("name", "downloadFolder", "concurrentDownloads")),
    ("Notifications", ("notifyDownloads", "notifyFailures", "notifyRefused",
                       "notifyInvitations")),
    ("Receiving", ("acceptFromTrusted", "acceptFromAnyone")),
    ("Laptop", ("autostart", "pauseOnBattery")),
    ("Network", ("port", "multicastAddress", "multicastPort", "interfaces", "ttl", "peers")),
)
OTHER_GROUP = "Other"
#: The network settings are read once, when the node starts.
RESTART_GROUPS = frozenset({"Network"})
RESTART_NOTE = QT_TR_NOOP("These apply after restarting mfsync.")
#: Kinds that have no editor here: the trust dialog edits the keys, the main window the folders.
HIDDEN_KINDS = frozenset({"internal"})
AUTOSTART_KEY = "autostart"
#: Number ranges for settings whose ``limits`` the table leaves open.
KIND_RANGES: dict[str, tuple[int, int]] = {"port": (1, 65535), "int": (0, 1_000_000)}


class AutostartControl(Protocol):
    """What the dialog needs of ``mfsync.gui.autostart.Autostart``."""

    @property
    def location(self) -> Any:
        """Where the autostart entry lives (a file, or a registry value's name)."""

    def enabled(self) -> bool:
        """Whether mfsync starts at login now."""

    def enable(self) -> None:
        """Start mfsync at login."""

    def disable(self) -> None:
        """Do not start mfsync at login."""


class _Field:
    """One setting's editor row: the editor, its error line, and JSON values in and out."""

    def __init__(self, setting: Setting, editor: QWidget, read: Callable[[], Any],
                 write: Callable[[Any], None]) -> None:
        self.setting = setting
        self.editor = editor
        self.read = read
        self.write = write
        self.error_label = message_line()
        self.row = QWidget()
        layout = QVBoxLayout(self.row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(editor)
        layout.addWidget(self.error_label)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()


class SettingsDialog(QDialog):
    """Edit the settings; OK or Apply saves the changed ones through ``Service.update_settings``.

    ``autostart`` is switched on or off along with the ``autostart`` setting.
    """

    def __init__(self, service: Service, autostart: AutostartControl,
                 parent: QWidget | None = None, *,
                 language: LanguageChoice | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.autostart = autostart
        #: The language row (the app's own setting, kept in gui.ini), where the app has one.
        self.language = language
        self.setWindowTitle(tr("mfsync settings"))
        self.resize(560, 640)
        self._fields: dict[str, _Field] = {}
        #: The "applies after restarting" note of the network group.
        self.restart_note: QLabel | None = None
        #: The JSON value each field started from (after the last save).
        self._initial: dict[str, Any] = {}
        #: Whether the autostart entry exists, as last read or switched (read once, here: the
        #: entry itself is the truth, the user may have removed it by hand).
        self._autostart_on = autostart.enabled()
        #: Switching the autostart entry in a worker thread (see ``apply``).
        self._task: asyncio.Task[None] | None = None

        groups: dict[str, list[Setting]] = {}
        group_of = {key: group for group, keys in GROUPS for key in keys}
        order = {key: i for i, key in enumerate(k for _, keys in GROUPS for k in keys)}
        for setting in sorted((s for s in SETTINGS if s.kind not in HIDDEN_KINDS),
                              key=lambda s: order.get(s.key, len(order))):
            groups.setdefault(group_of.get(setting.key, OTHER_GROUP), []).append(setting)

        content = QWidget()
        content_layout = QVBoxLayout(content)
        if language is not None:
            content_layout.addWidget(language)
        for group in [g for g, _ in GROUPS] + [OTHER_GROUP]:
            if group in groups:
                content_layout.addWidget(self._group_box(group, groups[group]))
        content_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)

        self.error_label = message_line()
        self.buttons = ok_apply_cancel(self, self.apply)

        layout = QVBoxLayout(self)
        layout.addWidget(scroll, stretch=1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._load()

    # -- public face ----------------------------------------------------------------------

    def setting_keys(self) -> list[str]:
        """The JSON keys of the settings shown, in display order."""
        return list(self._fields)

    def editor(self, key: str) -> QWidget:
        """The editor of setting ``key`` (a QCheckBox, QSpinBox or QLineEdit)."""
        editor = self._fields[key].editor
        return editor.line_edit if isinstance(editor, _PathEditor) else editor

    def browse_button(self, key: str) -> QPushButton:
        """The Browse button of a path setting."""
        editor = self._fields[key].editor
        if not isinstance(editor, _PathEditor):
            raise KeyError(f"{key} is not a path setting")
        return editor.browse_button

    def field_error(self, key: str) -> str:
        """The error shown next to setting ``key`` (empty if none)."""
        field = self._fields[key]
        return field.error_label.text() if not field.error_label.isHidden() else ""

    @property
    def error_text(self) -> str:
        """The error shown under all the fields (empty if none)."""
        return self.error_label.text() if not self.error_label.isHidden() else ""

    def value(self, key: str) -> Any:
        """Setting ``key`` as edited, as a JSON value."""
        return self._fields[key].read()

    def changes(self) -> dict[str, Any]:
        """The settings edited away from their saved values, as JSON values."""
        changed: dict[str, Any] = {}
        for key, field in self._fields.items():
            value = field.read()
            if value != self._initial[key]:
                changed[key] = value
        return changed

    def apply(self) -> bool:
        """Check and save the changes; on a problem show it, save nothing and return False.

        When the autostart entry has to change, it is switched in a worker thread (it writes
        a file, or the registry) and the settings are saved once it is: ``busy`` until then,
        and the outcome (an error, or the saved settings) shows when it arrives.
        """
        return self._apply(close=False)

    def accept(self) -> None:
        """Save, and close only if saving worked (once the autostart entry is switched, if it
        has to be)."""
        self._apply(close=True)

    @property
    def busy(self) -> bool:
        """Whether the autostart entry is being switched (or switched back) right now."""
        return self._task is not None and not self._task.done()

    async def settled(self) -> None:
        """Return once nothing is being switched any more (see ``busy``)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    # -- building -------------------------------------------------------------------------

    def _group_box(self, group: str, settings: list[Setting]) -> QGroupBox:
        box = QGroupBox(tr(group))
        form = QFormLayout(box)
        if group in RESTART_GROUPS:
            note = QLabel(tr(RESTART_NOTE))
            note.setWordWrap(True)
            font = note.font()
            font.setItalic(True)
            note.setFont(font)
            form.addRow(note)
            self.restart_note = note
        for setting in settings:
            field = self._make_field(setting)
            if field is None:
                continue
            field.editor.setToolTip(tr(setting.help))
            self._fields[setting.key] = field
            if setting.kind == "bool":
                # A check box carries its own label, so it reads as a sentence.
                form.addRow(field.row)
            else:
                label = QLabel(tr("{setting}:").format(setting=tr(setting.label)))
                label.setToolTip(tr(setting.help))
                label.setBuddy(field.editor)
                form.addRow(label, field.row)
        return box

    def _make_field(self, setting: Setting) -> _Field | None:
        kind = setting.kind
        if kind == "bool":
            check = QCheckBox(tr(setting.label))
            return _Field(setting, check, check.isChecked, lambda v: check.setChecked(bool(v)))
        if kind in ("int", "port"):
            spin = QSpinBox()
            low, high = setting.limits or KIND_RANGES[kind]
            spin.setRange(low, high)
            return _Field(setting, spin, spin.value, spin.setValue)
        if kind == "text":
            edit = QLineEdit()
            edit.setPlaceholderText(_placeholder(setting))
            return _Field(setting, edit, edit.text, lambda v: edit.setText(str(v)))
        if kind == "path":
            path_editor = _PathEditor(tr(setting.label), self)
            path_editor.line_edit.setPlaceholderText(
                str(self.service.download_folder) if setting.key == "downloadFolder"
                else _placeholder(setting))
            return _Field(setting, path_editor, path_editor.line_edit.text,
                          lambda v: path_editor.line_edit.setText(str(v)))
        if kind == "list":
            edit = QLineEdit()
            edit.setPlaceholderText(tr("separated by commas"))
            return _Field(setting, edit, lambda: _split_list(edit.text()),
                          lambda v: edit.setText(", ".join(str(x) for x in v)))
        log.warning("setting %s has kind %r, which the settings dialog cannot edit",
                    setting.key, kind)
        return None

    # -- helpers --------------------------------------------------------------------------

    def _load(self) -> None:
        config = self.service.config
        for key, field in self._fields.items():
            value = to_json_value(key, getattr(config, field.setting.attr))
            field.write(value)
            # What the editor shows, so that a value it normalises does not count as a change.
            self._initial[key] = field.read()
        autostart = self._fields.get(AUTOSTART_KEY)
        if autostart is not None:
            assert isinstance(autostart.editor, QCheckBox)
            # If the entry differs from the setting, OK saves what the check box shows.
            autostart.editor.setChecked(self._autostart_on)
            autostart.editor.setToolTip(
                tr("{help}\nAutostart entry: {location}").format(
                    help=tr(autostart.setting.help), location=self.autostart.location))

    def _apply(self, *, close: bool) -> bool:
        if self.busy:
            return False  # the last OK or Apply is still being carried out
        self._clear_errors()
        changes = self.changes()
        bad = False
        for key, value in changes.items():
            try:
                self._fields[key].setting.parse(value)
            except (ValueError, ConfigError) as exc:
                self._fields[key].show_error(str(exc))
                bad = True
        if bad:
            self._show_error(tr("Some settings are not valid; nothing was saved."))
            return False
        if self.language is not None:
            self.language.save()
        field = self._fields.get(AUTOSTART_KEY)
        wanted = bool(field.read()) if field is not None else self._autostart_on
        if wanted == self._autostart_on:
            return self._save(changes, close=close)
        self._run(self._switch_then_save(wanted, changes, close=close))
        return True

    async def _switch_then_save(self, wanted: bool, changes: dict[str, Any], *,
                                close: bool) -> None:
        try:
            await asyncio.to_thread(self._switch_autostart, wanted)
        except OSError as exc:
            self._fields[AUTOSTART_KEY].show_error(
                tr("Cannot change {location}: {error}").format(
                    location=self.autostart.location, error=exc.strerror or exc))
            self._show_error(tr("The autostart entry could not be changed; nothing was saved."))
            return
        self._autostart_on = wanted
        log.info("autostart %s (%s)", "enabled" if wanted else "disabled",
                 self.autostart.location)
        if not self._save(changes, close=close):
            await self._switch_back(not wanted)  # nothing was saved: undo the switch too

    def _save(self, changes: dict[str, Any], *, close: bool) -> bool:
        if changes:
            try:
                self.service.update_settings(changes)
            except ServiceError as exc:
                self._show_save_error(str(exc))
                return False
            log.info("settings changed: %s", ", ".join(sorted(changes)))
        self._load()
        if close:
            super().accept()
        return True

    async def _switch_back(self, enabled: bool) -> None:
        try:
            await asyncio.to_thread(self._switch_autostart, enabled)
        except OSError:
            log.exception("cannot restore the autostart entry")
            return
        self._autostart_on = enabled

    def _switch_autostart(self, wanted: bool) -> None:
        # in a worker thread: it reads and writes a file (or the registry)
        if wanted and not self.autostart.enabled():
            self.autostart.enable()
        elif not wanted and self.autostart.enabled():
            self.autostart.disable()

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(work)
        self._enable_buttons(False)  # one OK or Apply at a time
        self._task.add_done_callback(lambda _task: self._enable_buttons(True))

    def _enable_buttons(self, enabled: bool) -> None:
        if not shiboken6.isValid(self.buttons):
            return  # the dialog was deleted while the entry was being switched
        for button in (QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Apply):
            self.buttons.button(button).setEnabled(enabled)

    def _show_save_error(self, message: str) -> None:
        # The config layer names the offending key in quotes: put the message next to it.
        for key in self._fields:
            if re.search(rf"['\"]{re.escape(key)}['\"]", message):
                self._fields[key].show_error(message)
                break
        self._show_error(tr("Cannot save the settings: {error}").format(error=message))

    def _show_error(self, message: str) -> None:
        log.warning("%s", message)
        self.error_label.setText(message)
        self.error_label.show()

    def _clear_errors(self) -> None:
        self.error_label.clear()
        self.error_label.hide()
        for field in self._fields.values():
            field.clear_error()


class _PathEditor(QWidget):
    """A line edit for a folder, and a Browse button to pick one."""

    def __init__(self, label: str, dialog: QWidget) -> None:
        super().__init__()
        self._dialog = dialog
        self._label = label
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.line_edit = QLineEdit()
        # The form's label names this editor; its field is what a screen reader and the
        # label's mnemonic reach.
        self.line_edit.setAccessibleName(label)
        self.setFocusProxy(self.line_edit)
        self.browse_button = QPushButton(tr("Browse…"))
        self.browse_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self.browse)
        layout.addWidget(self.line_edit, stretch=1)
        layout.addWidget(self.browse_button)

    def browse(self) -> QFileDialog:
        """Ask for a folder, starting from the one shown; the choice fills the field later (a
        non-blocking dialog: no nested event loop under the engine). Returns the dialog."""
        start = self.line_edit.text() or self.line_edit.placeholderText()
        return ask_folder(self._dialog, self._label, Path(start).expanduser(),
                          lambda folder: self.line_edit.setText(str(folder)))


def _split_list(text: str) -> list[str]:
    # Commas in the line edit; newlines too, for a list pasted from a file.
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def _placeholder(setting: Setting) -> str:
    default = setting.default
    return str(default) if isinstance(default, str | int) and default != "" else ""
