"""The table of disks on the Flash screen: offered cards, and (toggle) every other disk with the reason it
is refused. Nothing is ever pre-selected: the cursor only shows once the user moves into the table."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable


class DiskTable(DataTable):
    class Picked(Message):
        """The user chose a row (Enter or click): `disk` is the Disk, offered or not."""

        def __init__(self, disk) -> None:
            super().__init__()
            self.disk = disk

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, show_cursor=False)
        self.show_all = False
        self._disks: list = []
        self._rows: dict = {}

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
        for d in self._disks:
            if not (d.offered or self.show_all):
                continue
            parts = ", ".join(p.label or p.name for p in d.partitions) or "-"
            if d.offered:
                status = Text("offered" + (" (large: asks twice)" if d.large else ""), style="green")
            else:
                status = Text("refused: " + "; ".join(d.reasons), style="dim")
            style = "" if d.offered else "dim"
            self.add_row(Text(d.name, style=style), Text(d.size_text, style=style), Text(d.title, style=style),
                         Text(d.bus, style=style), Text(parts, style=style), status, key=d.path)
            self._rows[d.path] = d
        if current in self._rows:
            self.move_cursor(row=self.get_row_index(current))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        disk = self._rows.get(event.row_key.value)
        if disk is not None:
            self.post_message(self.Picked(disk))
