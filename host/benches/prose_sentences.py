"""Ordinary prose with no personal data, for the detector's false-positive
figure (`cargo xtask eval pii`):
- the user-interface sentences of Django (BSD-3-Clause, from PyPI), in
  English (the source strings) and in their Spanish and Brazilian
  Portuguese translations, with format placeholders such as %(name)s
  removed;
- English sentences of the Python language reference that ships with the
  interpreter (`pydoc_data.topics`, PSF License), lines of code left out.
Only sentences of five or more words are kept (language and country names
are not prose).

Prints JSON lines {"lang", "text"}.
"""

import json
import pathlib
import re
import sys

import django
import pydoc_data.topics

PLACEHOLDER = re.compile(r"%(\([a-z_]+\))?[sd]|\{[a-z_0-9]*\}")


def entries(path):
    """(msgid, msgstr) pairs of a .po file, plural forms taken whole."""
    msgid, msgstr, current = [], [], None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = line.strip()
        if line.startswith("msgid "):
            if msgid and msgstr:
                yield "".join(msgid), "".join(msgstr)
            msgid, msgstr, current = [], [], "id"
            line = line[len("msgid ") :]
        elif line.startswith("msgid_plural"):
            current = None
            continue
        elif line.startswith("msgstr"):
            current = "str" if not msgstr else None
            line = line.split(" ", 1)[1] if " " in line else '""'
        elif not line.startswith('"'):
            current = None
            continue
        text = json.loads(line) if line.startswith('"') else ""
        if current == "id":
            msgid.append(text)
        elif current == "str":
            msgstr.append(text)
    if msgid and msgstr:
        yield "".join(msgid), "".join(msgstr)


def sentence(text):
    text = " ".join(PLACEHOLDER.sub("", text).split())
    return text if len(text.split()) >= 5 else None


CODE = re.compile(r"[=(){}\[\]<>*_`|\\:#]|\.\.\.|^\s")


def reference_sentences():
    """Sentences of the language reference's prose paragraphs."""
    for topic in pydoc_data.topics.topics.values():
        for paragraph in topic.split("\n\n"):
            lines = paragraph.splitlines()
            if not lines or any(CODE.search(line) for line in lines):
                continue
            for text in re.split(r"(?<=[.!?])\s+", " ".join(lines)):
                if text[:1].isupper() and text.endswith("."):
                    yield text


def main():
    root = pathlib.Path(django.__file__).parent
    seen = set()
    for text in reference_sentences():
        text = sentence(text)
        if text and ("en", text) not in seen:
            seen.add(("en", text))
            print(json.dumps({"lang": "en", "text": text}, ensure_ascii=False))
    for lang, folder in (("es", "es"), ("pt", "pt_BR")):
        for po in sorted(root.glob(f"**/locale/{folder}/LC_MESSAGES/*.po")):
            for msgid, msgstr in entries(po):
                if not msgid:
                    continue  # the header: translators' names and dates
                for out_lang, text in (("en", msgid), (lang, msgstr)):
                    text = sentence(text)
                    if text and (out_lang, text) not in seen:
                        seen.add((out_lang, text))
                        print(json.dumps({"lang": out_lang, "text": text}, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
