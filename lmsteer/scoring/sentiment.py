"""Offline sentiment scorers (P(positive)): TF-IDF + logistic regression fitted on SST, a local
Hugging Face sequence-classification model, and VADER as a fallback.

Every scorer reports its accuracy on the SST binary test split (positive vs. negative sentences,
neutral left out) in ``describe()``, so each result record says how good its judge was.
"""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import sst_binary
from ..errors import ScorerUnavailableError
from ..metrics import POSITIVE_THRESHOLD
from .base import SCORERS, Scorer

log = logging.getLogger(__name__)

DEFAULT_SST_DIR = "resources/data/sst5"


class SentimentScorer(Scorer):
    """P(positive) per text; ``accuracy`` is measured once on the SST binary test split."""

    attribute = "positive"

    def __init__(self, sst_dir: str = DEFAULT_SST_DIR) -> None:
        self.sst_dir = Path(sst_dir)

    @cached_property
    def sst_test_accuracy(self) -> float | None:
        """Share of SST binary test sentences labelled correctly (None when SST is absent)."""
        if not (self.sst_dir / "sst_test.txt").is_file():
            log.warning("%s: SST test split not found; accuracy not measured", self.sst_dir)
            return None
        texts, labels = sst_binary(self.sst_dir, "test")
        pred = self.score(texts, progress=False) >= POSITIVE_THRESHOLD
        return float(np.mean(pred == np.asarray(labels, dtype=bool)))

    def describe(self) -> dict[str, Any]:
        acc = self.sst_test_accuracy
        return {**super().describe(), "sst_binary_test_accuracy": acc,
                "threshold": POSITIVE_THRESHOLD}


@SCORERS.register("sst-tfidf")
class TfidfSentimentScorer(SentimentScorer):
    """TF-IDF (unigrams, sublinear tf) + logistic regression fitted on the SST-5 train split's
    binary sentences, with C picked on the dev split. Fits in a few seconds; deterministic."""

    name = "sst-tfidf"
    batch_size = 1024

    def __init__(self, sst_dir: str = DEFAULT_SST_DIR, cs: Sequence[float] = (1.0, 3.0, 10.0)
                 ) -> None:
        super().__init__(sst_dir)
        from sklearn import __version__ as skv
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if not (self.sst_dir / "sst_train.txt").is_file():
            raise ScorerUnavailableError(
                f"sst-tfidf is fitted on SST-5, not found in {self.sst_dir}; run "
                f"`python -m lmsteer prepare-data --dataset sst5 --mirror ../shared/data` "
                f"(or pass sst_dir in scorer_options)")
        xtr, ytr = sst_binary(self.sst_dir, "train")
        xdev, ydev = sst_binary(self.sst_dir, "dev")
        self.vectorizer = TfidfVectorizer(sublinear_tf=True)
        a_tr = self.vectorizer.fit_transform(xtr)
        a_dev = self.vectorizer.transform(xdev)
        best = None
        for c in cs:
            clf = LogisticRegression(C=c, max_iter=2000).fit(a_tr, ytr)
            acc = float((clf.predict(a_dev) == np.asarray(ydev)).mean())
            if best is None or acc > best[0]:
                best = (acc, c, clf)
        self.dev_accuracy, self.c, self.clf = best
        self.version = f"scikit-learn=={skv}, C={self.c}, fitted on SST-5 train (binary)"
        log.info("sst-tfidf: C=%s picked on dev (accuracy %.3f)", self.c, self.dev_accuracy)

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.clf.predict_proba(self.vectorizer.transform(list(texts)))[:, 1]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sst_binary_dev_accuracy": self.dev_accuracy}


@SCORERS.register("hf-sentiment")
class HFSentimentScorer(SentimentScorer):
    """A local Hugging Face sequence-classification model (e.g. the SST-2 DistilBERT the paper
    used through the default sentiment pipeline): P(label whose name contains 'pos')."""

    name = "hf-sentiment"
    batch_size = 64

    def __init__(self, path: str = "", sst_dir: str = DEFAULT_SST_DIR,
                 positive_label: str | None = None, max_length: int = 128) -> None:
        super().__init__(sst_dir)
        if not path or not Path(path).is_dir():
            raise ScorerUnavailableError(
                f"hf-sentiment needs a local model folder (scorer_options: hf-sentiment: "
                f"{{path: ...}}); {path or 'none'} is not a folder")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True).eval()
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
            self.model.config.pad_token_id = self.tok.pad_token_id
        labels = {int(i): str(n) for i, n in self.model.config.id2label.items()}
        want = (positive_label or "pos").lower()
        hits = [i for i, n in labels.items() if want in n.lower()]
        if len(hits) != 1:
            raise ScorerUnavailableError(
                f"{path}: cannot tell which label is positive among {sorted(labels.values())}; "
                f"set scorer_options hf-sentiment: {{positive_label: NAME}}")
        self.index, self.max_length = hits[0], max_length
        self.version = f"{path} (label {labels[self.index]})"

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tok(list(texts), return_tensors="pt", padding=True, truncation=True,
                       max_length=self.max_length)
        with self.torch.no_grad():
            logits = self.model(**enc).logits.float()  # (B, num_labels)
        return logits.softmax(-1)[:, self.index].numpy()


@SCORERS.register("vader")
class VaderScorer(SentimentScorer):
    """VADER lexicon (``vaderSentiment``); compound score mapped to [0, 1]. A fallback only:
    about 0.66 accuracy on SST binary."""

    name = "vader"

    def __init__(self, sst_dir: str = DEFAULT_SST_DIR) -> None:
        super().__init__(sst_dir)
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as e:
            raise ScorerUnavailableError("vader needs `pip install vaderSentiment==3.3.2`") from e
        self.analyzer = SentimentIntensityAnalyzer()
        self.version = "vaderSentiment==3.3.2"

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([(self.analyzer.polarity_scores(t)["compound"] + 1) / 2 for t in texts])
