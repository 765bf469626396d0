"""conslaw_algebra: exact conservation laws of neural-network training flows.

BLAS threads: the exact products of ``exact/modp.py`` run on floating-point BLAS. On
a machine that is already busy (load average above the number of cores less one),
OpenBLAS threads wait for each other and a rank of D = 1,760 took 14 s with two
threads against 3 s with one, so when numpy is not loaded yet and the user has not
chosen (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS), one thread is used then; on an idle
machine BLAS keeps all cores.

>>> import conslaw_algebra as ca
>>> ca.parse("layers 3 -> 3 relu -> 2").count_laws().laws
3
"""
import os as _os
import sys as _sys


def _blas_threads() -> None:
    if "numpy" in _sys.modules or any(v in _os.environ for v in
                                      ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
        return
    try:
        busy = _os.getloadavg()[0] > (_os.cpu_count() or 1) - 1
    except (OSError, AttributeError):
        return
    if busy:
        _os.environ["OPENBLAS_NUM_THREADS"] = "1"


_blas_threads()

from .api import Model, load, parse  # noqa: E402
from .bridges.sympy_bridge import from_sympy  # noqa: E402
from .bridges.torch_import import from_torch  # noqa: E402
from .errors import (BudgetError, ConslawError, ModelFileError, ModelNameError,  # noqa: E402
                     ModelSyntaxError, ShapeError, UnsupportedError)
from .views import results as _views  # noqa: E402  registers how results read

__all__ = ["Model", "load", "parse", "from_sympy", "from_torch", "ConslawError", "ModelSyntaxError",
           "ModelNameError", "ShapeError", "UnsupportedError", "ModelFileError", "BudgetError"]
__version__ = "0.1.0"
