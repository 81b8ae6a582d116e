"""Compile AST expressions to closures ``f(event) -> value`` (no AST walking per event).

Boolean expressions return ``True``, ``False`` or ``None`` (null, three-valued logic). Field
comparisons against constants use "any element" semantics for multi-valued fields, as
Elasticsearch's term/range/wildcard queries do; other expressions read a multi-valued field's
first doc value.
"""

from __future__ import annotations

import re

from . import ast
from . import functions as fn
from .errors import EqlError
from .fields import field_getter
from .timestamps import epoch_millis

__all__ = ["compile_category", "compile_expr", "compile_predicate", "field_getter"]

_eq = fn.eq
_order = fn.order


# ---- expressions ------------------------------------------------------------------------


def compile_expr(node):
    """A closure evaluating ``node`` on one event."""
    c = _COMPILERS.get(type(node))
    if c is None:
        raise EqlError(f"cannot compile {type(node).__name__}")
    return c(node)


def _literal(node: ast.Literal):
    v = node.value
    return lambda e: v


def _field(node: ast.Field):
    return field_getter(node.path)


def _not(node: ast.Not):
    f = _compile_bool(node.operand)

    def not_(e):
        v = f(e)
        if v is True:
            return False
        if v is False:
            return True
        return None

    return not_


def _truth(v):
    if v is True or v is False or v is None:
        return v
    if type(v) is list:
        vals = fn.flat(v)
        if not vals:
            return None
        return any(x is True for x in vals)
    return False


_BOOL_FUNCTIONS = frozenset({"cidrMatch", "endsWith", "startsWith", "stringContains"})


def _is_boolean(node) -> bool:
    """True when ``node`` always evaluates to True, False or None (never a list or a value)."""
    if isinstance(node, ast.Comparison | ast.InSet | ast.StringMatch | ast.And | ast.Or | ast.Not):
        return True
    if isinstance(node, ast.FunctionCall):
        return node.name in _BOOL_FUNCTIONS
    return isinstance(node, ast.Literal) and node.value in (True, False, None)


def _compile_bool(node):
    """A closure returning True, False or None (three-valued) for any node."""
    f = compile_expr(node)
    if _is_boolean(node):
        return f
    return lambda e: _truth(f(e))


def _junction(node: ast.And | ast.Or):
    """Three-valued ``and``/``or``: the first operand equal to the decisive value (False for
    ``and``, True for ``or``) decides; otherwise null when an operand was null."""
    fs = tuple(_compile_bool(o) for o in node.operands)
    decisive = isinstance(node, ast.Or)
    otherwise = not decisive

    def junction(e):
        result = otherwise
        for f in fs:
            v = f(e)
            if v is decisive:
                return decisive
            if v is None:
                result = None
        return result

    return junction


_ORDER_OPS = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _comparison(node: ast.Comparison):
    op, left, right = node.op, node.left, node.right
    # keep the constant on the right
    if isinstance(left, ast.Literal) and (
        not isinstance(right, ast.Literal) or (left.value is None and op in ("==", "!="))
    ):
        left, right, op = right, left, _FLIP[op]
    if isinstance(right, ast.Literal) and right.value is None and op in ("==", "!="):
        f = compile_expr(left)
        is_null = fn.is_null
        if op == "==":
            return lambda e: is_null(f(e))
        return lambda e: not is_null(f(e))
    if isinstance(right, ast.Literal):
        if type(right.value) is str and DATE_LIKE.match(right.value):
            return _compare_date(op, compile_expr(left), right.value)
        return _compare_const(op, compile_expr(left), right.value, isinstance(left, ast.Field))
    lf, rf = compile_expr(left), compile_expr(right)
    first = fn.first
    if op in ("==", "!="):
        neg = op == "!="

        def cmp_eq(e):
            a, b = first(lf(e)), first(rf(e))
            if a is None or b is None:
                # two absent fields are equal: Elasticsearch folds unmapped ?fields to null
                if a is None and b is None:
                    return not neg
                return None
            return _eq(a, b) != neg

        return cmp_eq
    test = _ORDER_OPS[op]

    def cmp_ord(e):
        a, b = first(lf(e)), first(rf(e))
        if a is None or b is None:
            return None
        c = _order(a, b)
        return None if c is None else test(c)

    return cmp_ord


DATE_LIKE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?\Z"
)


def _date_ms(v):
    if type(v) is str and not DATE_LIKE.match(v):
        return None
    return epoch_millis(v)


def _compare_date(op, f, text):
    """Compare against a date literal: numbers (epoch ms) and ISO strings compare as instants,
    as an Elasticsearch ``date`` field does; other strings compare as plain text."""
    const_ms = _date_ms(text)
    plain = _compare_const(op, f, text, True)
    if const_ms is None:
        return plain
    test = _ORDER_OPS.get(op)

    def one(x):
        ms = _date_ms(x) if type(x) is str or fn.is_number(x) else None
        if ms is None:
            return None
        if op == "==":
            return ms == const_ms
        if op == "!=":
            return ms != const_ms
        return test((ms > const_ms) - (ms < const_ms))

    def cmp_date(e):
        v = f(e)
        if v is None:
            return None
        vals = fn.flat(v)
        if not vals:
            return None
        results = [one(x) for x in vals]
        if op == "!=":
            return None if None in results else all(results)
        if True in results:
            return True
        return None if all(r is None for r in results) else False

    return cmp_date


def _compare_const(op, f, const, is_field):
    if const is None:  # ordering against null is null
        return lambda e: None
    if op in ("==", "!="):
        neg = op == "!="
        ct = type(const)

        if ct is str and not neg:

            def cmp_const_eq(e):
                v = f(e)
                if type(v) is str:
                    return v == const
                if v is None:
                    return None
                if type(v) is list:
                    vals = fn.flat(v)
                    if not vals:
                        return None
                    for x in vals:  # noqa: SIM110 - faster than any() over a generator
                        if x == const or (type(x) is not str and _eq(x, const)):
                            return True
                    return False
                return _eq(v, const)

            return cmp_const_eq

        def cmp_const_eq(e):
            v = f(e)
            if v is None:
                return None
            if type(v) is ct:
                return (v == const) != neg
            if type(v) is list:
                vals = fn.flat(v)
                if not vals:
                    return None
                for x in vals:
                    if _eq(x, const):
                        return not neg
                return neg
            return _eq(v, const) != neg

        return cmp_const_eq
    test = _ORDER_OPS[op]

    def cmp_const_ord(e):
        v = f(e)
        if v is None:
            return None
        if type(v) is list:
            vals = fn.flat(v)
            if not vals:
                return None
            res = None
            for x in vals:
                c = _order(x, const)
                if c is not None:
                    if test(c):
                        return True
                    res = False
            return res
        c = _order(v, const)
        return None if c is None else test(c)

    return cmp_const_ord


def _inset(node: ast.InSet):
    f = compile_expr(node.expr)
    neg = node.negated
    ins = node.case_insensitive
    consts = [v.value for v in node.values if isinstance(v, ast.Literal)]
    dynamic = [compile_expr(v) for v in node.values if not isinstance(v, ast.Literal)]
    consts = [c for c in consts if c is not None]
    str_set = frozenset((c.lower() if ins else c) for c in consts if type(c) is str)
    others = [c for c in consts if type(c) is not str]

    def member(x, dyn_vals):
        if type(x) is str:
            key = x.lower() if ins else x
            if key in str_set:
                return True
        for c in others:
            if _eq(x, c):
                return True
        for d in dyn_vals:
            if type(x) is str and type(d) is str and ins:
                if x.lower() == d.lower():
                    return True
            elif _eq(x, d):
                return True
        if type(x) is not str and str_set:
            s = fn.to_string(x)
            if (s.lower() if ins else s) in str_set:
                return True
        return False

    if not dynamic and not others:

        def in_fast(e):
            v = f(e)
            if v is None:
                return None
            if type(v) is str:
                return ((v.lower() if ins else v) in str_set) != neg
            vals = fn.flat(v)
            if not vals:
                return None
            return any(member(x, ()) for x in vals) != neg

        return in_fast

    def in_(e):
        v = f(e)
        vals = fn.flat(v)
        if not vals:
            return None
        dyn_vals = [d for d in (fn.first(g(e)) for g in dynamic) if d is not None]
        return any(member(x, dyn_vals) for x in vals) != neg

    return in_


def _string_match(node: ast.StringMatch):
    f = compile_expr(node.expr)
    if node.kind == "regex":
        m = fn.regex_matcher(node.patterns, node.case_insensitive)
        if m is None:
            raise EqlError(f"invalid regular expression in {list(node.patterns)!r}")
    else:
        m = fn.wildcard_matcher(node.patterns, node.case_insensitive)
    to_string = fn.to_string
    if (
        node.kind == "wildcard"
        and node.case_insensitive
        and all("*" not in p and "?" not in p for p in node.patterns)
    ):
        exact = frozenset(p.lower() for p in node.patterns)

        def match_exact(e):
            v = f(e)
            if type(v) is str:
                return v.lower() in exact
            if v is None:
                return None
            vals = fn.flat(v)
            if not vals:
                return None
            for x in vals:  # noqa: SIM110 - faster than any() over a generator
                if (x if type(x) is str else to_string(x)).lower() in exact:
                    return True
            return False

        return match_exact

    def match(e):
        v = f(e)
        if type(v) is str:
            return m(v)
        if v is None:
            return None
        vals = fn.flat(v)
        if not vals:
            return None
        for x in vals:  # noqa: SIM110 - a plain loop is faster than any() over a generator
            if m(x if type(x) is str else to_string(x)):
                return True
        return False

    return match


_ARITH = {
    "+": fn.f_add,
    "-": fn.f_subtract,
    "*": fn.f_multiply,
    "/": fn.f_divide,
    "%": fn.f_modulo,
}


def _arith(node: ast.Arithmetic):
    op = _ARITH[node.op]
    lf, rf = compile_expr(node.left), compile_expr(node.right)
    return lambda e: op(lf(e), rf(e))


def _negate(node: ast.Negate):
    f = compile_expr(node.operand)

    def neg(e):
        v = fn.first(f(e))
        if type(v) is not int and type(v) is not float:
            v = fn.to_number(v)  # numeric strings; None for anything else
            if v is None:
                return None
        return -v

    return neg


def _function(node: ast.FunctionCall):
    impl = fn.FUNCTION_IMPLS[node.name]
    args = tuple(compile_expr(a) for a in node.args)
    if node.name == "cidrMatch" and all(isinstance(a, ast.Literal) for a in node.args[1:]):
        match = fn.cidr_matcher([a.value for a in node.args[1:]])  # networks parsed once
        a0 = args[0]
        return lambda e: match(a0(e))
    if node.case_insensitive or node.name in fn.INSENSITIVE_CAPABLE:
        ins = node.case_insensitive
        if node.name == "between":
            if len(args) == 3:
                a0, a1, a2 = args
                return lambda e: impl(a0(e), a1(e), a2(e), False, ins)
            a0, a1, a2, a3 = args
            return lambda e: impl(a0(e), a1(e), a2(e), a3(e), ins)
        if node.name == "indexOf":
            if len(args) == 2:
                a0, a1 = args
                return lambda e: impl(a0(e), a1(e), 0, ins)
            a0, a1, a2 = args
            return lambda e: impl(a0(e), a1(e), a2(e), ins)
        a0, a1 = args
        if isinstance(node.args[1], ast.Literal) and type(node.args[1].value) is str:
            return _fast_string_predicate(node.name, a0, node.args[1].value, ins)
        return lambda e: impl(a0(e), a1(e), ins)
    if len(args) == 1:
        (a0,) = args
        return lambda e: impl(a0(e))
    if len(args) == 2:
        a0, a1 = args
        return lambda e: impl(a0(e), a1(e))
    return lambda e: impl(*[a(e) for a in args])


def _fast_string_predicate(name, getter, sub, ins):
    if ins:
        sub = sub.lower()
    if name == "startsWith":

        def test(s):
            return s.startswith(sub)
    elif name == "endsWith":

        def test(s):
            return s.endswith(sub)
    else:

        def test(s):
            return sub in s

    to_string = fn.to_string

    def pred(e):
        v = getter(e)
        if v is None:
            return None
        if type(v) is str:
            return test(v.lower() if ins else v)
        vals = fn.flat(v)
        if not vals:
            return None
        for x in vals:
            x = x if type(x) is str else to_string(x)
            if test(x.lower() if ins else x):
                return True
        return False

    return pred


_COMPILERS = {
    ast.Literal: _literal,
    ast.Field: _field,
    ast.Not: _not,
    ast.And: _junction,
    ast.Or: _junction,
    ast.Comparison: _comparison,
    ast.InSet: _inset,
    ast.StringMatch: _string_match,
    ast.Arithmetic: _arith,
    ast.Negate: _negate,
    ast.FunctionCall: _function,
}


def compile_predicate(node, first=None):
    """A predicate ``event -> bool`` true only when the condition is true (not null).

    ``and``/``or`` here only ask "is it true?", which needs no three-valued bookkeeping; only
    below a ``not`` are operands evaluated three-valued. ``first`` (e.g. the category check)
    runs before everything else.
    """
    leaves = list(node.operands) if isinstance(node, ast.And) else [node]
    fs = [first] if first is not None else []
    fs.extend(_predicate(x) for x in leaves)
    fs = [f for f in fs if f is not _ALWAYS]
    if any(f is _NEVER for f in fs):
        return _NEVER
    if not fs:
        return _ALWAYS
    if len(fs) == 1:
        return fs[0]
    if len(fs) == 2:
        a, b = fs
        return lambda e: a(e) is True and b(e) is True
    if len(fs) == 3:
        a, b, c = fs
        return lambda e: a(e) is True and b(e) is True and c(e) is True
    fs = tuple(fs)

    def all_(e):
        for f in fs:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if f(e) is not True:
                return False
        return True

    return all_


def _ALWAYS(e):
    return True


def _NEVER(e):
    return False


def _predicate(node):
    """A closure whose result ``is True`` exactly when ``node`` evaluates to true."""
    if isinstance(node, ast.Literal):
        return _ALWAYS if node.value is True else _NEVER
    if isinstance(node, ast.And):
        return compile_predicate(node)
    if isinstance(node, ast.Or):
        fs = tuple(_predicate(x) for x in node.operands)

        def any_(e):
            for f in fs:  # noqa: SIM110 - a plain loop is faster than any() over a generator
                if f(e) is True:
                    return True
            return False

        return any_
    if isinstance(node, ast.Not):
        f = _compile_bool(node.operand)
        return lambda e: f(e) is False
    f = compile_expr(node)
    if _is_boolean(node):
        return f
    return lambda e: _truth(f(e))


def compile_category(category: str | None, category_field: str):
    """A predicate for the event category (``None`` = ``any``): exact, any element of a list."""
    if category is None:
        return None
    get = field_getter(tuple(category_field.split(".")))

    def cat(e):
        v = get(e)
        if v == category:
            return True
        if type(v) is list:
            return category in v
        return False

    return cat
