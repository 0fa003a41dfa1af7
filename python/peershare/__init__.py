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

__all__ = [
    "Simulation",
    "NodeStatus",
    "PeerShareError",
    "ScenarioError",
    "PluginError",
    "SimError",
    "builtin_plugins",
    "duration_ns",
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
    def from_file(cls, path: Union[str, os.PathLike], *, seed: Optional[int] = None) -> "Simulation":
        """The simulation a scenario file describes, with every node
        created and the workload and faults scheduled; ``seed`` overrides
        the file's seed.

        Raises :class:`ScenarioError` (where the file is wrong),
        :class:`PluginError` (a plugin cannot be used) or :class:`SimError`.
        """
        return cls(_native.Simulation.from_file(os.fspath(path), seed))

    @classmethod
    def from_toml(
        cls,
        text: str,
        *,
        seed: Optional[int] = None,
        base: Union[str, os.PathLike] = ".",
        origin: str = "<toml>",
    ) -> "Simulation":
        """The simulation a scenario's TOML text describes. Relative paths
        in it (plugins, latency matrices) start at ``base``; ``origin``
        names the text in error messages."""
        return cls(_native.Simulation.from_toml(text, origin, os.fspath(base), seed))

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
