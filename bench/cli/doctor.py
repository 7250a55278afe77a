"""``ctxbench doctor``: which MySQL server the suite would use, and its settings."""

from __future__ import annotations

import argparse
import json

from bench.cli.args import MYSQL_URL_HELP
from bench.errors import EXIT_ERROR, EXIT_OK
from bench.server import doctor


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="which MySQL server the suite would use, and its settings")
    p.add_argument("--mysql-url", metavar="URL", help=MYSQL_URL_HELP)
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    facts = doctor(args.mysql_url)
    if args.json:
        print(json.dumps(facts, indent=1))
        return EXIT_OK if facts["found"] else EXIT_ERROR
    if not facts["found"]:
        print(f"no MySQL server: {facts['reason']}")
        print(facts["help"])
        return EXIT_ERROR
    tls = facts["tls_summary"]
    if not facts["tls"] and facts["tls_available"]:
        tls += " (the server offers it: add ?ssl_ca=PATH or ?ssl=true to the URL)"
    rows = [
        ("path taken", facts["path_taken"]),
        ("url", facts["url"]),
        ("version", f"{facts['version']} ({facts['flavor']})"),
        ("max_connections", facts["max_connections"]),
        ("thread_handling", facts["thread_handling"]),
        ("auth plugin", facts["auth_plugin"]),
        ("TLS", tls),
        ("ephemeral", "yes (stopped again)" if facts["ephemeral"] else "no"),
        ("mysqlslap", facts["mysqlslap"] or "not found: no server ceiling will be measured"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return EXIT_OK
