//! [`Step`]: the steps of a lookup, in the shapes the host turns into
//! lookup traces (rounds, queries with distances, answers, the decision).

use crate::{NodeIndex, Record, Value};

/// How far a queried node is from the lookup's target, in the peer's own
/// metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Distance {
    /// XOR distance (Kademlia), as an id.
    Xor(Vec<u8>),
    /// Clockwise ring distance (Chord), as an id.
    Ring(Vec<u8>),
    /// Any other metric: its name and the distance as an id-sized number.
    Other {
        /// The metric's name.
        metric: String,
        /// The distance.
        value: Vec<u8>,
    },
}

impl Distance {
    /// The metric's name: "xor", "ring" or the other metric's.
    pub fn metric(&self) -> &str {
        match self {
            Distance::Xor(_) => "xor",
            Distance::Ring(_) => "ring",
            Distance::Other { metric, .. } => metric,
        }
    }

    fn value(&self) -> &[u8] {
        match self {
            Distance::Xor(v) | Distance::Ring(v) | Distance::Other { value: v, .. } => v,
        }
    }
}

/// One step of an algorithm working on an operation.
///
/// ```
/// use peershare_sdk::{Distance, Step};
/// let q = Step::query(1, 7, Distance::Xor(vec![0x0f]));
/// let r = q.to_record();
/// assert_eq!((r.kind.as_str(), r.u64("round"), r.node("to"), r.str("metric")), ("query", Some(1), Some(7), Some("xor")));
/// assert_eq!(Step::from_record(r), q);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A query sent in `round` to `to`, which lies at `distance` from the
    /// target.
    Query {
        /// The round (1 for the first).
        round: u64,
        /// The node queried.
        to: NodeIndex,
        /// Its distance to the target.
        distance: Distance,
    },
    /// An answer from `from` in `round`: what kind, the nodes it returned,
    /// and the shortlist afterwards (closest first).
    Answer {
        /// The round.
        round: u64,
        /// Who answered.
        from: NodeIndex,
        /// The answer's kind ("nodes", "value", ...).
        kind: String,
        /// The nodes it returned.
        returned: Vec<NodeIndex>,
        /// The shortlist after taking it in.
        shortlist: Vec<NodeIndex>,
    },
    /// A query to `from` went unanswered.
    Timeout {
        /// Who did not answer.
        from: NodeIndex,
    },
    /// The lookup ended: why, after how many rounds and queries.
    Done {
        /// Why it ended ("converged", "found value", ...).
        reason: String,
        /// Rounds taken.
        rounds: u64,
        /// Queries sent.
        queries: u64,
    },
    /// A step of your own; the host keeps it in the trace as it is.
    Custom(Record),
}

impl Step {
    /// A query step.
    pub fn query(round: u64, to: NodeIndex, distance: Distance) -> Self {
        Step::Query { round, to, distance }
    }

    /// An answer step.
    pub fn answer(round: u64, from: NodeIndex, kind: &str, returned: &[NodeIndex], shortlist: &[NodeIndex]) -> Self {
        Step::Answer { round, from, kind: kind.to_string(), returned: returned.to_vec(), shortlist: shortlist.to_vec() }
    }

    /// A timeout step.
    pub fn timeout(from: NodeIndex) -> Self {
        Step::Timeout { from }
    }

    /// The final step.
    pub fn done(reason: &str, rounds: u64, queries: u64) -> Self {
        Step::Done { reason: reason.to_string(), rounds, queries }
    }

    /// The step as the record the host reads.
    pub fn to_record(&self) -> Record {
        match self {
            Step::Query { round, to, distance } => Record::new("query")
                .with("round", *round)
                .with("to", Value::Node(*to))
                .with("distance", Value::Id(distance.value().to_vec()))
                .with("metric", distance.metric()),
            Step::Answer { round, from, kind, returned, shortlist } => Record::new("answer")
                .with("round", *round)
                .with("from", Value::Node(*from))
                .with("kind", kind.as_str())
                .with("returned", Value::Nodes(returned.clone()))
                .with("shortlist", Value::Nodes(shortlist.clone())),
            Step::Timeout { from } => Record::new("timeout").with("from", Value::Node(*from)),
            Step::Done { reason, rounds, queries } => {
                Record::new("done").with("reason", reason.as_str()).with("rounds", *rounds).with("queries", *queries)
            }
            Step::Custom(record) => record.clone(),
        }
    }

    /// Reads a step back from its record (a record of another shape is a
    /// [`Step::Custom`]).
    pub fn from_record(r: Record) -> Self {
        let step = match r.kind.as_str() {
            "query" => (|| {
                let value = r.id("distance")?.to_vec();
                let distance = match r.str("metric").unwrap_or("xor") {
                    "xor" => Distance::Xor(value),
                    "ring" => Distance::Ring(value),
                    other => Distance::Other { metric: other.to_string(), value },
                };
                Some(Step::Query { round: r.u64("round")?, to: r.node("to")?, distance })
            })(),
            "answer" => (|| {
                Some(Step::Answer {
                    round: r.u64("round")?,
                    from: r.node("from")?,
                    kind: r.str("kind")?.to_string(),
                    returned: r.nodes("returned")?.to_vec(),
                    shortlist: r.nodes("shortlist")?.to_vec(),
                })
            })(),
            "timeout" => r.node("from").map(|from| Step::Timeout { from }),
            "done" => {
                (|| Some(Step::Done { reason: r.str("reason")?.to_string(), rounds: r.u64("rounds")?, queries: r.u64("queries")? }))()
            }
            _ => None,
        };
        step.filter(|s| s.to_record() == r).unwrap_or(Step::Custom(r))
    }
}
