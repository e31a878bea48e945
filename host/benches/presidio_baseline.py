"""Microsoft Presidio's pattern recognisers as a PII-detection baseline.

Runs presidio-analyzer over evaluation files in JSON lines ({"text", "spans":
[{"type", "start", "end"}], optional "lang"}; offsets are str indices) and
prints, per file, one JSON line on stdout: per gold type the number of gold
spans, how many a compatible prediction hits exactly (same start and end) and
how many it overlaps by at least one character; plus throughput (UTF-8 bytes
of all texts over the median of 3 timed passes, after a warm-up on a few
lines). Recall only: the figures say nothing about false positives.

What runs:
- Presidio's own default recogniser set (the enabled entries of its
  conf/default_recognizers.yaml), with no NER model: the NLP engine is
  Presidio's SlimSpacyNlpEngine over spaCy *blank* pipelines, which only
  tokenise. Person, organisation and location detection (NER) is therefore
  absent; this is the pattern-recogniser baseline.
- Many recognisers are registered for one language only (US_*, UK_NHS for
  "en"; ES_NIF, ES_NIE for "es"; IT_* for "it"; PL_PESEL for "pl"). Pattern
  recognisers are language-agnostic, so every enabled recogniser is
  registered for each analysis language (en, es, pt), keeping the
  per-language context words Presidio ships where it has them. Each text is
  analysed in its own language ("lang" field, else by file name: meddocan is
  Spanish, anything else English) and sees the same union of recognisers.
- Score threshold: Presidio's default, 0, so every match is kept, including
  the weak patterns that fire on bare digit runs (US_DRIVER_LICENSE at 0.01,
  US_BANK_NUMBER, US_SSN and US_PASSPORT at 0.05): this gives Presidio its
  highest recall. Blank pipelines have no lemmas, so context words never
  raise a score, and a higher threshold would drop those matches outright.

Type compatibility: gold types and Presidio entities both map onto the coarse
categories in the tables below; a prediction counts for a gold span only when
both fall in the same category (person, organisation, email, phone, url,
ip-address, national-id, tax-id, bank-account, card, address, date). Types
mapped to None have no counterpart and never match; a type missing from the
tables is reported on stderr and never matches either.

Bench-only; install with `pip install -r host/benches/presidio_requirements.txt`.

  python host/benches/presidio_baseline.py FILE [FILE...]
"""
import argparse
import json
import os
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

# Presidio's e-mail validator calls tldextract, which would try to download the
# Public Suffix List; an empty URL list makes it use the copy in its wheel.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from presidio_analyzer import AnalyzerEngine  # noqa: E402
from presidio_analyzer.nlp_engine import SlimSpacyNlpEngine  # noqa: E402
from presidio_analyzer.recognizer_registry import RecognizerRegistryProvider  # noqa: E402
from presidio_analyzer.recognizer_registry.recognizers_loader_utils import (  # noqa: E402
    RecognizerConfigurationLoader,
)

# Gold type (evaluation files) -> coarse category.
GOLD_CATEGORY = {
    # people
    "PERSON": "person",
    "NOMBRE_SUJETO_ASISTENCIA": "person",
    "NOMBRE_PERSONAL_SANITARIO": "person",
    "FAMILIARES_SUJETO_ASISTENCIA": "person",
    # organisations
    "ORGANIZATION": "organisation",
    "HOSPITAL": "organisation",
    "INSTITUCION": "organisation",
    "CENTRO_SALUD": "organisation",
    # contact
    "EMAIL_ADDRESS": "email",
    "CORREO_ELECTRONICO": "email",
    "PHONE_NUMBER": "phone",
    "NUMERO_TELEFONO": "phone",
    "NUMERO_FAX": "phone",
    "DOMAIN_NAME": "url",
    "IP_ADDRESS": "ip-address",
    # identifiers of people
    "CO_CEDULA": "national-id",
    "BR_CPF": "national-id",
    "MX_CURP": "national-id",
    "US_SSN": "national-id",
    "US_DRIVER_LICENSE": "national-id",
    "ID_SUJETO_ASISTENCIA": "national-id",
    "ID_TITULACION_PERSONAL_SANITARIO": "national-id",
    "ID_ASEGURAMIENTO": "national-id",
    "ID_CONTACTO_ASISTENCIAL": "national-id",
    "ID_EMPLEO_PERSONAL_SANITARIO": "national-id",
    # tax identifiers
    "CO_NIT": "tax-id",
    "MX_RFC": "tax-id",
    "BR_CNPJ": "tax-id",
    # money
    "BANK_ACCOUNT": "bank-account",
    "MX_CLABE": "bank-account",
    "IBAN_CODE": "bank-account",
    "CREDIT_CARD": "card",
    # places
    "STREET_ADDRESS": "address",
    "CALLE": "address",
    "GPE": "address",
    "TERRITORIO": "address",
    "PAIS": "address",
    "ZIP_CODE": "address",
    # dates
    "DATE": "date",
    "DATE_TIME": "date",
    "FECHAS": "date",
    # no Presidio counterpart
    "AGE": None,
    "EDAD_SUJETO_ASISTENCIA": None,
    "TITLE": None,
    "NRP": None,
    "SEXO_SUJETO_ASISTENCIA": None,
    "PROFESION": None,
    "OTROS_SUJETO_ASISTENCIA": None,
}

# Presidio entity -> coarse category.
PRESIDIO_CATEGORY = {
    # NER entities: never emitted here (no NER model), listed for completeness
    "PERSON": "person",
    "ORGANIZATION": "organisation",
    "LOCATION": "address",
    "NRP": None,
    # generic pattern recognisers
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "URL": "url",
    "IP_ADDRESS": "ip-address",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "bank-account",
    "DATE_TIME": "date",
    "MEDICAL_LICENSE": "national-id",
    "CRYPTO": None,
    "MAC_ADDRESS": None,
    "UUID": None,
    # country-specific pattern recognisers
    "US_SSN": "national-id",
    "US_PASSPORT": "national-id",
    "US_DRIVER_LICENSE": "national-id",
    "US_ITIN": "tax-id",
    "US_BANK_NUMBER": "bank-account",
    "UK_NHS": "national-id",
    "ES_NIF": "national-id",
    "ES_NIE": "national-id",
    "IT_FISCAL_CODE": "national-id",
    "IT_DRIVER_LICENSE": "national-id",
    "IT_IDENTITY_CARD": "national-id",
    "IT_PASSPORT": "national-id",
    "IT_VAT_CODE": "tax-id",
    "PL_PESEL": "national-id",
}

LANGUAGES = ["en", "es", "pt"]
LANGUAGE_BY_FILE_PREFIX = {"meddocan": "es"}
SCORE_THRESHOLD = 0
TIMED_PASSES = 3
WARMUP_LINES = 5


def build_analyzer():
    """Presidio's default recognisers, each registered for every language."""
    defaults = RecognizerConfigurationLoader.get()  # conf/default_recognizers.yaml
    recognizers = []
    for conf in defaults["recognizers"]:
        context = {
            item["language"]: item.get("context")
            for item in conf.get("supported_languages") or []
            if isinstance(item, dict)
        }
        recognizers.append({
            **conf,
            "supported_languages": [{"language": lang, "context": context.get(lang)}
                                    for lang in LANGUAGES],
        })
    registry = RecognizerRegistryProvider(registry_configuration={
        "supported_languages": LANGUAGES,
        "global_regex_flags": defaults["global_regex_flags"],
        "recognizers": recognizers,
    }).create_recognizer_registry()
    nlp_engine = SlimSpacyNlpEngine(
        models=[{"lang_code": lang, "model_name": f"blank:{lang}"} for lang in LANGUAGES],
        auto_download=False,
    )
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=LANGUAGES,
                          default_score_threshold=SCORE_THRESHOLD)


def load(path):
    default = next((lang for prefix, lang in LANGUAGE_BY_FILE_PREFIX.items()
                    if path.name.startswith(prefix)), "en")
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return records, [record.get("lang", default) for record in records]


def analyse(analyzer, texts, languages):
    return [analyzer.analyze(text=text, language=lang) for text, lang in zip(texts, languages)]


def score(records, predictions):
    """Per gold type: gold spans, hit exactly / overlapped by a compatible prediction."""
    types = {}
    for record, found in zip(records, predictions):
        for gold in record["spans"]:
            counts = types.setdefault(gold["type"], {"gold": 0, "exact": 0, "overlap": 0})
            counts["gold"] += 1
            category = GOLD_CATEGORY.get(gold["type"])
            same = [p for p in found
                    if category is not None and PRESIDIO_CATEGORY.get(p.entity_type) == category]
            counts["exact"] += any(p.start == gold["start"] and p.end == gold["end"] for p in same)
            counts["overlap"] += any(p.start < gold["end"] and gold["start"] < p.end for p in same)
    return types


def warn_unmapped(records, predictions):
    for name, table, seen in (
        ("gold type", GOLD_CATEGORY, {s["type"] for r in records for s in r["spans"]}),
        ("Presidio entity", PRESIDIO_CATEGORY, {p.entity_type for f in predictions for p in f}),
    ):
        for unknown in sorted(seen - table.keys()):
            print(f"presidio_baseline: {name} {unknown} is not in the mapping; it never matches",
                  file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args()

    analyzer = build_analyzer()
    for path in args.files:
        records, languages = load(path)
        texts = [record["text"] for record in records]
        analyse(analyzer, texts[:WARMUP_LINES], languages[:WARMUP_LINES])
        times = []
        for _ in range(TIMED_PASSES):
            started = time.perf_counter()
            predictions = analyse(analyzer, texts, languages)
            times.append(time.perf_counter() - started)
        warn_unmapped(records, predictions)
        seconds = statistics.median(times)
        size = sum(len(text.encode("utf-8")) for text in texts)
        recognizers = {r.name for lang in set(languages) for r in analyzer.get_recognizers(lang)}
        print(json.dumps({
            "file": path.name,
            "bytes": size,
            "seconds": round(seconds, 4),
            "mb_s": round(size / 1e6 / seconds, 4),
            "types": score(records, predictions),
            "presidio_version": version("presidio-analyzer"),
            "languages": sorted(set(languages)),
            "score_threshold": SCORE_THRESHOLD,
            "recognizers": sorted(recognizers),
        }), flush=True)


if __name__ == "__main__":
    main()
