//! `peershare inspect DIR`: filter, search and summarise the messages a run
//! captured (DIR/capture.bin), as a table, JSON Lines or CSV.

use clap::{Args, ValueEnum};
use peershare::capture::{Capture, FieldCondition, Filter};
use peershare::error::SimError;
use peershare::prelude::*;
use std::io::Write;
use std::path::PathBuf;

/// How to print the selected messages.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// A readable table.
    Table,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header (fields as JSON).
    Csv,
    /// A ShiViz log (space-time diagram with vector clocks); all matches.
    Shiviz,
    /// Chrome trace event JSON (Perfetto, chrome://tracing); all matches.
    ChromeTrace,
}

/// The `inspect` command's arguments.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The output folder of `peershare run` (holding capture.bin).
    dir: PathBuf,
    /// Messages sent at or after this time ("2s", "150ms").
    #[arg(long)]
    since: Option<SimDuration>,
    /// Messages sent before this time.
    #[arg(long)]
    until: Option<SimDuration>,
    /// Messages from or to this node (repeat for several).
    #[arg(long = "node")]
    nodes: Vec<u32>,
    /// Messages sent by this node (repeatable).
    #[arg(long)]
    from: Vec<u32>,
    /// Messages sent to this node (repeatable).
    #[arg(long)]
    to: Vec<u32>,
    /// Messages of this kind (repeatable).
    #[arg(long = "kind")]
    kinds: Vec<String>,
    /// Messages with this fate: delivered, lost, fault-loss, partitioned,
    /// byzantine, destination-down, ... (repeatable).
    #[arg(long = "fate")]
    fates: Vec<String>,
    /// Messages of this operation (its causal chain).
    #[arg(long)]
    op: Option<u64>,
    /// Messages a fault touched.
    #[arg(long)]
    fault: Option<u32>,
    /// A condition on a decoded field: NAME OP VALUE with OP one of
    /// = != < <= > >= ~ (contains), e.g. --where 'round>=2' (repeatable).
    #[arg(long = "where")]
    conditions: Vec<String>,
    /// A regular expression the decoded fields (as JSON) must match.
    #[arg(long)]
    search: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Print per-kind and per-node statistics instead of messages.
    #[arg(long)]
    stats: bool,
    /// Print at most this many messages (0: all).
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// Runs `peershare inspect`.
pub fn inspect(args: InspectArgs) -> Result<(), SimError> {
    let path = args.dir.join("capture.bin");
    let capture = Capture::load(&path).map_err(|e| SimError::Input(format!("{e} (write one with `peershare run SCENARIO --out DIR`)")))?;
    let bad = |e: peershare::capture::FilterError| SimError::Input(e.to_string());
    let filter = Filter {
        since: args.since.map(|d| SimTime::ZERO + d),
        until: args.until.map(|d| SimTime::ZERO + d),
        nodes: args.nodes,
        from: args.from,
        to: args.to,
        kinds: args.kinds,
        fates: args.fates.iter().map(|f| Filter::parse_fate(f)).collect::<Result<_, _>>().map_err(bad)?,
        op: args.op,
        fault: args.fault,
        fields: args.conditions.iter().map(|c| FieldCondition::parse(c)).collect::<Result<_, _>>().map_err(bad)?,
        search: args.search.as_deref().map(Filter::parse_search).transpose().map_err(bad)?,
    };
    let selected = capture.select(&filter);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let write_err = |e: std::io::Error| SimError::Output { path: "standard output".into(), source: e };
    if args.stats {
        print_stats(&capture, &selected, &mut out).map_err(write_err)?;
        return out.flush().map_err(write_err);
    }
    let shown = if args.limit == 0 { selected.len() } else { selected.len().min(args.limit) };
    match args.format {
        Format::Shiviz => capture.write_shiviz(&selected, &mut out).map_err(write_err)?,
        Format::ChromeTrace => capture.write_chrome_trace(&selected, &mut out).map_err(write_err)?,
        Format::Table => {
            writeln!(
                out,
                "{:>8} {:>12} {:>12} {:>6} {:>6} {:14} {:>6} {:22} {:>9}  fields",
                "id", "sent (s)", "ended (s)", "from", "to", "kind", "bytes", "fate", "op/hop"
            )
            .map_err(write_err)?;
            for &id in &selected[..shown] {
                let m = capture.message(id);
                let ended = m.ended().map_or("-".to_string(), |t| format!("{:.6}", t.as_secs_f64()));
                let fate = match m.fault() {
                    Some(f) => format!("{} (fault {f})", m.fate().name()),
                    None => m.fate().name().to_string(),
                };
                let op = m.op().map_or("-".to_string(), |o| format!("{o}/{}", m.hop()));
                let mut fields = m.fields_json().to_string();
                if fields.len() > 100 {
                    fields.truncate(fields.char_indices().nth(97).map_or(fields.len(), |(i, _)| i));
                    fields.push_str("...");
                }
                writeln!(
                    out,
                    "{:>8} {:>12.6} {:>12} {:>6} {:>6} {:14} {:>6} {:22} {:>9}  {fields}",
                    id,
                    m.sent().as_secs_f64(),
                    ended,
                    m.from(),
                    m.to(),
                    m.kind(),
                    m.size(),
                    fate,
                    op
                )
                .map_err(write_err)?;
            }
            writeln!(
                out,
                "{} of {} messages match{}",
                selected.len(),
                capture.len(),
                if shown < selected.len() { format!(" ({shown} shown; --limit 0 shows all)") } else { String::new() }
            )
            .map_err(write_err)?;
        }
        Format::Jsonl => {
            for &id in &selected[..shown] {
                serde_json::to_writer(&mut out, &capture.message(id).to_json()).map_err(|e| write_err(e.into()))?;
                writeln!(out).map_err(write_err)?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            let csv_err = |e: csv::Error| SimError::Output { path: "standard output".into(), source: std::io::Error::other(e) };
            w.write_record(["id", "sent_ns", "ended_ns", "from", "to", "kind", "size", "fate", "fault", "op", "hop", "fields"])
                .map_err(csv_err)?;
            for &id in &selected[..shown] {
                let m = capture.message(id);
                let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
                w.write_record([
                    id.to_string(),
                    m.sent().as_nanos().to_string(),
                    opt(m.ended().map(SimTime::as_nanos)),
                    m.from().to_string(),
                    m.to().to_string(),
                    m.kind().to_string(),
                    m.size().to_string(),
                    m.fate().name().to_string(),
                    opt(m.fault().map(u64::from)),
                    opt(m.op()),
                    opt(m.op().map(|_| u64::from(m.hop()))),
                    m.fields_json().to_string(),
                ])
                .map_err(csv_err)?;
            }
            w.flush().map_err(write_err)?;
        }
    }
    out.flush().map_err(write_err)
}

fn print_stats(capture: &Capture, selected: &[u64], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{} of {} messages match\n", selected.len(), capture.len())?;
    writeln!(out, "{:16} {:>10} {:>10} {:>10} {:>12} {:>14}", "kind", "messages", "delivered", "dropped", "bytes", "latency (ms)")?;
    for (kind, s) in capture.kind_summary(selected) {
        let latency = s.mean_latency_ms.map_or("-".to_string(), |l| format!("{l:.1}"));
        writeln!(out, "{kind:16} {:>10} {:>10} {:>10} {:>12} {:>14}", s.messages, s.delivered, s.dropped, s.bytes, latency)?;
    }
    let nodes = capture.node_summary(selected);
    let mut busiest: Vec<_> = nodes.iter().collect();
    busiest.sort_by_key(|(n, s)| (std::cmp::Reverse(s.sent + s.received), **n));
    writeln!(
        out,
        "\n{:>6} {:>10} {:>10} {:>12} {:>14} {:>10}   (the 20 busiest nodes of {})",
        "node",
        "sent",
        "received",
        "bytes sent",
        "bytes received",
        "dropped",
        nodes.len()
    )?;
    for (n, s) in busiest.into_iter().take(20) {
        writeln!(out, "{n:>6} {:>10} {:>10} {:>12} {:>14} {:>10}", s.sent, s.received, s.bytes_sent, s.bytes_received, s.dropped)?;
    }
    Ok(())
}
