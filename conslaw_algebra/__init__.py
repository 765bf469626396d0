"""conslaw_algebra: exact conservation laws of neural-network training flows.

>>> import conslaw_algebra as ca
>>> ca.parse("layers 3 -> 3 relu -> 2").count_laws().laws
3
"""
from .api import Model, load, parse
from .bridges.sympy_bridge import from_sympy
from .bridges.torch_import import from_torch
from .errors import (BudgetError, ConslawError, ModelFileError, ModelNameError, ModelSyntaxError,
                     ShapeError, UnsupportedError)
from .views import results as _views   # registers how results read (analyses/results.py)

__all__ = ["Model", "load", "parse", "from_sympy", "from_torch", "ConslawError", "ModelSyntaxError",
           "ModelNameError", "ShapeError", "UnsupportedError", "ModelFileError", "BudgetError"]
__version__ = "0.1.0"
