"""jobwarden's container image, built from the repository's own Dockerfile without a
Docker daemon, and cached by content.

`make image` (`python -m devcluster image`) runs `buildah bud` on the Dockerfile users
build with `docker build`. Its base, `python:3.11-slim-bookworm`, comes from Docker
Hub; where that cannot be pulled a stand-in is built once with debootstrap (Debian
bookworm, minbase, python3, python3-venv and `python` on PATH) and passed as
`--build-arg PYTHON_IMAGE=…`. RUN steps use chroot isolation and the host's network
(pip reaches PyPI, apt Debian's mirror).

The image is keyed by a hash of what goes into it: the Dockerfile, .dockerignore, the
files the build context admits, and the base recipe. An unchanged tree finds its image
in the cache (a docker-archive tarball, what `ctr images import` and `kind load
image-archive` read) and builds nothing. Builds take a machine-wide lock: two test
sessions never build the same image twice at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from devcluster.binaries import REPO_ROOT, ClusterError, cache_dir

IMAGE_REPOSITORY: Final = "localhost/jobwarden"
BASE_REPOSITORY: Final = "localhost/jobwarden-python-base"
#: The local stand-in for the Dockerfile's default base: what `python -m venv` and the
#: runtime stage need (apt for tini, python, venv); bump RECIPE_VERSION on a change.
BASE_SUITE: Final = "bookworm"
BASE_PACKAGES: Final = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
RECIPE_VERSION: Final = "2"
#: How long to wait for a pull of the upstream base before building the stand-in.
PULL_TIMEOUT: Final = 20.0
#: A failed pull is remembered for this long (no 20 s wait on every build).
UNREACHABLE_FOR: Final = 24 * 3600.0
KEEP_ARCHIVES: Final = 3


@dataclass(frozen=True)
class Image:
    """A built image: its reference and the docker-archive holding it."""

    ref: str
    archive: Path
    base: str


def images_dir() -> Path:
    """Where image archives, buildah's storage and the lock live (outside the tree)."""
    path = cache_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _buildah(*args: str, timeout: float = 1800, log: Path | None = None) -> str:
    """Run buildah with our own storage under the cache (not the machine's default)."""
    if shutil.which("buildah") is None:
        raise ClusterError(
            "buildah is missing: install the Debian packages with `make system-deps` "
            "(devcluster/system-deps.sh)"
        )
    storage = images_dir() / "storage"
    argv = [
        "buildah",
        f"--root={storage / 'root'}",
        f"--runroot={storage / 'run'}",
        "--storage-driver=overlay",
        *args,
    ]
    if log is None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} failed:\n{result.stderr}{result.stdout}")
        return result.stdout
    with log.open("ab") as handle:
        result_bytes = subprocess.run(
            argv, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    if result_bytes.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed; log: {log}\n{_tail(log)}")
    return ""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    with (images_dir() / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------ the content
def context_files(root: Path = REPO_ROOT) -> list[Path]:
    """The files the build context admits: .dockerignore is `*` then `!path` lines
    (and patterns to drop again, such as `**/__pycache__`)."""
    admitted: list[str] = []
    dropped: list[str] = []
    for raw in (root / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "*":
            continue
        (admitted if line.startswith("!") else dropped).append(line.lstrip("!").rstrip("/"))
    files: list[Path] = []
    for entry in admitted:
        path = root / entry
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            relative = candidate.relative_to(root).as_posix()
            if not any(_matches(relative, pattern) for pattern in dropped):
                files.append(candidate)
    return files


def _matches(relative: str, pattern: str) -> bool:
    """A .dockerignore pattern of the kinds used here: `**/name` or a path prefix."""
    if pattern.startswith("**/"):
        return pattern[3:] in relative.split("/")
    return relative == pattern or relative.startswith(pattern + "/")


def content_key(root: Path = REPO_ROOT) -> str:
    """Hash of everything that makes the image: a changed file changes the key."""
    digest = hashlib.sha256()
    for path in [root / "Dockerfile", root / ".dockerignore", *context_files(root)]:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(f"base:{_base_key()}".encode())
    return digest.hexdigest()[:16]


def upstream_base(root: Path = REPO_ROOT) -> str:
    """The Dockerfile's default `PYTHON_IMAGE`."""
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)", (root / "Dockerfile").read_text(), re.M)
    if not match:
        raise ClusterError("the Dockerfile has no `ARG PYTHON_IMAGE=` default")
    return match.group(1)


def _base_key() -> str:
    recipe = f"{RECIPE_VERSION} {BASE_SUITE} {' '.join(BASE_PACKAGES)}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def image_ref(key: str) -> str:
    """The reference of the image with content key `key`."""
    return f"{IMAGE_REPOSITORY}:dev-{key}"


def archive_path(key: str) -> Path:
    """Where the image with content key `key` is kept as a docker-archive."""
    return images_dir() / f"jobwarden-{key}.tar"


# ------------------------------------------------------------------ the base
def _image_exists(ref: str) -> bool:
    try:
        _buildah("inspect", "--type=image", ref, timeout=60)
    except ClusterError:
        return False
    return True


def choose_base(log: Path) -> str:
    """The upstream base if it can be pulled (or is given in $JOBWARDEN_PYTHON_IMAGE),
    else the locally built stand-in."""
    given = os.environ.get("JOBWARDEN_PYTHON_IMAGE")
    if given:
        return given
    upstream = upstream_base()
    if _image_exists(upstream):
        return upstream
    marker = images_dir() / "upstream-base-unreachable"
    recent_failure = marker.exists() and time.time() - marker.stat().st_mtime < UNREACHABLE_FOR
    if not recent_failure:
        try:
            _buildah("pull", "--quiet", upstream, timeout=PULL_TIMEOUT)
            return upstream
        except (ClusterError, subprocess.TimeoutExpired) as error:
            with log.open("a") as handle:
                handle.write(f"devcluster image: cannot pull {upstream}: {error}\n")
            marker.write_text(f"{upstream}\n")
    return build_base(log)


def build_base(log: Path) -> str:
    """Debian bookworm with python3 (debootstrap), committed as a local image."""
    ref = f"{BASE_REPOSITORY}:{BASE_SUITE}-{_base_key()}"
    if _image_exists(ref):
        return ref
    if shutil.which("debootstrap") is None:
        raise ClusterError("debootstrap is missing: run `make system-deps`")
    with tempfile.TemporaryDirectory(dir=images_dir(), prefix="rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        start = time.monotonic()
        with log.open("ab") as handle:
            # No mirror argument: debootstrap's default Debian mirror.
            result = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    BASE_SUITE,
                    str(rootfs),
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=1200,
                check=False,
            )
        if result.returncode != 0:
            raise ClusterError(f"debootstrap failed; log: {log}\n{_tail(log)}")
        _slim(rootfs)
        # What a container runtime provides: /dev, /proc and /sys are mounted at run time.
        for runtime_dir in ("dev", "proc", "sys"):
            shutil.rmtree(rootfs / runtime_dir, ignore_errors=True)
            (rootfs / runtime_dir).mkdir()
        layer = Path(scratch) / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(layer), "."], check=True
        )
        container = _buildah("from", "scratch", timeout=60).strip()
        try:
            _buildah("add", container, str(layer), "/", timeout=600)
            _buildah(
                "config",
                "--env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                "python3",
                "--label",
                f"dev.jobwarden.base-recipe={_base_key()}",
                container,
                timeout=60,
            )
            _buildah("commit", "--quiet", container, ref, timeout=600)
        finally:
            with contextlib.suppress(ClusterError):
                _buildah("rm", container, timeout=60)
        with log.open("a") as handle:
            handle.write(
                f"devcluster image: base {ref} built in {time.monotonic() - start:.0f} s\n"
            )
    _remove_other_bases(keep=ref)
    return ref


def _remove_other_bases(keep: str) -> None:
    """Earlier recipes' bases: nothing builds on them any more."""
    listed = _buildah("images", "--format", "{{.Name}}:{{.Tag}}", timeout=60)
    for name in listed.split():
        if name.startswith(f"{BASE_REPOSITORY}:") and name != keep:
            with contextlib.suppress(ClusterError):
                _buildah("rmi", name, timeout=120)


#: What Debian's own container images configure: apt keeps no package caches, dpkg
#: installs no documentation (the Dockerfile's `apt-get install` stays small too).
_APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
_DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
"""


def _slim(rootfs: Path) -> None:
    """Drop caches, logs and documentation from the debootstrapped tree."""
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(_APT_CLEAN)
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker-excludes").write_text(_DPKG_EXCLUDES)
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*",
        "var/log/*.log",
        "var/cache/debconf/*-old",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
    ):
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    for doc in (rootfs / "usr/share/doc").glob("*"):
        if doc.is_dir() and not doc.is_symlink():
            for item in doc.iterdir():
                if item.name != "copyright":
                    if item.is_dir() and not item.is_symlink():
                        shutil.rmtree(item)
                    else:
                        item.unlink()


# ------------------------------------------------------------------ the image
def ensure_image(*, verbose: bool = True) -> Image:
    """The image of the current tree: from the cache, or built now."""
    key = content_key()
    ref, archive = image_ref(key), archive_path(key)
    with _lock("build"):
        if archive.exists():
            return Image(ref, archive, _read_base(archive))
        log = images_dir() / "build.log"
        log.write_text("")
        if verbose:
            print(f"devcluster image: building {ref} (log: {log})", flush=True)
        start = time.monotonic()
        base = choose_base(log)
        tmp = archive.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        _buildah(
            "bud",
            "--isolation=chroot",
            "--network=host",
            "--pull=never" if base.startswith("localhost/") else "--pull=false",
            "--layers=false",
            *_host_trust_volumes(),
            f"--build-arg=PYTHON_IMAGE={base}",
            f"--label=dev.jobwarden.base={base}",
            f"--tag={ref}",
            f"--file={REPO_ROOT / 'Dockerfile'}",
            str(REPO_ROOT),
            log=log,
        )
        _buildah("push", "--quiet", ref, f"docker-archive:{tmp}:{ref}", timeout=600)
        tmp.rename(archive)
        (archive.parent / f"{archive.name}.base").write_text(base)
        with contextlib.suppress(ClusterError):
            _buildah("rmi", ref, timeout=120)  # the archive is the cache; keep storage small
        _prune_archives(keep=archive)
        if verbose:
            size = archive.stat().st_size / 2**20
            print(
                f"devcluster image: {ref} built in {time.monotonic() - start:.0f} s "
                f"({size:.0f} MiB archive: {archive})",
                flush=True,
            )
        return Image(ref, archive, base)


def _host_trust_volumes() -> list[str]:
    """Bind mounts for the RUN steps only (nothing lands in the image): this machine's
    CA bundle, and a pip.conf that makes pip (which trusts its own bundle) use it. On a
    network whose TLS is inspected by a proxy, pip and apt then trust what the host
    trusts; elsewhere it changes nothing."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.is_file():
        return []
    pip_conf = images_dir() / "pip.conf"
    pip_conf.write_text(f"[global]\ncert = {bundle}\n")
    return [f"--volume={bundle}:{bundle}:ro", f"--volume={pip_conf}:/etc/pip.conf:ro"]


def _read_base(archive: Path) -> str:
    try:
        return (archive.parent / f"{archive.name}.base").read_text().strip()
    except OSError:
        return "unknown"


def _prune_archives(keep: Path) -> None:
    """Keep the newest few archives (other checkouts may still use theirs)."""
    archives = sorted(
        images_dir().glob("jobwarden-*.tar"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in archives[KEEP_ARCHIVES:]:
        if old != keep:
            old.unlink(missing_ok=True)
            (old.parent / f"{old.name}.base").unlink(missing_ok=True)
