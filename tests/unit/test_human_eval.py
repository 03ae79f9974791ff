"""Blinded pairwise sheets: export hides the systems, aggregate unblinds filled sheets exactly."""
from __future__ import annotations

import csv
import io
import json

import pytest

from lmsteer import human_eval as he
from lmsteer.cli import main
from lmsteer.errors import DataError, LMSteerError
from lmsteer.io import write_jsonl


def _gens(path, method, strength, prompts=6, samples=3):
    rows = [{"prompt_set": "p", "prompt_id": i, "prompt": f"prompt {i}", "sample": s,
             "continuation": f"{method} says {i}.{s}", "method": method, "model": "tiny",
             "strength": strength} for i in range(prompts) for s in range(samples)]
    write_jsonl(path, rows)
    return path


@pytest.fixture
def exported(tmp_path):
    x = _gens(tmp_path / "x.jsonl", "lm_steer", 2.0)
    y = _gens(tmp_path / "y.jsonl", "original", 0.0)
    sheet, key = tmp_path / "sheet.csv", tmp_path / "key.json"
    assert main(["human-eval", "export", "--x", str(x), "--y", str(y), "--sheet", str(sheet),
                 "--key", str(key), "--items", "5", "--seed", "3"]) == 0
    return sheet, key


def _fill(sheet, key, out, answer):
    """Fill every question with answer(row, which letter shows system x)."""
    k = json.loads(key.read_text())
    rows = list(csv.DictReader(io.StringIO(sheet.read_text())))
    for r in rows:
        x_letter = "A" if k["items"][r["item"]]["A"] == "x" else "B"
        for q in he.QUESTIONS:
            r[q] = answer(q, x_letter)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, he.SHEET_FIELDS)
        w.writeheader()
        w.writerows(rows)
    return out


def test_sheet_is_blinded_and_balanced(exported):
    sheet, key = exported
    text = sheet.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5 and all(r[q] == "" for r in rows for q in he.QUESTIONS)
    assert list(rows[0]) == he.SHEET_FIELDS
    k = json.loads(key.read_text())
    assert k["x"] == "tiny/lm_steer@2" and k["y"] == "tiny/original@0"
    assert "tiny/" not in text  # no system names on the sheet
    # each row pairs x's and y's continuation of the same prompt, in the order the key says
    for r in rows:
        entry = k["items"][r["item"]]
        x_col = "continuation_a" if entry["A"] == "x" else "continuation_b"
        y_col = "continuation_b" if x_col == "continuation_a" else "continuation_a"
        assert r[x_col].startswith("lm_steer says") and r[y_col].startswith("original says")
        assert r["prompt"] == f"prompt {entry['prompt_id']}"
    assert {e["A"] for e in k["items"].values()} == {"x", "y"}  # both orders occur


def test_aggregate_unblinds_synthetic_annotators(exported, tmp_path):
    sheet, key = exported
    # annotator 1 always prefers x; annotator 2 says tie on toxicity and prefers y otherwise
    s1 = _fill(sheet, key, tmp_path / "s1.csv", lambda q, xl: xl)
    s2 = _fill(sheet, key, tmp_path / "s2.csv",
               lambda q, xl: "tie" if q == "less_toxic" else ("B" if xl == "A" else "A"))
    res = he.aggregate([s1, s2], key)
    t = {r["question"]: r for r in res["table"]}
    assert t["less toxic"] == {"question": "less toxic", "n": 10, "x_pct": 50.0,
                               "tie_pct": 50.0, "y_pct": 0.0}
    assert t["more fluent"]["x_pct"] == 50.0 and t["more fluent"]["y_pct"] == 50.0
    out_md, out_csv = tmp_path / "he.md", tmp_path / "he.csv"
    assert main(["human-eval", "aggregate", "--sheets", str(s1), str(s2), "--key", str(key),
                 "--out-md", str(out_md), "--out-csv", str(out_csv)]) == 0
    md = out_md.read_text()
    assert "| less toxic | 10 | 50.0 | 50.0 | 0.0 |" in md
    assert "paper's numbers for LM-Steer vs. original gpt2" in md and "| less toxic | 24.5 |" in md
    assert out_csv.read_text().splitlines()[1].startswith("tiny/lm_steer@2,tiny/original@0,")


def test_bad_answers_are_named_by_file_line_and_column(exported, tmp_path):
    sheet, key = exported
    bad = _fill(sheet, key, tmp_path / "bad.csv", lambda q, xl: "maybe" if q == "more_fluent"
                else xl)
    with pytest.raises(DataError, match=r"bad.csv:2: column more_fluent is 'maybe'"):
        he.aggregate([bad], key)
    empty = sheet  # unfilled
    with pytest.raises(DataError, match="expected A, B or tie"):
        he.aggregate([empty], key)


def test_export_never_overwrites_a_sheet(exported, tmp_path):
    sheet, key = exported
    sheet.write_text("filled by a colleague")
    x = _gens(tmp_path / "x2.jsonl", "lm_steer", 2.0)
    with pytest.raises(LMSteerError, match="exists"):
        he.export(x, x, sheet, tmp_path / "k2.json")
    assert sheet.read_text() == "filled by a colleague"
