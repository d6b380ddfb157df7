"""siting: plan Yunnan's network of children's homes (儿童之家).

Community boundaries and child-population rasters in; where homes should go,
which area each one serves and whether coverage targets are met out.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
