"""The cases of a data set folder, found with a recipe.

The folder is listed once. Each rule's first channel path finds the cases (the fields
it matched are the case's identity); the other channels and the label are those fields
filled into their paths. Every file that becomes no case's is accounted for, as in the
other layouts: an image without a label, a label without an image, or a file the
recipe's paths do not match.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from ..datasets import (
    SKIP_DATA_FILE,
    SKIP_HIDDEN,
    SKIP_LABEL_ALONE,
    SKIP_LOOP,
    Dataset,
    DatasetError,
    add_skipped,
    finish_dataset,
    option_modality_tags,
)
from ..inputs import DATA_FILE_SUFFIXES, CaseSpec, case_key, case_name_of
from .pattern import Pattern, fill, match_fields
from .recipe import CLASS_FIELD, Recipe, Rule

SKIP_NOT_MATCHED = "not matched by the recipe's paths"
SKIP_UNREADABLE = "folder that cannot be listed"


class _Tree:
    """The relative paths of every file and folder below a root (``/``-separated, sorted),
    hidden ones and symbolic link loops left out and recorded."""

    def __init__(self, root: Path, skipped: Dict[str, List[str]]):
        self.root = root
        files, dirs = [], []

        def unreadable(exc: OSError) -> None:
            add_skipped(skipped, SKIP_UNREADABLE, [exc.filename])

        ancestors: Dict[str, Set[str]] = {str(root): {os.path.realpath(root)}}
        for folder, subfolders, names in os.walk(root, followlinks=True, onerror=unreadable):
            rel = os.path.relpath(folder, root)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            kept = []
            for sub in sorted(subfolders):
                path = os.path.join(folder, sub)
                real = os.path.realpath(path)
                if sub.startswith("."):
                    add_skipped(skipped, SKIP_HIDDEN, [path])
                elif real in ancestors[folder]:
                    add_skipped(skipped, SKIP_LOOP, [path])
                else:
                    ancestors[path] = ancestors[folder] | {real}
                    kept.append(sub)
                    dirs.append(prefix + sub)
            subfolders[:] = kept
            for name in names:
                if name.startswith("."):
                    add_skipped(skipped, SKIP_HIDDEN, [os.path.join(folder, name)])
                else:
                    files.append(prefix + name)
        self.files, self.dirs = sorted(files), sorted(dirs)

    def pool(self, pattern: Pattern) -> List[str]:
        return self.dirs if pattern.is_folder else self.files

    def matches(self, pattern: Pattern, regexes, bound: Dict[str, str]) -> List[Tuple[str, Dict[str, str]]]:
        """(path, the fields it matched beyond ``bound``) of every path ``pattern`` matches."""
        pool = self.pool(pattern)
        literal = pattern.literal(bound)
        if literal is not None:
            at = bisect.bisect_left(pool, literal)
            return [(literal, {})] if at < len(pool) and pool[at] == literal else []
        prefix = pattern.folder_prefix(bound)
        regex = pattern.regex(regexes, bound)
        out = []
        for path in pool[bisect.bisect_left(pool, prefix):]:
            if not path.startswith(prefix):
                break
            fields = match_fields(regex, path)
            if fields is not None:
                out.append((path, fields))
        return out

    def full(self, rel: str) -> str:
        return str(self.root / rel)


def _several(paths: Sequence[str], what: str, case: str) -> str:
    return f"{' and '.join(paths)}: {len(paths)} files match the {what} of case {case!r}: keep one"


class _Finder:
    def __init__(self, root: Path, recipe: Recipe, dataset: str, modality: Optional[Sequence[str]],
                 class_names: Dict[int, str]):
        self.recipe, self.dataset, self.class_names = recipe, dataset, class_names
        self.tags = option_modality_tags(modality) if modality else None
        self.skipped: Dict[str, List[str]] = {}
        self.tree = _Tree(root, self.skipped)
        self.cases: List[CaseSpec] = []
        self.unlabelled: List[str] = []
        self.failed: Dict[str, str] = {}
        self.used: Set[str] = set()

    def run(self) -> Dataset:
        claimed: Set[str] = set()  # first-channel paths of an earlier rule
        for rule in self.recipe.rules:
            first = rule.channels[0].path
            found: Dict[Tuple[Tuple[str, str], ...], List[str]] = {}
            for path, fields in self.tree.matches(first, rule.field_regexes, {}):
                if path not in claimed:
                    found.setdefault(tuple(sorted(fields.items())), []).append(path)
            for key in sorted(found, key=lambda k: (fill(rule.case, dict(k)), k)):
                claimed.update(found[key])
                self._case(rule, dict(key), found[key])
        self._account_for_the_rest()
        self.cases.sort(key=lambda s: (s.case, s.images))
        return finish_dataset(Dataset(self.dataset, str(self.tree.root), f"recipe {self.recipe.name}", self.cases,
                                      sorted(self.unlabelled), self.class_names, self.skipped, [], self.failed))

    def _case(self, rule: Rule, fields: Dict[str, str], firsts: List[str]) -> None:
        case = fill(rule.case, fields)
        key = case_key(self.dataset, case)
        self.used.update(firsts)
        if len(firsts) > 1:
            self.failed[key] = _several([self.tree.full(p) for p in firsts], "first channel", case)
            return
        images = [firsts[0]]
        for i, channel in enumerate(rule.channels[1:], 1):
            paths = [p for p, _ in self.tree.matches(channel.path, rule.field_regexes, fields)]
            self.used.update(paths)
            if len(paths) != 1:
                self.failed[key] = (_several([self.tree.full(p) for p in paths], f"channel {i}", case) if paths else
                                    f"{self.tree.full(firsts[0])}: case {case!r} has no channel {i} "
                                    f"({self.tree.full(channel.path.format(fields))} not found)")
                return
            images.append(paths[0])
        label = self._label(rule, fields, case, key)
        if label is None:
            if key not in self.failed:
                self.unlabelled.extend(self.tree.full(p) for p in images)
            return
        tags = self.tags or [c.modality for c in rule.channels]
        series = fill(rule.series, fields) if rule.series else None
        self.cases.append(CaseSpec(self.dataset, case, tuple(self.tree.full(p) for p in images), label, tuple(tags),
                                   dict(self.class_names), series=series))

    def _label(self, rule: Rule, fields: Dict[str, str], case: str, key: str):
        """The case's label: a file, a label set (class -> files), or None when it has none
        (or several label maps, recorded as the case's failure)."""
        if rule.label_pattern is None:
            return None
        matches = self.tree.matches(rule.label_pattern, rule.field_regexes, fields)
        self.used.update(p for p, _ in matches)
        if not matches:
            return None
        if rule.label is not None:
            if len(matches) > 1:
                self.failed[key] = _several([self.tree.full(p) for p, _ in matches], "label", case)
                return None
            return self.tree.full(matches[0][0])
        classes: Dict[str, List[str]] = {}
        for path, extra in matches:
            if CLASS_FIELD in extra:
                name = extra[CLASS_FIELD]
            elif rule.label_set.class_name is not None:
                name = fill(rule.label_set.class_name, fields)
            else:
                name = case_name_of(path)
            classes.setdefault(name, []).append(self.tree.full(path))
        return {name: tuple(paths) for name, paths in classes.items()}

    def _account_for_the_rest(self) -> None:
        """Labels without an image, and files no path of the recipe matches; files inside a
        DICOM series folder are the series'."""
        dirs = set(self.tree.dirs)
        series = [p + "/" for p in self.used if p in dirs]
        labels = [r.label_pattern.regex(r.field_regexes) for r in self.recipe.rules if r.label_pattern]
        for path in self.tree.files:
            if path in self.used or any(path.startswith(s) for s in series):
                continue
            if any(regex.match(path) for regex in labels):
                reason = SKIP_LABEL_ALONE
            elif path.lower().endswith(DATA_FILE_SUFFIXES):
                reason = SKIP_DATA_FILE
            else:
                reason = SKIP_NOT_MATCHED
            add_skipped(self.skipped, reason, [self.tree.full(path)])


def _nothing_found(finder: _Finder) -> DatasetError:
    recipe, tree = finder.recipe, finder.tree
    looked = "; ".join(f"{', '.join(c.path.text for c in r.channels)} with "
                       f"{r.label_pattern.text if r.label_pattern else 'no label'}" for r in recipe.rules)
    regexes = {k: v for r in recipe.rules for k, v in r.field_regexes.items()}
    fields = f" (fields: {', '.join(f'{{{k}}} = {v}' for k, v in regexes.items())})" if regexes else ""
    if finder.unlabelled:
        found = f"{len(finder.unlabelled)} image(s) such as {finder.unlabelled[0]}, none with a label"
    else:
        examples = ", ".join(tree.files[:3]) or "nothing"
        found = f"{len(tree.files)} file(s) in {len(tree.dirs) + 1} folder(s): {examples}"
        found += " ..." if len(tree.files) > 3 else ""
    return DatasetError(f"{tree.root}: recipe {recipe.name} found no case: looked for {looked}{fields}; "
                        f"found {found}")


def find_with_recipe(root, recipe: Recipe, *, name: Optional[str] = None, modality: Optional[Sequence[str]] = None,
                     class_names: Optional[Dict[int, str]] = None) -> Dataset:
    """The cases of ``root`` as ``recipe`` describes them. ``name``, ``modality`` and
    ``class_names`` (the command line's) replace the recipe's."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    finder = _Finder(root, recipe, name or recipe.dataset, modality,
                     dict(recipe.class_names if class_names is None else class_names))
    dataset = finder.run()
    if not dataset.cases and not dataset.failed:
        raise _nothing_found(finder)
    return dataset
