# Build, test and benchmark entry points.  Everything runs from .venv (created on demand).
#   make book   execute every notebook at full scale (side by side, BOOK_WORKERS at a time) and build the HTML book (_build/html)
#   make test   unit tests + notebooks at small scale (papermill via tests/, nbval-lax)
#   make weights  train the shipped weights (weights/) that are missing or stale; CHAPTER=05_harder_dark_rooms limits it
#   make book-from-scratch  ignore the shipped weights: train every run into a fresh cache, then build the book
#                           (RESUME=1: keep the runs a stopped one trained)
#   make bench  run benchmarks/benchmark.py
#   make clean  remove build outputs, results, caches and vendored JS

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
STAMP   := $(VENV)/.installed
GL_STAMP := $(VENV)/.opengl
# Chapter 7 renders with Miniworld through OpenGL, headless: EGL and Mesa's software renderer (Debian's packages).
OPENGL_DEBS := libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libglu1-mesa

# Where `adlib execute-book` puts the executed notebooks, for jupyter-book to take their outputs from.
BOOK_CACHE := $(CURDIR)/_build/.jupyter_cache

MATHJAX_VERSION := 3.2.2
MATHJAX_DIR     := _vendor/mathjax
MATHJAX_JS      := $(MATHJAX_DIR)/tex-svg.js
# ipywidgets (e.g. the notebooks' progress bars) render offline with a vendored widget
# manager and RequireJS instead of myst-nb's CDN defaults (see _config.yml).
WIDGETS_DIR     := _vendor/widgets
WIDGETS_JS      := $(WIDGETS_DIR)/embed-amd.js $(WIDGETS_DIR)/require.js

.PHONY: help install vendor book book-from-scratch weights test bench clean

help:
	@echo "make book   - set up .venv, execute all notebooks (ADLIB_SCALE=full), build _build/html"
	@echo "make weights - train the missing or stale shipped weights (CHAPTER=... for one chapter)"
	@echo "make book-from-scratch - train everything (no shipped weights, fresh cache), then build the book"
	@echo "make test   - unit tests + notebooks at ADLIB_SCALE=small (pytest, nbval-lax)"
	@echo "make bench  - run benchmarks/benchmark.py"
	@echo "make clean  - remove _build, results, .adlib_cache, _vendor"

install: $(STAMP) $(GL_STAMP)

# Re-install when pyproject.toml changes (the install is editable: adlib/ edits need none).
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -e ".[dev]"
	@touch $@

# Headless OpenGL for Miniworld: render one frame; where that fails, install Debian's Mesa packages
# (as root with apt-get), else stop with what to install.
$(GL_STAMP): $(STAMP)
	@if ! $(PY) -c "from adlib.pixels import check_opengl; check_opengl()" >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing headless OpenGL for chapter 7: $(OPENGL_DEBS)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(OPENGL_DEBS); \
	  fi; \
	  $(PY) -c "from adlib.pixels import check_opengl; check_opengl()" || { \
	    echo "make: chapter 7 needs headless OpenGL (EGL + Mesa). On Debian/Ubuntu, as root: apt-get install $(OPENGL_DEBS)"; exit 1; }; \
	fi
	@touch $@

# MathJax for offline math.  tex-svg.js is a combined component (TeX input, SVG output
# with its fonts built in); TeX extensions not in it (\color, \cancel, mhchem, ...) are
# autoloaded from input/tex/extensions/ next to it, so ship those too.
vendor: $(MATHJAX_JS) $(WIDGETS_JS)

$(MATHJAX_JS):
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  ( cd "$$tmp" && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null ); \
	  tar -xzf "$$tmp"/mathjax-$(MATHJAX_VERSION).tgz -C "$$tmp" \
	      package/es5/tex-svg.js package/es5/input/tex/extensions; \
	  rm -rf $(MATHJAX_DIR); mkdir -p $(MATHJAX_DIR)/input/tex; \
	  mv "$$tmp"/package/es5/input/tex/extensions $(MATHJAX_DIR)/input/tex/; \
	  mv "$$tmp"/package/es5/tex-svg.js $(MATHJAX_JS); \
	  touch $(MATHJAX_JS)

$(WIDGETS_JS):
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  ( cd "$$tmp" && npm pack --silent @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.4 >/dev/null ); \
	  mkdir -p "$$tmp"/widgets "$$tmp"/require $(WIDGETS_DIR); \
	  tar -xzf "$$tmp"/jupyter-widgets-html-manager-1.0.6.tgz -C "$$tmp"/widgets package/dist/embed-amd.js; \
	  tar -xzf "$$tmp"/requirejs-2.3.4.tgz -C "$$tmp"/require package/require.js; \
	  mv "$$tmp"/widgets/package/dist/embed-amd.js "$$tmp"/require/package/require.js $(WIDGETS_DIR)/; \
	  touch $(WIDGETS_JS)

# The notebooks run first, side by side (BOOK_WORKERS at a time, default one per core), into jupyter-book's cache;
# the build then takes every page's outputs from it (book/_ext/book_pages.py). BOOK_WORKERS=1 runs them one by one.
book: $(STAMP) $(GL_STAMP) $(MATHJAX_JS) $(WIDGETS_JS)
	@start=$$(date +%s); rc=0; \
	  export ADLIB_SCALE=full ADLIB_QUIET=1; \
	  $(VENV)/bin/adlib execute-book --cache-dir "$(BOOK_CACHE)" $(if $(BOOK_WORKERS),--workers $(BOOK_WORKERS)) || rc=$$?; \
	  echo "make book: notebooks executed (exit $$rc) after $$(( $$(date +%s) - start )) s"; \
	  if [ $$rc -eq 0 ]; then \
	    ADLIB_BOOK_PREEXECUTED="$(BOOK_CACHE)" $(VENV)/bin/jupyter-book build --all -W -n --keep-going . || rc=$$?; \
	  fi; \
	  echo "make book: exited $$rc after $$(( $$(date +%s) - start )) s"; \
	  exit $$rc

# The only way the shipped weights in weights/ are made: every run the full-scale chapters ask for whose
# file is missing or whose configs or data digest no longer match the code is trained and written, each
# as soon as it finishes (commit them then).
weights: $(STAMP) $(GL_STAMP)
	$(VENV)/bin/adlib weights $(if $(CHAPTER),--chapter $(CHAPTER))

# The book with no shipped weights and no trained model in the cache: every run is trained first, outside
# the notebooks (the code `make weights` runs, into the cache's emptied runs/ folder), so that no notebook
# cell waits on training. Datasets and rollouts stay cached (keyed by the code, the weights and the seeds).
# RESUME=1 keeps the runs a stopped `make book-from-scratch` already trained (and resumes a cut-off one
# from its snapshot), so that the measurement can be made in parts and the parts summed.
book-from-scratch: $(STAMP) $(GL_STAMP) $(MATHJAX_JS) $(WIDGETS_JS)
	@start=$$(date +%s); \
	  ADLIB_SHIPPED_WEIGHTS=0 $(PY) -c "from adlib.run_store import train_book_runs; train_book_runs(fresh=$(if $(RESUME),False,True))"; \
	  echo "make book-from-scratch: training took $$(( $$(date +%s) - start )) s"; \
	  ADLIB_SHIPPED_WEIGHTS=0 $(MAKE) --no-print-directory book; \
	  echo "make book-from-scratch: $$(( $$(date +%s) - start )) s in all"

# Both suites always run; the target fails if either fails.  pytest exits 5 when it
# collected no test: that counts as a failure here.
test: $(STAMP) $(GL_STAMP)
	@results=$$(mktemp -d); cache=$$(mktemp -d); \
	  trap 'rm -rf "$$results" "$$cache"' EXIT; \
	  export ADLIB_SCALE=small ADLIB_QUIET=1 ADLIB_RESULTS_DIR="$$results" ADLIB_CACHE_DIR="$$cache"; \
	  rc1=0; $(VENV)/bin/pytest tests/ || rc1=$$?; \
	  rc2=0; $(VENV)/bin/pytest --nbval-lax --nbval-cell-timeout=600 notebooks/ || rc2=$$?; \
	  echo "make test: pytest tests/ exited $$rc1, pytest --nbval-lax notebooks/ exited $$rc2"; \
	  if [ $$rc1 -eq 5 ] || [ $$rc2 -eq 5 ]; then echo "make test: exit 5 = no tests collected"; fi; \
	  [ $$rc1 -eq 0 ] && [ $$rc2 -eq 0 ]

bench: $(STAMP) $(GL_STAMP)
	$(PY) benchmarks/benchmark.py

clean:
	rm -rf _build results .adlib_cache _vendor
