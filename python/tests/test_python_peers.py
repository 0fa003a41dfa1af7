"""Peers written in Python: handlers, typed records, determinism, crashes."""

import pytest

import peershare
from peershare import ScenarioError, SimError, Simulation
from peershare.peer import Contact, Id, Node, Nodes, Peer, Record, U64s

SCENARIO = """
seed = 3
duration = "6s"

[network]
latency = { model = "uniform", min = "10ms", max = "50ms" }

[[groups]]
name = "peers"
count = 12
plugin = "native"
bootstrap = { strategy = "previous", count = 2 }

[groups.config]
interval_ms = 300

[[workload]]
op = "request"
request = "count"
every = "1s"
start = "2s"
"""


class Pinger(Peer):
    """Pings a random known peer every interval_ms and counts the pongs."""

    def init(self, ctx, start):
        self.me = start.index
        self.known = sorted(c.node for c in start.bootstrap)
        self.pongs = 0
        self.interval = f"{start.config['interval_ms']}ms"
        assert isinstance(start.id, Id) and len(start.id) == start.id_bits // 8
        assert all(isinstance(c, Contact) for c in start.bootstrap)
        ctx.set_timer(self.interval, tag=1)
        self.publish(ctx)

    def publish(self, ctx):
        ctx.publish(Record("state", neighbours=Nodes(self.known), pongs=self.pongs))

    def on_message(self, ctx, sender, message):
        assert isinstance(sender, Node)
        if sender not in self.known:
            self.known = sorted(self.known + [sender])
        if message.kind == "PING":
            ctx.send(sender, Record("PONG", seq=message["seq"], echo=message["sender"]))
        elif message.kind == "PONG":
            assert message["echo"] == Node(self.me) and isinstance(message["echo"], Node)
            self.pongs += 1
        self.publish(ctx)

    def on_timer(self, ctx, tag):
        if self.known:
            to = self.known[ctx.random_below(len(self.known))]
            ctx.send(to, Record("PING", seq=ctx.now_ns, sender=Node(ctx.index)))
        ctx.set_timer(self.interval, tag=1)

    def on_request(self, ctx, op, request):
        if request.kind == "count":
            ctx.complete(op, True, Record("count", pongs=self.pongs, known=U64s(self.known)))
        else:
            super().on_request(ctx, op, request)

    def inspect(self):
        return Record("state", neighbours=Nodes(self.known), pongs=self.pongs, inspected=True)


def run(factory=Pinger, seed=None, until=None):
    sim = Simulation.from_toml(SCENARIO, peers={"peers": factory}, seed=seed)
    return sim.run(until=until, progress=False)


def test_python_peers_exchange_messages_publish_state_and_answer_requests():
    sim = run()
    for node in range(sim.node_count):
        assert sim.node_status(node).state == "up"
        assert sim.node_state(node)["pongs"] > 0
        assert sim.inspect(node)["inspected"] is True
    counts = [o for o in sim.operations() if o["kind"] == "count"]
    assert counts and all(o["ok"] for o in counts)
    assert all(isinstance(o["result"]["known"], list) for o in counts)
    graph = sim.topology()
    assert graph.number_of_edges() > 0, "neighbours published by Python are topology edges"
    kinds = set(sim.capture().to_pandas()["kind"])
    assert {"PING", "PONG"} <= kinds


def test_the_same_seed_gives_the_same_run_with_python_peers():
    a = run(seed=8).events().to_pyarrow()
    b = run(seed=8).events().to_pyarrow()
    c = run(seed=9).events().to_pyarrow()
    assert a.equals(b)
    assert not a.equals(c)


def test_an_exception_in_a_handler_crashes_only_that_node_and_says_where():
    class Fragile(Pinger):
        def on_message(self, ctx, sender, message):
            if ctx.index == 4 and message.kind == "PONG":
                raise ValueError("node 4 gives up")
            super().on_message(ctx, sender, message)

    sim = run(Fragile)
    status = sim.node_status(4)
    assert status.state == "crashed"
    assert "ValueError: node 4 gives up" in status.detail
    assert "test_python_peers.py" in status.detail and "on_message" in status.detail
    assert all(sim.node_status(n).state == "up" for n in range(sim.node_count) if n != 4)
    crashed = sim.events("crashed").to_pandas()
    assert list(crashed["node"]) == [4]


def test_a_field_that_cannot_go_on_the_wire_crashes_the_node_naming_the_field():
    class Sloppy(Pinger):
        def on_timer(self, ctx, tag):
            ctx.send(self.known[0] if self.known else 0, Record("PING", when={"a": 1}))

    sim = run(Sloppy, until="1s")
    reasons = [sim.node_status(n).detail for n in range(sim.node_count) if sim.node_status(n).state == "crashed"]
    assert reasons, "every node that pinged crashed"
    assert all('field "when": a dict cannot go on the wire' in r for r in reasons)


def test_an_empty_list_must_say_its_type():
    class Vague(Pinger):
        def publish(self, ctx):
            ctx.publish(Record("state", neighbours=[]))

    sim = run(Vague, until="100ms")
    assert "an empty list has no wire type" in sim.node_status(0).detail


def test_a_context_kept_past_its_call_refuses_to_act():
    class Hoarder(Pinger):
        def init(self, ctx, start):
            super().init(ctx, start)
            self.kept = ctx

        def on_timer(self, ctx, tag):
            self.kept.send(0, Record("PING", seq=1, sender=Node(ctx.index)))

    sim = run(Hoarder, until="1s")
    assert "context belongs to a handler call that has returned" in sim.node_status(0).detail


def test_a_factory_that_raises_crashes_its_nodes():
    def broken():
        raise RuntimeError("no peer today")

    sim = run(broken, until="1s")
    assert all("no peer today" in sim.node_status(n).detail for n in range(sim.node_count))


def test_a_native_group_without_peers_and_peers_for_no_group_are_errors():
    with pytest.raises(ScenarioError) as caught:
        Simulation.from_toml(SCENARIO, origin="mine.toml")
    assert caught.value.field == "groups[0].plugin"
    assert 'peers={"peers": PeerClass}' in str(caught.value)
    with pytest.raises(SimError, match='peers are given for group "others"'):
        Simulation.from_toml(SCENARIO, peers={"peers": Pinger, "others": Pinger})
    with pytest.raises(TypeError, match="not a class or factory"):
        Simulation.from_toml(SCENARIO, peers={"peers": 3})


def test_records_compare_and_read_like_dicts():
    r = Record("PING", seq=3, to=Node(2))
    assert r == Record("PING", {"seq": 3, "to": Node(2)})
    assert r["seq"] == 3 and r.get("nothing", 7) == 7 and "to" in r
    assert repr(Node(2)) == "Node(2)"
    assert Id.from_hex("0x0a0b").hex0x() == "0x0a0b" and int(Id(b"\x01\x00")) == 256
