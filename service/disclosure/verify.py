"""``bwv bundle verify FILE.zip``: a prosecutor's offline check that every exhibit in a bundle is what
the manifest says, without access to bodycam. Reads the ZIP with the standard library only."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Verdict:
    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)


def verify_bundle(path: Path) -> Verdict:
    v = Verdict(ok=False)
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
            names = set(z.namelist())
            for ex in manifest.get("exhibits", []):
                name = ex["file"]
                if name not in names:
                    v.problems.append(f"{ex['exhibit_ref']}: {name} is missing from the ZIP")
                    continue
                h = hashlib.sha256()
                try:
                    with z.open(name) as f:
                        while chunk := f.read(1024 * 1024):
                            h.update(chunk)
                except (zipfile.BadZipFile, OSError) as e:
                    v.problems.append(f"{ex['exhibit_ref']}: {name} is damaged ({e})")
                    continue
                v.checked += 1
                if h.hexdigest() != ex["sha256"]:
                    v.problems.append(f"{ex['exhibit_ref']}: {name} SHA-256 {h.hexdigest()} does not match the "
                                      f"manifest's {ex['sha256']}")
            extra = names - {e["file"] for e in manifest.get("exhibits", [])} - {
                "manifest.json", "manifest.csv", "continuity.csv"}
            v.problems += [f"{n} is in the ZIP but not in the manifest" for n in sorted(extra)]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        v.problems.append(f"not a readable bodycam bundle: {e}")
    v.ok = not v.problems and v.checked > 0
    return v
