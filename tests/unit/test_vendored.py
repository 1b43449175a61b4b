"""The vendored front-end files are the ones VERSIONS.md names: a changed file without a new checksum fails."""
import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor"


def test_every_checksum_in_versions_md_matches_a_file_of_its_row():
    rows = [line for line in (VENDOR / "VERSIONS.md").read_text().splitlines() if re.search(r"\b[0-9a-f]{64}\b", line)]
    assert len(rows) >= 3
    for row in rows:
        files = re.findall(r"`([\w./-]+\.(?:js|css))`", row)
        folder = files[0].rsplit("/", 1)[0] if "/" in files[0] else ""
        paths = [VENDOR / name for name in files] + [VENDOR / folder / name for name in files]
        digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in paths if path.is_file()}
        for checksum in re.findall(r"\b[0-9a-f]{64}\b", row):
            assert checksum in digests, f"{checksum} matches no file of: {row[:80]}"
