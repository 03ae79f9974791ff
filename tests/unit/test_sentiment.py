"""Sentiment control: SST label mapping, the positivity metric, the sentiment scorers, Table 2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmsteer.data import SST_STEER_VALUES, load_sst, sentiment_training_set, sst_binary
from lmsteer.errors import DataError, ScorerUnavailableError
from lmsteer.evaluate import evaluate
from lmsteer.metrics import metric, share_at_least_per_prompt
from lmsteer.plots import plt, sentiment_figure, sentiment_plot
from lmsteer.results import now, provenance
from lmsteer.scoring import get_scorer
from lmsteer.tables import sentiment_markdown, sentiment_table, sentiment_target

ROOT = Path(__file__).resolve().parents[2]
SST_CANDIDATES = [ROOT / "resources/data/sst5", ROOT.parent / "shared/data/sst5"]
SST_DIR = next((p for p in SST_CANDIDATES if (p / "sst_test.txt").is_file()), None)


def _write_sst(folder: Path, rows: dict[str, list[tuple[int, str]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        (folder / f"sst_{split}.txt").write_text(
            "".join(f"__label__{k}\t{t}\n" for k, t in items), encoding="utf-8")
    return folder


def test_sst_labels_map_to_values_in_minus_one_one(tmp_path):
    assert SST_STEER_VALUES == {1: -1.0, 2: -0.5, 3: 0.0, 4: 0.5, 5: 1.0}
    items = [(k, f"sentence {k} {i}") for k in range(1, 6) for i in range(4)]
    _write_sst(tmp_path / "sst5", {"train": items})
    pairs = sentiment_training_set(tmp_path, per_class=2, seed=0)
    assert len(pairs) == 10
    for text, value in pairs:
        assert value == SST_STEER_VALUES[int(text.split()[1])]
    assert sorted(v for _, v in pairs) == [-1, -1, -0.5, -0.5, 0, 0, 0.5, 0.5, 1, 1]
    assert pairs == sentiment_training_set(tmp_path, per_class=2, seed=0)  # seeded
    assert pairs != sentiment_training_set(tmp_path, per_class=2, seed=1)


def test_sst_binary_drops_neutral_and_bad_lines_fail(tmp_path):
    d = _write_sst(tmp_path, {"test": [(1, "awful"), (3, "meh"), (4, "good"), (5, "great")]})
    assert sst_binary(d, "test") == (["awful", "good", "great"], [0, 1, 1])
    (d / "sst_dev.txt").write_text("__label__7\tbad label\n")
    with pytest.raises(DataError, match="sst_dev.txt:1"):
        load_sst(d, "dev")


def test_positivity_metric_by_hand():
    share = share_at_least_per_prompt([[0.9, 0.1, 0.6, 0.2], [0.5, 0.4]])
    assert share.tolist() == [0.5, 0.5]
    rows = [{"prompt_set": ps, "prompt_id": pid, "sample": s, "prompt": "p",
             "continuation": "a b c"}
            for ps, pid, n in (("sentiment-neutral", 0, 2), ("sentiment-negative", 0, 2))
            for s in range(n)]

    class Fixed:
        attribute, name = "positive", "fixed"

        def score(self, texts):
            return np.array([1.0, 1.0, 0.0, 1.0])

        def describe(self):
            return {"name": "fixed"}

    import lmsteer.evaluate as ev

    orig = ev.get_scorer
    ev.get_scorer = lambda name, **kw: Fixed()
    try:
        metrics, score_rows, _ = evaluate(rows, ["fixed"], None)
    finally:
        ev.get_scorer = orig
    # prompt id 0 exists in both sets: they must stay two prompts, not one
    assert metrics["positivity/fixed"]["n"] == 2
    assert metrics["positivity/fixed"]["mean"] == pytest.approx(0.75)
    assert metrics["positivity/fixed/sentiment-neutral"]["mean"] == pytest.approx(1.0)
    assert metrics["positivity/fixed/sentiment-negative"]["mean"] == pytest.approx(0.5)
    assert {r["prompt_set"] for r in score_rows} == {"sentiment-neutral", "sentiment-negative"}


@pytest.mark.skipif(SST_DIR is None, reason="SST-5 not prepared and no ../shared/data mirror")
def test_sst_tfidf_reaches_080_on_sst_binary_test():
    scorer = get_scorer("sst-tfidf", sst_dir=str(SST_DIR))
    desc = scorer.describe()
    acc = desc["sst_binary_test_accuracy"]
    assert acc >= 0.80, acc
    texts, labels = sst_binary(SST_DIR, "test")
    assert len(texts) == 1821  # 2,210 test sentences less the 389 neutral ones
    s = scorer.score(["a wonderful , moving film", "a dull , tedious mess"], progress=False)
    assert s[0] > 0.5 > s[1]


@pytest.mark.skipif(SST_DIR is None, reason="SST-5 not prepared and no ../shared/data mirror")
def test_vader_is_the_weaker_fallback():
    acc = get_scorer("vader", sst_dir=str(SST_DIR)).describe()["sst_binary_test_accuracy"]
    assert 0.55 < acc < 0.80, acc


def test_sentiment_scorers_missing_inputs_explain(tmp_path):
    with pytest.raises(ScorerUnavailableError, match="prepare-data --dataset sst5"):
        get_scorer("sst-tfidf", sst_dir=str(tmp_path))
    with pytest.raises(ScorerUnavailableError, match="local model folder"):
        get_scorer("hf-sentiment", path=str(tmp_path / "nope"))


def test_hf_sentiment_on_a_local_sequence_classifier(tmp_path):
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from lmsteer.models import tiny_tokenizer

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=64,
                     num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                     label2id={"NEGATIVE": 0, "POSITIVE": 1}, pad_token_id=0)
    GPT2ForSequenceClassification(cfg).save_pretrained(tmp_path / "clf")
    tok.save_pretrained(tmp_path / "clf")
    sst = _write_sst(tmp_path / "sst", {"test": [(1, "i hate this"), (5, "i love this movie")]})
    scorer = get_scorer("hf-sentiment", path=str(tmp_path / "clf"), sst_dir=str(sst))
    s = scorer.score(["i love this", "it is terrible", ""], progress=False)
    assert s.shape == (3,) and np.all((s >= 0) & (s <= 1))
    assert scorer.describe()["sst_binary_test_accuracy"] in (0.0, 0.5, 1.0)
    assert "POSITIVE" in scorer.version


def _record(method: str, strength: float, kinds: dict[str, float]) -> dict:
    m = {f"positivity/s/sentiment-{k}": metric([v, v], True, scorer="s") for k, v in kinds.items()}
    m["positivity/s"] = metric(list(kinds.values()), True, scorer="s")
    m["perplexity"] = metric([10.0, 30.0], False, scorer="judge")
    m["dist-1"] = metric([0.5, 0.7], True)
    return {"schema_version": 1, "task": "sentiment", "method": method, "backbone": "tiny-gpt2",
            "seed": 0, "prompt_set": "+".join(kinds), "n_prompts": 2 * len(kinds),
            "samples_per_prompt": 3, "strength": strength, "metrics": m,
            "model": {"name": "tiny-gpt2"},
            "scorers": {"s": {"sst_binary_test_accuracy": 0.81}}, "config": {},
            "provenance": provenance(now())}


def test_sentiment_table_shape_follows_the_paper():
    recs = [_record("lm_steer", 5.0, {"neutral": 0.9, "negative": 0.6}),
            _record("original", 0.0, {"positive": 0.8, "neutral": 0.5, "negative": 0.1}),
            _record("lm_steer", -5.0, {"neutral": 0.1, "positive": 0.3})]
    df = sentiment_table(recs)
    assert df["target"].tolist() == ["negative", "none", "positive"]
    assert df.loc[0, "pos_neutral"] == pytest.approx(0.1) and np.isnan(df.loc[0, "pos_negative"])
    assert df.loc[2, "pos_negative"] == pytest.approx(0.6) and np.isnan(df.loc[2, "pos_positive"])
    md = sentiment_markdown(df, "Table 2")
    assert "| positive | tiny-gpt2 | lm_steer | 5.0 | s | 4×3 | – | 90.0 [90.0, 90.0] |" in md
    assert "s: 0.810" in md
    assert [sentiment_target(s) for s in (3, -1, 0)] == ["positive", "negative", "none"]
    assert sentiment_table(recs).equals(sentiment_table(list(reversed(recs))))


def test_sentiment_figure_puts_each_run_in_its_targets_panel(tmp_path):
    recs = [_record("lm_steer", 5.0, {"neutral": 0.9, "negative": 0.6}),
            _record("original", 0.0, {"positive": 0.8, "neutral": 0.5, "negative": 0.1}),
            _record("lm_steer", -5.0, {"neutral": 0.1, "positive": 0.3}),
            _record("pplm", 1.0, {"neutral": 0.7, "negative": 0.4})]
    recs[-1]["n_prompts"] = 2  # one prompt per type where the others have two
    fig = sentiment_plot(recs)
    (neg, pos), = [fig.axes[i:i + 2] for i in range(0, len(fig.axes), 2)]
    labels = [[t.get_text() for t in ax.get_yticklabels()] for ax in (neg, pos)]
    assert labels == [["original (+0)", "lm_steer (-5)"],
                      ["original (+0)", "pplm (+1)\n1 prompt/type", "lm_steer (+5)"]]
    assert "towards negative" in neg.get_title() and "towards positive" in pos.get_title()
    # points (and CI caps) of the positive panel: its runs on neutral / negative prompts only
    xs = {round(float(line.get_xdata()[0]), 3) for line in pos.lines
          if len(line.get_xdata()) == 1}
    assert xs == {50.0, 10.0, 70.0, 40.0, 90.0, 60.0}
    sentiment_figure(recs, tmp_path / "t2.png")
    assert (tmp_path / "t2.png").stat().st_size > 5000
    plt.close(fig)
