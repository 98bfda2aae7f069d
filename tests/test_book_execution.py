"""adlib.book_execution: the book's notebooks run side by side into the cache jupyter-book reads."""

from pathlib import Path

import nbformat
import pytest

from adlib import book_execution
from adlib.artifacts import REPO_ROOT


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_book_notebooks_are_the_tocs_in_sorted_order():
    notebooks = book_execution.book_notebooks()
    assert notebooks == sorted(notebooks)
    assert {p.name for p in notebooks} == {p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb")}
    assert notebooks[0].name == "01_bandit.ipynb" and notebooks[-1].name == "99_reproducibility.ipynb"


def test_notebooks_that_read_records_wait_for_those_before_them():
    notebooks = book_execution.book_notebooks()
    after = book_execution.schedule(notebooks)
    names = {nb.name: [d.name for d in after[nb]] for nb in notebooks}
    assert names["01_bandit.ipynb"] == [] and names["07_pixels.ipynb"] == []
    assert names["03_expert_distillation.ipynb"] == ["02_darkroom.ipynb"]  # reuses chapter 2's evaluations
    assert names["06_critique.ipynb"] == ["05_harder_dark_rooms.ipynb"]
    # Chapter 4 reads chapter 1's record; the summary and the reproducibility page read every chapter's.
    assert names["04_out_of_distribution.ipynb"] == ["01_bandit.ipynb"]
    assert names["99_reproducibility.ipynb"] == [nb.name for nb in notebooks[:-1]]
    assert "07_pixels.ipynb" in names["98_summary.ipynb"]


def test_chapters_start_longest_first_and_every_notebook_once():
    notebooks = book_execution.book_notebooks()
    order = book_execution.start_order(notebooks)
    assert sorted(order) == notebooks and order[0].stem == book_execution.LONGEST_FIRST[0]
    stems = {nb.stem for nb in notebooks}
    assert set(book_execution.LONGEST_FIRST) <= stems, "a hint names a notebook the book no longer has"
    assert {n for pair in book_execution.REUSES.items() for n in (pair[0], *pair[1])} <= stems
    assert [nb.stem for nb in order[-2:]] == ["98_summary", "99_reproducibility"]


def test_executed_notebooks_are_found_in_the_cache_as_myst_nb_looks_them_up(tmp_path):
    from jupyter_cache import get_cache

    writer = _notebook(tmp_path / "a.ipynb", "import os, pathlib", "pathlib.Path('a.txt').write_text(os.environ['ADLIB_NOTEBOOKS_AT_ONCE'])")
    reader = _notebook(tmp_path / "b.ipynb", "# like the summary page, this one calls read_records(...), so it waits for a.ipynb",
                       "print(open('a.txt').read())")
    seconds = book_execution.execute_book(workers=2, cache_dir=tmp_path / "cache", notebooks=[writer, reader], log=lambda _: None)
    assert set(seconds) == {"a.ipynb", "b.ipynb"}
    cache = get_cache(str(tmp_path / "cache"))
    _, merged = cache.merge_match_into_notebook(nbformat.read(reader, as_version=4))  # a fresh read, as the build does
    assert merged.cells[1].outputs[0]["text"].strip() == "2"  # ran after a.ipynb, which ran with 2 notebooks at once


def test_a_failing_notebook_names_itself_and_leaves_nothing_cached(tmp_path):
    from jupyter_cache import get_cache

    bad = _notebook(tmp_path / "bad.ipynb", "raise ValueError('broken cell')")
    with pytest.raises(RuntimeError, match=r"bad\.ipynb failed(.|\n)*broken cell"):
        book_execution.execute_book(workers=1, cache_dir=tmp_path / "cache", notebooks=[bad], log=lambda _: None)
    with pytest.raises(KeyError):
        get_cache(str(tmp_path / "cache")).match_cache_notebook(nbformat.read(bad, as_version=4))


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        book_execution.execute_book(workers=0, cache_dir=tmp_path / "cache", notebooks=[], log=lambda _: None)


def test_the_build_extension_switches_to_the_cache_only_when_asked(tmp_path, monkeypatch):
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("book_pages", REPO_ROOT / "book" / "_ext" / "book_pages.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    config = SimpleNamespace(nb_execution_mode="force", nb_execution_cache_path="")
    monkeypatch.delenv("ADLIB_BOOK_PREEXECUTED", raising=False)
    ext._use_preexecuted(None, config)
    assert config.nb_execution_mode == "force"
    monkeypatch.setenv("ADLIB_BOOK_PREEXECUTED", str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="adlib execute-book"):
        ext._use_preexecuted(None, config)
    monkeypatch.setenv("ADLIB_BOOK_PREEXECUTED", str(tmp_path))
    ext._use_preexecuted(None, config)
    assert (config.nb_execution_mode, config.nb_execution_cache_path) == ("cache", str(tmp_path))


def test_a_notebook_whose_kernel_dies_names_itself(tmp_path):
    dead = _notebook(tmp_path / "dead.ipynb", "import os; os._exit(1)")
    with pytest.raises(RuntimeError, match=r"dead\.ipynb failed"):
        book_execution.execute_book(workers=1, cache_dir=tmp_path / "cache", notebooks=[dead], log=lambda _: None)
