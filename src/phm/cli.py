"""The `phm` command: synth, ingest, run, export, demo.

User mistakes (a bad argument, a missing file, an inconsistent place) end with
one red line and exit code 2, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from phm.codelists.markdown import definitions_markdown
from phm.codelists.registry import RegistryError, shipped_registry
from phm.cohorts import load_cohorts, worklist, write_worklist
from phm.config import PlaceError, Settings, load_place
from phm.engine import Store, StoreError, connect
from phm.export import ExportError, export_table
from phm.ingest import FORMATS, IngestError, IngestReport, Mode, SourceError
from phm.ingest import Format as SourceFormat
from phm.ingest import ingest as ingest_source
from phm.pipeline import RunSummary, latest_date, run
from phm.schema.markdown import data_model_markdown

app = typer.Typer(
    help="phm: population health management for a place. Start with `phm demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

Format = Literal["parquet", "csv"]
USER_ERRORS = (
    RegistryError,
    PlaceError,
    StoreError,
    IngestError,
    SourceError,
    ExportError,
    ValueError,
    OSError,
)


class _State:
    settings: Settings = Settings()


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as e:
        fail(str(e))


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--index-date {value!r} is not a date: use YYYY-MM-DD")


@app.callback()
def main(
    home: Annotated[
        Path | None, typer.Option(help="data folder [env PHM_HOME; default ./phm-data]")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb (embedded default) or spark [env PHM_ENGINE]")
    ] = None,
    place: Annotated[
        str | None, typer.Option(help="shipped place name or place YAML [env PHM_PLACE]")
    ] = None,
) -> None:
    overrides: dict[str, Any] = {}
    if home is not None:
        overrides["home"] = home
    if engine is not None:
        if engine not in ("duckdb", "spark"):
            fail(f"--engine {engine!r}: choose duckdb or spark")
        overrides["engine"] = engine
    if place is not None:
        overrides["place"] = place
    with user_errors():
        _State.settings = Settings(**overrides)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not sys.stderr.isatty(),
    )


def _synth(out_dir: Path, persons: int | None, seed: int, index_date: dt.date, fmt: Format) -> None:
    from phm.synth import generate

    place = load_place(_State.settings.place)
    total = persons or place.list_size
    with _progress() as bar:
        task = bar.add_task("synthesising", total=total)
        summary = generate(
            out_dir,
            place=place,
            persons=persons,
            seed=seed,
            index_date=index_date,
            fmt=fmt,
            progress=lambda n: bar.advance(task, n),
        )
    rows = ", ".join(f"{table} {n:,}" for table, n in summary.rows.items())
    out.print(
        f"Synthetic {place.name}: {summary.persons:,} persons to {out_dir} "
        f"in {summary.seconds:.1f}s ({rows}). True risk kept apart in {out_dir / 'truth'}."
    )


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write the extract to")] = Path(
        "synthetic-extract"
    ),
    persons: Annotated[
        int | None, typer.Option(min=100, help="persons (default: the place's list size)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same files")] = 42,
    index_date: Annotated[str, typer.Option(help="last day of the extract")] = "2026-03-31",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Write a synthetic canonical extract for the place (the embedded default)."""
    if fmt not in ("parquet", "csv"):
        fail(f"--format {fmt!r}: choose parquet or csv")
    day = parse_date(index_date)
    assert day is not None
    with user_errors():
        _synth(out_dir, persons, seed, day, "csv" if fmt == "csv" else "parquet")


def _print_ingest(report: IngestReport) -> None:
    table = RichTable(title=f"Ingest of {report.source} ({report.mode})", title_justify="left")
    for heading in ("table", "file", "read", "loaded", "rejected", "status"):
        table.add_column(
            heading, justify="right" if heading in ("read", "loaded", "rejected") else "left"
        )
    for f in report.files:
        status = f.status if not f.message else f"{f.status}: {f.message}"
        table.add_row(
            f.table,
            f.source_file,
            f"{f.rows_read:,}",
            f"{f.rows_loaded:,}",
            f"{f.rows_rejected:,}",
            status,
        )
    out.print(table)
    if report.reasons:
        reasons = RichTable(title="Rejected values by reason", title_justify="left")
        for heading in ("table", "field", "reason", "rows"):
            reasons.add_column(heading, justify="right" if heading == "rows" else "left")
        for (tbl, fld, why), n in sorted(report.reasons.items()):
            reasons.add_row(tbl, fld, why, f"{n:,}")
        out.print(reasons)
        out.print("Every rejected row is kept: `phm export rejects --out rejects.csv`.")
    if report.sources:
        sources = RichTable(title="Source files read", title_justify="left")
        for heading in ("file", "kind", "records", "not loadable", "status"):
            sources.add_column(
                heading, justify="right" if heading in ("records", "not loadable") else "left"
            )
        for s in report.sources:
            status = s.status if not s.message else f"{s.status}: {s.message}"
            sources.add_row(
                s.source_file, s.kind, f"{s.records_read:,}", f"{s.records_rejected:,}", status
            )
        out.print(sources)
    if report.unmapped:
        total = sum(report.unmapped.values())
        out.print(f"Codes unmapped: {len(report.unmapped):,} codes in {total:,} records; top 20:")
        for (system, code, display), n in report.unmapped.most_common(20):
            out.print(f"  {system} {code} {display}: {n:,}", highlight=False)
    for note in report.notes:
        out.print(f"[cyan]note[/] {note}", highlight=False)
    for name in report.ignored:
        reason = "" if report.format != "canonical" else ": not a canonical table file"
        out.print(f"[yellow]ignored[/] {name}{reason}", highlight=False)
    for failure in report.failed:
        err.print(f"[bold red]error:[/] {failure.message}", highlight=False, soft_wrap=True)
    out.print(f"Done in {report.seconds:.1f}s.")


def _ingest(path: Path, mode: Mode | None, fmt: str = "canonical") -> IngestReport:
    settings = _State.settings
    place = None if fmt == "canonical" else load_place(settings.place)
    report = ingest_source(
        path,
        settings.home,
        settings.key(),
        format=cast(SourceFormat, fmt),
        mode=mode,
        place=place,
    )
    _print_ingest(report)
    return report


@app.command()
def ingest(
    path: Annotated[
        Path, typer.Argument(help="the extract: a folder (or file) in the chosen format")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="canonical, synthea, fhir or omop")
    ] = "canonical",
    replace: Annotated[bool, typer.Option("--replace", help="empty the store first")] = False,
    append: Annotated[bool, typer.Option("--append", help="add to the store")] = False,
) -> None:
    """Validate and load an extract into the store; bad rows are kept with their reasons."""
    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if replace and append:
        fail("choose one of --replace and --append")
    mode: Mode | None = "replace" if replace else "append" if append else None
    with user_errors():
        report = _ingest(path, mode, fmt)
    if report.failed:
        raise typer.Exit(1)


@contextmanager
def _store() -> Iterator[Store]:
    settings = _State.settings
    with user_errors():
        store = connect(settings.home, settings.engine)
    try:
        yield store
    finally:
        store.close()


def _run(store: Store, index_date: dt.date | None) -> RunSummary:
    with err.status("running the pipeline"):
        summary = run(store, index_date)
    out.print(
        f"Pipeline on {summary.engine} as of {summary.index_date}: "
        + ", ".join(f"{name} {n:,} rows" for name, n in summary.rows.items())
        + f" in {summary.seconds:.1f}s."
    )
    if summary.segments:
        listing = RichTable(title="Bridges to Health segments", title_justify="left")
        for name in ("segment", "persons", "share", "cost 12m (£)", "per head (£)"):
            listing.add_column(name, justify="left" if name == "segment" else "right")
        for row in summary.segments:
            per_head = row["cost_per_head_gbp"]
            listing.add_row(
                str(row["label"]),
                f"{row['persons']:,}",
                f"{row['share']:.1%}",
                f"{row['total_cost_gbp_12m']:,.0f}",
                "-" if per_head is None or per_head != per_head else f"{per_head:,.0f}",
            )
        out.print(listing)
    for name, why in summary.unavailable_cohorts.items():
        out.print(f"[yellow]cohort {name} unavailable:[/] {why}")
    out.print(summary.risk.capitalize() + ".")
    return summary


@app.command("run")
def run_command(
    index_date: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD (default: the latest date in the data)")
    ] = None,
) -> None:
    """Build the derived tables (the person table) as of an index date."""
    day = parse_date(index_date)
    with _store() as store, user_errors():
        _run(store, day)


@app.command()
def export(
    table: Annotated[
        str, typer.Argument(help="a canonical or derived table, e.g. person, rejects")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="file to write: .csv or .parquet")],
) -> None:
    """Write a table to CSV or Parquet (chosen by the file's extension)."""
    with _store() as store, user_errors():
        written = export_table(store, table, out_file)
    out.print(f"Wrote {written.rows:,} rows of {written.table} to {out_file}.")


@app.command("worklist")
def worklist_command(
    cohort: Annotated[str, typer.Option(help="a cohort of cohorts.yaml, e.g. ltc_3plus")],
    out_file: Annotated[Path, typer.Option("--out", help="file to write: .csv or .xlsx")],
    practice: Annotated[str | None, typer.Option(help="practice ODS code")] = None,
    pcn: Annotated[str | None, typer.Option(help="PCN code")] = None,
    neighbourhood: Annotated[str | None, typer.Option(help="neighbourhood name")] = None,
) -> None:
    """Write a case-finding worklist for a practice, PCN or neighbourhood, ordered by need."""
    with _store() as store, user_errors():
        person = store.table("person_table")
        cohorts = load_cohorts(columns=person.columns)
        listed = worklist(
            person, cohorts, cohort=cohort, practice=practice, pcn=pcn, neighbourhood=neighbourhood
        )
        written = write_worklist(listed, out_file)
    out.print(f"Wrote {written:,} people of cohort {cohort} to {out_file}.")


@app.command()
def tables() -> None:
    """List the tables in the store with their row counts."""
    with _store() as store, user_errors():
        listing = RichTable(title=f"Tables in {store.home}", title_justify="left")
        listing.add_column("table")
        listing.add_column("rows", justify="right")
        for name in store.names():
            if not name.startswith("_"):
                listing.add_row(name, f"{int(store.table(name).count().execute()):,}")
        out.print(listing)


@app.command()
def schema() -> None:
    """Print the canonical data model as Markdown (the source of docs/data-model.md)."""
    out.print(data_model_markdown(), markup=False, highlight=False, soft_wrap=True)


risk_app = typer.Typer(help="Emergency admission risk: train a model, score the population.")
app.add_typer(risk_app, name="risk")


def _train(store: Store, index_date: dt.date | None, truth: Path | None, seed: int) -> None:
    from phm.risk import train

    day = index_date or latest_date(store)
    with err.status("training the risk model"):
        trained = train(store, index_date=day, truth=truth, seed=seed)
    card = store.home / "models" / trained.version / "model_card.md"
    out.print(f"Trained risk model {trained.version}; model card: {card}")
    _run(store, day)


@risk_app.command("train")
def risk_train(
    index_date: Annotated[
        str | None, typer.Option(help="evaluation date (default: the latest date in the data)")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="the synthetic generator's truth folder, for judging")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Train on the year before the index date, judge on a later date, then score everyone."""
    day = parse_date(index_date)
    with _store() as store, user_errors():
        _train(store, day, truth, seed)


@risk_app.command("score")
def risk_score(
    index_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Score every person with the latest model (the pipeline run does this too)."""
    day = parse_date(index_date)
    with _store() as store, user_errors():
        _run(store, day)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Start the web application on the data folder (log in at the address it prints)."""
    import uvicorn

    from phm.web.app import create_app

    settings = _State.settings
    with user_errors():
        application = create_app(settings.home, settings.engine)
    out.print(f"phm is at http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def definitions() -> None:
    """Print the clinical definitions in use as Markdown (the source of docs/definitions.md)."""
    with user_errors():
        text = definitions_markdown(shipped_registry())
    out.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command()
def demo(
    persons: Annotated[
        int | None, typer.Option(min=100, help="persons (default: the place's list size)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
) -> None:
    """Synthesise the place, ingest it, run the pipeline and say what to open next."""
    settings = _State.settings
    extract = settings.home / "synthetic-extract"
    with user_errors():
        _synth(extract, persons, seed, dt.date(2026, 3, 31), "parquet")
        report = _ingest(extract, "replace")
    if report.failed:
        fail("the synthetic extract did not load cleanly")
    with _store() as store, user_errors():
        _run(store, None)
        _train(store, None, extract / "truth", 0)
    home = settings.home
    out.print(
        "\n[bold]Next:[/]\n"
        f"  phm --home {home} serve          the web app at http://127.0.0.1:8000/\n"
        f"  phm --home {home} tables         the tables made\n"
        f"  phm --home {home} export person --out person.csv\n"
        f"  phm --home {home} worklist --cohort ltc_3plus --practice CODE --out list.xlsx\n"
        f"  phm --home {home} export rejects --out rejects.csv\n"
        f"  {extract}/truth/  each person's true risk (for judging models)"
    )
