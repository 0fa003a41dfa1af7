"""Pictures as data: topology graphs, lookup traces, consensus timelines, Vega-Lite plots."""

import json
from pathlib import Path

import networkx
import pytest

import peershare
from peershare import Simulation, VegaLite

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def kademlia():
    return Simulation.from_file(EXAMPLES / "kademlia.toml").run(until="20s", progress=False)


@pytest.fixture(scope="module")
def raft():
    return Simulation.from_file(EXAMPLES / "raft.toml").run(until="5s", progress=False)


def version(text):
    return tuple(int(part) for part in text.split(".")[:2])


def test_topology_data_loads_in_the_networkx_users_have(kademlia):
    data = kademlia.topology_data()
    assert "edges" in data and "links" not in data
    if version(networkx.__version__) >= (3, 6):
        graph = networkx.node_link_graph(data)  # networkx 3.6 reads "edges" by default
    else:
        graph = networkx.node_link_graph(data, edges="edges")
    assert graph.number_of_nodes() == kademlia.node_count
    assert graph.number_of_edges() == len(data["edges"]) > 0


def test_the_kademlia_topology_is_its_routing_tables(kademlia):
    graph = kademlia.topology()
    assert isinstance(graph, networkx.MultiDiGraph)
    routing = [(u, v, d) for u, v, d in graph.edges(data=True) if d["type"] == "routing"]
    assert routing
    assert all(0 <= d["bucket"] < 160 for _, _, d in routing)
    # Each node's routing edges are the contacts its inspect export lists.
    node = 7
    contacts = kademlia.inspect(node)["nodes"]
    assert sorted(v for u, v, d in routing if u == node) == sorted(contacts)
    assert graph.nodes[node]["group"] == "dht"
    assert graph.nodes[node]["peer"] == "builtin:kademlia"


def test_flows_count_the_messages_of_a_window(raft):
    data = raft.topology_data(since="1s", until="2s")
    flows = [e for e in data["edges"] if e["type"] == "flow"]
    sent = raft.capture(since="1s", until="2s").to_pandas()
    assert sum(f["messages"] for f in flows) == len(sent)
    assert not [e for e in raft.topology_data()["edges"] if e["type"] == "flow"], "no window, no flows"


def test_the_raft_topology_points_from_the_leader_to_every_follower(raft):
    graph = raft.topology()
    leaders = {u for u, v, d in graph.edges(data=True) if d["type"] == "leader-follower"}
    assert len(leaders) == 1
    leader = leaders.pop()
    assert raft.node_state(leader)["role"] == "leader"
    followers = {v for u, v, d in graph.edges(leader, data=True) if d["type"] == "leader-follower"}
    assert followers == set(range(raft.node_count)) - {leader}


def test_a_lookup_trace_has_the_rounds_of_the_lookup(kademlia):
    done = next(o for o in kademlia.operations() if o["ok"] and o["kind"] == "lookup")
    trace = kademlia.lookup_trace(done["op"])
    assert trace["op"] == done["op"] and trace["node"] == done["node"]
    assert trace["rounds"] and trace["rounds"][0]["round"] == 1
    assert all(q["metric"] == "xor" for r in trace["rounds"] for q in r["queries"])
    assert kademlia.lookup_trace(10**9) is None


def test_the_consensus_timeline_follows_terms_and_commits(raft):
    timeline = raft.consensus_timeline()
    assert set(timeline["nodes"]) == {str(i) for i in range(raft.node_count)}
    committed = [o for o in raft.operations() if o["ok"]]
    assert len(timeline["commits"]) >= len(committed) > 0
    for changes in timeline["nodes"].values():
        terms = [c["term"] for c in changes]
        assert terms == sorted(terms), "terms never go back"


def test_the_standard_plots_render_as_vega_lite_v5(kademlia):
    plots = kademlia.plots()
    assert set(plots) == {"latency-cdf", "hops", "messages-over-time", "load-per-node"}
    for plot in plots.values():
        bundle = plot._repr_mimebundle_()
        spec = bundle["application/vnd.vegalite.v5+json"]
        assert spec["$schema"].endswith("/vega-lite/v5.json")
        assert spec["data"]["values"], "data inlined"
        assert "VegaLite" in bundle["text/plain"]
    over_time = plots["messages-over-time"].data
    assert sum(r["messages"] for r in over_time) == len(kademlia.capture())
    latencies = plots["latency-cdf"].data
    finished = [o for o in kademlia.operations() if o["completed_at"] is not None]
    assert len(latencies) == len(finished)


def test_capture_plots_take_the_capture_filters(kademlia):
    plot = kademlia.plot_messages_over_time(bin="1s", kind="PING", since="10s")
    rows = plot.data
    assert {r["kind"] for r in rows} == {"PING"}
    assert sum(r["messages"] for r in rows) == len(kademlia.capture(kind="PING", since="10s"))
    assert all(r["time_s"] >= 10 and r["time_s"] == int(r["time_s"]) for r in rows)
    load = kademlia.plot_load_per_node(nodes=[3])
    sent = sum(r["messages"] for r in load.data if r["node"] == 3 and r["direction"] == "sent")
    assert sent == len(kademlia.capture(from_=3))
    with pytest.raises(ValueError, match="unknown fate"):
        kademlia.plot_load_per_node(fate="gone")


def test_a_plot_saves_and_restyles_in_altair(kademlia, tmp_path):
    plot = kademlia.plots()["hops"]
    path = tmp_path / "hops.vl.json"
    plot.save(path)
    assert json.loads(path.read_text()) == plot.spec
    chart = plot.to_altair().properties(width=200)
    restyled = chart.to_dict()
    assert restyled["width"] == 200
    assert restyled["mark"] == plot.spec["mark"]
    with pytest.raises(ValueError, match="Vega-Lite"):
        VegaLite({"nothing": 1})
