"""Sessions: `nox -s demo` (install + run the demo), `nox -s tests`, `nox -s docs`, `nox -s lint`."""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
nox.options.default_venv_backend = "venv"  # pip, not uv: uv ignores the local torch wheel folder

# The CPU build of torch goes in first; afterwards the project's torch range is already satisfied,
# so nothing can pull a CUDA build.
TORCH = "torch==2.13.0"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _install(session: nox.Session, extras: str = "") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]" if extras else ".")


@nox.session
def demo(session: nox.Session) -> None:
    """Install semst_sc and run the whole pipeline on the simulated demo tissue."""
    _install(session)
    session.run("semst-sc", "demo", "--output-dir", "demo_output", *session.posargs, env=OFFLINE)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (real-data tests read SEMST_DATA_DIR, default ../shared/data).

    One pytest worker per core (pytest-xdist), each with one torch thread: two-thread workers on the same cores
    would slow each other several times over. Work stealing: a worker that runs out takes tests from the other's queue,
    where xdist's default deals the first quarter of the tests (the slow ones, ordered first) alternately and leaves
    them unbalanced (on 2 cores: 14.3 min against 15.8).
    """
    _install(session, "test")
    args = ["-ra", "-n", "auto", "--dist", "worksteal", *session.posargs]
    session.run("pytest", *args, env=OFFLINE | {"OMP_NUM_THREADS": "1"})


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    _install(session, "docs")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", env=OFFLINE)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "semst_sc", "tests", "benchmarks", "noxfile.py")
