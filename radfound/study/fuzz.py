"""Fuzzing the DICOM reader with mutated real files: every failure must be a typed RadFoundError.

Mutations of real pydicom test files: byte flips, byte runs overwritten, truncation,
and header tag values changed to edge values (Rows, Bits Stored, Transfer Syntax,
Photometric Interpretation, Rescale Slope, positions ...). The pytest suite runs a
bounded number through hypothesis; this module runs many more:

    python -m radfound.study.fuzz --count 5000 [--seed 0]

and prints how many inputs were tried, how many read, how many raised which typed
error, and any other exception (a bug) with the mutation that caused it.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import traceback
from collections import Counter
from pathlib import Path

SEED_FILES = (
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "JPGExtended.dcm",
    "SC_rgb_small_odd.dcm",
    "vlut_04.dcm",
)

#: (keyword, replacement values) for tag mutations; None deletes the element.
TAG_EDITS: dict[str, list] = {
    "Rows": [0, 1, 3, 65535, None],
    "Columns": [0, 1, 7, 65535, None],
    "BitsAllocated": [0, 1, 7, 12, 32, 64, None],
    "BitsStored": [0, 1, 17, 40, None],
    "HighBit": [0, 31, None],
    "PixelRepresentation": [1, 2, None],
    "SamplesPerPixel": [0, 2, 3, 4, None],
    "PlanarConfiguration": [1, 2],
    "PhotometricInterpretation": ["MONOCHROME1", "RGB", "YBR_FULL_422", "PALETTE COLOR", "XYZ", "", None],
    "NumberOfFrames": [0, 2, 1000000, "x", None],
    "RescaleSlope": [0, -1, "1e308", "nan", "abc", None],
    "RescaleIntercept": ["-1e308", "inf", "abc"],
    "WindowCenter": ["abc", "nan", ""],
    "WindowWidth": [0, -5, "abc"],
    "ImagePositionPatient": [["a", "b", "c"], [1, 2], ["nan", "0", "0"]],
    "ImageOrientationPatient": [[0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0], [1, 2]],
    "PixelSpacing": [[0, 0], ["-1", "2"], ["x"]],
    "Modality": ["MG", "CR", "CT", ""],
    "PixelData": [b"", b"\x00" * 7, None],
}
TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.100", "1.2.3.4.5",
]


def seed_bytes() -> dict[str, bytes]:
    from pydicom.data import get_testdata_file

    out = {}
    for name in SEED_FILES:
        path = get_testdata_file(name)
        if path:
            out[name] = Path(path).read_bytes()
    return out


def edit_tag(data: bytes, keyword: str, value) -> bytes:
    """The file re-written with one element changed (or removed); unchanged bytes if it cannot be written."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        if keyword == "TransferSyntaxUID":
            ds.file_meta.TransferSyntaxUID = value
        elif value is None:
            if keyword in ds:
                del ds[keyword]
        else:
            setattr(ds, keyword, value)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=False)
    except Exception:  # noqa: BLE001 - pydicom refuses some edits; the fuzz then keeps the original bytes
        return data
    return buf.getvalue()


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random mutation and its description."""
    kind = rng.choice(["flip", "run", "truncate", "tag", "tag", "syntax"])
    if kind == "flip":
        out = bytearray(data)
        spots = [rng.randrange(len(out)) for _ in range(rng.randint(1, 8))]
        for i in spots:
            out[i] ^= 1 << rng.randrange(8)
        return bytes(out), f"flip bytes at {spots}"
    if kind == "run":
        start = rng.randrange(len(data))
        length = rng.randint(1, 64)
        fill = rng.choice([b"\x00", b"\xff", bytes([rng.randrange(256)])])
        return data[:start] + fill * length + data[start + length :], f"overwrite {length} bytes at {start} with {fill!r}"
    if kind == "truncate":
        cut = rng.randrange(len(data))
        return data[:cut], f"truncate at {cut} of {len(data)}"
    if kind == "syntax":
        uid = rng.choice(TRANSFER_SYNTAXES)
        return edit_tag(data, "TransferSyntaxUID", uid), f"transfer syntax -> {uid}"
    keyword = rng.choice(sorted(TAG_EDITS))
    value = rng.choice(TAG_EDITS[keyword])
    return edit_tag(data, keyword, value), f"{keyword} -> {value!r}"


def check(data: bytes, folder: Path) -> str:
    """Read one input; returns 'ok' or the typed error's class name; any other exception propagates."""
    from radfound.errors import RadFoundError
    from radfound.study.reader import read_study

    path = folder / "fuzz.dcm"
    path.write_bytes(data)
    try:
        read_study(path)
    except RadFoundError as exc:
        return type(exc).__name__
    return "ok"


def run(count: int = 1000, seed: int = 0) -> dict:
    import os

    os.environ.setdefault("RADFOUND_MAX_VOLUME_MB", "256")  # keep absurd mutated sizes cheap
    import warnings

    warnings.simplefilter("ignore")  # pydicom warns about every invalid value it meets
    os.environ.setdefault("RUST_BACKTRACE", "0")
    rng = random.Random(seed)
    seeds = seed_bytes()
    outcomes: Counter[str] = Counter()
    bugs = []
    with tempfile.TemporaryDirectory(prefix="radfound-fuzz-") as tmp:
        for n in range(count):
            name = rng.choice(sorted(seeds))
            data, what = mutate(seeds[name], rng)
            try:
                outcomes[check(data, Path(tmp))] += 1
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - the point: anything untyped is a bug to report
                outcomes["BUG"] += 1
                bugs.append({"n": n, "file": name, "mutation": what, "error": f"{type(exc).__name__}: {exc}",
                             "where": traceback.format_exc().strip().splitlines()[-3]})
    return {"tried": count, "seed": seed, "outcomes": dict(outcomes.most_common()), "bugs": bugs[:20]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the DICOM reader with mutated real files.")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args.count, args.seed)
    print(json.dumps(result, indent=2))
    return 1 if result["bugs"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
