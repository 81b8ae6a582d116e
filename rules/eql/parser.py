"""Parse EQL text (Elasticsearch dialect) into :mod:`rules.eql.ast` nodes.

The Lark LALR parser is built once per process; the transformer runs inline during the parse
(no recursion over the tree), so deeply nested input cannot overflow the stack here.
Verification errors Elasticsearch reports at parse time (unknown function, wrong arity, single
quotes, ``=`` for ``==``, unsupported pipes, ``join``...) are raised as :class:`EqlError` /
:class:`EqlSyntaxError` with the line and column of the offending token.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import lark
from lark import Token, Transformer

from . import ast
from .errors import EqlError, EqlSyntaxError

# name -> (min args, max args or None, allows the ~ form)
FUNCTIONS: dict[str, tuple[int, int | None, bool]] = {
    "add": (2, 2, False),
    "between": (3, 4, True),
    "cidrMatch": (2, None, False),
    "concat": (1, None, False),
    "divide": (2, 2, False),
    "endsWith": (2, 2, True),
    "indexOf": (2, 3, True),
    "length": (1, 1, False),
    "modulo": (2, 2, False),
    "multiply": (2, 2, False),
    "number": (1, 2, False),
    "startsWith": (2, 2, True),
    "string": (1, 1, False),
    "stringContains": (2, 2, True),
    "substring": (2, 3, False),
    "subtract": (2, 2, False),
}
_CANONICAL = {name.lower(): name for name in FUNCTIONS}

_TIME_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_MAX_DEPTH = 200  # Elasticsearch stops parsing deeper trees too
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_UNICODE_ESCAPE = re.compile(r"u\{([0-9a-fA-F]{1,8})\}")


def _pos(tok) -> tuple[int, int]:
    if isinstance(tok, Token) and tok.line is not None:
        return tok.line, tok.column
    return 1, 1


class _Builder(Transformer):
    """Turns parse-tree reductions into AST nodes (used inline by the LALR parser)."""

    def _fail(self, tok, message: str, syntax: bool = True):
        line, col = _pos(tok)
        cls = EqlSyntaxError if syntax else EqlError
        raise cls(message, line, col)

    # ---- constants ------------------------------------------------------------
    def string(self, items):
        (tok,) = items
        return ast.Literal(self._unescape(tok))

    def raw_string(self, items):
        return ast.Literal(str(items[0])[3:-3])

    def single_quoted(self, items):
        self._fail(
            items[0], "Use double quotes [\"] to define string literals, not single quotes [']"
        )

    def qmark_string(self, items):
        self._fail(
            items[0], 'Use triple double quotes ["""] to define unescaped string literals, not [?]'
        )

    def number(self, items):
        (tok,) = items
        if tok.type == "INT":
            return ast.Literal(int(tok))
        return ast.Literal(float(tok))

    def true(self, _):
        return ast.Literal(True)

    def false(self, _):
        return ast.Literal(False)

    def null(self, _):
        return ast.Literal(None)

    def _unescape(self, tok) -> str:
        body = str(tok)[1:-1]
        if "\\" not in body:
            return body
        out = []
        i = 0
        n = len(body)
        while i < n:
            c = body[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            nxt = body[i + 1] if i + 1 < n else ""
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            m = _UNICODE_ESCAPE.match(body, i + 1)
            if m:
                code = int(m.group(1), 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    self._fail(tok, f"Invalid unicode character code [{m.group(1)}]")
                out.append(chr(code))
                i = m.end()
                continue
            line, col = _pos(tok)
            raise EqlSyntaxError(f"Unexpected character escaped [\\{nxt}]", line, col + 1 + i)
        return "".join(out)

    # ---- fields and functions -------------------------------------------------
    def field(self, items):
        optional = False
        parts = []
        for it in items:
            if it.type == "OPTIONAL":
                optional = True
            elif it.type == "QUOTED_NAME":
                parts.append(str(it)[1:-1].replace("``", "`"))
            else:
                parts.append(str(it))
        path: list[str] = []
        for p in parts:
            # a back-quoted name may itself hold dots: it names the same dotted path
            path.extend(p.split(".") if p else [p])
        return ast.Field(tuple(path), optional)

    def function_call(self, items):
        tok = items[0]
        args = tuple(items[1:])
        raw = str(tok)
        insensitive = raw.endswith("~")
        base = raw[:-1] if insensitive else raw
        name = _CANONICAL.get(base.lower())
        if name is None:
            self._fail(tok, f"Unknown function [{raw}]", syntax=False)
        lo, hi, tilde = FUNCTIONS[name]
        if insensitive and not tilde:
            self._fail(tok, f"Function [{name}] has no case-insensitive [~] form", syntax=False)
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = str(lo) if lo == hi else f"{lo}.." + ("" if hi is None else str(hi))
            self._fail(
                tok,
                f"Function [{raw}] takes {want} arguments, {len(args)} given",
                syntax=False,
            )
        return ast.FunctionCall(name, args, insensitive)

    # ---- operators -------------------------------------------------------------
    def or_op(self, items):
        left, _, right = items
        ops = (*left.operands, right) if isinstance(left, ast.Or) else (left, right)
        return ast.Or(ops)

    def and_op(self, items):
        left, _, right = items
        ops = (*left.operands, right) if isinstance(left, ast.And) else (left, right)
        return ast.And(ops)

    def not_op(self, items):
        return ast.Not(items[1])

    def compare(self, items):
        left, op, right = items
        return ast.Comparison(str(op), left, right)

    def bad_assign(self, items):
        self._fail(items[1], "Use == instead of =")

    def in_op(self, items):
        expr = items[0]
        negated = False
        i = 1
        if isinstance(items[i], Token) and items[i].type == "NOT":
            negated = True
            i += 1
        insensitive = items[i].type == "IN_INS"
        return ast.InSet(expr, tuple(items[i + 1 :]), insensitive, negated)

    def match_kw(self, items):
        return items[0]

    def match_op(self, items):
        expr, op = items[0], items[1]
        pats = items[2:]
        values = []
        others = []
        for p in pats:
            if isinstance(p, ast.Literal) and isinstance(p.value, str):
                values.append(p.value)
            elif str(op) == ":" and isinstance(p, ast.Literal) and p.value is not None:
                others.append(p)  # `pid : 4` is plain equality with a non-string constant
            else:
                self._fail(op, f"[{op}] requires string constants on its right-hand side", False)
        if others:
            eqs = [ast.Comparison("==", expr, p) for p in others]
            if values:
                eqs.insert(0, ast.StringMatch("wildcard", expr, tuple(values), True))
            return eqs[0] if len(eqs) == 1 else ast.Or(tuple(eqs))
        kind = "regex" if str(op).startswith("regex") else "wildcard"
        insensitive = str(op) == ":" or str(op).endswith("~")
        if kind == "regex":
            for v in values:
                try:
                    re.compile(v)
                except re.error as exc:
                    self._fail(op, f"Invalid regular expression [{v}]: {exc}", syntax=False)
        return ast.StringMatch(kind, expr, tuple(values), insensitive)

    def arith(self, items):
        left, op, right = items
        return ast.Arithmetic(str(op), left, right)

    def unary_op(self, items):
        op, operand = items
        if str(op) == "+":
            return operand
        if isinstance(operand, ast.Literal) and type(operand.value) in (int, float):
            return ast.Literal(-operand.value)
        return ast.Negate(operand)

    # ---- queries ------------------------------------------------------------------
    def event_filter(self, items):
        cat, _where, cond = items
        if cat.type == "ANY":
            category = None
        elif cat.type == "STRING":
            category = self._unescape(cat)
        elif cat.type == "RAW_STRING":
            category = str(cat)[3:-3]
        elif cat.type == "QUOTED_NAME":
            category = str(cat)[1:-1].replace("``", "`")
        else:
            category = str(cat)
        return ast.EventFilter(category, cond)

    def event_query(self, items):
        return ast.EventQuery(items[0])

    def join_keys(self, items):
        return ("keys", tuple(items[1:]))

    def time_value(self, items):
        num = items[0].value
        unit_tok = items[1] if len(items) > 1 else None
        if unit_tok is None:
            self._fail(None, "No time unit specified for maxspan", syntax=False)
        unit = str(unit_tok)
        if unit not in _TIME_UNITS:
            self._fail(unit_tok, f"Unrecognized time unit [{unit}] in [maxspan]", syntax=False)
        if type(num) is not int:
            self._fail(unit_tok, f"Decimal time interval [{num}] not supported", syntax=False)
        if num <= 0:
            self._fail(unit_tok, "A positive maxspan value is required", syntax=False)
        return num * _TIME_UNITS[unit]

    def seq_params(self, items):
        return ("maxspan", items[-1])

    def header_by_with(self, items):
        keys = items[0][1]
        maxspan = items[1][1] if len(items) > 1 else None
        return ("header", keys, maxspan)

    def header_with_by(self, items):
        if len(items) > 1:
            self._fail(items[0], "Please specify sequence [by] before [with] not after")
        return ("header", (), items[0][1])

    def seq_term(self, items):
        missing = False
        keys: tuple = ()
        runs = 1
        i = 0
        first = items[0]
        if isinstance(first, Token) and first.type == "MISSING":
            missing = True
            i = 1
        flt = items[i]
        i += 1
        rest = items[i:]
        for j, it in enumerate(rest):
            if isinstance(it, tuple) and it[0] == "keys":
                keys = it[1]
            elif isinstance(it, Token) and it.type == "NAME":
                if str(it) != "runs":
                    self._fail(it, f"Unrecognized parameter [{it}]; only [runs] is supported")
                value = rest[j + 1].value
                if not isinstance(value, int) or value < 1:
                    self._fail(it, "A positive runs value is required")
                if value > 100:
                    self._fail(it, "A query cannot be repeated more than 100 times")
                runs = value
        return ast.SequenceTerm(flt, keys, runs, missing)

    def until_clause(self, items):
        return ("until", items[1])

    def sequence(self, items):
        tok = items[0]
        shared: tuple = ()
        maxspan = None
        terms = []
        until = None
        for it in items[1:]:
            if isinstance(it, tuple) and it[0] == "header":
                shared, maxspan = it[1], it[2]
            elif isinstance(it, tuple) and it[0] == "until":
                until = it[1]
            elif isinstance(it, ast.SequenceTerm):
                terms.append(it)
        expanded = []
        for t in terms:
            if t.runs > 1:
                expanded.extend([ast.SequenceTerm(t.filter, t.keys, 1, t.missing)] * t.runs)
            else:
                expanded.append(t)
        if len(expanded) < 2:
            self._fail(tok, "A sequence requires a minimum of 2 queries, found [1]", syntax=False)
        if all(t.missing for t in expanded):
            self._fail(tok, "A sequence requires at least one positive event query", False)
        if until is not None and until.missing:
            self._fail(tok, "An until query cannot be a missing event", False)
        if until is not None and until.runs != 1:
            self._fail(tok, "An until query cannot be repeated with [runs]", False)
        nkeys = {len(t.keys) for t in expanded}
        if until is not None:
            nkeys.add(len(until.keys))
        if len(nkeys) > 1:
            self._fail(
                tok,
                "Inconsistent number of join keys specified: every query needs the same number",
                syntax=False,
            )
        terms_out = tuple(
            ast.SequenceTerm(t.filter, shared + t.keys, 1, t.missing) for t in expanded
        )
        until_out = None
        if until is not None:
            until_out = ast.SequenceTerm(until.filter, shared + until.keys, 1, False)
        return ast.Sequence(terms_out, maxspan, until_out, shared)

    def sample_term(self, items):
        keys = items[1][1] if len(items) > 1 else ()
        return ast.SequenceTerm(items[0], keys)

    def sample(self, items):
        tok = items[0]
        shared: tuple = ()
        terms = []
        for it in items[1:]:
            if isinstance(it, tuple) and it[0] == "keys":
                shared = it[1]
            else:
                terms.append(it)
        if len(terms) < 2:
            self._fail(tok, "A sample requires a minimum of 2 queries, found [1]", syntax=False)
        if len(terms) > 5:
            self._fail(tok, f"A sample must contain at most 5 queries, found [{len(terms)}]", False)
        if len({len(t.keys) for t in terms}) > 1:
            self._fail(
                tok,
                "Inconsistent number of join keys specified: every query needs the same number",
                syntax=False,
            )
        return ast.Sample(tuple(ast.SequenceTerm(t.filter, shared + t.keys) for t in terms), shared)

    def join(self, items):
        self._fail(items[0], "Queries using [join] are not supported", syntax=False)

    def pipe(self, items):
        name_tok = items[0]
        name = str(name_tok)
        if name not in ("head", "tail"):
            self._fail(name_tok, f"Pipe [{name}] is not supported", syntax=False)
        args = items[1:]
        if (
            len(args) != 1
            or not isinstance(args[0], ast.Literal)
            or type(args[0].value) is not int
            or args[0].value < 0
        ):
            self._fail(name_tok, f"Pipe [{name}] requires one non-negative integer", False)
        return ast.Pipe(name, args[0].value)

    def start(self, items):
        return ast.Statement(items[0], tuple(items[1:]))


@functools.cache
def _grammar_text() -> str:
    return (Path(__file__).with_name("eql.lark")).read_text()


@functools.cache
def _parser() -> lark.Lark:
    return lark.Lark(
        _grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=False,
        maybe_placeholders=False,
        transformer=_Builder(),
    )


_TERMINAL_NAMES = {
    "NAME": "identifier",
    "TILDE_NAME": "function~",
    "QUOTED_NAME": "`identifier`",
    "STRING": "string",
    "RAW_STRING": "string",
    "INT": "integer",
    "DECIMAL": "number",
    "COMP_OP": "comparison",
    "ADD_OP": "+/-",
    "MUL_OP": "*,/,%",
    "$END": "<EOF>",
}


def _expected(parser, names) -> str:
    """The tokens the parser would have accepted, readable and sorted (at most a dozen)."""
    shown = set()
    for name in names or ():
        if name in ("SINGLE_QUOTED", "QMARK_STRING"):
            continue
        text = _TERMINAL_NAMES.get(name)
        if text is None:
            try:
                pattern = parser.get_terminal(name).pattern
            except KeyError:
                continue
            text = f"'{pattern.value}'" if pattern.type == "str" else name.lower()
        shown.add(text)
    if not shown or len(shown) > 12:
        return ""
    return ", ".join(sorted(shown))


def _describe(tok) -> str:
    if tok is None:
        return "end of query"
    if getattr(tok, "type", None) == "$END":
        return "end of query"
    return f"[{tok}]"


def _skip_literal(text: str, i: int) -> int:
    """The index after the string, quoted name or comment starting at ``i`` (or ``i``)."""
    if text.startswith('"""', i):
        end = text.find('"""', i + 3)
        return len(text) if end < 0 else end + 3
    if text.startswith("//", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    if text.startswith("/*", i):
        end = text.find("*/", i + 2)
        return len(text) if end < 0 else end + 2
    quote = text[i]
    if quote not in "\"'`":
        return i
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and quote != "`":
            j += 2
            continue
        if c == quote or (c == "\n" and quote != "`"):
            return j + 1
        j += 1
    return len(text)


def _check_depth(text: str) -> None:
    """Reject brackets nested deeper than Elasticsearch allows, before Lark builds the tree."""
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "([":
            depth += 1
            if depth > _MAX_DEPTH:
                line = text.count("\n", 0, i) + 1
                col = i - (text.rfind("\n", 0, i) + 1) + 1
                raise EqlSyntaxError("query is nested too deeply", line, col, text)
        elif ch in ")]":
            depth -= 1
        elif ch in "\"'`/":
            j = _skip_literal(text, i)
            if j > i:
                i = j
                continue
        i += 1


def parse(text: str) -> ast.Statement:
    """Parse a whole query; raises :class:`EqlSyntaxError` / :class:`EqlError`."""
    if not isinstance(text, str):
        raise EqlError("the query must be a string")
    if not text.strip():
        raise EqlSyntaxError("empty query", 1, 1, text)
    _check_depth(text)
    parser = _parser()
    try:
        return parser.parse(text)
    except EqlError as exc:
        raise type(exc)(exc.reason, exc.line, exc.column, text) from None
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, EqlError):
            raise exc.orig_exc from None
        raise EqlError(f"invalid query: {exc.orig_exc}", 1, 1, text) from None
    except lark.exceptions.UnexpectedCharacters as exc:
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        raise EqlSyntaxError(
            f"token recognition error at: [{ch}]", exc.line, exc.column, text
        ) from None
    except lark.exceptions.UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            lines = text.splitlines() or [""]
            line, col = len(lines), len(lines[-1]) + 1
        else:
            line, col = exc.line, exc.column
        message = f"mismatched input {_describe(tok)}"
        expected = _expected(parser, exc.expected)
        if expected:
            message += f" expecting {{{expected}}}"
        raise EqlSyntaxError(message, line, col, text) from None
    except lark.exceptions.UnexpectedEOF:
        lines = text.splitlines() or [""]
        raise EqlSyntaxError(
            "unexpected end of query", len(lines), len(lines[-1]) + 1, text
        ) from None
    except lark.exceptions.LarkError as exc:
        raise EqlSyntaxError(f"invalid query: {exc}", 1, 1, text) from None
    except RecursionError:
        raise EqlSyntaxError("query is nested too deeply", 1, 1, text) from None
