"""Docstring snippets shared by the public functions, as scanpy's ``_doc_params``: one text, many docstrings."""

from __future__ import annotations

from collections.abc import Callable

SNIPPETS = {
    "doc_copy": "Return a modified copy instead of writing to ``adata`` (which is then left untouched).",
    "doc_connectivity_key": (
        "Spatial graph: ``obsp['{connectivity_key}_connectivities']`` (squidpy's layout; a full ``obsp`` key is "
        "accepted too)."
    ),
    "doc_show": (
        "Show the figure (else it is returned); by default when not saving and scanpy's ``sc.settings.autoshow``."
    ),
    "doc_save": (
        "Path of an image file to write; ``True``: the function's name (``domains.pdf`` by default) in scanpy's "
        "figure folder (``sc.settings.figdir``, suffix ``sc.settings.plot_suffix``, format "
        "``sc.settings.file_format_figs``), as scanpy's plots save; ``None``: ``sc.settings.autosave``."
    ),
    "doc_library_key": (
        "``obs`` column telling several sections apart (squidpy's name; :func:`semst_sc.concat_sections` writes "
        "``'library_id'``); ``None``: one section."
    ),
}


def doc_params(func: Callable) -> Callable:
    """Fill the ``{doc_...}`` placeholders of ``func``'s docstring (a parameter's description) with the snippets."""
    for name, text in SNIPPETS.items():
        func.__doc__ = func.__doc__.replace("{" + name + "}", text)
    return func
