"""Zip containers (PPTX, XLSX, EPUB) checked before any library unpacks them.

A file named ``.xlsx`` may be anything: not a zip, a truncated one, a password-protected Office
file (an OLE container, not a zip), or a zip bomb that declares gigabytes. Each becomes an
``UnreadableFile`` naming the problem. ``zipfile`` never inflates a member past the size its
central directory declares, so capping the declared sizes caps what any reader can unpack.
"""

from __future__ import annotations

import io
import zipfile

from qa.core.errors import UnreadableFile

# Far above real documents (a 25 MB upload of XML typically unpacks to 100-250 MB), far below
# what would exhaust the memory of a laptop.
MAX_UNPACKED_BYTES = 512 * 2**20
MAX_MEMBERS = 20_000

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The stream an encrypted OOXML file keeps its zip in, named in UTF-16 in the OLE directory.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    """The zip archive in ``data`` (a ``kind`` file, e.g. "XLSX"), or UnreadableFile saying why not."""
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_PACKAGE in data:
            raise UnreadableFile(f"password-protected {kind}")
        raise UnreadableFile(f"not a {kind} file: an old binary Office document (.doc, .xls or .ppt)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        if data.startswith(b"PK"):
            raise UnreadableFile(f"corrupt {kind}: damaged or truncated zip archive") from error
        raise UnreadableFile(f"not a {kind} file (not a zip archive)") from error
    if len(members) > MAX_MEMBERS:
        raise UnreadableFile(f"{kind} holds {len(members):,} files, over the limit of {MAX_MEMBERS:,}")
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise UnreadableFile(
            f"{kind} unpacks to {unpacked / 2**20:,.0f} MB, over the limit of {MAX_UNPACKED_BYTES // 2**20} MB"
        )
    return archive
