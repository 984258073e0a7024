"""``python -m emulators.kalshi_sim``: the same as ``kalshi-insights sim``."""

from emulators.kalshi_sim.cli import build_parser, run

raise SystemExit(run(build_parser().parse_args()))
