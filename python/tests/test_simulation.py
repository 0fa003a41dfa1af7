"""The Simulation API: building, running, observing, faults, errors."""

import datetime
import os
import threading
import time
from pathlib import Path

import pytest

import peershare
from peershare import PluginError, ScenarioError, SimError, Simulation

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# 40 flooding peers; one broadcast a second from 2 s on.
FLOOD = """
seed = 5
duration = "10s"

[network]
latency = { model = "uniform", min = "20ms", max = "80ms" }
loss = 0.01

[[groups]]
name = "peers"
count = 40
plugin = "flood"
bootstrap = { strategy = "random", count = 3 }

[groups.config]
ttl = 6
ping_interval_ms = 2000

[[workload]]
op = "request"
request = "broadcast"
fields = { payload = "hello" }
every = "1s"
start = "2s"
"""

RAFT = (EXAMPLES / "raft.toml").read_text()


def flood(seed=None):
    return Simulation.from_toml(FLOOD, seed=seed, origin="flood-test.toml")


# ---- building ----


def test_a_scenario_file_builds_with_its_groups_and_end():
    sim = Simulation.from_file(EXAMPLES / "flood.toml")
    assert sim.node_count == 200
    assert sim.groups == [("peers", 200)]
    assert sim.end == 20.0
    assert sim.seed == 42
    assert sim.now == 0.0
    assert "flood.toml" in repr(sim)


def test_a_seed_given_overrides_the_scenarios():
    assert flood().seed == 5
    assert flood(seed=9).seed == 9


def test_builtin_plugins_are_listed():
    names = peershare.builtin_plugins()
    for name in ["flood", "gossip", "kademlia", "chord", "raft", "pbft"]:
        assert name in names


# ---- errors ----


def test_a_wrong_field_is_a_scenario_error_with_file_line_and_field():
    text = FLOOD.replace('plugin = "flood"', 'plugin = "flood"\nbootstrap_typo = 3')
    with pytest.raises(ScenarioError) as caught:
        Simulation.from_toml(text, origin="mine.toml")
    err = caught.value
    assert err.file == "mine.toml"
    assert err.line == FLOOD.splitlines().index('plugin = "flood"') + 2
    assert "bootstrap_typo" in str(err)
    assert isinstance(err, peershare.PeerShareError)


def test_an_invalid_value_names_its_field():
    text = FLOOD.replace('duration = "10s"', 'duration = "ten seconds"')
    with pytest.raises(ScenarioError) as caught:
        Simulation.from_toml(text, origin="mine.toml")
    assert caught.value.field == "duration"
    assert caught.value.line == 3
    assert "ten seconds" in str(caught.value)


def test_a_toml_syntax_error_gives_its_line():
    with pytest.raises(ScenarioError) as caught:
        Simulation.from_toml('seed = 1\nduration = \n', origin="broken.toml")
    assert caught.value.line == 2
    assert caught.value.file == "broken.toml"
    assert caught.value.field is None


def test_a_missing_scenario_file_names_the_file(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ScenarioError) as caught:
        Simulation.from_file(missing)
    assert caught.value.file == str(missing)
    assert "cannot read" in str(caught.value)


def test_a_plugin_that_is_not_a_component_is_a_plugin_error_naming_the_file(tmp_path):
    bogus = tmp_path / "bogus.wasm"
    bogus.write_bytes(b"\0asm not really")
    text = FLOOD.replace('plugin = "flood"', f'plugin = "{bogus}"')
    with pytest.raises(PluginError) as caught:
        Simulation.from_toml(text)
    assert caught.value.file == str(bogus)
    assert "not a valid WebAssembly component" in str(caught.value)


def test_an_unknown_builtin_plugin_names_the_known_ones():
    text = FLOOD.replace('plugin = "flood"', 'plugin = "floood"')
    with pytest.raises(peershare.PeerShareError) as caught:
        Simulation.from_toml(text)
    assert "floood" in str(caught.value)
    assert "flood" in str(caught.value).replace("floood", "")


def test_a_node_that_does_not_exist_is_an_index_error():
    sim = flood()
    with pytest.raises(IndexError, match="no node 40"):
        sim.node_state(40)
    with pytest.raises(IndexError):
        sim.inspect(-1)


# ---- running ----


def test_run_until_run_for_and_step_move_virtual_time():
    sim = flood()
    assert sim.run(until="1.5s", progress=False) is sim
    assert sim.now == 1.5
    sim.run_for(datetime.timedelta(milliseconds=500), progress=False)
    assert sim.now_ns == 2_000_000_000
    sim.run_for(0.25, progress=False)
    assert sim.now == 2.25
    nxt = sim.next_event_time
    assert nxt is not None and nxt >= 2.25
    assert sim.step()
    assert sim.now == nxt
    sim.run(progress=False)
    assert sim.now == sim.end == 10.0


def test_running_backwards_is_refused():
    sim = flood().run(until="3s", progress=False)
    with pytest.raises(ValueError, match="already at 3.0s"):
        sim.run(until="2s")


def test_bad_durations_say_what_is_expected():
    with pytest.raises(ValueError, match="expected a number with a unit"):
        peershare.duration_ns("10 parsecs")
    with pytest.raises(ValueError, match="not negative"):
        peershare.duration_ns(-1)
    with pytest.raises(TypeError):
        peershare.duration_ns([1])
    assert peershare.duration_ns("2min") == 120 * 10**9


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    a = flood(seed=3).run(progress=False)
    b = flood(seed=3).run(progress=False)
    c = flood(seed=4).run(progress=False)
    assert a.summary() == b.summary()
    assert a.operations() == b.operations()
    assert a.summary()["messages"] != c.summary()["messages"]


def test_a_long_run_releases_the_gil():
    sim = Simulation.from_file(EXAMPLES / "kademlia.toml", seed=1)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    worker = threading.Thread(target=count)
    started = time.perf_counter()
    worker.start()
    sim.run(until="4s", progress=False)
    finished = time.perf_counter()
    done.set()
    worker.join()
    during = [t for t in ticks if started < t < finished]
    # The run takes well over a second; a thread starved of the GIL would
    # tick only between chunks.
    assert finished - started > 0.5
    assert len(during) > 0.5 * (finished - started) / 0.005 * 0.2


def test_ctrl_c_stops_a_run_between_chunks_and_the_simulation_stays_usable():
    import _thread

    sim = Simulation.from_file(EXAMPLES / "kademlia.toml", seed=1)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sim.run(progress=False)
    timer.cancel()
    stopped = sim.now
    assert 0 < stopped < sim.end
    sim.run_for("1s", progress=False)
    assert sim.now > stopped


# ---- observing ----


def test_node_state_and_inspect_are_dicts_of_the_peers_fields():
    sim = Simulation.from_toml(RAFT, base=EXAMPLES).run(until="3s", progress=False)
    states = [sim.node_state(i) for i in range(sim.node_count)]
    assert all(isinstance(s, dict) for s in states)
    leaders = [i for i, s in enumerate(states) if s["role"] == "leader"]
    assert len(leaders) == 1, states
    for s in states:
        assert isinstance(s["term"], int)
    inspected = sim.inspect(leaders[0])
    assert inspected["role"] == "leader"
    assert sim.node_status(leaders[0]) == peershare.NodeStatus("up", None)


def test_summary_counts_match_the_operations():
    sim = flood().run(progress=False)
    summary = sim.summary()
    ops = sim.operations()
    assert [o["op"] for o in ops] == list(range(len(ops)))
    broadcasts = [o for o in ops if o["kind"] == "broadcast"]
    assert len(broadcasts) == summary["operations"]["broadcast"]["issued"]
    assert summary["messages"]["sent"] >= summary["messages"]["delivered"] > 0
    for o in broadcasts:
        assert o["request"]["payload"] == "hello"
        if o["completed_at"] is not None:
            assert o["latency"] == pytest.approx(o["completed_at"] - o["issued_at"])
            assert isinstance(o["ok"], bool)


# ---- faults ----


def test_a_crash_added_while_running_takes_nodes_down_and_clearing_it_brings_them_back():
    sim = flood().run(until="3s", progress=False)
    fault = sim.add_fault(target={"nodes": [1, 2]}, crash={"recovery": "keep-state"}, name="two down")
    sim.run_for("1s", progress=False)
    assert sim.node_status(1).state == "down"
    record = next(f for f in sim.faults() if f["id"] == fault)
    assert (record["kind"], record["status"], record["name"], record["nodes"]) == ("crash", "active", "two down", [1, 2])
    assert record["started_at"] == 3.0
    sim.clear_fault(fault)
    sim.run_for("1s", progress=False)
    assert sim.node_status(1).state == "up"
    assert next(f for f in sim.faults() if f["id"] == fault)["status"] == "ended"


def test_a_fault_can_start_later_last_a_while_and_change():
    sim = flood()
    fault = sim.add_fault(at="2s", duration="3s", target={"group": "peers"}, loss={"rate": 0.5})
    assert sim.faults()[-1]["status"] == "scheduled"
    sim.run(until="3s", progress=False)
    sim.change_fault(fault, loss={"rate": 1.0})
    sim.run(until="4s", progress=False)
    assert sim.faults()[-1]["status"] == "active"
    sim.run(until="6s", progress=False)
    record = sim.faults()[-1]
    assert (record["started_at"], record["ended_at"], record["status"]) == (2.0, 5.0, "ended")
    assert sim.summary()["messages"]["dropped"], "a loss fault drops messages"


def test_a_wrong_fault_names_the_field():
    sim = flood()
    with pytest.raises(ScenarioError) as caught:
        sim.add_fault(target={"group": "east"}, crash={"recovery": "keep-state"})
    assert caught.value.field == "target"
    assert 'no group is named "east"' in str(caught.value)
    with pytest.raises(ScenarioError, match="unknown field"):
        sim.add_fault(crash={"recovery": "keep-state"}, explode={})
    fault = sim.add_fault(loss={"rate": 0.1})
    with pytest.raises(SimError, match="cannot become"):
        sim.change_fault(fault, crash={"recovery": "keep-state"})
    with pytest.raises(SimError, match="no fault 99"):
        sim.clear_fault(99)


# ---- scenarios as Python objects ----

FLOOD_DICT = {
    "seed": 5,
    "duration": datetime.timedelta(seconds=10),
    "network": {"latency": {"model": "uniform", "min": "20ms", "max": "80ms"}, "loss": 0.01},
    "groups": [
        {
            "name": "peers",
            "count": 40,
            "plugin": "flood",
            "bootstrap": {"strategy": "random", "count": 3},
            "config": {"ttl": 6, "ping_interval_ms": 2000},
        }
    ],
    "workload": [{"op": "request", "request": "broadcast", "fields": {"payload": "hello"}, "every": "1s", "start": "2s"}],
}


def test_a_scenario_as_a_dict_runs_like_the_same_scenario_file():
    from_dict = Simulation.from_dict(FLOOD_DICT).run(progress=False)
    from_text = flood().run(progress=False)
    assert from_dict.summary() == from_text.summary()
    assert from_dict.end == 10.0


def test_a_wrong_value_in_a_dict_names_its_field():
    wrong = {**FLOOD_DICT, "groups": [{**FLOOD_DICT["groups"][0], "plugin": "floood"}]}
    with pytest.raises(peershare.PeerShareError, match="floood"):
        Simulation.from_dict(wrong)
    with pytest.raises(ScenarioError) as caught:
        Simulation.from_dict({**FLOOD_DICT, "duration": "soon"})
    assert caught.value.field == "duration" and caught.value.file == "<dict>"
    with pytest.raises(TypeError, match="groups"):
        Simulation.from_dict({**FLOOD_DICT, "groups": [{"name": object()}]})


def test_to_toml_writes_tables_and_lists_of_tables_in_order():
    text = peershare.to_toml({"seed": 1, "skip": None, "groups": [{"name": "a", "config": {"k": 2}}, {"name": "b"}]})
    assert text == 'seed = 1\n\n[[groups]]\nname = "a"\n\n[groups.config]\nk = 2\n\n[[groups]]\nname = "b"\n'
