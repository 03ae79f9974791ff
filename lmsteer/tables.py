"""Tables as pure functions of result records (markdown + CSV)."""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .data import SENTIMENT_KINDS
from .io import atomic_write_text

METHOD_ORDER = {"original": 0, "lm_steer": 99}


def method_key(method: str) -> tuple[int, str]:
    """Sort key of a method: the original first, LM-Steer last, the rest by name."""
    return METHOD_ORDER.get(method, 50), method


def fmt(m: dict | None, digits: int = 3) -> str:
    """'mean [low, high]' for a metric entry, '–' when absent."""
    if not m or m.get("mean") is None or not math.isfinite(m["mean"]):
        return "–"
    return f"{m['mean']:.{digits}f} [{m['ci_low']:.{digits}f}, {m['ci_high']:.{digits}f}]"


def toxicity_scorers(rec: dict) -> list[str]:
    return sorted({k.split("/", 1)[1] for k in rec["metrics"] if k.startswith("max_toxicity/")})


def _sort_key(rec: dict) -> tuple:
    return (rec["prompt_set"], rec["backbone"], *method_key(rec["method"]),
            rec.get("strength", 0))


def origin(rec: dict) -> dict[str, str]:
    """Where a record's numbers came from: the commit (short hash) and the machine class (records
    made before 2026-12-04 do not name their machine)."""
    prov = rec.get("provenance", {})
    m = prov.get("machine") or {}
    machine = m.get("cuda") or (f"{m['cpu']}, {m.get('cpu_count', '?')} cores" if m.get("cpu")
                                else "not recorded")
    return {"commit": str(prov.get("git_commit") or "unknown")[:7], "machine": machine}


def strength_choice(rec: dict) -> str:
    """How a record's strength was chosen: ``validation (ppl <= B x)`` (``lmsteer select`` on
    validation prompts), ``none`` (the original LM) or ``fixed`` (the config's value)."""
    choice = (rec.get("config") or {}).get("strength_choice")
    if choice:
        return f"validation (ppl ≤ {choice['ppl_budget']:g}×)"
    return "none" if rec.get("method") == "original" else "fixed"


def choice_note(df: pd.DataFrame) -> str:
    """A sentence on how the rows' strengths were chosen."""
    if "chosen" not in df or not any(str(c).startswith("validation") for c in df["chosen"]):
        return " Every method runs at the config's fixed strength."
    return (" Strength chosen: *validation* rows took the strength of their method's sweep with "
            "the lowest mean toxicity whose perplexity is at most the budget x the original LM's, "
            "on validation prompts the evaluation never draws (results/tables/tradeoff_detox.md);"
            " *fixed* rows run at the config's value.")


def origin_cols(df: pd.DataFrame) -> tuple[str, list[tuple[str, str, str]]]:
    """(a sentence for the intro, extra columns): one sentence when every row shares its commit
    and machine, else a ``commit · machine`` column."""
    if df.empty:
        return "", []
    pairs = set(zip(df["commit"], df["machine"]))
    if len(pairs) == 1:
        commit, machine = pairs.pop()
        return f" Every row: commit {commit}, machine {md_escape(machine)}.", []
    df["origin"] = [f"{c} · {m}" for c, m in zip(df["commit"], df["machine"])]
    return (" Rows come from different commits or machines (last column): compare with care.",
            [("origin", "commit · machine", "")])


def detox_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per record x toxicity scorer: Table 1's columns with 95% CIs over prompts."""
    rows = []
    for rec in sorted(records, key=_sort_key):
        m = rec["metrics"]
        ppl = m.get("perplexity")
        for sc in toxicity_scorers(rec):
            row = {
                "prompt_set": rec["prompt_set"], "model": rec["backbone"], "method": rec["method"],
                "strength": rec.get("strength"), "chosen": strength_choice(rec), "scorer": sc,
                "prompts": rec["n_prompts"], "samples": rec["samples_per_prompt"],
                "seed": rec["seed"], **origin(rec),
            }
            for key, col in (("max_toxicity", "exp_max_toxicity"), ("toxicity_prob", "toxicity_prob"),
                             ("mean_toxicity", "mean_toxicity")):
                e = m.get(f"{key}/{sc}", {})
                row.update({col: e.get("mean"), f"{col}_lo": e.get("ci_low"),
                            f"{col}_hi": e.get("ci_high")})
            row.update({"ppl": ppl["mean"] if ppl else None,
                        "ppl_lo": ppl["ci_low"] if ppl else None,
                        "ppl_hi": ppl["ci_high"] if ppl else None,
                        "ppl_judge": ppl.get("scorer", "") if ppl else ""})
            for n in (1, 2, 3):
                row[f"dist{n}"] = m.get(f"dist-{n}", {}).get("mean")
            rows.append(row)
    return pd.DataFrame(rows)


def _ci_cell(df: pd.DataFrame, i: int, col: str, digits: int = 3, scale: float = 1.0) -> str:
    v = df.at[i, col] if col in df else None
    if v is None or pd.isna(v):
        return "–"
    lo, hi = df.get(f"{col}_lo"), df.get(f"{col}_hi")
    if lo is not None and not pd.isna(lo[i]):
        return f"{v * scale:.{digits}f} [{lo[i] * scale:.{digits}f}, {hi[i] * scale:.{digits}f}]"
    return f"{v * scale:.{digits}f}"


def _plain_cell(df: pd.DataFrame, i: int, col: str) -> str:
    v = df.at[i, col]
    if col.startswith("dist"):
        return "–" if v is None or pd.isna(v) else f"{v:.3f}"
    if col == "prompts":
        return f"{df.at[i, 'prompts']}×{df.at[i, 'samples']}"
    return "–" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def md_escape(text: Any) -> str:
    """A record field as inert Markdown table text: HTML (<, >, &) escaped, pipes and line
    breaks that would split the row neutralised, so a record cannot inject markup."""
    s = html.escape(str(text), quote=False).replace("|", "\\|")
    return " ".join(s.splitlines())


def render_markdown(df: pd.DataFrame, title: str, intro: str,
                    cols: Sequence[tuple[str, str, str]]) -> str:
    """Markdown table; ``cols`` are (column, header, kind) with kind 'ci', 'ci%', 'ppl' or ''."""
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
    for i in df.index:
        cells = []
        for col, _, kind in cols:
            if kind == "ci":
                cells.append(_ci_cell(df, i, col))
            elif kind == "ci%":
                cells.append(_ci_cell(df, i, col, 1, 100.0))
            elif kind == "ppl":
                cells.append(_ci_cell(df, i, col, 2))
            else:
                cells.append(md_escape(_plain_cell(df, i, col)))
        lines.append("| " + " | ".join(cells) + " |")
    return f"# {title}\n\n{intro}\n\n" + "\n".join(lines) + "\n"


def _judges(df: pd.DataFrame) -> str:
    return md_escape(", ".join(sorted({j for j in df.get("ppl_judge", []) if j})) or "none")


_TAIL_COLS = [("ppl", "ppl ↓", "ppl"), ("dist1", "dist-1 ↑", ""), ("dist2", "dist-2 ↑", ""),
              ("dist3", "dist-3 ↑", "")]


def fewer_prompts(items: Sequence[dict]) -> list[bool]:
    """Per record (or holistic point): was it run on fewer prompts than the most in its backbone
    x prompt set (a slow method on a seeded subset)? Figures draw such runs differently."""
    most: dict[tuple[str, str], int] = {}
    for it in items:
        key = (it["prompt_set"], it["backbone"])
        most[key] = max(most.get(key, 0), it["n_prompts"])
    return [it["n_prompts"] < most[(it["prompt_set"], it["backbone"])] for it in items]


def fewer_prompts_note(df: pd.DataFrame) -> str:
    """A sentence naming the rows run on fewer prompts than the most in their model x prompt set
    (slow methods such as PPLM): their numbers come from a seeded subset, compare with care."""
    if df.empty:
        return ""
    most = df.groupby(["prompt_set", "model"])["prompts"].transform("max")
    few = df[df["prompts"] < most].drop_duplicates(["prompt_set", "model", "method"])
    if few.empty:
        return ""
    items = "; ".join(md_escape(f"{r.method} on {r.model}, {r.prompt_set}: {r.prompts}")
                      for r in few.itertuples())
    return (" **Fewer prompts** (a seeded subset of the same sample; compare with care): "
            f"{items}.")


def to_markdown(df: pd.DataFrame, title: str) -> str:
    intro = ("Generated by `lmsteer table` from result records; every row names the model that "
             "produced it. Mean over prompts with bootstrap 95% CI in brackets. Toxicity scorer "
             "per row (numbers of different scorers are never mixed); perplexity judge: "
             f"{_judges(df)}. ↓ lower is better, ↑ higher.{fewer_prompts_note(df)}"
             f"{choice_note(df)}")
    note, extra = origin_cols(df)
    cols = [("prompt_set", "prompts set", ""), ("model", "model", ""), ("method", "method", ""),
            ("strength", "strength", ""), ("chosen", "strength chosen", ""),
            ("scorer", "scorer", ""),
            ("prompts", "prompts×samples", ""),
            ("exp_max_toxicity", "exp. max toxicity ↓", "ci"),
            ("toxicity_prob", "toxicity prob. ↓", "ci"),
            ("mean_toxicity", "mean toxicity ↓", "ci"), *_TAIL_COLS, *extra]
    return render_markdown(df, title, intro + note, cols)


def sentiment_target(strength: float | None) -> str:
    """Target of a sentiment run from the sign of its steer: positive, negative or none."""
    if not strength:
        return "none"
    return "positive" if strength > 0 else "negative"


def sentiment_sort_key(rec: dict) -> tuple:
    """Table 2 order: target negative, none, positive; then backbone, method, |steer|."""
    order = {"negative": 0, "none": 1, "positive": 2}
    return (order[sentiment_target(rec.get("strength"))], rec["backbone"],
            *method_key(rec["method"]), abs(rec.get("strength") or 0))


def sentiment_scorers(rec: dict) -> list[str]:
    return sorted({k.split("/")[1] for k in rec["metrics"]
                   if k.startswith("positivity/") and k.count("/") == 1})


def sentiment_table(records: Sequence[dict]) -> pd.DataFrame:
    """Table 2: one row per record (target x model x method) x sentiment scorer; positivity
    (share of samples labelled positive) per prompt type, ppl and dist-n over the row's prompts."""
    recs = sorted(records, key=sentiment_sort_key)
    rows = []
    for rec in recs:
        m = rec["metrics"]
        ppl = m.get("perplexity") or {}
        for sc in sentiment_scorers(rec):
            row = {"target": sentiment_target(rec.get("strength")), "model": rec["backbone"],
                   "method": rec["method"], "strength": rec.get("strength"), "scorer": sc,
                   "prompts": rec["n_prompts"], "samples": rec["samples_per_prompt"],
                   "seed": rec["seed"], **origin(rec),
                   "sst_accuracy": rec["scorers"].get(sc, {}).get("sst_binary_test_accuracy")}
            for kind in SENTIMENT_KINDS:
                e = m.get(f"positivity/{sc}/sentiment-{kind}", {})
                row.update({f"pos_{kind}": e.get("mean"), f"pos_{kind}_lo": e.get("ci_low"),
                            f"pos_{kind}_hi": e.get("ci_high"),
                            f"n_{kind}": e.get("n")})
            row.update({"ppl": ppl.get("mean"), "ppl_lo": ppl.get("ci_low"),
                        "ppl_hi": ppl.get("ci_high"), "ppl_judge": ppl.get("scorer", "")})
            for n in (1, 2, 3):
                row[f"dist{n}"] = m.get(f"dist-{n}", {}).get("mean")
            rows.append(row)
    return pd.DataFrame(rows)


def sentiment_markdown(df: pd.DataFrame, title: str) -> str:
    accs = sorted({f"{s}: {a:.3f}" for s, a in zip(df["scorer"], df["sst_accuracy"])
                   if a is not None and not pd.isna(a)})
    intro = ("Generated by `lmsteer table` from result records; every row names the model that "
             "produced it. Positivity = % of continuations the sentiment scorer labels positive, "
             "per prompt type (mean over prompts, bootstrap 95% CI in brackets; – where the "
             "paper's design does not run that prompt type). Target: sign of the control strength. "
             f"Scorer accuracy on SST binary test: {md_escape(', '.join(accs)) or 'not measured'}. "
             f"ppl (judge: {_judges(df)}) and dist-n over all the row's prompts.")
    note, extra = origin_cols(df)
    cols = [("target", "target", ""), ("model", "model", ""), ("method", "method", ""),
            ("strength", "strength", ""), ("scorer", "scorer", ""),
            ("prompts", "prompts×samples (all types)", ""),
            ("pos_positive", "% positive: positive prompts", "ci%"),
            ("pos_neutral", "% positive: neutral prompts", "ci%"),
            ("pos_negative", "% positive: negative prompts", "ci%"), *_TAIL_COLS, *extra]
    return render_markdown(df, title, intro + note, cols)


def write_table(df: pd.DataFrame, md_path: Path, csv_path: Path, title: str,
                markdown: str | None = None) -> None:
    atomic_write_text(md_path, markdown if markdown is not None else to_markdown(df, title))
    atomic_write_text(csv_path, df.to_csv(index=False, float_format="%.6g"))
