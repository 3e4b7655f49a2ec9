"""A recipe: one public data set's layout, channels, labels and quirks, declared in a
JSON file (the format is described in the README, "Recipes"). Loading checks every
field, so a typo fails naming the file and the field instead of finding no case."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from ..datasets import RELEASE_TAGS, DatasetError, read_json
from ..inputs import OVERLAPS
from .pattern import Pattern, PatternError, field_regex_error, template_fields

BUILTIN_DIR = Path(__file__).parent / "builtin"

LAYOUTS = {
    "case-folders": "one folder per case",
    "paired-files": "image and label files paired by name",
    "frames": "annotated frames of a sequence are the cases",
    "label-sets": "one mask file per class",
    "metaimage": "MetaImage files",
    "nrrd": "NRRD files",
    "dicom-series": "a DICOM series folder per case, labels in files",
    "2d-pairs": "2D images with mask images",
}
VERIFIED = {
    "nnunet-script": "checked against an nnU-Net dataset_conversion script",
    "docs": "checked against the data set's own documentation",
    "unverified": "not confirmed from a source: read the notes",
}
CLASS_FIELD = "class"  # a label set's field that names the class of each file

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")
_RECIPE_KEYS = {"name": True, "title": True, "dataset": True, "layout": True, "source": True, "verified": True,
                "notes": False, "classes": False, "overlap": False, "cases": True}
_RULE_KEYS = {"channels": True, "label": False, "label_set": False, "fields": False, "case": False, "series": False}
_CHANNEL_KEYS = {"path": True, "modality": True}
_LABEL_SET_KEYS = {"path": True, "class": False}


class RecipeError(DatasetError):
    """A recipe file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Channel:
    path: Pattern
    modality: str


@dataclass(frozen=True)
class LabelSet:
    path: Pattern
    class_name: Optional[str]  # a template of the case's fields; None: the file names the class


@dataclass(frozen=True)
class Rule:
    """One way of finding cases: the first channel's pattern finds them, the other
    paths are filled in with the fields it matched."""

    channels: Tuple[Channel, ...]
    label: Optional[Pattern]
    label_set: Optional[LabelSet]
    field_regexes: Mapping[str, str]
    case: str
    series: Optional[str]

    @property
    def label_pattern(self) -> Optional[Pattern]:
        """The label's path; None for a rule of images without labels (a test set)."""
        if self.label is not None:
            return self.label
        return self.label_set.path if self.label_set is not None else None


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    dataset: str
    layout: str
    sources: Tuple[str, ...]
    verified: str
    notes: Tuple[str, ...]
    class_names: Mapping[int, str]
    overlap: Optional[str]    # the run's --overlap when the command line gives none (SPEC section 8)
    rules: Tuple[Rule, ...]
    origin: str               # the file it was read from
    text: str                 # that file's text, as shown by `samed2d recipes --show`

    @property
    def identity(self) -> str:
        """The name and a digest of the file: what an OUT stores, so that a resume with
        another recipe, or an edited one, is refused rather than mixed."""
        return f"{self.name} sha256:{hashlib.sha256(self.text.encode('utf-8')).hexdigest()[:16]}"

    @property
    def modalities(self) -> List[str]:
        return list(dict.fromkeys(c.modality for r in self.rules for c in r.channels))

    def summary(self) -> str:
        """The layout in one line: the first rule's paths."""
        rule = self.rules[0]
        label = rule.label_pattern.text if rule.label_pattern else "no label"
        more = f" (+{len(self.rules) - 1} more rule{'s' * (len(self.rules) > 2)})" if len(self.rules) > 1 else ""
        return f"{', '.join(c.path.text for c in rule.channels)} + {label}{more}"


class _Checker:
    """Reads values out of a recipe's JSON, naming the field in every error."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, where: str, why: str) -> RecipeError:
        return RecipeError(f"{self.origin}: {where}: {why}")

    def object(self, value, where: str, keys: Mapping[str, bool]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a JSON object, got {type(value).__name__}")
        for key in value:
            if key not in keys:
                hint = difflib.get_close_matches(key, keys, n=1)
                raise self.fail(f"{where}.{key}" if where != "recipe" else key,
                                f"unknown field{f' (did you mean {hint[0]!r}?)' if hint else ''}; "
                                f"known: {', '.join(keys)}")
        for key, required in keys.items():
            if required and key not in value:
                raise self.fail(f"{where}.{key}" if where != "recipe" else key, "missing")
        return value

    def text(self, value, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a non-empty string, got {json.dumps(value)[:60]}")
        return value

    def texts(self, value, where: str, allow_empty: bool = False) -> Tuple[str, ...]:
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.fail(where, "must be a list of strings" + ("" if allow_empty else " (at least one)"))
        return tuple(self.text(v, f"{where}[{i}]") for i, v in enumerate(value))

    def choice(self, value, where: str, choices) -> str:
        if value not in choices:
            raise self.fail(where, f"{json.dumps(value)[:60]} is not one of {', '.join(sorted(choices))}")
        return value

    def pattern(self, value, where: str) -> Pattern:
        try:
            return Pattern(self.text(value, where))
        except PatternError as exc:
            raise self.fail(where, str(exc)) from None

    def template(self, value, where: str, known: Tuple[str, ...]) -> str:
        try:
            used = template_fields(self.text(value, where))
        except PatternError as exc:
            raise self.fail(where, str(exc)) from None
        self.known_fields(used, where, known)
        return value

    def known_fields(self, used, where: str, known: Tuple[str, ...]) -> None:
        unknown = [f for f in used if f not in known]
        if unknown:
            raise self.fail(where, f"field {{{unknown[0]}}} is not matched by the first channel's path "
                                   f"(its fields: {', '.join('{' + f + '}' for f in known) or 'none'})")


def _classes(check: _Checker, value) -> Dict[int, str]:
    if not isinstance(value, dict):
        raise check.fail("classes", 'must be a JSON object of label values and names, {"1": "kidney"}')
    names = {}
    for key, name in value.items():
        if not (key.isascii() and key.isdigit()) or int(key) < 1 or str(int(key)) != key:
            raise check.fail(f"classes.{key}", "must be a label value (an integer of at least 1, no leading 0)")
        names[int(key)] = check.text(name, f"classes.{key}")
    return names


def _rule(check: _Checker, value, where: str) -> Rule:
    obj = check.object(value, where, _RULE_KEYS)
    channels_value = obj["channels"]
    if not isinstance(channels_value, list) or not channels_value:
        raise check.fail(f"{where}.channels", "must be a list of {\"path\": ..., \"modality\": ...} (at least one)")
    channels = []
    for i, item in enumerate(channels_value):
        at = f"{where}.channels[{i}]"
        item = check.object(item, at, _CHANNEL_KEYS)
        modality = check.choice(item["modality"], f"{at}.modality", RELEASE_TAGS)
        channels.append(Channel(check.pattern(item["path"], f"{at}.path"), modality))
    known = channels[0].path.fields
    if not known:
        raise check.fail(f"{where}.channels[0].path", "must hold a field such as {case}: it tells the cases apart")
    for i, channel in enumerate(channels):
        if CLASS_FIELD in channel.path.fields:
            raise check.fail(f"{where}.channels[{i}].path", f"{{{CLASS_FIELD}}} is a label set's field (the class of "
                                                            f"each mask file); name this one otherwise, e.g. {{group}}")
    for i, channel in enumerate(channels[1:], 1):
        check.known_fields(channel.path.fields, f"{where}.channels[{i}].path", known)
    if "label" in obj and "label_set" in obj:
        raise check.fail(where, "give one of 'label' (one label map) and 'label_set' (one file per class), "
                                "or neither for images that have no label (a test set)")
    label = label_set = None
    if "label" in obj:
        label = check.pattern(obj["label"], f"{where}.label")
        check.known_fields(label.fields, f"{where}.label", known)
        if label.is_folder:
            raise check.fail(f"{where}.label", "a label map is a file, not a folder")
    elif "label_set" in obj:
        at = f"{where}.label_set"
        item = check.object(obj["label_set"], at, _LABEL_SET_KEYS)
        path = check.pattern(item["path"], f"{at}.path")
        check.known_fields([f for f in path.fields if f != CLASS_FIELD], f"{at}.path", known)
        class_name = check.template(item["class"], f"{at}.class", known) if "class" in item else None
        if class_name is not None and CLASS_FIELD in path.fields:
            raise check.fail(at, f"give the class by {{{CLASS_FIELD}}} in the path or by 'class', not both")
        label_set = LabelSet(path, class_name)
    regexes = {}
    fields_value = obj.get("fields", {})
    if not isinstance(fields_value, dict):
        raise check.fail(f"{where}.fields", 'must be a JSON object of field regexes, {"frame": "[0-9]+"}')
    for name, regex in fields_value.items():
        at = f"{where}.fields.{name}"
        check.text(regex, at)
        if name not in known and not (label_set and name == CLASS_FIELD):
            check.known_fields([name], at, known)
        error = field_regex_error(regex)
        if error:
            raise check.fail(at, error)
        regexes[name] = regex
    if "case" not in obj and "case" not in known:
        raise check.fail(where, "give 'case', the case name as a template of the fields (the default {case} "
                                f"needs a {{case}} field; the first channel's fields: "
                                f"{', '.join('{' + f + '}' for f in known)})")
    case = check.template(obj.get("case", "{case}"), f"{where}.case", known)
    series = check.template(obj["series"], f"{where}.series", known) if "series" in obj else None
    return Rule(tuple(channels), label, label_set, regexes, case, series)


def parse_recipe(obj, origin: str, text: str = "") -> Recipe:
    """A recipe from its JSON value; RecipeError naming the first bad field."""
    check = _Checker(origin)
    obj = check.object(obj, "recipe", _RECIPE_KEYS)
    name = check.text(obj["name"], "name")
    if not _NAME.match(name):
        raise check.fail("name", f"{name!r}: lower-case letters, digits, '.', '_' and '-' only")
    rules_value = obj["cases"]
    if not isinstance(rules_value, list) or not rules_value:
        raise check.fail("cases", "must be a list of case rules (at least one)")
    return Recipe(
        name=name,
        title=check.text(obj["title"], "title"),
        dataset=check.text(obj["dataset"], "dataset"),
        layout=check.choice(obj["layout"], "layout", LAYOUTS),
        sources=check.texts(obj["source"], "source"),
        verified=check.choice(obj["verified"], "verified", VERIFIED),
        notes=check.texts(obj.get("notes", []), "notes", allow_empty=True),
        class_names=_classes(check, obj.get("classes", {})),
        overlap=check.choice(obj["overlap"], "overlap", OVERLAPS) if "overlap" in obj else None,
        rules=tuple(_rule(check, r, f"cases[{i}]") for i, r in enumerate(rules_value)),
        origin=origin,
        text=text,
    )


def load_recipe_file(path) -> Recipe:
    obj = read_json(path)
    return parse_recipe(obj, str(path), Path(path).read_text(encoding="utf-8-sig"))


def builtin_recipes() -> List[Recipe]:
    """The recipes shipped with the package, by name."""
    recipes = [load_recipe_file(p) for p in sorted(BUILTIN_DIR.glob("*.json"))]
    return sorted(recipes, key=lambda r: r.name)


def find_recipe(name_or_path: str) -> Recipe:
    """A shipped recipe by its name, or a user's recipe file by its path (a name ending in
    ``.json`` or holding a ``/``)."""
    if not name_or_path.strip():
        raise RecipeError("--recipe: give a recipe name ('samed2d recipes' lists them) or a recipe file")
    if name_or_path.endswith(".json") or "/" in name_or_path or Path(name_or_path).is_file():
        return load_recipe_file(name_or_path)
    recipes = {r.name: r for r in builtin_recipes()}
    if name_or_path in recipes:
        return recipes[name_or_path]
    hints = ", ".join(difflib.get_close_matches(name_or_path.lower(), recipes, n=3))
    raise RecipeError(f"--recipe {name_or_path!r}: no such recipe{f' (did you mean {hints}?)' if hints else ''}; "
                      f"'samed2d recipes' lists them, and a path to a .json file uses your own")
