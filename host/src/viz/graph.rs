//! Snapshots as graphs: petgraph, node-link JSON (D3, networkx), GraphML
//! (Gephi, networkx, yEd) and DOT (Graphviz).

use super::topology::{Edge, NodeView, TopologySnapshot};
use petgraph::graph::{DiGraph, NodeIndex as GraphIndex};
use serde_json::json;
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
    /// "nodes": [{"id", ...}], "links": [{"source", "target", ...}]}`.
    pub fn to_node_link_json(&self) -> serde_json::Value {
        let nodes: Vec<_> = self
            .nodes
            .iter()
            .map(|n| {
                json!({ "id": n.index, "node_id": n.id, "group": n.group, "peer": n.peer, "role": n.role, "status": n.status, "summary": n.summary })
            })
            .collect();
        let mut links: Vec<_> = self
            .edges
            .iter()
            .map(|e| {
                let mut link = json!({ "source": e.from, "target": e.to, "type": e.kind.name() });
                if let serde_json::Value::Object(extra) = serde_json::to_value(&e.kind).expect("edge kinds serialise") {
                    for (k, v) in extra {
                        if k != "type" {
                            link[k] = v;
                        }
                    }
                }
                link
            })
            .collect();
        links.extend(self.flows.iter().map(|f| {
            json!({ "source": f.from, "target": f.to, "type": "flow", "messages": f.messages, "bytes": f.bytes, "delivered": f.delivered })
        }));
        json!({ "directed": true, "multigraph": true, "graph": { "time_ns": self.time.as_nanos() }, "nodes": nodes, "links": links })
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
