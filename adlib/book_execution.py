"""Execute the book's notebooks side by side before ``jupyter-book build`` (``make book``).

Sphinx executes a book's notebooks one after another, in sorted path order. Most of a chapter's
time is small tensor operations that one core runs about as fast as two, so on a CPU with
several cores the book builds faster when notebooks run side by side, each with its share of
the cores' threads. :func:`execute_book` does that: it runs every notebook of ``_toc.yml`` with
the same executor myst-nb uses (``jupyter_cache``'s ``single_nb_execution``, in the notebook's
folder), ``workers`` at a time, and stores each executed notebook in myst-nb's jupyter-cache
(``_build/.jupyter_cache``). ``make book`` then builds with ``ADLIB_BOOK_PREEXECUTED=1``, which
``book/_ext/book_pages.py`` turns into myst-nb's ``cache`` execution mode: every page takes its
outputs from that cache and nothing executes twice.

The serial build's one ordering dependency is kept: a notebook that reads other chapters' records
(``read_records``: chapter 4, the summary, the reproducibility page) starts only after the notebooks
sorted before it whose records it reads have finished, so it sees the records a serial build gives it.
A chapter that reuses another's cached evaluations starts after it (:data:`REUSES`). The chapters start
longest first, a chapter counted with those that wait on it (:data:`LONGEST_FIRST`), so that the last to
finish is a short one.

Command line: ``adlib execute-book [--workers N]``.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from .artifacts import REPO_ROOT

CACHE_DIR = REPO_ROOT / "_build" / ".jupyter_cache"
"""Where jupyter-book 1 (myst-nb) keeps its jupyter-cache for a book built into ``_build/html``."""

AT_ONCE_VARIABLE = "ADLIB_NOTEBOOKS_AT_ONCE"
"""Set in each notebook's kernel: how many notebooks may run side by side (chapters record it)."""

TIMEOUT = 1800
"""Seconds a cell may run (``_config.yml``'s ``execute: timeout``)."""


def book_notebooks(toc: Path = REPO_ROOT / "_toc.yml") -> list[Path]:
    """The notebooks ``toc`` lists, in sorted path order (the order a serial Sphinx build executes them)."""
    import yaml

    def files(node) -> list[str]:
        if isinstance(node, dict):
            return ([node["file"]] if "file" in node else []) + [f for v in node.values() for f in files(v)]
        if isinstance(node, list):
            return [f for item in node for f in files(item)]
        return []

    doc = yaml.safe_load(toc.read_text())
    paths = [toc.parent / f"{f}.ipynb" for f in [doc.get("root", "")] + files(doc.get("parts", doc.get("chapters", [])))]
    return sorted(p for p in paths if p.is_file())


RECORDS_CALL = "read_records("
"""How a notebook's code reads other chapters' records (adlib.results.read_records)."""


def _code(notebook: Path) -> str:
    import nbformat

    return "\n".join(cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code")


def reads_records(notebook: Path) -> bool:
    """Whether a notebook reads other chapters' records (and so must run after them)."""
    return RECORDS_CALL in _code(notebook)


def schedule(notebooks: list[Path]) -> dict[Path, list[Path]]:
    """For each notebook, those that must finish before it starts: for one that reads records, the notebooks
    sorted before it whose names its code mentions (chapter 4 reads ``01_bandit``'s), or, mentioning none, all
    of them (the summary and the reproducibility page read every record)."""
    after = {}
    for i, nb in enumerate(notebooks):
        code = _code(nb)  # read once: whether it reads records, and whose
        if RECORDS_CALL not in code:
            after[nb] = []
            continue
        named = [other for other in notebooks[:i] if other.stem in code]
        after[nb] = named or notebooks[:i]
    for nb in notebooks:  # a chapter that reuses another's evaluations starts after it, as in a serial build
        after[nb] += [other for other in notebooks if other.stem in REUSES.get(nb.stem, ()) and other not in after[nb]]
    return after


REUSES = {"03_expert_distillation": ("02_darkroom",), "06_critique": ("05_harder_dark_rooms",)}
"""Chapters that take many of their in-context evaluations from the rollout cache another chapter filled (the
same models on the same rooms): run at once, both would compute them, and the later chapter's time would grow."""


LONGEST_FIRST = ("05_harder_dark_rooms", "01_bandit", "06_critique", "02_darkroom", "04_out_of_distribution",
                 "06b_model_size", "03_expert_distillation", "07_pixels")
"""The order to start the chapters in when they may (a scheduling hint): the longest work first, a chapter that
others wait on (:data:`REUSES`) counted with them (chapters 5 and 6: about 470 s, 1: 310, 2 and 3: 250), by the
times ``make book`` measured (benchmarks/MEASUREMENTS.md); notebooks not listed follow, in sorted order."""


def start_order(notebooks: list[Path]) -> list[Path]:
    """``notebooks`` in the order :func:`run_side_by_side` starts them (:data:`LONGEST_FIRST`)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    return sorted(notebooks, key=lambda nb: (rank.get(nb.stem, len(rank)), str(nb)))


def _share_machine(threads: int, at_once: int) -> None:
    """Set, in a worker process, what the kernels it starts inherit: their threads and how many run at once."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)  # torch reads these when it is imported
    if at_once > 1:  # a chapter that must train does so in its kernel, not in one worker process per core
        os.environ.setdefault("ADLIB_TRAIN_WORKERS", "1")
    os.environ[AT_ONCE_VARIABLE] = str(at_once)


def execute_in_place(path: str, threads: int, at_once: int) -> tuple[str, float]:
    """Run one notebook in its folder as myst-nb would; returns (the executed notebook as JSON, seconds).
    Raises RuntimeError with the failing cell's traceback."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    _share_machine(threads, at_once)
    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=TIMEOUT, allow_errors=False, meta_override=True)
    if result.err is not None:
        raise RuntimeError(result.exc_string)
    return nbformat.writes(result.nb), result.time


def execute_with_papermill(path: str, threads: int, at_once: int, out_dir: str, parameters: dict,
                           timeout: int = TIMEOUT) -> tuple[str, float]:
    """Run one notebook through papermill with ``parameters``, in its folder, into ``out_dir``; returns
    (the executed notebook's path, seconds). The notebook tests run the book this way, side by side."""
    import papermill

    _share_machine(threads, at_once)
    out, started = str(Path(out_dir) / Path(path).name), time.perf_counter()
    papermill.execute_notebook(path, out, parameters=parameters, kernel_name="python3", cwd=str(Path(path).parent),
                               progress_bar=False, execution_timeout=timeout)
    return out, time.perf_counter() - started


def run_side_by_side(notebooks: list[Path], execute, workers: int | None = None, log=print) -> dict[Path, tuple]:
    """Call ``execute(path, threads, at_once)`` for every notebook in worker processes, ``workers`` at a time
    (default: one per core), each notebook after those :func:`schedule` says it waits for; returns
    ``{notebook: what execute returned}``. Raises RuntimeError naming every notebook that failed (with its
    error), once those already running have finished; no notebook starts after a failure."""
    import multiprocessing

    from .runtime import cpu_cores

    notebooks = [Path(p) for p in notebooks]
    workers = cpu_cores() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    workers = max(1, min(workers, len(notebooks)))
    threads = max(1, cpu_cores() // workers)
    after = schedule(notebooks)
    done: dict[Path, tuple] = {}
    failed: list[str] = []
    pending, running = start_order(notebooks), {}
    started = time.perf_counter()
    log(f"executing {len(notebooks)} notebooks, {workers} at a time, {threads} thread(s) each")
    # spawn: the workers start clean, whatever the caller (a test session with torch loaded) holds
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        while running or (pending and not failed):
            ready = [nb for nb in pending if all(d in done for d in after[nb])] if not failed else []
            for nb in ready[: workers - len(running)]:
                pending.remove(nb)
                running[pool.submit(execute, str(nb), threads, workers)] = nb
            if not running:
                raise RuntimeError(f"no notebook can start: {[nb.name for nb in pending]} wait on notebooks not in the list")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                nb = running.pop(future)
                try:
                    done[nb] = future.result()
                except Exception as exc:  # a failing cell, a dead kernel, a kernel that did not start, a broken worker
                    failed.append(f"{nb.name} failed: {type(exc).__name__}: {exc}")
                    continue
                log(f"{nb.name}: done {time.perf_counter() - started:.0f} s after the start")
    if failed:
        raise RuntimeError("executing notebooks: " + "\n\n".join(failed))
    return done


def execute_book(workers: int | None = None, cache_dir: Path = CACHE_DIR, notebooks: list[Path] | None = None,
                 log=print) -> dict[str, float]:
    """Execute ``notebooks`` (default: the book's) side by side (:func:`run_side_by_side`) into a fresh
    jupyter-cache at ``cache_dir``; returns each notebook's seconds. Raises RuntimeError naming a notebook
    that failed (its traceback follows) or whose outputs the build would not find."""
    import shutil

    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    notebooks = book_notebooks() if notebooks is None else [Path(p) for p in notebooks]
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if cache_dir.exists():
        shutil.rmtree(cache_dir)  # outputs from other code must never be reused
    cache = get_cache(str(cache_dir))
    executed = run_side_by_side(notebooks, execute_in_place, workers, log)
    for nb, (text, secs) in executed.items():
        cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(text, as_version=4), str(nb.resolve()),
                                                  data={"execution_seconds": secs}), check_validity=False, overwrite=True)
    for nb in notebooks:  # as the build will look them up: a notebook edited meanwhile would be executed again, one by one
        try:
            cache.match_cache_notebook(nbformat.read(nb, as_version=4))
        except KeyError:
            raise RuntimeError(f"{nb.name} changed while it was executed, or its outputs were not cached: "
                               "run `adlib execute-book` again") from None
    return {nb.name: secs for nb, (_, secs) in executed.items()}
