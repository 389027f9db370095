"""The ``bwv`` command (API.md "CLI"). Configuration errors print one line and exit 2."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from service.config import ConfigError, Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="bodycam: body-worn video engine.")
token_app = typer.Typer(no_args_is_help=True, help="Issue and revoke tokens.")
dock_app = typer.Typer(no_args_is_help=True, help="Register and revoke docking stations.")
audit_app = typer.Typer(no_args_is_help=True, help="Check the audit chain.")
retention_app = typer.Typer(no_args_is_help=True, help="Retention sweeps.")
bundle_app = typer.Typer(no_args_is_help=True, help="CPS bundles.")
user_app = typer.Typer(no_args_is_help=True, help="Web console accounts.")
cold_app = typer.Typer(no_args_is_help=True, help="The cold storage tier.")
app.add_typer(token_app, name="token")
app.add_typer(dock_app, name="dock")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(bundle_app, name="bundle")
app.add_typer(user_app, name="user")
keys_app = typer.Typer(no_args_is_help=True, help="The force's signing keys.")
app.add_typer(keys_app, name="keys")


@keys_app.command("show")
def keys_show() -> None:
    """Print the public signing key (PEM) and its key_id; older keys that still verify follow."""
    from service.signing.keys import load_signer

    settings = _settings()
    try:
        signer = load_signer(settings.signing_key_file, settings.data_dir, settings.signing_keyring_dir)
    except ConfigError as e:
        err.print(f"[red]configuration error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from e
    for n, k in enumerate(signer.keys()):
        print(f"# key_id {k.key_id} (Ed25519){' current' if n == 0 else ''}")
        print(k.pem, end="")
app.add_typer(cold_app, name="cold")



@app.callback()
def _owner_only_files() -> None:
    # Belt and braces: every file and directory the service writes sets 0600/0700 itself (service/files.py);
    # this also covers what libraries and ffmpeg write on its behalf.
    os.umask(0o077)


# soft_wrap: an operator's one-line message must stay one line, whatever the terminal width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    try:
        settings = Settings()
        settings.validate_startup()
        return settings
    except (ConfigError, ValueError) as e:
        err.print(f"[red]configuration error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from e


def cli_principal():
    from service.auth.schemas import Principal

    return Principal(sub=f"cli:{getpass.getuser()}", roles=frozenset({"admin"}))


def run_with_context(fn: Callable[[Any], Awaitable[Any]], *, migrate: bool | None = None) -> Any:
    """Build the context, run ``fn(ctx)``, close. Start-up problems become one line, exit 2."""
    from service.context import build_context
    from service.migrations import upgrade

    settings = _settings()
    try:
        if migrate if migrate is not None else settings.is_sqlite:
            upgrade(settings.db_url)
        ctx = build_context(settings)
    except ConfigError as e:
        err.print(f"[red]configuration error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from e
    except Exception as e:  # an unreachable database is an operator problem: one line, not a traceback
        err.print(f"[red]start-up failed:[/red] {type(e).__name__}: {str(e).splitlines()[0]}", highlight=False)
        raise typer.Exit(2) from e

    async def main():
        try:
            return await fn(ctx)
        finally:
            await ctx.close()

    from sqlalchemy.exc import DBAPIError

    try:
        return asyncio.run(main())
    except (OSError, DBAPIError) as e:  # the database is reached only now: one line, not a traceback
        first = (str(e).splitlines() or [""])[0]
        err.print(f"[red]database error:[/red] {type(e).__name__}: {first}", highlight=False)
        raise typer.Exit(2) from e


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision (Alembic)."""
    from service.migrations import upgrade

    settings = _settings()
    try:
        upgrade(settings.db_url)
    except Exception as e:  # an unreachable database is an operator problem: one line, not a traceback
        err.print(f"[red]migration failed:[/red] {type(e).__name__}: {str(e).splitlines()[0]}", highlight=False)
        raise typer.Exit(2) from e
    out.print("database is at the newest revision")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API (with an in-process worker when BWV_REDIS_URL is unset)."""
    import uvicorn

    from service.app import create_app
    from service.logging import configure
    from service.migrations import upgrade

    settings = _settings()
    if "public_base_url" not in settings.model_fields_set:
        # Share links must point where this server listens unless a proxy address is configured.
        settings.public_base_url = f"http://{host}:{port}"
    configure(settings.log_level, settings.log_format)
    try:
        if settings.is_sqlite:
            upgrade(settings.db_url)
        application = create_app(settings)
    except ConfigError as e:
        err.print(f"[red]configuration error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from e
    except Exception as e:
        err.print(f"[red]start-up failed:[/red] {type(e).__name__}: {str(e).splitlines()[0]}", highlight=False)
        raise typer.Exit(2) from e
    err.print(f"bodycam on http://{host}:{port}  (API docs: /docs)  "
              f"mode: {'embedded' if settings.embedded_jobs else 'arq'}; "
              f"get a token: bwv token issue --sub YOU --role supervisor", highlight=False)
    err.print(f"console: http://{host}:{port}/ui/  (accounts: `bwv demo` makes demo ones; "
              f"`bwv user add NAME --role ROLE` adds yours)", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower(),
                access_log=False, timeout_graceful_shutdown=10)


@app.command()
def worker() -> None:
    """Run an arq worker (needs BWV_REDIS_URL)."""
    settings = _settings()
    if not settings.redis_url:
        err.print("[red]configuration error:[/red] bwv worker needs BWV_REDIS_URL", highlight=False)
        raise typer.Exit(2)
    from workers.settings import run

    run(settings)


@token_app.command("issue")
def token_issue(sub: str = typer.Option(..., help="the person's id (audited as the actor)"),
                role: list[str] = typer.Option(..., help="a role; repeat for several"),
                ttl: int = typer.Option(3600, help="seconds until it expires (at most BWV_MAX_TOKEN_TTL_S)")) -> None:
    """Print a signed JWT; the issue is audited (who ran it, for whom, roles, expiry; never the token)."""
    from service.auth import service as auth
    from service.db import transaction
    from service.errors import Problem

    async def go(ctx):
        async with transaction(ctx.sessions) as s:
            token, _ = await auth.issue_person_token(s, ctx.tokens, ctx.settings, cli_principal(), sub, role, ttl)
        return token

    try:
        token = run_with_context(go)
    except Problem as e:
        err.print(f"[red]error:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e
    print(token)


@token_app.command("revoke")
def token_revoke(sub: str | None = typer.Option(None, "--sub", help="every token this person holds now"),
                 jti: str | None = typer.Option(None, "--jti", help="one token, by its jti claim")) -> None:
    """Revoke tokens: every API process refuses them (401) from the next request on. Audited."""
    from service.auth import service as auth
    from service.db import transaction
    from service.errors import Problem

    async def go(ctx):
        async with transaction(ctx.sessions) as s:
            await auth.revoke_tokens(s, cli_principal(), sub=sub, jti=jti)

    try:
        run_with_context(go)
    except Problem as e:
        err.print(f"[red]error:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e
    out.print(f"revoked every token of {sub} issued until now" if sub is not None else f"revoked token {jti}",
              highlight=False)


@dock_app.command("register")
def dock_register(dock_id: str, site: str | None = typer.Option(None, help="where the dock is")) -> None:
    """Register (or re-register) a dock and print its token; an older token stops working."""
    from service.auth import service as auth
    from service.db import transaction
    from service.errors import Problem

    async def go(ctx):
        async with transaction(ctx.sessions) as s:
            return await auth.register_dock(s, ctx.tokens, cli_principal(), dock_id, site)

    try:
        print(run_with_context(go))
    except Problem as e:
        err.print(f"[red]error:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e


@dock_app.command("revoke")
def dock_revoke(dock_id: str) -> None:
    """Revoke a dock: its token is refused from the next request on."""
    from service.auth import service as auth
    from service.db import transaction
    from service.errors import Problem

    async def go(ctx):
        async with transaction(ctx.sessions) as s:
            await auth.revoke_dock(s, cli_principal(), dock_id)

    try:
        run_with_context(go)
    except Problem as e:
        err.print(f"[red]error:[/red] {e.detail}", highlight=False)
        raise typer.Exit(1) from e
    out.print(f"dock {dock_id} revoked")


@audit_app.command("verify")
def audit_verify(checkpoint: Path | None = typer.Option(None, "--checkpoint", help="a checkpoint saved earlier from "
                                                       "/v1/audit/checkpoints/latest (a witness's copy)"),
                 incremental: bool = typer.Option(False, "--incremental", help="start at the checkpoint the last "
                                                  "successful verification reached")) -> None:
    """Check the hash chain against every signed checkpoint; exit 1 and name the first bad event when broken."""
    import json

    from service.audit import service as audit
    from service.audit.models import VerificationMode
    from service.db import transaction
    from service.errors import Problem

    witness = None
    if checkpoint is not None:
        try:
            witness = json.loads(checkpoint.read_text())
        except (OSError, ValueError) as e:
            err.print(f"[red]error:[/red] cannot read {checkpoint}: {e}", highlight=False)
            raise typer.Exit(2) from e

    async def go(ctx):
        async with transaction(ctx.sessions) as s:
            tsa_ca = str(ctx.settings.tsa_ca_file) if ctx.settings.tsa_ca_file else None
            return await audit.verify_as(s, cli_principal(), ctx.signer, ctx.store, witness=witness, tsa_ca=tsa_ca,
                                         mode=VerificationMode.INCREMENTAL if incremental else VerificationMode.FULL)

    try:
        result = run_with_context(go)
    except Problem as e:
        err.print(f"[red]error:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e
    scope = f"{result.mode} from event {result.from_seq}"
    if result.ok:
        out.print(f"audit chain ok: {result.events} events ({scope}), held against {result.checkpoints} signed "
                  f"checkpoints (newest {result.latest_checkpoint_seq})", highlight=False)
        return
    out.print(f"audit chain BROKEN at seq {result.first_bad_seq}: {result.reason} "
              f"({result.events} events read, {scope})", highlight=False)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the chain head now (and write its write-once copy to storage)."""
    from service.audit import checkpoints
    from service.audit import service as audit
    from service.db import transaction

    async def go(ctx):
        async with transaction(ctx.sessions) as s:
            await audit.record(s, cli_principal(), "audit.checkpoint_requested", "audit", "checkpoint", {})
        async with transaction(ctx.sessions) as s:
            cp = await audit.make_checkpoint(s, cli_principal(), ctx)
            return checkpoints.document(cp) if cp is not None else None

    import json

    doc = run_with_context(go)
    if doc is None:
        err.print("[red]error:[/red] no checkpoint made: storage already holds one for this head that the "
                  "database lacks (run bwv audit verify)", highlight=False)
        raise typer.Exit(1)
    print(json.dumps(doc, indent=2))


@retention_app.command("sweep")
def retention_sweep(dry_run: bool = typer.Option(False, "--dry-run", help="only list what would be deleted"),
                    as_of: str | None = typer.Option(None, "--as-of", help="sweep as of this ISO 8601 time")) -> None:
    """Run one sweep now and print what it deleted (or would delete). Always audited."""
    from service.errors import Problem
    from service.retention.sweep import sweep
    from service.timeutil import iso, parse_time

    try:
        when = parse_time(as_of, "--as-of")
    except Problem as e:
        err.print(f"[red]error:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e

    async def go(ctx):
        return await sweep(ctx, cli_principal(), as_of=when, dry_run=dry_run)

    try:
        report = run_with_context(go)
    except Problem as e:
        err.print(f"[red]refused:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e
    verb = "would delete" if dry_run else "deleted"
    for rid, due in report.items:
        print(f"{verb}\t{rid}\tdue {iso(due)}")
    n = report.due if dry_run else report.deleted
    out.print(f"sweep {report.sweep_id} as of {iso(report.as_of)}: {verb} {n} recordings "
              f"({report.bytes} bytes); refused by storage: {report.refused}", highlight=False)


@cold_app.command("move")
def cold_move(as_of: str | None = typer.Option(None, "--as-of", help="move as of this ISO 8601 time"),
              limit: int | None = typer.Option(None, "--limit", min=1, help="move at most this many"),
              batch: int = typer.Option(100, "--batch", min=1, max=1000,
                                        help="recordings claimed, swapped and cleaned up together")) -> None:
    """Move kept footage older than retention.yaml's cold_after_days to cold storage now (what the periodic
    job does); finishes first whatever an interrupted run left. Safe to kill at any point."""
    from service.coldtier.tasks import move_to_cold
    from service.errors import Problem

    try:
        report = run_with_context(lambda ctx: move_to_cold(ctx, as_of=as_of, limit=limit, batch=batch))
    except Problem as e:
        err.print(f"[red]refused:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e
    out.print("cold move: " + ", ".join(f"{k} {v}" for k, v in report.items()), highlight=False)
    if report["failed"]:
        raise typer.Exit(1)


@cold_app.command("poll")
def cold_poll() -> None:
    """Follow restores now (what the periodic job does) and queue the bundles waiting for them."""
    from service.coldtier.tasks import poll_cold_restores

    report = run_with_context(poll_cold_restores)
    out.print("cold restores: " + ", ".join(f"{k} {v}" for k, v in report.items()), highlight=False)


@app.command("import")
def import_(root: str = typer.Argument(..., help="a folder, or an S3 prefix s3://bucket/prefix"),
            manifest: Path = typer.Option(..., "--manifest", help="CSV (or .json) with one row per file"),
            dry_run: bool = typer.Option(False, "--dry-run", help="check every row, store nothing"),
            refusals: Path | None = typer.Option(None, "--refusals",
                                                 help="where the refused rows go (default: MANIFEST.refusals.csv)"),
            actor: str | None = typer.Option(None, "--as", envvar="BWV_ACTOR",
                                             help="the person running the import (audited as them)"),
            system: str = typer.Option("legacy import", help="the provenance's system when a row names none")) -> None:
    """Import legacy footage through the ingest rules. Re-run the same command to carry on after a crash.
    Exit 1 when any row was refused (listed with reasons in the refusals CSV)."""
    import csv
    import re

    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from service.auth.schemas import Principal, reserved_id
    from service.imports import importer
    from service.imports.manifest import parse
    from service.imports.tree import open_tree

    if actor is not None and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}", actor) or reserved_id(actor)):
        err.print(f"[red]error:[/red] --as {actor[:50]!r} is not a person's id", highlight=False)
        raise typer.Exit(2)
    try:
        raw = manifest.read_bytes()
        parsed = parse(raw, manifest.name, system=system)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        err.print(f"[red]error:[/red] cannot read the manifest {manifest}: {e}", highlight=False)
        raise typer.Exit(2) from e
    if not root.startswith("s3://") and not Path(root).is_dir():
        err.print(f"[red]error:[/red] {root} is not a folder", highlight=False)
        raise typer.Exit(2)
    who = Principal(sub=actor, roles=frozenset({"admin"})) if actor else cli_principal()
    total = sum(1 for _ in parsed.rows)
    bar = Progress("[progress.description]{task.description}", BarColumn(), "{task.completed}/{task.total} rows",
                   DownloadColumn(), TransferSpeedColumn(), console=err, transient=True)

    async def go(ctx):
        tree = open_tree(root, endpoint_url=ctx.settings.s3_endpoint_url, region=ctx.settings.s3_region)
        rows = bar.add_task("importing", total=total)
        sent = bar.add_task("bytes", total=None, visible=False)

        def progress(row, n):
            bar.advance(sent, n)

        def on_row(row, outcome, what):
            bar.advance(rows, 1)
            print(f"{outcome}\trow {row.number}\t{row.path}\t{what}", flush=True)

        try:
            with bar:
                return await importer.run(ctx, who, tree, parsed, dry_run=dry_run, progress=progress, on_row=on_row)
        finally:
            await tree.close()

    report = run_with_context(go)
    target = refusals or manifest.with_name(manifest.name + ".refusals.csv")
    if report.refused:
        with open(target, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "path", "reason"])
            for r in report.refused:
                w.writerow([r.number, r.path, r.reason])
    rate = report.bytes / report.seconds / 1e6 if report.seconds else 0.0
    out.print(f"import {report.import_id} (manifest sha256 {report.manifest_sha256}): "
              f"{'would import' if dry_run else 'imported'} {len(report.checked) if dry_run else len(report.imported)}"
              f", already in {len(report.skipped)}, refused {len(report.refused)}"
              f"{f' (listed in {target})' if report.refused else ''}; {report.bytes} bytes in {report.seconds:.1f} s "
              f"({rate:.1f} MB/s)", highlight=False)
    if report.refused:
        raise typer.Exit(1)


@bundle_app.command("verify")
def bundle_verify(path: Path = typer.Argument(..., help="a downloaded bundle ZIP"),
                  key: Path | None = typer.Option(None, "--key", help="the force's public key (PEM) you trust, "
                                                  "e.g. from GET /v1/keys or `bwv keys show`"),
                  tsa_ca: Path | None = typer.Option(None, "--tsa-ca", help="the time-stamping authority's CA "
                                                     "certificate: also check manifest.tsr")) -> None:
    """Re-hash every exhibit against the manifest and check its signature; needs no access to bodycam.
    Exit 1 when it fails."""
    from service.disclosure.verify import verify_bundle

    verdict = verify_bundle(path, trusted_key=key.read_bytes() if key else None, tsa_ca=tsa_ca)
    if verdict.ok:
        print(f"PASS: {verdict.checked} exhibits match manifest.json ({path.name})")
        for line in verdict.notes:
            print(f"  {line}")
        return
    print(f"FAIL: {path.name}")
    for p in verdict.problems:
        print(f"  - {p}")
    raise typer.Exit(1)


@user_app.command("add")
def user_add(name: str = typer.Argument(..., help="the username they sign in with"),
             role: list[str] = typer.Option(..., "--role", help="a console role; repeat for several"),
             password: str | None = typer.Option(None, help="omit to be prompted (not echoed, asked twice)"),
             email: str | None = typer.Option(None, help="where notifications go (officers' digest, reviews, SARs)"),
             ) -> None:
    """Create a local console account (argon2id-hashed password)."""
    from service.auth import accounts
    from service.db import transaction
    from service.errors import Problem

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def go(ctx):
        async with transaction(ctx.sessions) as s:
            await accounts.add_user(s, cli_principal(), name, role, password, email=email)

    try:
        run_with_context(go)
    except Problem as e:
        err.print(f"[red]error:[/red] {e.detail}", highlight=False)
        raise typer.Exit(2) from e
    out.print(f"user {name} added with roles {', '.join(sorted(set(role)))}", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """List console accounts: roles, source."""
    from service.auth import accounts

    async def go(ctx):
        async with ctx.sessions() as s:
            return await accounts.list_users(s)

    for u in run_with_context(go):
        print(f"{u.username}\t{','.join(u.roles)}\t{u.source}")


@app.command()
def notify(dry_run: bool = typer.Option(False, "--dry-run", help="print what would be sent, send nothing"),
           kind: list[str] = typer.Option([], "--kind", help="officer_digest, reviews_due or sars_due; repeat "
                                          "(default: all)"),
           test_to: str | None = typer.Option(None, "--test-to", help="send one test message to this address "
                                              "and report whether the mail server took it")) -> None:
    """Send (or, --dry-run, print) the notifications due now; each sent mail is audited."""
    from service.notify import service as notify_service
    from service.notify import tasks as notify_tasks
    from service.notify.models import MailKind
    from service.notify.schemas import NotifyReport

    bad = [k for k in kind if k not in {m.value for m in MailKind} - {"test"}]
    if bad:
        err.print(f"[red]error:[/red] unknown --kind {', '.join(bad)}", highlight=False)
        raise typer.Exit(2)

    async def go(ctx):
        if test_to is not None:
            if not ctx.settings.smtp_url:
                err.print("[red]configuration error:[/red] BWV_SMTP_URL is not set", highlight=False)
                raise typer.Exit(2)
            report = NotifyReport(composed=1)
            await notify_tasks.deliver(ctx, cli_principal(), [notify_service.test_mail(test_to)], report)
            return report
        return await notify_tasks.notify(ctx, kind or None, dry_run=dry_run, actor=cli_principal())

    report = run_with_context(go)
    for m in report.mails:
        print(f"{m['kind']}\t{m['to']}\t{m['count']}\t{m['subject']}")
    verb = "would send" if report.dry_run else "sent"
    out.print(f"{verb} {report.composed if report.dry_run else report.sent} of {report.composed} mails"
              + (f", {report.failed} failed (alerted)" if report.failed else ""), highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def demo(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load sample footage (generated with ffmpeg) and print tokens and URLs to try."""
    from service.demo import load_demo

    result = run_with_context(load_demo)
    base = f"http://{host}:{port}"
    out.print("[bold]Demo data loaded.[/bold] Start the server with `make run`, then try:")
    for line in result.lines(base):
        print(line)
    print("")
    print(f"  Console: {base}/ui/  sign in as any of {', '.join(result.accounts)}, password {result.password!r}")


def main() -> None:  # pragma: no cover
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
