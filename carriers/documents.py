"""What a carrier's document is (A7): PDF, JPEG or PNG, known by its first bytes; its name only
has to agree. The operator's browser is told the type found here, never the one the uploader's
browser claimed."""

import unicodedata
from pathlib import PurePosixPath

# Content type → (the bytes every such file starts with, the endings its name may have).
TYPES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "application/pdf": (b"%PDF-", (".pdf",)),
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
}
NAME_MAX_LENGTH = 200  # CarrierDocument.name


def content_type_of(content: bytes) -> str | None:
    """The content type its first bytes say, or None for anything but PDF, JPEG and PNG."""
    for content_type, (magic, _endings) in TYPES.items():
        if content.startswith(magic):
            return content_type
    return None


def name_fits(name: str, content_type: str) -> bool:
    """Whether the file's name ends as a file of that type does ('extract.PDF' for a PDF)."""
    return PurePosixPath(name.lower()).suffix in TYPES[content_type][1]


def clean_name(raw: str) -> str:
    """The name as kept and later offered for download: the last part of a path (some browsers
    send the whole path), without control characters, at most 200 characters with its ending."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip() or "document"
    if len(name) > NAME_MAX_LENGTH:
        suffix = PurePosixPath(name).suffix[:10]
        name = name[: NAME_MAX_LENGTH - len(suffix)] + suffix
    return name
