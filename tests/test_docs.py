"""The README is the front door: every relative link in it and in docs/ resolves, and every reference page in
docs/ is linked from it."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "cluster" / "README.md",
         ROOT / "benchmarks" / "README.md"]


def links(page: Path) -> list[str]:
    return [m.group(1).split("#")[0] for m in re.finditer(r"\]\(([^)\s]+)\)", page.read_text())
            if not m.group(1).startswith(("http://", "https://", "#"))]


def test_every_relative_link_resolves():
    broken = [f"{p.relative_to(ROOT)}: {t}" for p in PAGES for t in links(p) if not (p.parent / t).exists()]
    assert not broken, broken


def test_every_reference_page_is_linked_from_the_readme():
    linked = {(ROOT / t).resolve() for t in links(ROOT / "README.md")}
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert pages and not [p.name for p in pages if p.resolve() not in linked]


def test_the_metrics_reference_table_is_the_registrys(capsys):
    """docs/metrics.md's table of every metric is what `mgen metrics table` prints from the registry."""
    from mgen.cli import main
    from mgen.metrics.registry import METRICS

    assert main(["metrics", "table"]) == 0
    printed = capsys.readouterr().out
    text = (ROOT / "docs" / "metrics.md").read_text()
    begin, end = "<!-- registry table: begin -->\n", "<!-- registry table: end -->"
    assert begin in text and end in text, "docs/metrics.md lost its registry table's markers"
    assert text[text.index(begin) + len(begin):text.index(end)] == printed, "regenerate it with `mgen metrics table`"
    assert printed.count("\n") == 2 + len(METRICS)  # a header, its rule and a row a metric
