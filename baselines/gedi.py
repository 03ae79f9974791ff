"""GeDi: a class-conditional LM as a generative discriminator (Krause et al., 2021).

Training: a copy of the LM (top blocks tuned) learns ``p(x | c)`` for two control codes, text
prefixes for the wanted and the unwanted class, with GeDi's hybrid loss
``gen_weight * L_gen + (1 - gen_weight) * L_disc``, where ``L_disc`` is the cross-entropy of
the Bayes posterior ``p(c | x)`` from the two length-normalised sequence log-likelihoods.

Decoding, as GeDi's: for every candidate next token ``v`` the class-conditional LM gives
``log p(c | x_<t, v)`` by Bayes' rule over the two codes, each code's log-likelihood of prompt,
continuation and ``v`` divided by its length (uniform prior, ``class_bias`` added to the wanted
code's); the base LM's log-probs get ``|strength| * log p(c | x_<t, v)`` added, ``c`` the wanted
code for a positive strength and the unwanted one for a negative strength (GeDi's weighted
posterior, ``disc_weight``); then GeDi's filtering heuristic (``filter_p``, ``target_p``, 0.8 and
0.8 as GeDi's defaults). The conditional LM reads code + prompt + continuation with its own KV
cache per code, so a step costs three forwards.
"""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from lmsteer.errors import LMSteerError
from lmsteer.generate import last_position, left_positions
from lmsteer.methods import register_method
from lmsteer.models import model_device
from lmsteer.steer import apply_final_logit_transform

from .finetune import (finetune, load_tensors, next_token_nll, save_tensors,
                       top_block_parameters, tuned_copy)
from .finetuned import FineTunedMethod, FineTuneParams
from .logits import patched_forward

CODES = ("positive:", "negative:")  # wanted, unwanted


@dataclass
class GeDiParams(FineTuneParams):
    codes: tuple = CODES  # the control codes' text prefixes: wanted, unwanted
    gen_weight: float = 0.6  # generative share of GeDi's hybrid loss
    filter_p: float = 0.8  # 0 turns GeDi's filtering heuristic off
    target_p: float = 0.8
    class_bias: float = 0.0


def _seq_logprob(cclm: nn.Module, tok: Any, code: str, texts: list[str], max_length: int
                 ) -> torch.Tensor:
    """Mean token log-probability of each text after the code prefix: (B,)."""
    side = tok.padding_side
    tok.padding_side = "right"
    try:
        enc = tok([f"{code} {t}" for t in texts], return_tensors="pt", padding=True,
                  truncation=True, max_length=max_length).to(model_device(cclm))
    finally:
        tok.padding_side = side
    n_code = len(tok(code, add_special_tokens=False)["input_ids"])
    keep = enc["attention_mask"][:, 1:] > 0  # (B, T-1)
    keep[:, :n_code] = False  # score the text, not the code
    nll = next_token_nll(cclm, enc["input_ids"], enc["attention_mask"], keep)  # (N,)
    rows = keep.nonzero()[:, 0]  # (N,) the text of each kept position
    total = torch.zeros(keep.shape[0], device=nll.device).index_add(0, rows, -nll)
    return total / keep.sum(1).clamp(min=1)


@register_method("gedi")
class GeDi(FineTunedMethod):
    """Params: ``codes`` (two text prefixes), ``gen_weight`` (0.6), ``filter_p`` and ``target_p``
    (0.8; ``filter_p: 0`` turns the filter off), ``class_bias`` (0), plus ``top_blocks``,
    ``steps``, ``lr``, ``batch_size``, ``max_length``; strength is the posterior weight."""
    per_sample_strength = True  # the posterior weight per row
    Params = GeDiParams
    contract_params = {"top_blocks": 1, "steps": 25, "lr": 1e-2, "batch_size": 8,
                       "max_length": 16}

    def codes(self) -> tuple[str, str]:
        return tuple(self.p.codes)  # type: ignore[return-value]

    def artifact_state(self):
        return {"codes": list(self.codes())}

    def fit(self, model, tok, data, out_dir, seed):
        out, codes = Path(out_dir), self.codes()
        pairs = [(t, 0 if v > 0 else 1) for t, v in data if v != 0]
        cclm = copy.deepcopy(model)
        params = top_block_parameters(cclm, self.opt("top_blocks"))
        w = self.p.gen_weight

        def loss(batch: list) -> torch.Tensor:
            texts = [t for t, _ in batch]
            lps = torch.stack([_seq_logprob(cclm, tok, c, texts, self.opt("max_length"))
                               for c in codes], dim=1)  # (B, 2)
            y = torch.tensor([c for _, c in batch], device=lps.device)
            gen = -lps.gather(1, y[:, None]).mean()
            disc = nn.functional.cross_entropy(lps, y)
            return w * gen + (1 - w) * disc

        losses = finetune(cclm, tok, pairs, params, steps=self.opt("steps"), lr=self.opt("lr"),
                          batch_size=self.opt("batch_size"), max_length=self.opt("max_length"),
                          seed=seed, desc="gedi class-conditional LM", loss_fn=loss)
        save_tensors(out / "cclm.safetensors", params)
        self._n_params = sum(p.numel() for p in params.values())
        return {"examples": len(pairs), "losses": losses}

    def load(self, model, tok, artifact_dir):
        if artifact_dir is None:
            raise LMSteerError("gedi needs the folder its fit wrote")
        tensors = load_tensors(Path(artifact_dir) / "cclm.safetensors", model)
        self.cclm = tuned_copy(model, tensors)
        dev = model_device(model)
        self.code_ids = [torch.tensor(tok(c, add_special_tokens=False)["input_ids"], device=dev)
                         for c in self.codes()]
        self._n_params = sum(t.numel() for t in tensors.values())

    def _cc_step(self, st: dict, c: int, ids, mask, pos) -> None:
        """Advance the conditional LM under code ``c`` by ``ids``; store next-token log-probs.

        On a new prompt batch (code, then the left-padded prompt) it also adds the prompt
        tokens' log-likelihoods under the code to ``st["sum"][c]``; the first real prompt
        token is predicted from the code's last position, since pads sit in between."""
        b, p = ids.shape[0], len(self.code_ids[c])
        mask = torch.cat([torch.ones(b, p, dtype=mask.dtype, device=mask.device), mask], 1)
        first = st["cache"][c] is None
        if first:
            ids = torch.cat([self.code_ids[c].expand(b, p), ids], 1)
            pos = torch.cat([torch.arange(p, device=pos.device).expand(b, p), pos + p], 1)
        else:
            pos = pos + p
        # On the prompt only the last hidden state is kept, (B, T, H), and projected one
        # position at a time: full prompt logits would be (B, T, V), GBs for a 262k vocabulary.
        o = self.cclm(input_ids=ids, attention_mask=mask, position_ids=pos,
                      cache=st["cache"][c], use_cache=True, logits_to_keep=last_position(ids),
                      **({"output_hidden_states": -1} if first else {}))
        st["cache"][c] = o.cache
        st["lp"][c] = torch.log_softmax(o.logits[:, -1].float(), -1)  # (B, V)
        if first:
            hid, head = o.hidden_states[-1], self.cclm.get_output_embeddings()  # post final norm
            rows, total = torch.arange(b, device=ids.device), torch.zeros(b, device=ids.device)
            for j in range(p, ids.shape[1]):  # one position at a time: (B, V) each
                prev = torch.where(mask[:, j - 1] > 0, j - 1, p - 1)  # (B,)
                logits = apply_final_logit_transform(self.cclm, head(hid[rows, prev]))
                lp = torch.log_softmax(logits.float(), -1)
                total = total + lp.gather(1, ids[:, j:j + 1]).squeeze(1) * mask[:, j]
            st["sum"][c] = total

    def _weighted(self, base: torch.Tensor, st: dict, w: torch.Tensor) -> torch.Tensor:
        """GeDi's weighted posterior and filtering heuristic on one step's logits.

        base (B, V) and w (B,) -> (B, V) log-probs ``log p_LM(v) + |w| log p(c | x, v)``, ``c``
        the wanted code for w > 0 and the unwanted one for w < 0. ``log p(c | x, v)``: Bayes'
        rule over the two codes on their log-likelihoods of the sequence with ``v``, each
        divided by its length (prompt included), as GeDi does. Then the tokens least favoured
        by the posterior that make up the first ``filter_p`` of the weighted probability are
        dropped unless their posterior reaches ``target_p``. Rows with w = 0 keep ``base``."""
        n = st["n"][:, None] + 1  # (B, 1): scored tokens with the candidate
        ll = torch.stack([(st["sum"][c][:, None] + st["lp"][c]) / n for c in (0, 1)])  # (2,B,V)
        ll[0] = ll[0] + self.p.class_bias
        post = torch.log_softmax(ll, dim=0)  # (2, B, V)
        want = torch.where((w >= 0)[:, None], post[0], post[1])  # (B, V)
        out = torch.log_softmax(base.float(), -1) + w.abs()[:, None] * want
        fp, tp = self.p.filter_p, self.p.target_p
        if fp > 0:
            order = want.argsort(dim=-1)  # least favoured first
            cum = torch.softmax(out, -1).gather(1, order).cumsum(-1)
            drop = (cum < fp) & (want.gather(1, order) < math.log(tp))
            out = out.scatter(1, order, out.gather(1, order).masked_fill(drop, float("-inf")))
        return torch.where((w == 0)[:, None], base.float(), out)

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength) -> Iterator[None]:
        omega = torch.as_tensor(strength, dtype=torch.float32,
                                device=model_device(model))
        st: dict[str, Any] = {}

        def make(original: Callable) -> Callable:
            def forward(*args: Any, **kw: Any):
                out = original(*args, **kw)
                ids = kw["input_ids"]
                mask = kw.get("attention_mask", torch.ones_like(ids))
                pos = kw.get("position_ids")
                if kw.get("cache") is None:  # a new prompt batch
                    st.update(cache=[None, None], lp=[None, None], sum=[None, None],
                              n=mask.float().sum(1))  # (B,) real prompt tokens
                    if pos is None:
                        pos = left_positions(mask)
                else:  # the token chosen last step joins each code's log-likelihood
                    for c in (0, 1):
                        st["sum"][c] = st["sum"][c] + st["lp"][c].gather(1, ids[:, :1]).squeeze(1)
                    st["n"] = st["n"] + 1
                for c in (0, 1):
                    self._cc_step(st, c, ids, mask, pos)
                w = omega.expand(ids.shape[0]) if omega.ndim == 0 else omega  # (B,)
                logits = out.logits.clone()
                logits[:, -1] = self._weighted(logits[:, -1], st, w).to(logits.dtype)
                out.logits = logits
                return out
            return forward

        with patched_forward(model, make):
            yield
