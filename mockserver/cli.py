"""``mockserver``: serve, validate, scenarios, limits, schema, openapi, asyncapi."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.abc
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .apis.registry import APIS, CONTROL_PORT
from .core.clock import (
    AUTO_THRESHOLD,
    MAX_AUTO_THRESHOLD,
    MAX_SPEED,
    ClockError,
    check_auto_threshold,
    check_instant,
    format_instant,
    parse_instant,
)
from .core.errors import MockServerError, ScenarioError
from .core.limits import LIMIT_DOCS, Limits, limits_markdown
from .scenario.loader import builtin_scenarios, load_builtin, load_scenario, resolve_scenario
from .scenario.schema import scenario_schema

__all__ = ["main"]


def _pairs(values: Sequence[str], what: str, *, known: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not rest:
            raise SystemExit(f"mockserver: --{what} expects NAME=VALUE, got {value!r}")
        if name not in known:
            raise SystemExit(f"mockserver: --{what}: unknown API {name!r}; known: {', '.join(known)}")
        out[name] = rest
    return out


def _speed(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_SPEED:  # also NaN
        raise argparse.ArgumentTypeError(
            f"expected a number from 0 (manual clock) to {MAX_SPEED:g} (e.g. 60), or auto (a manual clock that moves by itself), got {text!r}"
        )
    return value


def _threshold(text: str) -> float:
    try:
        return check_auto_threshold(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected real seconds above 0 and at most {MAX_AUTO_THRESHOLD:g} (e.g. 0.05), got {text!r}"
        ) from None


def _instant(text: str) -> float:
    try:
        return check_instant(parse_instant(text))
    except (ValueError, ClockError):
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 instant between 1971 and 9980 (e.g. 2026-02-06T22:00:00-05:00), got {text!r}"
        ) from None


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 (ephemeral) to 65535, got {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description="A scriptable fake of five trading-agent notification APIs.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve every API with a scenario")
    serve.add_argument("--scenario", default="demo", help="built-in scenario id or a YAML file (default: demo)")
    serve.add_argument(
        "--speed",
        type=_speed,
        help="virtual seconds per real second (0 = manual clock); auto = manual, and when no request is in flight and "
        "nothing moved for --auto-threshold real seconds the clock jumps to its next timer",
    )
    serve.add_argument(
        "--auto-threshold",
        type=_threshold,
        default=AUTO_THRESHOLD,
        metavar="SECONDS",
        help=f"with --speed auto: real seconds of quiet before the clock jumps (default {AUTO_THRESHOLD:g})",
    )
    serve.add_argument("--start", type=_instant, help="virtual start instant, ISO 8601 (default: the scenario's, else now)")
    serve.add_argument("--profile", action="append", default=[], metavar="API=PROFILE", help="documented or upstream, per API")
    serve.add_argument("--host", default="127.0.0.1", help="address the API listeners bind (default 127.0.0.1)")
    serve.add_argument("--port", action="append", default=[], metavar="API=PORT", help="port of an API (0 = ephemeral)")
    serve.add_argument(
        "--base-port",
        type=_port,
        metavar="N",
        help=f"move every listener: control on N, then {', '.join(APIS)} on N+1 ... N+{len(APIS)} (default {CONTROL_PORT}); "
        "--port and --control-port still win",
    )
    serve.add_argument("--control-port", type=_port)
    serve.add_argument(
        "--control-host",
        default="127.0.0.1",
        help="address the control API binds (default 127.0.0.1: this machine only; beyond it a --control-token is required)",
    )
    serve.add_argument("--control-token", help="require this token on the control API")
    serve.add_argument(
        "--allow-unauthenticated-remote-control",
        action="store_true",
        help="let a --control-host beyond this machine serve without --control-token: anyone who reaches it can "
        "load scenarios and read the journal and credentials",
    )
    serve.add_argument(
        "--scenario-dir",
        action="append",
        default=[],
        metavar="DIR",
        help='a directory the control API may load scenario files from by path (POST /_mock/scenario {"path": ...}); '
        "repeatable; the built-in scenarios always",
    )
    serve.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="[API.]NAME=VALUE",
        help="change a transport limit, for every API or one: body=2MiB, tradeready.message=64KiB, head_timeout=5s, "
        f"connections=50000 (names: {', '.join(LIMIT_DOCS)}; README: Reliability)",
    )
    serve.add_argument(
        "--journal-file",
        metavar="PATH",
        help="append every journal entry to PATH as JSON Lines as it happens (written at least every 100 ms; a killed "
        "server leaves whole lines); started again with the journal when the scenario restarts",
    )
    serve.add_argument(
        "--env-file",
        help="write the client environment (KEY=VALUE lines: base URLs, credentials, the clock) to this file before the "
        "control API answers; removed when the server exits",
    )
    serve.add_argument("--keep-env-file", action="store_true", help="leave the env file behind when the server exits")
    serve.add_argument(
        "--wait-for-client",
        action="store_true",
        help="hold the virtual clock at its start until the first client connects to any API (or POST /_mock/clock/start)",
    )
    serve.add_argument("--journal-limit", type=_positive, default=50_000, help="journal entries kept in memory before spilling")
    serve.add_argument("--quiet", action="store_true", help="print nothing but errors")

    validate = sub.add_parser("validate", help="check scenario files")
    validate.add_argument("files", nargs="+")

    sub.add_parser("scenarios", help="list the built-in scenarios")
    sub.add_parser("limits", help="print the limits and their defaults (what each API accepts, and what a run keeps)")

    schema = sub.add_parser("schema", help="print a JSON Schema: of a scenario file (default) or of a journal line")
    schema.add_argument("what", nargs="?", choices=["scenario", "journal"], default="scenario", help="scenario (default) or journal")
    schema.add_argument("--output", help="write to this file instead")
    schema.add_argument("--markdown", action="store_true", help="journal: a Markdown table of the kinds instead of the JSON Schema")

    openapi = sub.add_parser("openapi", help="print an API's OpenAPI 3.1 document (its HTTP routes), or the control API's")
    openapi.add_argument("name", choices=["control", *APIS])
    openapi.add_argument("--profile", default="documented", help="the API's profile whose document to print (default documented)")
    asyncapi = sub.add_parser("asyncapi", help="print an API's AsyncAPI 3.0 document (its WebSocket, Socket.IO or event stream)")
    asyncapi.add_argument("name", choices=list(APIS))
    asyncapi.add_argument("--profile", default="documented", help="the API's profile whose document to print (default documented)")
    return parser


def _document(command: str, name: str, profile: str) -> int:
    """``mockserver openapi|asyncapi NAME``: the document as JSON, or one sentence saying why there is none."""
    from .control.openapi import KINDS, NoDocument, api_asyncapi, api_openapi, control_openapi

    if name == "control":
        if profile != "documented":
            raise SystemExit(f"mockserver: {command}: the control API has no profiles")
        document = control_openapi()
    else:
        try:
            document = (api_openapi if command == "openapi" else api_asyncapi)(name, profile)
        except ValueError as exc:
            raise SystemExit(f"mockserver: {command}: {exc}") from None
        except NoDocument as exc:
            hint = f"; its {KINDS[exc.other]} document: mockserver {exc.other} {name}" if exc.other else ""
            raise SystemExit(f"mockserver: {command}: {exc}{hint}") from None
    print(json.dumps(document, indent=2))
    return 0


#: what python-socketio imports for its clients alone (engineio's asyncio client: aiohttp; its threaded one: requests,
#: websocket-client): ~0.2 s and ~17 MB of a server's start, for code a server never runs
_SOCKETIO_CLIENT_LIBRARIES = frozenset({"aiohttp", "requests", "websocket"})


class _RefuseImports(importlib.abc.MetaPathFinder):
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ImportError(f"{name}: not imported by mockserver serve", name=name)


@contextlib.contextmanager
def _without_socketio_clients() -> Iterator[None]:
    """Import python-socketio without its clients' libraries (engineio then holds them as not installed).

    Only for ``mockserver serve``, a process of its own with no client in it; in-process (the pytest plugin,
    ``conformance run``, a user's ``ThreadedMockServer``) socketio is imported whole, as a user's own clients
    in that process need it. Does nothing if socketio or one of the libraries is already imported.
    """
    if "socketio" in sys.modules or _SOCKETIO_CLIENT_LIBRARIES & sys.modules.keys():
        yield
        return
    finder = _RefuseImports(_SOCKETIO_CLIENT_LIBRARIES)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _serve(args: argparse.Namespace) -> int:
    with _without_socketio_clients():
        import socketio  # noqa: F401  (Cryptorobot's server; see _without_socketio_clients)
    from .runtime import Runtime
    from .server import MockServer, env_lines

    scenario = resolve_scenario(args.scenario)
    try:
        explicit = {name: _port(port) for name, port in _pairs(args.port, "port", known=list(APIS)).items()}
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"mockserver serve: --port: {exc}") from None
    base = args.base_port if args.base_port is not None else CONTROL_PORT
    if base != 0 and base + len(APIS) > 65535:
        raise SystemExit(f"mockserver serve: --base-port {base}: the APIs would need ports up to {base + len(APIS)}, beyond 65535")
    ports = {name: (0 if base == 0 else base + index) for index, name in enumerate(APIS, start=1)} | explicit
    control_port = args.control_port if args.control_port is not None else base
    profiles = _pairs(args.profile, "profile", known=list(APIS))
    try:
        limits = Limits.parse(args.limit, apis=list(APIS))
    except ValueError as exc:
        raise SystemExit(f"mockserver serve: --limit {exc}") from None
    start = args.start
    runtime = Runtime(
        scenario,
        real_time=time.monotonic,
        wall_time=time.time,
        speed=0.0 if args.speed == "auto" else args.speed,
        auto_advance=args.auto_threshold if args.speed == "auto" else None,
        start=start,
        profiles=profiles,
        journal_limit=args.journal_limit,
        wait_for_client=True if args.wait_for_client else None,
    )
    server = MockServer(
        runtime,
        host=args.host,
        ports=ports,
        control_port=control_port,
        control_host=args.control_host,
        control_token=args.control_token,
        limits=limits,
        journal_file=args.journal_file,
        scenario_dirs=args.scenario_dir,
        allow_unauthenticated_remote_control=args.allow_unauthenticated_remote_control,
    )
    _raise_open_files(limits)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        env_file = Path(args.env_file) if args.env_file else None
        try:
            # the env file is complete before the control API first answers: a script may wait on health, then source it
            await server.start(before_serving=(lambda: write_env_file(env_file, env_lines(server))) if env_file else None)
            # A standalone server keeps a large, long-lived journal: full collections would scan it
            # again and again (200 ms pauses measured). Young collections stay frequent.
            gc.freeze()
            gc.set_threshold(20_000, 50, 200)
            if not args.quiet:
                _print_table(server)
            await stop.wait()
        finally:
            try:
                await server.stop()
            finally:
                if env_file is not None and not args.keep_env_file:
                    env_file.unlink(missing_ok=True)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover - uvloop is a dependency
        asyncio.run(main())
    return 0


def _raise_open_files(limits: Limits) -> None:
    """Let the process open as many sockets as the connection limits allow: the soft ``RLIMIT_NOFILE`` up to the
    hard one (a shell's default 1024 would refuse the 10,000 idle streams the limits are meant for)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    wanted = sum(limits.for_api(name).connections for name in APIS) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def write_env_file(path: Path, lines: Sequence[str]) -> None:
    """Write ``lines`` to ``path`` atomically (a temporary file beside it, then a rename): a reader sees all or nothing."""
    path = path.resolve()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _print_table(server: object) -> None:
    from .server import MockServer

    assert isinstance(server, MockServer)
    runtime = server.runtime
    clock = runtime.clock
    print(f"agentfeed-mock serving scenario {runtime.scenario.id!r} (seed {runtime.scenario.seed})")
    held = " (held: it starts when the first client connects)" if runtime.held_speed is not None else ""
    speed = runtime.speed
    mode = " (manual)" if speed == 0 else ""
    if runtime.auto_advance is not None:
        mode = f" (manual, moving by itself after {runtime.auto_advance:g} s of quiet once a client connects)"
    print(f"  virtual clock: start {format_instant(clock.start)}, speed {speed:g}{mode}{held}")
    print(f"  {'API':<16}{'base URL':<44}{'profile':<12}credentials")
    urls = server.urls()
    creds = runtime.credentials()
    for name in APIS:
        base = urls[name] + ("/api/agent/v1" if name == "luckylobster" else "")
        if name == "tradeready":
            base = urls[name].replace("http://", "ws://", 1) + "/ws/v1?api_key=..."
        first = creds[name][0] if creds.get(name) else {}
        more = f" (+{len(creds[name]) - 1} more)" if len(creds.get(name, [])) > 1 else ""
        if "key" in first and name == "tradeready":
            cred_text = f"api_key={first['key']}{more}"
        elif "key" in first:
            cred_text = f"Authorization: Bearer {first['key']}{more}"
        elif name == "cryptorobot":
            cred_text = (
                f"{first['email']} / {first['password']} ({first['plan']}); Socket.IO /socket.io/, REST: ApiKey {first['api_key']}{more}"
            )
        elif "email" in first:
            cred_text = f"{first['email']} / {first['password']} ({first['access']}); POST /api/v1/users/login for a JWT{more}"
        elif "token" in first:
            header = "Authorization: Bearer" if runtime.profiles[name] == "upstream" else "X-Claw-Token:"
            cred_text = f"agent {first['agent_id']} ({first['name']}/{first['password']}) {header} {first['token']}{more}"
        else:
            cred_text = json.dumps(first)
        print(f"  {name:<16}{base:<44}{runtime.profiles[name]:<12}{cred_text}")
    print(f"  {'control':<16}{urls['control'] + '/_mock/':<44}{'':<12}{'token required' if server.control_token else 'no token'}")
    print("  try: curl -H 'Authorization: Bearer " + (creds["luckylobster"][0]["key"]) + f"' {urls['luckylobster']}/api/agent/v1/heartbeat")
    sys.stdout.flush()


def _validate(files: Sequence[str]) -> int:
    failed = 0
    for file in files:
        try:
            scenario = load_scenario(file)
        except ScenarioError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            print(f"{file}: ok ({scenario.id}: {len(scenario.timeline)} steps)")
    if failed:
        print(f"{failed} of {len(files)} scenario file(s) invalid", file=sys.stderr)
    return 1 if failed else 0


def _first_sentence(text: str) -> str:
    """The first sentence of a description (its lines joined), whole."""
    flat = " ".join(text.split())
    end = re.search(r"[.!?](\s|$)", flat)
    return flat[: end.start() + 1] if end else flat


def _scenarios() -> int:
    known = builtin_scenarios()
    width = max(len(k) for k in known)
    for scenario_id in known:
        print(f"{scenario_id:<{width}}  {_first_sentence(load_builtin(scenario_id).description)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except BrokenPipeError:  # `mockserver scenarios | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "validate":
            return _validate(args.files)
        if args.command == "scenarios":
            return _scenarios()
        if args.command == "limits":
            print(limits_markdown(), end="")
            return 0
        if args.command == "schema":
            if args.what == "journal":
                from .core.catalogue import journal_schema, kinds_markdown

                text = kinds_markdown().rstrip("\n") if args.markdown else json.dumps(journal_schema(), indent=2)
            else:
                text = json.dumps(scenario_schema(), indent=2)
            if args.output:
                Path(args.output).write_text(text + "\n", encoding="utf-8")
            else:
                print(text)
            return 0
        if args.command in ("openapi", "asyncapi"):
            return _document(args.command, args.name, args.profile)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except MockServerError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise
    except OSError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 1
    return 2
