"""A recipe's path pattern: ``{case}/{case}_flair.nii.gz``, ``**/volume-{n}.nii``,
``PANCREAS_{id}/*/*/`` (a trailing ``/``: a folder, a DICOM series).

Paths are relative to the data set's root, ``/``-separated. ``{name}`` is a field: the
text it matches is part of the case's identity, and every occurrence in one path must
match the same text. ``*`` matches any text inside one folder or file name, ``**`` (a
whole path part) any number of folders. Nothing else is special.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Tuple

DEFAULT_FIELD_REGEX = r"[^/]+"
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r"(\{[^{}]*\}|\*\*|\*|[{}])")
_TEMPLATE_TOKEN = re.compile(r"(\{[^{}]*\}|[{}])")


class PatternError(ValueError):
    """A pattern that cannot be read; the message says why."""


class Pattern:
    """A parsed path pattern."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text.strip("/"):
            raise PatternError("must be a non-empty path such as '{case}/imaging.nii.gz'")
        if text.startswith("/") or "\\" in text:
            raise PatternError(f"{text!r}: must be a relative path with '/' separators")
        self.text = text
        self.is_folder = text.endswith("/")
        parts = text.rstrip("/").split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise PatternError(f"{text!r}: empty, '.' or '..' path parts are not allowed")
        self._tokens: List[Tuple[str, str]] = []  # (kind, text): "lit", "field", "star", "stars"
        for i, part in enumerate(parts):
            if i and self._tokens[-1][0] != "stars":
                self._tokens.append(("lit", "/"))
            if part == "**":  # "**/" may match no folder at all, so it owns its "/"
                self._tokens.append(("stars", "**/" if i + 1 < len(parts) else "**"))
                continue
            for piece in _TOKEN.split(part):
                if not piece:
                    continue
                if piece == "**":
                    raise PatternError(f"{text!r}: '**' must be a whole path part ('a/**/b')")
                if piece in ("{", "}"):
                    raise PatternError(f"{text!r}: unmatched {piece!r}")
                if piece == "*":
                    self._tokens.append(("star", piece))
                elif piece.startswith("{"):
                    name = piece[1:-1]
                    if not _FIELD_NAME.match(name):
                        raise PatternError(f"{text!r}: {piece} is not a field name (letters, digits, _)")
                    self._tokens.append(("field", name))
                else:
                    self._tokens.append(("lit", piece))
        self.fields: Tuple[str, ...] = tuple(dict.fromkeys(t for k, t in self._tokens if k == "field"))

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"

    def regex(self, field_regexes: Mapping[str, str], bound: Optional[Mapping[str, str]] = None) -> "re.Pattern[str]":
        """A regex matching whole relative paths; fields in ``bound`` match their text only,
        the others are named groups (repeats must match the first)."""
        bound = bound or {}
        out, seen = [], set()
        for kind, text in self._tokens:
            if kind == "lit":
                out.append(re.escape(text))
            elif kind == "star":
                out.append(r"[^/]*")
            elif kind == "stars":
                out.append(r"(?:[^/]+/)*" if text == "**/" else r"(?:[^/]+/)*[^/]+")
            elif text in bound:
                out.append(re.escape(bound[text]))
            elif text in seen:
                out.append(f"(?P={text})")
            else:
                seen.add(text)
                out.append(f"(?P<{text}>{field_regexes.get(text, DEFAULT_FIELD_REGEX)})")
        return re.compile("".join(out) + r"\Z")

    def literal(self, bound: Mapping[str, str]) -> Optional[str]:
        """The one path this pattern names once ``bound`` fills its fields, or None when a
        wildcard or an unfilled field remains."""
        prefix, complete = self._fixed(bound)
        return prefix if complete else None

    def literal_prefix(self, bound: Mapping[str, str]) -> str:
        """The longest leading text that ``bound`` fixes: every match starts with it."""
        return self._fixed(bound)[0]

    def _fixed(self, bound: Mapping[str, str]) -> Tuple[str, bool]:
        """The leading text ``bound`` fixes, and whether it is the whole pattern."""
        out = []
        for kind, text in self._tokens:
            if kind == "lit":
                out.append(text)
            elif kind == "field" and text in bound:
                out.append(bound[text])
            else:
                return "".join(out), False
        return "".join(out), True

    def format(self, fields: Mapping[str, str]) -> str:
        """The pattern with ``fields`` filled in and wildcards left as they are (for messages)."""
        return "".join(fields.get(t, "{" + t + "}") if k == "field" else t for k, t in self._tokens)


def fill(template: str, fields: Mapping[str, str]) -> str:
    """A name template (``{case}_frame{frame}``) with its fields filled in."""
    return "".join(fields[t[1:-1]] if k == "field" else t for k, t in _template_tokens(template))


def template_fields(template: str) -> Tuple[str, ...]:
    """The field names a name template uses; PatternError when it is not a template."""
    return tuple(t[1:-1] for k, t in _template_tokens(template) if k == "field")


def _template_tokens(template: str) -> List[Tuple[str, str]]:
    tokens = []
    for piece in _TEMPLATE_TOKEN.split(template):
        if piece in ("{", "}"):
            raise PatternError(f"{template!r}: unmatched {piece!r}")
        if piece.startswith("{") and len(piece) > 1:
            if not _FIELD_NAME.match(piece[1:-1]):
                raise PatternError(f"{template!r}: {piece} is not a field name (letters, digits, _)")
            tokens.append(("field", piece))
        elif piece:
            tokens.append(("lit", piece))
    return tokens


def field_regex_error(regex: str) -> Optional[str]:
    """Why ``regex`` cannot be a field's regex (it is placed inside a path's regex), or None."""
    try:
        compiled = re.compile(regex)
        re.compile(f"a/(?P<field>{regex})/b")  # as placed in a path: global flags fail here
    except re.error as exc:
        return f"not a regular expression ({exc})"
    if compiled.groups:
        return "must not hold groups; use (?:...)"
    if compiled.match(""):
        return "must not match empty text"
    if _has_anchor(regex):
        return "must not hold anchors (^, $, \\A, \\Z, \\b): it matches a part of a path, as a whole"
    return None


def _has_anchor(regex: str) -> bool:
    """Whether the parsed regex holds an AT (anchor) node anywhere."""
    try:
        from re import _parser as parser  # Python 3.11+
    except ImportError:  # Python 3.10
        import sre_parse as parser

    def walk(node) -> bool:
        if isinstance(node, (list, tuple, parser.SubPattern)):
            return any(walk(item) for item in node)
        return node is parser.AT

    return walk(parser.parse(regex))


def match_fields(regex: "re.Pattern[str]", path: str) -> Optional[Dict[str, str]]:
    m = regex.match(path)
    return None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}
