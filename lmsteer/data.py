"""Data sets: fetched from upstream or copied from a mirror folder, always sha256-checked.

Nothing here is committed to the project: ``prepare`` puts each file under
``resources/data/<dataset>/`` and every loader reads from there.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import logging
import random
import re
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import DataError
from .io import atomic_path, read_text as _read_text
from .registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataFile:
    """One file of a data set. ``sha256`` is its recorded checksum; where only the upstream
    repository's git blob id is known (a file too large for the mirror here), ``git_sha1`` is
    checked instead: SHA-1 of ``b"blob <size>\\0" + content``, the hash git itself stores."""

    path: str  # relative to the data set's folder (and to the mirror's data set folder)
    url: str
    sha256: str
    git_sha1: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    mirror_dir: str  # folder name inside the mirror
    files: tuple[DataFile, ...]
    licence: str
    description: str


DATASETS: Registry[Dataset] = Registry("dataset")

_GH = "https://raw.githubusercontent.com"
_DT = f"{_GH}/AI-secure/DecodingTrust/161ae83/data/toxicity/user_prompts"
_LS = f"{_GH}/Glaciohound/LM-Steer/265982f/data/prompts/sentiment_prompts-10k"
_SST = f"{_GH}/maltaweel/fine-grained-sentiment/2ea7354/data/sst"
_TE = f"{_GH}/cardiffnlp/tweeteval/4fbd22c/datasets/offensive"


def _reg(name: str, mirror_dir: str, licence: str, description: str,
         files: list[tuple[str, ...]]) -> None:
    DATASETS.add(name, Dataset(name, mirror_dir, tuple(DataFile(*f) for f in files),
                               licence, description))


_reg("rtp-nontoxic", "rtp", "CC BY-SA 4.0 (RTP: Apache-2.0)",
     "RealToxicityPrompts, 1,200 prompts with toxicity < 0.5 (the paper's setting)",
     [("nontoxic_prompts_1200.jsonl", f"{_DT}/nontoxic.jsonl",
       "feb50408f49585752bb8cbbb10d1a340ec45783358251299ea9a82ab19606823")])
_reg("rtp-nontoxic-10k", "rtp", "Apache-2.0 (RTP); LM-Steer repository: MIT",
     "the paper's 10K nontoxic RealToxicityPrompts prompts (DExperts' sample, as LM-Steer "
     "evaluates); not in the mirror here: download it (git blob id checked)",
     [("nontoxic_prompts-10k.jsonl", f"{_LS.rsplit('/', 1)[0]}/nontoxic_prompts-10k.jsonl", "",
       "e94faf71a56643c9b680da52f8dbfef6d7c33051")])
_reg("rtp-challenging", "rtp", "CC BY-SA 4.0 (RTP: Apache-2.0)",
     "RealToxicityPrompts 'challenging' prompts (1,196)",
     [("toxic_prompts_1196.jsonl", f"{_DT}/toxic.jsonl",
       "a51d4650b14af9c0e795a9cfca2949916855662cee7c8db3dd551d38735d80cb")])
_reg("davidson", "davidson", "MIT", "Davidson et al. 2017 hate/offensive tweets",
     [("labeled_data.csv",
       f"{_GH}/t-davidson/hate-speech-and-offensive-language/cb50f7e/data/labeled_data.csv",
       "fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281")])
_reg("olid", "tweeteval_offensive", "see upstream", "OffensEval 2019 (OLID) via TweetEval",
     [("train_text.txt", f"{_TE}/train_text.txt",
       "78a7a32e38b10af7d8970b008bf17f661c8d0a90dad145fa0fa6a944669650db"),
      ("train_labels.txt", f"{_TE}/train_labels.txt",
       "c0b7d6ebdaa4ebcf6fc557ef1e775d92eda160218a0e3b1dd48eb8234dc892a6")])
_reg("sst5", "sst5", "MIT", "Stanford Sentiment Treebank, 5 classes",
     [(f"sst_{s}.txt", f"{_SST}/sst_{s}.txt", h) for s, h in (
         ("train", "6140f2280e924726825b47135c6906c75b1ed3fc417ca6a5f5c8acd3c109f282"),
         ("dev", "d4b0ff8a7606690d89f6e37c5cf9d77aa41562318a9f9b8aa3358691a51a2af9"),
         ("test", "ae78588874d7653eb416992014ccc9ead5d3540e3f83158186202c9a5bf9461b"))])
_reg("sentiment-prompts", "sentiment_prompts", "MIT", "DExperts OpenWebText sentiment prompts",
     [(f"{s}_prompts.jsonl", f"{_LS}/{s}_prompts.jsonl", h) for s, h in (
         ("positive", "e53c7cdebe1056ea7780687ffbc64a8861cd29a35247cf9b28c31b4309e5cb79"),
         ("neutral", "ebb612696e4e5336c978f8e50f874f80acd8a298e2c1f1b0194a4a889dffb0c8"),
         ("negative", "b82729cf20e3ee339b2b80e62adab365676010044ad29ad722ecb3ceb5a86950"))])

#: the sentiment prompt types (DExperts' positive / neutral / negative prompt files)
SENTIMENT_KINDS = ("positive", "neutral", "negative")

#: prompt sets -> (dataset, file)
PROMPT_SETS = {
    "rtp-nontoxic": ("rtp-nontoxic", "nontoxic_prompts_1200.jsonl"),
    "rtp-challenging": ("rtp-challenging", "toxic_prompts_1196.jsonl"),
    "rtp-nontoxic-10k": ("rtp-nontoxic-10k", "nontoxic_prompts-10k.jsonl"),
    **{f"sentiment-{k}": ("sentiment-prompts", f"{k}_prompts.jsonl")
       for k in SENTIMENT_KINDS},
}

#: Table 2's design: the prompt types each target runs on (the original LM, ``none``: all three)
SENTIMENT_TARGETS = {"positive": ("neutral", "negative"), "negative": ("neutral", "positive"),
                     "none": SENTIMENT_KINDS}

#: SST-5 label (1 very negative .. 5 very positive) -> steer value in [-1, 1], as in the paper
SST_STEER_VALUES = {1: -1.0, 2: -0.5, 3: 0.0, 4: 0.5, 5: 1.0}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The id git gives a file's content (``git hash-object``)."""
    h = hashlib.sha1(b"blob %d\0" % Path(path).stat().st_size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _checksum(path: Path, f: DataFile) -> tuple[str, str, str]:
    """(kind, expected, got) for the checksum recorded for ``f``."""
    if f.sha256:
        return "sha256", f.sha256, sha256_file(path)
    return "git blob sha1", f.git_sha1, git_blob_sha1(path)


def _matches(path: Path, f: DataFile) -> bool:
    """Whether ``path`` holds the recorded version of ``f`` (its checksum, computed once)."""
    _, expected, got = _checksum(path, f)
    return got == expected


def _check(path: Path, f: DataFile, origin: str) -> None:
    kind, expected, got = _checksum(path, f)
    if got != expected:
        raise DataError(f"{origin}: {kind} mismatch (expected {expected[:16]}…, got {got[:16]}…); "
                        f"the file is corrupt or not the recorded version")


def prepare(name: str, out_root: Path, mirror: Path | None = None,
            allow_download: bool = False) -> Path:
    """Put data set ``name`` under ``out_root/name``: copied from ``mirror`` where the mirror has
    the file, else downloaded from upstream if allowed; every file's checksum is checked."""
    ds = DATASETS.get(name)
    out = Path(out_root) / name
    for f in ds.files:
        dest = out / f.path
        if dest.is_file() and _matches(dest, f):
            continue
        src = Path(mirror) / ds.mirror_dir / f.path if mirror is not None else None
        with atomic_path(dest) as tmp:
            if src is not None and src.is_file():
                shutil.copyfile(src, tmp)
                origin = str(src)
            elif src is not None and not allow_download:
                raise DataError(f"{src}: not found in mirror folder {mirror} (and downloads are "
                                f"off: set data.allow_download to fetch it from upstream)")
            elif allow_download:
                log.info("downloading %s", f.url)
                with urllib.request.urlopen(f.url, timeout=60) as r, open(tmp, "wb") as w:
                    shutil.copyfileobj(r, w)
                origin = f.url
            else:
                raise DataError(f"{name}: no mirror folder given and downloads are off "
                                f"(set data.mirror or data.allow_download in the config)")
            _check(tmp, f, origin)
    return out


# ------------------------------------------------------------------------------ loaders
_URL = re.compile(r"\bhttps?\S*|www\.\S+")
_MENTION = re.compile(r"@\w+|\bURL\b")
_RT = re.compile(r"^\W*RT\b:?|\bRT\b:?")
_HASHTAG = re.compile(r"#(\w+)")


def clean_tweet(text: str) -> str:
    """Strip retweet markers, @mentions, URLs, '#' of hashtags and HTML entities from a tweet,
    so the steers learn toxic vs. clean language rather than tweet formatting."""
    text = html.unescape(html.unescape(text))
    text = _HASHTAG.sub(r"\1", text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _RT.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip(" :!\"")
    return text


def read_text(path: Path) -> str:
    """A data file's text (:func:`lmsteer.io.read_text`, hinting at prepare-data)."""
    return _read_text(path, hint="; run prepare-data first")


def load_davidson(folder: Path) -> list[tuple[str, int]]:
    """(text, is_toxic) for every tweet; hate (0) and offensive (1) count as toxic."""
    path = Path(folder) / "labeled_data.csv"
    rows = []
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    i = 1
    try:
        for i, r in enumerate(reader, 2):
            tweet, cls = r.get("tweet"), r.get("class")
            if not isinstance(tweet, str) or cls not in ("0", "1", "2"):
                raise DataError(f"{path}:{i}: expected columns 'tweet' and 'class' (0, 1 or 2)")
            rows.append((clean_tweet(tweet), int(cls in ("0", "1"))))
    except csv.Error as e:
        raise DataError(f"{path}:{i}: not valid CSV ({e})") from e
    return rows


def load_olid(folder: Path) -> list[tuple[str, int]]:
    folder = Path(folder)
    texts = read_text(folder / "train_text.txt").splitlines()
    labels = read_text(folder / "train_labels.txt").splitlines()
    if len(texts) != len(labels):
        raise DataError(f"{folder}: {len(texts)} texts but {len(labels)} labels")
    out = []
    for i, (t, lab) in enumerate(zip(texts, labels), 1):
        if lab.strip() not in ("0", "1"):
            raise DataError(f"{folder / 'train_labels.txt'}:{i}: label {lab!r} is not 0 or 1")
        out.append((clean_tweet(t), int(lab)))
    return out


DETOX_SOURCES = {"davidson": load_davidson, "olid": load_olid}


def _detox_pools(data_root: Path, sources: list[str], seed: int,
                 min_chars: int) -> tuple[list[str], list[str], random.Random]:
    """Toxic and clean texts of ``sources``, each shuffled by one seeded generator."""
    toxic, clean = [], []
    for s in sources:
        if s not in DETOX_SOURCES:
            raise DataError(f"unknown detox source {s!r}; valid: {', '.join(sorted(DETOX_SOURCES))}")
        for text, is_toxic in DETOX_SOURCES[s](Path(data_root) / s):
            if len(text) >= min_chars:
                (toxic if is_toxic else clean).append(text)
    rng = random.Random(seed)
    rng.shuffle(toxic)
    rng.shuffle(clean)
    return toxic, clean, rng


def detox_training_set(data_root: Path, sources: list[str], per_class: int, seed: int,
                       min_chars: int = 8) -> list[tuple[str, float]]:
    """Balanced (text, steer value) pairs: toxic text -1, clean text +1, seeded sample."""
    toxic, clean, rng = _detox_pools(data_root, sources, seed, min_chars)
    n = min(per_class, len(toxic), len(clean))
    pairs = [(t, -1.0) for t in toxic[:n]] + [(t, 1.0) for t in clean[:n]]
    rng.shuffle(pairs)
    return pairs


def detox_heldout(data_root: Path, sources: list[str], per_class: int, seed: int, k: int,
                  min_chars: int = 8) -> list[str]:
    """``k`` toxic texts that :func:`detox_training_set` with the same arguments leaves out."""
    toxic, clean, _ = _detox_pools(data_root, sources, seed, min_chars)
    n = min(per_class, len(toxic), len(clean))
    return toxic[n:n + k]


def load_sst(folder: Path, split: str) -> list[tuple[str, int]]:
    """(sentence, label 1..5) of an SST-5 split file (``__label__K<TAB>sentence`` a line)."""
    path = Path(folder) / f"sst_{split}.txt"
    if not path.is_file():
        raise DataError(f"{path}: not found (run prepare-data --dataset sst5)")
    out = []
    for i, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        lab, _, text = line.partition("\t")
        try:
            k = int(lab.removeprefix("__label__"))
        except ValueError:
            k = 0
        if k not in SST_STEER_VALUES or not text.strip():
            raise DataError(f"{path}:{i}: expected '__label__K<TAB>sentence' with K in 1..5")
        out.append((text.strip(), k))
    return out


def sst_binary(folder: Path, split: str) -> tuple[list[str], list[int]]:
    """SST binary task: sentences labelled 1-2 -> 0 (negative), 4-5 -> 1 (positive); 3 dropped."""
    rows = [(t, int(k > 3)) for t, k in load_sst(folder, split) if k != 3]
    return [t for t, _ in rows], [y for _, y in rows]


def sentiment_training_set(data_root: Path, per_class: int, seed: int,
                           labels: Sequence[int] = (1, 2, 3, 4, 5)) -> list[tuple[str, float]]:
    """Seeded sample of ``per_class`` SST-5 train sentences per label, as (text, steer value)."""
    by_label: dict[int, list[str]] = {k: [] for k in labels}
    for text, k in load_sst(Path(data_root) / "sst5", "train"):
        if k in by_label:
            by_label[k].append(text)
    rng = random.Random(seed)
    pairs = []
    for k in labels:
        rng.shuffle(by_label[k])
        pairs += [(t, SST_STEER_VALUES[k]) for t in by_label[k][:per_class]]
    rng.shuffle(pairs)
    return pairs


def load_prompts(path: Path, n: int | None = None, seed: int = 0) -> list[dict]:
    """Prompts from an RTP/DExperts JSONL file -> [{'id', 'text'}], a seeded sample of ``n``."""
    path = Path(path)
    raw = read_text(path)
    prompts = []
    lines = raw.split("\n")  # not splitlines(): JSON strings may hold U+2028 raw
    if lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(f"{path}:{i}: empty line")
        try:
            obj = json.loads(line)
            text = obj["prompt"]["text"] if isinstance(obj.get("prompt"), dict) else obj["prompt"]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"{path}:{i}: expected a JSON object with prompt.text") from e
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{i}: empty prompt text")
        prompts.append({"id": i - 1, "text": text})
    if not prompts:
        raise DataError(f"{path}: no prompts")
    if n is not None and n < 1:
        raise DataError(f"{path}: asked for {n} prompts; give at least 1")
    if n is not None and n < len(prompts):
        idx = sorted(random.Random(seed).sample(range(len(prompts)), n))
        prompts = [prompts[i] for i in idx]
    return prompts
