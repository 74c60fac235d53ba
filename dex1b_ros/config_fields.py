"""Field metadata of config dataclasses, declared once and used twice (no ROS here).

* :class:`Range`: the numeric bounds of a field. A dataclass lists them in a ``RANGES``
  class variable; its ``__post_init__`` checks them with :func:`check_ranges` (a
  ``ConfigError`` naming the field), and the ROS node exports the same bounds as the
  ``integer_range`` / ``floating_point_range`` of the parameter's descriptor.
* :func:`field_docs`: each field's trailing comment (with its continuation comment lines) is
  its description, e.g. ``voxel_size: float = 0.003   # m, voxel cell; 0 = off`` ->
  ``"m, voxel cell; 0 = off"``. Units lead the comment; ``-,`` (no unit) is dropped.
"""
from __future__ import annotations

import ast
import functools
import inspect
import io
import math
import textwrap
import tokenize
from dataclasses import dataclass

from .config_utils import fail


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric field; ``None`` = unbounded on that side; ``*_open`` = the bound itself is excluded."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, v) -> bool:
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        if self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)):
            return False
        return True

    def describe(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"

    def closed(self, integer: bool) -> tuple[float, float]:
        """Inclusive (lo, hi) for a ROS range: open float bounds move to the next float inwards,
        open integer bounds by one; unbounded ends become the type's limits."""
        big = 2 ** 63 - 1 if integer else math.inf
        lo = -big if self.lo is None else self.lo
        hi = big if self.hi is None else self.hi
        if integer:
            return int(lo) + (1 if self.lo_open else 0), int(hi) - (1 if self.hi_open else 0)
        lo = math.nextafter(float(lo), math.inf) if self.lo_open else float(lo)
        hi = math.nextafter(float(hi), -math.inf) if self.hi_open else float(hi)
        return lo, hi


def ge(lo) -> Range:
    return Range(lo=lo)


def gt(lo) -> Range:
    return Range(lo=lo, lo_open=True)


def between(lo, hi, lo_open: bool = False, hi_open: bool = False) -> Range:
    return Range(lo, hi, lo_open, hi_open)


def check_ranges(obj, ranges: dict[str, Range]) -> None:
    """Raise ``ConfigError("<field>: must be >= 1, got 0")`` for the first field out of its range."""
    for name, r in ranges.items():
        v = getattr(obj, name)
        if not r.contains(v):
            fail(name, f"must be {r.describe()}, got {v}")


@functools.lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """{field name: its comment} for the annotated fields of class ``cls`` (see the module doc).

    A field's comment is the comment on its line(s) plus the comment-only lines right below it
    that are indented deeper than the field (continuations); a comment at the field's own
    indentation starts a free block and belongs to no field."""
    src = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, tuple[int, str]] = {}   # line -> (column, text)
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = (tok.start[1], tok.string.lstrip("#").strip())
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    body = ast.parse(src).body[0].body
    out: dict[str, str] = {}
    for s in body:
        if not (isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)):
            continue
        parts = [comments[ln][1] for ln in range(s.lineno, s.end_lineno + 1) if ln in comments]
        ln = s.end_lineno + 1
        while ln in comments and ln not in code_lines and comments[ln][0] > s.col_offset:
            parts.append(comments[ln][1])
            ln += 1
        text = " ".join(p for p in parts if p)
        if text.startswith("-,"):
            text = text[2:].strip()
        out[s.target.id] = text
    return out
