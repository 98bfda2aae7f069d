"""How heavy the chapters' code is, against the bars of the "pages that teach" issue.

Counts, per notebook: code lines (non-blank lines in code cells), the largest code cell,
``display(Markdown(...))`` / ``display(HTML(...))`` calls, and the functions (``def`` or a
named ``lambda``) it defines; then the names defined in more than one notebook, and the
length of every module of ``adlib``. ``--rev REV`` reads the files as they were at a git
revision instead of the work tree, for a before/after table::

    python benchmarks/page_weight.py              # the work tree
    python benchmarks/page_weight.py --rev HEAD~3 # an earlier version
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARS = {"code lines": 250, "largest cell": 40, "display calls (book)": 10, "module lines": 600}
DISPLAY = re.compile(r"display\(\s*(Markdown|HTML)\(")


def read(path: str, rev: str | None) -> str:
    if rev is None:
        return (ROOT / path).read_text()
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def listed(pattern: str, rev: str | None) -> list[str]:
    if rev is None:
        return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern))
    names = subprocess.run(["git", "ls-tree", "--name-only", rev, str(Path(pattern).parent) + "/"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    return sorted(n for n in names if Path(n).match(pattern))


def defined_names(source: str) -> set[str]:
    """Functions a cell defines at top level: ``def f`` and ``f = lambda ...``."""
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def notebook_weight(text: str) -> dict:
    cells = [c for c in json.loads(text)["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    lines = [sum(1 for line in s.splitlines() if line.strip()) for s in sources]
    return {"code lines": sum(lines), "largest cell": max(lines, default=0),
            "display calls": sum(len(DISPLAY.findall(s)) for s in sources),
            "functions": set().union(*(defined_names(s) for s in sources)) if sources else set()}


def weigh(rev: str | None = None) -> dict:
    notebooks = {Path(p).stem: notebook_weight(read(p, rev)) for p in listed("notebooks/*.ipynb", rev)}
    where = defaultdict(list)
    for name, w in notebooks.items():
        for f in w["functions"]:
            where[f].append(name)
    modules = {Path(p).name: read(p, rev).count("\n") for p in listed("adlib/*.py", rev)}
    return {"notebooks": notebooks, "shared": {f: sorted(n) for f, n in sorted(where.items()) if len(n) > 1}, "modules": modules}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision to read instead of the work tree")
    args = parser.parse_args()
    w = weigh(args.rev)
    print(f"{'notebook':<28} {'code lines':>10} {'largest cell':>12} {'display calls':>13} {'functions':>9}")
    for name, n in w["notebooks"].items():
        print(f"{name:<28} {n['code lines']:>10} {n['largest cell']:>12} {n['display calls']:>13} {len(n['functions']):>9}")
    chapters = [n for name, n in w["notebooks"].items() if name[:2] in {"01", "02", "03", "04", "05", "06"}]
    print(f"\nbars (chapters 01-06): code lines <= {BARS['code lines']} (worst {max(c['code lines'] for c in chapters)}), "
          f"largest cell <= {BARS['largest cell']} (worst {max(c['largest cell'] for c in chapters)}), "
          f"display calls in the book <= {BARS['display calls (book)']} "
          f"(now {sum(n['display calls'] for n in w['notebooks'].values())})")
    print(f"functions defined in more than one notebook: {len(w['shared'])}"
          + "".join(f"\n  {f}: {', '.join(n)}" for f, n in w["shared"].items()))
    big = {m: n for m, n in w["modules"].items() if n > BARS["module lines"]}
    print(f"adlib modules over {BARS['module lines']} lines: {big or 'none'} (largest: "
          f"{max(w['modules'], key=w['modules'].get)}, {max(w['modules'].values())} lines)")


if __name__ == "__main__":
    main()
