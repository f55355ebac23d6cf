"""The ISA-L zip member reader returns exactly what ``zipfile`` does, in bounded chunks, and refuses a
damaged member (bad CRC, truncated data) the way ``zipfile`` does."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from perpscope.core.errors import InputError
from perpscope.venues import base, zip_member
from perpscope.venues.base import read_bytes
from perpscope.venues.zip_member import open_member

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "archive"
REAL_ZIPS = sorted(FIXTURES.rglob("*.zip"))


def _read_all(zf: zipfile.ZipFile, name: str, size: int) -> tuple[bytes, int]:
    reader = open_member(zf, name)
    parts = []
    while chunk := reader.read(size):
        assert len(chunk) <= size
        parts.append(chunk)
    return b"".join(parts), len(parts)


@pytest.mark.parametrize("path", REAL_ZIPS, ids=lambda p: p.name)
def test_real_archive_zips_read_as_zipfile_reads_them(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        name = zf.namelist()[0]
        assert zf.getinfo(name).compress_type == zipfile.ZIP_DEFLATED  # the path under test
        data, _ = _read_all(zf, name, 1 << 16)
        assert data == zf.read(name)


def test_chunks_stay_bounded_however_well_the_data_compresses(tmp_path: Path) -> None:
    # 64 MiB of one byte deflates to ~64 KiB: one compressed read must not inflate it all at once
    text = b"1" * (64 << 20)
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.csv", text)
    with zipfile.ZipFile(path) as zf:
        data, chunks = _read_all(zf, "x.csv", 1 << 20)
    assert data == text
    assert chunks == 64


def test_stored_members_are_read_by_zipfile(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m-2024-01.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("BTCUSDT-1m-2024-01.csv", "a,b\n1,2\n")
    assert read_bytes(path)[1] == b"a,b\n1,2\n"


def _deflated(tmp_path: Path, text: bytes) -> tuple[Path, int, int]:
    """A zip of ``text``; returns it, where its compressed data starts, and how long that is."""
    path = tmp_path / "BTCUSDT-1m-2024-01.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("BTCUSDT-1m-2024-01.csv", text)
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    return path, start, info.compress_size


def test_a_corrupt_member_is_refused_like_zipfile_refuses_it(tmp_path: Path) -> None:
    rows = b"".join(b"%d,%d.5,%d\n" % (i, i * 7, i % 13) for i in range(200_000))
    path, start, length = _deflated(tmp_path, rows)
    raw = bytearray(path.read_bytes())
    raw[start + length // 2] ^= 0xFF  # one flipped byte in the middle of the deflate stream
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as zf, pytest.raises(zipfile.BadZipFile):
        zf.read(zf.namelist()[0])  # zipfile itself: the reference behaviour
    with pytest.raises(InputError, match="cannot read the file"):
        read_bytes(path)


def test_a_crc_mismatch_is_refused(tmp_path: Path) -> None:
    path, _, _ = _deflated(tmp_path, b"open_time,open\n1,2\n")
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
    raw = bytearray(path.read_bytes())
    crc = info.CRC.to_bytes(4, "little")
    for at in (raw.find(crc), raw.rfind(crc)):  # local header and central directory alike
        raw[at : at + 4] = ((info.CRC + 1) & 0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="CRC"):
        read_bytes(path)


def test_truncated_compressed_data_is_refused(tmp_path: Path) -> None:
    rows = b"".join(b"%d,%d\n" % (i, i * 3) for i in range(100_000))
    path, start, length = _deflated(tmp_path, rows)
    raw = path.read_bytes()
    # keep the directory, cut the deflate stream short (zeros where the rest was)
    cut = raw[: start + length // 3] + bytes(length - length // 3) + raw[start + length :]
    path.write_bytes(cut)
    with pytest.raises(InputError, match="cannot read the file"):
        read_bytes(path)


@pytest.mark.parametrize("whole", [False, True], ids=["chunks", "one-call"])
@pytest.mark.parametrize("long_at", [2, 40_000, 90_001])
def test_a_long_line_is_refused_at_its_line_across_chunks(
    tmp_path: Path, long_at: int, whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line bound names the right line wherever the long line falls among the decompressed
    chunks (lines are counted only when one is refused), and in a member inflated in one call."""
    monkeypatch.setattr(base, "READ_CHUNK", 1 << 16)  # ~16 chunks
    if not whole:
        monkeypatch.setattr(zip_member, "WHOLE_MEMBER_BYTES", 0)
    lines = [b"%d,1.5,2" % i for i in range(100_000)]
    lines[long_at - 1] = b"9" * 5000
    path = tmp_path / "BTCUSDT-1m-2024-01.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("BTCUSDT-1m-2024-01.csv", b"\n".join(lines) + b"\n")
    with pytest.raises(InputError, match="line longer than 4,000 bytes") as e:
        read_bytes(path, max_line=4000)
    assert e.value.row == long_at


@pytest.mark.parametrize("path", REAL_ZIPS, ids=lambda p: p.name)
def test_a_member_inflated_in_one_call_is_what_zipfile_reads(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        name = zf.namelist()[0]
        assert zip_member.read_whole(zf, name) == zf.read(name)


def test_one_call_never_inflates_past_the_declared_size(tmp_path: Path) -> None:
    """A member whose data inflates to more than its header says is refused after inflating at most
    the declared size + 1 byte (a zip bomb with a small declared size stays small)."""
    text = b"1,2\n" * 100_000
    path, _, _ = _deflated(tmp_path, text)
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
    raw = bytearray(path.read_bytes())
    small = (1000).to_bytes(4, "little")
    real = info.file_size.to_bytes(4, "little")
    for at in (raw.find(real), raw.rfind(real)):  # the size in the local header and the directory
        raw[at : at + 4] = small
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="more than the 1000 bytes the zip says"):
        read_bytes(path)
