"""Names and ids of the classes of a case (SPEC section 5)."""

from __future__ import annotations

from collections import Counter
from typing import Dict, Mapping, Optional, Sequence, Set, Tuple

from .naming import format_class_id, pending_class_field

IGNORE = "ignore"  # a label so named is background (nnU-Net's ignore label)
# How a label value the data set does not name is called: label_{v} (the paper preset),
# or the release's "unknown" (SPEC section 7).
UNNAMED_STYLES = ("label", "unknown")
UNKNOWN = "unknown"


class ClassTable:
    """Names and class fields of label values (SPEC section 5).

    A class's id comes from ``class_ids`` (by label value), else ``class_map``
    (by class name, as in a release class mapping), else, when neither is
    given, is the label value. A class a given mapping does not know is pending:
    its id is handed out when the metadata is written. ``undeclared`` names label
    values that the data set does not declare (a label set's other class files,
    SPEC section 8): their ids are pending too.

    With ``unnamed="unknown"`` a value without a name is called ``unknown_{v}`` here, and
    plain ``unknown`` once the whole data set is known to hold one such value only: that
    is decided when the metadata is written, from the records, which keep the values so
    named (``unnamed_values``) and the name each class then takes (``sole_unknown``).
    """

    def __init__(self, class_names: Optional[Mapping[int, str]], class_ids: Optional[Mapping[int, int]],
                 class_map: Optional[Mapping[str, int]] = None, undeclared: Optional[Mapping[int, str]] = None,
                 unnamed: str = "label"):
        if unnamed not in UNNAMED_STYLES:
            raise ValueError(f"unnamed must be one of {', '.join(UNNAMED_STYLES)}, got {unnamed!r}")
        self._unnamed = unnamed
        self.unnamed_values: Set[int] = set()
        self.sole_unknown: Dict[str, str] = {}
        class_names = {int(v): str(n) for v, n in (class_names or {}).items()}
        counts = Counter(class_names.values())
        self._names = {v: (f"{n}_{v}" if counts[n] > 1 else n) for v, n in class_names.items()}
        self._undeclared = {int(v): str(n) for v, n in (undeclared or {}).items()}
        self._names.update(self._undeclared)
        self._ids = None if class_ids is None else {int(v): int(i) for v, i in class_ids.items()}
        self._map = None if class_map is None else {str(n): int(i) for n, i in class_map.items()}
        self.ignored = sorted(v for v, n in class_names.items() if n == IGNORE)
        declared_values = set(class_names) | set(self._ids or {})
        self.declared = {
            self.name(v): self.field(v) for v in sorted(declared_values) if v != 0 and v not in self.ignored
        }
        self.declared.update({n: format_class_id(i) for n, i in (self._map or {}).items()})
        known = [int(f) for f in self.declared.values() if not f.startswith("u")]
        known += [int(self.field(v)) for v in self.ignored if not self.field(v).startswith("u")]
        self.declared_max_id = max(known, default=-1)

    def name(self, value: int) -> str:
        if value in self._names:
            return self._names[value]
        return f"{self._unnamed}_{value}"

    def _note_unnamed(self, members: Sequence[int], name: str, union: bool) -> None:
        """Records the values named by the unknown rule, and the name this class takes when
        the data set holds no other (none when a declared class is called unknown)."""
        unnamed = [v for v in members if v not in self._names]
        if self._unnamed != UNKNOWN or not unnamed:
            return
        self.unnamed_values.update(unnamed)
        if UNKNOWN in self._names.values():
            return
        sole = lambda v: self._names.get(v, UNKNOWN)  # noqa: E731
        self.sole_unknown[name] = self._union_of(members, sole) if union else UNKNOWN

    def field(self, value: int) -> str:
        if value in self._undeclared:
            return self.field_of_name(self.name(value))
        if self._ids is not None and value in self._ids:
            return format_class_id(self._ids[value])
        return self.field_of_name(self.name(value), default=value)

    def field_of_name(self, name: str, default: Optional[int] = None) -> str:
        if self._map is not None and name in self._map:
            return format_class_id(self._map[name])
        if self._ids is None and self._map is None and default is not None:
            return format_class_id(default)
        return pending_class_field(name)

    def union_name(self, members: Sequence[int]) -> str:
        return self._union_of(members, self.name)

    @staticmethod
    def _union_of(members: Sequence[int], name_of) -> str:
        names = list(dict.fromkeys(name_of(v) for v in members))
        return "union_" + "_".join(names)

    def name_and_field(self, members: Sequence[int], union: bool) -> Tuple[str, str]:
        """Class name and field of an instance with these members (own label first)."""
        if union:
            name = self.union_name(members)
            field = self.field_of_name(name)
        else:
            name, field = self.name(members[0]), self.field(members[0])
            members = members[:1]
        self._note_unnamed(members, name, union)
        return name, field
