"""docs/results.md is the reference run's report, generated: it must say what results/reference holds."""

from __future__ import annotations

from pathlib import Path

from bench.present.report import render_results_page

ROOT = Path(__file__).parent.parent
COMMAND = "ctxbench report --results results/reference --markdown docs/results.md"


def test_the_results_page_is_in_sync_with_the_reference_run(tmp_path: Path) -> None:
    fresh = tmp_path / "docs" / "results.md"
    (tmp_path / "results").symlink_to(ROOT / "results")
    render_results_page(tmp_path / "results" / "reference", tmp_path / "results" / "reference", fresh)
    assert fresh.read_text() == (ROOT / "docs" / "results.md").read_text(), f"docs/results.md is stale: run `{COMMAND}`"


def test_every_chart_the_page_links_exists() -> None:
    text = (ROOT / "docs" / "results.md").read_text()
    links = [line.split("](", 1)[1].split(")", 1)[0] for line in text.splitlines() if line.startswith("![")]
    assert links and all((ROOT / "docs" / link).resolve().is_file() for link in links), links


def test_the_readme_answer_is_the_reference_answer() -> None:
    def table(lines: list[str]) -> list[str]:
        return [line for line in lines if line.startswith("|")]

    readme = (ROOT / "README.md").read_text().split("\n")
    start = next(i for i, line in enumerate(readme) if line.startswith("<!-- answer:start"))
    end = readme.index("<!-- answer:end -->")
    page = (ROOT / "docs" / "results.md").read_text().split("\n")
    answer = page.index("## What to use")
    rows = []
    for line in page[answer + 1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    assert table(readme[start:end]) == rows, f"the README's answer is stale: copy it from docs/results.md ({COMMAND})"
