"""Type stubs of the extension module `peershare._native` (the Rust side).

Use the `peershare` package instead: it wraps these with durations as
text, seconds as floats and Python objects instead of JSON text.
"""

from typing import Optional

__version__: str

class PeerShareError(Exception):
    """Base class of PeerShare's errors."""

    file: Optional[str]
    line: Optional[int]
    field: Optional[str]
    node: Optional[int]

class ScenarioError(PeerShareError):
    """A scenario or fault table is wrong; `file`, `line` and `field` say where."""

class PluginError(PeerShareError):
    """A WebAssembly plugin cannot be used; `file` names it, `node` the node that could not be created."""

class SimError(PeerShareError):
    """The simulator could not set up or run the simulation as asked."""

def builtin_plugins() -> list[str]:
    """The names of the plugins built into PeerShare."""

def parse_duration(text: str) -> int:
    """A duration such as "250ms" in nanoseconds; ValueError if malformed."""

class Simulation:
    """One simulation (see `peershare.Simulation`)."""

    @staticmethod
    def from_file(path: str, seed: Optional[int] = None, capture: bool = True, record_events: bool = True) -> Simulation: ...
    @staticmethod
    def from_toml(
        text: str, origin: str, base: str, seed: Optional[int] = None, capture: bool = True, record_events: bool = True
    ) -> Simulation: ...
    def advance(self, end_ns: int, max_events: int) -> bool:
        """At most `max_events` events up to `end_ns`, without the GIL; True once at `end_ns`."""
    def step(self) -> bool: ...
    @property
    def now_ns(self) -> int: ...
    @property
    def end_ns(self) -> int: ...
    @property
    def next_event_ns(self) -> Optional[int]: ...
    @property
    def seed(self) -> int: ...
    @property
    def origin(self) -> str: ...
    @property
    def groups(self) -> list[tuple[str, int]]: ...
    @property
    def node_count(self) -> int: ...
    def node_group(self, node: int) -> str: ...
    def node_status(self, node: int) -> tuple[str, Optional[str]]: ...
    def node_state_json(self, node: int) -> Optional[str]: ...
    def inspect_json(self, node: int) -> Optional[str]: ...
    def summary_json(self) -> str: ...
    def operations_json(self) -> str: ...
    def faults_json(self) -> str: ...
    def add_fault_json(self, table: str) -> int: ...
    def change_fault_json(self, id: int, table: str) -> None: ...
    def clear_fault(self, id: int) -> None: ...
    def events(
        self, types: list[str] = ..., nodes: list[int] = ..., since_ns: Optional[int] = None, until_ns: Optional[int] = None
    ) -> Table: ...
    def capture(
        self,
        since_ns: Optional[int] = None,
        until_ns: Optional[int] = None,
        nodes: list[int] = ...,
        senders: list[int] = ...,
        receivers: list[int] = ...,
        kinds: list[str] = ...,
        fates: list[str] = ...,
        op: Optional[int] = None,
        fault: Optional[int] = None,
        fields: list[str] = ...,
        search: Optional[str] = None,
    ) -> Table: ...

FATES: list[str]

class Table:
    """Arrow arrays with the Arrow C stream interface."""

    def __arrow_c_stream__(self, requested_schema: object = None) -> object: ...
    def __len__(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...
