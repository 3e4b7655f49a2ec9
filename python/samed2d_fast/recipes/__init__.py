"""Recipes: declarative descriptions of the public data sets' layouts (``builtin/*.json``),
and the finder that turns a recipe and a downloaded folder into cases."""

from .find import find_with_recipe
from .recipe import LAYOUTS, VERIFIED, Recipe, RecipeError, builtin_recipes, find_recipe, load_recipe_file

__all__ = ["LAYOUTS", "VERIFIED", "Recipe", "RecipeError", "builtin_recipes", "find_recipe", "find_with_recipe",
           "load_recipe_file"]
