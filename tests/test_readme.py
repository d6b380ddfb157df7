"""The README's code runs as written (on the sample's files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_stages_example_runs(built_sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "access_from_points" in b)
    paths = built_sample.paths
    code = block.replace('"villages.gpkg"', repr(str(paths.communities_gpkg))).replace(
        '"children_0_17.tif"', repr(str(paths.children_tif))
    )
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    plan = namespace["plan"]
    assert plan.n_new == 440 and plan.status == "optimal"  # type: ignore[attr-defined]
    assert "530102001001" in plan.existing_ids  # type: ignore[attr-defined]
