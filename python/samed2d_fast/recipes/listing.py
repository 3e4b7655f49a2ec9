"""Recipes for a person to read: the one-line list (``samed2d recipes``, and the
README's table, generated from the same rows so it cannot drift) and what a recipe finds
in a downloaded folder (``samed2d recipes --show NAME ROOT``)."""

from __future__ import annotations

import json
from typing import List, Sequence

from ..datasets import Dataset, overview
from ..printable import printable
from .recipe import LAYOUTS, Recipe, builtin_recipes

SHOWN_CASES = 10


def recipe_rows(recipes: Sequence[Recipe]) -> List[List[str]]:
    """name, modality, layout, verified, source: one row per recipe."""
    return [[r.name, ", ".join(r.modalities), f"{r.layout}: {r.summary()}", r.verified, r.sources[0]]
            for r in recipes]


def recipe_table(recipes: Sequence[Recipe]) -> str:
    """The list printed by ``samed2d recipes``: one line per recipe."""
    rows = recipe_rows(recipes)
    width = max(len(r[0]) for r in rows)
    lines = [f"{name:<{width}}  {modality}  |  {layout}  |  {verified}  |  {source}"
             for name, modality, layout, verified, source in rows]
    lines.append(f"\n{len(rows)} recipes: samed2d recipes --show NAME prints one; "
                 f"samed2d convert ROOT OUT --recipe NAME uses it")
    return "\n".join(lines)


def recipe_markdown(recipes: Sequence[Recipe]) -> str:
    """The README's recipe table (Markdown)."""
    lines = ["| recipe | modality | layout | verified | source |", "|---|---|---|---|---|"]
    for r in recipes:
        cells = [f"`{r.name}`", ", ".join(r.modalities), f"{r.layout}: `{r.summary()}`", r.verified, r.sources[0]]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


# The recipe shown as the worked example of each layout family.
EXAMPLES = {"case-folders": "brats2021", "paired-files": "btcv", "frames": "acdc", "label-sets": "totalsegmentator",
            "metaimage": "promise12", "nrrd": "la2018", "dicom-series": "nih-pancreas", "2d-pairs": "kvasir-seg"}


def _compact_rules(recipe: Recipe) -> str:
    """A recipe's "cases" as JSON, one line per field of a rule."""
    rules = []
    for rule in json.loads(recipe.text)["cases"]:
        fields = [f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in rule.items()]
        rules.append("  {\n" + ",\n".join(fields) + "\n  }")
    return '"cases": [\n' + ",\n".join(rules) + "\n]"


def recipe_examples_markdown(recipes: Sequence[Recipe]) -> str:
    """The README's worked examples: one recipe per layout family, its case rules and the
    command that uses it."""
    by_name = {r.name: r for r in recipes}
    blocks = []
    for layout, meaning in LAYOUTS.items():
        recipe = by_name.get(EXAMPLES[layout]) or next((r for r in recipes if r.layout == layout), None)
        if recipe is None:
            continue
        blocks.append(f"**{layout}** ({meaning}), `{recipe.name}`: {recipe.sources[0]}\n\n"
                      f"```json\n{_compact_rules(recipe)}\n```")
    return "\n\n".join(blocks)


def describe_folder(dataset: Dataset) -> str:
    """What a recipe found in a folder: the overview, then each case's files."""
    lines = ["what it finds:", *overview(dataset)]
    for spec in dataset.cases[:SHOWN_CASES]:
        lines.append(f"  {printable(spec.case)}:")
        for path, tag in zip(spec.images, spec.modality if len(spec.modality) == len(spec.images)
                             else spec.modality * len(spec.images)):
            lines.append(f"    {tag:<10} {printable(path)}")
        for class_name, path in spec.label_files:
            lines.append(f"    {'label ' + class_name if class_name else 'label':<10} {printable(path)}")
    if len(dataset.cases) > SHOWN_CASES:
        lines.append(f"  ... and {len(dataset.cases) - SHOWN_CASES} more cases")
    return "\n".join(lines)


if __name__ == "__main__":  # the README's generated parts: python -m samed2d_fast.recipes.listing
    print(recipe_markdown(builtin_recipes()))
    print()
    print(recipe_examples_markdown(builtin_recipes()))
