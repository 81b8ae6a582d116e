"""The EQL abstract syntax tree: frozen dataclasses, built by :mod:`rules.eql.parser`.

The tree is what the compiler turns into closures and what the rule-set prefilter walks to
find each query's event categories and the literal values it requires. Guarantees:

* ``And`` / ``Or`` are flattened n-ary nodes (``a and b and c`` is one ``And`` of three).
* Function names are canonical (``startsWith``), with ``case_insensitive`` for the ``~`` form.
* ``Literal.value`` is ``str``, ``int``, ``float``, ``bool`` or ``None``.
* ``EventFilter.category`` is ``None`` for ``any``.
* Every expression node is hashable and compares by value.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- expressions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Field:
    """A field reference; ``path`` is the dotted name split on dots (``("process", "name")``).

    ``optional`` is true for ``?field``: Elasticsearch then treats an unmapped field as null
    instead of rejecting the query. We have no mapping, so every field behaves as optional.
    """

    path: tuple[str, ...]
    optional: bool = False

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right`` with ``op`` one of ``== != < <= > >=`` (``==`` is case-sensitive)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InSet:
    """``expr in (values)``; ``in~`` sets ``case_insensitive``; ``not in`` sets ``negated``."""

    expr: Expr
    values: tuple[Expr, ...]
    case_insensitive: bool = False
    negated: bool = False


@dataclass(frozen=True, slots=True)
class StringMatch:
    """``expr : patterns`` (kind ``"wildcard"``, always case-insensitive), ``like``/``like~``
    (kind ``"wildcard"``), ``regex``/``regex~`` (kind ``"regex"``). ``patterns`` are literal
    strings (``*``/``?`` wildcards for the wildcard kind); any one matching is enough."""

    kind: str
    expr: Expr
    patterns: tuple[str, ...]
    case_insensitive: bool


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left op right`` with ``op`` one of ``+ - * / %``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expr


@dataclass(frozen=True, slots=True)
class FunctionCall:
    name: str
    args: tuple[Expr, ...]
    case_insensitive: bool = False


Expr = Literal | Field | Not | And | Or | Comparison | InSet | StringMatch | Arithmetic
Expr = Expr | Negate | FunctionCall


# ---- queries -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFilter:
    """``category where condition``; ``category`` is ``None`` for ``any``."""

    category: str | None
    condition: Expr


@dataclass(frozen=True, slots=True)
class EventQuery:
    filter: EventFilter


@dataclass(frozen=True, slots=True)
class SequenceTerm:
    """One ``[filter] by keys with runs=N`` of a sequence; ``missing`` for ``![...]``.

    ``keys`` holds the sequence-wide ``by`` keys followed by this term's own keys.
    """

    filter: EventFilter
    keys: tuple[Expr, ...] = ()
    runs: int = 1
    missing: bool = False


@dataclass(frozen=True, slots=True)
class Sequence:
    """``sequence [by keys] [with maxspan=…] terms [until term]``; ``maxspan_ms`` is None when
    absent. Each term's ``keys`` already include the shared ``by`` keys."""

    terms: tuple[SequenceTerm, ...]
    maxspan_ms: float | None = None
    until: SequenceTerm | None = None
    shared_keys: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Sample:
    """``sample [by keys] terms``; each term's ``keys`` include the shared keys."""

    terms: tuple[SequenceTerm, ...]
    shared_keys: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Pipe:
    """``| head N`` or ``| tail N`` (the only pipes Elasticsearch runs)."""

    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Statement:
    query: EventQuery | Sequence | Sample
    pipes: tuple[Pipe, ...] = ()


def walk(node):
    """Yield ``node`` and every node below it (expressions, filters, terms), depth first,
    without recursion (safe on deep trees)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Statement):
            stack.append(n.query)
        elif isinstance(n, EventQuery):
            stack.append(n.filter)
        elif isinstance(n, Sequence):
            stack.extend(reversed(n.terms))
            if n.until is not None:
                stack.append(n.until)
        elif isinstance(n, Sample):
            stack.extend(reversed(n.terms))
        elif isinstance(n, SequenceTerm):
            stack.extend(reversed(n.keys))
            stack.append(n.filter)
        elif isinstance(n, EventFilter):
            stack.append(n.condition)
        elif isinstance(n, Not | Negate):
            stack.append(n.operand)
        elif isinstance(n, And | Or):
            stack.extend(reversed(n.operands))
        elif isinstance(n, Comparison | Arithmetic):
            stack.extend((n.right, n.left))
        elif isinstance(n, InSet):
            stack.extend(reversed(n.values))
            stack.append(n.expr)
        elif isinstance(n, StringMatch):
            stack.append(n.expr)
        elif isinstance(n, FunctionCall):
            stack.extend(reversed(n.args))
