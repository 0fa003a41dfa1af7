"""Events and captured messages as Arrow tables, pandas DataFrames and filters."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import peershare
from peershare import SimError, Simulation

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def lossy():
    """The lossy example to its end: messages delivered and lost."""
    return Simulation.from_file(EXAMPLES / "lossy.toml").run(progress=False)


@pytest.fixture(scope="module")
def raft():
    return Simulation.from_file(EXAMPLES / "raft.toml").run(until="5s", progress=False)


def test_the_capture_has_one_row_per_message_sent_with_the_rust_columns_and_types(lossy):
    table = lossy.capture()
    summary = lossy.summary()["messages"]
    assert len(table) == summary["sent"]
    schema = pa.table(table).schema
    assert schema.names == [
        "id", "sent", "ended", "from", "to", "kind", "size", "fate", "fault", "op", "hop", "killed_receiver", "fields",
    ]
    expected = {
        "id": pa.uint64(), "sent": pa.uint64(), "ended": pa.uint64(), "from": pa.uint32(), "to": pa.uint32(),
        "kind": pa.string(), "size": pa.uint32(), "fate": pa.string(), "fault": pa.uint32(), "op": pa.uint64(),
        "hop": pa.uint32(), "killed_receiver": pa.bool_(), "fields": pa.string(),
    }
    assert {f.name: f.type for f in schema} == expected
    df = table.to_pandas()
    assert (df["fate"] == "delivered").sum() == summary["delivered"]
    by_kind = df.groupby("kind").size().to_dict()
    assert by_kind == {k: v["sent"] for k, v in summary["by_kind"].items()}
    assert df["size"].sum() == summary["bytes_sent"]
    assert list(df["id"]) == list(range(len(df)))
    assert (df["ended"].dropna() >= df.loc[df["ended"].notna(), "sent"]).all()


def test_pandas_columns_keep_exact_integers_even_with_missing_values(lossy):
    df = lossy.capture().to_pandas()
    assert str(df["sent"].dtype) == "UInt64"
    assert str(df["op"].dtype) == "UInt64"
    assert df["op"].isna().any(), "some messages belong to no operation"
    assert str(df["from"].dtype) == "UInt32"
    assert str(df["killed_receiver"].dtype) == "boolean"


def test_capture_filters_select_what_inspect_selects(lossy):
    all_rows = lossy.capture().to_pandas()
    lost = lossy.capture(fate="lost").to_pandas()
    assert len(lost) > 0
    assert len(lost) == (all_rows["fate"] == "lost").sum()
    one_kind = all_rows["kind"].iloc[0]
    from_3 = lossy.capture(kind=one_kind, from_=3).to_pandas()
    expected = all_rows[(all_rows["kind"] == one_kind) & (all_rows["from"] == 3)]
    assert list(from_3["id"]) == list(expected["id"])
    window = lossy.capture(since="2s", until="3s").to_pandas()
    assert len(window) > 0
    assert window["sent"].between(2 * 10**9, 3 * 10**9 - 1).all()
    to_or_from = lossy.capture(nodes=[1, 2]).to_pandas()
    assert (to_or_from["from"].isin([1, 2]) | to_or_from["to"].isin([1, 2])).all()


def test_field_conditions_and_searches_read_the_decoded_bodies(raft):
    appends = raft.capture(kind="APPEND").to_pandas()
    assert len(appends) > 0
    fields = appends["fields"].map(json.loads)
    term = max(f["term"] for f in fields)
    late = raft.capture(kind="APPEND", where=f"term>={term}").to_pandas()
    assert len(late) == sum(1 for f in fields if f["term"] >= term) > 0
    searched = raft.capture(search='"term":1[,}]').to_pandas()
    assert all(json.loads(f)["term"] == 1 for f in searched["fields"])


def test_a_bad_filter_says_what_is_wrong():
    sim = Simulation.from_file(EXAMPLES / "lossy.toml")
    with pytest.raises(ValueError, match="where=\"rpc\""):
        sim.capture(where="rpc")
    with pytest.raises(ValueError, match="unknown fate \"vanished\"; expected one of"):
        sim.capture(fate="vanished")
    with pytest.raises(ValueError, match="invalid regular expression"):
        sim.capture(search="(")
    assert "partitioned" in peershare.FATES


def test_capture_and_events_off_are_errors_saying_how_to_turn_them_on():
    sim = Simulation.from_file(EXAMPLES / "lossy.toml", capture=False, record_events=False)
    with pytest.raises(SimError, match="capture=True"):
        sim.capture()
    with pytest.raises(SimError, match="record_events=True"):
        sim.events()


def test_the_events_table_leads_with_seq_time_event_node_and_counts_what_the_summary_counts(lossy):
    table = lossy.events()
    assert table.column_names[:4] == ["seq", "time", "event", "node"]
    assert table.column_names[4:] == sorted(table.column_names[4:])
    schema = pa.table(table).schema
    assert schema.field("seq").type == pa.uint64()
    assert schema.field("time").type == pa.uint64()
    df = table.to_pandas()
    assert list(df["seq"]) == list(range(len(df)))
    assert df["time"].is_monotonic_increasing
    summary = lossy.summary()["messages"]
    assert (df["event"] == "sent").sum() == summary["sent"]
    assert (df["event"] == "delivered").sum() == summary["delivered"]


def test_event_filters_keep_types_nodes_and_a_window(lossy):
    everything = lossy.events().to_pandas()
    delivered = lossy.events("delivered", since="1s", until="2s").to_pandas()
    expected = everything[
        (everything["event"] == "delivered") & everything["time"].between(10**9, 2 * 10**9 - 1)
    ]
    assert list(delivered["seq"]) == list(expected["seq"])
    node_5 = lossy.events(["sent", "delivered"], nodes=5).to_pandas()
    assert len(node_5) > 0
    assert ((node_5["from"] == 5) | (node_5["to"] == 5) | (node_5["node"] == 5)).all()
    assert lossy.events("no-such-event").column_names[:4] == ["seq", "time", "event", "node"]
    assert len(lossy.events("no-such-event")) == 0


def test_nested_event_fields_are_json_text_and_numbers_stay_numbers(raft):
    completed = raft.events("operation-completed").to_pandas()
    assert len(completed) > 0
    assert str(completed["latency"].dtype) == "UInt64"
    results = completed["result"].map(json.loads)
    assert all("kind" in r for r in results)


def test_tables_are_read_through_the_arrow_c_stream_by_pyarrow(lossy):
    table = lossy.capture(fate="delivered")
    via_stream = pa.RecordBatchReader.from_stream(table).read_all()
    assert via_stream.num_rows == len(table)
    assert via_stream.equals(table.to_pyarrow())
    assert "rows" in repr(table)
