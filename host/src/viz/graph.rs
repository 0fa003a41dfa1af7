//! Snapshots as graphs: petgraph, node-link JSON (D3, networkx), GraphML
//! (Gephi, networkx, yEd) and DOT (Graphviz).

use super::topology::{Edge, NodeView, TopologySnapshot};
use crate::NodeIndex;
use petgraph::graph::DiGraph;
use std::collections::BTreeMap;
use std::fmt::Write;

impl TopologySnapshot {
    /// The snapshot as a petgraph directed graph: graph node `i` is the
    /// simulation's node `nodes[i]`; one graph edge per typed edge.
    pub fn to_graph(&self) -> DiGraph<NodeView, Edge> {
        let mut g = DiGraph::with_capacity(self.nodes.len(), self.edges.len());
        let mut at = std::collections::HashMap::with_capacity(self.nodes.len());
        for n in &self.nodes {
            at.insert(n.index, g.add_node(n.clone()));
        }
        for e in &self.edges {
            if let (Some(&a), Some(&b)) = (at.get(&e.from), at.get(&e.to)) {
                g.add_edge(a, b, e.clone());
            }
        }
        g
    }

    /// Node-link JSON, the convention of D3 and networkx
    /// (`networkx.node_link_graph`): `{"directed", "multigraph", "graph",
    /// "nodes": [{"id", ...}], "edges": [{"source", "target", "type", ...}]}`
    /// (the key networkx 3.6 reads by default; older networkx 3.4 and 3.5
    /// read it with `edges="edges"`);
    /// routing links carry their `bucket`, fingers their `index`, successors
    /// their `rank`, data flows (`"type": "flow"`) their counts.
    pub fn to_node_link_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct NodeLink<'a> {
            directed: bool,
            multigraph: bool,
            graph: GraphInfo,
            nodes: Vec<NodeOut<'a>>,
            edges: Vec<LinkOut>,
        }
        #[derive(serde::Serialize)]
        struct GraphInfo {
            time_ns: u64,
        }
        #[derive(serde::Serialize)]
        struct NodeOut<'a> {
            id: u32,
            node_id: &'a str,
            group: &'a str,
            peer: &'a str,
            role: Option<&'a str>,
            status: super::topology::Status,
            summary: &'a std::collections::BTreeMap<String, serde_json::Value>,
        }
        #[derive(serde::Serialize)]
        struct LinkOut {
            source: u32,
            target: u32,
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            bucket: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            index: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            rank: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            messages: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            bytes: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            delivered: Option<u64>,
        }
        let link = |source, target, kind| LinkOut {
            source,
            target,
            kind,
            bucket: None,
            index: None,
            rank: None,
            messages: None,
            bytes: None,
            delivered: None,
        };
        let mut links: Vec<LinkOut> = self
            .edges
            .iter()
            .map(|e| {
                let mut l = link(e.from, e.to, e.kind.name());
                match e.kind {
                    super::topology::EdgeKind::Routing { bucket } => l.bucket = bucket,
                    super::topology::EdgeKind::Finger { index } => l.index = Some(index),
                    super::topology::EdgeKind::Successor { rank } => l.rank = Some(rank),
                    _ => {}
                }
                l
            })
            .collect();
        links.extend(self.flows.iter().map(|f| LinkOut {
            messages: Some(f.messages),
            bytes: Some(f.bytes),
            delivered: Some(f.delivered),
            ..link(f.from, f.to, "flow")
        }));
        let nodes = self
            .nodes
            .iter()
            .map(|n| NodeOut {
                id: n.index,
                node_id: &n.id,
                group: &n.group,
                peer: &n.peer,
                role: n.role.as_deref(),
                status: n.status,
                summary: &n.summary,
            })
            .collect();
        let doc = NodeLink { directed: true, multigraph: true, graph: GraphInfo { time_ns: self.time.as_nanos() }, nodes, edges: links };
        serde_json::to_string(&doc).expect("node-link documents serialise")
    }

    /// GraphML, with node attributes (id, group, peer, role, status) and
    /// edge attributes (type, detail); data flows are edges of type "flow".
    pub fn to_graphml(&self) -> String {
        let mut s = String::new();
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str("<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n");
        for (key, on, name, ty) in [
            ("d0", "node", "node_id", "string"),
            ("d1", "node", "group", "string"),
            ("d2", "node", "peer", "string"),
            ("d3", "node", "role", "string"),
            ("d4", "node", "status", "string"),
            ("d5", "edge", "type", "string"),
            ("d6", "edge", "detail", "string"),
            ("d7", "edge", "messages", "long"),
            ("d8", "edge", "bytes", "long"),
        ] {
            let _ = writeln!(s, "  <key id=\"{key}\" for=\"{on}\" attr.name=\"{name}\" attr.type=\"{ty}\"/>");
        }
        let _ = writeln!(s, "  <graph id=\"t{}\" edgedefault=\"directed\">", self.time.as_nanos());
        for n in &self.nodes {
            let status = serde_json::to_value(n.status).expect("statuses serialise");
            let _ = writeln!(
                s,
                "    <node id=\"n{}\"><data key=\"d0\">{}</data><data key=\"d1\">{}</data><data key=\"d2\">{}</data><data key=\"d3\">{}</data><data key=\"d4\">{}</data></node>",
                n.index,
                xml(&n.id),
                xml(&n.group),
                xml(&n.peer),
                xml(n.role.as_deref().unwrap_or("")),
                status.as_str().unwrap_or("")
            );
        }
        for (i, e) in self.edges.iter().enumerate() {
            let detail = serde_json::to_value(&e.kind).expect("edge kinds serialise").to_string();
            let _ = writeln!(
                s,
                "    <edge id=\"e{i}\" source=\"n{}\" target=\"n{}\"><data key=\"d5\">{}</data><data key=\"d6\">{}</data></edge>",
                e.from,
                e.to,
                e.kind.name(),
                xml(&detail)
            );
        }
        for (i, f) in self.flows.iter().enumerate() {
            let _ = writeln!(
                s,
                "    <edge id=\"f{i}\" source=\"n{}\" target=\"n{}\"><data key=\"d5\">flow</data><data key=\"d7\">{}</data><data key=\"d8\">{}</data></edge>",
                f.from, f.to, f.messages, f.bytes
            );
        }
        s.push_str("  </graph>\n</graphml>\n");
        s
    }

    /// DOT for Graphviz, readable at a glance: nodes labelled with their
    /// index and a short id (first 6 hex digits), group and role only when
    /// there are several; edge types told apart by style (routing grey,
    /// fingers dashed green and numbered, successors red, predecessors
    /// dotted orange, connections undirected grey, leader-to-follower bold
    /// purple); no labels on other edges; a circular layout hint for ring
    /// overlays (successor or finger edges) and `sfdp` for large graphs;
    /// down and crashed nodes greyed out. Graphs with more than
    /// [`DOT_MAX_EDGES`] edges keep that many (each node's first edges in
    /// turn, rings and leaders first) and say so in the graph's label.
    pub fn to_dot(&self) -> String {
        use super::topology::{EdgeKind, Status};
        let groups: std::collections::BTreeSet<&str> = self.nodes.iter().map(|n| n.group.as_str()).collect();
        let ring = self.edges.iter().any(|e| matches!(e.kind, EdgeKind::Successor { .. } | EdgeKind::Finger { .. }));
        let kept = dot_edges(&self.edges);
        let mut s = String::from("digraph topology {\n");
        let layout = if self.nodes.len() > 1000 {
            "sfdp"
        } else if ring {
            "circo"
        } else {
            "neato"
        };
        let _ = writeln!(s, "  graph [layout={layout}, overlap=false, outputorder=edgesfirst];");
        if kept.len() < self.edges.len() {
            let _ = writeln!(
                s,
                "  graph [label=\"size guard: {} of {} edges drawn (each node's first in turn; successors, predecessors and leaders first)\"];",
                kept.len(),
                self.edges.len()
            );
        }
        s.push_str("  node [shape=circle, fontsize=9, width=0.3, margin=0.02];\n  edge [arrowsize=0.4, color=grey60];\n");
        s.push_str("  // edges: routing grey, finger dashed green (label: finger number), successor red, predecessor dotted orange, connection grey (undirected), leader-follower bold purple\n");
        for n in &self.nodes {
            let short: String = n.id.trim_start_matches("0x").chars().take(6).collect();
            let mut label = format!("{}\\n{short}", n.index);
            if groups.len() > 1 {
                label.push_str(&format!("\\n{}", dot_text(&n.group)));
            }
            if let Some(role) = &n.role {
                label.push_str(&format!("\\n{}", dot_text(role)));
            }
            let style = if n.status == Status::Up { "" } else { ", style=filled, fillcolor=lightgrey, fontcolor=grey40" };
            let _ = writeln!(s, "  n{} [label=\"{label}\"{style}];", n.index);
        }
        for e in kept {
            let attrs = match &e.kind {
                EdgeKind::Routing { .. } => String::new(),
                EdgeKind::Finger { index } => {
                    format!(" [color=darkgreen, style=dashed, label=\"{index}\", fontsize=7, fontcolor=darkgreen]")
                }
                EdgeKind::Successor { rank: 0 } => " [color=red, penwidth=1.5]".to_string(),
                EdgeKind::Successor { .. } => " [color=red, style=dashed]".to_string(),
                EdgeKind::Predecessor => " [color=orange, style=dotted]".to_string(),
                EdgeKind::Connection => " [dir=none]".to_string(),
                EdgeKind::LeaderFollower => " [color=purple, penwidth=2]".to_string(),
            };
            let _ = writeln!(s, "  n{} -> n{}{attrs};", e.from, e.to);
        }
        s.push_str("}\n");
        s
    }
}

/// The most edges [`TopologySnapshot::to_dot`] draws; Graphviz lays out
/// about that many in seconds.
pub const DOT_MAX_EDGES: usize = 20_000;

/// The edges to draw: all of them, or under the size guard, each node's in
/// turn (its first, then its second, ...), the structural kinds first.
fn dot_edges(edges: &[Edge]) -> Vec<&Edge> {
    use super::topology::EdgeKind;
    if edges.len() <= DOT_MAX_EDGES {
        return edges.iter().collect();
    }
    let priority = |k: &EdgeKind| match k {
        EdgeKind::Successor { .. } | EdgeKind::Predecessor | EdgeKind::LeaderFollower => 0,
        EdgeKind::Finger { .. } | EdgeKind::Connection => 1,
        EdgeKind::Routing { .. } => 2,
    };
    let mut by_node: BTreeMap<NodeIndex, Vec<&Edge>> = BTreeMap::new();
    for e in edges {
        by_node.entry(e.from).or_default().push(e);
    }
    for list in by_node.values_mut() {
        list.sort_by_key(|e| priority(&e.kind));
    }
    let mut kept = Vec::with_capacity(DOT_MAX_EDGES);
    for rank in 0.. {
        let before = kept.len();
        for list in by_node.values() {
            if let Some(e) = list.get(rank) {
                if kept.len() == DOT_MAX_EDGES {
                    return kept;
                }
                kept.push(*e);
            }
        }
        if kept.len() == before {
            break;
        }
    }
    kept
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
