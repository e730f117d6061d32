"""The check of the files customers send (page uploads, WhatsApp receipts)."""

import pytest

from .conftest import load_tool

uploads = load_tool("uploads")

PDF = b"%PDF-1.4\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"


@pytest.mark.parametrize(
    ("filename", "content", "name", "mimetype"),
    [
        ("receipt.pdf", PDF, "receipt.pdf", "application/pdf"),
        ("scan.PNG", PNG, "scan.png", "image/png"),
        ("photo.jpeg", JPEG, "photo.jpg", "image/jpeg"),
        # The content decides the type, whatever the name says.
        ("photo.pdf", JPEG, "photo.jpg", "image/jpeg"),
        ("noextension", PDF, "noextension.pdf", "application/pdf"),
    ],
)
def test_known_types_are_kept_with_the_extension_of_their_content(
    filename, content, name, mimetype
):
    assert uploads.check_upload(filename, content) == (name, content, mimetype)


@pytest.mark.parametrize(
    ("filename", "stem"),
    [
        ("../../etc/passwd.pdf", "passwd"),
        ("C:\\Users\\ana\\pago<script>.pdf", "CUsersanapagoscript"),
        ("  paid – 12/05 .pdf", "05"),
        ("Überweisung_März-2026.pdf", "Überweisung_März-2026"),
        ("x" * 300 + ".pdf", "x" * 100),
    ],
)
def test_the_name_is_a_plain_stem(filename, stem):
    name, _content, _mimetype = uploads.check_upload(filename, PDF)
    assert name == f"{stem}.pdf"


@pytest.mark.parametrize("filename", [None, "", "***.pdf", "<>?.pdf"])
def test_a_name_with_nothing_left_gets_the_default_stem(filename):
    name, _content, _mimetype = uploads.check_upload(
        filename, PNG, default_stem="receipt"
    )
    assert name == "receipt.png"


@pytest.mark.parametrize(
    "content",
    [
        b"MZ\x90\x00 an executable renamed .pdf",
        b"GIF89a",
        b"",
        b"%PD",  # a truncated signature
        b" %PDF-1.4",  # the signature must come first
    ],
)
def test_other_content_is_refused_as_a_bad_type(content):
    with pytest.raises(uploads.UploadRefused) as caught:
        uploads.check_upload("receipt.pdf", content)
    assert caught.value.kind == uploads.BAD_TYPE


def test_size_limit_is_inclusive():
    limit = uploads.MAX_UPLOAD_BYTES
    assert limit == 5 * 1024 * 1024
    largest = PDF + b"0" * (limit - len(PDF))
    assert uploads.check_upload("a.pdf", largest)[1] == largest
    with pytest.raises(uploads.UploadRefused) as caught:
        uploads.check_upload("a.pdf", largest + b"0")
    assert caught.value.kind == uploads.TOO_LARGE


def test_a_smaller_limit_can_be_given():
    assert uploads.check_upload("a.pdf", PDF, max_bytes=len(PDF))
    with pytest.raises(uploads.UploadRefused) as caught:
        uploads.check_upload("a.pdf", PDF + b"0", max_bytes=len(PDF))
    assert caught.value.kind == uploads.TOO_LARGE


def test_size_is_checked_before_type():
    with pytest.raises(uploads.UploadRefused) as caught:
        uploads.check_upload("a.exe", b"MZ" * 10, max_bytes=5)
    assert caught.value.kind == uploads.TOO_LARGE
