"""What ``runner load`` and ``runner run --dry-run`` print on the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from runner.commands.loader import JobLoad, load_jobs
from runner.config import Config
from runner.core.states import RecordState
from runner.storage.store import Store


def print_loads(loads: Sequence[JobLoad], console: Console | None = None) -> None:
    table = Table(title="loaded", title_justify="left")
    for column in ("job", "new", "duplicate", "invalid"):
        table.add_column(column, justify="left" if column == "job" else "right")
    for item in loads:
        if item.unchanged:
            table.add_row(item.job, "[dim]input unchanged since last load[/dim]", "", "")
        else:
            counts = item.counts
            table.add_row(item.job, str(counts.new), str(counts.duplicate), str(counts.invalid))
    (console or Console()).print(table)


async def dry_run(config: Config) -> None:
    """Load into a throw-away in-memory database and say what a run would send.

    The inputs were checked when the command began (:func:`runner.cli.prepare.prepare`).
    """
    console = Console()
    async with await Store.open(":memory:") as store:
        print_loads(await load_jobs(store, config, checked=True), console)
        for job in config.jobs:
            account = config.accounts[job.account]
            pending = [row async for row in store.export_rows([job.name], [RecordState.PENDING])]
            rate = account.rate_limit
            minutes = len(pending) * rate.period_seconds / rate.count / 60
            console.print(
                f"would send {len(pending)} requests for job {job.name!r}: DELETE "
                f"{account.base_url}/ca_apis/deleteCampaignData, "
                f"campaign {', '.join(job.campaigns)!r}, "
                f"account {account.name!r} at {rate} (about {minutes:.0f} min)"
            )
            for row in pending[:3]:
                console.print(f"  e.g. line {row[3]}: {row[4]}", highlight=False)
    console.print("dry run: nothing was sent and no database was written")
