"""Pairwise human evaluation (the paper's "LM-Steer vs. LoRA / GPT-2 / DExperts" table).

``export`` pairs one continuation of system X with one of system Y for the same prompt, shuffles
which one is shown as A, and writes a blinded sheet (CSV, no system names) plus a key file
(JSON) that says which is which. Annotators fill each question with ``A``, ``B`` or ``tie``.
``aggregate`` reads filled sheets and the key and gives, per question, the share of judgements
where X wins, ties, or Y wins.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any, Sequence

from . import paper
from .errors import DataError, LMSteerError
from .io import atomic_write_text, read_jsonl, read_text

QUESTIONS = ["less_toxic", "more_fluent", "more_on_topic"]
SHEET_FIELDS = ["item", "prompt", "continuation_a", "continuation_b", *QUESTIONS]
PAPER_OPPONENTS = {"lora": "lora", "original gpt2": "original", "dexperts": "dexperts"}
ANSWERS = {"a": "A", "b": "B", "tie": "tie", "=": "tie"}


def _system(rows: list[dict], path: Path) -> str:
    names = sorted({f"{r.get('model', '?')}/{r.get('method', '?')}@{r.get('strength', 0):g}"
                    for r in rows})
    if len(names) != 1:
        raise DataError(f"{path}: expected the generations of one system, found {names}")
    return names[0]


def export(gen_x: Path, gen_y: Path, sheet: Path, key: Path, items: int = 50, seed: int = 0,
           force: bool = False) -> dict[str, Any]:
    """Write a blinded A/B sheet of ``items`` prompts and its key; returns the key."""
    for p in (sheet, key):
        if p.exists() and not force:
            raise LMSteerError(f"{p} exists (filled sheets are not overwritten); use --force "
                               "or another path")
    xs, ys = read_jsonl(gen_x), read_jsonl(gen_y)
    sys_x, sys_y = _system(xs, gen_x), _system(ys, gen_y)
    by_x: dict[tuple, list[dict]] = {}
    by_y: dict[tuple, list[dict]] = {}
    for rows, by in ((xs, by_x), (ys, by_y)):
        for r in rows:
            by.setdefault((r["prompt_set"], r["prompt_id"]), []).append(r)
    shared = sorted(set(by_x) & set(by_y))
    if not shared:
        raise DataError(f"{gen_x} and {gen_y} share no prompts")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(shared, min(items, len(shared))))
    buf = io.StringIO()
    w = csv.DictWriter(buf, SHEET_FIELDS, lineterminator="\n")
    w.writeheader()
    entries = {}
    for i, k in enumerate(chosen, 1):
        x, y = rng.choice(by_x[k]), rng.choice(by_y[k])
        x_is_a = rng.random() < 0.5
        a, b = (x, y) if x_is_a else (y, x)
        w.writerow({"item": i, "prompt": x["prompt"], "continuation_a": a["continuation"],
                    "continuation_b": b["continuation"], **{q: "" for q in QUESTIONS}})
        entries[str(i)] = {"A": "x" if x_is_a else "y", "prompt_set": k[0], "prompt_id": k[1],
                           "sample_x": x["sample"], "sample_y": y["sample"]}
    text = buf.getvalue()
    key_obj = {"x": sys_x, "y": sys_y, "seed": seed, "questions": QUESTIONS,
               "sheet_sha256": hashlib.sha256(text.encode()).hexdigest(), "items": entries}
    atomic_write_text(sheet, text)
    atomic_write_text(key, json.dumps(key_obj, indent=2, sort_keys=True) + "\n")
    return key_obj


def read_sheet(path: Path, key: dict[str, Any]) -> list[dict[str, str]]:
    """Rows of a filled sheet, answers normalised to A / B / tie; errors name file, row, column."""
    rows = list(csv.DictReader(io.StringIO(read_text(path))))
    if not rows or set(SHEET_FIELDS) - set(rows[0]):
        raise DataError(f"{path}: not a human-eval sheet (columns {', '.join(SHEET_FIELDS)})")
    seen = set()
    for line, r in enumerate(rows, 2):
        if r["item"] not in key["items"]:
            raise DataError(f"{path}:{line}: item {r['item']!r} is not in the key")
        if r["item"] in seen:
            raise DataError(f"{path}:{line}: item {r['item']} appears twice")
        seen.add(r["item"])
        for q in QUESTIONS:
            ans = ANSWERS.get((r[q] or "").strip().lower())
            if ans is None:
                raise DataError(f"{path}:{line}: column {q} is {r[q]!r}; expected A, B or tie")
            r[q] = ans
    return rows


def aggregate(sheets: Sequence[Path], key_path: Path) -> dict[str, Any]:
    """Per question: % of judgements where x wins / ties / y wins, over all sheets."""
    key = json.loads(read_text(key_path))
    counts = {q: {"x": 0, "tie": 0, "y": 0} for q in QUESTIONS}
    for sheet in sheets:
        for r in read_sheet(Path(sheet), key):
            a_is = key["items"][r["item"]]["A"]
            b_is = "y" if a_is == "x" else "x"
            for q in QUESTIONS:
                counts[q][{"A": a_is, "B": b_is, "tie": "tie"}[r[q]]] += 1
    table = []
    for q in QUESTIONS:
        n = sum(counts[q].values())
        table.append({"question": q.replace("_", " "), "n": n,
                      **{f"{s}_pct": round(100 * counts[q][s] / n, 1) if n else None
                         for s in ("x", "tie", "y")}})
    return {"x": key["x"], "y": key["y"], "sheets": len(sheets), "table": table}


def to_markdown(result: dict[str, Any]) -> str:
    x, y = result["x"], result["y"]
    lines = [f"# Pairwise human evaluation: {x} vs. {y}", "",
             f"{result['sheets']} filled sheet(s); each question answered A, B or tie per item; "
             "A/B order was shuffled per item and unblinded with the key file.", "",
             f"| question | judgements | {x} wins (%) | tie (%) | {y} wins (%) |",
             "|---|---|---|---|---|"]
    for r in result["table"]:
        lines.append(f"| {r['question']} | {r['n']} | {r['x_pct']} | {r['tie_pct']} | "
                     f"{r['y_pct']} |")
    opponent = y.split("/")[-1].split("@")[0]
    published = [r for r in paper.read_csv("human_eval")
                 if PAPER_OPPONENTS.get(r["opponent"]) == opponent]
    if "lm_steer" in x and published:
        lines += ["", f"The paper's numbers for LM-Steer vs. {published[0]['opponent']} (GPT-2 "
                  f"backbones, {paper.SOURCE}):", "",
                  "| question | LM-Steer wins (%) | tie (%) | opponent wins (%) |",
                  "|---|---|---|---|"]
        lines += [f"| {r['question']} | {r['lm_steer_wins_pct']} | {r['tie_pct']} | "
                  f"{r['opponent_wins_pct']} |" for r in published]
    return "\n".join(lines) + "\n"


def to_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["system_x", "system_y", "question", "judgements", "x_wins_pct", "tie_pct",
                "y_wins_pct"])
    for r in result["table"]:
        w.writerow([result["x"], result["y"], r["question"], r["n"], r["x_pct"], r["tie_pct"],
                    r["y_pct"]])
    return buf.getvalue()
