"""Fingerprints of the code a job runs, and per-purpose seeds, so reruns are exact.

Snakemake reruns a job when its params change. Each rule passes
`code=code_fingerprint(<its script>)`: a hash of the script and of every crelens module it
imports, directly or through other crelens modules. The closure is found by reading `import`
statements (module level and inside functions) with `ast`, so nothing is imported while the
DAG is built. Each module is hashed as its syntax tree with docstrings removed and printed back
(`ast.unparse`): comments, docstrings and formatting change no fingerprint; any change of logic
changes the fingerprints of exactly the rules whose scripts reach that module.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "crelens"
_ROOT = Path(__file__).resolve().parent  # src/crelens


def derive_seed(seed: int, purpose: str) -> int:
    """An independent, reproducible seed per purpose, so stages do not share random streams."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def module_file(name: str, root: Path = _ROOT) -> Path | None:
    """The source file of crelens module `name` ("crelens.data.simulate"), or None if none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    path = root.joinpath(*parts[1:])
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _parents(name: str) -> list[str]:
    """The packages Python imports before `name`: crelens, crelens.data, ..."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute names of everything `tree` imports (each `from X import y` gives X and X.y)."""
    names = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _parsed(path: Path) -> ast.Module:
    stat = path.stat()
    return _parse(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parse(path: Path, mtime_ns: int, size: int) -> ast.Module:
    """Parsed once per file version (the DAG asks for the same modules for every rule)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def import_closure(script, root: Path = _ROOT) -> list[str]:
    """Every crelens module that `script` imports, directly or transitively, with their packages."""
    script = Path(script)
    todo = [(script, "__main__", False)]
    seen: set[str] = set()
    while todo:
        path, module, is_package = todo.pop()
        for name in imported_names(_parsed(path), module, is_package):
            for candidate in [*_parents(name), name]:
                if candidate in seen:
                    continue
                file = module_file(candidate, root)
                if file is None:
                    continue  # not crelens, or a name inside a module (from x import function)
                seen.add(candidate)
                todo.append((file, candidate, file.name == "__init__.py"))
    return sorted(seen)


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def logic_digest(path: Path) -> str:
    """SHA-256 of a Python file's logic: its syntax tree without docstrings, printed back."""
    stat = path.stat()
    return _logic_digest(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _logic_digest(path: Path, mtime_ns: int, size: int) -> str:
    tree = _without_docstrings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


def code_fingerprint(script, root: Path = _ROOT) -> str:
    """Short hash of a rule's script and the logic of every crelens module it reaches."""
    script = Path(script)
    digest = hashlib.sha256()
    digest.update(logic_digest(script.resolve()).encode())
    for module in import_closure(script, root):
        digest.update(f"\n{module}:{logic_digest(module_file(module, root))}".encode())
    return digest.hexdigest()[:16]
