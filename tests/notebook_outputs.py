"""Check executed notebooks (``make notebooks`` runs a copy with its outputs kept): their charts show, they stay small.

    python -m tests.notebook_outputs .notebooks-run

Exit 1, with one line per problem, when a notebook has fewer images than its charts or is larger
than its limit (an inline map that carries every village polygon makes notebook 01 ~12 MB).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: Notebook → (the images its charts draw at least, its largest size in MB).
EXPECTED = {
    "01_quickstart.ipynb": (0, 2.0),  # a table and the light map, no chart
    "02_scenarios.ipynb": (1, 5.0),
    "03_targets.ipynb": (2, 5.0),
}


def images(path: Path) -> int:
    """Outputs that hold a PNG image."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum("image/png" in output.get("data", {}) for cell in cells for output in cell.get("outputs", []))


def problems(folder: Path) -> list[str]:
    out = []
    for name, (least, largest_mb) in EXPECTED.items():
        path = folder / name
        if not path.exists():
            out.append(f"{path} is missing")
            continue
        found, size_mb = images(path), path.stat().st_size / 1e6
        if found < least:
            out.append(f"{name}: {found} images after running, its charts draw {least}")
        if size_mb > largest_mb:
            out.append(f"{name}: {size_mb:.1f} MB after running, more than {largest_mb:g} MB")
    return out


if __name__ == "__main__":
    found = problems(Path(sys.argv[1] if len(sys.argv) > 1 else ".notebooks-run"))
    for line in found:
        print(line)
    sys.exit(1 if found else 0)
