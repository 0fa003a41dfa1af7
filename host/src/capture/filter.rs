//! Selecting captured messages: any combination of time window, nodes,
//! kinds, fates, operation, fault, field comparisons and a regular
//! expression over the decoded fields.

use super::{Capture, Fate, Message};
use crate::NodeIndex;
use crate::events::MessageId;
use crate::fault::FaultId;
use crate::node::OpId;
use crate::time::SimTime;
use serde_json::Value as Json;

/// Which messages to select; every condition given must hold (an empty
/// list or `None` means no condition).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Sent at or after this time.
    pub since: Option<SimTime>,
    /// Sent before this time.
    pub until: Option<SimTime>,
    /// Sent by or to one of these nodes.
    pub nodes: Vec<NodeIndex>,
    /// Sent by one of these nodes.
    pub from: Vec<NodeIndex>,
    /// Sent to one of these nodes.
    pub to: Vec<NodeIndex>,
    /// Of one of these kinds.
    pub kinds: Vec<String>,
    /// With one of these fates.
    pub fates: Vec<Fate>,
    /// Belonging to this operation.
    pub op: Option<OpId>,
    /// Touched by this fault.
    pub fault: Option<FaultId>,
    /// Conditions on decoded fields.
    pub fields: Vec<FieldCondition>,
    /// A regular expression that must match the decoded fields, rendered as
    /// compact JSON (`{"key":"0x12..","round":2}`).
    pub search: Option<regex::Regex>,
}

/// How a field is compared with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `=`: equal (numbers numerically, everything else as text; ids and
    /// bytes as `0x` hex).
    Eq,
    /// `!=`: not equal (also true when the field is absent).
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `~`: a list has an element equal to the value, or a text contains it.
    Contains,
}

/// A condition on one decoded field, such as `round>=2` or `to=17`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldCondition {
    /// The field's name.
    pub field: String,
    /// The comparison.
    pub comparison: Comparison,
    /// The value compared with.
    pub value: String,
}

/// A filter could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A field condition is not `NAME OP VALUE`.
    #[error("field condition {0:?} is not NAME OP VALUE with OP one of = != < <= > >= ~")]
    Condition(String),
    /// The regular expression is invalid.
    #[error("invalid regular expression: {0}")]
    Regex(String),
    /// An unknown fate.
    #[error("unknown fate {0:?}; expected one of {1}")]
    Fate(String, String),
}

impl FieldCondition {
    /// Parses `NAME OP VALUE`, e.g. `round>=2`, `kind!=PING`, `nodes~17`.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        const OPS: [(&str, Comparison); 7] = [
            (">=", Comparison::Ge),
            ("<=", Comparison::Le),
            ("!=", Comparison::Ne),
            ("=", Comparison::Eq),
            ("<", Comparison::Lt),
            (">", Comparison::Gt),
            ("~", Comparison::Contains),
        ];
        let (at, len, comparison) = OPS
            .iter()
            .filter_map(|(op, c)| text.find(op).map(|at| (at, op.len(), *c)))
            .min_by_key(|(at, len, _)| (*at, usize::MAX - len))
            .ok_or_else(|| FilterError::Condition(text.to_string()))?;
        let field = text[..at].trim();
        if field.is_empty() {
            return Err(FilterError::Condition(text.to_string()));
        }
        Ok(FieldCondition { field: field.to_string(), comparison, value: text[at + len..].trim().to_string() })
    }

    /// Whether a decoded record satisfies the condition.
    pub fn holds_record(&self, record: &peershare_wire::Record) -> bool {
        self.holds_value(record.get(&self.field))
    }

    /// Whether a field's value (`None`: the field is absent) satisfies the
    /// condition.
    pub fn holds_value(&self, actual: Option<&peershare_wire::Value>) -> bool {
        self.judge(actual.map(Actual::of_value))
    }

    /// Whether the decoded fields (as JSON, see [`super::Message::fields_json`])
    /// satisfy the condition; the same rules as for records.
    pub fn holds(&self, fields: &Json) -> bool {
        self.judge(fields.get(&self.field).map(Actual::of_json))
    }

    /// The comparison itself: numbers numerically when the value is a
    /// number, everything else as text; lists only contain (`~`) or not (`!=`).
    fn judge(&self, actual: Option<Actual>) -> bool {
        let Some(actual) = actual else { return self.comparison == Comparison::Ne };
        let number = self.value.parse::<f64>().ok();
        let equal = |s: &Scalar| match (s, number) {
            (Scalar::Number(a), Some(b)) => *a == b,
            (Scalar::Text(t), _) => t.eq_ignore_ascii_case(&self.value),
            (Scalar::Number(_), None) => false,
        };
        let order = |s: &Scalar| match (s, number) {
            (Scalar::Number(a), Some(b)) => a.partial_cmp(&b),
            (Scalar::Number(a), None) => Some(a.to_string().as_str().cmp(self.value.as_str())),
            (Scalar::Text(t), _) => Some(t.as_str().cmp(self.value.as_str())),
        };
        let one = match actual {
            Actual::List(items) => {
                return match self.comparison {
                    Comparison::Contains => items.iter().any(equal),
                    Comparison::Ne => !items.iter().any(equal),
                    _ => false,
                };
            }
            Actual::One(one) => one,
        };
        match self.comparison {
            Comparison::Eq => equal(&one),
            Comparison::Ne => !equal(&one),
            Comparison::Lt => order(&one).is_some_and(|o| o.is_lt()),
            Comparison::Le => order(&one).is_some_and(|o| o.is_le()),
            Comparison::Gt => order(&one).is_some_and(|o| o.is_gt()),
            Comparison::Ge => order(&one).is_some_and(|o| o.is_ge()),
            Comparison::Contains => match &one {
                Scalar::Text(t) => t.contains(&self.value),
                Scalar::Number(_) => equal(&one),
            },
        }
    }
}

impl Filter {
    /// A filter on message fates by name (`delivered`, `lost`, ...).
    pub fn parse_fate(name: &str) -> Result<Fate, FilterError> {
        Fate::from_name(name)
            .ok_or_else(|| FilterError::Fate(name.to_string(), Fate::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")))
    }

    /// A regular expression for [`Filter::search`].
    pub fn parse_search(pattern: &str) -> Result<regex::Regex, FilterError> {
        regex::Regex::new(pattern).map_err(|e| FilterError::Regex(e.to_string()))
    }

    /// Whether the filter needs the decoded fields.
    fn needs_fields(&self) -> bool {
        !self.fields.is_empty() || self.search.is_some()
    }

    /// Whether one message passes.
    pub fn matches(&self, m: &Message<'_>) -> bool {
        let in_list = |list: &[NodeIndex], n: NodeIndex| list.is_empty() || list.contains(&n);
        self.since.is_none_or(|t| m.sent() >= t)
            && self.until.is_none_or(|t| m.sent() < t)
            && (self.nodes.is_empty() || self.nodes.contains(&m.from()) || self.nodes.contains(&m.to()))
            && in_list(&self.from, m.from())
            && in_list(&self.to, m.to())
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == m.kind()))
            && (self.fates.is_empty() || self.fates.contains(&m.fate()))
            && self.op.is_none_or(|op| m.op() == Some(op))
            && self.fault.is_none_or(|f| m.fault() == Some(f))
            && (!self.needs_fields() || self.fields_match(m))
    }

    fn fields_match(&self, m: &Message<'_>) -> bool {
        for c in &self.fields {
            // Only the field compared is decoded.
            let value = peershare_wire::find_field(m.bytes(), &c.field).ok().flatten();
            if !c.holds_value(value.as_ref()) {
                return false;
            }
        }
        self.search.as_ref().is_none_or(|re| re.is_match(&m.fields_json().to_string()))
    }
}

/// One field value, as a condition compares it.
enum Scalar {
    Number(f64),
    Text(String),
}

impl Scalar {
    /// Text that reads as a number is a number.
    fn of_text(text: &str) -> Scalar {
        text.parse::<f64>().map_or_else(|_| Scalar::Text(text.to_string()), Scalar::Number)
    }
}

/// A field's value as a condition sees it: one scalar, or a list.
enum Actual {
    One(Scalar),
    List(Vec<Scalar>),
}

impl Actual {
    fn of_value(v: &peershare_wire::Value) -> Actual {
        use peershare_wire::Value;
        let hex = crate::events::hex;
        match v {
            Value::Bool(b) => Actual::One(Scalar::Text(b.to_string())),
            Value::U64(x) => Actual::One(Scalar::Number(*x as f64)),
            Value::I64(x) => Actual::One(Scalar::Number(*x as f64)),
            Value::F64(x) => Actual::One(Scalar::Number(*x)),
            Value::Node(x) => Actual::One(Scalar::Number(f64::from(*x))),
            Value::Str(s) => Actual::One(Scalar::of_text(s)),
            Value::Bytes(b) | Value::Id(b) => Actual::One(Scalar::Text(hex(b))),
            Value::U64s(v) => Actual::List(v.iter().map(|x| Scalar::Number(*x as f64)).collect()),
            Value::Nodes(v) => Actual::List(v.iter().map(|x| Scalar::Number(f64::from(*x))).collect()),
            Value::Ids(v) => Actual::List(v.iter().map(|b| Scalar::Text(hex(b))).collect()),
            Value::Strs(v) => Actual::List(v.iter().map(|t| Scalar::Text(t.clone())).collect()),
            Value::Contacts(v) => Actual::List(v.iter().map(|c| Scalar::Number(f64::from(c.node))).collect()),
            Value::Blobs(v) => Actual::List(v.iter().map(|b| Scalar::Text(hex(b))).collect()),
        }
    }

    fn of_json(j: &Json) -> Actual {
        let scalar = |j: &Json| match j {
            Json::Number(n) => n.as_f64().map_or_else(|| Scalar::Text(n.to_string()), Scalar::Number),
            Json::String(s) => Scalar::of_text(s),
            // A contact compares by its node, as in `of_value`.
            Json::Object(o) if o.contains_key("node") => o["node"].as_f64().map_or(Scalar::Text(j.to_string()), Scalar::Number),
            other => Scalar::Text(other.to_string()),
        };
        match j {
            Json::Array(items) => Actual::List(items.iter().map(scalar).collect()),
            other => Actual::One(scalar(other)),
        }
    }
}

/// Membership of small integers, for column scans.
fn bitset(items: &[u32]) -> Option<Vec<bool>> {
    if items.is_empty() {
        return None;
    }
    let mut bits = vec![false; items.iter().copied().max().unwrap_or(0) as usize + 1];
    for &i in items {
        bits[i as usize] = true;
    }
    Some(bits)
}

fn has(bits: &Option<Vec<bool>>, i: u32) -> bool {
    bits.as_ref().is_none_or(|b| b.get(i as usize).copied().unwrap_or(false))
}

impl Capture {
    /// The ids of the messages that pass `filter`, in id order. Scans the
    /// columns; decodes bodies only for field conditions and searches, and
    /// only for messages that pass every other condition.
    pub fn select(&self, filter: &Filter) -> Vec<MessageId> {
        let kinds: Vec<u32> = self.kinds().iter().enumerate().filter(|(_, k)| filter.kinds.contains(k)).map(|(i, _)| i as u32).collect();
        if !filter.kinds.is_empty() && kinds.is_empty() {
            return Vec::new();
        }
        let kinds = bitset(&kinds);
        let (nodes, from, to) = (bitset(&filter.nodes), bitset(&filter.from), bitset(&filter.to));
        let mut fates = [filter.fates.is_empty(); Fate::ALL.len()];
        for f in &filter.fates {
            fates[*f as usize] = true;
        }
        let since = filter.since.map_or(0, SimTime::as_nanos);
        let until = filter.until.map_or(u64::MAX, SimTime::as_nanos);
        let op = filter.op.map(|o| o.min(u64::from(u32::MAX)) as u32);
        let fault = filter.fault;
        let range = self.sent_between(SimTime(since), SimTime(until));
        let scan = |ids: std::ops::Range<MessageId>| {
            let mut out = Vec::new();
            for i in ids {
                let i = i as usize;
                if !has(&kinds, self.kind[i]) || !fates[self.fate[i] as usize] {
                    continue;
                }
                let (f, t) = (self.from[i], self.to[i]);
                if !has(&from, f) || !has(&to, t) || (nodes.is_some() && !has(&nodes, f) && !has(&nodes, t)) {
                    continue;
                }
                if op.is_some_and(|o| self.cause[i].op != o) || fault.is_some_and(|x| self.fault[i] != x) {
                    continue;
                }
                if filter.needs_fields() && !filter.fields_match(&Message { capture: self, i }) {
                    continue;
                }
                out.push(i as MessageId);
            }
            out
        };
        // Decoding bodies is the slow part: split it over the cores, keeping
        // the order (chunks are concatenated in id order).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
        let len = range.end - range.start;
        if !filter.needs_fields() || threads < 2 || len < 100_000 {
            return scan(range);
        }
        let chunk = len.div_ceil(threads as u64);
        std::thread::scope(|s| {
            let parts: Vec<_> = (0..threads as u64)
                .map(|t| {
                    let start = range.start + t * chunk;
                    let end = (start + chunk).min(range.end);
                    s.spawn(move || scan(start..end.max(start)))
                })
                .collect();
            parts.into_iter().flat_map(|p| p.join().expect("a filter thread panicked")).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Cause;
    use peershare_wire::Record;

    #[test]
    fn the_parallel_scan_returns_what_a_sequential_one_does() {
        let mut c = Capture::new();
        for i in 0..250_000u64 {
            let record = Record::new(if i % 3 == 0 { "A" } else { "B" }).with("n", i % 1000).with("s", format!("x{}", i % 7));
            c.on_sent(i, SimTime(i * 10), (i % 50) as u32, (i % 31) as u32, &record.kind, &record.encode(), Cause::NONE);
        }
        let filters = [
            Filter { fields: vec![FieldCondition::parse("n>=990").unwrap()], ..Filter::default() },
            Filter { fields: vec![FieldCondition::parse("s=x3").unwrap()], kinds: vec!["A".into()], ..Filter::default() },
            Filter { search: Some(Filter::parse_search("\"n\":99[0-9]").unwrap()), since: Some(SimTime(5_000)), ..Filter::default() },
        ];
        for f in filters {
            let sequential: Vec<MessageId> = c.messages().filter(|m| f.matches(m)).map(|m| m.id()).collect();
            let got = c.select(&f);
            assert!(!got.is_empty());
            assert_eq!(got, sequential, "{f:?}");
        }
    }
}
