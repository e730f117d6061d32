"""Keep friendly_dunning's translation files in step with its code (polib only).

    python3 .ci/i18n_tool.py merge            rewrite every i18n/*.po in the order of
                                              i18n/friendly_dunning.pot: translations
                                              kept, new terms added empty, gone terms
                                              dropped
    python3 .ci/i18n_tool.py compare EXPORTED fail, listing them, when the freshly
                                              EXPORTED template holds terms that the
                                              committed .pot lacks
    python3 .ci/i18n_tool.py status           count untranslated or fuzzy terms per file

Called by .ci/regenerate-translations and .ci/odoo-tests.
"""

import sys
from pathlib import Path

import polib

I18N = Path(__file__).resolve().parent.parent / "friendly_dunning" / "i18n"
POT = I18N / "friendly_dunning.pot"


def _key(entry):
    return (entry.msgctxt, entry.msgid)


def _terms(pofile):
    return {_key(entry) for entry in pofile if not entry.obsolete and entry.msgid}


def merge():
    pot = polib.pofile(str(POT))
    for path in sorted(I18N.glob("*.po")):
        old = polib.pofile(str(path))
        translated = {_key(entry): entry for entry in old if not entry.obsolete}
        new = polib.POFile(wrapwidth=78)
        new.header = old.header
        new.metadata = old.metadata
        for template in pot:
            entry = polib.POEntry(
                msgid=template.msgid,
                msgctxt=template.msgctxt,
                msgstr="",
                comment=template.comment,
                occurrences=template.occurrences,
                flags=list(template.flags),
            )
            known = translated.get(_key(template))
            if known is not None:
                entry.msgstr = known.msgstr
                if known.fuzzy and "fuzzy" not in entry.flags:
                    entry.flags.append("fuzzy")
            new.append(entry)
        new.save(str(path))
        print(f"{path.name}: merged, {_count_missing(new)} to translate")


def _count_missing(pofile):
    return sum(
        1 for entry in pofile if entry.msgid and (not entry.msgstr or entry.fuzzy)
    )


def compare(exported_path):
    committed = _terms(polib.pofile(str(POT)))
    exported = _terms(polib.pofile(exported_path))
    missing = sorted(exported - committed, key=lambda key: key[1])
    gone = committed - exported
    for _context, msgid in missing:
        print(f"  missing from {POT.name}: {msgid!r}")
    if gone:
        print(f"  ({len(gone)} terms of {POT.name} are no longer in the code)")
    if missing:
        print(
            f"{len(missing)} terms of the code are not in {POT.name}: "
            "run bash .ci/regenerate-translations and translate them."
        )
        return 1
    print(f"ok: the {len(exported)} terms of the code are all in {POT.name}")
    return 0


def status():
    for path in sorted(I18N.glob("*.po")):
        pofile = polib.pofile(str(path))
        total = sum(1 for entry in pofile if entry.msgid and not entry.obsolete)
        print(f"{path.name}: {total - _count_missing(pofile)} of {total} translated")


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["status"]
    if command == "merge":
        merge()
    elif command == "compare":
        sys.exit(compare(*args))
    elif command == "status":
        status()
    else:
        sys.exit(__doc__)
