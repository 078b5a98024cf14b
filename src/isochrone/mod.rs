//! Isochrones: snapping origins, bounded search, and network-faithful band polygons.
//!
//! A [`CommuteCircle`] is the set of places reachable from (or, with [`Direction::Arrive`], that
//! can reach) a city's origins within each band's time, as WGS-84 polygons with their metrics.

pub mod marching;
pub mod polygon;
pub mod reach;
pub mod search;
pub mod snap;
pub mod stamp;

use crate::geom::projection::LocalProjection;
use crate::graph::{node_flags, ReverseGraph, RoadGraph, TimeMs};
use geo::MultiPolygon;
use reach::Stretch;
use search::{bounded_dijkstra, SearchScratch, Source};
use serde::{Deserialize, Serialize};
use snap::{SnapIndex, Snapped};
use stamp::{GridParams, TimeGrid};
use std::sync::OnceLock;
use std::time::Instant;

/// The polygon stage's arrays, reused from city to city on one thread (kept in
/// [`SearchScratch`]): a batch does not fault in fresh memory for every city.
#[derive(Default)]
pub struct PolygonBuffers {
    pub grid: Vec<f32>,
    /// One tracer's arrays per band (the bands are traced side by side).
    pub tracer: Vec<marching::TracerBuffers>,
    /// The roads are sampled in two parts (halves of the settled nodes), on two threads when
    /// one is free; the grid reads the two parts' samples in turn.
    pub parts: [SamplePart; 2],
    /// The settled nodes in ascending id, and scratch space to sort them ([`reach::sorted_ids`]).
    pub nodes: Vec<u32>,
    pub nodes_tmp: Vec<u32>,
}

/// One part's sampling arrays ([`Engine::circle_with`]).
#[derive(Default)]
pub struct SamplePart {
    pub samples: Vec<stamp::Sample>,
    /// The part's stretches, collected when asked for.
    pub stretches: Vec<Stretch>,
    /// One road's stretches at a time ([`reach::for_each_road`]).
    pub road_group: Vec<Stretch>,
}

/// Fewest settled nodes for which a circle's roads are sampled in two parts: below it, handing
/// half to another thread costs more than it saves. A fixed number, not the thread count, decides
/// the split, so results do not depend on the threads available.
const SPLIT_SAMPLING_NODES: usize = 2048;

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

impl CitySpec {
    /// A city with one origin point, named after it, without id or population.
    ///
    /// ```
    /// use metroreach::isochrone::CitySpec;
    /// let c = CitySpec::at("Marysville", "--at", -121.5914, 39.1457);
    /// assert_eq!(c.origins[0].label, "Marysville");
    /// ```
    pub fn at(label: impl Into<String>, source: impl Into<String>, lon: f64, lat: f64) -> CitySpec {
        let label = label.into();
        CitySpec {
            name: label.clone(),
            id: None,
            source: source.into(),
            population: None,
            origins: vec![OriginSpec { label, lon, lat }],
        }
    }
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
    /// lon/lat in order of increasing travel time (away from the origin, in both directions).
    pub coords: Vec<[f64; 2]>,
}

/// Optional by-products of a circle computation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    pub keep_grid: bool,
    pub keep_edges: bool,
    /// Keep the reached stretches (to look up travel times at arbitrary network points).
    pub keep_stretches: bool,
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
    /// Reached stretches sorted by road (with [`Extras::keep_stretches`]).
    pub stretches: Option<Vec<Stretch>>,
}

impl CommuteCircle {
    /// Travel time (s) to (depart) or from (arrive) a point on the network, if reached within
    /// the largest band. Needs [`Extras::keep_stretches`].
    pub fn time_at(&self, at: &Snapped) -> Option<f64> {
        let st = self.stretches.as_ref()?;
        let limit = self.bands.last().map(|b| b.minutes * 60.0)?;
        let start = st.partition_point(|s| s.road < at.road);
        st[start..]
            .iter()
            .take_while(|s| s.road == at.road)
            .filter(|s| {
                s.interval(limit)
                    .is_some_and(|(lo, hi)| at.fraction >= lo - 1e-9 && at.fraction <= hi + 1e-9)
            })
            .filter_map(|s| s.time_at(at.fraction))
            .min_by(f64::total_cmp)
            .filter(|t| *t <= limit)
    }
}

/// Why a city's circle could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CircleError {
    #[error(
        "{city}: origin '{origin}' ({lon:.6}, {lat:.6}) lies outside the graph's area ({bbox})"
    )]
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
    #[error(
        "{city}: the area reached in {minutes} min needs a grid of {cells} cells of {cell_m} m, more \
         than the {} allowed; use a larger --cell or fewer --minutes",
        stamp::MAX_GRID_CELLS
    )]
    GridTooLarge {
        city: String,
        cells: usize,
        cell_m: f64,
        minutes: f64,
    },
}

/// The search engine over one graph: snapping index, lazily built reverse graph.
pub struct Engine<'g> {
    pub graph: &'g RoadGraph,
    reverse: OnceLock<ReverseGraph>,
    snap: SnapIndex,
    /// Nodes on ferry lines only, never sampled ([`stamp::sea_nodes`]).
    sea_nodes: Vec<u32>,
}

impl<'g> Engine<'g> {
    pub fn new(graph: &'g RoadGraph) -> Engine<'g> {
        let (snap, sea_nodes) = rayon::join(|| SnapIndex::build(graph), || stamp::sea_nodes(graph));
        Engine {
            graph,
            reverse: OnceLock::new(),
            snap,
            sea_nodes,
        }
    }

    pub fn reverse(&self) -> &ReverseGraph {
        self.reverse.get_or_init(|| self.graph.reversed())
    }

    pub fn snap_index(&self) -> &SnapIndex {
        &self.snap
    }

    /// Nodes on ferry lines only, ascending ([`stamp::sea_nodes`]).
    pub fn sea_nodes(&self) -> &[u32] {
        &self.sea_nodes
    }

    /// Snaps every origin of a city, with errors naming the city and the origin.
    pub fn snap_city(
        &self,
        city: &CitySpec,
        max_snap_m: f64,
    ) -> Result<Vec<SnappedOrigin>, CircleError> {
        if city.origins.is_empty() {
            return Err(CircleError::NoOrigins {
                city: city.name.clone(),
            });
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
            let part = |edge: u32, share: f64| -> TimeMs {
                (self.graph.edges[edge as usize].time_ms as f64 * share).round() as TimeMs
            };
            match direction {
                Direction::Depart => {
                    if let Some(fe) = e.forward {
                        out.push(Source {
                            node: e.b,
                            time_ms: part(fe, 1.0 - f),
                            label: *label,
                        });
                    }
                    if let Some(be) = e.backward {
                        out.push(Source {
                            node: e.a,
                            time_ms: part(be, f),
                            label: *label,
                        });
                    }
                }
                Direction::Arrive => {
                    if let Some(fe) = e.forward {
                        out.push(Source {
                            node: e.a,
                            time_ms: part(fe, f),
                            label: *label,
                        });
                    }
                    if let Some(be) = e.backward {
                        out.push(Source {
                            node: e.b,
                            time_ms: part(be, 1.0 - f),
                            label: *label,
                        });
                    }
                }
            }
        }
        out
    }

    /// Runs the bounded search in the given direction.
    pub fn search(
        &self,
        sources: &[Source],
        direction: Direction,
        limit_ms: TimeMs,
        scratch: &mut SearchScratch,
    ) {
        match direction {
            Direction::Depart => bounded_dijkstra(self.graph, sources, limit_ms, scratch),
            Direction::Arrive => bounded_dijkstra(self.reverse(), sources, limit_ms, scratch),
        }
    }

    /// Computes a city's circle: one search to the largest band, then every band's polygon.
    pub fn circle(
        &self,
        city: &CitySpec,
        p: &CircleParams,
        scratch: &mut SearchScratch,
    ) -> Result<CommuteCircle, CircleError> {
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
        let laps = crate::progress::Laps::from_env("circle");
        let origins = self.snap_city(city, p.max_snap_m)?;
        laps.lap("snap");
        let t_search = Instant::now();
        let sources = self.sources(&labelled_snaps(&origins), p.direction);
        self.search(&sources, p.direction, p.limit_ms(), scratch);
        let search_ms = t_search.elapsed().as_secs_f64() * 1000.0;
        laps.lap("search");
        // The search is one thread's work; the rest hands halves to the other worker about ten
        // times in a few milliseconds, which is kept awake for them.
        crate::parallel::with_awake_helper(move || {
            self.circle_shapes(city, p, scratch, extras, origins, search_ms, laps)
        })
    }

    /// The part of [`Engine::circle_with`] after the search: samples, grid, polygons, areas.
    #[allow(clippy::too_many_arguments)]
    fn circle_shapes(
        &self,
        city: &CitySpec,
        p: &CircleParams,
        scratch: &mut SearchScratch,
        extras: Extras,
        origins: Vec<SnappedOrigin>,
        search_ms: f64,
        laps: crate::progress::Laps,
    ) -> Result<CommuteCircle, CircleError> {
        let snaps = labelled_snaps(&origins);
        let t_poly = Instant::now();
        let (lon0, lat0) = centroid(&city.origins);
        let proj = LocalProjection::new(lon0, lat0);
        let limit_s = p.max_minutes() * 60.0;
        // The buffers go back into the scratch on every path out of here except errors.
        let mut buf = std::mem::take(&mut scratch.polygon);
        let thresholds: Vec<f64> = p.minutes.iter().map(|m| m * 60.0).collect();
        let limits_ms: Vec<TimeMs> = p
            .minutes
            .iter()
            .map(|m| (m * 60_000.0).round() as TimeMs)
            .collect();
        // Each reached road is sampled as the search's stretches are read, road by road; the
        // stretches are collected only when asked for (`--edges`, catchments).
        let keep_stretches = extras.keep_stretches || extras.keep_edges;
        reach::sorted_ids(&scratch.settled, &mut buf.nodes, &mut buf.nodes_tmp);
        let nodes = &buf.nodes[..];
        let reached = stamp::Reached {
            search: scratch,
            nodes,
            origins: &snaps,
            sea_nodes: &self.sea_nodes,
            stretch_factor: stamp::stretch_factor(self.graph, &proj, nodes),
        };
        let reach = reach::Reach {
            snaps: &snaps,
            direction: p.direction,
            limit: limit_s,
            scratch,
            nodes,
            edge_of_road: self.snap.edge_of_road(),
        };
        // Each part visits the roads first met at its nodes (the first part also the origins'
        // roads): together, every reached road once, and the stretches in the order of one pass.
        let split = if nodes.len() >= SPLIT_SAMPLING_NODES {
            nodes.len() / 2
        } else {
            nodes.len()
        };
        let [part_a, part_b] = &mut buf.parts;
        let sample_part = |range: std::ops::Range<usize>, first: bool, part: &mut SamplePart| {
            let part_nodes = &nodes[range];
            let origins: &[(Snapped, u32)] = if first { &snaps } else { &[] };
            self.sample_part(
                &proj,
                &stamp::Reached {
                    nodes: part_nodes,
                    origins,
                    ..reached
                },
                &reach::Reach {
                    nodes: part_nodes,
                    ..reach
                },
                first,
                &thresholds,
                &limits_ms,
                p.cell_m,
                keep_stretches,
                part,
            )
        };
        let ((mut road_m, mut reached_nodes), (road_m_b, reached_nodes_b)) = rayon::join(
            || sample_part(0..split, true, part_a),
            || sample_part(split..nodes.len(), false, part_b),
        );
        for (a, b) in road_m.iter_mut().zip(road_m_b) {
            *a += b;
        }
        for (a, b) in reached_nodes.iter_mut().zip(reached_nodes_b) {
            *a = (a.0 + b.0, a.1 | b.1);
        }
        let mut stretches = std::mem::take(&mut part_a.stretches);
        stretches.extend_from_slice(&part_b.stretches);
        laps.lap("samples");
        let grid = TimeGrid::stamp_reusing(
            &[&part_a.samples, &part_b.samples],
            &p.grid(),
            false,
            std::mem::take(&mut buf.grid),
        )
        .map_err(|e| CircleError::GridTooLarge {
            city: city.name.clone(),
            cells: e.cells,
            cell_m: e.cell_m,
            minutes: p.max_minutes(),
        })?;
        laps.lap("grid");
        let polygons = polygon::band_polygons_reusing(
            &grid,
            &thresholds,
            p.cell_m / (p.offroad_kmh / 3.6),
            &proj,
            p.simplify_m,
            &mut buf.tracer,
        );
        laps.lap("polygons");
        let road_km = road_m.iter().map(|m| m / 1000.0);
        let bands: Vec<Band> = p
            .minutes
            .iter()
            .zip(polygons)
            .zip(road_km)
            .zip(reached_nodes)
            .map(
                |(((&minutes, (polygon, area_km2)), reached_road_km), reached)| {
                    let (reached_nodes, truncated) = reached;
                    let disc = std::f64::consts::PI * (p.reference_kmh * minutes / 60.0).powi(2);
                    Band {
                        minutes,
                        area_km2,
                        equivalent_radius_km: (area_km2 / std::f64::consts::PI).sqrt(),
                        reach_factor: if disc > 0.0 {
                            (area_km2 / disc).min(1.0)
                        } else {
                            0.0
                        },
                        reached_road_km,
                        reached_nodes,
                        truncated,
                        polygon,
                    }
                },
            )
            .collect();
        laps.lap("areas");
        let polygon_ms = t_poly.elapsed().as_secs_f64() * 1000.0;
        let edges = extras
            .keep_edges
            .then(|| self.reached_edges(&stretches, limit_s));
        let grid = if extras.keep_grid {
            Some((grid, proj))
        } else {
            buf.grid = grid.values;
            None
        };
        let stretches = if extras.keep_stretches {
            let mut s = stretches;
            reach::sort_by_road(&mut s);
            Some(s)
        } else {
            buf.parts[0].stretches = stretches;
            None
        };
        scratch.polygon = buf;
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
            stretches,
        })
    }

    /// Samples the roads of one part of the settled nodes ([`reach::Visits::Split`]) into
    /// `part.samples` (and its stretches into `part.stretches` when `keep_stretches`); returns
    /// the road length (m) reached within each threshold (s), and the part's nodes reached
    /// within each limit (ms) with whether one of them is on the extract's border.
    #[allow(clippy::too_many_arguments)]
    fn sample_part(
        &self,
        proj: &LocalProjection,
        reached: &stamp::Reached,
        reach: &reach::Reach,
        with_origins: bool,
        thresholds: &[f64],
        limits_ms: &[TimeMs],
        cell_m: f64,
        keep_stretches: bool,
        part: &mut SamplePart,
    ) -> (Vec<f64>, Vec<(usize, bool)>) {
        let mut reached_nodes = vec![(0, false); limits_ms.len()];
        for &n in reached.nodes {
            let t = reach.scratch.time(n);
            let border = self.graph.node_flags[n as usize] & node_flags::BORDER != 0;
            for (count, &limit) in reached_nodes.iter_mut().zip(limits_ms) {
                if t <= limit {
                    *count = (count.0 + 1, count.1 | border);
                }
            }
        }
        // The part's arrays are moved here for the pass, so that two parts running side by side
        // do not write to one cache line (their vectors' lengths are neighbours in the buffers).
        let SamplePart {
            mut samples,
            mut stretches,
            mut road_group,
        } = std::mem::take(part);
        stretches.clear();
        let mut sampler = stamp::RoadSampler::new(
            self.graph,
            proj,
            reached,
            reach.limit,
            cell_m,
            thresholds,
            &mut samples,
        );
        let reverse = (reach.direction == Direction::Arrive).then(|| self.reverse());
        reach::for_each_road(
            self.graph,
            reverse,
            reach,
            reach::Visits::Split { with_origins },
            &mut road_group,
            |group| {
                sampler.road(group);
                if keep_stretches {
                    stretches.extend_from_slice(group);
                }
            },
        );
        let road_m = sampler.finish();
        *part = SamplePart {
            samples,
            stretches,
            road_group,
        };
        (road_m, reached_nodes)
    }

    /// Every reached road stretch within `limit_s`, cut where time runs out (ferries included:
    /// they are part of the trip even though they are not drawn into polygons).
    pub fn reached_edges(&self, stretches: &[Stretch], limit_s: f64) -> Vec<ReachedEdge> {
        let g = self.graph;
        stretches
            .iter()
            .filter(|s| s.t_anchor <= limit_s)
            .filter_map(|s| {
                let road = s.road as usize;
                let full_end = if s.toward_end { 1.0 } else { 0.0 };
                let share = (full_end - s.anchor).abs();
                let (coords, t_end, full) = reach::cut_polyline(
                    g.road_geometry(road),
                    s.anchor,
                    full_end,
                    s.t_anchor,
                    s.t_anchor + s.w * share,
                    limit_s,
                );
                (coords.len() >= 2).then(|| ReachedEdge {
                    way_id: g.road_way_id[road],
                    class: g.road_class(road).as_str(),
                    t_from_s: s.t_anchor,
                    t_to_s: t_end,
                    full,
                    coords,
                })
            })
            .collect()
    }
}

/// A city's snapped origins as search sources' snaps, all with label 0 (one city).
fn labelled_snaps(origins: &[SnappedOrigin]) -> Vec<(Snapped, u32)> {
    origins.iter().map(|o| (o.snap, 0)).collect()
}

/// Mean position of the origins (the projection centre).
pub fn centroid(origins: &[OriginSpec]) -> (f64, f64) {
    let n = origins.len().max(1) as f64;
    (
        origins.iter().map(|o| o.lon).sum::<f64>() / n,
        origins.iter().map(|o| o.lat).sum::<f64>() / n,
    )
}
