"""Human renderings of query answers (rich tables). JSON is rendered by `shell.emit_json`."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cli.shell import out


def _list(values: list[str] | None) -> str:
    return ", ".join(values) if values else "—"


def summary(data: dict[str, Any]) -> None:
    """The summary of an incident as known on a date."""
    out.print(
        f"[bold]{data['incident']}[/bold] as known on {data['as_known_on']}"
        + (f", as recorded at {data['as_recorded_at']}" if "as_recorded_at" in data else "")
    )
    insurers = Table(title="Insurers", show_header=True, title_justify="left")
    insurers.add_column("status")
    insurers.add_column("count", justify="right")
    insurers.add_column("insurers")
    for status, ids in data["insurers"].items():
        insurers.add_row(status.replace("_", "-"), str(len(ids)), _list(ids))
    out.print(insurers)
    members = Table(title="Members", show_header=True, title_justify="left")
    for key in data["members"]:
        members.add_column(key.replace("_", "-"), justify="right")
    members.add_row(*(f"{v:,}" for v in data["members"].values()))
    out.print(members)
    fields = Table(title="Field categories", show_header=True, title_justify="left")
    fields.add_column("status")
    fields.add_column("categories")
    for status, cats in data["fields"].items():
        fields.add_row(status.replace("_", "-"), _list(cats))
    out.print(fields)


def insurer(data: dict[str, Any]) -> None:
    """One insurer in one incident."""
    name = f" ({data['name']})" if data.get("name") else ""
    out.print(f"[bold]{data['insurer']}{name}[/bold] in {data['incident']} as known on {data['as_known_on']}")
    out.print(f"status: [bold]{data['status']}[/bold]  because: {_list(data['because'])}")
    scope = data["scope"]
    if scope:
        parts = [f"{k}={v}" for k, v in scope.items() if v is not None and k != "fact"]
        out.print(f"scope: {'; '.join(parts)} (fact {scope['fact']})")
    else:
        out.print("scope: every member")
    out.print(
        f"exposed: {_list(data['exposed'])}"
        + (f"  (implied by nir: {_list(data['implied'])})" if data["implied"] else "")
    )
    members = Table(show_header=True)
    for key in data["members"]:
        members.add_column(key.replace("_", "-"), justify="right")
    members.add_row(*(f"{v:,}" for v in data["members"].values()))
    out.print(members)
    for key in ("informed_at", "authority_notified_at", "members_notified_at"):
        out.print(f"{key.replace('_', ' ')}: {data[key] or '—'}")


def member(data: dict[str, Any]) -> None:
    """Every membership of a person, per incident."""
    if not data["memberships"]:
        out.print(f"No membership found as known on {data['as_known_on']}.")
        return
    table = Table(show_header=True, title=f"As known on {data['as_known_on']}", title_justify="left")
    for column in ("insurer", "ref", "incident", "status", "fields", "implied", "because"):
        table.add_column(column)
    for membership in data["memberships"]:
        if not membership["incidents"]:
            table.add_row(membership["insurer"], membership["ref"], "—", "—", "—", "—", "—")
        for answer in membership["incidents"]:
            table.add_row(
                membership["insurer"],
                membership["ref"],
                answer["incident"],
                answer["status"],
                _list(answer["fields"]),
                _list(answer["implied"]),
                _list(answer["because"]),
            )
    out.print(table)


def evolution(incident: str, answers: list[dict[str, Any]]) -> None:
    """How the answer about one incident changed from date to date (the demo's view)."""
    table = Table(title=f"{incident}: what was known, date by date", title_justify="left", show_header=True)
    for column in (
        "as known on",
        "insurers affected",
        "ruled out",
        "informed",
        "members affected",
        "people",
        "exposed",
        "suspected",
    ):
        table.add_column(column, justify="left" if column in ("as known on", "exposed", "suspected") else "right")
    for answer in answers:
        insurers, members, fields = answer["insurers"], answer["members"], answer["fields"]
        table.add_row(
            answer["as_known_on"][:10],
            str(len(insurers["affected"])),
            str(len(insurers["ruled_out"])),
            str(len(insurers["informed"])),
            f"{members['affected']:,}",
            f"{members['people']:,}",
            _list(fields["exposed"]),
            _list(fields["suspected"]),
        )
    out.print(table)
