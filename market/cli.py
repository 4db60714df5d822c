"""The `market` command: demo, serve, db, seed, import, create-admin, revoke-token, audit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from market import migrate
from market.config import ConfigError, Settings, configure_logging, load_settings
from market.db import check_connection, make_engine, session_scope
from market.models.common import PricePolicy, Product

DEMO_DATABASE = "market-demo.db"


def _clean_errors(command: Callable) -> Callable:
    """A configuration problem ends the command with one line on stderr, not a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"market: error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _settings(**overrides: Any) -> Settings:
    settings = load_settings(**overrides)
    configure_logging(settings)
    return settings


def _ready_engine(settings: Settings, *, migrated: bool = True):
    engine = make_engine(settings)
    check_connection(engine, settings)
    if migrated and not migrate.is_current(engine):
        raise ConfigError(
            f"the database {settings.redacted_database_url()} is not at the latest schema: run `market db upgrade`"
        )
    return engine


@click.group()
def main() -> None:
    """Procurement matching for east-west agricultural trade (Zhaoyang cooperatives, Dongguan buyers)."""


# --- db -------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Schema migrations (Alembic)."""


def _migrate(step: Callable[[str, str], None], revision: str) -> None:
    settings = _settings()
    _ready_engine(settings, migrated=False)
    step(settings.database_url, revision)
    click.echo(f"database {settings.redacted_database_url()} is at revision {revision}")


@db.command("upgrade")
@click.argument("revision", default="head")
@_clean_errors
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    _migrate(migrate.upgrade, revision)


@db.command("downgrade")
@click.argument("revision")
@_clean_errors
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ("base" empties it)."""
    _migrate(migrate.downgrade, revision)


@db.command("current")
@_clean_errors
def db_current() -> None:
    """Print the database's revision and the latest one."""
    settings = _settings()
    engine = _ready_engine(settings, migrated=False)
    click.echo(f"database: {migrate.current_revision(engine) or 'empty'}; latest: {migrate.head_revision()}")


# --- accounts ------------------------------------------------------------------------------


@main.command("create-admin")
@click.argument("name")
@_clean_errors
def create_admin(name: str) -> None:
    """Create an admin account; its token is printed alone on the last line."""
    from market.models.account import AccountCreate
    from market.models.common import Role
    from market.services.accounts import create_account
    from market.services.actors import Actor

    engine = _ready_engine(_settings())
    with session_scope(engine) as session:
        account, token = create_account(
            session, actor=Actor.system("cli"), data=AccountCreate(role=Role.admin, name=name)
        )
    click.echo(f"admin account {account.id} ({name}) created; its token (shown once):", err=True)
    click.echo(token)


@main.command("revoke-token")
@click.argument("key", metavar="PREFIX_OR_ACCOUNT_ID")
@_clean_errors
def revoke_token_command(key: str) -> None:
    """Revoke an account's token at once: name it by account id or token prefix (mkt_ and 4 more characters)."""
    from market.models.common import as_utc
    from market.services.accounts import revoke_token
    from market.services.actors import Actor
    from market.services.errors import DomainError

    engine = _ready_engine(_settings())
    try:
        with session_scope(engine) as session:
            account, revoked = revoke_token(session, actor=Actor.system("cli"), key=key)
    except DomainError as exc:
        raise ConfigError(exc.detail) from None
    who = f"account {account.id} ({account.name}, {account.role.value})"
    if revoked:
        click.echo(f"revoked token {account.token_prefix}… of {who}")
    else:
        click.echo(
            f"token {account.token_prefix}… of {who} was already revoked at "
            f"{as_utc(account.revoked_at):%Y-%m-%d %H:%M:%S} UTC; nothing changed"
        )


# --- seed ----------------------------------------------------------------------------------


@main.command("seed")
@click.option(
    "--synthetic",
    "synthetic",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Instead of the 2020 scenario, add N synthetic offers and N synthetic orders.",
)
@click.option("--random-seed", type=int, default=2020, show_default=True, help="Seed for --synthetic.")
@_clean_errors
def seed_command(synthetic: int | None, random_seed: int) -> None:
    """Load the 2020 Zhaoyang-Dongguan scenario (idempotent), or a synthetic book."""
    from seed.scenario import load_scenario
    from seed.synthetic import generate_book

    engine = _ready_engine(_settings())
    if synthetic is None:
        with session_scope(engine) as session:
            created = load_scenario(session)
        click.echo("scenario loaded: " + ", ".join(f"{count} {kind}" for kind, count in created.items()))
        return
    with click.progressbar(length=2 * synthetic, label="generating the book", file=sys.stderr) as bar:
        with session_scope(engine) as session:
            counts = generate_book(session, size=synthetic, random_seed=random_seed, progress=bar.update)
    click.echo("synthetic book added: " + ", ".join(f"{count} {kind}" for kind, count in counts.items()))


# --- import --------------------------------------------------------------------------------


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1, max=100_000),
    default=5_000,
    show_default=True,
    help="Rows of the file read, checked and written at a time: one COPY (INSERT on SQLite) and audit batch each.",
)
@_clean_errors
def import_command(file: Path, chunk_size: int) -> None:
    """Import offers and orders keyed in from paper, from FILE.csv or FILE.xlsx: all or nothing.

    One header row, then one offer or order per row. Headers are Chinese and English as
    below (either half alone will do); CSV is UTF-8 with or without a byte-order mark; a
    workbook is read sheet by sheet, each with its own header row.

    \b
    类型 Kind: offer (供货) or order (采购); without it, a table with a
      Cooperative column is offers and one with a Buyer column orders
    合作社 Cooperative: offers; the cooperative's id, name or Chinese name
    采购方 Buyer: orders; the buyer's id, name or Chinese name
    编号 Reference: optional; unique per cooperative or buyer
    产品 Product: apple 苹果, vegetable 蔬菜, egg 鸡蛋, sichuan_pepper 花椒, potato 马铃薯
    品种 Variety, 品牌 Brand: offers, optional
    等级 Grade (offers), 最低等级 Min grade (orders): premium 特级, first 一级, second 二级
    吨数 Tonnes: to the kilogram (120.505)
    最低价(元/吨) Min price (yuan/t): offers, to the fen
    最高价(元/吨) Max price (yuan/t): orders, to the fen
    供货开始 Available from, 供货结束 Available until: offers, dates (2020-09-15)
    交货开始 Deliver from, 交货结束 Deliver until: orders, dates
    目的地 Destination: orders, optional (GET /api/v1/destinations)
    采购协议 Agreement: orders, optional; an agreement's id or reference

    Every row is checked as the API checks a request; a bad row is reported by its row number
    and column and nothing is kept (exit status 1). Rows are read, checked and written in
    chunks, by the system actor (system:import), each chunk one COPY per table (a multi-row
    INSERT on SQLite) and one audit batch, all in one transaction.
    """
    import time

    from market.imports import ImportRefused, estimate_rows, import_file
    from market.services.actors import Actor

    engine = _ready_engine(_settings())
    started = time.perf_counter()
    try:
        with session_scope(engine) as session:
            estimate = estimate_rows(file)
            with click.progressbar(length=max(estimate, 1), label=f"importing {file.name}", file=sys.stderr) as bar:
                imported = import_file(
                    session, file, actor=Actor.system("import"), chunk_size=chunk_size, progress=bar.update
                )
    except ImportRefused as refused:
        for error in refused.errors:
            click.echo(f"{file.name}: {error}", err=True)
        if refused.count > len(refused.errors):
            click.echo(f"... and {refused.count - len(refused.errors)} more", err=True)
        plural = "s" if refused.count != 1 else ""
        click.echo(f"market import: {refused.count} error{plural} in {file.name}; nothing was imported", err=True)
        sys.exit(1)
    seconds = time.perf_counter() - started
    click.echo(f"imported {imported.offers} offers and {imported.orders} orders from {file.name} in {seconds:.2f} s")


# --- demo ----------------------------------------------------------------------------------


@main.command("demo")
@click.option(
    "--database",
    "database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEMO_DATABASE,
    show_default=True,
    help="The SQLite file to build afresh.",
)
@_clean_errors
def demo(database: Path) -> None:
    """Build a fresh SQLite market, load the 2020 scenario, match it and summarise it."""
    from market.services.summary import market_summary
    from market.text import render_summary
    from seed.scenario import load_scenario

    for leftover in (database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    database_url = f"sqlite:///{database.resolve()}"
    # The tables are the output; one log line per seeded row would bury them.
    settings = _settings(database_url=database_url, redis_url="", log_level="WARNING")
    click.echo(f"Building a fresh market in {database} ...")
    migrate.upgrade(settings.database_url)
    engine = _ready_engine(settings)
    with session_scope(engine) as session:
        load_scenario(session)
        summary = market_summary(session)
    click.echo(render_summary(summary))
    click.echo("")
    click.echo("Matching the open book (one round, as the cooperation office would run it) ...")
    click.echo("")
    run_id = _match_round(engine, product=None, policy="midpoint", poverty_weight="0", approve=True)
    _print_report(engine, run_id, as_json=False)
    click.echo("")
    click.echo("The office approved the run: its contracts are confirmed.")
    click.echo("")
    click.echo("The season's deliveries are shipped and accepted at the weighbridge ...")
    click.echo("")
    click.echo(_season_ledger(engine, settings))
    click.echo("")
    click.echo(_sealed_and_verified(engine))
    click.echo("")
    click.echo("Explore it over HTTP:")
    click.echo(f"  DATABASE_URL={database_url} market create-admin office")
    click.echo(f"  DATABASE_URL={database_url} market serve")
    click.echo("  then open http://127.0.0.1:5000/api/docs")


# --- matching ------------------------------------------------------------------------------


def _match_round(engine, *, product: str | None, policy: str, poverty_weight: str, approve: bool) -> int:
    """Request a run as the CLI and carry it out here, to the end."""
    from market.jobs import run_match_in_process
    from market.models.match_run import MatchRunCreate
    from market.services.actors import Actor
    from market.services.matching import approve_match_run, get_match_run, request_match_run

    office = Actor.system("cli")
    data = MatchRunCreate(product=product, policy=policy, poverty_weight_per_tonne=poverty_weight)
    with session_scope(engine) as session:
        run_id = request_match_run(session, actor=office, data=data).id
    run_match_in_process(engine, run_id)
    with session_scope(engine) as session:
        run = get_match_run(session, actor=office, run_id=run_id)
        if run.status.value == "failed":
            raise ConfigError(f"match run {run_id} failed: {run.error}")
    if approve:
        with session_scope(engine) as session:
            approve_match_run(session, actor=office, run_id=run_id)
    return run_id


def _season_ledger(engine, settings: Settings) -> str:
    """Ship and accept every confirmed contract, then the reports the office sends upward."""
    from sqlmodel import select

    from market.api.serialize import agreement_out
    from market.clock import office_today
    from market.models import PurchaseAgreement
    from market.models.report import FiguresPublic, PovertyRow
    from market.services import reports
    from market.services.actors import Actor
    from market.text import render_ledger
    from seed.deliveries import deliver_contracts

    office = Actor.system("cli")
    today = office_today()
    with session_scope(engine) as session:
        deliver_contracts(session, tolerance_percent=settings.delivery_tolerance_percent, today=today)
    with session_scope(engine) as session:
        by_product = reports.summary(session, actor=office, group_by=reports.GroupBy.product)
        towns, total = reports.poverty(session, actor=office)
        agreements = session.exec(select(PurchaseAgreement).order_by(PurchaseAgreement.id)).all()
        summary = {
            "rows": [{"key": row.key, **FiguresPublic.values(row.figures)} for row in by_product.rows],
            "totals": FiguresPublic.values(by_product.totals),
        }
        poverty = {
            "rows": [PovertyRow.of(town).model_dump() for town in towns],
            "totals": PovertyRow.of(total).model_dump(),
        }
        return render_ledger(summary, poverty, [agreement_out(row, today) for row in agreements])


def _print_report(engine, run_id: int, *, as_json: bool) -> None:
    import json

    from market.services.actors import Actor
    from market.services.matching import get_match_run
    from market.text import render_match_report

    with session_scope(engine) as session:
        run = get_match_run(session, actor=Actor.system("cli"), run_id=run_id)
    if run.report is None:
        raise ConfigError(
            f"match run {run_id} has no report: it is {run.status.value}" + (f" ({run.error})" if run.error else "")
        )
    if as_json:
        click.echo(json.dumps(run.report, ensure_ascii=False, indent=2))
    else:
        click.echo(render_match_report(run.id, run.status.value, run.report))


@main.command("match")
@click.option(
    "--product",
    type=click.Choice([p.value for p in Product]),
    default=None,
    help="One product (default: every product).",
)
@click.option("--policy", type=click.Choice([p.value for p in PricePolicy]), default="midpoint", show_default=True)
@click.option(
    "--poverty-weight",
    default="0",
    show_default=True,
    metavar="YUAN",
    help="Yuan per tonne added for cooperatives with registered poor households.",
)
@click.option("--approve", is_flag=True, help="Approve the run's contracts straight away.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, as the API gives it.")
@_clean_errors
def match_command(product: str | None, policy: str, poverty_weight: str, approve: bool, as_json: bool) -> None:
    """Run one round of matching here and now, and print its report."""
    engine = _ready_engine(_settings())
    try:
        run_id = _match_round(engine, product=product, policy=policy, poverty_weight=poverty_weight, approve=approve)
    except ValidationError as exc:
        raise ConfigError(f"--poverty-weight: {exc.errors()[0]['msg']}") from None
    _print_report(engine, run_id, as_json=as_json)


@main.command("report")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, as the API gives it.")
@_clean_errors
def report_command(run_id: int, as_json: bool) -> None:
    """Print the report of match run RUN_ID."""
    from market.services.errors import NotFound

    engine = _ready_engine(_settings())
    try:
        _print_report(engine, run_id, as_json=as_json)
    except NotFound as exc:
        raise ConfigError(str(exc)) from None


# --- audit log -----------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("seal")
@_clean_errors
def audit_seal() -> None:
    """Chain the audit events committed since the last seal (as the beat task does)."""
    from market.services.audit import seal_all

    sealed = seal_all(_ready_engine(_settings()))
    click.echo(f"sealed {sealed} audit events into the chain")


@audit.command("verify")
@_clean_errors
def audit_verify() -> None:
    """Seal what is waiting, then walk the audit log's hash chain and recompute every hash; exit 1 at the
    first broken link."""
    from market.services.audit import seal_and_verify

    sealed, check = seal_and_verify(_ready_engine(_settings()))
    if sealed:
        click.echo(f"sealed {sealed} audit events into the chain first")
    if check.intact:
        head = f" (head: event {check.head_id}, hash {check.head_hash})" if check.head_id is not None else ""
        click.echo(f"audit log intact: {check.events} events{head}")
        return
    click.echo(f"audit log broken at event {check.broken_id}: {check.problem}")
    click.echo(
        f"the {check.events} events before it link up" + (f" (to event {check.head_id})" if check.events else "")
    )
    sys.exit(1)


def _sealed_and_verified(engine) -> str:
    """For the demo: every event of the story chained, and the chain checked."""
    from market.services.audit import seal_and_verify

    sealed, check = seal_and_verify(engine)
    state = "intact" if check.intact else f"BROKEN at event {check.broken_id}: {check.problem}"
    return f"Audit log: {sealed} events sealed into one hash chain, verified {state} (market audit verify)."


# --- serve ---------------------------------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn worker processes.")
@_clean_errors
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API with gunicorn (DATABASE_URL, default: ./market.db)."""
    from market.wsgi_server import run_gunicorn

    settings = _settings()
    _ready_engine(settings).dispose()
    click.echo(f"serving {settings.redacted_database_url()} on http://{host}:{port} (docs: /api/docs)", err=True)
    run_gunicorn(settings, host=host, port=port, workers=workers)


if __name__ == "__main__":
    main()
