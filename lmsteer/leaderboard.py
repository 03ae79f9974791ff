"""The leaderboard: a pure function of result records (any number of folders) -> md, csv, html.

One board per task and prompt set (detox) or steering target (sentiment). A row is one run
design (backbone x method x strength x prompts x samples); its seeds are merged into mean ± std
(sample std, shown from two seeds on) with the 95% bootstrap CI over prompts (with several
seeds, the widest of their intervals). Columns are metric x scorer, so numbers from different
scorers (or perplexity judges) never share a column; the best reproduced value per column is
marked. The paper's published numbers sit under the reproduced row whose backbone and method
they match, labelled "paper", and in a "published" table otherwise. No timestamps: the same
records always give the same bytes.
"""
from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import paper
from .board import (LABELS, Board, Entry, cell_text, header, higher_is_better,
                    metric_sort, norm_backbone, row_label, sort_key)
from .errors import DataError
from .results import read_records
from .tables import fewer_prompts, md_escape, strength_choice

def _target(rec: dict) -> str:
    s = float(rec.get("strength") or 0.0)
    return "positive" if s > 0 else "negative" if s < 0 else "none"


def _boards(rec: dict) -> list[str]:
    """Boards a record appears on (the unsteered sentiment run is the baseline of both)."""
    if rec["task"] == "sentiment":
        t = _target(rec)
        return ["sentiment: towards positive", "sentiment: towards negative"] if t == "none" \
            else [f"sentiment: towards {t}"]
    return [f"{rec['task']}: {rec['prompt_set']}"]


def _column(rec: dict, key: str) -> str:
    """Metric key with its scorer; perplexity gets its judge LM."""
    if key == "perplexity":
        return f"perplexity/{rec.get('scorers', {}).get('perplexity', {}).get('name', '?')}"
    return key


def _higher_is_better(board: str, key: str, flag: bool) -> bool:
    return not flag if board.endswith("towards negative") and key.startswith("positivity") else flag


def _merge(board: str, recs: list[dict]) -> Entry:
    first = recs[0]
    metrics: dict[str, dict[str, Any]] = {}
    for key in sorted({k for r in recs for k in r["metrics"]}):
        vals = [r["metrics"][key] for r in recs if key in r["metrics"]]
        means = [v["mean"] for v in vals if v["mean"] is not None]
        lows = [v["ci_low"] for v in vals if v["ci_low"] is not None]
        highs = [v["ci_high"] for v in vals if v["ci_high"] is not None]
        metrics[_column(first, key)] = {
            "mean": statistics.fmean(means) if means else None,
            "std": statistics.stdev(means) if len(means) > 1 else None,
            "ci_low": min(lows) if lows else None, "ci_high": max(highs) if highs else None,
            "n": min(v["n"] for v in vals), "seeds": len(means),
            "higher_is_better": _higher_is_better(board, key, vals[0]["higher_is_better"])}
    return Entry(board, first["backbone"], first["method"], float(first.get("strength") or 0.0),
                 first["n_prompts"], first["samples_per_prompt"], sorted(r["seed"] for r in recs),
                 metrics, sources=sorted(r["_path"] for r in recs), prompt_set=first["prompt_set"],
                 chosen=strength_choice(first))


def entries_from_records(records: Iterable[dict]) -> list[Entry]:
    """Group records by board and run design, merging seeds; a repeated seed is an error."""
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        for board in _boards(rec):
            key = (board, rec["backbone"], rec["method"], float(rec.get("strength") or 0.0),
                   rec["prompt_set"], rec["n_prompts"], rec["samples_per_prompt"])
            same = [r for r in groups.get(key, []) if r["seed"] == rec["seed"]]
            if same:
                raise DataError(f"two records of the same run and seed {rec['seed']}: "
                                f"{same[0]['_path']} and {rec['_path']}")
            groups.setdefault(key, []).append(rec)
    return [_merge(k[0], v) for k, v in groups.items()]


def paper_entries(boards: Iterable[str]) -> list[Entry]:
    """The paper's rows for the boards that exist (its detox rows: nontoxic prompts)."""
    out = []
    for board in sorted(set(boards)):
        task = board.split(":")[0]
        for p in paper.entries(task):
            if task == "detox" and not board.endswith("nontoxic"):
                continue
            if task == "sentiment" and p["target"] not in ("none", board.rsplit(" ", 1)[-1]):
                continue
            metrics = {k: {**v, "higher_is_better": _higher_is_better(board, k,
                                                                       v["higher_is_better"])}
                       for k, v in p["metrics"].items()}
            out.append(Entry(board, p["backbone"], p["method"], None, None, None, [], metrics,
                             variant=p["variant"], is_paper=True, sources=[paper.SOURCE]))
    return out


def full_prompt_rows(rows: Sequence[Entry]) -> list[Entry]:
    """The rows that compete for a column's best: those run on as many prompts as the most of
    their backbone and prompt set on the board (as Table 1's "fewer prompts"). A slow method run
    on a seeded subset (PPLM, MuCoLa) saw other prompts, so its mean is not comparable; it is
    shown, not ranked."""
    few = fewer_prompts([{"backbone": norm_backbone(e.backbone), "prompt_set": e.prompt_set,
                          "n_prompts": e.n_prompts or 0} for e in rows])
    return [e for e, f in zip(rows, few) if not f]


def build_boards(records: Iterable[dict]) -> list[Board]:
    repro = entries_from_records(records)
    names = sorted({e.board for e in repro})
    papers = paper_entries(names)
    boards = []
    for name in names:
        mine = sorted([e for e in repro if e.board == name], key=sort_key)
        theirs = [e for e in papers if e.board == name]
        matched = {id(p) for p in theirs for e in mine
                   if (norm_backbone(p.backbone), p.method) == (norm_backbone(e.backbone), e.method)}
        rows: list[Entry] = []
        for e in mine:
            rows.append(e)
            if e is mine[-1] or sort_key(mine[mine.index(e) + 1])[:3] != sort_key(e)[:3]:
                rows += [p for p in theirs if id(p) in matched and
                         (norm_backbone(p.backbone), p.method) == (norm_backbone(e.backbone), e.method)]
        columns = sorted({k for e in rows for k in e.metrics}, key=metric_sort)
        ranked = full_prompt_rows(mine)
        best = {}
        for c in columns:
            vals = [e.metrics[c] for e in ranked
                    if c in e.metrics and e.metrics[c]["mean"] is not None]
            if len(vals) > 1:
                pick = max if vals[0]["higher_is_better"] else min
                best[c] = pick(v["mean"] for v in vals)
        boards.append(Board(name, columns, rows, [p for p in theirs if id(p) not in matched], best))
    return boards


def strength_legend(boards: list[Board]) -> str:
    """How the strengths were chosen: *(val.)* on validation prompts, else the config's."""
    chosen = sorted({e.chosen for b in boards for e in b.rows if e.chosen.startswith("validation")})
    if not chosen:
        return " Strengths: the config's fixed values."
    return (f" Strengths marked *(val.)* were chosen on validation prompts the evaluation never "
            f"draws ({'; '.join(chosen)} of the original LM's; results/tables/tradeoff_detox.md); "
            "the others are the config's fixed values.")


def render_markdown(boards: list[Board]) -> str:
    out = ["# LM-Steer leaderboard", "",
           "Generated by `lmsteer leaderboard` from the result records; every number: mean "
           "(± std over seeds, from two seeds on) [95% bootstrap CI over prompts]. **Bold**: best "
           "reproduced value in its column (↑ higher is better, ↓ lower) among the rows run on "
           "their backbone's full prompt count; rows on fewer prompts (a seeded subset, e.g. "
           "PPLM's) saw other prompts and are not ranked. Columns name their "
           "scorer or perplexity judge. Rows marked *paper* are the published numbers "
           f"({paper.SOURCE}); they used other backbones, data and scorers."
           + strength_legend(boards), ""]
    for b in boards:
        out += [f"## {md_escape(b.name)}", ""]
        heads = [md_escape(" ".join(p for p in header(c, higher_is_better(b, c)) if p)) for c in b.columns]
        out.append("| " + " | ".join(LABELS + heads) + " |")
        out.append("|" + "---|" * (len(LABELS) + len(heads)))
        for e in b.rows:
            cells = []
            for c in b.columns:
                t = cell_text(e.metrics.get(c), c)
                best = not e.is_paper and c in b.best and e.metrics.get(c, {}).get("mean") == b.best[c]
                cells.append(f"**{t}**" if best and t else t)
            label = [md_escape(x) for x in row_label(e)]
            if e.is_paper:
                label = [f"*{x}*" if x else x for x in label]
            out.append("| " + " | ".join(label + cells) + " |")
        if b.published:
            out += ["", "Published (paper), not matched by a reproduced backbone × method:", ""]
            cols = sorted({k for e in b.published for k in e.metrics}, key=metric_sort)
            out.append("| backbone | method | " + " | ".join(
                md_escape(" ".join(p for p in header(c, higher_is_better(b, c)) if p)) for c in cols) + " |")
            out.append("|---|---|" + "---|" * len(cols))
            for e in b.published:
                out.append(f"| {md_escape(e.backbone)} | {md_escape(row_label(e)[1])} | " + " | ".join(
                    cell_text(e.metrics.get(c), c) for c in cols) + " |")
        out.append("")
    return "\n".join(out)


CSV_FIELDS = ["board", "source", "backbone", "method", "variant", "strength",
              "strength_chosen", "n_prompts",
              "samples", "seeds", "metric", "mean", "std", "ci_low", "ci_high", "n",
              "higher_is_better", "best"]


def render_csv(boards: list[Board]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for b in boards:
        for e in b.rows + b.published:
            for c in sorted(e.metrics, key=metric_sort):
                m = e.metrics[c]
                best = not e.is_paper and b.best.get(c) == m["mean"]
                w.writerow([b.name, "paper" if e.is_paper else "reproduced", e.backbone, e.method,
                            e.variant, "" if e.strength is None else e.strength, e.chosen,
                            e.n_prompts or "", e.samples or "", " ".join(map(str, e.seeds)), c,
                            m["mean"], "" if m.get("std") is None else m["std"],
                            "" if m.get("ci_low") is None else m["ci_low"],
                            "" if m.get("ci_high") is None else m["ci_high"],
                            "" if m.get("n") is None else m["n"], m["higher_is_better"], best])
    return buf.getvalue()


def leaderboard(folders: Iterable[Path], bench: Sequence[Path] | Path | None = None
                ) -> list[Board]:
    """Boards from every record under ``folders`` (validated; invalid ones raise by path), and
    the efficiency board with ``bench`` (bench_generation / bench_methods JSON files) for the
    time ratios."""
    from .efficiency import efficiency_board

    recs = read_records(list(folders))
    if not recs:
        raise DataError("no result records (record.json) under the given folders")
    eff = efficiency_board(recs, bench)
    return build_boards(recs) + ([eff] if eff else [])
