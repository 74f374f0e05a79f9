"""trajotel.instrument: everything that runs inside agents (trajectory API, instrumentors, distro).

The package is also callable: ``trajotel.instrument()`` is ``trajotel.instrument.setup.instrument``
(the name is both this package and the one-call setup users expect, so the module's class gets a
``__call__``).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, **kwargs: Any) -> list[str]:
        from trajotel.instrument.setup import instrument

        return instrument(**kwargs)


sys.modules[__name__].__class__ = _CallableModule
