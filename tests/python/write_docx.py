"""Writes a Word document with python-docx (a real writer, not sluice's
reader's idea of one) from a contract's text: its first line as a heading,
a table of the parties, then one paragraph per line. Usage: write_docx.py
SOURCE.txt OUT.docx"""

import sys

import docx

source, out = sys.argv[1], sys.argv[2]
lines = [line.strip() for line in open(source, encoding="utf-8").read().splitlines() if line.strip()]
document = docx.Document()
document.core_properties.title = "CUAD contract"
document.core_properties.author = "sluice tests"
document.add_heading(lines[0], level=1)
table = document.add_table(rows=1, cols=2)
table.rows[0].cells[0].text = "Party"
table.rows[0].cells[1].text = "Role"
for line in lines[1:]:
    document.add_paragraph(line)
document.save(out)
