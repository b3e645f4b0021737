"""Import aiogram without building the schema of every Bot API type up front (3–4 s of a 2-core start).

`import aiogram.types` ends with a loop that calls `model_rebuild()` on each of its ~450 pydantic
models, and `model_rebuild` builds a model's validator at once even though aiogram declares
`defer_build=True` (pydantic only honours that at class creation). That loop was 70 % of the
bot's import time (docs/BENCHMARKS.md "Launch and restart"). The loop is there only to resolve the
forward references the types import under `TYPE_CHECKING`; `import_aiogram` skips it and puts the
same names into each type and method module's globals instead, where pydantic looks them up when a
model is first used. A model is then built when the bot first needs it (`Update` at the first
`getUpdates`, `SendMessage` at the first reply: together about 0.3 s, once), from the same namespace,
so it validates exactly as before (tests/test_fast_start_e2e.py compares the two on real updates).

Called once, before anything imports aiogram (`python main.py run`, the tests' conftest). If aiogram is
already imported it does nothing; if pydantic or aiogram change so that the deferral fails, aiogram is
imported the ordinary way.
"""

from __future__ import annotations

import importlib
import logging
import sys
import typing
from typing import Any

log = logging.getLogger(__name__)

_DEFERRED_PACKAGES = ("aiogram.types.", "aiogram.methods.")
_REBUILD = "model_rebuild"


def import_aiogram() -> bool:
    """Import aiogram with its Bot API models built on first use; True if the deferral was applied."""
    if "aiogram" in sys.modules:
        return False
    from pydantic import BaseModel

    original = BaseModel.__dict__[_REBUILD]

    def deferred_rebuild(cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True,
                         _parent_namespace_depth: int = 2, _types_namespace: Any = None) -> bool | None:
        # Only aiogram.types' own loop passes a whole types namespace; every other call is served as usual.
        if _types_namespace is not None and not force and cls.__module__.startswith("aiogram."):
            return None
        rebuild: Any = original.__func__
        return typing.cast(bool | None, rebuild(cls, force=force, raise_errors=raise_errors,
                                                _parent_namespace_depth=_parent_namespace_depth + 1,
                                                _types_namespace=_types_namespace))

    try:
        setattr(BaseModel, _REBUILD, classmethod(deferred_rebuild))  # for the one import below only
        try:
            types = importlib.import_module("aiogram.types")
        finally:
            setattr(BaseModel, _REBUILD, original)
        _publish_forward_names(types)
        importlib.import_module("aiogram")
    except Exception:  # an aiogram or pydantic this was not written for: the ordinary import
        log.warning("deferred aiogram import failed; importing it the ordinary way", exc_info=True)
        for name in [n for n in sys.modules if n == "aiogram" or n.startswith("aiogram.")]:
            del sys.modules[name]
        importlib.import_module("aiogram")
        return False
    return True


def _publish_forward_names(types: Any) -> None:
    """The names aiogram.types' rebuild loop would have resolved, made visible where pydantic looks first."""
    from aiogram.client.default import Default

    names: dict[str, Any] = {
        "List": list, "Optional": typing.Optional, "Union": typing.Union, "Literal": typing.Literal,
        "Default": Default, **{name: getattr(types, name) for name in types.__all__},
    }
    importlib.import_module("aiogram.methods")  # its modules refer to the types the same way
    for module_name, module in list(sys.modules.items()):
        if module is not None and module_name.startswith(_DEFERRED_PACKAGES):
            namespace = module.__dict__
            for name, value in names.items():
                namespace.setdefault(name, value)
