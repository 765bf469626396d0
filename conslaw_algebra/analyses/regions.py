"""Sign regions: the model's meaning where a ReLU or max-pool argument holds no data.

relu(p(theta)) is p where p > 0 and 0 where p < 0 (DSL.md section 2), so such a model
is polynomial on each region cut out by the signs of these polynomials, and the
compiler gives one Program per region (``compile.compile_variants``). On a region
that is not empty, an open set, the generic rank of polynomial vector fields is the
rank over the field, so counts and laws computed from that region's Program hold on
a dense open part of it. Whether a region is empty is a question of real algebra;
we search a seeded sample of rational points for a witness, verified exactly, and
say when none was found (the region may then be empty, and the answer vacuous).
Where it stops winning: regions so thin that random points miss them (reported as
"no witness found", never as empty).

>>> import conslaw_algebra as ca
>>> model = ca.parse("param a, b, c\\ninput x\\noutput (a + relu(b)) * c * x")
>>> [r.description for r in model.sign_regions]
['b > 0 (relu at line 3, col 13)', '-b > 0 (relu at line 3, col 13)']
>>> [r.model.count_laws().laws for r in model.sign_regions]
[2, 2]
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from flint import fmpq

from ..exact.render import render
from ..exact.sparse import ring_polynomial
from ..language.expand import theta_ring

WITNESS_TRIES = 400


@dataclass(frozen=True)
class SignRegion:
    """One region: its description (conditions p > 0, with the call each comes from),
    the model compiled on it, and a rational point of the region when one was found.

    >>> import conslaw_algebra as ca
    >>> region = ca.parse("param a, b\\ninput x\\noutput relu(a) * b * x").sign_regions[1]
    >>> region.description, region.witness is not None
    ('-a > 0 (relu at line 3, col 8)', True)
    """

    description: str
    model: object
    witness: tuple | None

    @property
    def where(self) -> str:
        """The call the first condition comes from."""
        return self.description.partition("(")[2].rstrip(")")


def _polynomials(variant):
    program = variant.program
    ring = theta_ring(program.num_params)
    return [(ring_polynomial(ring, terms), where) for terms, where in variant.conditions]


def describe_region(variant) -> str:
    """The region's conditions as text, in the parameters' names.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_variants
    >>> describe_region(compile_variants(parse("param a\\ninput x\\noutput relu(a - 1) * a * x"))[0])
    'a - 1 > 0 (relu at line 3, col 8)'
    """
    names = [n for p in variant.program.params for n in p.entry_names("text")]
    return " and ".join(f"{render(poly, names)} > 0 ({where})"
                        for poly, where in _polynomials(variant)) or "everywhere"


def region_witnesses(variants, seed: int = 0) -> list[tuple | None]:
    """For each variant, a rational point where all its conditions hold, or None.

    Coordinates u = tanh(a) are drawn in (-1, 1) and u = sigmoid(a) in (0, 1).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_variants
    >>> variants = compile_variants(parse("param a\\ninput x\\noutput relu(-a^2 - 1) * x"))
    >>> [w is None for w in region_witnesses(variants)]     # -a^2 - 1 > 0 has no point
    [True, False]
    """
    rng = random.Random(seed)
    out = []
    for variant in variants:
        conditions = [poly for poly, _ in _polynomials(variant)]
        ranges = [p.coordinate for p in variant.program.params for _ in range(p.size)]
        found = None
        for attempt in range(WITNESS_TRIES):
            point = tuple(_draw(rng, attempt, kind) for kind in ranges)
            values = [fmpq(v.numerator, v.denominator) for v in point]
            if all(poly(*values) > 0 for poly in conditions):
                found = point
                break
        out.append(found)
    return out


def _draw(rng: random.Random, attempt: int, coordinate: str | None) -> Fraction:
    """Small integers first, then rationals of growing size; inside a coordinate's range."""
    if coordinate == "tanh":
        return Fraction(rng.randint(-99, 99), 100)
    if coordinate == "sigmoid":
        return Fraction(rng.randint(1, 99), 100)
    scale = 1 + attempt // 50
    return Fraction(rng.randint(-3 * scale * scale, 3 * scale * scale), scale)
