"""The public entry points: load a model, count its laws, list them, check one.

>>> model = parse("layers 2 -> 2 -> 2", name="tiny")
>>> model.count_laws(seed=0).laws
3
>>> print(model.laws(2).to_text().splitlines()[-1][:40])
complete: 3 independent laws = N (certif
"""
from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from math import comb
from pathlib import Path

from .language import parser as dsl
from .analyses import guards
from .progress import report
from .language.compiler import (COORDINATE_METRICS, Variant, compile_expression,
                                compile_variants)
from .language.sympy_text import expression_text
from .errors import BudgetError, UnsupportedError
from .analyses.regions import SignRegion, describe_region, region_witnesses
from .flows.system import exact_fields, flow_system
from .analyses.laws import (degree_hint, field_polynomials, first_violation, independent_count,
                            polynomial_laws)
from .analyses.lie import DATA_UNPROVED, SHORT_PRIME_DIM, LieCount, count_laws
from .analyses.natural_basis import BASES, natural_basis
from .exact.render import render
from .analyses.results import CheckResult, CountResult, LawsResult
from .language.program import variable_names
from .language.expand import (Expansion, ancestors, estimate_size, estimate_terms,
                              expand_features, feature_program, parameter_polynomial,
                              theta_ring)

# the count of a model with normalization layers (``analyses/normalized.py``)
NO_FEATURES = "its outputs are algebraic in theta through the normalization scales"


class Model:
    """A compiled `.net` model: parameters, features and the flow's generators.

    >>> parse("param a, b\\noutput a*b", name="ab")
    <Model ab: D=2, gradient flow (Euclidean)>
    """

    sympy_symbols: tuple | None = None   # the user's symbols of a model from ``from_sympy``
    source_text: str | None = None       # the `.net` text it was compiled from

    def __init__(self, ast: dsl.Program, memory_budget: int | str | None = None,
                 variant: Variant | None = None):
        self.ast = ast
        self.memory_budget = memory_budget   # bytes or '2G'; None: see guards.memory_budget
        self.sign_regions: tuple[SignRegion, ...] = ()
        if variant is None:
            variants = compile_variants(ast)
            if len(variants) > 1 or variants[0].conditions:
                self.sign_regions = tuple(
                    SignRegion(describe_region(v), Model(ast, memory_budget, v), witness)
                    for v, witness in zip(variants, region_witnesses(variants)))
            variant = variants[0]
        self.variant = variant
        self._program, header = variant.program, variant.header
        self.name = header.name
        self.flow = header.flow
        self.dim = self._program.num_params
        guards.require(self.dim * guards.BYTES_PER_NAME, f"naming {self.dim:,} parameters",
                       "declare smaller tensors", memory_budget)

    # The names are made when first asked for: a command that is refused by its guard
    # (a count of a model with millions of parameters) does not pay for naming them.
    @cached_property
    def variables(self):
        """Text names and identifiers of the state variables (``program.variable_names``)."""
        return variable_names(self._program.params, self.flow.time_variable())

    @property
    def state_names(self) -> tuple[str, ...]:
        """The state variables' text names: the parameters' entries, or for a momentum
        flow time, entries and velocities.

        >>> parse("param a\\noutput a\\nflow momentum").state_names
        ('t', 'a', "a'")
        """
        return self.variables.text

    @property
    def state_identifiers(self) -> tuple[str, ...]:
        """The state variables as identifiers (``W1_0_1``, ``a_dot``, ``t``)."""
        return self.variables.identifiers

    @property
    def names(self) -> tuple[str, ...]:
        """The parameters' entries: ``W1[0,1]``, row-major, in declaration order.

        >>> parse("param W[1,2], b\\noutput W[0,0] * W[0,1] * b").names
        ('W[0,0]', 'W[0,1]', 'b')
        """
        if self.flow.momentum:
            return self.state_names[1:1 + self.dim]
        return self.state_names

    @property
    def identifiers(self) -> tuple[str, ...]:
        """The parameters' entries as identifiers (``W1_0_1``)."""
        if self.flow.momentum:
            return self.state_identifiers[1:1 + self.dim]
        return self.state_identifiers

    @property
    def program(self):
        """The compiled Program; a model that is piecewise in theta has one per region."""
        if self.sign_regions:
            first = self.sign_regions[0]
            raise UnsupportedError(f"the model is piecewise in the parameters ({first.where}): "
                                   f"it has {len(self.sign_regions)} sign regions; count, laws "
                                   "and check answer per region (model.sign_regions)",
                                   file=self.ast.source_name)
        return self._program

    @property
    def notes(self) -> tuple[str, ...]:
        """What the answers mean beyond the plain model: changes of coordinates.

        >>> parse("param a, b\\ninput x\\noutput b * tanh(a) * x").notes[0][:36]
        'tanh(a) is the coordinate u = tanh(a'
        """
        out = []
        for index, function in self.variant.coordinates.items():
            info = self._program.params[index]
            u = f"{function}({info.name})"
            out.append(f"{u} is the coordinate u = {u}: '{info.name}' enters the model only "
                       f"through it, so gradient flow in {info.name} is, in u, the flow "
                       f"u' = -{COORDINATE_METRICS[function]} dE/du (DSL.md section 2); N is "
                       "the same in both coordinates, and laws are polynomials in u")
        return tuple(out)

    def __repr__(self) -> str:
        regions = f", {len(self.sign_regions)} sign regions" if self.sign_regions else ""
        return f"<Model {self.name}: D={self.dim}, {self.flow.describe()}{regions}>"

    def _repr_html_(self) -> str:
        from html import escape
        rows = "".join(f"<tr><td>{escape(p.name)}</td><td>{'x'.join(map(str, p.shape)) or 'scalar'}"
                       f"</td><td>{p.size}</td></tr>" for p in self.program.params)
        return (f"<table><caption>{escape(self.name)}: D = {self.dim}, "
                f"{escape(self.flow.describe())}</caption><tr><th>parameter</th><th>shape</th>"
                f"<th>entries</th></tr>{rows}</table>")

    @property
    def normalized(self) -> bool:
        """Has the model a normalization layer (``analyses/normalized.py``)?

        >>> parse("param w[2]\\noutput sum(rmsnorm(w))").normalized
        True
        """
        return bool(self._program.normalizations)

    def _refuse_normalized(self, what: str):
        from .analyses.normalized import call_place
        function, line, column = call_place(self._program)
        raise UnsupportedError(f"{function}(): {what} is not available for a model with a "
                               "normalization layer (its outputs are algebraic, not polynomial, "
                               "in the parameters, so it has no features); count, laws and "
                               "check are", file=self.ast.source_name, line=line, column=column)

    @cached_property
    def exact_normalized(self):
        """The outputs as exact polynomials in (theta, x, s) (``normalized.ExactModel``)."""
        from .analyses.normalized import ExactModel
        self._require_exact_normalized()
        return ExactModel(self.program, self.memory_budget)

    @cached_property
    def law_verifier(self):
        """The exact law check of a normalized model: the local check first
        (``local_check.py``), then ``exact_normalized`` when that is inconclusive, which
        refuses at once (``_require_exact_normalized``) when it cannot fit."""
        from .analyses.local_check import Verifier
        return Verifier(self.program, lambda: self.exact_normalized)

    def _require_exact_normalized(self) -> None:
        """Refuse at once an exact verification on the variety that cannot fit: every
        node expanded in (theta, x, s), estimated as the feature expansion is."""
        from .analyses.normalized import EXACT_TERM_BYTES
        terms = estimate_size(self.program).stored_terms
        guards.require(terms * EXACT_TERM_BYTES,
                       f"verifying laws exactly on the variety (the model expanded in theta, "
                       f"the data and the scales: about {terms:,} terms)",
                       "conslaw count does not need it; laws of a model this large with "
                       "normalization layers cannot be verified exactly yet",
                       self.memory_budget)

    @cached_property
    def expansion(self) -> Expansion:
        """All features, expanded exactly (lists every path of a ReLU net)."""
        if self.normalized:
            self._refuse_normalized("listing the features (paths, the syzygy engine, "
                                    "exports of the fields)")
        size = estimate_size(self.program)
        guards.require(guards.expansion_bytes(self.program, size),
                       f"listing the features (about {size.carrier_terms:,} terms of degree up to "
                       f"{size.degree:,})",
                       "counting laws does not need them (conslaw count); for laws use --by-block, "
                       "or lower the exponents", self.memory_budget)
        report("expanding the features")
        return expand_features(self.program)

    def _lists_features(self) -> bool:
        """Is the expansion small enough to list along with a count or info?"""
        return not self.normalized and guards.lists_features(self.program, self.memory_budget)

    @property
    def features(self) -> list:
        """The features psi_k as fmpq_mpoly in t0..t{D-1} (refused at once, with the
        estimate, when they would not fit the memory budget).

        >>> sorted(str(psi) for psi in parse("param a, b\\ninput x\\noutput a*b*x + a*x^2").features)
        ['t0', 't0*t1']
        """
        self.require_polynomials()
        return [f.poly for f in self.expansion.features]

    def require_polynomials(self) -> None:
        """Refuse (``BudgetError``, with the estimate) when the features as FLINT
        polynomials, each term with an exponent vector over all D parameters, would
        exceed the memory budget; before anything is expanded.

        >>> parse("layers 30 -> 30 -> 30 -> 30", memory_budget="1G").require_polynomials()
        Traceback (most recent call last):
        ...
        conslaw_algebra.errors.BudgetError: the features as polynomials (about 810,000 terms in 2,700 variables) would need about 2.5 GiB of memory (budget 1.0 GiB, --memory-budget); conslaw count does not need them; for laws use --by-block
        """
        size = estimate_size(self.program)
        guards.require(guards.polynomials_bytes(self.program, size),
                       f"the features as polynomials (about {size.carrier_terms:,} terms in "
                       f"{self.dim:,} variables)",
                       "conslaw count does not need them; for laws use --by-block",
                       self.memory_budget)

    @cached_property
    def system(self):
        """The flow's generator family (``flows/system.py``); from the listed features
        when a gate can meet itself in a product (random gate values would not stand for
        0/1 ones there, the exact expansion reduces g^2 = g); a model with normalization
        layers has no features, and its sampler draws such gates at 0/1 instead."""
        program = self.program
        if not program.gates_enter_linearly() and not program.normalizations:
            program = feature_program(program, self.expansion)
        return flow_system(program, self.flow)

    @cached_property
    def fields(self) -> list:
        """The generators as exact polynomial fields, in the state variables."""
        self._require_fields(self.flow.momentum)
        return exact_fields(self.program, self.flow, self.expansion)

    def _require_fields(self, momentum: bool) -> None:
        guards.require(guards.fields_bytes(self.program, momentum),
                       "the features and the exact generator fields (about "
                       f"{guards.field_terms(self.program, momentum):,} terms of degree up to "
                       f"{estimate_size(self.program).degree:,})",
                       "counting laws does not need them (conslaw count); use --by-block, or lower "
                       "the exponents", self.memory_budget)

    @cached_property
    def polynomial_fields(self) -> list[dict]:
        """The generators as {component: fmpq_mpoly in the state variables}."""
        ring = self.state_ring
        return [field_polynomials(f, ring) for f in self.fields]

    @property
    def state_ring(self):
        return theta_ring(self.system.dim)

    def lie_count(self, seed: int = 0) -> LieCount:
        """The exact-modulo-p Lie-trace count (see ``lie.py``)."""
        momentum = self.flow.momentum
        n = self.system.dim
        guards.require_count(self.program, momentum, f"the Lie count ({n:,} x {n:,} frames "
                             "modulo p)", self.memory_budget)
        guards.require_time(guards.count_seconds(n, n >= SHORT_PRIME_DIM),
                            f"the Lie count (an exact rank of {n + 1:,} x {n:,} samples)",
                            "find the laws block by block (conslaw laws --by-block)")
        if self.normalized:
            from .analyses.normalized import normalized_degree
            # the count's batches grow to about twice D (lie.py)
            refusal = self.system.evaluator.draw_refusal(min(1024, 2 * self.dim + 16))
            if refusal:
                raise UnsupportedError(refusal)
            if not self._independent(seed):
                self._refuse_normalized_dependence()
            system = self.system
            system.point_factor = 4 ** system.scales
            system.field_degree = max(system.field_degree, normalized_degree(self.program))
            system.patterns.clear()
        lie = count_laws(self.system, seed=seed)
        if self.normalized and not self._independence(seed)[1]:
            lie = replace(lie, bound_unproved=DATA_UNPROVED)
        elif lie.bound_unproved and self.normalized and self.system.patterns:
            from .analyses.normalized import certify_patterns
            report(f"certifying {len(self.system.patterns):,} gate patterns")
            if certify_patterns(self.program, list(self.system.patterns.values()), seed):
                lie = replace(lie, bound_unproved=None)
        return lie

    def _independent(self, seed: int) -> bool:
        """Are each sample's variances proved independent modulo squares (else the
        model is refused)?"""
        return self._independence(seed)[0]

    def _independence(self, seed: int) -> tuple[bool, bool]:
        """``normalized.independence``: (each sample's variances, and their data part at a
        fixed point, proved independent modulo squares)."""
        from .analyses.normalized import independence
        cache = self.__dict__.setdefault("_independence_cache", {})
        if seed not in cache:
            report("certifying the normalized groups")
            cache[seed] = independence(self.program, seed)
        return cache[seed]

    def _refuse_normalized_dependence(self):
        from .analyses.normalized import call_place
        function, line, column = call_place(self._program)
        raise UnsupportedError(f"{function}(): the variances of the normalized groups could "
                               "not be proved independent modulo squares: a variance that "
                               "is a square (a group of two entries a, b has ((a - b)/2)^2, "
                               "and s = 2/|a - b| is piecewise: normalize at least three), "
                               "or one that is a constant times a square times others "
                               "(layernorm(e) beside layernorm(2*e): write the value once)", file=self.ast.source_name,
                               line=line, column=column)

    def count_laws(self, seed: int = 0, list_features: bool | None = None) -> CountResult:
        """N = D - dim Lie(W)(theta) at a random point chosen by ``seed``.

        ``list_features`` (default: when the expansion is small) also reports the
        number of features.
        """
        if self.normalized:
            return CountResult(self.name, self.flow.describe(), self.dim, None, 0,
                               self.lie_count(seed), NO_FEATURES)
        estimate = estimate_terms(self.program)
        if list_features is None:
            list_features = self._lists_features()
        features = len(self.expansion.features) if list_features else None
        return CountResult(self.name, self.flow.describe(), self.dim, features, estimate,
                           self.lie_count(seed))

    def laws(self, degree: int = 2, seed: int = 0, engine: str = "linear",
             basis: str = "natural") -> LawsResult:
        """A basis of the polynomial laws of degree <= ``degree``, exact and verified.

        ``engine``: 'linear', the linear ansatz solved block by block (``laws.py``), or
        'syzygy', syzygies then curl-free vectors (``syzygy_laws.py``, needs Singular): two
        algorithms, one normal form, so the same basis.
        ``basis``: 'natural' (default), the space split by monomial support and each
        block made sparse (``analyses/natural_basis.py``: per-neuron balance laws, the
        entries of Gram differences), or 'echelon', the engines' reduced echelon form.
        Both span the same space.

        >>> parse("param a, b\\noutput a*b").laws(2, engine="syzygy").strings()
        ['a^2 - b^2']
        >>> model = parse("layers 1 -> 1 relu bias -> 1 relu bias -> 1")
        >>> model.laws(2).strings()       # one balance law per neuron
        ['W1[0,0]^2 + b1[0]^2 - W2[0,0]^2', 'W2[0,0]^2 + b2[0]^2 - W3[0,0]^2']
        >>> model.laws(2, basis="echelon").strings()[0]     # their sum: the echelon form
        'W1[0,0]^2 + b1[0]^2 + b2[0]^2 - W3[0,0]^2'
        """
        if degree < 1:
            raise ValueError("degree must be at least 1")
        if engine not in ("linear", "syzygy"):
            raise ValueError(f"unknown law engine '{engine}' (linear or syzygy)")
        if basis not in BASES:
            raise ValueError(f"unknown basis '{basis}' ({' or '.join(BASES)})")
        if self.normalized:     # no features: a sampled system, its own bounds
            return self._normalized_laws(degree, seed, engine, basis)
        momentum = self.flow.momentum
        n = self.flow.state_dim(self.dim)
        estimate = guards.laws_bytes(self.program, degree, momentum)
        if 2 * guards.fields_bytes(self.program, momentum) >= estimate:
            self._require_fields(momentum)     # the fields, not the degree, are the size
        guards.require(estimate,
                       f"the degree-{degree} law system ({comb(n + degree, degree) - 1:,} "
                       "unknown coefficients)",
                       "use a lower --degree, or --by-block", self.memory_budget)
        ring = self.state_ring
        if engine == "syzygy":
            from .analyses.syzygy_laws import syzygy_laws   # loads Singular only when asked
            laws = syzygy_laws(self.polynomial_fields, ring, degree)
        else:
            laws = polynomial_laws(self.fields, ring, degree, seed=seed,
                                   memory_budget=self.memory_budget)
        echelon_blocks: tuple[int, ...] = ()
        if basis == "natural":
            report("making the basis sparse")
            natural = natural_basis(laws)
            laws, echelon_blocks = list(natural.laws), natural.echelon_blocks
        for h in laws:
            if first_violation(h, self.polynomial_fields) is not None:  # exact re-verification
                raise AssertionError(f"internal error: law {h} failed verification")
        lie = self.lie_count(seed)
        independent = independent_count(laws, ring.nvars(), seed, lie.prime)
        return LawsResult(self.name, degree, tuple(laws), self.state_names,
                          self.state_identifiers, independent, lie,
                          self.flow.time_note(self.variables), self.sympy_symbols,
                          self.variables.renamed, engine, self, basis, echelon_blocks)

    def _normalized_laws(self, degree: int, seed: int, engine: str, basis: str) -> LawsResult:
        """Laws sampled on the variety s^2 q = 1 and verified exactly (``normalized.py``)."""
        from .analyses.normalized import normalized_laws
        if engine != "linear":
            self._refuse_normalized("the syzygy engine")
        report(f"sampling the degree-{degree} law system on the variety")
        laws, failed = normalized_laws(self.program, degree, seed, self.law_verifier)
        if failed:
            report(f"{failed} candidate laws failed the exact check and are left out")
        echelon_blocks: tuple[int, ...] = ()
        if basis == "natural":     # combinations of verified laws: laws, by linearity
            report("making the basis sparse")
            natural = natural_basis(laws)
            laws, echelon_blocks = list(natural.laws), natural.echelon_blocks
        lie = self.lie_count(seed)
        independent = independent_count(laws, self.state_ring.nvars(), seed, lie.prime)
        return LawsResult(self.name, degree, tuple(laws), self.state_names,
                          self.state_identifiers, independent, lie,
                          self.flow.time_note(self.variables), self.sympy_symbols,
                          self.variables.renamed, engine, self, basis, echelon_blocks)

    def degree_hint(self, result: LawsResult, suggest: str = "--degree {}") -> str | None:
        """When the laws found do not reach N: the degree this flow's laws are expected
        at (a momentum flow's time factor raises it), else the next degree to try.

        >>> model = parse("layers 2 -> 3 -> 2\\nflow momentum tau=1", "m")  # N = 3 (THEORY.md B.3)
        >>> print(model.degree_hint(model.laws(2)))
        no law of degree <= 2 reaches N = 3: heavy-ball momentum's laws carry the time factor e^t, one degree above their part in (theta, theta'), so they are expected from degree 3 on: try --degree 3
        """
        metric = bool(self.flow.mirror) or bool(self._program.metrics)
        return degree_hint(self.flow, metric, result.degree, result.count, result.independent,
                           result.lie.laws, self.state_names[0], suggest)

    def block_laws(self, degree: int = 2, seed: int = 0, jobs: int | None = 1, scheduler=None):
        """Laws of each block of interacting parameter tensors (``blocks.py``); ``jobs``
        local processes or a Dask ``scheduler`` run the blocks (same result)."""
        from .analyses.blocks import block_laws
        return block_laws(self, degree, seed=seed, jobs=jobs, scheduler=scheduler)

    def parse_polynomial(self, text: str):
        """A polynomial in the parameters, written in the `.net` expression language."""
        program, node = compile_expression(self.ast, text, self.variant)
        size = estimate_size(program, ancestors(program, node))
        try:
            guards.require(guards.expansion_bytes(program, size), "expanding the expression "
                           f"(about {size.stored_terms:,} terms of degree up to {size.degree:,})",
                           "lower its exponents", self.memory_budget)
        except BudgetError as exc:
            raise exc.located("<expression>") from None
        return parameter_polynomial(program, node)

    def to_state(self, h):
        """A polynomial in the parameters as one in the state variables: the same for a
        gradient flow; theta_j is variable 1 + j of the phase space of a momentum flow.

        >>> model = parse("param a, b\\noutput a*b\\nflow momentum")
        >>> model.to_state(model.parse_polynomial("a^2 - b"))
        t1^2 - t2
        """
        if not self.flow.momentum:
            return h
        return self.state_ring.from_dict({(0,) + tuple(e) + (0,) * self.dim: c
                                          for e, c in h.terms()})

    def check(self, expression, seed: int = 0) -> CheckResult:
        """Is this polynomial in the parameters conserved for every data set and loss?

        ``expression``: `.net` text, or a SymPy expression (in the model's own symbols
        for a model from ``from_sympy``, else in symbols named ``W1_0_1``). ``seed``:
        the random points at which a model with normalization layers first looks for
        a generator that changes the polynomial (a certain "no" when one does).
        """
        if not isinstance(expression, str):
            expression = expression_text(expression, self)
        h = self.to_state(self.parse_polynomial(expression))
        if self.normalized:      # exact: derivatives reduced by s^2 q = 1
            if not self._independent(0):
                self._refuse_normalized_dependence()
            from .analyses.normalized import refutation
            refuted = refutation(self.program, h, seed)
            if refuted is not None:
                p, row, value = refuted
                where = (f"a generator v sampled at a point of the variety modulo p = {p} "
                         f"(seed {seed}, sample {row})")
                return CheckResult(expression, False, where, f"{value} (mod {p})", proof=(
                    f"broken by {where}: <grad h, v> = {value} (mod p), not 0, where every "
                    "law gives 0"))
            found = self.law_verifier.violation(h)
            if found is None and self.law_verifier.last == "local":
                return CheckResult(expression, True, proof="<grad h, grad y> = 0 exactly for "
                                   "every output entry y, by forward derivatives with the "
                                   "values that do not move as free symbols, reduced by "
                                   "s^2 q = 1")
            if found is None:
                return CheckResult(expression, True, proof="<grad h, grad y> = 0 exactly for "
                                   "every output entry y, reduced by s^2 q = 1")
            where, value = found
            text = self.exact_normalized.render(value, self.names)
            if len(text) > 400:
                text = text[:400] + f" ... ({len(value)} terms)"
            return CheckResult(expression, False, where + " (reduced by s^2 q = 1)", text)
        found = first_violation(h, self.polynomial_fields)
        if found is None:
            return CheckResult(expression, True)
        index, value = found
        features = self.expansion.features
        if index < len(features):
            feature = features[index]
            where = f"{feature.carrier}, coefficient of {feature.monomial}"
            psi = _abridged(feature.poly, self.names)
        else:
            where, psi = "the drift of the momentum flow", "(drift G)"
        return CheckResult(expression, False, where, _abridged(value, self.state_names), psi)

    def info(self) -> dict:
        """Parameters, D, data symbols, outputs, flow and (when cheap) features."""
        estimate = estimate_terms(self.program)
        features = len(self.expansion.features) if self._lists_features() else None
        return {
            "model": self.name, "flow": self.flow.describe(), "D": self.dim,
            "state_dim": 2 * self.dim + 1 if self.flow.kind == "momentum" else self.dim,
            "parameters": [{"name": p.name, "shape": list(p.shape), "size": p.size}
                           for p in self.program.params],
            "data": [{"name": d.name, "shape": list(d.shape), "kind": d.kind}
                     for d in self.program.data],
            "outputs": len(self.program.outputs), "features": features,
            "expansion_terms_estimate": estimate,
        }


def _abridged(poly, names, most: int = 6) -> str:
    """The polynomial, or its first terms and how many there are in all."""
    if len(poly) <= most:
        return render(poly, list(names))
    head = poly.context().from_dict(dict(list(poly.terms())[:most]))
    return f"{render(head, list(names))} + ... ({len(poly)} terms)"


def parse(text: str, name: str | None = None, memory_budget: int | str | None = None) -> Model:
    """Compile `.net` text; ``name`` is used in messages and as the default model name.

    ``memory_budget`` (bytes, or text like '2G') bounds what the model may build;
    a step that would exceed it raises BudgetError (``guards.py``).

    >>> parse("param a, b, c\\noutput a*b*c").dim
    3
    >>> parse("param a, b\\noutput a*b", name="net v1.2").name   # the name as given
    'net v1.2'
    >>> parse("param a, b\\noutput a*b", name="models/ab.net").name   # a file's stem
    'ab'
    """
    ast = dsl.parse(text, name)
    if (name is not None and not str(name).endswith(".net")
            and not any(isinstance(s, dsl.ModelStmt) for s in ast.statements)):
        # a name that is not a model file's is the model's default name as it stands (a
        # file's default is its stem, DSL.md); a 'model' line in the text wins
        ast = dsl.Program((dsl.ModelStmt(str(name), dsl.Pos(1, 1)),) + ast.statements,
                          ast.source_name)
    model = Model(ast, memory_budget)
    model.source_text = text
    return model


def load(path: str | Path, memory_budget: int | str | None = None) -> Model:
    """Read and compile a `.net` file.

    >>> load("/no/such.net")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ModelFileError: /no/such.net: cannot read the file (No such file or directory)
    """
    text = dsl.read_model_text(path)
    model = Model(dsl.parse(text, str(path)), memory_budget)
    model.source_text = text
    return model
