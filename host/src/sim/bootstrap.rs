//! Bootstrap strategies: which contacts each node is given to join with,
//! drawn from the simulation's topology stream.

use crate::NodeIndex;
use crate::node::Contact;
use crate::rng::{SimRng, below};
use std::collections::BTreeMap;

/// Which contacts a node is given to join the network. In scenario files:
/// `bootstrap = { strategy = "random", count = 3 }`.
///
/// ```
/// use peershare::prelude::*;
/// // Every node of the group gets 4 neighbours; the graph is undirected.
/// let strategy = Bootstrap::Regular { degree: 4 };
/// assert!(strategy.check(100).is_ok());
/// assert!(strategy.check(4).unwrap_err().contains("fewer than"));
/// // Consensus clusters of 5: a group of 500 nodes makes 100 of them.
/// assert!(Bootstrap::Clusters { size: 5 }.check(500).is_ok());
/// assert!(Bootstrap::Clusters { size: 5 }.check(12).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Bootstrap {
    /// None.
    None,
    /// Node 0 (node 0 itself gets none).
    #[default]
    First,
    /// `count` distinct random other nodes, drawn from the topology stream.
    Random {
        /// How many.
        count: usize,
    },
    /// The `count` nodes before it in index order, wrapping around (a ring).
    Previous {
        /// How many.
        count: usize,
    },
    /// A random `degree`-regular undirected graph over the group's own
    /// nodes: every node of the group is given exactly `degree` contacts,
    /// and `a` is among `b`'s contacts exactly when `b` is among `a`'s. No
    /// node is its own contact and no contact repeats. The overlay that
    /// unstructured search (flooding with a TTL) is analysed on.
    Regular {
        /// Contacts per node.
        degree: usize,
    },
    /// The group's nodes in consecutive clusters of `size` (in index
    /// order): every node is given the other members of its cluster, in
    /// index order. The membership of consensus groups (Raft, PBFT); with
    /// `size` equal to the group's count, one cluster of the whole group.
    Clusters {
        /// Nodes per cluster; the group's count must be a multiple of it.
        size: usize,
    },
}

impl Bootstrap {
    /// Whether the strategy can be applied to a group of `count` nodes; the
    /// reason when it cannot.
    pub fn check(&self, count: usize) -> Result<(), String> {
        match *self {
            Bootstrap::Regular { degree } if count > 0 && degree >= count => {
                Err(format!("a {degree}-regular graph needs more nodes than {degree}; the group has fewer than {}", degree + 1))
            }
            Bootstrap::Regular { degree } if (degree * count) % 2 == 1 => {
                Err(format!("a {degree}-regular graph on {count} nodes does not exist: degree x nodes must be even"))
            }
            Bootstrap::Clusters { size: 0 } => Err("a cluster needs at least one node (size = 0)".into()),
            Bootstrap::Clusters { size } if !count.is_multiple_of(size) => {
                Err(format!("{count} nodes do not split into clusters of {size}: the group's count must be a multiple of the size"))
            }
            _ => Ok(()),
        }
    }
}

/// Bootstrap contacts for the nodes of one group, `first..first + count`,
/// out of `ids.len()` nodes in all. Draws come from `rng` in node order.
pub(super) fn group_contacts(strategy: &Bootstrap, first: usize, count: usize, ids: &[Vec<u8>], rng: &mut SimRng) -> Vec<Vec<Contact>> {
    let contact = |i: usize| Contact { index: i as NodeIndex, id: ids[i].clone() };
    let total = ids.len();
    match *strategy {
        Bootstrap::Regular { degree } => {
            regular_graph(count, degree, rng).into_iter().map(|ns| ns.into_iter().map(|n| contact(first + n)).collect()).collect()
        }
        Bootstrap::None => vec![Vec::new(); count],
        Bootstrap::Clusters { size } => (0..count)
            .map(|j| {
                let start = first + j - j % size;
                (start..start + size).filter(|&i| i != first + j).map(contact).collect()
            })
            .collect(),
        Bootstrap::First => (first..first + count).map(|i| if i == 0 { Vec::new() } else { vec![contact(0)] }).collect(),
        Bootstrap::Random { count: want } => (first..first + count)
            .map(|index| {
                let want = want.min(total - 1);
                let mut chosen = Vec::with_capacity(want);
                while chosen.len() < want {
                    let c = below(rng, total as u64) as usize;
                    if c != index && !chosen.contains(&c) {
                        chosen.push(c);
                    }
                }
                chosen.into_iter().map(contact).collect()
            })
            .collect(),
        Bootstrap::Previous { count: want } => {
            (first..first + count).map(|index| (1..=want.min(total - 1)).map(|k| contact((index + total - k) % total)).collect()).collect()
        }
    }
}

/// A random `degree`-regular simple graph on `n` nodes, as sorted
/// neighbour lists. A random pairing of `degree` stubs per node (the
/// configuration model), then every self-loop and repeated edge is
/// switched with a random other edge until none is left. The caller has
/// checked [`Bootstrap::check`].
fn regular_graph(n: usize, degree: usize, rng: &mut SimRng) -> Vec<Vec<usize>> {
    if n == 0 || degree == 0 {
        return vec![Vec::new(); n];
    }
    let mut stubs: Vec<usize> = (0..n).flat_map(|v| std::iter::repeat_n(v, degree)).collect();
    for i in (1..stubs.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        stubs.swap(i, j);
    }
    let key = |a: usize, b: usize| (a.min(b), a.max(b));
    let mut edges: Vec<(usize, usize)> = stubs.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let mut multiplicity: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for &(a, b) in &edges {
        *multiplicity.entry(key(a, b)).or_default() += 1;
    }
    let is_bad = |m: &BTreeMap<(usize, usize), usize>, (a, b): (usize, usize)| a == b || m[&key(a, b)] > 1;
    // Switching can stall in dense graphs (few fresh pairs left): then
    // start again from a new pairing.
    let mut tries_left = 1000 + 100 * edges.len();
    let mut i = 0;
    while i < edges.len() {
        if !is_bad(&multiplicity, edges[i]) {
            i += 1;
            continue;
        }
        if tries_left == 0 {
            return regular_graph(n, degree, rng);
        }
        tries_left -= 1;
        // Switch edges i = (a, b) and j = (c, d) to (a, c) and (b, d) when
        // that makes neither a loop nor a repeat; then look at i again.
        let j = below(rng, edges.len() as u64) as usize;
        let (a, b) = edges[i];
        let (c, d) = if below(rng, 2) == 0 { edges[j] } else { (edges[j].1, edges[j].0) };
        let fresh = |x: usize, y: usize| x != y && !multiplicity.contains_key(&key(x, y));
        if j == i || !fresh(a, c) || !fresh(b, d) || key(a, c) == key(b, d) {
            continue;
        }
        for old in [key(a, b), key(c, d)] {
            let m = multiplicity.get_mut(&old).expect("edge present");
            *m -= 1;
            if *m == 0 {
                multiplicity.remove(&old);
            }
        }
        multiplicity.insert(key(a, c), 1);
        multiplicity.insert(key(b, d), 1);
        edges[i] = (a, c);
        edges[j] = (b, d);
        // Edge j may have been an earlier, already fixed one: still simple.
    }
    let mut neighbours = vec![Vec::with_capacity(degree); n];
    for (a, b) in edges {
        neighbours[a].push(b);
        neighbours[b].push(a);
    }
    for ns in &mut neighbours {
        ns.sort_unstable();
    }
    neighbours
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeedTree, Stream};

    fn graph(n: usize, d: usize, seed: u64) -> Vec<Vec<usize>> {
        regular_graph(n, d, &mut SeedTree::new(seed).stream(Stream::Topology))
    }

    #[test]
    fn clusters_give_each_node_the_rest_of_its_cluster() {
        let ids: Vec<Vec<u8>> = (0..9u8).map(|i| vec![i]).collect();
        let mut rng = SeedTree::new(1).stream(Stream::Topology);
        // A group of 6 starting at node 3, in clusters of 3: {3,4,5}, {6,7,8}.
        let contacts = group_contacts(&Bootstrap::Clusters { size: 3 }, 3, 6, &ids, &mut rng);
        let nodes: Vec<Vec<u32>> = contacts.iter().map(|cs| cs.iter().map(|c| c.index).collect()).collect();
        assert_eq!(nodes, [vec![4, 5], vec![3, 5], vec![3, 4], vec![7, 8], vec![6, 8], vec![6, 7]]);
        assert!(Bootstrap::Clusters { size: 0 }.check(3).is_err());
    }

    #[test]
    fn regular_graphs_are_simple_symmetric_and_exactly_regular() {
        for (n, d) in [(10, 3), (100, 4), (1000, 8), (7, 6), (50, 1), (2, 1)] {
            let g = graph(n, d, n as u64);
            for (v, ns) in g.iter().enumerate() {
                assert_eq!(ns.len(), d, "node {v} of a {d}-regular graph on {n}");
                assert!(!ns.contains(&v), "node {v} is its own neighbour");
                assert!(ns.windows(2).all(|w| w[0] < w[1]), "node {v} has a repeated neighbour: {ns:?}");
                assert!(ns.iter().all(|&u| g[u].contains(&v)), "node {v}'s edges are not symmetric");
            }
        }
    }

    #[test]
    fn regular_graphs_depend_on_the_seed_only() {
        assert_eq!(graph(200, 4, 1), graph(200, 4, 1));
        assert_ne!(graph(200, 4, 1), graph(200, 4, 2));
    }

    #[test]
    fn impossible_regular_graphs_are_refused_with_the_reason() {
        assert!(Bootstrap::Regular { degree: 3 }.check(7).unwrap_err().contains("must be even"));
        assert!(Bootstrap::Regular { degree: 5 }.check(5).unwrap_err().contains("needs more nodes"));
        assert!(Bootstrap::Regular { degree: 4 }.check(5).is_ok());
        assert!(Bootstrap::Random { count: 10 }.check(2).is_ok());
    }
}
