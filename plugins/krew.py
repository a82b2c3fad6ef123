"""Build the krew release archive of `kubectl jobwarden` and render its manifest.

    python plugins/krew.py --wheel dist/jobwarden-0.1.0-py3-none-any.whl --out dist/

writes

- `dist/kubectl-jobwarden-v0.1.0.tar.gz`: `kubectl-jobwarden`, a Python zip application
  holding the plugin and its pure-Python dependencies (run by `python3` >= 3.11 on
  PATH, on any OS and CPU krew serves), and `LICENSE`: the release asset;
- `dist/jobwarden.yaml`: plugins/jobwarden.yaml rendered as krew-release-bot renders
  it, with the asset's URL and sha256: what goes to the krew index.

A release tool, run from the repository; it installs the wheel's dependencies from
PyPI with pip.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipapp
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "plugins" / "jobwarden.yaml"
PLUGIN = "kubectl-jobwarden"
#: The zip application's entry point: a clear message on a Python that is too old,
#: rather than a SyntaxError from deep inside.
MAIN = """\
import sys

if sys.version_info < (3, 11):
    sys.exit(
        "kubectl jobwarden needs Python 3.11 or newer; python3 is "
        + sys.version.split()[0]
        + ". Or install it with pipx: pipx install jobwarden"
    )
from jobwarden.plugin import main

sys.exit(main())
"""
_ADD_URI_AND_SHA = re.compile(
    r"^(?P<indent>[ \t]*)\{\{\s*addURIAndSha\s+\"(?P<url>[^\"]+)\"\s+\.TagName\s*\}\}[ \t]*$",
    re.MULTILINE,
)
_TAG = re.compile(r"\{\{\s*\.TagName\s*\}\}")


def version_of(wheel: Path) -> str:
    """The version in a wheel's file name (jobwarden-0.1.0-py3-none-any.whl)."""
    return wheel.name.split("-")[1]


def zip_application(wheel: Path, target: Path) -> None:
    """`target`: the wheel and its dependencies as one executable zip file. Compiled
    extensions are left out (a zip cannot load them; PyYAML falls back to Python)."""
    with tempfile.TemporaryDirectory(prefix="krew-app-") as scratch:
        app = Path(scratch) / "app"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-compile", "--target", str(app), str(wheel)],
            check=True,
        )  # fmt: skip
        for path in sorted(app.rglob("*"), reverse=True):
            if path.suffix in {".so", ".pyd"} or path.name == "__pycache__":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        shutil.rmtree(app / "bin", ignore_errors=True)  # console scripts: not in a zip
        (app / "__main__.py").write_text(MAIN)
        zipapp.create_archive(app, target, interpreter="/usr/bin/env python3")


def archive(wheel: Path, out: Path) -> Path:
    """The release asset: the zip application and LICENSE, as a .tar.gz."""
    tag = "v" + version_of(wheel)
    result = out / f"{PLUGIN}-{tag}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="krew-") as scratch:
        app = Path(scratch) / PLUGIN
        zip_application(wheel, app)
        with tarfile.open(result, "w:gz") as tar:
            for path, name in ((app, PLUGIN), (ROOT / "LICENSE", "LICENSE")):
                info = tar.gettarinfo(str(path), arcname=name)
                info.mode = 0o755 if name == PLUGIN else 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
    return result


def render(template: str, tag: str, sha256: str) -> str:
    """The manifest for `tag`, as krew-release-bot renders its template: each
    `{{addURIAndSha "URL" .TagName }}` line becomes `uri:` and `sha256:` lines, and
    `{{ .TagName }}` the tag."""

    def uri_and_sha(match: re.Match[str]) -> str:
        indent, url = match["indent"], _TAG.sub(tag, match["url"])
        return f"{indent}uri: {url}\n{indent}sha256: {sha256}"

    return _TAG.sub(tag, _ADD_URI_AND_SHA.sub(uri_and_sha, template))


def main(argv: list[str] | None = None) -> int:
    """Build the archive and the manifest into --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, required=True, help="jobwarden's wheel")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    asset = archive(args.wheel, args.out)
    sha256 = hashlib.sha256(asset.read_bytes()).hexdigest()
    manifest = args.out / TEMPLATE.name
    text = render(TEMPLATE.read_text(), "v" + version_of(args.wheel), sha256)
    manifest.write_text("".join(line for line in io.StringIO(text) if not line.startswith("#")))
    print(f"{asset}\n{manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
