"""One module per ``kalshi-insights`` subcommand.

Each module exposes ``register(subparsers) -> None``: it adds its parser with
``subparsers.add_parser(NAME, help=...)`` and sets ``handler`` to a function
``(args: argparse.Namespace) -> int`` (the exit code) with ``parser.set_defaults(handler=...)``.
Keep heavy imports inside the handler, so ``kalshi-insights --help`` stays fast and one
command's dependencies never break another. List the module in ``devstack.cli.COMMANDS``.
"""
