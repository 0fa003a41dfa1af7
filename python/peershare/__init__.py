"""PeerShare from Python: a deterministic peer-to-peer network simulator
whose peers are sandboxed WebAssembly components.

Build a simulation from a scenario file or its TOML text, run it in virtual
time, change faults while it runs and read every node's state::

    import peershare

    sim = peershare.Simulation.from_file("examples/kademlia.toml", seed=7)
    sim.run(until="20s")
    print(sim.now, sim.summary()["messages"]["delivered"])
    print(sim.node_state(3)["role"] if sim.node_state(3) else None)

Durations are given as in scenario files (``"250ms"``, ``"10s"``,
``"2min"``), as seconds (``1.5``) or as ``datetime.timedelta``; times read
back are seconds of virtual time (floats), or exact nanoseconds through the
``*_ns`` properties.

Errors of the framework are exceptions (:class:`ScenarioError` with
``file``, ``line`` and ``field``; :class:`PluginError` with ``file``;
:class:`SimError`), all :class:`PeerShareError`. A failure inside a
simulated node is not an exception: it is a crash the run records.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Iterable, NamedTuple, Optional, Union

from . import _native
from ._native import PeerShareError, PluginError, ScenarioError, SimError
from .vega import VegaLite
from .toml_text import to_toml
from .experiment import Experiment, Markdown, Results, run_spec

__all__ = [
    "Simulation",
    "Table",
    "VegaLite",
    "Experiment",
    "Results",
    "Markdown",
    "run_spec",
    "FATES",
    "NodeStatus",
    "PeerShareError",
    "ScenarioError",
    "PluginError",
    "SimError",
    "builtin_plugins",
    "duration_ns",
    "to_toml",
    "__version__",
]

__version__: str = _native.__version__

#: A duration: ``"150ms"``-style text, seconds, or a ``timedelta``.
Duration = Union[str, int, float, datetime.timedelta]

#: How many events one chunk of a run processes without the GIL.
_CHUNK_EVENTS = 20_000


def builtin_plugins() -> list[str]:
    """The names of the plugins built into PeerShare, usable as
    ``plugin = "NAME"`` in a scenario."""
    return list(_native.builtin_plugins())


def duration_ns(value: Duration) -> int:
    """A duration in integer nanoseconds.

    >>> duration_ns("1.5s"), duration_ns(0.25), duration_ns(datetime.timedelta(milliseconds=3))
    (1500000000, 250000000, 3000000)
    """
    if isinstance(value, bool):
        raise TypeError("a duration is text such as '10s', a number of seconds or a timedelta, not a bool")
    if isinstance(value, str):
        return _native.parse_duration(value)
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)):
        seconds = float(value)
    else:
        raise TypeError(f"a duration is text such as '10s', a number of seconds or a timedelta, not {type(value).__name__}")
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be finite and not negative, not {value!r}")
    return round(seconds * 1e9)


def _seconds(nanos: Optional[int]) -> Optional[float]:
    return None if nanos is None else nanos / 1e9


class NodeStatus(NamedTuple):
    """Whether a node runs: ``state`` is "not-started", "up", "crashed"
    (``detail``: the reason) or "down" (``detail``: the fault's id)."""

    state: str
    detail: Optional[str]


class Simulation:
    """One simulation: nodes running their plugins over a simulated
    network, in virtual time.

    Build it with :meth:`from_file` or :meth:`from_toml`; run it with
    :meth:`run`, :meth:`run_for` or :meth:`step`; observe it at any point.
    The same scenario and seed always give the same run.
    """

    def __init__(self, native: _native.Simulation):
        """Wraps a native simulation; use :meth:`from_file` or :meth:`from_toml`."""
        self._sim = native

    # ---- building ----

    @classmethod
    def from_file(
        cls,
        path: Union[str, os.PathLike],
        *,
        seed: Optional[int] = None,
        capture: bool = True,
        record_events: bool = True,
        peers: Optional[dict[str, Any]] = None,
    ) -> "Simulation":
        """The simulation a scenario file describes, with every node
        created and the workload and faults scheduled; ``seed`` overrides
        the file's seed. ``capture`` keeps every message for
        :meth:`capture` and ``record_events`` the event log for
        :meth:`events` (turn them off for very large runs). ``peers`` maps
        group names to Python peer classes (:mod:`peershare.peer`; trusted,
        unsandboxed) that those groups run instead of a plugin; a group
        written ``plugin = "native"`` must be among them.

        Raises :class:`ScenarioError` (where the file is wrong),
        :class:`PluginError` (a plugin cannot be used) or :class:`SimError`.
        """
        return cls(_native.Simulation.from_file(os.fspath(path), seed, capture, record_events, peers))

    @classmethod
    def from_toml(
        cls,
        text: str,
        *,
        seed: Optional[int] = None,
        base: Union[str, os.PathLike] = ".",
        origin: str = "<toml>",
        capture: bool = True,
        record_events: bool = True,
        peers: Optional[dict[str, Any]] = None,
    ) -> "Simulation":
        """The simulation a scenario's TOML text describes (options as in
        :meth:`from_file`). Relative paths in it (plugins, latency
        matrices) start at ``base``; ``origin`` names the text in errors."""
        return cls(_native.Simulation.from_toml(text, origin, os.fspath(base), seed, capture, record_events, peers))

    @classmethod
    def from_dict(
        cls,
        scenario: dict[str, Any],
        *,
        seed: Optional[int] = None,
        base: Union[str, os.PathLike] = ".",
        origin: str = "<dict>",
        capture: bool = True,
        record_events: bool = True,
        peers: Optional[dict[str, Any]] = None,
    ) -> "Simulation":
        """The simulation a scenario given as Python objects describes:
        the same keys as a scenario file (``groups`` a list of dicts,
        ``network``, ``workload``, ``faults``, ...), durations as text or
        ``timedelta``; options as in :meth:`from_file`::

            sim = peershare.Simulation.from_dict({
                "duration": "10s",
                "groups": [{"name": "peers", "count": 50, "plugin": "gossip",
                            "bootstrap": {"strategy": "random", "count": 4}}],
                "workload": [{"op": "request", "request": "max", "rate": 5.0}],
            })

        :func:`peershare.to_toml` shows the scenario file it makes."""
        return cls.from_toml(
            to_toml(scenario), seed=seed, base=base, origin=origin, capture=capture, record_events=record_events, peers=peers
        )

    # ---- time ----

    @property
    def now(self) -> float:
        """The virtual time now, in seconds."""
        return self._sim.now_ns / 1e9

    @property
    def now_ns(self) -> int:
        """The virtual time now, in nanoseconds (exact)."""
        return self._sim.now_ns

    @property
    def end(self) -> float:
        """When the scenario's run ends (its ``duration``), in seconds."""
        return self._sim.end_ns / 1e9

    @property
    def next_event_time(self) -> Optional[float]:
        """When the next pending event happens, in seconds (None if none is)."""
        return _seconds(self._sim.next_event_ns)

    def run(self, until: Optional[Duration] = None, *, progress: bool = True) -> "Simulation":
        """Processes every event up to and including virtual time ``until``
        (default: the scenario's end) and sets the clock there.

        The GIL is released while events run, so other threads go on, and
        Ctrl-C stops the run between chunks of events (the simulation stays
        usable at the time it reached). With ``progress``, a bar (tqdm, in a
        notebook or a terminal) appears when the run takes more than a second.
        Returns the simulation, so calls chain.
        """
        end = self._sim.end_ns if until is None else duration_ns(until)
        return self._run_to(end, progress)

    def run_for(self, duration: Duration, *, progress: bool = True) -> "Simulation":
        """Runs for ``duration`` of virtual time from now (see :meth:`run`)."""
        return self._run_to(self._sim.now_ns + duration_ns(duration), progress)

    def _run_to(self, end: int, progress: bool) -> "Simulation":
        start = self._sim.now_ns
        if end < start:
            raise ValueError(f"cannot run until {end / 1e9}s: the simulation is already at {start / 1e9}s")
        bar = _progress_bar(start, end) if progress else None
        try:
            while not self._sim.advance(end, _CHUNK_EVENTS):
                if bar is not None:
                    bar.update((self._sim.now_ns - start) / 1e9 - bar.n)
        finally:
            if bar is not None:
                bar.update((self._sim.now_ns - start) / 1e9 - bar.n)
                bar.close()
        return self

    def step(self) -> bool:
        """Processes the next pending event; False if nothing was pending."""
        return self._sim.step()

    # ---- the nodes ----

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self._sim.seed

    @property
    def node_count(self) -> int:
        """How many nodes the simulation has (indices 0 to node_count - 1)."""
        return self._sim.node_count

    @property
    def groups(self) -> list[tuple[str, int]]:
        """The scenario's groups in order, as (name, size); node indices
        run through them in this order."""
        return list(self._sim.groups)

    def node_group(self, node: int) -> str:
        """The group of ``node``."""
        return self._sim.node_group(node)

    def node_status(self, node: int) -> NodeStatus:
        """Whether ``node`` runs (see :class:`NodeStatus`)."""
        return NodeStatus(*self._sim.node_status(node))

    def node_state(self, node: int) -> Optional[dict[str, Any]]:
        """The state ``node`` published last, as a dict of its fields (ids
        and bytes as ``0x`` hex, as in the exported files), or None if it
        has published none. Raises IndexError for a node that does not exist."""
        text = self._sim.node_state_json(node)
        return None if text is None else json.loads(text)

    def inspect(self, node: int) -> Optional[dict[str, Any]]:
        """``node``'s internal state as its ``inspect`` export reports it
        now (routing tables, logs), falling back to the state it published
        last. Observing never changes the run."""
        text = self._sim.inspect_json(node)
        return None if text is None else json.loads(text)

    # ---- results ----

    def summary(self) -> dict[str, Any]:
        """Results so far, as ``summary.json`` holds them: messages by
        fate, operations by kind with latencies, faults, crashes."""
        return json.loads(self._sim.summary_json())

    def operations(self) -> list[dict[str, Any]]:
        """Every operation issued so far, by id: ``op``, ``node``, ``kind``,
        its arguments (``key``, ``value`` or ``request``), ``issued_at``,
        and once it ended ``completed_at``, ``ok``, ``latency`` (seconds)
        and ``result`` (None while pending)."""
        return json.loads(self._sim.operations_json())

    def events(
        self,
        types: Union[str, Iterable[str], None] = None,
        *,
        nodes: Union[int, Iterable[int], None] = None,
        since: Optional[Duration] = None,
        until: Optional[Duration] = None,
    ) -> "Table":
        """The event log so far as a :class:`Table`, one row per event:
        ``seq``, ``time`` (virtual nanoseconds), ``event`` (its type, as in
        ``events.jsonl``), ``node``, then every other field of the events
        kept, by name (records and lists as JSON text).

        Keeps the events of these ``types`` (``"delivered"``,
        ``"operation-completed"``, ...) that involve these ``nodes`` (as
        ``node``, ``from`` or ``to``), in [``since``, ``until``)::

            sim.events("crashed").to_pandas()
            sim.events(["sent", "delivered"], nodes=3, since="5s")
        """
        return Table(
            self._sim.events(
                _names(types),
                _numbers(nodes),
                None if since is None else duration_ns(since),
                None if until is None else duration_ns(until),
            )
        )

    def capture(
        self,
        *,
        since: Optional[Duration] = None,
        until: Optional[Duration] = None,
        nodes: Union[int, Iterable[int], None] = None,
        from_: Union[int, Iterable[int], None] = None,
        to: Union[int, Iterable[int], None] = None,
        kind: Union[str, Iterable[str], None] = None,
        fate: Union[str, Iterable[str], None] = None,
        op: Optional[int] = None,
        fault: Optional[int] = None,
        where: Union[str, Iterable[str], None] = None,
        search: Optional[str] = None,
    ) -> "Table":
        """Every captured message a filter selects, as a :class:`Table`
        (the filters of ``peershare inspect``; every condition given must
        hold): sent in [``since``, ``until``), by or to ``nodes``, sent by
        ``from_``, to ``to``, of these ``kind`` s and ``fate`` s (see
        :data:`FATES`), of operation ``op``, touched by ``fault``, with
        field conditions ``where`` (``"rpc>=3"``, ``"key~0x12"``) and a
        regular expression ``search`` over the decoded fields.

        Columns: ``id``, ``sent`` and ``ended`` (virtual ns), ``from``,
        ``to``, ``kind``, ``size`` (bytes), ``fate``, ``fault``, ``op``,
        ``hop``, ``killed_receiver``, ``fields`` (the decoded body as JSON
        text, ids and bytes as hex)::

            sim.capture(kind="FIND_NODE", where="rpc>=3", from_=17).to_pandas()
            sim.capture(fate=["lost", "partitioned"], since="15s", until="20s")
        """
        return Table(
            self._sim.capture(
                _capture_filter(
                    since=since, until=until, nodes=nodes, from_=from_, to=to, kind=kind, fate=fate,
                    op=op, fault=fault, where=where, search=search,
                )
            )
        )

    # ---- pictures (data, never UI) ----

    def topology_data(self, *, since: Optional[Duration] = None, until: Optional[Duration] = None) -> dict[str, Any]:
        """The network now as a node-link dict (``topology.json``): every
        node (``id``, ``node_id``, ``group``, ``peer``, ``role``,
        ``status``, ``summary``) and the typed ``edges`` its observable
        state describes (``routing`` with its ``bucket``, ``finger`` with
        its ``index``, ``successor`` with its ``rank``, ``leader``, ...),
        plus ``flow`` edges counting the messages sent in [``since``,
        ``until``) if either is given. Observing never changes the run."""
        return json.loads(
            self._sim.topology_json(
                None if since is None else duration_ns(since),
                None if until is None else duration_ns(until),
            )
        )

    def topology(self, *, since: Optional[Duration] = None, until: Optional[Duration] = None) -> Any:
        """The network now as a ``networkx.MultiDiGraph`` (see
        :meth:`topology_data` for the attributes); needs networkx."""
        import networkx

        data = self.topology_data(since=since, until=until)
        return networkx.node_link_graph(data, edges="edges")

    def lookup_trace(self, op: int) -> Optional[dict[str, Any]]:
        """The trace of operation ``op`` as its peer reported it (each
        round's queries, answers and what it learnt), or None if the peer
        does not trace (the SDK's ``Step`` convention)."""
        text = self._sim.lookup_trace_json(op)
        return None if text is None else json.loads(text)

    def consensus_timeline(self) -> dict[str, Any]:
        """The consensus timeline so far (``consensus.json``): each node's
        terms and roles over time, the leaders, every commit."""
        return json.loads(self._sim.consensus_json())

    def plots(self) -> dict[str, "VegaLite"]:
        """The run's standard plots so far, by name, for those it has data
        for: ``latency-cdf``, ``hops``, ``messages-over-time``,
        ``load-per-node`` (what ``peershare run --viz`` writes); each
        renders in a notebook."""
        return {name: VegaLite(spec) for name, spec in json.loads(self._sim.plots_json()).items()}

    def plot_messages_over_time(self, bin: Optional[Duration] = None, **capture_filter: Any) -> "VegaLite":
        """Messages sent per time ``bin`` (default: a hundredth of the run),
        stacked by kind, over the messages :meth:`capture` would select
        with the same keywords."""
        bin_ns = None if bin is None else duration_ns(bin)
        return VegaLite(json.loads(self._sim.capture_plot_json("messages-over-time", _capture_filter(**capture_filter), bin_ns)))

    def plot_load_per_node(self, **capture_filter: Any) -> "VegaLite":
        """Messages sent and received per node, busiest first, over the
        messages :meth:`capture` would select with the same keywords."""
        return VegaLite(json.loads(self._sim.capture_plot_json("load-per-node", _capture_filter(**capture_filter))))

    # ---- faults ----

    def faults(self) -> list[dict[str, Any]]:
        """Every fault added so far (from the scenario or :meth:`add_fault`):
        ``id``, ``name``, ``kind``, ``status`` ("scheduled", "active",
        "ended"), ``start``, ``started_at``, ``ended_at``, ``nodes``."""
        return json.loads(self._sim.faults_json())

    def add_fault(
        self,
        *,
        at: Optional[Duration] = None,
        duration: Optional[Duration] = None,
        target: Optional[dict[str, Any]] = None,
        name: Optional[str] = None,
        **kind: Any,
    ) -> int:
        """Adds a fault, written like a scenario's ``[[faults]]`` table,
        starting at virtual time ``at`` (default: now) for ``duration``
        (default: until cleared). Exactly one kind keyword says what it
        does, with the same fields as in scenario files::

            sim.add_fault(target={"group": "peers", "fraction": 0.2}, crash={"recovery": "lose-state"})
            sim.add_fault(duration="30s", target={"from": {"group": "a"}, "to": {"group": "b"}}, loss={"rate": 0.5})
            sim.add_fault(partition={"sides": [{"group": "east"}]})

        Returns the fault's id, for :meth:`change_fault` and
        :meth:`clear_fault`. Raises :class:`ScenarioError` naming the field
        that is wrong.
        """
        table: dict[str, Any] = {"at": f"{self._sim.now_ns if at is None else duration_ns(at)}ns", **kind}
        if duration is not None:
            table["duration"] = f"{duration_ns(duration)}ns"
        if target is not None:
            table["target"] = target
        if name is not None:
            table["name"] = name
        return self._sim.add_fault_json(json.dumps(table))

    def change_fault(self, fault_id: int, **kind: Any) -> None:
        """Changes what fault ``fault_id`` does, keeping its kind and
        target: ``sim.change_fault(f, loss={"rate": 0.1})``."""
        table = {"at": "0s", **kind}
        self._sim.change_fault_json(fault_id, json.dumps(table))

    def clear_fault(self, fault_id: int) -> None:
        """Ends fault ``fault_id`` now (crashed nodes recover as it says)."""
        self._sim.clear_fault(fault_id)

    def __repr__(self) -> str:
        return f"<peershare.Simulation {self._sim.origin} seed={self.seed} nodes={self.node_count} at {self.now}s>"


def _names(value: Union[str, Iterable[str], None]) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _numbers(value: Union[int, Iterable[int], None]) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def _capture_filter(
    *,
    since: Optional[Duration] = None,
    until: Optional[Duration] = None,
    nodes: Union[int, Iterable[int], None] = None,
    from_: Union[int, Iterable[int], None] = None,
    to: Union[int, Iterable[int], None] = None,
    kind: Union[str, Iterable[str], None] = None,
    fate: Union[str, Iterable[str], None] = None,
    op: Optional[int] = None,
    fault: Optional[int] = None,
    where: Union[str, Iterable[str], None] = None,
    search: Optional[str] = None,
) -> str:
    """A capture filter as the extension reads it (JSON)."""
    return json.dumps(
        {
            "since_ns": None if since is None else duration_ns(since),
            "until_ns": None if until is None else duration_ns(until),
            "nodes": _numbers(nodes),
            "from": _numbers(from_),
            "to": _numbers(to),
            "kinds": _names(kind),
            "fates": _names(fate),
            "op": op,
            "fault": fault,
            "fields": _names(where),
            "search": search,
        }
    )


class Table:
    """A table of results (events, captured messages), held in Arrow
    arrays by the simulator. Any library that reads Arrow C streams takes
    it without copying: ``pyarrow.table(t)``, ``polars.DataFrame(t)``;
    :meth:`to_pandas` and :meth:`to_pyarrow` for convenience."""

    def __init__(self, native: _native.Table):
        self._table = native

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow C stream interface (PyCapsule protocol)."""
        return self._table.__arrow_c_stream__(requested_schema)

    def __len__(self) -> int:
        return len(self._table)

    @property
    def column_names(self) -> list[str]:
        """The columns' names, in order."""
        return list(self._table.column_names)

    def to_pyarrow(self) -> Any:
        """The table as a ``pyarrow.Table`` (needs pyarrow)."""
        import pyarrow

        return pyarrow.table(self._table)

    def to_pandas(self) -> Any:
        """The table as a ``pandas.DataFrame`` (needs pandas and pyarrow);
        integer and boolean columns become pandas' nullable ``UInt32``,
        ``UInt64``, ``Int64`` and ``boolean``, so a column with missing
        values keeps exact integers instead of turning into floats."""
        import pandas

        return self.to_pyarrow().to_pandas(types_mapper=_nullable_pandas_types(pandas).get)

    def __repr__(self) -> str:
        return repr(self._table)


def _nullable_pandas_types(pandas: Any) -> dict:
    import pyarrow

    return {
        pyarrow.uint32(): pandas.UInt32Dtype(),
        pyarrow.uint64(): pandas.UInt64Dtype(),
        pyarrow.int64(): pandas.Int64Dtype(),
        pyarrow.bool_(): pandas.BooleanDtype(),
    }


#: The fates a captured message can have (``capture(fate=...)``).
FATES: list[str] = list(_native.FATES)


def _progress_bar(start_ns: int, end_ns: int) -> Any:
    """A tqdm bar over virtual seconds that shows only after a second."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency; without it runs stay silent
        return None
    return tqdm(
        total=(end_ns - start_ns) / 1e9,
        initial=0,
        unit="s",
        unit_scale=False,
        desc="virtual time",
        delay=1.0,
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]",
    )
