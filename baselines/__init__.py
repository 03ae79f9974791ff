"""The paper's comparison methods, registered into ``lmsteer.methods.METHODS`` on import.

Each is a :class:`lmsteer.methods.Method`: train from attribute data or not, and control the
frozen LM's next-token logits (or, for prompting, the text it is conditioned on) at a strength,
so generation, scoring and tables treat every method alike.
"""
from . import blacklist, finetuned, gedi, lora, mucola, pplm, prompting  # noqa: F401  (register)
