"""The `zona` command: up, test, migrate, seed, usury load, pse-banks, pse-conciliate, review, operator. `./zona` bootstraps the venv and calls it."""
from __future__ import annotations

import argparse
import os
import sys

from .settings import ConfigError


def cmd_up(_args: argparse.Namespace) -> int:
    from .runtime import up

    return up()


def cmd_test(args: argparse.Namespace) -> int:
    from .testing import run_tests

    return run_tests(args.pytest_args)


def cmd_migrate(_args: argparse.Namespace) -> int:
    from db.migrate import upgrade_head

    upgrade_head()
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from db import seed
    from zona_privada.settings import get_settings

    state_dir = get_settings().state_dir
    creds_file = state_dir / "demo_credentials.json"
    if args.reset:
        seed.reset_database()
        creds = seed.seed_demo_members(creds_file)
        print(f"demo state restored: {len(creds)} demo members")
    elif args.if_empty:
        if seed.member_count() == 0:
            creds = seed.seed_demo_members(creds_file)
            print(f"first start: {len(creds)} demo members created")
    elif not args.members:
        if seed.member_count() > 0:
            print("zona: members already loaded; use `zona seed --reset` to restore the demo state", file=sys.stderr)
            return 1
        creds = seed.seed_demo_members(creds_file)
        print(f"{len(creds)} demo members created")
    if args.members:
        from db.bulk_seed import load_synthetic_members

        load_synthetic_members(args.members)
    return 0


def cmd_pse_banks(args: argparse.Namespace) -> int:
    """Lists the cached PSE bank list; --refresh fetches it from PSE first."""
    from datetime import datetime, timedelta, timezone

    from db.engine import session_scope
    from db.pse_banks import current_banks, last_fetched
    from workers.pse_tasks import provider_for, refresh_bank_list
    from zona_privada.settings import load_pse_settings

    pse = load_pse_settings()
    if args.refresh:
        stored = refresh_bank_list(provider_for(pse), pse, force=True)
        if stored is None:
            print("zona: no se pudo obtener la lista de Entidades Financieras de PSE; se conserva la anterior",
                  file=sys.stderr)
            return 1
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        fetched = last_fetched(session)
        banks = current_banks(session, now, timedelta(seconds=pse.banks_max_age_s))
    if not args.quiet:
        print(f"lista de bancos PSE: {'nunca obtenida' if fetched is None else fetched.isoformat(timespec='seconds')}"
              f"{'' if banks is not None or fetched is None else ' (vencida: no se ofrece)'}")
        for bank in banks or []:
            print(f"  {bank.code:>6}  {bank.name}")
    return 0


def cmd_pse_conciliate(args: argparse.Namespace) -> int:
    """Fetch PSE's conciliation file for a day and act on it now (what the daily beat job
    does): resolves unknown creates, files every mismatch in the review queue."""
    from datetime import date, datetime, timezone

    from domain.bogota_calendar import bogota_date
    from workers.pse_tasks import conciliate_day

    today = bogota_date(datetime.now(timezone.utc))
    try:
        day = date.fromisoformat(args.date) if args.date else today
    except ValueError:
        print(f"zona: fecha no válida {args.date!r}; use AAAA-MM-DD", file=sys.stderr)
        return 2
    if day > today:
        print("zona: no hay conciliación de un día futuro", file=sys.stderr)
        return 2
    result = conciliate_day(day, final=day < today)
    if "error" in result:
        print(f"zona: no se pudo obtener el archivo de conciliación de PSE: {result['error']}", file=sys.stderr)
        return 1
    print(f"conciliación PSE {day.isoformat()} ({'día cerrado' if day < today else 'parcial'}): "
          f"{result['rows']} filas, {result['resolved']} resueltas, {result['never_reached']} no llegaron a PSE, "
          f"{result['mismatches']} diferencias a revisión")
    return 0


def cmd_usury_load(args: argparse.Namespace) -> int:
    """Load a new certification of the usury rate (same layout as db/data/usury_rates.csv).
    The whole file is checked first; a bad one changes nothing."""
    from pathlib import Path

    from db.engine import session_scope
    from db.usury import UsuryFileError, load_certifications, read_certifications

    try:
        certifications = read_certifications(Path(args.file))
    except UsuryFileError as exc:
        print(f"zona: archivo de tasas de usura rechazado, no se cargó nada: {exc}", file=sys.stderr)
        return 1
    with session_scope() as session:
        written = load_certifications(session, certifications)
    skipped = len(certifications) - written
    print(f"tasas de usura cargadas: {written} meses" + (f" ({skipped} sin tasa confirmada, omitidos)" if skipped else ""))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    """The review queue's open items, one per line (oldest first)."""
    from db.engine import session_scope
    from db.payments.review import open_items

    with session_scope() as session:
        items = open_items(session, limit=args.limit)
    if not items:
        print("review queue: no open items")
        return 0
    print(f"{'id':>6}  {'created (UTC)':<19}  {'intent':>8}  {'amount':>14}  {'kind':<24}  reason")
    for item in items:
        amount = f"{item.amount:,.2f}" if item.amount is not None else "-"
        intent = str(item.payment_intent_id) if item.payment_intent_id is not None else "-"
        print(f"{item.id:>6}  {item.created_at:%Y-%m-%d %H:%M:%S}  {intent:>8}  {amount:>14}  {item.kind:<24}  "
              f"{item.reason}")
    return 0


def cmd_operator_add(args: argparse.Namespace) -> int:
    """A console operator; prints the first key once (it is stored only as its hash)."""
    from db.engine import session_scope
    from db.operators import ConsoleError, create_operator

    try:
        with session_scope() as session:
            _operator_id, key = create_operator(session, args.name, args.role)
    except ConsoleError as exc:
        print(f"zona: {exc.message}", file=sys.stderr)
        return 1
    print(f"operador {args.name.strip().lower()} creado (rol {args.role})")
    print(f"clave inicial: {key}")
    print("Guárdela ahora: no se vuelve a mostrar. En el primer ingreso se inscribe el segundo factor (TOTP).")
    return 0


def cmd_operator_disable(args: argparse.Namespace) -> int:
    from db.engine import session_scope
    from db.operators import ConsoleError, disable_operator

    try:
        with session_scope() as session:
            disable_operator(session, args.name)
    except ConsoleError as exc:
        print(f"zona: {exc.message}", file=sys.stderr)
        return 1
    print(f"operador {args.name.strip().lower()} deshabilitado: no puede ingresar y sus sesiones terminan")
    return 0


def cmd_operator_list(_args: argparse.Namespace) -> int:
    from db.engine import session_scope
    from db.payments.operator_views import operators

    with session_scope() as session:
        rows = operators(session)
    for row in rows:
        last = f"{row.last_login_at:%Y-%m-%d %H:%M} UTC" if row.last_login_at else "nunca"
        state = "" if row.active else "  (deshabilitado)"
        print(f"{row.username:<24} {row.role:<10} TOTP {'sí' if row.enrolled else 'no':<3} último ingreso {last}{state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zona", description="Zona Privada de Asociados")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the whole system (embedded PostgreSQL and Redis unless URLs are given)").set_defaults(func=cmd_up)
    test = sub.add_parser("test", help="run every test on its own database and ports")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(func=cmd_test)
    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed", help="load the demo members")
    seed.add_argument("--reset", action="store_true", help="drop all data and load the demo state again")
    seed.add_argument("--if-empty", action="store_true", help="only when there are no members yet")
    seed.add_argument("--members", type=int, default=0, help="add N synthetic members (COPY)")
    seed.set_defaults(func=cmd_seed)
    banks = sub.add_parser("pse-banks", help="PSE's bank list as cached (--refresh: fetch it now)")
    banks.add_argument("--refresh", action="store_true", help="fetch the list from PSE now")
    banks.add_argument("--quiet", action="store_true", help="print nothing on success")
    banks.set_defaults(func=cmd_pse_banks)
    conciliate = sub.add_parser("pse-conciliate", help="fetch PSE's conciliation file for a day and act on it")
    conciliate.add_argument("--date", help="the Bogotá day, AAAA-MM-DD (default: today, partial)")
    conciliate.set_defaults(func=cmd_pse_conciliate)
    usury = sub.add_parser("usury", help="certified usury rates (Superintendencia Financiera)")
    usury_sub = usury.add_subparsers(dest="usury_command", required=True)
    usury_load = usury_sub.add_parser("load", help="load a certification file (period,usura_ea_percent,source)")
    usury_load.add_argument("file")
    usury_load.set_defaults(func=cmd_usury_load)
    review = sub.add_parser("review", help="list the open items of the payments review queue")
    review.add_argument("--limit", type=int, default=200, help="at most this many items (default 200)")
    review.set_defaults(func=cmd_review)
    operator = sub.add_parser("operator", help="operators of the console (/operador)")
    operator_sub = operator.add_subparsers(dest="operator_command", required=True)
    operator_add = operator_sub.add_parser("add", help="create an operator and print their first key")
    operator_add.add_argument("name")
    operator_add.add_argument("--role", choices=("operador", "supervisor"), required=True)
    operator_add.set_defaults(func=cmd_operator_add)
    operator_sub.add_parser("list", help="list the operators").set_defaults(func=cmd_operator_list)
    operator_disable = operator_sub.add_parser("disable", help="an operator who leaves: no more logins")
    operator_disable.add_argument("name")
    operator_disable.set_defaults(func=cmd_operator_disable)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["test"]:
        # Everything after `test` belongs to pytest, options included (`zona test -q -k x`).
        args = argparse.Namespace(func=cmd_test, pytest_args=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"zona: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for a person, the trace on demand
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            print(f"zona: cannot reach the database: {str(exc.orig).strip().splitlines()[0]}", file=sys.stderr)
            return 2
        if os.environ.get("ZONA_DEBUG"):
            raise
        print(f"zona: {type(exc).__name__}: {exc} (set ZONA_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
