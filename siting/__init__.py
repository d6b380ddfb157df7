"""siting: plan Yunnan's network of children's homes (儿童之家).

Community boundaries and child-population rasters in; where homes should go,
which area each one serves and whether coverage targets are met out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
logging.getLogger(__name__).addHandler(logging.NullHandler())
__all__ = ["__version__", "load_scenario", "run"]

if TYPE_CHECKING:  # pragma: no cover
    from siting.pipeline import run
    from siting.scenario import load_scenario


def __getattr__(name: str) -> Any:
    """``siting.run`` and ``siting.load_scenario`` without importing the heavy stack at ``import siting``."""
    if name == "run":
        from siting.pipeline import run

        return run
    if name == "load_scenario":
        from siting.scenario import load_scenario

        return load_scenario
    raise AttributeError(f"module 'siting' has no attribute {name!r}")
