"""The paper's comparison methods: every module of this package is imported on load, and each
registers its :class:`lmsteer.methods.Method` classes with ``@register_method``.

The package is found through the ``lmsteer.methods`` entry point (pyproject.toml), so the core
imports no plugin by name, and a new method is one new file here (docs/adding-a-method.md).
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
