"""A fresh virtualenv that sees only what the package declares; docs/install.md's examples.

Why not ``pip install`` the wheel with its dependencies from the index: on
this machine a fresh venv with pip took ~22 s and installing the engine's
dependencies ~47 s more, over the network, which is more than the whole test
may take in CI. Instead the venv is made without pip, and a ``.pth`` file
puts on its path a folder of links to the distributions already installed
in the running environment, but only those ``pyproject.toml`` declares
(followed transitively), plus pip. So ``pip install`` of the wheel finds its
requirements satisfied, offline, by exactly the declared set, and a
dependency missing from ``pyproject.toml`` fails an import, as it would on
an adopter's machine.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
import zipfile
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Not copied with the checkout: history, environments, caches and build leftovers.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "var", "__pycache__", "*.pyc", ".*_cache", "build", "dist", "*.egg-info"
)


def copy_checkout(root: Path, into: Path) -> Path:
    """Copy the checkout's sources: a build writes beside them, never in the checkout."""
    shutil.copytree(root, into, ignore=_NOT_SOURCES)
    return into


def declared_requirements(pyproject: Path) -> list[Requirement]:
    """The ``[project] dependencies`` of a ``pyproject.toml``."""
    with pyproject.open("rb") as file:
        return [Requirement(line) for line in tomllib.load(file)["project"]["dependencies"]]


def wheel_top_level(wheel: Path) -> set[str]:
    """The first component of every path in a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist()}


def dependency_closure(requirements: list[Requirement]) -> list[Distribution]:
    """The installed distributions that satisfy ``requirements``, transitively.

    Raise PackageNotFoundError when one is not installed here.
    """
    found: dict[str, Distribution] = {}
    pending = [(req, "") for req in requirements]
    while pending:
        req, extra = pending.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(req.name)
        if key in found:
            continue
        dist = distribution(req.name)
        found[key] = dist
        for line in dist.requires or []:
            for wanted in ("", *req.extras):
                pending.append((Requirement(line), wanted))
    return list(found.values())


def link_distributions(dists: list[Distribution], into: Path) -> None:
    """Link each distribution's top-level files (packages, modules, dist-info) into a folder."""
    into.mkdir(parents=True)
    for dist in dists:
        if dist.files is None:
            raise PackageNotFoundError(f"{dist.metadata['Name']} has no RECORD")
        tops = {file.parts[0] for file in dist.files} - {"..", "__pycache__"}
        for top in tops:
            link = into / top
            if not link.exists():
                link.symlink_to(Path(dist.locate_file(top)))


def write_console_scripts(dists: list[Distribution], bin_dir: Path) -> None:
    """``celery``, ``django-admin``...: the scripts pip would have installed with them."""
    python = bin_dir / "python"
    for dist in dists:
        for entry in dist.entry_points.select(group="console_scripts"):
            script = bin_dir / entry.name
            script.write_text(
                f"#!{python}\nimport sys\n\nimport {entry.module} as module\n\n"
                f"sys.exit(module.{entry.attr}())\n"
            )
            script.chmod(0o755)


def make_venv(venv: Path, requirements: list[Requirement]) -> Path:
    """A venv seeing only pip and ``requirements``; return its ``bin`` folder."""
    import venv as venv_module

    venv_module.create(venv, with_pip=False, symlinks=True)
    dists = dependency_closure([*requirements, Requirement("pip")])
    deps = venv.parent / f"{venv.name}-deps"
    link_distributions(dists, deps)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "lib" / version / "site-packages" / "declared-deps.pth").write_text(f"{deps}\n")
    write_console_scripts(dists, venv / "bin")
    return venv / "bin"


# A marked example: ``<!-- sh: NAME -->`` (commands), ``<!-- output: NAME -->``
# (what they print), ``<!-- file: PATH -->`` or ``<!-- append: PATH -->`` on
# the line before a fenced block.
_EXAMPLE = re.compile(r"^<!-- (sh|output|file|append): (\S+) -->\n```\w*\n(.*?)^```$", re.M | re.S)


def doc_examples(doc: Path) -> list[tuple[str, str, str]]:
    """Every marked example of ``doc`` as (kind, name or path, text), in order."""
    return _EXAMPLE.findall(doc.read_text())
