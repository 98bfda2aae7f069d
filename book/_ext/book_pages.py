"""A small Sphinx extension for clean pages offline.

jupyter-book 1 registers sphinx-thebe's inline configuration script once per read phase,
so a `build --all` page carried it twice and every page logged "SyntaxError: Identifier
'thebe_selector' has already been declared". This drops repeated scripts from each page,
keeping the first of each (same file and same inline body).

It also gives the theme a colour mode: with none, the theme's script logged "Got invalid
theme mode" on every first visit.

With ``ADLIB_BOOK_PREEXECUTED`` set to a jupyter-cache folder (``make book`` sets it after
``adlib execute-book`` has run every notebook there, side by side), pages take their outputs from
that cache (myst-nb's ``cache`` mode) instead of executing the notebooks again, one by one.
"""

import os


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # The same script may be registered with filename None and with "" (inline either way).
        filename = getattr(script, "filename", str(script)) or ""
        key = (filename, tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept
    if not context.get("default_mode"):
        context["default_mode"] = "light"


def _use_preexecuted(app, config):
    cache = os.environ.get("ADLIB_BOOK_PREEXECUTED")
    if cache:
        if not os.path.isdir(cache):
            raise RuntimeError(f"ADLIB_BOOK_PREEXECUTED={cache!r} is not a folder: run `adlib execute-book` first, "
                               "or unset it to execute every notebook during the build")
        config.nb_execution_mode = "cache"
        config.nb_execution_cache_path = cache


def setup(app):
    app.connect("config-inited", _use_preexecuted)
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
