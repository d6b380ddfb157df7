"""The workbook as the provincial office prints it: LibreOffice to PDF, every character at 9 pt or more."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from siting.pipeline import run
from siting.sample.build import SampleBuild
from tests.test_scenario import county_scenario

SOFFICE = shutil.which("soffice")
needs_libreoffice = pytest.mark.skipif(
    SOFFICE is None and os.environ.get("CI") != "true",
    reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui fonts-crosextra-carlito)",
)


def printed(pdf: Path) -> tuple[list[float], list[str]]:
    """Every character's size and every page's text."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    sizes, pages = [], []
    for page in extract_pages(pdf):
        text = []
        for box in page:
            if isinstance(box, LTTextContainer):
                for line in box:
                    if isinstance(line, LTTextLine):
                        text.append(line.get_text())
                        sizes += [ch.size for ch in line if isinstance(ch, LTChar)]
        pages.append("".join(text))
    return sizes, pages


@needs_libreoffice
def test_libreoffice_prints_the_workbook_at_9_pt_and_one_line_a_village(
    tmp_path: Path, built_sample: SampleBuild
) -> None:
    scenario = county_scenario(tmp_path, built_sample, name="print")
    result = run(scenario)
    assert SOFFICE is not None
    subprocess.run(
        [
            SOFFICE,
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(result.output_dir / "report.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "HOME": str(tmp_path)},  # a profile of its own
    )
    sizes, pages = printed(tmp_path / "report.pdf")
    assert min(sizes) >= 8.95, f"text printed at {min(sizes):.1f} pt"
    # 未覆盖村: every village left out is printed, its code whole, on the same line as its name.
    uncovered = [p for p in pages if "communities beyond the standard" in p]
    text = "".join(uncovered)
    villages = result.communities[~result.communities["covered"]]
    for code in villages["community_code"]:
        assert text.count(code) == 1, code
    assert len(re.findall(r"5323\d{8}", text)) >= len(villages)
    # One block of columns: every page that lists villages carries the last column's words.
    assert all("资金用完 budget" in p for p in uncovered if re.search(r"5323\d{8}", p))
    assert "nan" not in text
