"""Known mistake: the table's headers are abbreviated (bs, steps, time, loss).

Expect: column headers
"""

from __future__ import annotations

from rich.table import Table


def render_table(rows: list[dict]) -> Table:
    table = Table(title="Batch-size experiment")
    for name in ("bs", "steps", "time", "loss"):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(
            str(row["batch_size"]),
            str(row["steps"]),
            f"{row['wall_time_s']:.4f}",
            f"{row['final_loss']:.6g}",
        )
    return table
