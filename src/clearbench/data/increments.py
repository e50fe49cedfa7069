"""A sequential request's new rows: the rows of one forget config that an earlier one did not hold.

forget01 ⊂ forget05 ⊂ forget10 row for row (CLEAR and TOFU nest their forget sets), so the rows a
second request adds are those of forget05 not in forget01. Rows are matched on their whole content
(text columns, and the image's pixels), not on their position, which differs between configs.
"""

from __future__ import annotations

import hashlib
import json

from clearbench.errors import UserError


def row_key(row: dict) -> str:
    parts = {}
    for column, value in sorted(row.items()):
        if hasattr(value, "tobytes"):  # a decoded image
            value = hashlib.sha256(value.tobytes()).hexdigest()
        parts[column] = value
    return json.dumps(parts, sort_keys=True, default=str)


def new_rows(rows, earlier, *, config: str, earlier_config: str):
    """`rows` without the rows of `earlier` (datasets.Dataset in, Dataset out); none left is an error."""
    seen = {row_key(row) for row in earlier}
    keep = [index for index, row in enumerate(rows) if row_key(row) not in seen]
    if not keep:
        raise UserError(f"forget request {config!r} adds no rows to {earlier_config!r}: nothing to unlearn")
    return rows.select(keep)
