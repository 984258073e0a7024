"""Run every benchmark module in this package: ``python -m tests.bench [name-filter]``.

Each ``bench_*.py`` module exposes ``main() -> None`` and prints its figures as ratios
against a baseline measured in the same process.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def bench_modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        f"{__package__}.{info.name}"
        for info in pkgutil.iter_modules([str(here)])
        if info.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    wanted = argv[0] if argv else ""
    for name in bench_modules():
        if wanted not in name:
            continue
        print(f"== {name}", flush=True)
        # Each module runs with its defaults: the runner's own arguments are not theirs.
        sys.argv = [name]
        importlib.import_module(name).main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
