"""The files a customer may send us: a proof of payment or a document for a
dispute, from the collections page or in a WhatsApp chat. Recognised by
their content, never by the name or type the sender gave."""

import os
import re

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
UPLOAD_TYPES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)
SAFE_NAME = re.compile(r"[^\w\- ]+")
MAX_STEM = 100

TOO_LARGE = "too_large"
BAD_TYPE = "bad_type"


class UploadRefused(Exception):
    """A file we do not keep; ``kind`` is ``too_large`` or ``bad_type``."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


def check_upload(filename, content, default_stem="document", max_bytes=None):
    """``(name, content, mimetype)`` of a file we keep: a PDF, PNG or JPEG by
    its content, of at most ``max_bytes`` (5 MB by default). The name is the
    plain stem of ``filename`` (``default_stem`` when nothing is left of it)
    with the extension of the content. Raises ``UploadRefused``."""
    limit = MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    if len(content) > limit:
        raise UploadRefused(TOO_LARGE)
    for signature, mimetype, extension in UPLOAD_TYPES:
        if content.startswith(signature):
            stem = os.path.splitext(os.path.basename(filename or ""))[0]
            stem = SAFE_NAME.sub("", stem).strip()[:MAX_STEM] or default_stem
            return f"{stem}{extension}", content, mimetype
    raise UploadRefused(BAD_TYPE)
