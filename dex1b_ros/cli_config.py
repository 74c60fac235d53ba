"""Command-line flags from config dataclasses: every field settable, typed, documented.

:func:`add_config_args` adds one flag per field of a dataclass to an ``argparse`` parser:

- name: ``--field-name`` (underscores become dashes); fields of a nested dataclass get the
  dotted path, ``--model.latent``, ``--model.point-mlp``; ``aliases`` adds other spellings
  (old flags such as ``--object`` for ``objects``);
- type and parsing from the annotation: ``int``, ``float``, ``str``, ``Path``; ``bool`` as
  ``--flag`` / ``--no-flag``; ``Literal[...]`` as choices; ``X | None`` takes ``none``;
  ``tuple[X, ...]`` / ``list[X]`` take one or more values (repeating the flag adds to them);
  ``dict`` fields are left to YAML;
- help: the comment after the field in the dataclass source, and its default.

Flags default to "not given", so :func:`config_from_args` applies only the given ones on top
of a base config (the defaults, or one loaded from YAML), through
:func:`dex1b_ros.config_utils.from_dict`: the same type checks and ``__post_init__``
validation as YAML, with errors that name the field.

Example::

    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path)
    add_config_args(ap, TrainConfig)
    a = ap.parse_args(["--steps", "10", "--model.latent", "32"])
    cfg = config_from_args(TrainConfig, a, base=load_yaml(TrainConfig, a.config) if a.config else None)
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

from .config_utils import ConfigError, from_dict, to_dict

#: argparse ``dest`` prefix of config flags (keeps them apart from a command's other options)
DEST_PREFIX = "cfg:"


@lru_cache(maxsize=None)
def field_comments(cls: type) -> dict[str, str]:
    """{field name: the ``# comment`` on its line(s)} of a dataclass, from its source ({} if none)."""
    try:
        src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
        tree = ast.parse(src)
    except (tokenize.TokenError, SyntaxError):
        return {}
    out: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                if line in comments:
                    out[node.target.id] = comments[line]
                    break
    return out


def _optional(tp) -> tuple[bool, Any]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return True, args[0]
    return False, tp


def _scalar(tp, optional: bool, flag: str):
    """argparse ``type`` callable for a scalar annotation."""
    base = {int: int, float: float, str: str, Path: str}.get(tp)
    if base is None:
        raise TypeError(f"{flag}: unsupported field type {tp!r}")

    def parse(s: str):
        if optional and s.lower() in ("none", "null"):
            return None
        return base(s)
    parse.__name__ = getattr(tp, "__name__", "value")  # shown by argparse in "invalid int value"
    return parse


def _fmt_default(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return " ".join(map(str, v)) if v else "(empty)"
    return "none" if v is None else str(v)


def add_config_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *, prefix: str = "",
                    aliases: dict[str, list[str]] | None = None, exclude: tuple[str, ...] = (),
                    title: str | None = None) -> None:
    """Add a flag for every init field of dataclass ``cls`` (nested dataclasses recursively).

    ``aliases``: {dotted field path: extra option strings}; ``exclude``: dotted field paths
    not to expose. ``title``: argument-group title (default: the class name)."""
    aliases = aliases or {}
    if isinstance(parser, argparse.ArgumentParser):
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        group = parser.add_argument_group(title or (f"{cls.__name__} ({prefix.rstrip('.')})" if prefix else
                                                    cls.__name__), doc or None)
    else:
        group = parser
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    default_obj = _defaults(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        path = prefix + f.name
        if path in exclude:
            continue
        tp = hints[f.name]
        optional, inner = _optional(tp)
        default = getattr(default_obj, f.name) if default_obj is not None else None
        if dataclasses.is_dataclass(inner):
            add_config_args(parser, inner, prefix=path + ".", aliases=aliases, exclude=exclude)
            continue
        flag = "--" + path.replace("_", "-")
        names = [flag, *aliases.get(path, [])]
        help_ = comments.get(f.name, "")
        kw: dict[str, Any] = {"dest": DEST_PREFIX + path, "default": argparse.SUPPRESS}
        origin = typing.get_origin(inner)
        if inner is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif origin is typing.Literal:
            choices = list(typing.get_args(inner))
            kw["choices"] = choices
            kw["type"] = type(choices[0]) if choices else str
            kw["metavar"] = "{" + ",".join(map(str, choices)) + "}"
        elif origin in (list, tuple):
            args = typing.get_args(inner)
            if origin is tuple and args and args[-1] is not Ellipsis:
                kw["nargs"] = len(args)
                elem = args[0]
            else:
                kw["nargs"] = "+"
                kw["action"] = "extend"
                elem = args[0] if args else str
            kw["type"] = _scalar(_optional(elem)[1], False, flag)
            kw["metavar"] = f.name.upper().rstrip("S") or "VALUE"
        elif origin is dict or inner is dict:
            continue  # mappings: YAML only
        else:
            kw["type"] = _scalar(inner, optional, flag)
            kw["metavar"] = f.name.upper()
        if default_obj is not None:
            help_ = f"{help_} (default: {_fmt_default(default)})" if help_ else f"default: {_fmt_default(default)}"
        group.add_argument(*names, help=help_.replace("%", "%%"), **kw)


def _defaults(cls: type):
    try:
        return cls()
    except (TypeError, ConfigError):  # required fields: no defaults to show
        return None


def given_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """{dotted field path: value} of the config flags given on the command line."""
    return {k[len(DEST_PREFIX):]: v for k, v in vars(args).items() if k.startswith(DEST_PREFIX)}


def config_from_args(cls: type, args: argparse.Namespace, base=None, prefix: str = ""):
    """``base`` (default ``cls()``) with the config flags of ``args`` applied (see
    :func:`add_config_args`), validated like YAML (:class:`ConfigError` naming the field)."""
    data = to_dict(base if base is not None else cls())
    for path, value in given_overrides(args).items():
        if prefix:
            if not path.startswith(prefix):
                continue
            path = path[len(prefix):]
        *parents, leaf = path.split(".")
        node = data
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = str(value) if isinstance(value, Path) else value
    return from_dict(cls, data)


def parse_config(parser: argparse.ArgumentParser, cls: type, args: argparse.Namespace, base=None):
    """:func:`config_from_args`, reporting a bad value as a usage error (exit 2) naming the flag."""
    try:
        return config_from_args(cls, args, base)
    except ConfigError as e:
        field, _, why = str(e).partition(": ")
        if field in given_overrides(args):
            parser.error(f"argument --{field.replace('_', '-')}: {why}")
        parser.error(str(e))


def add_training_args(parser: argparse.ArgumentParser, cls: type, *, title: str, config_help: str) -> None:
    """The flags the training commands share (``dex1b train``, ``dex1b train-evaluator``): ``--config``
    (a YAML of ``cls``; ``config_help`` says which), ``--hands-dir``, ``--threads``, ``--quiet``, then
    every field of ``cls`` (:func:`add_config_args` under ``title``). Parse with
    :func:`parse_training_args`."""
    parser.add_argument("--config", type=Path, default=None, help=config_help)
    parser.add_argument("--hands-dir", type=Path, default=None, help="directory holding hand model folders")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_args(parser, cls, title=title)


def parse_training_args(parser: argparse.ArgumentParser, cls: type, argv) -> tuple[argparse.Namespace, Any]:
    """Parse ``argv`` of a parser built with :func:`add_training_args`, set torch's CPU threads, and
    build the ``cls`` config: ``--config`` YAML first, then the field flags (errors name the flag)."""
    import torch

    from .config_utils import load_yaml
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args, parse_config(parser, cls, args, base=load_yaml(cls, args.config) if args.config else None)


__all__ = ["DEST_PREFIX", "add_config_args", "add_training_args", "config_from_args", "field_comments",
           "given_overrides", "parse_config", "parse_training_args"]
