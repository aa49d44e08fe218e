"""Comparing two models: module matching, weight and activation differences (``ModelDiff``)."""
