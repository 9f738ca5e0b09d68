"""Reading hotshard.results/1 files (DESIGN.md "Results format"): the one
loader and schema check of scripts/plot.py and scripts/headline.py. Only the
standard library.
"""
import json

SCHEMA = "hotshard.results/1"


class ResultsError(Exception):
    """A file that cannot be read or is not a hotshard.results/1 document."""


def load(path):
    """The document in `path`: a dict whose "schema" is SCHEMA and whose
    "results" is a list. Raises ResultsError naming the path and the fault."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError and bad UTF-8
        raise ResultsError(f"{path}: cannot read: {e}") from e
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ResultsError(f"{path}: not a {SCHEMA} document (schema is {_schema_of(doc)!r})")
    if not isinstance(doc.get("results"), list):
        raise ResultsError(f"{path}: not a {SCHEMA} document (no results list)")
    return doc


def records(doc):
    """The document's result records that name a scenario, an impl and a thread count."""
    return [r for r in doc["results"] if isinstance(r, dict) and "scenario" in r and "impl" in r and "threads" in r]


def _schema_of(doc):
    return doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
