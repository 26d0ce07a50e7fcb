"""DynamoDB condition and projection expressions: a tokenizer, a recursive-
descent parser and an evaluator over items in AttributeValue form
({"S": "x"}, {"N": "1"}, {"M": {...}}, ...).

Supported: comparisons (= <> < <= > >=), BETWEEN, IN, AND, OR, NOT,
parentheses, attribute_exists, attribute_not_exists, attribute_type,
begins_with, contains, size; document paths with #name placeholders, dots and
[n] indexes; :value placeholders. Placeholders given but not used, and used but
not given, are rejected as DynamoDB does. Reserved words are not enforced."""
import re
from decimal import Decimal, InvalidOperation


class ExpressionError(Exception):
    """Becomes a ValidationException."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<cmp><>|<=|>=|=|<|>)
  | (?P<punct>[(),.\[\]])
  | (?P<name>\#[A-Za-z0-9_]+)
  | (?P<value>:[A-Za-z0-9_]+)
  | (?P<number>[0-9]+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_\-]*)
""", re.VERBOSE)

_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN"}
_FUNCTIONS = {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size"}


def _tokens(text):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpressionError(f"Invalid expression: Syntax error; token: \"{text[pos:pos + 10]}\", "
                                  f"near: \"{text[max(0, pos - 5):pos + 5]}\"")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        val = m.group()
        if kind == "ident" and val.upper() in _KEYWORDS:
            kind, val = "kw", val.upper()
        out.append((kind, val))
    out.append(("end", ""))
    return out


class Expressions:
    """Parses the expressions of one request against its ExpressionAttributeNames
    and ExpressionAttributeValues, and checks every placeholder is used."""

    def __init__(self, names, values):
        self.names = names or {}
        self.values = values or {}
        self.used_names = set()
        self.used_values = set()

    def finish(self):
        unused = sorted(set(self.names) - self.used_names)
        if unused:
            raise ExpressionError("Value provided in ExpressionAttributeNames unused in expressions: "
                                  f"keys: {{{', '.join(unused)}}}")
        unused = sorted(set(self.values) - self.used_values)
        if unused:
            raise ExpressionError("Value provided in ExpressionAttributeValues unused in expressions: "
                                  f"keys: {{{', '.join(unused)}}}")

    # -- parsing ---------------------------------------------------------
    def condition(self, text):
        """-> fn(item) -> bool"""
        self.toks, self.i = _tokens(text), 0
        if self._peek()[0] == "end":
            raise ExpressionError("Invalid ConditionExpression: The expression can not be empty;")
        fn = self._or()
        if self._peek()[0] != "end":
            raise ExpressionError(f"Invalid ConditionExpression: Syntax error; token: \"{self._peek()[1]}\"")
        return fn

    def projection(self, text):
        """-> [path, ...] (each a list of str names and int indexes)"""
        self.toks, self.i = _tokens(text), 0
        paths = [self._path()]
        while self._accept("punct", ","):
            paths.append(self._path())
        if self._peek()[0] != "end":
            raise ExpressionError(f"Invalid ProjectionExpression: Syntax error; token: \"{self._peek()[1]}\"")
        return paths

    def _peek(self):
        return self.toks[self.i]

    def _next(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _accept(self, kind, val=None):
        tok = self._peek()
        if tok[0] == kind and (val is None or tok[1] == val):
            self.i += 1
            return True
        return False

    def _expect(self, kind, val=None):
        if not self._accept(kind, val):
            raise ExpressionError(f"Invalid expression: Syntax error; token: \"{self._peek()[1] or '<EOF>'}\"")

    def _or(self):
        left = self._and()
        while self._accept("kw", "OR"):
            right = self._and()
            left = (lambda a, b: lambda item: a(item) or b(item))(left, right)
        return left

    def _and(self):
        left = self._not()
        while self._accept("kw", "AND"):
            right = self._not()
            left = (lambda a, b: lambda item: a(item) and b(item))(left, right)
        return left

    def _not(self):
        if self._accept("kw", "NOT"):
            inner = self._not()
            return lambda item: not inner(item)
        return self._primary()

    def _primary(self):
        tok = self._peek()
        if tok == ("punct", "("):
            self._next()
            inner = self._or()
            self._expect("punct", ")")
            return inner
        if tok[0] == "ident" and tok[1] in _FUNCTIONS and tok[1] != "size" and \
                self.toks[self.i + 1] == ("punct", "("):
            return self._function()
        left = self._operand()
        tok = self._peek()
        if tok[0] == "cmp":
            self._next()
            right = self._operand()
            return (lambda op, a, b: lambda item: _compare(op, a(item), b(item)))(tok[1], left, right)
        if self._accept("kw", "BETWEEN"):
            lo = self._operand()
            self._expect("kw", "AND")
            hi = self._operand()
            return lambda item: _compare(">=", left(item), lo(item)) and _compare("<=", left(item), hi(item))
        if self._accept("kw", "IN"):
            self._expect("punct", "(")
            options = [self._operand()]
            while self._accept("punct", ","):
                options.append(self._operand())
            self._expect("punct", ")")
            return lambda item: any(_compare("=", left(item), o(item)) for o in options)
        raise ExpressionError(f"Invalid ConditionExpression: Syntax error; token: \"{tok[1] or '<EOF>'}\"")

    def _function(self):
        name = self._next()[1]
        self._expect("punct", "(")
        if name in ("attribute_exists", "attribute_not_exists"):
            path = self._path()
            self._expect("punct", ")")
            if name == "attribute_exists":
                return lambda item: _resolve(item, path) is not None
            return lambda item: _resolve(item, path) is None
        path = self._path()
        self._expect("punct", ",")
        arg = self._operand()
        self._expect("punct", ")")
        if name == "attribute_type":
            return lambda item: (_resolve(item, path) or {}).keys() == {(arg(item) or {}).get("S")}
        if name == "begins_with":
            def begins_with(item):
                have, want = _resolve(item, path), arg(item)
                if not have or not want or set(have) != set(want) or set(have) - {"S", "B"}:
                    return False
                t = next(iter(have))
                return have[t].startswith(want[t])
            return begins_with
        if name == "contains":
            def contains(item):
                have, want = _resolve(item, path), arg(item)
                if not have or not want:
                    return False
                t, v = next(iter(have.items()))
                wt, wv = next(iter(want.items()))
                if t == "S" and wt == "S":
                    return wv in v
                if t in ("SS", "NS", "BS") and wt == t[0]:
                    return wv in v
                if t == "L":
                    return any(_compare("=", e, want) for e in v)
                return False
            return contains
        raise ExpressionError(f"Invalid ConditionExpression: Invalid function name; function: {name}")

    def _operand(self):
        tok = self._peek()
        if tok[0] == "value":
            self._next()
            if tok[1] not in self.values:
                raise ExpressionError("Invalid ConditionExpression: An expression attribute value used in "
                                      f"expression is not defined; attribute value: {tok[1]}")
            self.used_values.add(tok[1])
            value = self.values[tok[1]]
            return lambda item: value
        if tok == ("ident", "size") and self.toks[self.i + 1] == ("punct", "("):
            self._next()
            self._next()
            path = self._path()
            self._expect("punct", ")")
            return lambda item: _size(_resolve(item, path))
        path = self._path()
        return lambda item: _resolve(item, path)

    def _path(self):
        parts = [self._name()]
        while True:
            if self._accept("punct", "."):
                parts.append(self._name())
            elif self._accept("punct", "["):
                tok = self._next()
                if tok[0] != "number":
                    raise ExpressionError("Invalid expression: a list index must be a number")
                parts.append(int(tok[1]))
                self._expect("punct", "]")
            else:
                return parts

    def _name(self):
        tok = self._next()
        if tok[0] == "name":
            if tok[1] not in self.names:
                raise ExpressionError("An expression attribute name used in the document path is not "
                                      f"defined; attribute name: {tok[1]}")
            self.used_names.add(tok[1])
            return self.names[tok[1]]
        if tok[0] == "ident":
            return tok[1]
        raise ExpressionError(f"Invalid expression: Syntax error; token: \"{tok[1] or '<EOF>'}\"")


def _resolve(item, path):
    """The AttributeValue at path in item (a top-level {name: AttributeValue}), or None."""
    cur = {"M": item}
    for part in path:
        if isinstance(part, int):
            if "L" not in cur or part >= len(cur["L"]):
                return None
            cur = cur["L"][part]
        else:
            if "M" not in cur or part not in cur["M"]:
                return None
            cur = cur["M"][part]
    return cur


def _size(av):
    if av is None:
        return None
    t, v = next(iter(av.items()))
    if t in ("S", "B", "SS", "NS", "BS", "L", "M"):
        n = len(v.encode()) if t == "S" else len(v)
        return {"N": str(n)}
    return None


def _number(text):
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _compare(op, a, b):
    if a is None or b is None:
        return False
    ta, va = next(iter(a.items()))
    tb, vb = next(iter(b.items()))
    if op in ("=", "<>"):
        if ta != tb:
            return op == "<>"
        if ta == "N":
            eq = _number(va) == _number(vb)
        elif ta in ("SS", "BS"):
            eq = set(va) == set(vb)
        elif ta == "NS":
            eq = {_number(x) for x in va} == {_number(x) for x in vb}
        else:
            eq = va == vb
        return eq if op == "=" else not eq
    if ta != tb or ta not in ("S", "N", "B"):
        return False
    if ta == "N":
        va, vb = _number(va), _number(vb)
    return {"<": va < vb, "<=": va <= vb, ">": va > vb, ">=": va >= vb}[op]


def project(item, paths):
    """The top-level attributes of item named by paths (callers refuse nested paths)."""
    return {path[0]: item[path[0]] for path in paths if path[0] in item}
