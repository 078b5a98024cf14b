//! The routing graph: a directed compressed-sparse-row (CSR) graph over flat arrays.
//!
//! Nodes are road junctions and dead ends (`u32` [`NodeIdx`]); chains of degree-2 nodes are
//! contracted into one edge. Each directed [`EdgeIdx`] has a head node and an integer travel time
//! in milliseconds. Edges belong to *roads*: a road is one undirected piece of OSM way geometry
//! between two nodes, traversable in one or both directions, so a two-way street stores its shape
//! once. The full road shape is kept because the polygon stage cuts edges where time runs out.
//!
//! Turn restrictions are not modelled yet. The graph keeps what they need: OSM node ids per node
//! and the OSM way id per road, so an edge-based search can be layered on later.

pub mod array;
pub mod build;
pub mod features;
pub mod scc;
pub mod store;

use crate::geom::{BBox, CoordE7};
pub use array::Array;
use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use features::{AdminBoundary, Place};

/// Index of a graph node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIdx(pub u32);

/// Index of a directed edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeIdx(pub u32);

/// Index of a road (an undirected piece of geometry shared by one or two directed edges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoadIdx(pub u32);

/// Travel time in milliseconds. Integer so that searches are exact and deterministic.
pub type TimeMs = u32;

/// The hot part of an edge: where it goes and how long it takes (8 bytes, cache friendly).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct EdgeTarget {
    pub head: u32,
    pub time_ms: TimeMs,
}

/// Per-node flags.
pub mod node_flags {
    /// In a strongly connected component at least `min_component_nodes` large: a sensible place
    /// to snap an origin to (it can leave and come back).
    pub const CORE: u8 = 1;
    /// At the edge of the extract: a way was cut here (missing nodes), or the node lies within
    /// the border margin of the extract's bounding box. A circle reaching it may be truncated.
    pub const BORDER: u8 = 2;
}

/// Per-road flags.
pub mod road_flags {
    /// A ferry line: routable, but its geometry crosses water and is never drawn into polygons.
    pub const FERRY: u8 = 1;
}

/// Highway classes the graph distinguishes (stored per road as a `u8`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoadClass {
    Motorway = 0,
    MotorwayLink,
    Trunk,
    TrunkLink,
    Primary,
    PrimaryLink,
    Secondary,
    SecondaryLink,
    Tertiary,
    TertiaryLink,
    Unclassified,
    Residential,
    LivingStreet,
    Service,
    Road,
    Track,
    Cycleway,
    Path,
    Footway,
    Pedestrian,
    Steps,
    Bridleway,
    Ferry,
}

impl RoadClass {
    pub const ALL: [RoadClass; 23] = [
        RoadClass::Motorway,
        RoadClass::MotorwayLink,
        RoadClass::Trunk,
        RoadClass::TrunkLink,
        RoadClass::Primary,
        RoadClass::PrimaryLink,
        RoadClass::Secondary,
        RoadClass::SecondaryLink,
        RoadClass::Tertiary,
        RoadClass::TertiaryLink,
        RoadClass::Unclassified,
        RoadClass::Residential,
        RoadClass::LivingStreet,
        RoadClass::Service,
        RoadClass::Road,
        RoadClass::Track,
        RoadClass::Cycleway,
        RoadClass::Path,
        RoadClass::Footway,
        RoadClass::Pedestrian,
        RoadClass::Steps,
        RoadClass::Bridleway,
        RoadClass::Ferry,
    ];

    /// The OSM `highway` value (or `ferry`).
    pub fn as_str(self) -> &'static str {
        match self {
            RoadClass::Motorway => "motorway",
            RoadClass::MotorwayLink => "motorway_link",
            RoadClass::Trunk => "trunk",
            RoadClass::TrunkLink => "trunk_link",
            RoadClass::Primary => "primary",
            RoadClass::PrimaryLink => "primary_link",
            RoadClass::Secondary => "secondary",
            RoadClass::SecondaryLink => "secondary_link",
            RoadClass::Tertiary => "tertiary",
            RoadClass::TertiaryLink => "tertiary_link",
            RoadClass::Unclassified => "unclassified",
            RoadClass::Residential => "residential",
            RoadClass::LivingStreet => "living_street",
            RoadClass::Service => "service",
            RoadClass::Road => "road",
            RoadClass::Track => "track",
            RoadClass::Cycleway => "cycleway",
            RoadClass::Path => "path",
            RoadClass::Footway => "footway",
            RoadClass::Pedestrian => "pedestrian",
            RoadClass::Steps => "steps",
            RoadClass::Bridleway => "bridleway",
            RoadClass::Ferry => "ferry",
        }
    }

    /// The class of an OSM `highway` value (ferries come from `route=ferry`, not from here).
    pub fn from_highway(v: &str) -> Option<RoadClass> {
        RoadClass::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == v && *c != RoadClass::Ferry)
    }

    pub fn from_u8(v: u8) -> Option<RoadClass> {
        RoadClass::ALL.get(v as usize).copied()
    }

    /// Roads that count towards the network density used to tell urban from rural areas:
    /// the public street network, not driveways, paths or ferries.
    pub fn counts_for_density(self) -> bool {
        self <= RoadClass::Road && self != RoadClass::Service
    }
}

/// Where a graph came from and how it was made. Stored as JSON in the graph file; fields added
/// within a format version default when absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphMeta {
    pub metroreach_version: String,
    pub source: SourceInfo,
    /// The profile's name and its complete parameters as TOML.
    pub profile_name: String,
    pub profile_toml: String,
    pub import: ImportStats,
    /// Bounding box of the graph's nodes.
    pub bbox: Option<BBox>,
    /// Kilometres of road by class (each road counted once, whatever its directions).
    pub km_by_class: BTreeMap<String, f64>,
}

/// The source extract.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceInfo {
    pub file_name: String,
    pub size_bytes: u64,
    /// CRC-32 of the whole source file, so that a cached graph is reused only for the same bytes.
    pub crc32: u32,
    pub header_bbox: Option<[f64; 4]>,
    pub writing_program: Option<String>,
    /// OSM replication timestamp of the extract (seconds since 1970), from the PBF header.
    pub replication_timestamp: Option<i64>,
}

/// Counts from the import, for `info` and for judging data quality.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportStats {
    /// When the import ran (RFC 3339, UTC; `SOURCE_DATE_EPOCH` overrides it for reproducible
    /// files) and how long it took. The only non-deterministic fields of a graph file.
    pub imported_at: String,
    pub import_seconds: f64,
    pub threads: usize,
    pub blobs: usize,
    pub sorted_by_type: bool,
    pub ways_read: u64,
    pub nodes_read: u64,
    pub relations_read: u64,
    pub road_ways: u64,
    pub ferry_ways: u64,
    /// Way → node references to nodes absent from the extract (ways cut at the border).
    pub missing_node_refs: u64,
    /// Road ways that lost at least one node and were clipped to the parts present.
    pub clipped_ways: u64,
    /// Road ways dropped entirely (fewer than two nodes present).
    pub dropped_ways: u64,
    /// Nodes with coordinates outside the valid WGS-84 range (ignored).
    pub invalid_coordinates: u64,
    /// Nodes of the graph before and after chain contraction and island removal.
    pub nodes_before_contraction: u64,
    pub contracted_nodes: u64,
    pub island_components_dropped: u64,
    pub island_nodes_dropped: u64,
    pub island_edges_dropped: u64,
    /// Minimum strongly connected component size kept as routable core.
    pub min_component_nodes: u32,
    pub border_margin_m: f64,
    pub places: u64,
    pub boundaries: u64,
    pub boundary_broken_rings: u64,
    pub boundaries_without_polygon: u64,
    pub turn_restrictions_seen: u64,
    /// Share of road length per area type (urban/suburban/rural), from the density model.
    pub km_by_area_type: BTreeMap<String, f64>,
    pub warnings: Vec<String>,
    /// Wall time of each import stage (s): reading the file, building the graph, assembling the
    /// boundaries. Zero with `SOURCE_DATE_EPOCH` (reproducible files).
    pub stage_seconds: BTreeMap<String, f64>,
}

/// The routing graph with its geometry, places and administrative boundaries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoadGraph {
    pub meta: GraphMeta,
    pub node_coords: Array<CoordE7>,
    pub node_osm_ids: Array<i64>,
    pub node_flags: Array<u8>,
    /// CSR offsets: the out-edges of node `n` are `first_out[n]..first_out[n + 1]`.
    pub first_out: Array<u32>,
    pub edges: Array<EdgeTarget>,
    /// Per directed edge: `road << 1 | reversed`, where `reversed` means the edge runs against the
    /// road's stored geometry.
    pub edge_road: Array<u32>,
    /// Road geometry: road `r` is `geom[road_geom_start[r]..road_geom_start[r + 1]]`, from its
    /// first node to its last, endpoints included.
    pub road_geom_start: Array<u32>,
    pub geom: Array<CoordE7>,
    pub road_length_m: Array<f32>,
    pub road_class: Array<u8>,
    pub road_flags: Array<u8>,
    pub road_way_id: Array<i64>,
    pub places: Vec<Place>,
    pub boundaries: Vec<AdminBoundary>,
}

impl RoadGraph {
    pub fn num_nodes(&self) -> usize {
        self.node_coords.len()
    }
    pub fn num_edges(&self) -> usize {
        self.edges.len()
    }
    pub fn num_roads(&self) -> usize {
        self.road_length_m.len()
    }
    /// The range of edge indices leaving `node`.
    #[inline]
    pub fn out_range(&self, node: u32) -> std::ops::Range<usize> {
        self.first_out[node as usize] as usize..self.first_out[node as usize + 1] as usize
    }
    #[inline]
    pub fn out_edges(&self, node: u32) -> &[EdgeTarget] {
        &self.edges[self.out_range(node)]
    }
    /// The road of an edge and whether the edge runs against the road's geometry.
    #[inline]
    pub fn edge_road(&self, edge: usize) -> (usize, bool) {
        let v = self.edge_road[edge];
        ((v >> 1) as usize, v & 1 == 1)
    }
    #[inline]
    pub fn road_geometry(&self, road: usize) -> &[CoordE7] {
        &self.geom[self.road_geom_start[road] as usize..self.road_geom_start[road + 1] as usize]
    }
    pub fn road_class(&self, road: usize) -> RoadClass {
        RoadClass::from_u8(self.road_class[road]).unwrap_or(RoadClass::Road)
    }
    pub fn is_ferry(&self, road: usize) -> bool {
        self.road_flags[road] & road_flags::FERRY != 0
    }
    /// The tail node of every edge (inverse of the CSR offsets), computed on demand, on all
    /// cores (blocks of nodes own disjoint ranges of edges).
    pub fn edge_tails(&self) -> Vec<u32> {
        const BLOCK: usize = 1 << 16;
        let mut tails = vec![0u32; self.edges.len()];
        let n = self.num_nodes();
        let block_end = |a: usize| (a + BLOCK).min(n);
        let lens = (0..n)
            .step_by(BLOCK)
            .map(|a| (self.first_out[block_end(a)] - self.first_out[a]) as usize);
        crate::parallel::par_fill_blocks(&mut tails, lens, |i, block| {
            let a = i * BLOCK;
            let base = self.first_out[a] as usize;
            for u in a..block_end(a) {
                for e in self.out_range(u as u32) {
                    block[e - base] = u as u32;
                }
            }
        });
        tails
    }
    /// The reversed graph (for arrival isochrones), built in O(edges).
    pub fn reversed(&self) -> ReverseGraph {
        let n = self.num_nodes();
        let mut count = vec![0u32; n + 1];
        for e in &self.edges {
            count[e.head as usize + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let first_in = count.clone();
        let mut fill = count;
        let mut edges = vec![EdgeTarget::default(); self.edges.len()];
        let mut edge_id = vec![0u32; self.edges.len()];
        for tail in 0..n {
            for e in self.out_range(tail as u32) {
                let t = self.edges[e];
                let slot = fill[t.head as usize] as usize;
                fill[t.head as usize] += 1;
                edges[slot] = EdgeTarget {
                    head: tail as u32,
                    time_ms: t.time_ms,
                };
                edge_id[slot] = e as u32;
            }
        }
        ReverseGraph {
            first_in,
            edges,
            forward_edge: edge_id,
        }
    }
    /// Bounding box of all nodes.
    pub fn bbox(&self) -> BBox {
        BBox::of_coords(&self.node_coords)
    }
}

/// The graph with every edge reversed: `edges[i]` leads from a node to the tail of forward edge
/// `forward_edge[i]`, with the same travel time.
#[derive(Clone, Debug)]
pub struct ReverseGraph {
    pub first_in: Vec<u32>,
    pub edges: Vec<EdgeTarget>,
    pub forward_edge: Vec<u32>,
}

/// A read-only view over a CSR adjacency, forward or reverse, for the search.
pub trait Adjacency: Sync {
    fn num_nodes(&self) -> usize;
    /// Outgoing (in search direction) edges of `node` and the index range they occupy.
    fn adjacent(&self, node: u32) -> (&[EdgeTarget], usize);
}

impl Adjacency for RoadGraph {
    fn num_nodes(&self) -> usize {
        self.node_coords.len()
    }
    #[inline]
    fn adjacent(&self, node: u32) -> (&[EdgeTarget], usize) {
        let r = self.out_range(node);
        (&self.edges[r.clone()], r.start)
    }
}

impl Adjacency for ReverseGraph {
    fn num_nodes(&self) -> usize {
        self.first_in.len() - 1
    }
    #[inline]
    fn adjacent(&self, node: u32) -> (&[EdgeTarget], usize) {
        let (a, b) = (
            self.first_in[node as usize] as usize,
            self.first_in[node as usize + 1] as usize,
        );
        (&self.edges[a..b], a)
    }
}
