"""The ``conslaw`` command: count, laws, check, relations, info, sweep, paths, simulate, repl.

Formatting and error handling only; the mathematics is in the modules it calls.
Every user mistake becomes one line ``file:line:col: message`` on stderr and exit
status 2; no traceback reaches a user. ``--timeout`` stops a command with one line
and exit status 124; ``--memory-budget`` bounds what a command may build (refused
with exit status 2 and the estimate, see ``guards.py``).

>>> main(["info", "/no/such/model.net"])
2
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from decimal import Decimal, localcontext

from .. import api, progress
from ..analyses import guards
from ..exact import modp
from ..errors import ConslawError

MAX_TIMEOUT = 10_000_000     # seconds (about four months): the interval timer's range is finite

def version() -> str:
    """The installed package's version (``pyproject.toml``), as ``conslaw --version`` prints it.

    >>> version()[0].isdigit()
    True
    """
    from importlib.metadata import PackageNotFoundError, version as installed
    try:
        return installed("conslaw_algebra")
    except PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``: the installed version is looked up only when asked (reading the
    package metadata costs tens of milliseconds at every start otherwise)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"conslaw {version()}")
        parser.exit()


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; seeds and counts are >= 0")
    return value


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def _per_region(model, args, answer, as_json: bool) -> int:
    """Run ``answer(model) -> (text, json object, status)`` on the model, or on each
    sign region of a model that is piecewise in theta; print; return the worst status."""
    if not model.sign_regions:
        text, obj, status = answer(model)
        if model.notes:
            obj = dict(obj, notes=list(model.notes))
            text += "".join(f"\nnote: {n}" for n in model.notes)
        _print_json(obj) if as_json else print(text)
        return status
    results, worst = [], 0
    total = len(model.sign_regions)
    for number, region in enumerate(model.sign_regions, start=1):
        text, obj, status = answer(region.model)
        worst = max(worst, status)
        witness = ("a point of it: " + ", ".join(f"{n} = {v}" for n, v in
                                                 zip(region.model.names, region.witness))
                   if region.witness is not None else
                   "no point of it was found among the sampled ones: it may be empty, and "
                   "the answer then says nothing")
        results.append({"region": region.description,
                        "witness": None if region.witness is None else
                        [str(v) for v in region.witness], "result": obj})
        if not as_json:
            print(f"region {number} of {total}: {region.description}\n  ({witness})")
            print(text + ("\n" if number < total else ""))
    if as_json:
        _print_json({"model": model.name, "piecewise": True, "regions": results})
    return worst


def cmd_count(args) -> int:
    show = progress.wanted(args.quiet)
    with progress.when(show, task="compiling the model"):
        model = api.load(args.model)

    def answer(m):
        with progress.when(show, task="counting"):
            result = m.count_laws(seed=args.seed)
        return result.to_text(), result.to_json(), 0
    return _per_region(model, args, answer, args.json)


def _degree(args) -> int:
    if args.degree < 1:
        raise ConslawError("--degree must be at least 1", file="<arguments>")
    return args.degree


def cmd_laws(args) -> int:
    _degree(args)
    if args.engine != "linear" and (args.minimal or args.by_block):
        raise ConslawError("--engine syzygy finds the laws of the whole model; not with "
                           "--minimal or --by-block", file="<arguments>")
    if (args.jobs is not None or args.scheduler) and not args.by_block:
        raise ConslawError("--jobs and --scheduler run the blocks of --by-block; add --by-block",
                           file="<arguments>")
    show = progress.wanted(args.quiet)
    with progress.when(show, task="compiling the model"):
        model = api.load(args.model)
    if args.minimal:
        from ..analyses.relations import generators
        if args.by_block or args.format not in ("text", "json"):
            raise ConslawError("--minimal prints text or json", file="<arguments>")
        result = generators(model, args.degree)
        _print_json(result.to_json()) if args.format == "json" else print(result.to_text())
        return 0
    if args.by_block:
        from ..analyses.blocks import block_laws
        if args.format not in ("text", "json"):
            raise ConslawError("--by-block prints text or json", file="<arguments>")
        with progress.when(show, task="laws by block"):
            blocks = block_laws(model, args.degree, seed=args.seed,
                                jobs=1 if args.jobs is None else args.jobs,
                                scheduler=args.scheduler)
        if args.format == "json":
            _print_json(blocks.to_json())
        else:
            print(blocks.to_text())
        return 0
    if model.sign_regions and args.format not in ("text", "json"):
        raise ConslawError(f"a model with sign regions prints laws as text or json, not "
                           f"{args.format}", file="<arguments>")

    matrix_form = False if args.entries else None     # None: matrices for the natural basis

    def answer(m):
        with progress.when(show, task="finding the laws"):
            result = m.laws(args.degree, seed=args.seed, engine=args.engine, basis=args.basis)
        hint = m.degree_hint(result)
        return (result.to_text(matrix_form) + (f"\nhint: {hint}" if hint else ""),
                result.to_json(), 0)
    if args.format in ("text", "json"):
        return _per_region(model, args, answer, args.format == "json")
    if args.format == "sage":      # the script lists the features (or fields) as polynomials
        model.require_polynomials()
    with progress.when(show, task="finding the laws"):
        result = model.laws(args.degree, seed=args.seed, engine=args.engine, basis=args.basis)
    if args.format == "latex":
        from .exports import latex_laws
        print(latex_laws(result, matrix_form is None, title=True))
    else:
        from .exports import sage_script
        print(sage_script(model, result), end="")
    return 0


def cmd_check(args) -> int:
    model = api.load(args.model)
    if args.in_algebra:
        from ..analyses.relations import membership
        found = membership(model, args.expression, _degree(args))
        _print_json(found.to_json()) if args.json else print(found.to_text())
        return 0 if found.in_algebra else 1

    def answer(m):
        result = m.check(args.expression, seed=args.seed)
        return result.to_text(), result.to_json(), 0 if result.conserved else 1
    return _per_region(model, args, answer, args.json)


def cmd_relations(args) -> int:
    from ..analyses.relations import relations
    model = api.load(args.model)
    result = relations(model, _degree(args))
    _print_json(result.to_json()) if args.json else print(result.to_text())
    return 0


def cmd_info(args) -> int:
    from .repl import info_text
    model = api.load(args.model)
    if not args.json:
        print(info_text(model))
    elif model.sign_regions:
        _print_json({"model": model.name, "D": model.dim, "piecewise": True,
                     "regions": [r.description for r in model.sign_regions]})
    else:
        _print_json(model.info())
    return 0


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("..")
    try:
        values = (int(low), int(high or low))
    except ValueError:
        raise ConslawError(f"'{text}' is not a range like 2..9", file="<arguments>") from None
    if values[0] < 1 or values[1] < values[0]:
        raise ConslawError(f"'{text}' is not a range of positive integers", file="<arguments>")
    return values


def cmd_sweep(args) -> int:
    from ..tools import sweep

    if args.family and args.count == 0:
        raise ConslawError("--count 0 asks for a family of no models; give --count 1 or more",
                           file="<arguments>")
    models = []
    for path in args.paths:
        models += sweep.folder_models(path)
    if args.family:
        models += sweep.family_models(args.family, args.count, args.family_seed,
                                      _range(args.widths), _range(args.depth), args.bias)
    if not models:
        raise ConslawError("give model files or folders, or --family", file="<arguments>")
    show = None if args.quiet or not sys.stderr.isatty() else sweep.progress_printer()
    rows = sweep.run_sweep(models, jobs=args.jobs, seed=args.seed, scheduler=args.scheduler,
                           progress=show)
    _print_json(rows) if args.json else print(sweep.format_table(rows))
    return 0 if all("error" not in r for r in rows) else 1


def cmd_paths(args) -> int:
    from ..analyses import paths
    from ..exact.render import render

    model = api.load(args.model)
    number, exact = paths.count_paths(model)
    report = {"model": model.name, "paths": number, "exact": exact}
    listed = exact and number <= args.max
    if listed:
        report["monomials"] = [render(p, list(model.names))
                               for p in paths.path_monomials(model, args.max)]
    if args.norm_at is not None:
        values = _point(args.norm_at, model.dim)
        power_sum = paths.path_norm(model, values, args.q)
        report["path_norm_power_sum"] = str(power_sum)
        report["path_norm"] = _root(power_sum, args.q)
    if args.json:
        _print_json(report)
        return 0
    print(f"{'' if exact else 'at most '}{number} paths in {model.name}")
    for monomial in report.get("monomials", []):
        print("  " + monomial)
    if exact and not listed:
        print(f"  (not listed: more than --max {args.max})")
    if "path_norm" in report:
        norm = report["path_norm"]
        shown = f"{norm:.6g}" if isinstance(norm, float) else norm
        print(f"path-norm (q = {args.q}): sum |Phi_p|^{args.q} = {report['path_norm_power_sum']}, "
              f"norm = {shown}")
    return 0


def _root(value, q: int):
    """value^(1/q) for a non-negative rational: a float, or decimal text beyond a float's range.

    >>> from fractions import Fraction
    >>> _root(Fraction(8), 3), _root(Fraction(10**400), 1), _root(Fraction(10**400), 2)
    (2.0, '1.00000E+400', 1e+200)
    """
    try:
        return float(value) ** (1 / q)
    except OverflowError:       # the sum is beyond a float: take the root in decimals
        with localcontext() as context:
            context.prec = 30
            exact = Decimal(value.numerator) / Decimal(value.denominator)
            root = exact if q == 1 else (exact.ln() / q).exp()
        result = float(root)
        return result if math.isfinite(result) else f"{root:.5E}"


def _point(text: str, dim: int) -> list:
    from fractions import Fraction
    try:
        values = [Fraction(v) for v in text.replace(",", " ").split()]
    except (ValueError, ZeroDivisionError):
        raise ConslawError(f"'{text}' is not a list of numbers", file="<arguments>") from None
    if len(values) == 1:
        values = values * dim
    if len(values) != dim:
        raise ConslawError(f"--norm-at needs 1 or {dim} numbers, got {len(values)}",
                           file="<arguments>")
    return values


def _step_sizes(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ConslawError(f"'{text}' is not a list of step sizes like 0.1,0.05",
                           file="<arguments>") from None
    if not values:
        raise ConslawError("--etas needs at least one step size", file="<arguments>")
    return values


def cmd_simulate(args) -> int:
    from ..tools.simulate import plot_target, simulate

    if args.degree is not None and args.degree < 1:
        raise ConslawError("--degree must be at least 1", file="<arguments>")
    if args.etas:
        etas = _step_sizes(args.etas)
    else:
        etas = [0.1 / 2 ** k for k in range(5 if args.steps else 3)]
    if args.plot and not args.no_plot:
        plot_target(args.plot)            # a bad format or folder stops before any work
    model = api.load(args.model)
    plot = None if args.no_plot else args.plot or f"{model.name}_simulate.png"
    if plot:
        plot_target(plot)
    run = simulate(model, seed=args.seed, horizon=args.horizon, etas=etas, degree=args.degree,
                   samples=args.samples, loss=args.loss, rtol=args.rtol, scale=args.scale)
    if plot:
        plot = run.plot(plot)
    if args.json:
        report = run.to_json()
        report["plot"] = plot
        _print_json(report)
    else:
        print(run.to_text(scaling=args.steps))
        if plot:
            print(f"plot: {plot}")
    return 0


def cmd_repl(args) -> int:
    from .repl import run_repl
    return run_repl(args.model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conslaw", description="Exact conservation laws of neural-network training flows.")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one of the commands below; 'conslaw COMMAND -h' for its options")
    model_help = "a .net model file (../shared/DSL.md)"
    json_help = "print one JSON object instead of text"
    degree_help = "largest degree K of the laws (default 2)"
    limits = argparse.ArgumentParser(add_help=False)
    limits.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop after this many seconds (one line, exit status 124)")
    limits.add_argument("--memory-budget", metavar="SIZE",
                        help="refuse steps estimated to need more memory, e.g. 2G or 500M "
                        f"(default: ${guards.ENVIRONMENT}, else half the machine's memory)")

    p = sub.add_parser("count", parents=[limits], help="number of independent conservation laws")
    p.add_argument("model", help=model_help)
    p.add_argument("--seed", type=_non_negative, default=0, help="random point and samples (default 0)")
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=cmd_count)

    p = sub.add_parser("laws", parents=[limits], help="basis of the polynomial laws of degree <= K")
    p.add_argument("model", help=model_help)
    p.add_argument("--degree", type=int, default=2, help=degree_help)
    p.add_argument("--format", choices=("text", "latex", "sage", "json"), default="text",
                   help="text (default); latex: an aligned block, Gram differences as matrix "
                   "equations; sage: a script that re-checks every law in Sage; json: one object")
    p.add_argument("--seed", type=_non_negative, default=0,
                   help="random point of the count and of the independence rank (default 0)")
    p.add_argument("--basis", choices=("natural", "echelon"), default="natural",
                   help="natural (default): the laws split by the monomials they share and "
                   "made sparse (one balance law per neuron, Gram-difference entries); "
                   "echelon: the reduced echelon form the solver returns; both span the same "
                   "space")
    p.add_argument("--entries", action="store_true",
                   help="text and latex: every law on its own line, not Gram differences as "
                   "matrix equations")
    p.add_argument("--by-block", action="store_true",
                   help="laws of each block of interacting parameters (for large models)")
    p.add_argument("--jobs", type=_non_negative, default=None,
                   help="with --by-block: local processes for the blocks (default 1; 0: all "
                   "cores); side by side only while their memory estimates fit the budget")
    p.add_argument("--scheduler", help="with --by-block: address of a Dask scheduler, e.g. "
                   "tcp://host:8786, to run the blocks on its workers")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--minimal", action="store_true",
                   help="minimal generators of the algebra of laws (needs Singular)")
    p.add_argument("--engine", choices=("linear", "syzygy"), default="linear",
                   help="linear: a linear ansatz, solved exactly (default); syzygy: syzygies "
                   "and curl-free vectors (needs Singular), an independent second algorithm")
    p.set_defaults(run=cmd_laws)

    p = sub.add_parser("check", parents=[limits], help="is a polynomial in the parameters conserved?")
    p.add_argument("model", help=model_help)
    p.add_argument("expression", help='a polynomial in the parameters, e.g. "W1[0,0]^2 - W2[0,0]^2"')
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--in-algebra", action="store_true",
                   help="is it a polynomial in the basis laws? which one? (needs Singular)")
    p.add_argument("--degree", type=int, default=2,
                   help="with --in-algebra: the basis laws have degree <= K (default 2)")
    p.add_argument("--seed", type=_non_negative, default=0,
                   help="random points at which a model with normalization layers is first "
                   "tested for a generator that changes the polynomial (default 0)")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("relations", parents=[limits], help="polynomial relations among the basis laws")
    p.add_argument("model", help=model_help)
    p.add_argument("--degree", type=int, default=2, help=degree_help)
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(run=cmd_relations)

    p = sub.add_parser("info", parents=[limits], help="parameters, D, data symbols, features, flow")
    p.add_argument("model", help=model_help)
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("sweep", parents=[limits], help="count the laws of many models in parallel")
    p.add_argument("paths", nargs="*", help=".net files or folders of them")
    p.add_argument("--family", choices=("relu", "linear"), help="a generated family of layered nets")
    p.add_argument("--count", type=_non_negative, default=20, help="models in the family (default 20)")
    p.add_argument("--widths", default="2..9", help="width range, e.g. 2..9")
    p.add_argument("--depth", default="2..4", help="number of weight layers, e.g. 2..4")
    p.add_argument("--bias", choices=("random", "yes", "no"), default="random",
                   help="biases in the family's hidden and output layers (default: random per model)")
    p.add_argument("--family-seed", type=_non_negative, default=0, help="seed of the generated family")
    p.add_argument("--seed", type=_non_negative, default=0, help="seed of each count")
    p.add_argument("--jobs", type=_non_negative, default=None, help="local processes (default: all cores)")
    p.add_argument("--scheduler", help="address of a Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--json", action="store_true", help="print one JSON list, a row per model")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("paths", parents=[limits], help="path-lifting: number of paths, path monomials, path-norm")
    p.add_argument("model", help=model_help)
    p.add_argument("--max", type=_non_negative, default=100, help="list at most this many (100)")
    p.add_argument("--norm-at", metavar="VALUES", help="parameter values (one for all, or D of "
                   "them) at which to compute the path-norm")
    p.add_argument("--q", type=int, default=1, choices=range(1, 11), metavar="Q",
                   help="exponent of the path-norm (default 1)")
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(run=cmd_paths)

    p = sub.add_parser("simulate", parents=[limits],
                       help="integrate the flow and gradient descent on random data; laws' drift")
    p.add_argument("model", help=model_help)
    p.add_argument("--seed", type=_non_negative, default=0, help="data, loss and start (default 0)")
    p.add_argument("--horizon", type=float, default=2.0, help="time to integrate (default 2)")
    p.add_argument("--etas", help="step sizes of the discrete runs (default 0.1,0.05,0.025)")
    p.add_argument("--steps", action="store_true",
                   help="show how the drift scales with the step size (default: 5 halvings of 0.1)")
    p.add_argument("--degree", type=int, help="degree of the laws (default 2; 3 with tau, 5 Nesterov)")
    p.add_argument("--samples", type=int, default=8, help="data points (default 8)")
    p.add_argument("--loss", choices=("logcosh", "quadratic"), default="logcosh",
                   help="weighted log-cosh (default) or a random positive definite quadratic")
    p.add_argument("--rtol", type=float, default=1e-10, help="ODE solver tolerance (default 1e-10)")
    p.add_argument("--scale", type=float, default=0.7, help="size of the random start (default 0.7)")
    p.add_argument("--plot", metavar="FILE", help="where to write the plot; the format is the "
                   "extension's: .png, .pdf or .svg (default MODEL_simulate.png)")
    p.add_argument("--no-plot", action="store_true", help="no plot")
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(run=cmd_simulate)

    p = sub.add_parser("repl", help="interactive session")
    p.add_argument("model", nargs="?", help="a .net model file to start from (default: empty)")
    p.set_defaults(run=cmd_repl)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    guards.deep_stack()       # FLINT polynomials in D variables use stack in proportion to D
    previous_budget = os.environ.get(guards.ENVIRONMENT)
    try:
        budget = getattr(args, "memory_budget", None)
        if budget is not None:   # the environment carries it to sweep's worker processes too
            os.environ[guards.ENVIRONMENT] = str(guards.parse_size(budget))
        timeout = getattr(args, "timeout", None)
        if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
            raise ConslawError(f"--timeout must be a positive number of seconds, at most "
                               f"{MAX_TIMEOUT:,} (leave it out for no limit)", file="<arguments>")
        if modp.PRIME_ERROR:
            raise ConslawError(modp.PRIME_ERROR, file="<environment>")
        with guards.time_limit(timeout):
            status = args.run(args)
            sys.stdout.flush()       # a full disk is reported here, not at exit
            return status
    except guards.TimeLimitError as exc:
        print(f"conslaw: {exc}", file=sys.stderr)
        return 124
    except ConslawError as exc:
        print(f"conslaw: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("conslaw: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # the reader stopped early (e.g. `| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:    # the output cannot be written (a full disk, /dev/full)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        where = f" to {exc.filename}" if exc.filename else ""
        print(f"conslaw: <output>: cannot write the output{where} ({exc.strerror or exc})",
              file=sys.stderr)
        return 2
    except (MemoryError, RecursionError) as exc:
        print(f"conslaw: the computation ran out of resources ({type(exc).__name__})", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - the last guard before a user sees a traceback
        print(f"conslaw: internal error ({type(exc).__name__}: {exc}); please report it with "
              "the model file", file=sys.stderr)
        return 1
    finally:
        if previous_budget is None:
            os.environ.pop(guards.ENVIRONMENT, None)
        else:
            os.environ[guards.ENVIRONMENT] = previous_budget


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
