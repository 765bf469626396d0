"""Resource guards: refuse a computation that would not fit, and stop one that runs too long.

Before an expensive step the size of what it will build is estimated from the
compiled Program alone (a pass over its nodes, no expansion), so a request that
would exceed the memory budget is refused at once, with the estimate and a way
around it. The estimates are upper-bound style counts times a per-item cost:
- the feature expansion (``expansion.estimate_size``): the terms of every node value
  it computes and keeps, each a dict slot, a coefficient and the tuple of its
  variables (so a term of degree d costs d more words: a power's exponent counts),
  then the carriers' terms grouped into features, whose number is bounded by the
  data monomials the carriers can hold; a power's terms are bounded by the
  monomials of its degree, min(t^k, C(t + k - 1, k));
- the generator fields: at most min(d, n) terms per feature term of degree d, as
  sparse terms and as FLINT polynomials (one packed exponent vector per term);
- the degree-k law system: C(n + k, k) unknown monomials in the n state variables,
  and (terms of all fields) x C(n + k - 1, k - 1) equation entries held as Python
  dictionaries of rationals (at degree 2, where the one-entry rows are skipped
  without being listed, (terms of all fields) x (their degree + 2)), plus the
  expansion and the fields it keeps;
- the Lie count: dense D x D frames modulo p (the frame and its echelon forms) and the
  sampled generator batches (every node's value for up to 1,024 samples, on jets);
  a count whose fields' degree times D reaches p is refused too (no error bound);
- a simulation: every data-dependent node's float value per data point.
Each estimate adds a fixed allowance for what the step imports and allocates whatever
its size. The constants are calibrated on measured peaks (BENCHMARKS.md, "Memory
guards": estimate / measured between 1.0 and 1.5 on the examples and the benchmark
ladders above 64 MB). Where it stops winning: dictionary tables grow in doublings, so a
count-based estimate cannot be closer than that factor in general; and estimates are
made per step, each with what the earlier steps keep.
The budget is, in order: the ``memory_budget`` argument, the environment variable
``CONSLAW_MEMORY_BUDGET`` (set by ``--memory-budget``), or half the machine's memory.
Independent jobs (``run_tasks``: the models of a sweep, the expanded blocks of
``laws --by-block``) run on local processes side by side only while their estimates
together fit the budget, or on a Dask cluster (each worker bounds its own memory).
The time limit (``time_limit``) is a POSIX interval timer whose signal raises
``TimeLimitError`` in the main thread: Python code stops at once, a single long
call inside a C library (one large exact rank) at its end.

>>> parse_size("1.5G"), parse_size("512M"), parse_size("1000")
(1610612736, 536870912, 1000)
>>> human(3 * 2**30), human(2**60)
('3.0 GiB', '1.0e+06 TiB')
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from math import comb

from ..errors import BudgetError, ConslawError
from ..language.program import Program
from ..language.expand import SizeEstimate, estimate_size, estimate_terms

ENVIRONMENT = "CONSLAW_MEMORY_BUDGET"
REPEAT_SECONDS = 0.1          # the time limit is raised again this often until it lands
BYTES_PER_TERM = 145          # a stored sparse term: dict slot, tuple header, coefficient
BYTES_PER_OCCURRENCE = 8      # one variable in a term's tuple (a term of degree d holds d)
BYTES_PER_FEATURE_TERM = 145  # a carrier term again, grouped into features
BYTES_PER_FEATURE = 430       # a feature: its group, label, term tuple and record
EXPANSION_FIXED = 2 * 2**20   # the expansion's tables and names, whatever its size
BYTES_PER_FIELD_TERM = 240    # a term of a generator field (sparse)
BYTES_PER_FLINT_TERM = 250    # a term of an fmpq_mpoly field besides its exponent vector
BYTES_PER_POLYNOMIAL_TERM = 250   # a feature's term as an fmpq_mpoly, besides the same
BYTES_PER_ENTRY = 425         # one entry {column: fmpq} of a law-system row, calibrated
BYTES_PER_SCREENED_ENTRY = 150  # a degree-2 entry found by the screening, calibrated
BYTES_PER_UNKNOWN = 300       # a monomial tuple, its column index and its zero mark, calibrated
BYTES_PER_SAMPLE_ENTRY = 12   # a float64 value of a data-dependent node or a parameter's
                              # per-sample gradient, per data point, calibrated
BYTES_PER_FRAME_ENTRY = 31    # the count's D x D frames modulo p and their echelon forms
BYTES_PER_FRAME_ENTRY_SHORT = 25   # the same with a prime below 2^26 (two-limb products)
BYTES_PER_JET_ENTRY = 6       # a node entry of a sampled batch (<= 1,024), on jets
COUNT_FIXED = 36 * 2**20      # what a count allocates whatever its size (workspaces, imports)
LAWS_FIXED = 30 * 2**20       # a graded law system's workspace, whatever its size
SCREENED_FIXED = 4 * 2**20    # the degree-2 solver's (FLINT's fmpq_mat; no SymPy import now)
SIMULATE_FIXED = 52 * 2**20   # SciPy's ODE solver, the floats' workspace, the plot
FEATURE_LISTING_LIMIT = 200_000      # terms; above this ``count`` and ``info`` do not list features
FEATURE_LISTING_BYTES = 256 * 2**20  # nor when their expansion would take more memory
BYTES_PER_NAME = 300          # a parameter's text name, identifier and phase-space names
BYTES_PER_GRADED_INDEX = 85   # one variable index of a monomial of the graded law system
BYTES_PER_BLOCK_ENTRY = 65    # one sampled row entry of a graded block being solved, calibrated
_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20,
          "MIB": 2**20, "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}


class TimeLimitError(ConslawError):
    """The computation ran past ``--timeout`` and was stopped."""

    kind = "time limit"


def parse_size(text: str) -> int:
    """'2G', '500M', '1.5GiB' or a number of bytes -> bytes.

    >>> parse_size("lots")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ConslawError: <arguments>: 'lots' is not a size like 2G, 500M or 1000000
    """
    cleaned = str(text).strip().upper().replace(" ", "")
    number = cleaned.rstrip("KMGTIB")
    unit = cleaned[len(number):]
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise ConslawError(f"'{text}' is not a size like 2G, 500M or 1000000",
                           file="<arguments>") from None
    if not value > 0 or value == float("inf"):
        raise ConslawError(f"the memory budget must be positive, got '{text}'", file="<arguments>")
    return int(value)


def human(size: float) -> str:
    """Bytes as B, KiB, MiB, GiB or TiB with one decimal.

    >>> human(512), human(1536), human(3 * 2**30)
    ('512 B', '1.5 KiB', '3.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB" if size < 1e4 else f"{size:.1e} TiB"


def machine_memory() -> int:
    """Physical memory in bytes (4 GiB when the system does not say).

    >>> machine_memory() >= 2**20
    True
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def memory_budget(explicit: int | str | None = None) -> int:
    """The budget in bytes: the argument, else the environment variable, else half of RAM.

    >>> memory_budget("1G")
    1073741824
    >>> os.environ[ENVIRONMENT] = "lots"
    >>> memory_budget()
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ConslawError: <environment>: CONSLAW_MEMORY_BUDGET='lots' is not a size like 2G, 500M or 1000000
    >>> del os.environ[ENVIRONMENT]
    """
    if explicit is not None:
        return explicit if isinstance(explicit, int) else parse_size(explicit)
    if os.environ.get(ENVIRONMENT):
        try:
            return parse_size(os.environ[ENVIRONMENT])
        except ConslawError as exc:       # the environment, not an argument, is to blame
            raise ConslawError(f"{ENVIRONMENT}={exc.message}" if exc.message.startswith("'")
                               else f"{ENVIRONMENT}: {exc.message}", file="<environment>") from None
    return machine_memory() // 2


def require(estimate: int, what: str, suggestion: str, budget: int | str | None = None) -> None:
    """Raise :class:`BudgetError` when ``estimate`` bytes exceed the budget.

    >>> require(10, "a tiny step", "none needed", budget=100)
    >>> require(2 * 2**30, "listing the features", "use --by-block", budget="1G")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.BudgetError: listing the features would need about 2.0 GiB of memory (budget 1.0 GiB, --memory-budget); use --by-block
    """
    limit = memory_budget(budget)
    if estimate > limit:
        raise BudgetError(f"{what} would need about {human(estimate)} of memory (budget "
                          f"{human(limit)}, --memory-budget); {suggestion}")


# ------------------------------------------------------------------- estimates
def expansion_bytes(program: Program, size: SizeEstimate | None = None) -> int:
    """Memory of the exact feature expansion: every node value it computes (terms
    times their degree, since a term is the tuple of its variables), then the
    carriers' terms grouped into features.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> expansion_bytes(compile_program(parse("layers 2 -> 3 -> 1"))[0]) - EXPANSION_FIXED < 10_000
    True
    """
    size = size or estimate_size(program)
    return (EXPANSION_FIXED + size.stored_terms * BYTES_PER_TERM
            + size.stored_occurrences * BYTES_PER_OCCURRENCE
            + size.carrier_terms * BYTES_PER_FEATURE_TERM
            + size.carrier_occurrences * BYTES_PER_OCCURRENCE + size.features * BYTES_PER_FEATURE)


def polynomials_bytes(program: Program, size: SizeEstimate | None = None) -> int:
    """Memory of the features as FLINT polynomials (``Model.features``, the Sage
    export, the REPL's ``show features``) with the expansion they come from: each term
    holds a packed exponent vector of at least 8 bits per parameter, so a term of a
    model with D parameters costs about D bytes besides its coefficient (measured:
    ``layers 30 -> 30 -> 30 -> 30``, 810,000 terms in 2,700 variables: 2.2 GiB, estimated
    2.5 GiB).

    >>> from conslaw_algebra.api import parse
    >>> small, wide = parse("layers 3 -> 3 -> 3").program, parse("layers 30 -> 30 -> 30 -> 30").program
    >>> polynomials_bytes(small) < 2**22, human(polynomials_bytes(wide))
    (True, '2.5 GiB')
    """
    size = size or estimate_size(program)
    return (expansion_bytes(program, size)
            + size.carrier_terms * (BYTES_PER_POLYNOMIAL_TERM + program.num_params))


def lists_features(program: Program, budget: int | str | None = None) -> bool:
    """Are the features cheap enough to list along with a count or ``info``: at most
    ``FEATURE_LISTING_LIMIT`` terms and ``FEATURE_LISTING_BYTES``, within the budget?

    >>> from conslaw_algebra.api import parse
    >>> lists_features(parse("param a, b\\noutput a*b").program)
    True
    >>> lists_features(parse("param a, b\\noutput a^100000000 * b").program)   # one long term
    False
    """
    size = estimate_size(program)
    return (size.carrier_terms <= FEATURE_LISTING_LIMIT and expansion_bytes(program, size)
            <= min(FEATURE_LISTING_BYTES, memory_budget(budget)))


def command_bytes(program: Program, command: str, arg: int = 2, momentum: bool = False) -> int:
    """The estimate a command is judged by: the memory its largest guarded step may
    reach, with what earlier steps keep. ``command``: 'count', 'laws' (``arg`` = the
    degree), 'features' (the expansion), 'polynomials' (the features as FLINT
    polynomials) or 'simulate' (``arg`` = samples; it lists the degree-2 laws first). This is what BENCHMARKS.md compares with measured peaks.

    >>> from conslaw_algebra.api import parse
    >>> program = parse("layers 4 -> 5 -> 3 -> 2").program
    >>> command_bytes(program, "laws", 5) > command_bytes(program, "laws", 4)
    True
    """
    listed = expansion_bytes(program) if lists_features(program) else 0
    if command == "count":
        return listed + count_bytes(program, momentum)
    if command == "features":
        return expansion_bytes(program)
    if command == "polynomials":
        return polynomials_bytes(program)
    if command == "laws":
        return max(laws_bytes(program, arg, momentum),
                   fields_bytes(program, momentum) + count_bytes(program, momentum))
    if command == "simulate":
        return max(command_bytes(program, "laws", 2, momentum),
                   fields_bytes(program, momentum) + simulate_bytes(program, arg))
    raise ValueError(f"unknown command {command!r}")


def fields_bytes(program: Program, momentum: bool = False, flint: bool = True) -> int:
    """Memory of the expansion and of the exact generator fields built from it (as
    sparse terms, and with ``flint`` as FLINT polynomials too, which ``check`` and the
    verification of laws use once the law system is gone).

    >>> from conslaw_algebra.api import parse
    >>> fields_bytes(parse("param a, b, c\\noutput a*b*c").program) - EXPANSION_FIXED < 10_000
    True
    """
    size = estimate_size(program)
    terms = field_terms(program, momentum)
    n = 2 * program.num_params + 1 if momentum else program.num_params
    # sparse terms (a tuple of variables each), then FLINT's: one packed exponent vector
    # of at least 8 bits per variable
    return (expansion_bytes(program, size) + terms * BYTES_PER_FIELD_TERM
            + terms * max(1, size.degree) * BYTES_PER_OCCURRENCE
            + (terms * (BYTES_PER_FLINT_TERM + n) if flint else 0))


def field_terms(program: Program, momentum: bool) -> int:
    """Terms of all generator fields: each feature term of degree d gives at most
    min(d, n) (one per variable it holds).

    >>> from conslaw_algebra.api import parse
    >>> field_terms(parse("param a, b, c\\noutput a*b*c").program, momentum=False)  # 1 term, degree 3
    3
    """
    n = 2 * program.num_params + 1 if momentum else program.num_params
    terms = estimate_terms(program) * max(1, min(_carrier_degree(program), n))
    if program.metrics:
        terms *= 4
    return terms + (3 * program.num_params + 1 if momentum else 0)


def _carrier_degree(program: Program) -> int:
    """The largest degree in theta of a carrier (one pass over the nodes)."""
    degrees = program.theta_degrees()
    return max([degrees[c] for c, _ in program.carriers], default=1)


def laws_bytes(program: Program, degree: int, momentum: bool = False) -> int:
    """Memory of the degree-<= k law system in the n state variables, with the
    expansion and the sparse fields it is built from.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog = compile_program(parse("layers 40 -> 40 -> 40"))[0]
    >>> laws_bytes(prog, 2) < laws_bytes(prog, 3) < laws_bytes(prog, 4)
    True
    """
    n = 2 * program.num_params + 1 if momentum else program.num_params
    unknowns = comb(n + degree, degree) - 1
    cofactors = comb(n + degree - 1, degree - 1)
    terms = field_terms(program, momentum)
    if degree == 2 and not momentum:
        # rows with one entry are skipped without being listed: the screening works per
        # term and per variable of the term, so it grows with terms x degree, not x n;
        # and only monomials of its entries get a column (or those no field touches)
        screened = terms * (min(_carrier_degree(program), n) + 2)
        entries = screened * BYTES_PER_SCREENED_ENTRY
        unknowns = min(unknowns, screened)
    elif degree >= 3:
        return graded_laws_bytes(unknowns, degree, terms)
    else:
        entries = terms * cofactors * BYTES_PER_ENTRY
    return (SCREENED_FIXED + fields_bytes(program, momentum, flint=False)
            + unknowns * BYTES_PER_UNKNOWN + entries)


def graded_laws_bytes(unknowns: int, degree: int, terms: int, largest_block: int = 0) -> int:
    """Memory of a graded law system of degree k >= 3 (``laws._graded_laws``): the
    monomials as arrays of k indices, their k keys and the (key, monomial) pairs
    (about 10 int64 per index), the solver's fixed part, the fields' terms, and the
    largest block being solved (``graded_block_bytes``; 0 before the grading is known,
    then checked again with it). Measured: 286 MiB for relu_2layer at degree 5
    (3.3 million indices, blocks of 49), 148 MiB for linear_3layer at degree 4 (600,000
    indices, a block of 1,104).

    >>> human(graded_laws_bytes(658_007, 5, 120))
    '296.7 MiB'
    """
    return (LAWS_FIXED + unknowns * degree * BYTES_PER_GRADED_INDEX + terms * BYTES_PER_ENTRY
            + (graded_block_bytes(largest_block) if largest_block else 0))


def graded_block_bytes(unknowns: int) -> int:
    """Memory of solving one block of a graded law system (``laws._graded_laws``) with
    this many unknowns: its (unknowns + 8) x unknowns sampled rows modulo p, as int64,
    as the Python integers FLINT's ``nmod_mat`` is built from, and as that matrix and
    its kernel. Checked when the grading is known, before the block is built (the
    blocks' sizes depend on the model's rescaling symmetries, not on its size alone).

    >>> human(graded_block_bytes(1225))
    '93.6 MiB'
    """
    return BYTES_PER_BLOCK_ENTRY * (unknowns + 8) * unknowns


def simulate_bytes(program: Program, samples: int) -> int:
    """Memory of one float forward and backward pass over ``samples`` data points: the
    value of every node that holds data, per sample, and the parameters' per-sample
    gradients (nodes of parameters alone are computed once).

    >>> from conslaw_algebra.api import parse
    >>> simulate_bytes(parse("param a, b\\ninput x\\noutput a*b*x").program, 10**8) > 2**30
    True
    """
    with_data = program.data_degrees()
    entries = sum(node.size for node, d in zip(program.nodes, with_data) if d) + program.num_params
    return SIMULATE_FIXED + samples * entries * BYTES_PER_SAMPLE_ENTRY


def require_count(program: Program, momentum: bool, what: str,
                  budget: int | str | None = None) -> None:
    """Refuse a Lie count that does not fit the budget, or whose fields have so high a
    degree that its error bound (degree x rank / p, ``lie.py``) would say nothing.

    >>> from conslaw_algebra.api import parse
    >>> require_count(parse("param a, b\\noutput a^1000000000 * b").program, False, "the count")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.BudgetError: the count: the fields have degree about 1,000,000,001; modulo a prime p >= 1,073,741,824 the count's error bound (degree x (D + 1) / p) could exceed 1, so no answer would be certain or likely; lower the exponents
    """
    from ..exact import modp
    smallest = modp.FORCED_PRIME or modp.DRAW_LOW    # the smallest working prime there can be
    n = 2 * program.num_params + 1 if momentum else program.num_params
    degree = max(1, _carrier_degree(program))
    if degree * (n + 1) >= smallest:
        raise BudgetError(f"{what}: the fields have degree about {degree:,}; modulo a prime "
                          f"p >= {smallest:,} the count's error bound (degree x (D + 1) / p) "
                          "could exceed 1, so no answer would be certain or likely; lower the "
                          "exponents")
    require(count_bytes(program, momentum), what,
            "a count needs D x D frames: use smaller tensors (conslaw laws --by-block lists the "
            "laws of the blocks that fit, without the count)", budget)


def count_bytes(program: Program, momentum: bool = False) -> int:
    """Memory of the Lie count: D x D frames and D samples of every node on jets.

    The frames' constant per entry of the D x D frame is fitted on measured peaks
    (BENCHMARKS.md, budget group: 1.30 GiB at D = 6,920 with a prime near 2^31, 28
    bytes an entry; 2.30 GiB at D = 10,650 with one below 2^26, 22 bytes): the frame,
    its echelon form and the floating-point limbs of the products (three limbs for
    the larger prime, two for the shorter).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> count_bytes(compile_program(parse("layers 2 -> 3 -> 1"))[0]) - COUNT_FIXED < 100_000
    True
    """
    from .lie import SHORT_PRIME_DIM      # the prime's size decides the products' limbs
    n = 2 * program.num_params + 1 if momentum else program.num_params
    node_entries = sum(node.size for node in program.nodes)
    frame = BYTES_PER_FRAME_ENTRY_SHORT if n >= SHORT_PRIME_DIM else BYTES_PER_FRAME_ENTRY
    return (COUNT_FIXED + frame * n * n + BYTES_PER_JET_ENTRY * min(n, 1024) * node_entries)


COUNT_SECONDS_PER_CUBE = {31: 1.9e-10, 26: 1.0e-10}   # measured, BENCHMARKS.md (busy machine)


def count_seconds(dim: int, short_prime: bool) -> float:
    """A rough estimate of the Lie count's time: its dense rank of D + 1 samples,
    c * D^3 with c measured at D = 6,920 (three-limb products, 62 s) and D = 10,650
    (a prime below 2^26, two limbs, 122 s) on this machine class with other jobs running.

    >>> round(count_seconds(20_000, short_prime=True) / 60)
    13
    """
    return COUNT_SECONDS_PER_CUBE[26 if short_prime else 31] * float(dim) ** 3


_DEADLINE: list[float] = []     # monotonic deadline of the innermost ``time_limit``


def require_time(seconds: float, what: str, suggestion: str) -> None:
    """Refuse at once (TimeLimitError) a step estimated to outlast the active time limit.

    >>> require_time(1e9, "a long step", "none")      # no --timeout: nothing to refuse
    """
    if not _DEADLINE:
        return
    left = _DEADLINE[-1] - time.monotonic()
    if seconds > left:
        raise TimeLimitError(f"{what} would take about {_duration(seconds)} on this machine "
                             f"class, past the time limit ({_duration(max(0.0, left))} left, "
                             f"--timeout); {suggestion}")


def past_deadline() -> bool:
    """True when the active time limit has run out (a ``TimeLimitError`` then stops the
    command; before it, one from ``require_time`` only refuses a step).

    >>> past_deadline()                                # no --timeout
    False
    """
    return bool(_DEADLINE) and time.monotonic() >= _DEADLINE[-1]


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


# ------------------------------------------------------------------ time limit
@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise :class:`TimeLimitError` in the block after ``seconds`` (None: no limit).

    >>> with time_limit(None):
    ...     pass
    """
    if not seconds:
        yield
        return
    if seconds < 0:
        raise ConslawError("--timeout must be positive", file="<arguments>")

    def stop(signum, frame):
        raise TimeLimitError(f"stopped after the time limit of {seconds:g} s (--timeout)")

    previous = signal.signal(signal.SIGALRM, stop)
    # the timer repeats: an exception raised while Python runs a finalizer is dropped
    # ("exception ignored in __del__"), so a single alarm could be lost
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    _DEADLINE.append(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.pop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------ deep stacks
DEEP_STACK = 1 << 30      # bytes the stack may grow to for polynomials in many variables
THREAD_STACK = 512 << 20  # the stack of a thread made for that


def deep_stack() -> None:
    """Let the main thread's stack grow to ``DEEP_STACK`` (the soft limit, within the hard
    one). FLINT's multivariate polynomials use stack space in proportion to the number of
    variables of their ring: with the usual 8 MiB limit a ring of about 8,000 variables
    (a block's expansion, the whole model's theta ring) crashed the process; 85,000
    variables needed more than 64 MiB (measured, python-flint 0.9). Pages are taken only
    when used.

    >>> deep_stack()
    """
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = DEEP_STACK if hard == resource.RLIM_INFINITY else min(hard, DEEP_STACK)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_STACK, (want, hard))


def on_deep_stack(function, *args):
    """``function(*args)`` where the stack can grow (``deep_stack``): in the main thread
    itself, elsewhere (a Dask worker's thread) in a thread made with ``THREAD_STACK``.

    >>> on_deep_stack(max, 2, 3)
    3
    """
    import threading
    if threading.current_thread() is threading.main_thread():
        deep_stack()
        return function(*args)
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:        # raised again in the calling thread
            outcome["error"] = exc
    previous = threading.stack_size(THREAD_STACK)
    try:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ------------------------------------------------------------------ independent jobs
def run_tasks(task, items: list, jobs: int | None = None, scheduler=None, on_result=None,
              weights: list[int] | None = None, capacity: int | None = None,
              meanwhile=None, **options) -> list:
    """``task(item, **options)`` for every item: in this process (``jobs`` 1 or a single
    item), on ``jobs`` local processes (default: all cores), or with ``scheduler`` (an
    address, or a ``distributed.Client``) on a Dask cluster. Results come back in input
    order whatever the order they finish in; ``on_result(index, result)`` is called as
    each arrives. ``task`` must be a module-level function (it is pickled).

    ``weights`` and ``capacity`` (local processes only): item i is started only while the
    weights of the items running with it sum to at most ``capacity`` (an item alone
    always runs): the memory estimates of jobs against the memory budget, so that K
    processes never together exceed what one is allowed. ``meanwhile()`` (optional) is
    called once in this process while the tasks run elsewhere (before them when they
    run here). On an exception (a time limit, an interrupt) the local processes are
    stopped and the exception raised.

    >>> run_tasks(abs, [-2, 3, -5], jobs=1)
    [2, 3, 5]
    >>> run_tasks(abs, [-2, 3, -5], jobs=2, weights=[2, 2, 2], capacity=3)
    [2, 3, 5]
    """
    results: list = [None] * len(items)

    def record(index, result):
        results[index] = result
        if on_result:
            on_result(index, result)

    if scheduler:
        try:
            from distributed import Client, as_completed as dask_completed
        except ImportError:
            raise ConslawError("a Dask scheduler needs the 'distributed' package "
                               "(pip install -e '.[dask]')", file="<arguments>") from None
        try:
            client = Client(scheduler) if isinstance(scheduler, str) else scheduler
        except (OSError, ValueError, TypeError) as exc:   # unreachable, or not an address
            raise ConslawError(f"cannot reach the Dask scheduler '{scheduler}' ({exc})",
                               file="<arguments>") from None
        try:
            futures = client.map(task, items, pure=False, **options)
            if meanwhile:
                meanwhile()
            index = {f.key: i for i, f in enumerate(futures)}
            for future in dask_completed(futures):
                record(index[future.key], future.result())
        finally:
            if isinstance(scheduler, str):
                client.close()
    elif (jobs or os.cpu_count() or 1) == 1 or not items:
        if meanwhile:
            meanwhile()
        for i, item in enumerate(items):
            record(i, task(item, **options))
    else:
        _run_local(task, items, jobs or os.cpu_count(), record, weights, capacity, options,
                   meanwhile)
    return results


def _run_local(task, items, jobs, record, weights, capacity, options, meanwhile) -> None:
    """``run_tasks`` on a process pool, admitting items in order while they fit."""
    # imported here: multiprocessing costs the command line's start-up about 7 ms
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    weights = weights or [0] * len(items)
    capacity = capacity if capacity is not None else sum(weights)
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        running: dict = {}
        following = 0
        while following < len(items) or running:
            while (following < len(items) and len(running) < jobs
                   and (not running or sum(weights[i] for i in running.values())
                        + weights[following] <= capacity)):
                running[pool.submit(task, items[following], **options)] = following
                following += 1
            if meanwhile:
                meanwhile()
                meanwhile = None
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                record(running.pop(future), future.result())
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()      # a running task cannot be cancelled otherwise
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
