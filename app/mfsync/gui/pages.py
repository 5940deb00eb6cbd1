"""What the main window's pages share: the window services they use and their tables.

Each page (shared folders, network, transfers, hosts) is a widget of its own that owns its
table, its buttons and the actions behind them; it reaches the rest of the app only through
the ``WindowContext`` the window hands it, and renders each snapshot in ``update_status``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from mfsync.engine.service import Service
from mfsync.gui.background import BackgroundTasks
from mfsync.gui.dialogs import Confirm, FilesChooser, FolderChooser, UrlOpener
from mfsync.gui.models import SORT_ROLE, KeyedTableModel

__all__ = [
    "CELL_PADDING",
    "WindowContext",
    "button_row",
    "make_table",
    "page_layout",
    "selected_keys",
]

#: Padding around a cell's text, in pixels, when a column is sized from a sample value.
CELL_PADDING = 20


@dataclass(frozen=True)
class WindowContext:
    """What a page may use of the window around it."""

    service: Service
    tasks: BackgroundTasks
    #: Shows a transient message in the status bar (text, milliseconds).
    show_message: Callable[[str, int], None]
    choose_folder: FolderChooser
    confirm: Confirm
    open_url: UrlOpener
    #: Asks for files to send (the dialog's title), then calls back with them.
    choose_files: FilesChooser


def make_table(model: KeyedTableModel, name: str, *, filterable: bool = False,
               samples: tuple[str, ...] = ()) -> tuple[QTableView, QSortFilterProxyModel]:
    """A sortable table of ``model`` (through a proxy, filtered on the first column when
    ``filterable``), its columns sized for the ``samples`` values from the second on;
    ``name`` is what a screen reader calls it."""
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(0 if filterable else -1)
    view = QTableView()
    view.setAccessibleName(name)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setStretchLastSection(False)
    # The first column takes the room left; the others start wide enough for a typical value
    # (``samples``, from the second column on) and their title. Sized once, not to contents:
    # measuring thousands of rows on every update would stall the window.
    for column, sample in enumerate(samples, start=1):
        if sample:
            title = str(model.headerData(column, Qt.Orientation.Horizontal))
            view.setColumnWidth(column, CELL_PADDING + max(
                view.fontMetrics().horizontalAdvance(sample),
                header.fontMetrics().horizontalAdvance(title) + CELL_PADDING))
    return view, proxy


def page_layout(page: QWidget, top: QWidget | None, view: QWidget, buttons: QHBoxLayout) -> None:
    """Lay ``page`` out: an optional line on top, the table, and a row of buttons."""
    layout = QVBoxLayout(page)
    if top is not None:
        layout.addWidget(top)
    layout.addWidget(view)
    layout.addLayout(buttons)


def button_row(*buttons: QWidget, stretch_at: int | None = None) -> QHBoxLayout:
    """A row of ``buttons``, with the stretch before the one at ``stretch_at`` (else last)."""
    row = QHBoxLayout()
    for index, button in enumerate(buttons):
        if index == stretch_at:
            row.addStretch()
        row.addWidget(button)
    if stretch_at is None:
        row.addStretch()
    return row


def selected_keys(view: QTableView, proxy: Any) -> list[Any]:
    """The model keys of the rows selected in ``view`` (shown through ``proxy``)."""
    # Keys stay on the Python side: a tuple in a QVariant would cross into C++ and back.
    selection = view.selectionModel()
    if selection is None:
        return []
    source = proxy.sourceModel()
    return [source.key_at(proxy.mapToSource(index).row())
            for index in selection.selectedRows()]
