"""Math-reasoning datasets, loaded into one normalised schema.

Every source names its columns and stores its answer differently (GSM8K after ``####`` inside a
worked solution, AMC as a float); each loader returns a ``datasets.Dataset`` of records

    {"problem": str, "answer": str, "source": str, "level": int | None, "id": str}

``id`` is the source's own id column, or a hash of the problem text (stable across ``limit`` and
row order).

Known sources (column names as published on the Hugging Face hub):

=========== ======================================== ====== ===== ==================================
short name  hub id (config)                          split  level columns -> problem / answer
=========== ======================================== ====== ===== ==================================
gsm8k       openai/gsm8k (main)                      test   --    question / answer (after "#### ")
math500     HuggingFaceH4/MATH-500                   test   level problem / answer (+subject, unique_id)
deepscaler  agentica-org/DeepScaleR-Preview-Dataset  train  --    problem / answer (+solution)
aime24      HuggingFaceH4/aime_2024                  train  --    problem / answer (+id, solution, url, year)
aime25      yentinglin/aime_2025                     train  --    problem / answer (+id, solution, url, year)
amc         AI-MO/aimo-validation-amc                train  --    problem / answer (float) (+id, url)
=========== ======================================== ====== ===== ==================================

Every mapping also accepts ``question`` for ``problem`` (e.g. opencompass/AIME2025). Offline,
pass a downloaded file: ``load_math_dataset("gsm8k_test.jsonl", source="gsm8k")``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import datasets

from masa_lite.errors import DataError, shorten
from masa_lite.files import write_jsonl

FEATURES = datasets.Features({"problem": datasets.Value("string"), "answer": datasets.Value("string"),
                              "source": datasets.Value("string"), "level": datasets.Value("int64"),
                              "id": datasets.Value("string")})
LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


class DatasetUnavailableError(RuntimeError):
    """The Hugging Face hub could not be reached (offline mode or a network error)."""


def clean_answer(value: Any) -> str:
    """Reference answer as a string; integral floats lose their ``.0`` (AMC stores 142.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def gsm8k_answer(value: Any) -> str:
    """The final number after ``#### `` in a GSM8K solution, thousands commas removed."""
    text = clean_answer(value)
    if "####" in text:
        text = text.rsplit("####", 1)[1].strip()
        text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return text


@dataclass(frozen=True)
class SourceSpec:
    """Where a source lives on the hub and how its columns map onto the normalised schema."""

    name: str
    hub_id: str | None
    config: str | None = None
    split: str = "train"
    problem_fields: tuple[str, ...] = ("problem", "question")
    answer_field: str = "answer"
    level_field: str | None = None
    answer_extractor: Callable[[Any], str] = clean_answer
    id_field: str | None = None
    passthrough: bool = False  # rows may already carry source/id (re-reading saved output)


SOURCES: dict[str, SourceSpec] = {
    "gsm8k": SourceSpec("gsm8k", "openai/gsm8k", "main", "test", ("question", "problem"),
                        answer_extractor=gsm8k_answer),
    "math500": SourceSpec("math500", "HuggingFaceH4/MATH-500", None, "test", level_field="level",
                          id_field="unique_id"),
    "deepscaler": SourceSpec("deepscaler", "agentica-org/DeepScaleR-Preview-Dataset"),
    "aime24": SourceSpec("aime24", "HuggingFaceH4/aime_2024", id_field="id"),
    "aime25": SourceSpec("aime25", "yentinglin/aime_2025", id_field="id"),
    "amc": SourceSpec("amc", "AI-MO/aimo-validation-amc", id_field="id"),
}
# Used for files and unknown hub ids without ``source=``: also re-reads this module's own output,
# and still pulls a GSM8K-style "#### n" final answer out of a worked solution.
GENERIC = SourceSpec("local", None, problem_fields=("problem", "question"), level_field="level",
                     answer_extractor=gsm8k_answer, id_field="id", passthrough=True)


MAX_LEVEL = 1000


def _level(value: Any, where: str) -> int | None:
    """A difficulty level: a whole number from 0 to :data:`MAX_LEVEL`, also read from text such
    as "Level 3" (the original MATH release); None when there is none. Infinity, NaN, 2.5 or 1e30
    are refused, naming the line."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):  # a CSV cell is text: "3", "2.5", "inf" are numbers
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, float) and not value.is_integer():  # also inf and nan
        level = None
    elif isinstance(value, (int, float)):
        level = int(value)
    else:
        match = re.search(r"\d+", str(value))
        if not match:
            return None
        level = int(match.group()) if len(match.group()) < 10 else MAX_LEVEL + 1
    if level is None or not 0 <= level <= MAX_LEVEL:
        raise DataError(f"{where}: level must be a whole number from 0 to {MAX_LEVEL} (MATH's are "
                        f"1-5), got {shorten(value, 40)}; fix it or remove the level")
    return level


_MISSING = {"", "null", "none", "nan"}


def _gold_problem(answer: str) -> str | None:
    """Why a reference answer cannot be checked (empty, "null", unbalanced braces), or None.
    Such an answer trains at accuracy 0 with only a count of verifier errors, so it is refused."""
    if answer.strip().lower() in _MISSING:
        return f"the reference answer is missing ({answer!r})"
    depth = 0
    for ch in answer.replace("\\{", "").replace("\\}", ""):  # \{ \} are literal braces
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            break
    if depth != 0:
        return f"the reference answer {answer[:60]!r} has unbalanced braces {{ }}"
    return None


def _answer_type_problem(value: Any) -> str | None:
    """Why a raw reference answer is neither text nor a finite number (true, [1, 2], {"a": 1},
    Infinity), or None: ``str()`` of such a value is never what a solution writes."""
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return (f"the reference answer must be text or a number, got "
                f"{json.dumps(value, default=str)[:40]} (a {type(value).__name__}); write it as "
                f"a string, e.g. \"answer\": \"2\"")
    if isinstance(value, float) and not math.isfinite(value):
        return f"the reference answer {value!r} is not a finite number"
    return None


def _fix_hint() -> str:
    return f"pass source=<name> to use a known field mapping (one of {sorted(SOURCES)})"


def normalise_records(rows: Iterable[dict], spec: SourceSpec, origin: str = "data",
                      places: list[str] | None = None) -> list[dict]:
    """Map raw rows onto the normalised schema using ``spec``; raise :class:`DataError` (a
    ValueError) naming the row on a missing field, an empty problem, a level that is not a
    level or an unusable reference answer. ``places`` names each row as an editor shows it
    ("file, line 4"); without it a row is "origin, row 4", counted from 1."""
    out, seen = [], {}
    for i, row in enumerate(rows):
        place = places[i] if places is not None else f"{origin}, row {i + 1}"
        if not isinstance(row, dict):
            raise DataError(f"{place}: expected an object with 'problem' and 'answer', "
                            f"got {type(row).__name__} {str(row)[:60]!r}")
        where = f"{place} (columns found: {sorted(row)})"
        problem = next((str(row[f]) for f in spec.problem_fields if row.get(f) is not None), None)
        if problem is None:
            raise DataError(f"{where}: missing field 'problem' (expected one of "
                             f"{list(spec.problem_fields)}); rename the column or {_fix_hint()}")
        if not problem.strip():
            raise DataError(f"{where}: the problem text is empty; fix or remove that line")
        if spec.answer_field not in row:
            raise DataError(f"{where}: missing field '{spec.answer_field}'; rename the column "
                             f"to '{spec.answer_field}' or {_fix_hint()}")
        source = str(row.get("source") or spec.name) if spec.passthrough else spec.name
        native = row.get(spec.id_field) if spec.id_field else None
        if spec.passthrough and native is not None:
            rid = str(native)
        elif native is not None:
            rid = f"{source}-{native}"
        else:
            rid = f"{source}-{hashlib.sha1(problem.encode()).hexdigest()[:12]}"
        seen[rid] = seen.get(rid, 0) + 1
        if seen[rid] > 1:  # duplicate problem text: keep ids unique and deterministic
            rid = f"{rid}-{seen[rid]}"
        level = _level(row.get(spec.level_field), where) if spec.level_field else None
        if (why := _answer_type_problem(row.get(spec.answer_field))) is not None:
            raise DataError(f"{where}: {why}")
        answer = spec.answer_extractor(row.get(spec.answer_field))
        if (why := _gold_problem(answer)) is not None:
            raise DataError(f"{where}: {why}; fix or remove that row (every answer is compared "
                            "with it, so the problem could only ever score 0)")
        out.append({"problem": problem, "answer": answer, "source": source, "level": level,
                    "id": rid})
    return out


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; an error names the file, the line and the byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}, line {line}: not UTF-8 text (byte {data[exc.start]:#04x} at "
                        f"offset {exc.start}); re-save the file as UTF-8") from None


def _json_lines(path: Path, text: str) -> tuple[list[dict], list[str]]:
    """JSON lines, one object per non-blank line, and where each is ("file, line n": lines are
    counted as an editor counts them, at newlines only); an error names the line."""
    rows, places = [], []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {n}: invalid JSON ({exc.msg} at column {exc.colno}); "
                            "a truncated or hand-edited line? Fix or remove it") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {n}: expected a JSON object with 'problem' and "
                            f"'answer', got {type(row).__name__} {line.strip()[:60]!r}")
        rows.append(row)
        places.append(f"{path}, line {n}")
    return rows, places


def _csv_rows(path: Path, text: str) -> tuple[list[dict], list[str]]:
    """CSV rows (empty cells as None) and the file line each starts on (a quoted cell may span
    lines)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows, places, done = [], [], None
    for r in reader:
        done = 1 if done is None else done  # the header line
        rows.append({k: (v if v != "" else None) for k, v in r.items()})
        places.append(f"{path}, line {done + 1}")
        done = reader.line_num
    return rows, places


def _numbered(path: Path, rows: list, what: str = "record") -> tuple[list, list[str]]:
    """Rows of a file without lines to name (parquet, a JSON document): "file, record n"."""
    return rows, [f"{path}, {what} {i}" for i in range(1, len(rows) + 1)]


def _json_document(path: Path, data) -> list[dict]:
    """Rows of a .json file: a list of objects, {"data": [...]}, or {"column": [...], ...}."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
            return lists[0]  # {"data": [...]} style
        if lists and len(lists) == len(data):  # column-oriented {"col": [...], ...}
            lengths = {k: len(v) for k, v in data.items()}
            if len(set(lengths.values())) > 1:
                raise DataError(f"{path}: column-oriented JSON with columns of unequal length "
                                f"{lengths}; every column needs one value per row")
            return [dict(zip(data, vals)) for vals in zip(*data.values())]
    raise DataError(f"{path}: unsupported JSON layout ({type(data).__name__} at the top level); "
                    'expected a list of objects, {"data": [...]} or {"column": [values], ...}')


def _read_file(path: Path) -> tuple[list[dict], list[str]]:
    """A local file's rows and where each is (:func:`normalise_records`' ``places``)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        return _numbered(path, pq.read_table(path).to_pylist(), "row")
    text = _read_text(path)
    if suffix == ".csv":
        return _csv_rows(path, text)
    if suffix == ".json":
        try:
            return _numbered(path, _json_document(path, json.loads(text)))
        except json.JSONDecodeError:
            pass  # probably JSON lines saved as .json
    return _json_lines(path, text)


def _local_rows(path: Path) -> tuple[list[dict], list[str]]:
    """The rows of a file, or of every data file in a folder (in name order), and where each
    is: an error names the file in the folder, not the folder."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in LOCAL_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"folder {path} holds no {'/'.join(LOCAL_SUFFIXES)} files")
        rows, places = [], []
        for p in files:
            more, where = _read_file(p)
            rows += more
            places += where
        return rows, places
    if path.suffix.lower() not in LOCAL_SUFFIXES:
        raise DataError(f"{path}: unsupported file type; use one of {LOCAL_SUFFIXES}")
    return _read_file(path)


def _offline() -> bool:
    flag = lambda k: os.environ.get(k, "").strip().upper() in {"1", "ON", "YES", "TRUE"}  # noqa: E731
    return flag("HF_HUB_OFFLINE") or flag("HF_DATASETS_OFFLINE") or datasets.config.HF_HUB_OFFLINE


def _unavailable(hub_id: str, name: str, why: str) -> DatasetUnavailableError:
    example = name if name in SOURCES else "<short name>"
    return DatasetUnavailableError(
        f"could not reach the Hugging Face hub to load '{hub_id}' ({why}). Offline alternative: "
        f"download the file on a connected machine and pass its local path, e.g. "
        f'load_math_dataset("path/to/{example}_test.jsonl", source="{example}"). '
        f"Set HF_HUB_OFFLINE=1 to skip the hub's network retries.")


def _hub_rows(spec: SourceSpec, hub_id: str, split: str, limit: int | None, streaming: bool):
    # datasets reads HF_HUB_OFFLINE at import; if it was set later, datasets would retry the
    # network for ~25 s before failing, so fail fast here instead.
    if _offline() and not datasets.config.HF_HUB_OFFLINE:
        raise _unavailable(hub_id, spec.name, "HF_HUB_OFFLINE is set")
    try:
        ds = datasets.load_dataset(hub_id, spec.config, split=split, streaming=streaming)
    except (ConnectionError, TimeoutError) as exc:
        raise _unavailable(hub_id, spec.name, f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        if type(exc).__name__ in {"OfflineModeIsEnabled", "LocalEntryNotFoundError", "ConnectError"}:
            raise _unavailable(hub_id, spec.name, f"{type(exc).__name__}: {exc}") from exc
        raise
    if limit is not None:
        return list(ds.take(limit)) if streaming else list(ds.select(range(min(limit, len(ds)))))
    return list(ds)


def load_math_dataset(name_or_path: str, split: str | None = None, source: str | None = None,
                      limit: int | None = None, streaming: bool = False) -> datasets.Dataset:
    """Load a known source (short name), a hub id, or a local file/folder into the schema.

    ``source`` picks the field mapping for a local file or unknown hub id (default: detect
    ``problem``/``question`` + ``answer``). ``streaming`` streams from the hub and materialises
    only the first ``limit`` rows; it is ignored for local files.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if source is not None and source not in SOURCES:
        raise DataError(f"unknown source={source!r}; known sources: {sorted(SOURCES)}")
    spec = SOURCES[source] if source else GENERIC
    path = Path(name_or_path).expanduser()
    if path.exists():
        rows, places = _local_rows(path)
        rows, places = (rows[:limit], places[:limit]) if limit is not None else (rows, places)
        spec = replace(GENERIC, name=path.stem) if source is None else spec
        records = normalise_records(rows, spec, origin=str(path), places=places)
        return _to_dataset(records)
    by_hub = {s.hub_id: s for s in SOURCES.values()}
    looks_like_path = (path.suffix.lower() in LOCAL_SUFFIXES or name_or_path.startswith((".", "/", "~"))
                       or name_or_path.count("/") > 1)
    if looks_like_path:
        raise FileNotFoundError(f"no such file or folder: {name_or_path}")
    if name_or_path in SOURCES or name_or_path in by_hub:
        known = SOURCES.get(name_or_path) or by_hub[name_or_path]
        if source is not None and source != known.name:
            raise DataError(f"{name_or_path!r} is the '{known.name}' source; drop source={source!r}")
        spec, hub_id = known, known.hub_id
    elif name_or_path.count("/") == 1:
        hub_id = name_or_path  # unknown hub id: mapping from source=, else auto-detect
        spec = replace(spec, config=None) if source else replace(GENERIC, name=name_or_path)
    else:
        raise DataError(f"unknown dataset {name_or_path!r}: not a local file and not a known "
                         f"short name; known: {sorted(SOURCES)} (or pass a hub id 'owner/name')")
    rows = _hub_rows(spec, hub_id, split or spec.split, limit, streaming)
    records = normalise_records(rows, spec, origin=f"{hub_id}[{split or spec.split}]")
    return _to_dataset(records)


def _to_dataset(records: list[dict]) -> datasets.Dataset:  # from_dict: limit=0 keeps the schema
    return datasets.Dataset.from_dict({k: [r[k] for r in records] for k in FEATURES}, features=FEATURES)


def to_records(ds: Any) -> list[dict]:
    """Plain list of dicts from a Dataset, IterableDataset or any iterable of dicts."""
    return [dict(r) for r in ds]


def save_jsonl(records: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write records as JSON lines atomically (temp file in the same folder + os.replace)."""
    return write_jsonl((dict(rec) for rec in records), path, ensure_ascii=False, fsync=True)
