"""Mutant generation for the engine's C sources: a small C lexer and the
mutation operators (conformance/README.md, "The suite's strength").

A mutant replaces one token span of one file by other text on the same
line, so __LINE__, assert() texts and every other line keep their place and
a mutant whose machine code equals the original's is recognisable as
equivalent by comparing the built module.

Never mutated: comments, string and character literals, preprocessor lines,
the argument of YP_FAULT(...), and an `if (YP_FAULT(...) ...)` statement's
condition and body (the planted faults of cmake/YpFaults.cmake; the `else`
branch is ordinary code and is mutated).
"""
import dataclasses
import random
import re

# One lexer pass: skipped spans (comments, literals, preprocessor lines with
# their continuations) and the tokens mutation looks at.
_LEX = re.compile(r"""
    (?P<skip>/\*.*?\*/ | //[^\n]* | "(?:\\.|[^"\\\n])*" | '(?:\\.|[^'\\\n])*'
           | ^[ \t]*\#(?:\\\n|[^\n])* )
  | (?P<float>(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?[fFlL]?|\d+[eE][-+]?\d+[fFlL]?)
  | (?P<num>\b(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b)
  | (?P<ident>\b[A-Za-z_]\w*\b)
  | (?P<op><<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%<>=!&|^~?:;,.(){}\[\]])
  | (?P<ws>\s+)
  | (?P<other>.)
""", re.X | re.S | re.M)

RELATIONAL = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
LOGICAL = {"&&": "||", "||": "&&"}
# Statement starters that are not expression statements.
_KEYWORDS = {"if", "else", "for", "while", "do", "switch", "case", "default",
             "return", "break", "continue", "goto", "typedef", "struct",
             "union", "enum", "static", "const", "volatile", "extern",
             "register", "inline", "sizeof", "unsigned", "signed", "int",
             "char", "long", "short", "void", "float", "double", "_Bool",
             "bool", "size_t", "ssize_t", "Py_ssize_t"}


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One mutation: replace source[start:end] by `new` in `path`."""
    path: str        # relative to the repository root
    line: int
    start: int
    end: int
    operator: str    # relational, logical, negate, delete, constant, return
    old: str
    new: str

    @property
    def id(self):
        return f"{self.path}:{self.line}:{self.start}:{self.operator}"

    def describe(self):
        old = " ".join(self.old.split())
        new = " ".join(self.new.split())
        if len(old) > 70:
            old = old[:67] + "..."
        if len(new) > 70:
            new = new[:67] + "..."
        return f"{self.operator}: `{old}` -> `{new}`"

    def apply(self, source):
        assert "\n" not in self.new or self.new.count("\n") == self.old.count("\n")
        return source[:self.start] + self.new + source[self.end:]


def tokenize(source):
    """Significant tokens (no comments, literals, preprocessor, space)."""
    out = []
    for m in _LEX.finditer(source):
        kind = m.lastgroup
        if kind in ("skip", "ws"):
            continue
        out.append(Token(kind, m.group(), m.start(), m.end()))
    return out


def _match(tokens, i, open_, close):
    """Index of the token closing the bracket at tokens[i]."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].text == open_:
            depth += 1
        elif tokens[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced {open_} at offset {tokens[i].start}")


def _statement_end(tokens, i):
    """Index of the last token of the statement starting at tokens[i]."""
    if tokens[i].text == "{":
        return _match(tokens, i, "{", "}")
    if tokens[i].text in ("if", "while", "for", "switch"):
        j = _match(tokens, i + 1, "(", ")")
        end = _statement_end(tokens, j + 1)
        if tokens[i].text == "if" and end + 1 < len(tokens) \
                and tokens[end + 1].text == "else":
            return end  # the else branch is not part of the fault body
        return end
    depth = 0
    for j in range(i, len(tokens)):
        t = tokens[j].text
        if t in "([{":
            depth += 1
        elif t in ")]}":
            depth -= 1
        elif t == ";" and depth == 0:
            return j
    return len(tokens) - 1


def fault_spans(tokens):
    """Token index ranges never mutated: YP_FAULT(...) arguments and the
    condition and body of every `if (YP_FAULT(...)...)`."""
    spans = []
    for i, t in enumerate(tokens):
        if t.text == "YP_FAULT" and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            spans.append((i, _match(tokens, i + 1, "(", ")")))
        if t.text == "if" and i + 2 < len(tokens) and tokens[i + 1].text == "(" \
                and tokens[i + 2].text == "YP_FAULT":
            close = _match(tokens, i + 1, "(", ")")
            spans.append((i, _statement_end(tokens, close + 1)))
    return spans


def _line(source, offset):
    return source.count("\n", 0, offset) + 1


def _same_line(source, a, b):
    return "\n" not in source[a:b]


def mutants_of(path, source):
    """Every mutant of one file, in source order."""
    tokens = tokenize(source)
    skip = set()
    for a, b in fault_spans(tokens):
        skip.update(range(a, b + 1))
    out = []

    def add(op, a, b, new, ti):
        if ti in skip:
            return
        start, end = tokens[a].start, tokens[b].end
        out.append(Mutant(path, _line(source, start), start, end, op,
                          source[start:end], new))

    depth_fn = 0  # brace depth: only mutate inside function bodies
    for i, t in enumerate(tokens):
        prev = tokens[i - 1].text if i else ""
        if t.text == "{":
            depth_fn += 1
        elif t.text == "}":
            depth_fn -= 1
        if depth_fn == 0:
            continue
        if t.kind == "op" and t.text in RELATIONAL:
            add("relational", i, i, RELATIONAL[t.text], i)
        elif t.kind == "op" and t.text in LOGICAL:
            add("logical", i, i, LOGICAL[t.text], i)
        elif t.text in ("if", "while") and tokens[i + 1].text == "(":
            close = _match(tokens, i + 1, "(", ")")
            a, b = i + 2, close - 1
            if b >= a and i + 2 not in skip:
                start, end = tokens[a].start, tokens[b].end
                out.append(Mutant(path, _line(source, start), start, end,
                                  "negate", source[start:end],
                                  "!(" + source[start:end] + ")"))
        elif t.kind == "num" and prev not in ("[",):
            digits = re.sub(r"[uUlL]+$", "", t.text)
            v = int(digits, 16) if digits[:2] in ("0x", "0X") else int(digits, 10)
            sign = prev == "-" and i > 1 and tokens[i - 2].kind == "op" \
                and tokens[i - 2].text not in (")", "]")
            if sign:
                # -1 -> 0, -N -> -(N+1)
                new = "0" if v == 1 else f"-{v + 1}"
                add("constant", i - 1, i, new, i)
            else:
                add("constant", i, i, "1" if v == 0 else ("0" if v == 1 else str(v + 1)), i)
        elif t.text == "return" and tokens[i + 1].text != ";":
            end = _statement_end(tokens, i)
            expr = source[tokens[i + 1].start:tokens[end - 1].end]
            repl = {"NULL": None, "true": "false", "false": "true",
                    "0": None, "-1": None, "1": None}
            if expr in repl:
                continue  # literal returns: the constant operator covers them
            if not _same_line(source, tokens[i].start, tokens[end].end):
                continue
            if expr.startswith("Py_NewRef(") or expr.startswith("Py_XNewRef("):
                add("return", i + 1, end - 1, "NULL", i)
            elif re.fullmatch(r"[A-Za-z_]\w*\(.*\)", expr, re.S):
                # a call's result: return 0 instead (a status or a pointer)
                add("return", i + 1, end - 1, "0", i)
        elif t.kind == "ident" and t.text not in _KEYWORDS \
                and prev in (";", "{", "}") and tokens[i + 1].text in ("(", "->", ".", "="):
            # An expression statement: a call or an assignment.  Deleting
            # it keeps the line (the `;` stays).
            end = _statement_end(tokens, i)
            if tokens[end].text != ";":
                continue
            if not _same_line(source, tokens[i].start, tokens[end].end):
                continue
            body = source[t.start:tokens[end].start]
            if tokens[i + 1].text == "(" or re.search(r"(?<![=!<>])=(?!=)", body):
                add("delete", i, end - 1, "", i)
    return out


def all_mutants(root, files):
    """Every mutant of `files` (paths relative to `root`), sorted."""
    out = []
    for rel in sorted(files):
        with open(f"{root}/{rel}", encoding="utf-8") as f:
            out.extend(mutants_of(rel, f.read()))
    return out


def sample(mutants, n, seed):
    """n mutants chosen by `seed`: the same seed and sources, the same list."""
    if n is None or n >= len(mutants):
        return list(mutants)
    return random.Random(seed).sample(mutants, n)
