//! Isochrones: snapping origins, bounded search, and network-faithful band polygons.
//!
//! A [`CommuteCircle`] is the set of places reachable from (or, with [`Direction::Arrive`], that
//! can reach) a city's origins within each band's time, as WGS-84 polygons with their metrics.

pub mod polygon;
pub mod search;
pub mod snap;
pub mod stamp;

use crate::geom::area::multipolygon_km2;
use crate::geom::projection::LocalProjection;
use crate::graph::{node_flags, RoadGraph, ReverseGraph, TimeMs};
use geo::MultiPolygon;
use search::{bounded_dijkstra, SearchScratch, Source};
use serde::{Deserialize, Serialize};
use snap::{SnapIndex, Snapped};
use stamp::{sample_stretch, GridParams, Sample, TimeGrid};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

/// Which way the trips go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Leaving the origins (what can be reached from the city).
    Depart,
    /// Arriving at the origins (from where the city can be reached): the commute direction.
    Arrive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Depart => "depart",
            Direction::Arrive => "arrive",
        }
    }
}

/// One origin point of a city.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OriginSpec {
    pub label: String,
    pub lon: f64,
    pub lat: f64,
}

/// A city (or any named place) with one or more origins; its time is the minimum over them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CitySpec {
    pub name: String,
    /// Optional identifier (e.g. an administrative code).
    pub id: Option<String>,
    /// Where the city came from: `place node/…`, `--at`, `FILE line N`.
    pub source: String,
    /// Population, when known (e.g. from the place node or the city list).
    pub population: Option<u64>,
    pub origins: Vec<OriginSpec>,
}

/// Parameters of a circle computation. All of them are recorded in outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CircleParams {
    /// Band limits in minutes, strictly increasing.
    pub minutes: Vec<f64>,
    pub direction: Direction,
    /// Largest distance from an origin to the road it snaps to (m).
    pub max_snap_m: f64,
    pub cell_m: f64,
    pub offroad_m: f64,
    pub offroad_kmh: f64,
    /// Topology-preserving simplification tolerance (m); 0 keeps the exact grid contour.
    pub simplify_m: f64,
    /// Reference speed of the reach factor's disc (km/h).
    pub reference_kmh: f64,
}

impl Default for CircleParams {
    fn default() -> Self {
        CircleParams {
            minutes: vec![30.0, 45.0, 60.0],
            direction: Direction::Depart,
            max_snap_m: 500.0,
            cell_m: 100.0,
            offroad_m: 300.0,
            offroad_kmh: 5.0,
            simplify_m: 0.0,
            reference_kmh: 60.0,
        }
    }
}

impl CircleParams {
    pub fn grid(&self) -> GridParams {
        GridParams {
            cell_m: self.cell_m,
            offroad_m: self.offroad_m,
            offroad_mps: self.offroad_kmh / 3.6,
        }
    }
    pub fn max_minutes(&self) -> f64 {
        self.minutes.iter().copied().fold(0.0, f64::max)
    }
    pub fn limit_ms(&self) -> TimeMs {
        (self.max_minutes() * 60_000.0).round() as TimeMs
    }
}

/// An origin placed on the network.
#[derive(Clone, Debug, PartialEq)]
pub struct SnappedOrigin {
    pub spec: OriginSpec,
    pub snap: Snapped,
}

/// One band of a circle.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    pub minutes: f64,
    /// WGS-84 lon/lat, 6 decimals, exteriors counter-clockwise.
    pub polygon: MultiPolygon<f64>,
    /// Geodesic area (km²).
    pub area_km2: f64,
    /// Radius of the disc of the same area (km).
    pub equivalent_radius_km: f64,
    /// Area ÷ area of the disc of radius reference speed × time, capped at 1.
    pub reach_factor: f64,
    /// Length of road reached within the band (each road counted once, partial roads in part).
    pub reached_road_km: f64,
    /// Graph nodes reached within the band.
    pub reached_nodes: usize,
    /// Whether the band reached a node at the edge of the extract (the true circle may be larger).
    pub truncated: bool,
}

/// A stretch of road reached by a search, for the `--edges` output.
#[derive(Clone, Debug, PartialEq)]
pub struct ReachedEdge {
    pub way_id: i64,
    pub class: &'static str,
    /// Travel time (s) at the stretch's first point and at its last (the cut, if partial).
    pub t_from_s: f64,
    pub t_to_s: f64,
    /// Whether the whole edge is reached (else it is cut where time runs out).
    pub full: bool,
    /// lon/lat along the direction of travel (depart) or toward the origin (arrive).
    pub coords: Vec<[f64; 2]>,
}

/// Optional by-products of a circle computation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    pub keep_grid: bool,
    pub keep_edges: bool,
}

/// A city's commute circle: every band from one search.
#[derive(Clone, Debug)]
pub struct CommuteCircle {
    pub city: CitySpec,
    pub origins: Vec<SnappedOrigin>,
    pub bands: Vec<Band>,
    /// Nodes settled by the search (largest band).
    pub settled: usize,
    /// Wall time of the search and of the polygon stage (ms); not written to outputs.
    pub search_ms: f64,
    pub polygon_ms: f64,
    /// The travel-time grid and its projection (with [`Extras::keep_grid`]).
    pub grid: Option<(TimeGrid, LocalProjection)>,
    /// Reached road stretches (with [`Extras::keep_edges`]).
    pub edges: Option<Vec<ReachedEdge>>,
}

/// Why a city's circle could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CircleError {
    #[error("{city}: origin '{origin}' ({lon:.6}, {lat:.6}) lies outside the graph's area ({bbox})")]
    OutsideGraph {
        city: String,
        origin: String,
        lon: f64,
        lat: f64,
        bbox: String,
    },
    #[error(
        "{city}: origin '{origin}' ({lon:.6}, {lat:.6}) is more than {max_snap_m} m from any road{nearest}; \
         move it or raise --max-snap"
    )]
    OffNetwork {
        city: String,
        origin: String,
        lon: f64,
        lat: f64,
        max_snap_m: f64,
        nearest: String,
    },
    #[error("{city}: the circle is empty (no road is reached within {minutes} min)")]
    Empty { city: String, minutes: f64 },
    #[error("{city}: has no origins")]
    NoOrigins { city: String },
}

/// The search engine over one graph: snapping index, lazily built reverse graph.
pub struct Engine<'g> {
    pub graph: &'g RoadGraph,
    reverse: OnceLock<ReverseGraph>,
    snap: SnapIndex,
}

/// A reached stretch of an edge, for road-length accounting.
#[derive(Clone, Copy, Debug)]
struct Stretch {
    road: u32,
    /// True when the stretch grows from the road's geometry end (fraction 1) backwards.
    from_end: bool,
    /// Time at the stretch's start (s) and the edge's full time (s).
    t0: f64,
    w: f64,
}

impl<'g> Engine<'g> {
    pub fn new(graph: &'g RoadGraph) -> Engine<'g> {
        Engine {
            graph,
            reverse: OnceLock::new(),
            snap: SnapIndex::build(graph),
        }
    }

    pub fn reverse(&self) -> &ReverseGraph {
        self.reverse.get_or_init(|| self.graph.reversed())
    }

    pub fn snap_index(&self) -> &SnapIndex {
        &self.snap
    }

    /// Snaps every origin of a city, with errors naming the city and the origin.
    pub fn snap_city(&self, city: &CitySpec, max_snap_m: f64) -> Result<Vec<SnappedOrigin>, CircleError> {
        if city.origins.is_empty() {
            return Err(CircleError::NoOrigins { city: city.name.clone() });
        }
        let bbox = self.graph.meta.bbox.unwrap_or_else(|| self.graph.bbox());
        let slack = 0.05; // degrees: origins just outside the road bbox may still snap
        city.origins
            .iter()
            .map(|o| {
                if !(o.lon >= bbox.min_lon - slack
                    && o.lon <= bbox.max_lon + slack
                    && o.lat >= bbox.min_lat - slack
                    && o.lat <= bbox.max_lat + slack)
                {
                    return Err(CircleError::OutsideGraph {
                        city: city.name.clone(),
                        origin: o.label.clone(),
                        lon: o.lon,
                        lat: o.lat,
                        bbox: format!(
                            "{:.4},{:.4} .. {:.4},{:.4}",
                            bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat
                        ),
                    });
                }
                match self.snap.nearest(self.graph, o.lon, o.lat, max_snap_m) {
                    Some(s) => Ok(SnappedOrigin {
                        spec: o.clone(),
                        snap: s,
                    }),
                    None => {
                        let nearest = self
                            .snap
                            .nearest(self.graph, o.lon, o.lat, 50_000.0)
                            .map(|s| format!(" (nearest road: {:.0} m)", s.distance_m))
                            .unwrap_or_default();
                        Err(CircleError::OffNetwork {
                            city: city.name.clone(),
                            origin: o.label.clone(),
                            lon: o.lon,
                            lat: o.lat,
                            max_snap_m,
                            nearest,
                        })
                    }
                }
            })
            .collect()
    }

    /// Search sources for snapped points: the partial times to the ends of each snapped road.
    pub fn sources(&self, snaps: &[(Snapped, u32)], direction: Direction) -> Vec<Source> {
        let mut out = Vec::new();
        for (s, label) in snaps {
            let f = s.fraction;
            let e = s.ends;
            let part = |edge: u32, share: f64| -> TimeMs { (self.graph.edges[edge as usize].time_ms as f64 * share).round() as TimeMs };
            match direction {
                Direction::Depart => {
                    if let Some(fe) = e.forward {
                        out.push(Source { node: e.b, time_ms: part(fe, 1.0 - f), label: *label });
                    }
                    if let Some(be) = e.backward {
                        out.push(Source { node: e.a, time_ms: part(be, f), label: *label });
                    }
                }
                Direction::Arrive => {
                    if let Some(fe) = e.forward {
                        out.push(Source { node: e.a, time_ms: part(fe, f), label: *label });
                    }
                    if let Some(be) = e.backward {
                        out.push(Source { node: e.b, time_ms: part(be, 1.0 - f), label: *label });
                    }
                }
            }
        }
        out
    }

    /// Runs the bounded search in the given direction.
    pub fn search(&self, sources: &[Source], direction: Direction, limit_ms: TimeMs, scratch: &mut SearchScratch) {
        match direction {
            Direction::Depart => bounded_dijkstra(self.graph, sources, limit_ms, scratch),
            Direction::Arrive => bounded_dijkstra(self.reverse(), sources, limit_ms, scratch),
        }
    }

    /// Calls `f(edge, settled_node, t0, w, from_tail)` for every edge stretch reached by the last
    /// search:
    /// depart: out-edges of settled nodes, timed from the tail; arrive: in-edges of settled
    /// nodes, timed from the head. Times in seconds.
    fn for_each_reached_edge(&self, direction: Direction, scratch: &SearchScratch, mut f: impl FnMut(usize, u32, f64, f64, bool)) {
        let g = self.graph;
        match direction {
            Direction::Depart => {
                for &u in &scratch.settled {
                    let tu = scratch.time(u) as f64 / 1000.0;
                    for e in g.out_range(u) {
                        f(e, u, tu, g.edges[e].time_ms as f64 / 1000.0, true);
                    }
                }
            }
            Direction::Arrive => {
                let r = self.reverse();
                for &v in &scratch.settled {
                    let tv = scratch.time(v) as f64 / 1000.0;
                    let (a, b) = (r.first_in[v as usize] as usize, r.first_in[v as usize + 1] as usize);
                    for k in a..b {
                        let e = r.forward_edge[k] as usize;
                        f(e, v, tv, g.edges[e].time_ms as f64 / 1000.0, false);
                    }
                }
            }
        }
    }

    /// Samples of every reached road stretch (plus the origins' own roads) within `limit_s`.
    pub fn reached_samples(
        &self,
        proj: &LocalProjection,
        snaps: &[(Snapped, u32)],
        direction: Direction,
        limit_s: f64,
        step_m: f64,
        scratch: &SearchScratch,
    ) -> Vec<Sample> {
        let g = self.graph;
        let mut out = Vec::new();
        self.for_each_reached_edge(direction, scratch, |e, node, t0, w, from_tail| {
            let (road, rev) = g.edge_road(e);
            if g.is_ferry(road) {
                return;
            }
            let tail_f = if rev { 1.0 } else { 0.0 };
            let head_f = 1.0 - tail_f;
            let (s0, s1) = if from_tail { (tail_f, head_f) } else { (head_f, tail_f) };
            let label = scratch.label(node).unwrap_or(0);
            sample_stretch(proj, g.road_geometry(road), s0, s1, t0, t0 + w, limit_s, step_m, label, &mut out);
        });
        for (s, label) in snaps {
            for (edge, toward_end) in self.origin_edges(s, direction) {
                let w = g.edges[edge as usize].time_ms as f64 / 1000.0;
                let (s1, share) = if toward_end { (1.0, 1.0 - s.fraction) } else { (0.0, s.fraction) };
                sample_stretch(proj, g.road_geometry(s.road as usize), s.fraction, s1, 0.0, w * share, limit_s, step_m, *label, &mut out);
            }
        }
        out
    }

    /// The origin road's edges usable from the snapped point, and whether each runs toward the
    /// road's geometry end.
    fn origin_edges(&self, s: &Snapped, direction: Direction) -> Vec<(u32, bool)> {
        let mut v = Vec::new();
        // Depart: the forward edge carries us toward the end, the backward toward the start.
        // Arrive: points before the snap use the forward edge, points after it the backward one.
        if let Some(fe) = s.ends.forward {
            v.push((fe, direction == Direction::Depart));
        }
        if let Some(be) = s.ends.backward {
            v.push((be, direction == Direction::Arrive));
        }
        v
    }

    /// Road length (km) reached within each limit (seconds), counting each road once.
    fn reached_road_km(&self, snaps: &[(Snapped, u32)], direction: Direction, limits_s: &[f64], scratch: &SearchScratch) -> Vec<f64> {
        let g = self.graph;
        let mut stretches: Vec<Stretch> = Vec::new();
        self.for_each_reached_edge(direction, scratch, |e, _node, t0, w, from_tail| {
            let (road, rev) = g.edge_road(e);
            // The stretch grows from the settled end: the tail (depart) or the head (arrive).
            let settled_at_geometry_end = if from_tail { rev } else { !rev };
            stretches.push(Stretch { road: road as u32, from_end: settled_at_geometry_end, t0, w });
        });
        limits_s
            .iter()
            .map(|&limit| {
                let mut per_road: HashMap<u32, [f64; 2]> = HashMap::new();
                for s in &stretches {
                    if s.t0 > limit {
                        continue;
                    }
                    let frac = if s.w > 0.0 { ((limit - s.t0) / s.w).clamp(0.0, 1.0) } else { 1.0 };
                    let slot = per_road.entry(s.road).or_insert([0.0, 0.0]);
                    let k = usize::from(s.from_end);
                    slot[k] = slot[k].max(frac);
                }
                // The origins' own roads: an interval around the snapped point.
                let mut middle: HashMap<u32, Vec<(f64, f64)>> = HashMap::new();
                for (s, _) in snaps {
                    let (mut lo, mut hi) = (s.fraction, s.fraction);
                    for (edge, toward_end) in self.origin_edges(s, direction) {
                        let w = g.edges[edge as usize].time_ms as f64 / 1000.0;
                        let reach = if w > 0.0 { (limit / w).min(1.0) } else { 1.0 };
                        if toward_end {
                            hi = (s.fraction + reach).min(1.0);
                        } else {
                            lo = (s.fraction - reach).max(0.0);
                        }
                    }
                    middle.entry(s.road).or_default().push((lo, hi));
                }
                let mut total_m = 0.0;
                let mut roads: Vec<u32> = per_road.keys().chain(middle.keys()).copied().collect();
                roads.sort_unstable();
                roads.dedup();
                for r in roads {
                    let [a, b] = per_road.get(&r).copied().unwrap_or([0.0, 0.0]);
                    let mut ivs = vec![(0.0, a), (1.0 - b, 1.0)];
                    if let Some(m) = middle.get(&r) {
                        ivs.extend(m.iter().copied());
                    }
                    total_m += union_length(&mut ivs) * g.road_length_m[r as usize] as f64;
                }
                total_m / 1000.0
            })
            .collect()
    }

    /// Computes a city's circle: one search to the largest band, then every band's polygon.
    pub fn circle(&self, city: &CitySpec, p: &CircleParams, scratch: &mut SearchScratch) -> Result<CommuteCircle, CircleError> {
        self.circle_with(city, p, scratch, Extras::default())
    }

    /// [`Engine::circle`] with optional by-products (grid, reached edges).
    pub fn circle_with(
        &self,
        city: &CitySpec,
        p: &CircleParams,
        scratch: &mut SearchScratch,
        extras: Extras,
    ) -> Result<CommuteCircle, CircleError> {
        let origins = self.snap_city(city, p.max_snap_m)?;
        let snaps: Vec<(Snapped, u32)> = origins.iter().map(|o| (o.snap, 0)).collect();
        let t_search = Instant::now();
        let sources = self.sources(&snaps, p.direction);
        self.search(&sources, p.direction, p.limit_ms(), scratch);
        let search_ms = t_search.elapsed().as_secs_f64() * 1000.0;

        let t_poly = Instant::now();
        let (lon0, lat0) = centroid(&city.origins);
        let proj = LocalProjection::new(lon0, lat0);
        let limit_s = p.max_minutes() * 60.0;
        let samples = self.reached_samples(&proj, &snaps, p.direction, limit_s, p.cell_m / 2.0, scratch);
        let grid = TimeGrid::stamp(&samples, &p.grid(), false);
        let thresholds: Vec<f64> = p.minutes.iter().map(|m| m * 60.0).collect();
        let polygons = polygon::band_polygons(&grid, &thresholds, &proj, p.simplify_m);
        let road_km = self.reached_road_km(&snaps, p.direction, &thresholds, scratch);
        let bands: Vec<Band> = p
            .minutes
            .iter()
            .zip(polygons)
            .zip(road_km)
            .map(|((&minutes, polygon), reached_road_km)| {
                let limit_ms = (minutes * 60_000.0).round() as TimeMs;
                let reached: Vec<u32> = scratch.settled.iter().copied().filter(|&n| scratch.time(n) <= limit_ms).collect();
                let truncated = reached.iter().any(|&n| self.graph.node_flags[n as usize] & node_flags::BORDER != 0);
                let area_km2 = multipolygon_km2(&polygon);
                let disc = std::f64::consts::PI * (p.reference_kmh * minutes / 60.0).powi(2);
                Band {
                    minutes,
                    area_km2,
                    equivalent_radius_km: (area_km2 / std::f64::consts::PI).sqrt(),
                    reach_factor: if disc > 0.0 { (area_km2 / disc).min(1.0) } else { 0.0 },
                    reached_road_km,
                    reached_nodes: reached.len(),
                    truncated,
                    polygon,
                }
            })
            .collect();
        let polygon_ms = t_poly.elapsed().as_secs_f64() * 1000.0;
        let edges = extras.keep_edges.then(|| self.reached_edges(&snaps, p.direction, limit_s, scratch));
        let grid = extras.keep_grid.then_some((grid, proj));
        if bands.iter().all(|b| b.polygon.0.is_empty()) {
            return Err(CircleError::Empty {
                city: city.name.clone(),
                minutes: p.max_minutes(),
            });
        }
        Ok(CommuteCircle {
            city: city.clone(),
            origins,
            bands,
            settled: scratch.settled.len(),
            search_ms,
            polygon_ms,
            grid,
            edges,
        })
    }

    /// Every reached road stretch within `limit_s`, cut where time runs out (ferries included:
    /// they are part of the trip even though they are not drawn into polygons).
    pub fn reached_edges(&self, snaps: &[(Snapped, u32)], direction: Direction, limit_s: f64, scratch: &SearchScratch) -> Vec<ReachedEdge> {
        let g = self.graph;
        let mut out = Vec::new();
        let mut push = |road: usize, s0: f64, s1: f64, t0: f64, t1: f64| {
            if t0 > limit_s {
                return;
            }
            let (coords, t_end, full) = cut_polyline(g.road_geometry(road), s0, s1, t0, t1, limit_s);
            if coords.len() >= 2 {
                out.push(ReachedEdge {
                    way_id: g.road_way_id[road],
                    class: g.road_class(road).as_str(),
                    t_from_s: t0,
                    t_to_s: t_end,
                    full,
                    coords,
                });
            }
        };
        self.for_each_reached_edge(direction, scratch, |e, _node, t0, w, from_tail| {
            let (road, rev) = g.edge_road(e);
            let tail_f = if rev { 1.0 } else { 0.0 };
            let head_f = 1.0 - tail_f;
            let (s0, s1) = if from_tail { (tail_f, head_f) } else { (head_f, tail_f) };
            push(road, s0, s1, t0, t0 + w);
        });
        for (s, _) in snaps {
            for (edge, toward_end) in self.origin_edges(s, direction) {
                let w = g.edges[edge as usize].time_ms as f64 / 1000.0;
                let (s1, share) = if toward_end { (1.0, 1.0 - s.fraction) } else { (0.0, s.fraction) };
                push(s.road as usize, s.fraction, s1, 0.0, w * share);
            }
        }
        out
    }
}

/// The part of a polyline from fraction `s0` to `s1` of its length reached within `limit`, where
/// time runs linearly from `t0` to `t1`: lon/lat points, the time at the last point, and whether
/// the whole stretch was reached.
fn cut_polyline(geom: &[crate::geom::CoordE7], s0: f64, s1: f64, t0: f64, t1: f64, limit: f64) -> (Vec<[f64; 2]>, f64, bool) {
    use crate::geom::distance_m;
    let mut cum = vec![0.0];
    for w in geom.windows(2) {
        let last = *cum.last().unwrap_or(&0.0);
        cum.push(last + distance_m(w[0], w[1]));
    }
    let total = *cum.last().unwrap_or(&0.0);
    let (d0, d1_full) = (s0 * total, s1 * total);
    let full = t1 <= limit;
    let d1 = if full || t1 == t0 { d1_full } else { d0 + (d1_full - d0) * ((limit - t0) / (t1 - t0)) };
    let at = |d: f64| -> [f64; 2] {
        let i = cum.partition_point(|&c| c <= d).clamp(1, cum.len() - 1);
        let seg = cum[i] - cum[i - 1];
        let f = if seg > 0.0 { ((d - cum[i - 1]) / seg).clamp(0.0, 1.0) } else { 0.0 };
        let (a, b) = (geom[i - 1], geom[i]);
        [a.lon() + (b.lon() - a.lon()) * f, a.lat() + (b.lat() - a.lat()) * f]
    };
    let (lo, hi) = if d0 <= d1 { (d0, d1) } else { (d1, d0) };
    let mut pts = vec![at(d0)];
    let inner: Vec<usize> = (0..cum.len()).filter(|&i| cum[i] > lo && cum[i] < hi).collect();
    if d0 <= d1 {
        pts.extend(inner.iter().map(|&i| [geom[i].lon(), geom[i].lat()]));
    } else {
        pts.extend(inner.iter().rev().map(|&i| [geom[i].lon(), geom[i].lat()]));
    }
    pts.push(at(d1));
    pts.dedup();
    (pts, if full { t1 } else { limit }, full)
}



/// Mean position of the origins (the projection centre).
pub fn centroid(origins: &[OriginSpec]) -> (f64, f64) {
    let n = origins.len().max(1) as f64;
    (
        origins.iter().map(|o| o.lon).sum::<f64>() / n,
        origins.iter().map(|o| o.lat).sum::<f64>() / n,
    )
}

/// Length of the union of intervals within [0, 1].
fn union_length(ivs: &mut [(f64, f64)]) -> f64 {
    ivs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut cur: Option<(f64, f64)> = None;
    for &(a, b) in ivs.iter() {
        let (a, b) = (a.clamp(0.0, 1.0), b.clamp(0.0, 1.0));
        if b <= a {
            continue;
        }
        match cur {
            Some((ca, cb)) if a <= cb => cur = Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    if let Some((ca, cb)) = cur {
        total += cb - ca;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_union() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(union_length(&mut [(0.0, 0.3), (0.7, 1.0)]), 0.6));
        assert!(close(union_length(&mut [(0.0, 0.6), (0.5, 1.0)]), 1.0));
        assert!(close(union_length(&mut [(0.0, 0.0), (1.0, 1.0), (0.2, 0.4)]), 0.2));
        assert!(close(union_length(&mut [(0.1, 0.5), (0.2, 0.3), (0.4, 0.9)]), 0.8));
    }
}
