"""Peers written in Python, for trying ideas in a notebook.

.. warning::
   Python peers are **trusted and unsandboxed**: they run in your Python
   process with its full powers, and nothing limits their CPU or memory.
   They are for exploring, never for submissions; students submit
   WebAssembly components (Rust, or Python through componentize-py).

A peer is a class with handlers the simulator calls, like any peer::

    from peershare.peer import Peer, Record, Nodes

    class Pinger(Peer):
        def init(self, ctx, start):
            self.known = sorted(c.node for c in start.bootstrap)
            self.pongs = 0
            ctx.set_timer("500ms", tag=1)

        def on_message(self, ctx, sender, message):
            if message.kind == "PING":
                ctx.send(sender, Record("PONG", seq=message["seq"]))
            elif message.kind == "PONG":
                self.pongs += 1
            ctx.publish(Record("state", neighbours=Nodes(self.known), pongs=self.pongs))

        def on_timer(self, ctx, tag):
            if self.known:
                ctx.send(self.known[ctx.random_below(len(self.known))], Record("PING", seq=ctx.now_ns))
            ctx.set_timer("500ms", tag=1)

    sim = peershare.Simulation.from_toml(scenario, peers={"peers": Pinger})

The group's ``plugin`` in the scenario is ``"native"`` (or any plugin,
which the Python class then replaces). One instance is made per node by
calling the class (or any factory) with no arguments.

Messages are :class:`Record` s, the simulator's canonical records: a kind
and typed fields. Python values map to wire types by their type: ``bool``,
``int`` (unsigned 64-bit; negative: signed), ``float``, ``str``,
``bytes``, :class:`Node` (a node index), :class:`Id` (an identifier), and
lists of them (a list takes the type of its elements; say the type of an
empty list with :class:`Nodes`, :class:`Ids`, :class:`U64s`, :class:`Strs`,
:class:`Blobs` or :class:`Contacts`). Received records come back with the
same types, so a field round-trips.

A handler that raises crashes its node, as a trap crashes a WebAssembly
node: the crash and its reason go into the event log and the run goes on.
Randomness comes from ``ctx.random()`` and ``ctx.random_below(n)`` (the
node's seeded stream), so runs stay deterministic; Python's own
``random`` and clocks would not be.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple, Optional

__all__ = [
    "Peer",
    "Record",
    "Start",
    "Node",
    "Id",
    "Contact",
    "Nodes",
    "Ids",
    "U64s",
    "Strs",
    "Blobs",
    "Contacts",
]


class Node(int):
    """A node index (a peer's network address), typed as such on the wire."""

    def __repr__(self) -> str:
        return f"Node({int(self)})"


class Id(bytes):
    """An identifier (a 160-bit Kademlia id, a key), typed as such on the
    wire; shown as ``0x`` hex like in every export."""

    @classmethod
    def from_hex(cls, text: str) -> "Id":
        """The id written as (``0x``-prefixed) hex."""
        return cls(bytes.fromhex(text[2:] if text.startswith("0x") else text))

    def hex0x(self) -> str:
        """The id as ``0x`` hex, as the exports write it."""
        return "0x" + self.hex()

    def __int__(self) -> int:
        return int.from_bytes(self, "big")

    def __repr__(self) -> str:
        return f"Id({self.hex0x()})"


class Contact(NamedTuple):
    """A peer as another peer knows it: its node index and id."""

    node: int
    id: bytes


class Nodes(list):
    """A list of node indices."""


class Ids(list):
    """A list of identifiers."""


class U64s(list):
    """A list of unsigned 64-bit integers."""


class Strs(list):
    """A list of strings."""


class Blobs(list):
    """A list of byte strings."""


class Contacts(list):
    """A list of :class:`Contact` s."""


class Record:
    """A message or state: a kind and typed fields, in order.

    >>> r = Record("PING", seq=3, sender=Node(2))
    >>> r.kind, r["seq"], r.get("missing"), "seq" in r
    ('PING', 3, None, True)
    """

    __slots__ = ("kind", "fields")

    def __init__(self, kind: str, fields: Optional[dict[str, Any]] = None, /, **more: Any):
        self.kind = kind
        self.fields: dict[str, Any] = dict(fields or {})
        self.fields.update(more)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.fields[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def get(self, name: str, default: Any = None) -> Any:
        """The field ``name``, or ``default``."""
        return self.fields.get(name, default)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and (self.kind, self.fields) == (other.kind, other.fields)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"Record({self.kind!r}{', ' if fields else ''}{fields})"


class Start(NamedTuple):
    """What a node starts with (``init``'s second argument)."""

    index: int
    id: Id
    group: str
    config: Record
    bootstrap: list[Contact]
    id_bits: int
    node_count: int


class Peer:
    """The base of a Python peer: override the handlers you need.

    ``ctx`` is valid only during the call that receives it: it sends
    (``ctx.send(to, record)``), sets timers (``ctx.set_timer(delay, tag)``,
    ``ctx.cancel_timer(timer)``), draws random numbers, logs, publishes the
    node's state (``ctx.publish(record)``, in the ``state`` conventions
    topology snapshots read: ``neighbours``, ``role``, ``term``, ...), and
    ends operations (``ctx.complete(op, ok, result)``)."""

    def init(self, ctx: Any, start: Start) -> None:
        """The node starts."""

    def on_message(self, ctx: Any, sender: int, message: Record) -> None:
        """A message from node ``sender`` arrived."""

    def on_timer(self, ctx: Any, tag: int) -> None:
        """The timer set with ``tag`` fired."""

    def on_request(self, ctx: Any, op: int, request: Record) -> None:
        """The workload asks for operation ``op``: a request record (its
        kind names it: ``"broadcast"``, or ``"lookup"`` with its ``key``,
        ``"put"``, ``"get"``, ``"propose"``, ...). Answer with
        ``ctx.complete(op, ok, result)``; the default declines."""
        ctx.complete(op, False, Record("error", reason="unsupported operation"))

    def inspect(self) -> Optional[Record]:
        """The node's state when an observer asks (None: what it published last)."""
        return None


def _as_list(kind: str, values: Iterable[Any]) -> list:
    """A typed list of the wire list kind ``kind`` (used by the extension)."""
    return {"nodes": Nodes, "ids": Ids, "u64s": U64s, "strs": Strs, "blobs": Blobs, "contacts": Contacts}[kind](values)
