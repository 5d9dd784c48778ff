"""Tables that fit a terminal of 80 or 120 columns: every identifier whole (wrapped only at a
separator or between path steps) and distinct, the columns that matter shown first, and
`--wide` for everything.

The layout is the CLI's, not the backend's, so these run on one SQLite file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from lineage_cli import output
from lineage_cli.main import cli

from .conftest import EXAMPLE

Run = Callable[..., Result]
WIDTHS = [80, 120]
#: characters an identifier may be wrapped after (output._SEPARATORS)
SEPARATORS = "./@:"


@pytest.fixture
def tour(tmp_path: Path) -> Run:
    """`lineage --store <a tour store> ARGS` with COLUMNS set: the example pipeline, a
    proposed change, and AI-inferred predictions tagged on fraud.scores."""
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'tour.db'}"

    def invoke(*args: Any, width: int = 80) -> Result:
        result = runner.invoke(cli, ["--store", url, *(str(a) for a in args)],
                               env={"COLUMNS": str(width)}, catch_exceptions=False)
        assert result.exit_code in (0, 3), result.output
        return result

    invoke("register", EXAMPLE)
    invoke("impact", "transactions.category", "--change", "type:string", "--notify")
    predictions = tmp_path / "predictions.csv"
    with predictions.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["transaction_id", "predicted_fraud", "confidence"])
        writer.writerows([f"tx-{i:05d}", i % 2 == 0, 0.9] for i in range(20))
    invoke("tag", predictions, "--dataset", "fraud.scores", "--field", "predicted_fraud",
           "--key", "transaction_id", "--origin", "ai_inferred", "--agent", "fraud@2",
           "--confidence-column", "confidence")
    return invoke


def column_text(out: str, column: str, table: int = 0) -> str:
    """The text of `column` in the `table`-th table of `out`, its lines joined back: with
    nothing after a line that ends at a separator, else with a space."""
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("┏")]
    i = starts[table] + 1
    headers: list[str] = []
    while lines[i].startswith("┃"):
        parts = [p.strip() for p in lines[i].strip("┃").split("┃")]
        headers = parts if not headers else [f"{h} {p}".strip() for h, p in zip(headers, parts,
                                                                                 strict=True)]
        i += 1
    index = headers.index(column)
    text = ""
    for line in lines[i + 1:]:
        if not line.startswith("│"):
            break
        piece = line.strip("│").split("│")[index].strip()
        if piece:
            text += piece if not text or text[-1] in SEPARATORS else f" {piece}"
    return text


def assert_fits(out: str, width: int) -> None:
    """No table line is wider than the terminal (sentences are the terminal's to wrap)."""
    assert "…" not in out, "nothing is ellipsised"
    too_long = [line for line in out.splitlines() if len(line) > width and line[0] in "┏┃┡│└"]
    assert not too_long, too_long


@pytest.mark.parametrize("width", WIDTHS)
def test_audit_shows_when_who_did_what_to_which_at_any_width(tour: Run, width: int) -> None:
    out = tour("audit", width=width).stdout
    assert_fits(out, width)
    principals = column_text(out, "principal").split()
    assert principals and all(p.startswith("local:") and len(p) > len("local:")
                              for p in principals)
    actions = column_text(out, "action")
    for action in ("register", "notify.propose", "tag"):
        assert action in actions.split()
    targets = column_text(out, "target").split()
    assert "fraud.scores.predicted_fraud" in targets
    assert "field:postgres://db.prod:5432/public.transactions.category" in targets
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", column_text(out, "at (UTC)"))


def test_audit_names_the_columns_it_leaves_out_and_wide_shows_them(tour: Run) -> None:
    narrow = tour("audit", width=80).stdout
    assert "(detail not shown at this width; --wide shows every column)" in narrow
    wide = tour("--wide", "audit", width=80).stdout
    assert "detail" in wide and "not shown" not in wide
    assert '{"changes": ["type:string"]}' in wide  # on one line
    rows = [line for line in wide.splitlines() if line.startswith("│")]
    # one line per entry (register, the proposed change, the tag): nothing wraps
    assert len(rows) == 3 and all("local:" in row for row in rows)


@pytest.mark.parametrize("width", WIDTHS)
def test_provenance_shows_records_and_agents(tour: Run, width: int) -> None:
    out = tour("provenance", "fraud.scores", width=width).stdout
    assert_fits(out, width)
    assert column_text(out, "field") == "field:s3://ml-warehouse/fraud.scores.predicted_fraud"
    assert column_text(out, "records") == "20"
    assert column_text(out, "origin") == "ai_inferred 100%"
    assert column_text(out, "agents") == "model_version:fraud@2 (20)"


@pytest.mark.parametrize("width", WIDTHS)
def test_show_keeps_version_names_whole_and_distinct(tour: Run, width: int) -> None:
    out = tour("show", "transactions", width=width).stdout
    assert_fits(out, width)
    versions = column_text(out, "from", table=1).split()
    assert versions == ["public.transactions@2026-01", "public.transactions@2026-02",
                        "public.transactions@2026-03"]
    fields = column_text(out, "to", table=2).split()
    assert "public.transactions.transaction_id" in fields
    assert "is read by" in column_text(out, "edge", table=2)


@pytest.mark.parametrize("width", WIDTHS)
def test_impact_paths_wrap_between_steps_and_names_stay_whole(tour: Run, width: int) -> None:
    out = tour("impact", "transactions.category", width=width).stdout
    assert_fits(out, width)
    fields = column_text(out, "name").split()
    assert {"features.user_features.category_share", "fraud.scores.predicted_fraud",
            "fraud.scores.score"} <= set(fields)
    paths = column_text(out, "path")
    assert ("public.transactions.category -feeds-> features.user_features.category_share"
            in paths)
    # a continued line starts with the next step's arrow (or the name after an arrow, or
    # the note on the dataset a consumer reads), never in the middle of a name
    continued = [line.split("│")[3].strip() for line in out.splitlines()
                 if line.startswith("│") and not line.split("│")[1].strip()
                 and line.split("│")[3].strip()]
    assert continued and all(c.startswith("-") or c.endswith(")") or
                             c in {"features.user_features.category_share"}
                             for c in continued), continued
    consumers = column_text(out, "path", table=4)
    assert "-is consumed by-> fraud-dashboard" in consumers


@pytest.mark.parametrize("width", WIDTHS)
def test_consumers_and_upstream_keep_names_whole(tour: Run, width: int) -> None:
    out = tour("consumers", "transactions.category", width=width).stdout
    assert_fits(out, width)
    assert set(column_text(out, "consumer").split()) == {
        "alerting-service", "fraud-dashboard", "risk-rules-engine"}
    up = tour("upstream", "fraud@3", width=width).stdout
    assert_fits(up, width)
    keys = column_text(up, "key").split()
    assert "dataset_version:s3://ml-warehouse/features.user_features@2026-03" in keys
    assert "field:postgres://db.prod:5432/public.transactions.category" in keys


@pytest.mark.parametrize("width", WIDTHS)
def test_notify_list_shows_who_and_the_state(tour: Run, width: int) -> None:
    out = tour("notify", "list", width=width).stdout
    assert_fits(out, width)
    assert set(column_text(out, "consumer").split()) == {
        "alerting-service", "fraud-dashboard", "risk-rules-engine"}
    assert set(column_text(out, "state").split()) == {"pending"}


def test_wide_may_follow_the_command(tour: Run) -> None:
    assert "not shown" not in tour("audit", "--wide").stdout


# ------------------------------------------------------------------ the layout itself


def render(renderable: Any, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, markup=False, highlight=False).print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_identifiers_sharing_a_long_prefix_are_never_cut_to_the_same_text(width: int) -> None:
    names = [f"dataset_version:postgres://db.prod:5432/public.transactions@2026-0{i}"
             for i in (1, 2, 3)]
    out = render(output.table(None, ["kind", "key", "why"],
                              [("dataset_version", n, "a long explanation " * 4)
                               for n in names], wrap=["why"]), width)
    assert_fits(out, width)
    assert column_text(out, "key").split() == names


def test_a_table_that_fits_is_printed_whole_on_one_line_per_row() -> None:
    out = render(output.table(None, ["name", "path"],
                              [("b", "a -feeds-> b"), ("c", "a -feeds-> b -is used by-> c")]),
                 80)
    assert "│ c    │ a -feeds-> b -is used by-> c │" in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_sentences_wrap_between_words_on_a_terminal_and_stay_whole_in_a_pipe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sentence = ("4 of them reached only through dataset-level lineage, column unknown "
                "(marked *): field:postgres://db.prod:5432/public.transactions.category")
    monkeypatch.setenv("COLUMNS", "60")
    terminal = _Terminal()
    output._console(terminal).print(sentence, soft_wrap=True)
    lines = terminal.getvalue().splitlines()
    assert len(lines) > 1 and all(len(line) <= 60 for line in lines)
    assert [w for line in lines for w in line.split()] == sentence.split()  # no word cut
    pipe = io.StringIO()
    output._console(pipe).print(sentence, soft_wrap=True)
    assert pipe.getvalue() == sentence + "\n"

