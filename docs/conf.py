"""Sphinx configuration of the semst_sc documentation (cookiecutter-scverse style)."""

from __future__ import annotations

import os
import sys
import warnings
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # build from a source checkout without installing

# no internet: every model or hub lookup must stay local while autodoc imports the package
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# a third-party deprecation notice (sphinx-autodoc-typehints on Sphinx 9), printed once per page; not a docs problem
warnings.filterwarnings("ignore", message=r".*_RstSnippetParser\.set_application.*")

# -- Project information -----------------------------------------------------

project = "semst_sc"
author = "semst_sc developers"
copyright = f"{datetime.now():%Y}, {author}"
try:
    release = version("semst-sc")
except PackageNotFoundError:  # not installed: source tree
    release = "0.1.0"
version = release

# -- General configuration ---------------------------------------------------

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx_autodoc_typehints",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
# no intersphinx: the docs must build without network access

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"
default_role = "literal"
nitpicky = False

# autodoc / autosummary
autosummary_generate = True  # stubs go to docs/generated/ (git-ignored)
autodoc_member_order = "groupwise"
typehints_defaults = "braces"  # sphinx-autodoc-typehints: show defaults next to the types
autodoc_default_options = {"members": True, "show-inheritance": False}
autoclass_content = "class"
autodoc_mock_imports: list[str] = []

# napoleon: numpy-style docstrings
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = True
napoleon_use_param = True
napoleon_custom_sections = [("Params", "Parameters")]

# myst / myst-nb
myst_enable_extensions = ["amsmath", "colon_fence", "deflist", "dollarmath", "html_image"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # notebooks are committed executed
nb_output_stderr = "remove"
nb_merge_streams = True

# -- HTML output -------------------------------------------------------------

html_theme = "furo"
html_title = "semst_sc"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sphinx = False
