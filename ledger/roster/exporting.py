"""Affected members exported as CSV rows."""

from __future__ import annotations

import contextlib
import csv
import json
from typing import TextIO

from domain import times
from domain.csv_cells import cell
from ledger.store import Store
from projections import queries


async def export(store: Store, incident: str, h: queries.Horizon, insurer: str | None, fmt: str, sink: TextIO) -> int:
    """Write the affected members as CSV or JSON Lines; return how many."""
    await queries.require_incident(store.db, incident)  # before the header: an error writes nothing
    count = 0
    writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(queries.EXPORT_COLUMNS)
    # Who was told when, read before the members are streamed (never two streams at once).
    insurers = [insurer] if insurer is not None else await queries.roster_insurers(store.db, h)
    told_by: dict[str, dict[str, str]] = {}
    for name in insurers:
        notices = await queries.notices_by_ref(store.db, incident, h, name)
        told_by[name] = {ref: times.iso_utc(times.from_micros(us)) for ref, us in notices.items()}
    chunks = queries.affected_chunks(store.db, incident, h, insurer)
    async with contextlib.aclosing(chunks):  # closed before the store, even when the reader goes away
        async for ins, fields, implied, rows in chunks:
            told = told_by.get(ins, {})
            count += len(rows)
            if writer is not None:  # csv writes None as an empty cell; text a spreadsheet would run gets a '
                fixed = (cell(incident), cell(ins))
                exposed, revealed = cell(";".join(fields)), cell(";".join(implied))
                writer.writerows(
                    [
                        (*fixed, cell(ref), role, cell(contract), start, end, status, exposed, revealed, told.get(ref))
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
                            "ref": ref,
                            "role": role,
                            "contract": contract,
                            "from": start,
                            "until": end,
                            "status": status,
                            "fields": fields,
                            "implied": implied,
                            "notified_at": told.get(ref),
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    + "\n"
                    for ref, role, contract, start, end, status in rows
                )
            )
    sink.flush()
    return count
