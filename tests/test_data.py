"""Tests for masa_lite.task.data: local fixtures only, the hub is never reached."""

import csv
import hashlib
import json
import time
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from masa_lite.task import data as D
from masa_lite.task.data import SOURCES, DatasetUnavailableError, load_math_dataset, normalise_records, save_jsonl, to_records

FIX = Path(__file__).parent / "fixtures" / "data"
KEYS = {"problem", "answer", "source", "level", "id"}


def read_jsonl(name):
    return [json.loads(line) for line in (FIX / name).read_text().splitlines() if line.strip()]


def hid(source, problem):
    return f"{source}-{hashlib.sha1(problem.encode()).hexdigest()[:12]}"


@pytest.fixture
def deepscaler_parquet(tmp_path):
    path = tmp_path / "deepscaler_train.parquet"
    pq.write_table(pa.Table.from_pylist(read_jsonl("deepscaler_train.jsonl")), path)
    return path


def check_schema(ds):
    assert isinstance(ds, datasets.Dataset)
    assert set(ds.column_names) == KEYS
    for r in to_records(ds):
        assert isinstance(r["problem"], str) and r["problem"]
        assert isinstance(r["answer"], str) and isinstance(r["source"], str) and isinstance(r["id"], str)
        assert r["level"] is None or isinstance(r["level"], int)
    assert len(set(ds["id"])) == len(ds)


def test_sources_table():
    assert set(SOURCES) == {"gsm8k", "math500", "deepscaler", "aime24", "aime25", "amc"}
    assert (SOURCES["gsm8k"].hub_id, SOURCES["gsm8k"].config) == ("openai/gsm8k", "main")
    assert SOURCES["math500"].hub_id == "HuggingFaceH4/MATH-500" and SOURCES["math500"].level_field == "level"
    assert SOURCES["deepscaler"].hub_id == "agentica-org/DeepScaleR-Preview-Dataset"
    assert SOURCES["aime24"].hub_id == "HuggingFaceH4/aime_2024"
    assert SOURCES["amc"].hub_id == "AI-MO/aimo-validation-amc"
    for name, spec in SOURCES.items():
        assert spec.name == name and "question" in spec.problem_fields and spec.answer_field == "answer"


def test_gsm8k_final_answer_after_hashes():
    ds = load_math_dataset(str(FIX / "gsm8k_test.jsonl"), source="gsm8k")
    check_schema(ds)
    assert ds["answer"] == ["12", "1234", "750000", "-5"]
    assert ds["source"] == ["gsm8k"] * 4 and ds["level"] == [None] * 4
    first = ds[0]
    assert first["problem"] == "Tom has 3 boxes with 4 apples each. How many apples does he have?"
    assert first["id"] == hid("gsm8k", first["problem"])


def test_gsm8k_answer_extractor_edge_cases():
    assert D.gsm8k_answer("work\n#### 1,234") == "1234"
    assert D.gsm8k_answer("#### 1,234,567 ") == "1234567"
    assert D.gsm8k_answer("no marker, 1,234") == "no marker, 1,234"


def test_math500_levels_and_ids():
    ds = load_math_dataset(str(FIX / "math500_test.jsonl"), source="math500")
    check_schema(ds)
    assert ds["answer"] == ["\\frac{5}{6}", "-2, 2", "\\left( 3, \\frac{\\pi}{2} \\right)"]
    assert ds["level"] == [1, 3, 2]
    assert ds["id"][2] == "math500-test/precalculus/807.json"
    assert ds[0]["problem"] == "Compute $\\frac{1}{2} + \\frac{1}{3}$."


def test_deepscaler_parquet(deepscaler_parquet):
    ds = load_math_dataset(str(deepscaler_parquet), source="deepscaler")
    check_schema(ds)
    assert ds["answer"] == ["1024", "5\\sqrt{2}", "8"]
    assert ds["source"] == ["deepscaler"] * 3
    assert ds["id"][0] == hid("deepscaler", "What is $2^{10}$?")


def test_aime24_keeps_string_answers_and_native_ids():
    ds = load_math_dataset(str(FIX / "aime24.jsonl"), source="aime24")
    check_schema(ds)
    assert ds["answer"] == ["376", "016", "123"]
    assert ds["id"] == ["aime24-60", "aime24-61", "aime24-62"]


def test_aime25_question_column():
    ds = load_math_dataset(str(FIX / "aime25.jsonl"), source="aime25")
    check_schema(ds)
    assert ds["problem"][1] == "Find the largest two-digit prime."
    assert ds["answer"] == ["55", "97", "1001"] and ds["source"] == ["aime25"] * 3


def test_amc_float_answers():
    ds = load_math_dataset(str(FIX / "amc.jsonl"), source="amc")
    check_schema(ds)
    assert ds["answer"] == ["142", "7.5", "6"]
    assert ds["id"] == ["amc-0", "amc-1", "amc-2"]


def test_limit():
    assert len(load_math_dataset(str(FIX / "gsm8k_test.jsonl"), source="gsm8k", limit=2)) == 2
    assert len(load_math_dataset(str(FIX / "gsm8k_test.jsonl"), source="gsm8k", limit=99)) == 4
    empty = load_math_dataset(str(FIX / "amc.jsonl"), limit=0)
    assert len(empty) == 0 and set(empty.column_names) == KEYS
    with pytest.raises(ValueError, match="limit"):
        load_math_dataset(str(FIX / "amc.jsonl"), limit=-1)


def test_ids_stable_under_limit():
    full = load_math_dataset(str(FIX / "gsm8k_test.jsonl"), source="gsm8k")
    part = load_math_dataset(str(FIX / "gsm8k_test.jsonl"), source="gsm8k", limit=2)
    assert part["id"] == full["id"][:2]


def test_autodetect_without_source():
    ds = load_math_dataset(str(FIX / "gsm8k_test.jsonl"))  # question + answer, "####" detected
    check_schema(ds)
    assert ds["answer"] == ["12", "1234", "750000", "-5"] and ds["source"][0] == "gsm8k_test"
    m = load_math_dataset(str(FIX / "math500_test.jsonl"))
    assert m["level"] == [1, 3, 2] and m["answer"][0] == "\\frac{5}{6}" and m["source"][0] == "math500_test"


def test_csv_json_and_folder(tmp_path, deepscaler_parquet):
    rows = read_jsonl("math500_test.jsonl")
    with (tmp_path / "m.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    c = load_math_dataset(str(tmp_path / "m.csv"), source="math500")
    assert c["level"] == [1, 3, 2] and c["answer"][1] == "-2, 2"
    (tmp_path / "a.json").write_text(json.dumps(read_jsonl("amc.jsonl")))
    assert load_math_dataset(str(tmp_path / "a.json"), source="amc")["answer"] == ["142", "7.5", "6"]
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": read_jsonl("aime25.jsonl")}))
    assert load_math_dataset(str(tmp_path / "wrapped.json"))["answer"] == ["55", "97", "1001"]
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "b.jsonl").write_text((FIX / "aime25.jsonl").read_text())
    deepscaler_parquet.rename(folder / "a.parquet")
    (folder / "notes.txt").write_text("ignored")
    ds = load_math_dataset(str(folder), limit=5)
    check_schema(ds)
    assert ds["answer"] == ["1024", "5\\sqrt{2}", "8", "55", "97"] and ds["source"][0] == "mixed"


def test_roundtrip_save_jsonl(tmp_path):
    ds = load_math_dataset(str(FIX / "math500_test.jsonl"), source="math500")
    out = save_jsonl(to_records(ds), tmp_path / "sub" / "norm.jsonl")
    assert [p.name for p in out.parent.iterdir()] == ["norm.jsonl"]  # no temp file left behind
    back = load_math_dataset(str(out))
    assert to_records(back) == to_records(ds)  # source and id survive the round trip


def test_save_jsonl_is_atomic(tmp_path):
    path = tmp_path / "x.jsonl"
    save_jsonl([{"a": 1}], path)

    def bad():
        yield {"a": 2}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_jsonl(bad(), path)
    assert path.read_text() == '{"a": 1}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl"]


def test_normalise_records_direct():
    rows = [{"question": "Q?", "answer": "a\n#### 2,000"}, {"question": "Q?", "answer": "#### 3"}]
    recs = normalise_records(rows, SOURCES["gsm8k"])
    assert [r["answer"] for r in recs] == ["2000", "3"]
    assert recs[1]["id"] == recs[0]["id"] + "-2"  # duplicate text still gives unique ids


def test_missing_answer_error_names_field_and_fix():
    with pytest.raises(ValueError) as e:
        load_math_dataset(str(FIX / "bad_missing_answer.jsonl"))
    msg = str(e.value)
    assert "'answer'" in msg and "final" in msg and "source=" in msg and "bad_missing_answer" in msg


def test_missing_problem_error(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"prompt": "x", "answer": "1"}) + "\n")
    with pytest.raises(ValueError) as e:
        load_math_dataset(str(tmp_path / "p.jsonl"), source="amc")
    assert "missing field 'problem'" in str(e.value) and "'prompt'" in str(e.value)
    assert "source=" in str(e.value)


def test_folder_with_a_bad_later_file_names_the_file_and_line(tmp_path):
    """Issue 29: inside a folder the message names the file (not the folder) and its line."""
    (tmp_path / "a.jsonl").write_text((FIX / "aime25.jsonl").read_text())
    (tmp_path / "b.jsonl").write_text((FIX / "bad_missing_answer.jsonl").read_text())
    with pytest.raises(ValueError, match=r"b\.jsonl, line 1 .*missing field 'answer'"):
        load_math_dataset(str(tmp_path))


def test_unknown_names_and_missing_paths():
    with pytest.raises(ValueError) as e:
        load_math_dataset("gsm9k")
    assert all(k in str(e.value) for k in SOURCES)
    with pytest.raises(ValueError, match="known sources"):
        load_math_dataset(str(FIX / "amc.jsonl"), source="nope")
    with pytest.raises(FileNotFoundError, match="nowhere/gsm8k_test.jsonl"):
        load_math_dataset("nowhere/gsm8k_test.jsonl", source="gsm8k")
    with pytest.raises(ValueError, match="drop source"):
        load_math_dataset("gsm8k", source="amc")


@pytest.mark.parametrize("name", ["gsm8k", "openai/gsm8k", "some-user/some-math-set"])
def test_offline_fails_fast_with_local_alternative(monkeypatch, name):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as e:
        load_math_dataset(name)
    assert time.monotonic() - t0 < 10
    msg = str(e.value)
    assert isinstance(e.value, RuntimeError) and "could not reach" in msg and "local path" in msg
    assert "load_math_dataset(" in msg
    if name != "some-user/some-math-set":
        assert 'source="gsm8k"' in msg


def test_connection_error_is_translated(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    calls = []

    def fake_load(*args, **kwargs):
        calls.append((args, kwargs))
        raise ConnectionError("Couldn't reach 'AI-MO/aimo-validation-amc' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    with pytest.raises(DatasetUnavailableError, match='source="amc"'):
        load_math_dataset("amc")
    assert calls[0][0] == ("AI-MO/aimo-validation-amc", None) and calls[0][1]["split"] == "train"


def test_hub_path_uses_spec(monkeypatch):
    """With a stubbed hub, a short name loads its hub id/config/split and maps the columns."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    seen = {}

    def fake_load(path, name=None, split=None, streaming=False):
        seen.update(path=path, name=name, split=split, streaming=streaming)
        ds = datasets.Dataset.from_list(read_jsonl("gsm8k_test.jsonl"))
        return ds.to_iterable_dataset() if streaming else ds

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    ds = load_math_dataset("gsm8k", limit=3)
    assert seen == {"path": "openai/gsm8k", "name": "main", "split": "test", "streaming": False}
    assert ds["answer"] == ["12", "1234", "750000"]
    ds = load_math_dataset("openai/gsm8k", split="train", limit=2, streaming=True)
    assert seen["split"] == "train" and seen["streaming"] and ds["answer"] == ["12", "1234"]


# ---- issue 10: every data error names the file and the line ---------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("latin1.jsonl", b'{"problem": "1+1", "answer": "2"}\n{"problem": "caf\xe9", "answer": "1"}\n',
     r"latin1.jsonl, line 2: not UTF-8 text \(byte 0xe9"),
    ("cut.jsonl", b'{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "ans\n',
     r"cut.jsonl, line 2: invalid JSON .*truncated"),
    ("scalar_line.jsonl", b'{"problem": "1+1", "answer": "2"}\n3\n',
     r"scalar_line.jsonl, line 2: expected a JSON object .*got int"),
    ("scalar.json", b"3", r"scalar.json: unsupported JSON layout \(int at the top level\)"),
    ("string.json", b'"just text"', r"string.json: unsupported JSON layout \(str at the top level\)"),
    ("columns.json", b'{"problem": ["a", "b", "c"], "answer": ["1"]}',
     r"columns.json: column-oriented JSON with columns of unequal length \{'problem': 3, 'answer': 1\}"),
    ("latin1.csv", b"problem,answer\n1+1,2\ncaf\xe9,1\n", r"latin1.csv, line 3: not UTF-8"),
    ("null_answer.jsonl", b'{"problem": "1+1", "answer": null}\n', r"line 1 .*reference answer is missing"),
    ("null_string.jsonl", b'{"problem": "1+1", "answer": "null"}\n', r"line 1 .*reference answer is missing"),
    ("frac.jsonl", b'{"problem": "1+1", "answer": "2"}\n{"problem": "x", "answer": "\\\\frac{"}\n',
     r"frac.jsonl, line 2 .*unbalanced braces"),
    # issue 29: levels that are not levels, answers that are not text, empty problems; the line is
    # the file's line as an editor numbers it (blank lines count)
    ("inf.jsonl", b'{"problem": "1+1", "answer": "2", "level": Infinity}\n',
     r"inf.jsonl, line 1 .*level must be a whole number from 0 to 1000.*got inf"),
    ("nan.jsonl", b'{"problem": "1+1", "answer": "2"}\n\n{"problem": "2+2", "answer": "4", "level": NaN}\n',
     r"nan.jsonl, line 3 .*level must be a whole number.*got nan"),
    ("huge.jsonl", b'{"problem": "1+1", "answer": "2", "level": 1e30}\n',
     r"huge.jsonl, line 1 .*level must be a whole number.*got 1e\+30"),
    ("half.csv", b"problem,answer,level\n1+1,2,2.5\n", r"half.csv, line 2 .*level must be a whole number"),
    ("true.jsonl", b'{"problem": "1+1", "answer": true}\n', r"line 1 .*must be text or a number, got true \(a bool\)"),
    ("list.jsonl", b'{"problem": "1+1", "answer": "2"}\n{"problem": "1+1", "answer": [1, 2]}\n',
     r"list.jsonl, line 2 .*must be text or a number, got \[1, 2\] \(a list\)"),
    ("dict.jsonl", b'{"problem": "1+1", "answer": {"a": 1}}\n', r"line 1 .*got \{\"a\": 1\} \(a dict\)"),
    ("empty.jsonl", b'{"problem": "1+1", "answer": "2"}\n{"problem": "  ", "answer": "2"}\n',
     r"empty.jsonl, line 2 .*the problem text is empty"),
    ("records.json", b'[{"problem": "1+1", "answer": "2"}, {"problem": "", "answer": "2"}]',
     r"records.json, record 2 .*the problem text is empty"),
])
def test_data_errors_name_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(D.DataError, match=message) as info:
        load_math_dataset(str(path))
    assert name in str(info.value)


def test_gold_answers_are_named_by_their_file_line_not_a_row_index(tmp_path):
    """Issue 29: a bad reference answer on file line 4 (third record, after a blank line) used to
    be reported as "(row 2)"; a CSV record that spans lines is named by the line it starts on."""
    (tmp_path / "g.jsonl").write_text('{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": "2"}'
                                      '\n\n{"problem": "c", "answer": null}\n')
    with pytest.raises(D.DataError, match=r"g\.jsonl, line 4 "):
        load_math_dataset(str(tmp_path / "g.jsonl"))
    (tmp_path / "g.csv").write_text('problem,answer\n"two\nlines",3\nc,\n', encoding="utf-8")
    with pytest.raises(D.DataError, match=r"g\.csv, line 4 .*reference answer is missing"):
        load_math_dataset(str(tmp_path / "g.csv"))


def test_levels_and_numeric_answers_that_are_fine(tmp_path):
    rows = [{"problem": "a", "answer": 7, "level": 3.0}, {"problem": "b", "answer": 2.5, "level": "Level 5"},
            {"problem": "c", "answer": "x", "level": None}]
    (tmp_path / "ok.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recs = to_records(load_math_dataset(str(tmp_path / "ok.jsonl")))
    assert [(r["answer"], r["level"]) for r in recs] == [("7", 3), ("2.5", 5), ("x", None)]


def test_escaped_braces_and_multiline_csv_are_fine(tmp_path):
    (tmp_path / "ok.jsonl").write_text(json.dumps({"problem": "set?", "answer": r"\{1, 2\}"}) + "\n")
    assert to_records(load_math_dataset(str(tmp_path / "ok.jsonl")))[0]["answer"] == r"\{1, 2\}"
    (tmp_path / "m.csv").write_text('problem,answer\n"two\nlines",3\n', encoding="utf-8")
    assert to_records(load_math_dataset(str(tmp_path / "m.csv")))[0]["problem"] == "two\nlines"
