"""The scorer registry and the offline toxicity scorers."""
from __future__ import annotations

import io
import pickle

import pytest

from lmsteer.errors import RegistryError, ScorerUnavailableError
from lmsteer.scoring import SCORERS, get_scorer
from lmsteer.scoring.toxicity import KerasStyleTokenizer, _OnlyTokenizerUnpickler


def test_unknown_scorer_lists_valid_names():
    with pytest.raises(RegistryError) as e:
        get_scorer("perspective")
    for name in ("jigsaw-bilstm", "profanity-check", "detoxify"):
        assert name in str(e.value)
    assert set(SCORERS.names()) >= {"jigsaw-bilstm", "profanity-check", "detoxify"}


@pytest.fixture(scope="module")
def bilstm(tmp_path_factory):
    return get_scorer("jigsaw-bilstm", cache=tmp_path_factory.mktemp("scorers"))


def test_bilstm_separates_toxic_from_clean(bilstm):
    s = bilstm.score(["you are a stupid fucking idiot", "what a lovely sunny day in the park"],
                     progress=False)
    assert s[0] > 0.8 and s[1] < 0.1
    # measured on this machine with the same weights (../shared/data/README.md): 0.068
    assert bilstm.score([""], progress=False)[0] == pytest.approx(0.0675, abs=2e-3)


def test_bilstm_tokenizer_cache_is_json(bilstm, tmp_path_factory):
    files = list(tmp_path_factory.getbasetemp().rglob("jigsaw_bilstm_tokenizer.json"))
    assert files and files[0].read_text().startswith("{")


def test_keras_tokenizer_semantics():
    tok = KerasStyleTokenizer({"word_index": {"you": 1, "are": 2, "rare": 5}, "num_words": 5,
                               "lower": True, "split": " ", "oov_token": None,
                               "filters": "!,.?"}, maxlen=4)
    assert tok.encode("You, ARE! rare you are you") == [2, 1, 2, 1]  # 'rare' >= num_words, pre-truncated
    batch = tok.batch(["you"])
    assert batch.tolist() == [[0, 0, 0, 1]]  # pre-padding


def test_tokenizer_unpickler_refuses_other_classes():
    payload = pickle.dumps(print)  # builtins.print is not admitted
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _OnlyTokenizerUnpickler(io.BytesIO(payload)).load()


def test_profanity_check_scores():
    s = get_scorer("profanity-check").score(["fuck you", "have a nice day"], progress=False)
    assert s[0] > 0.5 > s[1]


def test_detoxify_missing_checkpoint_says_so(tmp_path):
    with pytest.raises(ScorerUnavailableError, match="Detoxify checkpoint files are missing"):
        get_scorer("detoxify", checkpoint=tmp_path / "none.ckpt", hf_config=tmp_path)


def _fake_detoxify(tmp_path):
    """A tiny random BERT saved in Detoxify's checkpoint format, plus its config folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "you", "are", "kind", "an", "idiot"]
    hf = tmp_path / "bert"
    hf.mkdir()
    (hf / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(hf / "vocab.txt")).save_pretrained(hf)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=32, num_labels=6)
    cfg.save_pretrained(hf)
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    classes = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
    ckpt = {"config": {"arch": {"args": {"model_type": "bert-base-uncased", "num_classes": 6,
                                         "model_name": "BertForSequenceClassification",
                                         "tokenizer_name": "BertTokenizer"}},
                       "dataset": {"args": {"classes": classes}}},
            "state_dict": model.state_dict()}
    torch.save(ckpt, tmp_path / "toxic_original.ckpt")
    return tmp_path / "toxic_original.ckpt", hf, model


def test_detoxify_runs_from_a_local_checkpoint(tmp_path):
    import torch
    from transformers import BertTokenizer

    ckpt, hf, ref_model = _fake_detoxify(tmp_path)
    scorer = get_scorer("detoxify", checkpoint=ckpt, hf_config=hf)
    texts = ["you are kind", "you are an idiot"]
    got = scorer.score(texts, progress=False)
    enc = BertTokenizer.from_pretrained(hf)(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        want = torch.sigmoid(ref_model.eval()(**enc).logits)[:, 0].numpy()
    assert got == pytest.approx(want, abs=1e-6)
    assert scorer.describe()["version"] == "detoxify:toxic_original.ckpt"
    bad = torch.load(ckpt, weights_only=True)
    bad["state_dict"].pop("classifier.weight")
    torch.save(bad, tmp_path / "bad.ckpt")
    with pytest.raises(ScorerUnavailableError, match="do not fit"):
        get_scorer("detoxify", checkpoint=tmp_path / "bad.ckpt", hf_config=hf)
