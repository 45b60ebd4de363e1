"""Plots of domains and training."""

from ._domain_report import domain_report
from ._domains import domains
from ._loss import loss
from ._query import query

__all__ = ["domains", "loss", "domain_report", "query"]
