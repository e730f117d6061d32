"""The translation files load in Odoo: Odoo's importer reads the module from
each entry's ``#. module:`` comment and fails the whole install on an entry
without one (as a careless merge of two appended blocks leaves behind)."""

import re

import pytest

from .conftest import ADDON

PO_FILES = sorted((ADDON / "i18n").glob("*.po"))


def _entries(path):
    """The blocks of ``path`` (separated by blank lines) that hold a msgid,
    with their line numbers."""
    text = path.read_text(encoding="utf-8")
    line = 1
    for block in re.split(r"\n\s*\n", text):
        if re.search(r'^msgid "(?!")|^msgid ""\n"', block, re.MULTILINE):
            yield line, block
        line += block.count("\n") + 2


@pytest.mark.parametrize("path", PO_FILES, ids=lambda path: path.name)
def test_every_entry_names_the_module(path):
    missing = [
        line
        for line, block in _entries(path)
        if "#. module: friendly_dunning" not in block
    ]
    assert not missing, f"entries without '#. module:' at lines {missing}"


@pytest.mark.parametrize("path", PO_FILES, ids=lambda path: path.name)
def test_one_entry_per_message(path):
    seen = {}
    duplicates = []
    for line, block in _entries(path):
        msgids = len(re.findall(r"^msgid ", block, re.MULTILINE))
        msgstrs = len(re.findall(r"^msgstr ", block, re.MULTILINE))
        if msgids != 1 or msgstrs != 1:
            duplicates.append(line)
            continue
        key = re.search(
            r"^(msgctxt .*\n)?msgid (.*?)\nmsgstr", block, re.MULTILINE | re.DOTALL
        )
        if key and key.group(0) in seen:
            duplicates.append(line)
        elif key:
            seen[key.group(0)] = line
    assert not duplicates, f"merged or repeated entries at lines {duplicates}"


@pytest.mark.parametrize("path", PO_FILES, ids=lambda path: path.name)
def test_every_message_is_translated(path):
    untranslated = [
        line for line, block in _entries(path) if block.rstrip().endswith('msgstr ""')
    ]
    assert not untranslated, f"empty translations at lines {untranslated}"


@pytest.mark.parametrize("path", PO_FILES, ids=lambda path: path.name)
def test_odoo_can_parse_the_file(path):
    """Odoo reads the files with polib: one syntax error (a ``msgstr`` line
    repeated by a merge) drops every translation of the language."""
    polib = pytest.importorskip("polib")
    assert polib.pofile(str(path))


# Every term of the code (friendly_dunning.pot, exported by Odoo and checked
# against the code by .ci/odoo-tests) is translated in every language we ship.
POT = ADDON / "i18n" / "friendly_dunning.pot"
LANGUAGES = ("es.po", "pt_BR.po")
PLACEHOLDER = re.compile(
    r"%\(\w+\)s|%%|%[sd]|\{\{.*?\}\}|\{\w+\}|</?[a-zA-Z][^>]*>|t-[\w-]+=\"[^\"]*\"",
    re.DOTALL,
)


def _catalog(path):
    polib = pytest.importorskip("polib")
    return {
        (entry.msgctxt, entry.msgid): entry
        for entry in polib.pofile(str(path))
        if entry.msgid and not entry.obsolete
    }


def test_we_ship_the_languages_of_the_template():
    assert POT.is_file(), "run bash .ci/regenerate-translations"
    assert {path.name for path in PO_FILES} >= set(LANGUAGES)


@pytest.mark.parametrize("name", LANGUAGES)
def test_every_term_of_the_code_is_translated(name):
    translations = _catalog(ADDON / "i18n" / name)
    problems = []
    for key, template in _catalog(POT).items():
        entry = translations.get(key)
        if entry is None:
            problems.append(f"missing: {template.msgid!r}")
        elif not entry.msgstr.strip():
            problems.append(f"empty: {template.msgid!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {template.msgid!r}")
    assert not problems, (
        f"{len(problems)} terms of friendly_dunning.pot are not translated in {name} "
        "(bash .ci/regenerate-translations merges the new ones):\n"
        + "\n".join(problems[:50])
    )


@pytest.mark.parametrize("name", LANGUAGES)
def test_translations_keep_the_placeholders(name):
    """A translation that loses ``%(amount)s`` or ``{name}`` breaks the
    message at run time; one that loses a tag breaks the page."""
    wrong = [
        entry.msgid
        for entry in _catalog(ADDON / "i18n" / name).values()
        if entry.msgstr
        and sorted(PLACEHOLDER.findall(entry.msgid))
        != sorted(PLACEHOLDER.findall(entry.msgstr))
    ]
    assert not wrong, f"placeholders differ in {name}: {wrong[:20]}"
