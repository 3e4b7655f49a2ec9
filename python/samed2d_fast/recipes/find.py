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
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from ..datasets import (
    SKIP_DATA_FILE,
    SKIP_HIDDEN,
    SKIP_LABEL_ALONE,
    SKIP_LINKED_TWICE,
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
    """The relative paths of every file and folder below a root (``/``-separated, sorted).
    Hidden entries are left out; a folder reached again through symbolic links (a loop, or
    two links to one folder) is listed once; both are recorded."""

    def __init__(self, root: Path, skipped: Dict[str, List[str]]):
        self.root = root
        files, dirs = [], []

        def unreadable(exc: OSError) -> None:
            add_skipped(skipped, SKIP_UNREADABLE, [exc.filename])

        visited = {os.path.realpath(root)}
        for folder, subfolders, names in os.walk(root, followlinks=True, onerror=unreadable):
            rel = os.path.relpath(folder, root)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            kept = []
            for sub in sorted(subfolders):
                path = os.path.join(folder, sub)
                real = os.path.realpath(path)
                if sub.startswith("."):
                    add_skipped(skipped, SKIP_HIDDEN, [path])
                elif real in visited:
                    inside = real == os.path.realpath(folder) or os.path.realpath(folder).startswith(real + os.sep)
                    add_skipped(skipped, SKIP_LOOP if inside else SKIP_LINKED_TWICE, [path])
                else:
                    visited.add(real)
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
        prefix = pattern.literal_prefix(bound)  # sorted: the paths that start with it are contiguous
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
    return f"{' and '.join(paths)}: {len(paths)} paths match the {what} of case {case!r}: keep one"


@dataclass
class _Found:
    """What one rule made of one first-channel match: a case, a failure, or images
    without a label; ``paths`` are every file or folder it matched."""
    case: str
    paths: List[str]
    spec: Optional[CaseSpec] = None
    error: Optional[str] = None
    images: Tuple[str, ...] = ()


class _Finder:
    def __init__(self, root: Path, recipe: Recipe, dataset: str, modality: Optional[Sequence[str]],
                 class_names: Dict[int, str]):
        self.recipe, self.dataset, self.class_names = recipe, dataset, class_names
        self.tags = option_modality_tags(modality) if modality else None
        self.skipped: Dict[str, List[str]] = {}
        self.tree = _Tree(root, self.skipped)
        self.unlabelled: List[str] = []
        self.used: Set[str] = set()

    def run(self) -> Dataset:
        """Each rule in order; a first channel another rule made a case (or a failure) of
        is not looked at again, one it found no label for may still be a later rule's."""
        results: Dict[str, _Found] = {}      # first-channel path -> what became of it
        for rule in self.recipe.rules:
            found: Dict[Tuple[Tuple[str, str], ...], List[str]] = {}
            for path, fields in self.tree.matches(rule.channels[0].path, rule.field_regexes, {}):
                if path not in self.used and (path not in results or results[path].spec is None
                                              and results[path].error is None):
                    found.setdefault(tuple(sorted(fields.items())), []).append(path)
            for key in sorted(found):
                result = self._case(rule, dict(key), found[key])
                for first in found[key]:
                    results[first] = result
                if result.spec is not None or result.error is not None:
                    self.used.update(result.paths)
        return self._dataset(list({id(r): r for r in results.values()}.values()))

    def _dataset(self, results: List[_Found]) -> Dataset:
        cases: List[CaseSpec] = []
        failed: Dict[str, str] = {}
        by_key: Dict[str, List[_Found]] = {}
        for result in results:
            if result.spec is None and result.error is None:
                self.unlabelled.extend(self.tree.full(p) for p in result.images)
                self.used.update(result.paths)
            else:
                by_key.setdefault(case_key(self.dataset, result.case), []).append(result)
        for key, group in sorted(by_key.items()):
            if len(group) > 1:  # one case name for several cases: converting any would be a guess
                firsts = ", ".join(self.tree.full(r.paths[0]) for r in group)
                failed[key] = f"{firsts}: {len(group)} cases are named {group[0].case!r} (the recipe's case name)"
            elif group[0].error is not None:
                failed[key] = group[0].error
            else:
                cases.append(group[0].spec)
        self._account_for_the_rest()
        cases.sort(key=lambda s: (s.case, s.images))
        tags = list(dict.fromkeys(self.tags)) if self.tags else self.recipe.modalities
        return finish_dataset(Dataset(self.dataset, str(self.tree.root), f"recipe {self.recipe.name}", cases,
                                      sorted(self.unlabelled), self.class_names, self.skipped, [], failed,
                                      modality_tags=tags, recipe=self.recipe.identity))

    def _case(self, rule: Rule, fields: Dict[str, str], firsts: List[str]) -> _Found:
        """Matches every channel and the label first (so a failing case's files are its
        own, not skipped ones), then decides."""
        case = fill(rule.case, fields)
        channels = [firsts] + [[p for p, _ in self.tree.matches(c.path, rule.field_regexes, fields)]
                               for c in rule.channels[1:]]
        labels = ([] if rule.label_pattern is None else
                  self.tree.matches(rule.label_pattern, rule.field_regexes, fields))
        paths = [p for found in channels for p in found] + [p for p, _ in labels]
        for i, found in enumerate(channels):
            what = "first channel" if i == 0 else f"channel {i}"
            if len(found) > 1:
                return _Found(case, paths, error=_several([self.tree.full(p) for p in found], what, case))
            if not found:
                missing = self.tree.full(rule.channels[i].path.format(fields))
                return _Found(case, paths, error=f"{self.tree.full(firsts[0])}: case {case!r} has no channel {i} "
                                                 f"({missing} not found)")
        images = tuple(found[0] for found in channels)
        if not labels:
            return _Found(case, paths, images=images)
        if rule.label is not None and len(labels) > 1:
            return _Found(case, paths, error=_several([self.tree.full(p) for p, _ in labels], "label", case))
        label = self.tree.full(labels[0][0]) if rule.label is not None else self._label_set(rule, fields, labels)
        tags = self.tags or [c.modality for c in rule.channels]
        series = fill(rule.series, fields) if rule.series else None
        spec = CaseSpec(self.dataset, case, tuple(self.tree.full(p) for p in images), label, tuple(tags),
                        dict(self.class_names), series=series)
        return _Found(case, paths, spec=spec)

    def _label_set(self, rule: Rule, fields: Dict[str, str], matches) -> Dict[str, Tuple[str, ...]]:
        """Class -> its files: named by the {class} field, the rule's class template, or the file."""
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
        """Labels without an image, data files of header files, and files no path of the
        recipe matches; the files directly inside a DICOM series folder are the series'."""
        series = self.used & set(self.tree.dirs)
        labels = [r.label_pattern.regex(r.field_regexes) for r in self.recipe.rules if r.label_pattern]
        for path in self.tree.files:
            if path in self.used or path.rpartition("/")[0] in series:
                continue
            if any(regex.match(path) for regex in labels):
                reason = SKIP_LABEL_ALONE
            elif path.lower().endswith(DATA_FILE_SUFFIXES):
                reason = SKIP_DATA_FILE
            else:
                reason = SKIP_NOT_MATCHED
            add_skipped(self.skipped, reason, [self.tree.full(path)])


def _no_case_error(finder: _Finder) -> DatasetError:
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
    ``class_names`` (the command line's) replace the recipe's. The recipe's ``overlap`` is
    a run setting: pass it in the run's Options (the command line does)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    finder = _Finder(root, recipe, name or recipe.dataset, modality,
                     dict(recipe.class_names if class_names is None else class_names))
    dataset = finder.run()
    if not dataset.cases and not dataset.failed:
        raise _no_case_error(finder)
    return dataset
