"""Ingest video records (JSON lines) through a TOML mapping: the paper's mapper (section 3.1.2).

Each record's attributes become triples `(video, relation, tag)`: `has_characters: "male"` gives
`(v, has_characters, Male)` with `normalize = "title"`; list values give one triple per value; `split`
cuts a string into several tags; `properties` stay on the video node (e.g. `title`); `drop` attributes
are ignored; attributes the mapping does not name follow `unmapped` ("relation" | "drop" | "error").

Mapping file (all keys optional except where noted):

    id_field = "id"
    properties = ["title"]
    drop = ["internal_score"]
    unmapped = "relation"
    [relations.has_characters]
    relation = "has_characters"     # default: the attribute name
    normalize = "title"             # "none" | "lower" | "title"; whitespace is always stripped
    split = ","

The whole records file is validated before any write (`InputError` with file and line); the writes
are the idempotent batches of `ingest.write_triple_table`.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .fingerprint import bump_version
from .ingest import BATCH_SIZE, IngestReport, upsert_entities, write_triple_table
from .store import Store, cypher
from .tables import MAX_ID, check_name, check_names, check_utf8, describe_control, first_control, read_bytes, shorten

NORMALIZE = ("none", "lower", "title")
UNMAPPED = ("relation", "drop", "error")


@dataclass(frozen=True)
class RelationRule:
    relation: str
    normalize: str = "none"
    split: str | None = None


@dataclass(frozen=True)
class Mapping:
    id_field: str = "id"
    properties: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    unmapped: str = "relation"
    relations: dict[str, RelationRule] = field(default_factory=dict)

    def rule(self, attribute: str) -> RelationRule | None:
        """How an attribute becomes triples; None when it is not a relation."""
        if attribute in self.relations:
            return self.relations[attribute]
        if attribute in self.properties or attribute in self.drop or attribute == self.id_field:
            return None
        if self.unmapped == "relation":
            return RelationRule(attribute.strip())
        return None


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; `InputError` names the file and the fault."""
    path = Path(path)
    try:
        raw = tomllib.loads(check_utf8(read_bytes(path), path).decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(path, None, "nested too deep (a mapping is a few flat tables)") from None
    known = {"id_field", "properties", "drop", "unmapped", "relations"}
    if unknown := sorted(set(raw) - known):
        raise InputError(path, None, f"unknown key(s) {unknown}; allowed: {sorted(known)}")

    def names(key: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(path, None, f"{key} must be a list of attribute names")
        return tuple(value)

    id_field = raw.get("id_field", "id")
    if not isinstance(id_field, str) or not id_field:
        raise InputError(path, None, "id_field must be a non-empty string")
    unmapped = raw.get("unmapped", "relation")
    if unmapped not in UNMAPPED:
        raise InputError(path, None, f"unmapped must be one of {list(UNMAPPED)}, not {unmapped!r}")
    properties = names("properties")
    if bad := [p for p in properties if p == "id" or p.startswith("feat_")]:
        raise InputError(path, None, f"property name(s) {bad} are reserved (id, feat_*)")
    relations: dict[str, RelationRule] = {}
    tables = raw.get("relations", {})
    if not isinstance(tables, dict):
        raise InputError(path, None, "relations must be tables: [relations.<attribute>]")
    for attribute, spec in tables.items():
        if not isinstance(spec, dict):
            raise InputError(path, None, f"relations.{attribute} must be a table")
        if unknown := sorted(set(spec) - {"relation", "normalize", "split"}):
            raise InputError(path, None, f"relations.{attribute}: unknown key(s) {unknown}")
        relation = spec.get("relation", attribute)
        normalize = spec.get("normalize", "none")
        split = spec.get("split")
        if not isinstance(relation, str) or not relation.strip():
            raise InputError(path, None, f"relations.{attribute}.relation must be a non-empty string")
        check_name(relation.strip(), path, None, f"relations.{shorten(attribute, 40)}.relation {shorten(relation.strip(), 40)}")
        if normalize not in NORMALIZE:
            raise InputError(path, None, f"relations.{attribute}.normalize must be one of {list(NORMALIZE)}")
        if split is not None and (not isinstance(split, str) or not split):
            raise InputError(path, None, f"relations.{attribute}.split must be a non-empty string")
        relations[attribute] = RelationRule(relation.strip(), normalize, split)
    return Mapping(id_field, properties, names("drop"), unmapped, relations)


@dataclass
class VideoTable:
    """Parsed records: one row per video (id, props, line) and the mapped triples."""

    videos: pd.DataFrame
    triples: pd.DataFrame


def read_videos(records_path: str | Path, mapping: Mapping) -> VideoTable:
    """Parse and validate a JSON-lines file against `mapping` (nothing is written)."""
    path = Path(records_path)
    text = check_utf8(read_bytes(path), path).decode("utf-8")
    ids, props, lines = [], [], []
    cells: list[tuple[str, str, object, int]] = []  # video, attribute, raw value, line
    first_line: dict[str, int] = {}
    checked: set[str] = set()  # attributes whose relation name passed check_name
    # JSON has no columnar parser that keeps line numbers and mixed value types; the loop is per
    # record (json.loads in C), and all value work below is vectorised.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:  # json nests by recursion: ~1,000 levels end it
            raise InputError(path, number, "JSON nested too deep; a record is a flat object of strings, "
                                           "numbers and lists of them") from None
        if not isinstance(record, dict):
            raise InputError(path, number, "each line must be a JSON object")
        vid = record.get(mapping.id_field)
        if isinstance(vid, (int, float)) and not isinstance(vid, bool):
            vid = str(vid)
        if not isinstance(vid, str) or not vid.strip():
            raise InputError(path, number, f"missing or empty id field {mapping.id_field!r}")
        vid = vid.strip()
        if len(vid) > MAX_ID:
            raise InputError(path, number, f"video id of {len(vid):,} characters; at most {MAX_ID:,} fit Neo4j's index")
        if vid in first_line:
            raise InputError(path, number, f"video {vid!r} already appears on line {first_line[vid]}")
        first_line[vid] = number
        kept = {}
        for attribute, value in record.items():
            if attribute == mapping.id_field or attribute in mapping.drop:
                continue
            if attribute in mapping.properties:
                kept[attribute] = _property_value(value, path, number, attribute)
                continue
            rule = mapping.rule(attribute)
            if rule is None:
                if mapping.unmapped == "error" and attribute not in mapping.relations:
                    raise InputError(path, number, f"attribute {shorten(attribute)} is not in the mapping (unmapped = \"error\")")
                continue
            if attribute not in checked:  # it names a relation: the limits of `ingest triples`, before any write
                check_name(rule.relation.strip(), path, number, f"attribute {shorten(attribute, 40)} (a relation name)"
                           if rule.relation == attribute.strip() else f"relation {shorten(rule.relation, 40)} of attribute {shorten(attribute, 40)}")
                checked.add(attribute)
            values = value if isinstance(value, list) else [value]
            for v in values:
                if v is None:
                    continue
                if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                    raise InputError(path, number, f"attribute {attribute!r}: values must be strings or numbers, found {type(v).__name__}")
                if len(str(v)) > MAX_ID:  # it becomes a tag id; long text belongs in `properties`
                    raise InputError(path, number, f"attribute {attribute!r}: a value of {len(str(v)):,} characters; "
                                                   f"at most {MAX_ID:,} fit Neo4j's index (long text belongs in properties)")
                cells.append((vid, attribute, str(v), number))
        ids.append(vid)
        props.append(kept)
        lines.append(number)
    videos = pd.DataFrame({"id": pd.Series(ids, dtype=object), "props": pd.Series(props, dtype=object),
                           "line": np.asarray(lines, dtype=np.int64)})
    check_names(videos["id"].to_numpy(dtype=object), videos["line"].to_numpy(), path, "video id")
    triples = _map_cells(pd.DataFrame(cells, columns=["video", "attribute", "value", "line"]), mapping)
    check_names(triples["tail"].to_numpy(dtype=object), triples["line"].to_numpy(), path, "tag (attribute value)")
    return VideoTable(videos, triples)


def _property_value(value, path, line, attribute):
    scalar = (str, int, float, bool)
    if isinstance(value, scalar) or value is None:
        _check_text(value, path, line, attribute)
        return value
    if isinstance(value, list) and all(isinstance(v, scalar) for v in value) and len({type(v) for v in value}) <= 1:
        for v in value:
            _check_text(v, path, line, attribute)
        return value
    raise InputError(path, line, f"property {attribute!r} must be a string, number, boolean or a list of one of these")


def _check_text(value, path, line, attribute) -> None:
    """A text property (a title) holds no control character: the CLI prints it to terminals."""
    if isinstance(value, str) and (ch := first_control(value)):
        raise InputError(path, line, f"property {shorten(attribute, 40)} holds the control character "
                                     f"{describe_control(ch)}; text must be printable")


def _map_cells(cells: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """(video, attribute, value) -> (head, relation, tail): split, strip, normalise, drop empties."""
    if cells.empty:
        return pd.DataFrame(columns=["head", "relation", "tail", "line"])
    out = []
    for attribute, group in cells.groupby("attribute", sort=False):
        rule = mapping.rule(attribute) or RelationRule(attribute)
        values = group["value"].astype(object)
        if rule.split:
            group = group.assign(value=values.str.split(rule.split, regex=False)).explode("value")
            values = group["value"].astype(object)
        values = values.str.strip()
        if rule.normalize == "lower":
            values = values.str.lower()
        elif rule.normalize == "title":
            values = values.str.title()
        out.append(pd.DataFrame({"head": group["video"].to_numpy(), "relation": rule.relation,
                                 "tail": values.to_numpy(dtype=object), "line": group["line"].to_numpy()}))
    triples = pd.concat(out, ignore_index=True)
    return triples[triples["tail"] != ""].reset_index(drop=True)


def ingest_videos(store: Store, records_path: str | Path, mapping_path: str | Path,
                  batch_size: int = BATCH_SIZE) -> IngestReport:
    """Ingest video records: videos become `(:Entity:Video {id, <properties>})`, attribute values
    `(:Entity:Tag)` nodes linked by TRIPLE edges. Idempotent; validated whole before writing."""
    started = time.perf_counter()
    table = read_videos(records_path, load_mapping(mapping_path))
    report = IngestReport(sources=[str(records_path)], rows=len(table.videos), videos=len(table.videos))
    ids = table.videos["id"].to_numpy(dtype=object)
    eids, created = upsert_entities(store, ids, batch_size)
    report.entities_created += created
    report.entities_existing += len(ids) - created
    props = [{k: v for k, v in p.items() if v is not None} for p in table.videos["props"]]
    bump_version(store)  # the marks change which entities are videos
    store.write_batches(len(ids), batch_size, lambda tx, a, b: tx.run(
        cypher("ingest_videos_mark"), eids=eids[a:b].tolist(), props=props[a:b]).consume())
    write_triple_table(store, table.triples[["head", "relation", "tail"]], report, batch_size)
    touched = pd.unique(np.concatenate([ids, table.triples["tail"].to_numpy(dtype=object)]))
    report.entities_existing = len(touched) - report.entities_created  # videos were counted twice
    report.rows = len(table.videos)
    report.seconds = time.perf_counter() - started
    return report


def count_videos_outside(store: Store, ids: list[str]) -> int:
    """How many videos in the database are not among `ids`."""
    return int(store.query("demo_other_videos", routing="r", ids=list(ids))[0]["n"])
