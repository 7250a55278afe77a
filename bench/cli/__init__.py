"""The command line: one module per command, the shared flags in :mod:`~bench.cli.args`.

Each command module has ``add_parser(sub)`` (its flags) and ``run(args)`` (turn the flags into a plan,
hand it to :mod:`bench.exec`, print what came back); :mod:`~bench.cli.main` dispatches and turns
errors into one line and an exit status.
"""
