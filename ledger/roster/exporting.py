"""Affected members exported as CSV rows."""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any, TextIO

from domain.categories import implied
from domain.csv_cells import cell
from ledger.store import Store
from projections import history, queries


async def export(store: Store, incident: str, h: queries.Horizon, insurer: str | None, fmt: str, sink: TextIO) -> int:
    """Write the affected members as CSV or JSON Lines; return how many."""
    await queries.require_incident(store.db, incident)  # before the header: an error writes nothing
    count = 0
    writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(queries.EXPORT_COLUMNS)
    insurers = [insurer] if insurer is not None else await queries.roster_insurers(store.db, h)
    for name in insurers:
        async for ins, fields, implied_fields, rows, told_column in _told_chunks(store, incident, h, name):
            count += len(rows)
            if writer is not None:  # csv writes None as an empty cell; text a spreadsheet would run gets a '
                fixed = (cell(incident), cell(ins))
                exposed, revealed = cell(";".join(fields)), cell(";".join(implied_fields))
                if told_column:
                    writer.writerows(
                        [
                            (*fixed, cell(ref), role, cell(contract), start, end, status, exposed, revealed, told)
                            for ref, role, contract, start, end, status, told in rows
                        ]
                    )
                else:  # no notice: nobody was told (the rows are the export's own, as read)
                    writer.writerows(
                        [
                            (*fixed, cell(ref), role, cell(contract), start, end, status, exposed, revealed, None)
                            for ref, role, contract, start, end, status in rows
                        ]
                    )
                continue
            sink.write(
                "".join(
                    json.dumps(
                        {
                            "incident": incident,
                            "insurer": ins,
                            "ref": row[0],
                            "role": row[1],
                            "contract": row[2],
                            "from": row[3],
                            "until": row[4],
                            "status": row[5],
                            "fields": fields,
                            "implied": implied_fields,
                            "notified_at": row[6] if told_column else None,
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    + "\n"
                    for row in rows
                )
            )
    sink.flush()
    return count


async def _told_chunks(
    store: Store, incident: str, h: queries.Horizon, insurer: str
) -> AsyncGenerator[tuple[str, list[str], list[str], Sequence[tuple[Any, ...]], bool], None]:
    """One insurer's affected members in ref order with when each was last told, in chunks of
    (insurer, fields, implied, rows of (ref, role, contract, from, until, status[, notified_at]),
    whether the rows hold `notified_at`). With notices, `notified_at` comes from `notify
    members`' SQL in the same stream (memory does not grow with the members told); without,
    the export's own pass runs and nobody was told."""
    if await history.has_member_notices(store.db, incident, insurer, h):
        view = await queries.incident_view(store.db, incident, h)
        fields = view.exposed_fields(insurer)
        chunks = history.affected_notified_chunks(store.db, incident, insurer, h)
        async with contextlib.aclosing(chunks):
            async for rows in chunks:
                yield insurer, fields, implied(fields), rows, True
        return
    plain = queries.affected_chunks(store.db, incident, h, insurer)
    async with contextlib.aclosing(plain):  # closed before the store, even when the reader goes away
        async for ins, fields, revealed, members in plain:
            yield ins, fields, revealed, members, False
