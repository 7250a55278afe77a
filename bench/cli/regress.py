"""``ctxbench regress`` (placeholder until the gate's command module lands)."""

import argparse

from bench.cli.args import Parser
from bench.gate import regress as gate


def add_parser(sub: argparse._SubParsersAction) -> None:
    gate.add_parser(sub, Parser)
