"""Unlearning methods, one file each, registered by name (see `base.py` for the contract)."""

from clearbench.methods import dpo, ga, gd, idk, kl, llmu, npo, retain_ft, rmu, scrub, simnpo, sku, undial  # noqa: F401
from clearbench.methods.base import METHODS, Method, get_method

PAPER_METHODS = ("retain_ft", "ga", "gd", "kl", "idk", "dpo", "npo", "scrub", "llmu", "rmu", "sku")

__all__ = ["METHODS", "Method", "PAPER_METHODS", "get_method"]
