"""``lmsteer docs``: the numbers in README.md and docs/*.md, rendered from the committed records.

A block between ``<!-- lmsteer:NAME -->`` and ``<!-- lmsteer:NAME:end -->`` is replaced by what
:data:`BLOCKS` renders for NAME from the results folder; ``--check`` only reports the files
whose blocks differ (the consistency test runs it), so no number in them is typed by hand.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Callable

from .errors import LMSteerError
from .io import atomic_write_text, read_json
from .results import read_records
from .tables import md_escape, method_key, strength_choice, toxicity_scorers

PATTERN = re.compile(r"(<!-- lmsteer:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)"
                     r"(<!-- lmsteer:(?P=name):end -->)", re.S)
DEFAULT_FILES = ("README.md", "docs/*.md", "config/README.md", "results/README.md")


def _detox(results: Path) -> dict[tuple[str, str, str], dict]:
    """(model, prompt set, method) -> the detox record."""
    recs = read_records([results / "runs" / "detox"])
    if not recs:
        raise LMSteerError(f"no detox records under {results / 'runs' / 'detox'}")
    return {(r["backbone"], r["prompt_set"], r["method"]): r for r in recs}


def _scorer(recs: dict) -> str:
    scorers = sorted({s for r in recs.values() for s in toxicity_scorers(r)})
    return "jigsaw-bilstm" if "jigsaw-bilstm" in scorers else scorers[0]


def _mean(rec: dict, key: str) -> float | None:
    m = rec["metrics"].get(key)
    return None if not m else m.get("mean")


def _change(new: float | None, old: float | None) -> str:
    return "–" if new is None or not old else f"{(new - old) / old:+.0%}"


def _ratio(new: float | None, old: float | None) -> str:
    return "–" if new is None or not old else f"{new / old:.2f}×"


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "–" if x is None else format(x, fmt)


def _groups(recs: dict) -> list[tuple[str, str]]:
    return sorted({(m, ps) for m, ps, _ in recs}, key=lambda g: (g[1], g[0]))


def spine_block(results: Path) -> str:
    """Original LM vs. LM-Steer on every LM x prompt set (Table 1's headline)."""
    recs, rows = _detox(results), []
    sc = _scorer(recs)
    rows += ["| LM | prompt set | prompts × samples | LM-Steer strength (chosen) | "
             "exp. max toxicity ↓ | mean toxicity ↓ | perplexity ↓ |", "|---|---|---|---|---|---|---|"]
    for model, ps in _groups(recs):
        o, s = recs.get((model, ps, "original")), recs.get((model, ps, "lm_steer"))
        if not (o and s):
            continue
        mx = [_mean(r, f"max_toxicity/{sc}") for r in (o, s)]
        mt = [_mean(r, f"mean_toxicity/{sc}") for r in (o, s)]
        pp = [_mean(r, "perplexity") for r in (o, s)]
        rows.append(f"| {md_escape(model)} | {md_escape(ps)} | {s['n_prompts']} × "
                    f"{s['samples_per_prompt']} | {s['strength']:g} ({strength_choice(s)}) | "
                    f"{_num(mx[0])} → {_num(mx[1])} | {_num(mt[0])} → {_num(mt[1])} "
                    f"({_change(mt[1], mt[0])}) | {_num(pp[0], '.1f')} → {_num(pp[1], '.1f')} "
                    f"({_ratio(pp[1], pp[0])}) |")
    return (f"Toxicity scorer {sc}; perplexity under the judge LM; original → LM-Steer, the "
            "change in brackets.\n\n" + "\n".join(rows))


def methods_block(results: Path) -> str:
    """Every method's change of mean toxicity and perplexity ratio against the original."""
    recs = _detox(results)
    sc, groups = _scorer(recs), _groups(recs)
    methods = sorted({m for _, _, m in recs} - {"original"}, key=method_key)
    head = [f"{md_escape(m)} · {md_escape(ps)}" for m, ps in groups]
    rows = ["| method | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for meth in methods:
        cells = []
        for model, ps in groups:
            r, o = recs.get((model, ps, meth)), recs.get((model, ps, "original"))
            if not (r and o):
                cells.append("–")
                continue
            few = "†" if r["n_prompts"] < o["n_prompts"] else ""
            val = "ᵛ" if strength_choice(r).startswith("validation") else ""
            cells.append(f"{_change(_mean(r, f'mean_toxicity/{sc}'), _mean(o, f'mean_toxicity/{sc}'))}"
                         f" / {_ratio(_mean(r, 'perplexity'), _mean(o, 'perplexity'))}{few}{val}")
        rows.append(f"| {md_escape(meth)} | " + " | ".join(cells) + " |")
    return (f"Change of mean toxicity ({sc}) / perplexity ratio, each against the original LM "
            "on the same LM and prompt set. ᵛ: strength chosen on validation prompts (ppl "
            "budget); others: the config's fixed strength. †: run on fewer prompts than the "
            "original's row (a seeded subset), so the change compares different prompts.\n\n"
            + "\n".join(rows))


def tradeoff_block(results: Path) -> str:
    """The chosen strengths with their validation numbers (the selection files)."""
    from .selection import tradeoff_markdown

    files = sorted((results / "selection" / "detox").glob("*/*/*.json"))
    if not files:
        return "(no strength selection has run yet)"
    md = tradeoff_markdown([read_json(f) for f in files])
    return md.split("\n", 2)[2].strip()  # without its title


def _sweep_times(results: Path) -> list[dict]:
    """One row per committed sweep record: LM, method, prompt set, grid size and its seconds
    (the record's end time minus its start time: model loading, generation and scoring)."""
    rows = []
    for f in sorted((results / "selection" / "detox" / "sweeps").glob("*/*/*/sweep.json")):
        d = read_json(f)
        p = d["provenance"]
        secs = (datetime.fromisoformat(p["end_time"])
                - datetime.fromisoformat(p["start_time"])).total_seconds()
        rows.append({"model": d["model"], "method": d["method"], "set": d["prompt_set"],
                     "size": f"{len(d['values'])} × {d['validation']['n_prompts']} × "
                             f"{d['samples']}", "seconds": secs,
                     "cpu": p.get("machine", {}).get("cpu", "?")})
    return rows


def sweep_time_block(results: Path) -> str:
    """How long the strength sweeps took (issue 39's time budget), per LM and method."""
    rows = _sweep_times(results)
    if not rows:
        return "(no sweep has run yet)"
    sets = sorted({r["set"] for r in rows}, reverse=True)
    cells: dict[tuple[str, str], dict[str, dict]] = {}
    for r in rows:
        cells.setdefault((r["model"], r["method"]), {})[r["set"]] = r
    out = ["| LM | method | strengths × prompts × samples | " + " | ".join(
        f"{md_escape(s)} (s)" for s in sets) + " |", "|---|---|---|" + "---|" * len(sets)]
    for (model, meth), by_set in sorted(
            cells.items(), key=lambda kv: (kv[0][0], *method_key(kv[0][1]))):
        size = " / ".join(sorted({r["size"] for r in by_set.values()}))
        out.append(f"| {md_escape(model)} | {md_escape(meth)} | {size} | " + " | ".join(
            f"{by_set[s]['seconds']:.0f}" if s in by_set else "–" for s in sets) + " |")
    total, gaps = _sweep_summary(rows)
    cpus = ", ".join(sorted({r["cpu"] for r in rows}))
    gap = (f" Not in the total, since they have no sweep record yet: {', '.join(gaps)}."
           if gaps else "")
    return (f"{len(rows)} sweep jobs, {total:.0f} job-minutes: at best {total / 2:.0f} min of wall "
            f"time with two one-thread jobs at a time on 2 cores ({cpus}). A job's time is its "
            "record's end minus its start (loading the LMs, generating, scoring), so it depends "
            f"on what ran beside it.{gap}\n\n" + "\n".join(out))


def _sweep_summary(rows: list[dict]) -> tuple[float, list[str]]:
    """(job-minutes of ``rows``, the LM · method pairs swept on another LM but not on this
    one), so that both blocks say the same."""
    models = sorted({r["model"] for r in rows})
    methods = sorted({r["method"] for r in rows}, key=method_key)
    have = {(r["model"], r["method"]) for r in rows}
    gaps = [f"{m} · {meth}" for m in models for meth in methods if (m, meth) not in have]
    return sum(r["seconds"] for r in rows) / 60, gaps


def sweep_total_block(results: Path) -> str:
    """One sentence for the README: the sweeps' measured job time."""
    rows = _sweep_times(results)
    if not rows:
        return "The strength sweeps have not run yet."
    total, gaps = _sweep_summary(rows)
    gap = f", without {', '.join(gaps)}, which have not run yet" if gaps else ""
    return (f"The strength sweeps ({len(rows)} jobs{gap}) took {total:.0f} job-minutes, at best "
            f"{total / 2:.0f} min of wall time two at a time (docs/performance.md, \"Strength "
            "sweeps\").")


BLOCKS: dict[str, Callable[[Path], str]] = {
    "spine": spine_block, "methods": methods_block, "tradeoff": tradeoff_block,
    "sweep-time": sweep_time_block, "sweep-total": sweep_total_block}


def render_text(text: str, results: Path, where: str = "") -> str:
    """``text`` with every ``lmsteer:`` block re-rendered; an unknown block name is an error."""
    def sub(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise LMSteerError(f"{where}: unknown block lmsteer:{name}; known: {sorted(BLOCKS)}")
        return m.group(1) + BLOCKS[name](results).rstrip("\n") + "\n" + m.group(4)
    return PATTERN.sub(sub, text)


def doc_files(root: Path, patterns: tuple[str, ...] = DEFAULT_FILES) -> list[Path]:
    return sorted({p for pat in patterns for p in root.glob(pat) if p.is_file()})


def render_files(files: list[Path], results: Path, check: bool = False) -> list[Path]:
    """Re-render the blocks of ``files``; -> the files whose blocks changed (written unless
    ``check``)."""
    changed = []
    for f in files:
        old = f.read_text(encoding="utf-8")
        new = render_text(old, results, str(f))
        if new != old:
            changed.append(f)
            if not check:
                atomic_write_text(f, new)
    return changed
