"""The vendored front-end packages: pinned npm releases, checked by hash.

The dashboard and ``/docs`` load their scripts from the installed package, never
from a CDN. Each third-party file comes from one pinned npm release, recorded in
``static/vendor/manifest.json`` with the release's tarball integrity (as the npm
registry publishes it) and the SHA-256 of every file taken from it.

``python -m storemon.web.vendoring check`` verifies the committed files against the
manifest (offline); ``python -m storemon.web.vendoring fetch`` fetches the pinned
tarballs again with the machine's ``npm``, checks their integrity, extracts the
listed files and checks their hashes (``make vendor``). ``fetch --record`` writes the
hashes of what it fetched into the manifest, after a version bump.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

VENDOR_DIR: Final = Path(__file__).parent / "static" / "vendor"
MANIFEST: Final = VENDOR_DIR / "manifest.json"

__all__ = ["MANIFEST", "VENDOR_DIR", "VendoredFile", "check", "fetch", "load_manifest"]


@dataclass(frozen=True)
class VendoredFile:
    package: str  # npm name
    version: str
    source: str  # path inside the tarball's package/ folder
    target: str  # path under static/vendor/
    sha256: str


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # "sha512-<base64>" of the tarball
    files: tuple[VendoredFile, ...]


def load_manifest(path: Path = MANIFEST) -> list[Package]:
    """The packages and files of the manifest."""
    data = json.loads(path.read_text(encoding="utf-8"))
    packages = []
    for entry in data["packages"]:
        files = tuple(
            VendoredFile(entry["name"], entry["version"], source, spec["to"], spec["sha256"])
            for source, spec in entry["files"].items()
        )
        packages.append(Package(entry["name"], entry["version"], entry["integrity"], files))
    return packages


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(vendor_dir: Path = VENDOR_DIR, manifest: Path = MANIFEST) -> list[str]:
    """What differs between the files under ``vendor_dir`` and the manifest (empty: all good)."""
    problems = []
    for package in load_manifest(manifest):
        for file in package.files:
            path = vendor_dir / file.target
            if not path.is_file():
                problems.append(f"{file.target}: missing (from {package.name}@{package.version})")
            elif _sha256(path.read_bytes()) != file.sha256:
                problems.append(
                    f"{file.target}: SHA-256 differs from {package.name}@{package.version}'s "
                    f"{file.source} in the manifest"
                )
    return problems


def _tarball_integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _npm_pack(name: str, version: str, into: Path) -> bytes:
    done = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(into)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"npm pack {name}@{version} failed:\n{done.stderr}")
    filename = str(json.loads(done.stdout)[0]["filename"])
    return (into / filename).read_bytes()


def fetch(*, record: bool = False, manifest: Path = MANIFEST) -> None:
    """Fetch every pinned release with npm, verify it and write its files under static/vendor."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    for entry in data["packages"]:
        name, version = entry["name"], entry["version"]
        with tempfile.TemporaryDirectory() as tmp:
            tarball = _npm_pack(name, version, Path(tmp))
            integrity = _tarball_integrity(tarball)
            if integrity != entry["integrity"]:
                if not record:
                    raise SystemExit(f"{name}@{version}: tarball integrity {integrity} differs")
                entry["integrity"] = integrity
            with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
                for source, spec in entry["files"].items():
                    member = archive.extractfile(f"package/{source}")
                    if member is None:
                        raise SystemExit(f"{name}@{version} has no file {source}")
                    content = member.read()
                    if _sha256(content) != spec["sha256"]:
                        if not record:
                            raise SystemExit(f"{name}@{version} {source}: SHA-256 differs")
                        spec["sha256"] = _sha256(content)
                    target = VENDOR_DIR / spec["to"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
        print(f"{name}@{version}: {len(entry['files'])} files verified", file=sys.stderr)
    if record:
        manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m storemon.web.vendoring", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="verify the committed files against the manifest")
    fetch_parser = commands.add_parser("fetch", help="fetch the pinned releases with npm")
    fetch_parser.add_argument(
        "--record", action="store_true", help="write the fetched hashes into the manifest"
    )
    args = parser.parse_args(argv)
    if args.command == "fetch":
        fetch(record=args.record)
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("vendored files match the manifest", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
