"""The table of disks on the Flash screen: offered cards, and (toggle) every other disk with the reason it
is refused. Nothing is ever pre-selected: the cursor only shows once the user moves into the table, and no
card is marked until the user marks it (space). Enter with marked cards asks for all of them at once; Enter
with none marked asks for the card under the cursor, as before."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable


class DiskTable(DataTable):
    BINDINGS = [Binding("space", "toggle_mark", "Mark card")]

    class Picked(Message):
        """The user chose a row (Enter or click): `disk` is the Disk, offered or not."""

        def __init__(self, disk) -> None:
            super().__init__()
            self.disk = disk

    class PickedMany(Message):
        """Enter with two or more cards marked: `disks`, in the order they were marked (all offered)."""

        def __init__(self, disks: list) -> None:
            super().__init__()
            self.disks = disks

    class Marked(Message):
        """The marked cards changed (marked, un-marked, cleared, or a marked card went away)."""

    class Refused(Message):
        """The user tried to mark a card that is not offered."""

        def __init__(self, disk) -> None:
            super().__init__()
            self.disk = disk

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, show_cursor=False)
        self.show_all = False
        self._disks: list = []
        self._rows: dict = {}
        self.marked: list = []          # device paths, in the order marked

    def on_mount(self) -> None:
        self.add_columns("Device", "Size", "Model", "Bus", "Partitions", "Status")

    def on_focus(self) -> None:
        self.show_cursor = True

    def on_blur(self) -> None:
        self.show_cursor = False

    def set_disks(self, disks: list) -> None:
        self._disks = list(disks)
        self._redraw()

    def set_show_all(self, show: bool) -> None:
        self.show_all = show
        self._redraw()

    @property
    def offered(self) -> list:
        return [d for d in self._disks if d.offered]

    @property
    def marked_disks(self) -> list:
        return [self._rows[p] for p in self.marked if p in self._rows]

    def clear_marks(self) -> None:
        had = bool(self.marked)
        self.marked = []
        self._redraw()
        if had:
            self.post_message(self.Marked())

    def action_toggle_mark(self) -> None:
        if not self.row_count:
            return
        try:
            path = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - an empty or changing table
            return
        disk = self._rows.get(path)
        if disk is None:
            return
        if not disk.offered:
            self.post_message(self.Refused(disk))
            return
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked.append(path)
        self._redraw()
        self.post_message(self.Marked())

    def _redraw(self) -> None:
        # Keep the cursor on the same device if it is still listed; never move it onto a new one.
        current = None
        if self.show_cursor and self.row_count:
            try:
                current = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
            except Exception:  # noqa: BLE001 - an empty or changing table
                current = None
        self.clear()
        self._rows = {}
        # A card that went away or stopped being offered loses its mark: a new card in its place is not marked.
        offered = {d.path for d in self._disks if d.offered}
        kept = [p for p in self.marked if p in offered]
        if kept != self.marked:
            self.marked = kept
            self.post_message(self.Marked())
        for d in self._disks:
            if not (d.offered or self.show_all):
                continue
            parts = ", ".join(p.label or p.name for p in d.partitions) or "-"
            if d.offered:
                status = Text("offered" + (" (large: asks twice)" if d.large else ""), style="green")
            else:
                status = Text("refused: " + "; ".join(d.reasons), style="dim")
            style = "" if d.offered else "dim"
            mark = "[x] " if d.path in self.marked else ("[ ] " if d.offered else "    ")
            self.add_row(Text(mark + d.name, style=style), Text(d.size_text, style=style), Text(d.title, style=style),
                         Text(d.bus, style=style), Text(parts, style=style), status, key=d.path)
            self._rows[d.path] = d
        if current in self._rows:
            self.move_cursor(row=self.get_row_index(current))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        many = self.marked_disks
        if len(many) > 1:
            self.post_message(self.PickedMany(many))
            return
        disk = many[0] if many else self._rows.get(event.row_key.value)
        if disk is not None:
            self.post_message(self.Picked(disk))
