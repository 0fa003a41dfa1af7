//! Snapshots as graphs: petgraph, node-link JSON (D3, networkx), GraphML
//! (Gephi, networkx, yEd) and DOT (Graphviz).

use super::topology::{Edge, NodeView, TopologySnapshot};
use petgraph::graph::{DiGraph, NodeIndex as GraphIndex};
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
    /// "nodes": [{"id", ...}], "links": [{"source", "target", "type", ...}]}`;
    /// routing links carry their `bucket`, fingers their `index`, successors
    /// their `rank`, data flows (`"type": "flow"`) their counts.
    pub fn to_node_link_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct NodeLink<'a> {
            directed: bool,
            multigraph: bool,
            graph: GraphInfo,
            nodes: Vec<NodeOut<'a>>,
            links: Vec<LinkOut>,
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
        let doc = NodeLink { directed: true, multigraph: true, graph: GraphInfo { time_ns: self.time.as_nanos() }, nodes, links };
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

    /// DOT for Graphviz (through petgraph): nodes labelled with index, group
    /// and role, edges with their type; down and crashed nodes greyed out.
    pub fn to_dot(&self) -> String {
        let g = self.to_graph();
        let dot = petgraph::dot::Dot::with_attr_getters(
            &g,
            &[petgraph::dot::Config::EdgeNoLabel, petgraph::dot::Config::NodeNoLabel],
            &|_, e| format!("label=\"{}\"", e.weight().kind.name()),
            &|_, (_, n): (GraphIndex, &NodeView)| {
                let role = n.role.as_deref().map(|r| format!("\\n{}", dot_text(r))).unwrap_or_default();
                let style = match n.status {
                    super::topology::Status::Up => "",
                    _ => ", style=filled, fillcolor=lightgrey",
                };
                format!("label=\"n{} ({}){role}\"{style}", n.index, dot_text(&n.group))
            },
        );
        format!("{dot:?}")
    }
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
