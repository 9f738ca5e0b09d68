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


def group_key(r):
    """The group a record's ratios are taken within: (scenario, workload, knobs as sorted JSON, threads)."""
    return (r["scenario"], r["workload"], json.dumps(r.get("knobs") or {}, sort_keys=True), r["threads"])


def repetition_ratios(a, b):
    """a[k] / b[k] for every repetition k both sides ran (a, b: repetition -> ops/s), in repetition order."""
    return [a[k] / b[k] for k in sorted(set(a) & set(b)) if b[k] > 0]


def _schema_of(doc):
    return doc.get("schema") if isinstance(doc, dict) else type(doc).__name__


def scenarios(docs, list_json=None):
    """Name -> the scenario's self-description (`hotshard-bench list --json`
    per scenario: impls with "ours", knobs, metrics with unit and meaning),
    from the documents' "scenarios" objects, newest file last wins; a file
    written by `hotshard-bench list --json` (`list_json`) fills what older
    documents lack. Raises ResultsError for an unreadable list file."""
    out = {}
    if list_json:
        try:
            with open(list_json) as f:
                listing = json.load(f)
        except (OSError, ValueError) as e:
            raise ResultsError(f"{list_json}: cannot read: {e}") from e
        if not isinstance(listing, dict) or not isinstance(listing.get("scenarios"), list):
            raise ResultsError(f"{list_json}: not `hotshard-bench list --json` output (no scenarios list)")
        out.update({s["name"]: s for s in listing["scenarios"] if isinstance(s, dict) and s.get("built")})
    for doc in docs:
        described = doc.get("scenarios")
        if isinstance(described, dict):
            out.update(described)
    return out


def ours(described, scenario):
    """Our implementations of `scenario` (a set; empty when undescribed)."""
    return {i["name"] for i in described.get(scenario, {}).get("impls", []) if i.get("ours")}


def impl_rank(described, scenario):
    """impl name -> its position in the scenario's registry (display order)."""
    return {i["name"]: k for k, i in enumerate(described.get(scenario, {}).get("impls", []))}


def metric_label(described, scenario, name):
    """A metric's meaning and unit for an axis or a panel title; the name when undescribed."""
    for m in described.get(scenario, {}).get("metrics", []):
        if m.get("name") == name:
            unit = f" [{m['unit']}]" if m.get("unit") else ""
            return f"{name}{unit}: {m.get('meaning', '')}"
    return name
