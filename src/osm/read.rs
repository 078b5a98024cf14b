//! Reading an extract into a routing graph with as few passes over the file as possible.
//!
//! PBF files are normally sorted nodes → ways → relations. We locate the two transitions with a
//! binary search over blobs that probes only the first key of each blob's first group (a prefix
//! of the zlib stream, no element decoded; [`super::pbf::Blobs::probe_kinds`]), then decode
//!
//! 1. the relation blobs: administrative boundaries and the ids of their member ways;
//! 2. the way blobs: road ways for the profile (node refs kept as OSM ids in one flat array) and
//!    the boundary member ways;
//! 3. the node blobs: coordinates of just the referenced nodes (a sorted id array and a flat
//!    coordinate array, no hash map of all nodes), plus `place=*` nodes.
//!
//! So each blob is decoded once, and memory grows with the road network, not with the file. Every
//! phase checks the element types it meets; a file that turns out not to be sorted is read again
//! in the general (slower) order, with a warning.

use super::block::{zigzag, RawBlock, RawElement, RawTags};
use super::boundary::{assemble, MemberWay};
use super::ids::IdIndex;
use super::pbf::{Blobs, Kinds, PbfError, PbfFile};
use super::profile::{AreaType, DefaultSpeedTable, Profile, WayRule};
use super::tags::parse_population;
use crate::geom::{BBox, CoordE7};
use crate::graph::build::{
    build_graph, BuildInput, BuildOptions, BuildWay, Segment, SpeedModel, MISSING,
};
use crate::graph::{
    AdminBoundary, GraphMeta, ImportStats, Place, RoadClass, RoadGraph, SourceInfo,
};
use crate::progress::Progress;
use osmpbf::{Element, RelMemberType};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Errors of the import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Pbf(#[from] PbfError),
    #[error(
        "{path}: importing needs about {} of memory ({why}), more than the {} allowed \
         (--max-memory; default: the memory available now); use a smaller extract, a machine with \
         more memory, or raise --max-memory",
        human_bytes(*needed),
        human_bytes(*limit)
    )]
    Memory {
        path: String,
        needed: u64,
        limit: u64,
        why: String,
    },
    #[error(
        "{path}: no usable roads for profile '{profile}' ({ways} ways read, {road_ways} road ways, \
         {nodes} nodes read){hint}"
    )]
    NoRoads {
        path: String,
        profile: String,
        ways: u64,
        road_ways: u64,
        nodes: u64,
        hint: String,
    },
}

/// Options of an import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub profile: Profile,
    pub min_component_nodes: u32,
    pub border_margin_m: f64,
    /// Refuse the import, early and with an estimate, when it would need more memory than this
    /// (bytes). `None`: the memory available when the import starts.
    pub max_memory: Option<u64>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            profile: Profile::car(),
            min_component_nodes: 50,
            border_margin_m: 1000.0,
            max_memory: None,
        }
    }
}

/// Bytes of peak memory per way→node reference of the roads (and boundary ways) kept, measured
/// on the province mosaic (2.5 GB for 26 M references) and rounded up.
const BYTES_PER_REF: u64 = 100;
/// Smallest peak memory per byte of PBF: a file whose every way is a road needs about 15× its
/// size; a full extract (buildings, land use) much less. Used before the file is read.
const MIN_BYTES_PER_PBF_BYTE: u64 = 4;

/// Memory available now (Linux `MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `1.2 GB`, `340 MB`.
pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

/// Tags we keep from boundary relations.
const BOUNDARY_CODE_KEYS: &[&str] = &[
    "ref",
    "ISO3166-1",
    "ISO3166-1:alpha2",
    "ISO3166-2",
    "wikidata",
    "ref:gb",
    "ref:nuts",
    "ref:INSEE",
    "ref:ine",
    "ref:gss",
    "de:amtlicher_gemeindeschluessel",
    "tiger:GEOID",
    "gnis:feature_id",
    "dicofre",
    "border_type",
];

#[derive(Default)]
struct RelationRec {
    id: i64,
    tags: Vec<(String, String)>,
    ways: Vec<i64>,
    admin_centre: Option<i64>,
    label: Option<i64>,
}

#[derive(Default)]
struct RelationPhase {
    boundaries: Vec<RelationRec>,
    relations: u64,
    restrictions: u64,
    nodes: u64,
    ways: u64,
}

struct RoadWayRec {
    id: i64,
    rule: WayRule,
    refs_len: u32,
}

/// What the way pass keeps of one blob.
#[derive(Default)]
struct WayPhase {
    roads: Vec<RoadWayRec>,
    refs: Vec<i64>,
    boundary_ways: Vec<(i64, Vec<i64>)>,
    ways: u64,
    nodes: u64,
    relations: u64,
}

/// What the way pass keeps of the file: the blobs' road records and refs as they were read,
/// in file order, not appended into one array (the later stages read the parts; appending
/// them copied 400 MB on the province mosaic, the road records on one core).
#[derive(Default)]
struct WaysRead {
    road_parts: Vec<Vec<RoadWayRec>>,
    ref_parts: Vec<Vec<i64>>,
    boundary_ways: Vec<(i64, Vec<i64>)>,
    ways: u64,
    nodes: u64,
    relations: u64,
}

impl WaysRead {
    fn roads(&self) -> impl Iterator<Item = &RoadWayRec> {
        self.road_parts.iter().flatten()
    }
    fn road_count(&self) -> usize {
        self.road_parts.iter().map(Vec::len).sum()
    }
    fn ref_count(&self) -> usize {
        self.ref_parts.iter().map(Vec::len).sum()
    }
    fn ref_parts(&self) -> Vec<&[i64]> {
        self.ref_parts.iter().map(Vec::as_slice).collect()
    }
}

#[derive(Default)]
struct NodePhase {
    places: Vec<Place>,
    named: Vec<(i64, Option<String>)>,
    nodes: u64,
    invalid: u64,
    /// A few ids of nodes with invalid coordinates, for messages.
    invalid_examples: Vec<i64>,
    ways: u64,
    relations: u64,
}

/// Refuses an import estimated to need more memory than `limit` (if any), saying `why`.
fn check_memory(
    path: &Path,
    limit: Option<u64>,
    needed: u64,
    why: impl FnOnce() -> String,
) -> Result<(), ImportError> {
    match limit {
        Some(limit) if needed > limit => Err(ImportError::Memory {
            path: path.display().to_string(),
            needed,
            limit,
            why: why(),
        }),
        _ => Ok(()),
    }
}

/// Imports an extract into a routing graph.
pub fn import_pbf(
    path: &Path,
    opts: &ImportOptions,
    progress: &Progress,
) -> Result<RoadGraph, ImportError> {
    let started = Instant::now();
    let file = PbfFile::open(path)?;
    let limit = opts.max_memory.or_else(available_memory);
    check_memory(
        path,
        limit,
        file.size_bytes.saturating_mul(MIN_BYTES_PER_PBF_BYTE),
        || {
            format!(
                "at least {MIN_BYTES_PER_PBF_BYTE}× the {} file",
                human_bytes(file.size_bytes)
            )
        },
    )?;
    let blobs = file.blobs()?;
    let n = blobs.data.len();
    let profile = &opts.profile;

    let stage = Instant::now();
    let bar = progress.bar(n as u64, "reading");
    let read = match read_elements(&blobs, profile, false, &bar, limit, path)? {
        Some(read) => read,
        None => {
            progress.note(
                "the file is not sorted by type (nodes, then ways, then relations): reading it \
                 three times; `osmium sort` makes imports faster",
            );
            bar.set_position(0);
            bar.set_length(3 * n as u64);
            read_elements(&blobs, profile, true, &bar, limit, path)?
                .expect("the general order always succeeds")
        }
    };
    bar.finish_and_clear();
    // The file is read: unmap it before the build, which is where memory peaks (its pages count
    // toward the process's resident memory while mapped).
    let header = blobs.header.clone();
    let size_bytes = file.size_bytes;
    let source_crc32 = file.crc32();
    drop(blobs);
    drop(file);
    let Elements {
        rel,
        mut ways,
        nodes,
        needed,
        node_coords,
        rel_nodes: _,
        sorted,
    } = read;

    let ways_read = ways.ways;
    let mut stats = ImportStats {
        threads: if reproducible() {
            0
        } else {
            rayon::current_num_threads()
        },
        blobs: n,
        sorted_by_type: sorted,
        ways_read,
        nodes_read: nodes.nodes,
        relations_read: rel.relations,
        road_ways: ways.road_count() as u64,
        ferry_ways: ways
            .roads()
            .filter(|w| w.rule.class == RoadClass::Ferry)
            .count() as u64,
        invalid_coordinates: nodes.invalid,
        min_component_nodes: opts.min_component_nodes,
        border_margin_m: opts.border_margin_m,
        turn_restrictions_seen: rel.restrictions,
        ..Default::default()
    };

    if ways.road_count() == 0 {
        return Err(ImportError::NoRoads {
            path: path.display().to_string(),
            profile: profile.name.clone(),
            ways: ways.ways,
            road_ways: 0,
            nodes: nodes.nodes,
            hint: if ways.ways == 0 {
                ": the file has no ways at all".into()
            } else {
                ": no way has a highway tag this profile can use".into()
            },
        });
    }

    // Map way refs to indices into `needed`.
    let read_seconds = stage.elapsed().as_secs_f64();
    let stage = Instant::now();
    let spinner = progress.spinner("building graph");
    let laps = crate::progress::Laps::from_env_with_memory("import");
    let refs_idx = IdIndex::new(&needed).positions(&ways.ref_parts());
    // The OSM ids of the refs are not needed past this point (the build reads indices).
    let refs_read = ways.ref_count();
    ways.ref_parts = Vec::new();
    laps.lap("way refs to node indices");
    let mut build_ways = Vec::with_capacity(ways.road_count());
    let mut start = 0u32;
    for w in ways.roads() {
        build_ways.push(BuildWay {
            osm_id: w.id,
            class: w.rule.class,
            forward: w.rule.forward,
            backward: w.rule.backward,
            refs_start: start,
            refs_len: w.refs_len,
        });
        start += w.refs_len;
    }

    // Urban / suburban / rural from road density: the grid is filled by the build's first pass
    // over the ways (`SpeedModel::see_way_segments`), which reads every segment anyway.
    let mut speed_model = ProfileSpeeds {
        profile,
        defaults: profile.default_speed_table(),
        rules: crate::parallel::par_concat_map(&ways.road_parts, |w: &RoadWayRec| w.rule),
        ferry: crate::parallel::par_concat_map(&ways.road_parts, |w: &RoadWayRec| {
            w.rule.class == RoadClass::Ferry
        }),
        density: DensityGrid::new(&node_coords),
    };
    laps.lap("road density grid, speed rules");
    // Everything the build needs of the road ways is in `build_ways` and the rules now.
    let road_ways_read = ways.road_count() as u64;
    ways.road_parts = Vec::new();
    let extract_bbox = header
        .bbox
        .map(|b| BBox {
            min_lon: b[0],
            min_lat: b[1],
            max_lon: b[2],
            max_lat: b[3],
        })
        .or_else(|| {
            let b = BBox::par_of(&node_coords, |c| (*c != MISSING).then_some(*c));
            (!b.is_empty()).then_some(b)
        });
    // Boundaries, before the build: they read the node ids and coordinates, and the build
    // takes the ids (it frees them once its nodes are numbered, before memory peaks).
    let named: HashMap<i64, Option<String>> = nodes.named.into_iter().collect();
    let member_lookup: HashMap<i64, &Vec<i64>> = ways
        .boundary_ways
        .iter()
        .map(|(id, refs)| (*id, refs))
        .collect();
    let coord_of = |id: i64| -> Option<CoordE7> {
        needed
            .binary_search(&id)
            .ok()
            .map(|i| node_coords[i])
            .filter(|c| *c != MISSING)
    };
    let mut boundaries: Vec<AdminBoundary> = rel
        .boundaries
        .par_iter()
        .map(|b| {
            let members: Vec<MemberWay> = b
                .ways
                .iter()
                .map(|w| match member_lookup.get(w) {
                    Some(refs) => MemberWay {
                        node_ids: refs.as_slice(),
                        coords: refs.iter().map(|&id| coord_of(id)).collect(),
                    },
                    None => MemberWay {
                        node_ids: &[],
                        coords: vec![None],
                    },
                })
                .collect();
            let missing_members = members.iter().filter(|m| m.node_ids.is_empty()).count() as u32;
            let assembled = assemble(&members);
            let tag = |k: &str| {
                b.tags
                    .iter()
                    .find(|(kk, _)| kk == k)
                    .map(|(_, v)| v.clone())
            };
            AdminBoundary {
                osm_id: b.id,
                admin_level: tag("admin_level").and_then(|v| v.trim().parse().ok()),
                name: tag("name"),
                name_zh: tag("name:zh").or_else(|| tag("name:zh-Hans")),
                name_en: tag("name:en"),
                codes: b
                    .tags
                    .iter()
                    .filter(|(k, _)| BOUNDARY_CODE_KEYS.contains(&k.as_str()))
                    .cloned()
                    .collect::<BTreeMap<_, _>>(),
                population: tag("population").and_then(|v| parse_population(&v)),
                admin_centre: b.admin_centre.and_then(|id| {
                    coord_of(id).map(|c| (id, c, named.get(&id).cloned().flatten()))
                }),
                label: b.label.and_then(coord_of),
                polygons: assembled.polygons,
                broken_rings: assembled.broken_rings + missing_members,
                open_chains: assembled.open_chains,
            }
        })
        .collect();
    boundaries.sort_by_key(|b| b.osm_id);
    laps.lap("boundaries");
    let input = BuildInput {
        node_ids: needed,
        node_coords: &node_coords,
        ways: &build_ways,
        refs: refs_idx,
    };
    let build_opts = BuildOptions {
        min_component_nodes: opts.min_component_nodes,
        border_margin_m: opts.border_margin_m,
        extract_bbox,
    };
    laps.lap("build inputs");
    let (mut graph, bstats) = build_graph(input, &mut speed_model, &build_opts);
    laps.lap("graph build (total)");
    stats.missing_node_refs = bstats.missing_node_refs;
    stats.clipped_ways = bstats.clipped_ways;
    stats.dropped_ways = bstats.dropped_ways;
    stats.nodes_before_contraction = bstats.nodes_before_contraction;
    stats.contracted_nodes = bstats.contracted_nodes;
    stats.island_components_dropped = bstats.island_components_dropped;
    stats.island_nodes_dropped = bstats.island_nodes_dropped;
    stats.island_edges_dropped = bstats.island_edges_dropped;
    // Area type shares, from the same density model the speeds used: fixed blocks of roads on
    // all cores, their sums added in block order (the same figures whatever the thread count).
    let km = {
        const BLOCK: usize = 1 << 16;
        let parts: Vec<[f64; 3]> = graph
            .road_length_m
            .par_chunks(BLOCK)
            .enumerate()
            .map(|(b, lengths)| {
                let mut km = [0f64; 3];
                for (j, &len) in lengths.iter().enumerate() {
                    let g = graph.road_geometry(b * BLOCK + j);
                    let k = match profile.area_type(speed_model.density.at(g[g.len() / 2])) {
                        AreaType::Urban => 0,
                        AreaType::Suburban => 1,
                        AreaType::Rural => 2,
                    };
                    km[k] += len as f64 / 1000.0;
                }
                km
            })
            .collect();
        parts
            .iter()
            .fold([0f64; 3], |a, p| [a[0] + p[0], a[1] + p[1], a[2] + p[2]])
    };
    for (k, name) in ["urban", "suburban", "rural"].into_iter().enumerate() {
        if km[k] > 0.0 {
            stats.km_by_area_type.insert(name.into(), km[k]);
        }
    }
    laps.lap("area types");
    spinner.finish_and_clear();

    if graph.num_nodes() == 0 {
        return Err(ImportError::NoRoads {
            path: path.display().to_string(),
            profile: profile.name.clone(),
            ways: ways.ways,
            road_ways: road_ways_read,
            nodes: nodes.nodes,
            hint: if nodes.invalid > 0 {
                format!(
                    ": none of their {} node references has valid coordinates ({} nodes lie outside \
                     WGS-84, e.g. {})",
                    refs_read,
                    nodes.invalid,
                    examples(&nodes.invalid_examples)
                )
            } else {
                format!(
                    ": none of their {} node references is in the file",
                    refs_read
                )
            },
        });
    }
    if stats.missing_node_refs > 0 {
        stats.warnings.push(format!(
            "{} way→node references point to nodes missing from the extract (ways cut at its edge); \
             {} road ways were clipped to the parts present and {} dropped",
            stats.missing_node_refs, stats.clipped_ways, stats.dropped_ways
        ));
    }
    if nodes.invalid > 0 {
        stats.warnings.push(format!(
            "{} nodes have coordinates outside WGS-84 and were ignored, e.g. {}",
            nodes.invalid,
            examples(&nodes.invalid_examples)
        ));
    }

    let build_seconds = stage.elapsed().as_secs_f64();
    let stage = Instant::now();
    laps.restart();
    // Places.
    let mut places = nodes.places;
    places.sort_by_key(|p| p.osm_id);
    places.dedup_by_key(|p| p.osm_id);
    stats.places = places.len() as u64;
    graph.places = places;

    stats.boundaries = boundaries.len() as u64;
    stats.boundary_broken_rings = boundaries.iter().map(|b| b.broken_rings as u64).sum();
    stats.boundaries_without_polygon =
        boundaries.iter().filter(|b| b.polygons.is_empty()).count() as u64;
    if stats.boundary_broken_rings > 0 {
        let examples: Vec<String> = boundaries
            .iter()
            .filter(|b| b.broken_rings > 0)
            .take(5)
            .map(|b| format!("relation/{} {}", b.osm_id, b.label()))
            .collect();
        stats.warnings.push(format!(
            "{} boundary rings could not be closed (members missing from the extract or not joined), e.g. {}",
            stats.boundary_broken_rings,
            examples.join(", ")
        ));
    }
    graph.boundaries = boundaries;
    laps.lap("places and boundaries");

    if !reproducible() {
        stats.stage_seconds = [
            ("read", read_seconds),
            ("build", build_seconds),
            ("places_and_boundaries", stage.elapsed().as_secs_f64()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    }
    // Meta.
    // Per class code first (a name per road was 4.6 million small strings on a province), in
    // road order as before: the same sums.
    let mut km_by_code = [0f64; 256];
    let mut seen = [false; 256];
    for (&code, &len) in graph.road_class.iter().zip(graph.road_length_m.iter()) {
        // Codes the graph does not know count as `road`, as `RoadGraph::road_class` reads them.
        let code = RoadClass::from_u8(code).map_or(RoadClass::Road as u8, |_| code);
        km_by_code[code as usize] += len as f64 / 1000.0;
        seen[code as usize] = true;
    }
    let km_by_class: BTreeMap<String, f64> = (0..=255u8)
        .filter(|&c| seen[c as usize])
        .filter_map(|c| {
            RoadClass::from_u8(c).map(|rc| (rc.as_str().to_string(), km_by_code[c as usize]))
        })
        .collect();
    stats.import_seconds = if reproducible() {
        0.0
    } else {
        started.elapsed().as_secs_f64()
    };
    stats.imported_at = crate::output::timestamp_utc();
    graph.meta = GraphMeta {
        metroreach_version: env!("CARGO_PKG_VERSION").to_string(),
        source: SourceInfo {
            file_name: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size_bytes,
            crc32: source_crc32,
            header_bbox: header.bbox,
            writing_program: header.writing_program,
            replication_timestamp: header.replication_timestamp,
        },
        profile_name: profile.name.clone(),
        profile_toml: profile.to_toml(),
        import: stats,
        bbox: Some(graph.bbox()),
        km_by_class,
    };
    laps.lap("meta (km by class, source checksum, bbox)");
    Ok(graph)
}

/// Everything read from the file.
struct Elements {
    rel: RelationPhase,
    ways: WaysRead,
    nodes: NodePhase,
    needed: Vec<i64>,
    node_coords: Vec<CoordE7>,
    #[allow(dead_code)]
    rel_nodes: Vec<i64>,
    sorted: bool,
}

/// Runs the three phases. With `general = false` it assumes a file sorted by type and returns
/// `None` if the element kinds met contradict that; with `general = true` every phase reads every
/// blob.
fn read_elements(
    blobs: &Blobs,
    profile: &Profile,
    general: bool,
    bar: &indicatif::ProgressBar,
    limit: Option<u64>,
    path: &Path,
) -> Result<Option<Elements>, ImportError> {
    let laps = crate::progress::Laps::from_env_with_memory("read");
    let n = blobs.data.len();
    let all: Vec<usize> = (0..n).collect();
    let (rel_blobs, way_blobs, node_blobs, f, r) = if general {
        (all.clone(), all.clone(), all.clone(), 0, 0)
    } else {
        // Blob kinds are monotone in a sorted file: binary search for the first blob holding
        // ways or relations (f) and the first holding relations (r). The probes read only each
        // blob's first group; a blob may start with one kind and go on with the next, so the
        // blob before each boundary found is then read whole. Any other f ≤ r would only cost
        // speed: the phases check every blob's kinds and fall back to reading all blobs.
        let full = |i: usize| -> Result<Kinds, PbfError> {
            match blobs.probe_kinds(i, false) {
                Some(k) => Ok(k),
                None => blobs.with_block(i, Kinds::of),
            }
        };
        let first = |i: usize| -> Result<Kinds, PbfError> {
            match blobs.probe_kinds(i, true) {
                Some(k) => Ok(k),
                None => full(i),
            }
        };
        let first_true = |pred: &dyn Fn(Kinds) -> bool, lo: usize| -> Result<usize, PbfError> {
            let (mut lo, mut hi) = (lo, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if pred(first(mid)?) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            Ok(lo)
        };
        let back_one = |b: usize, lo: usize, pred: &dyn Fn(Kinds) -> bool| {
            if b > lo && pred(full(b - 1)?) {
                Ok::<usize, PbfError>(b - 1)
            } else {
                Ok(b)
            }
        };
        let data = |k: Kinds| k.ways || k.relations;
        let f = back_one(first_true(&data, 0)?, 0, &data)?;
        let rels = |k: Kinds| k.relations;
        let r = back_one(first_true(&rels, f)?, f, &rels)?;
        (
            (r.min(n)..n).collect(),
            (f.min(n)..(r + 1).min(n)).collect(),
            (0..(f + 1).min(n)).collect(),
            f,
            r,
        )
    };

    laps.lap("locate node/way/relation blobs");
    let (rel, rel_kinds) = relation_phase(blobs, &rel_blobs, bar)?;
    laps.lap("relations");
    let member_ways = member_way_ids(&rel);
    let (ways, way_kinds) = way_phase(blobs, &way_blobs, profile, &member_ways, bar)?;
    laps.lap("ways");
    if !general {
        // Relations range: only its first blob (r) may hold ways, and nodes only if it is also
        // the node→way transition blob (f).
        let bad_rel = rel_blobs
            .iter()
            .zip(&rel_kinds)
            .any(|(&i, k)| (k.nodes && i != f) || (k.ways && i != r));
        // Ways range: nodes only in f, relations only in r.
        let bad_way = way_blobs
            .iter()
            .zip(&way_kinds)
            .any(|(&i, k)| (k.nodes && i != f) || (k.relations && i != r));
        if bad_rel || bad_way {
            return Ok(None);
        }
    }

    // Now the size of the road network is known: check the memory it will need before the
    // heavy part (node coordinates and the graph build).
    let refs_total = ways.ref_count() as u64
        + ways
            .boundary_ways
            .iter()
            .map(|w| w.1.len() as u64)
            .sum::<u64>();
    check_memory(path, limit, refs_total * BYTES_PER_REF + 50_000_000, || {
        format!(
            "{refs_total} node references of {} road ways",
            ways.road_count()
        )
    })?;

    // Node ids needed: road refs, boundary member way refs, admin_centre/label nodes.
    let rel_nodes: Vec<i64> = {
        let mut v: Vec<i64> = rel
            .boundaries
            .iter()
            .flat_map(|b| b.admin_centre.into_iter().chain(b.label))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    // Copied on all cores (205 MB of refs on the province mosaic).
    let parts: Vec<&[i64]> = ways
        .ref_parts()
        .into_iter()
        .chain(ways.boundary_ways.iter().map(|(_, refs)| refs.as_slice()))
        .chain(std::iter::once(rel_nodes.as_slice()))
        .collect();
    let needed = super::ids::sorted_unique(crate::parallel::par_concat(&parts));

    laps.lap("needed node ids (sort, dedup)");
    let coords: Vec<AtomicU64> = (0..needed.len())
        .into_par_iter()
        .map(|_| AtomicU64::new(u64::MAX))
        .collect();
    let (nodes, node_kinds) = node_phase(blobs, &node_blobs, &needed, &coords, &rel_nodes, bar)?;
    laps.lap("nodes (coordinates of needed ids)");
    if !general
        && node_blobs
            .iter()
            .zip(&node_kinds)
            .any(|(&i, k)| (k.ways || k.relations) && i != f)
    {
        return Ok(None);
    }
    let node_coords: Vec<CoordE7> = coords
        .into_par_iter()
        .map(|a| unpack(a.into_inner()))
        .collect();
    Ok(Some(Elements {
        rel,
        ways,
        nodes,
        needed,
        node_coords,
        rel_nodes,
        sorted: !general,
    }))
}

fn member_way_ids(rel: &RelationPhase) -> Vec<i64> {
    let mut v: Vec<i64> = rel
        .boundaries
        .iter()
        .flat_map(|b| b.ways.iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn relation_phase(
    blobs: &Blobs,
    idx: &[usize],
    bar: &indicatif::ProgressBar,
) -> Result<(RelationPhase, Vec<Kinds>), PbfError> {
    let parts: Vec<(RelationPhase, Kinds)> = idx
        .par_iter()
        .map(|&i| {
            let r = blobs.with_block(i, |block| {
                let mut out = RelationPhase::default();
                for g in block.groups() {
                    out.nodes += g.dense_nodes().count() as u64 + g.nodes().count() as u64;
                    out.ways += g.ways().count() as u64;
                    for rel in g.relations() {
                        out.relations += 1;
                        let mut is_boundary = false;
                        let mut is_area_type = false;
                        let mut tags = Vec::new();
                        for (k, v) in rel.tags() {
                            match k {
                                "boundary" => is_boundary = v == "administrative",
                                "type" => {
                                    is_area_type = v == "boundary" || v == "multipolygon";
                                    if v == "restriction" || v.starts_with("restriction:") {
                                        out.restrictions += 1;
                                    }
                                }
                                _ => {}
                            }
                            if matches!(
                                k,
                                "admin_level"
                                    | "name"
                                    | "name:zh"
                                    | "name:zh-Hans"
                                    | "name:en"
                                    | "population"
                            ) || BOUNDARY_CODE_KEYS.contains(&k)
                            {
                                tags.push((k.to_string(), v.to_string()));
                            }
                        }
                        if !(is_boundary && is_area_type) {
                            continue;
                        }
                        let mut rec = RelationRec {
                            id: rel.id(),
                            tags,
                            ..Default::default()
                        };
                        for m in rel.members() {
                            let role = m.role().unwrap_or("");
                            match m.member_type {
                                RelMemberType::Way
                                    if matches!(
                                        role,
                                        "outer" | "inner" | "" | "enclave" | "exclave"
                                    ) =>
                                {
                                    rec.ways.push(m.member_id)
                                }
                                RelMemberType::Node if role == "admin_centre" => {
                                    rec.admin_centre = Some(m.member_id)
                                }
                                RelMemberType::Node if role == "label" => {
                                    rec.label = Some(m.member_id)
                                }
                                _ => {}
                            }
                        }
                        out.boundaries.push(rec);
                    }
                }
                (out, Kinds::of(block))
            });
            bar.inc(1);
            r
        })
        .collect::<Result<_, _>>()?;
    let mut out = RelationPhase::default();
    let kinds = parts.iter().map(|p| p.1).collect();
    for (p, _) in parts {
        out.boundaries.extend(p.boundaries);
        out.relations += p.relations;
        out.restrictions += p.restrictions;
        out.nodes += p.nodes;
        out.ways += p.ways;
    }
    Ok((out, kinds))
}

fn way_phase(
    blobs: &Blobs,
    idx: &[usize],
    profile: &Profile,
    member_ways: &[i64],
    bar: &indicatif::ProgressBar,
) -> Result<(WaysRead, Vec<Kinds>), PbfError> {
    // One way: its tags and its delta-coded node ids.
    let take_way = |out: &mut WayPhase,
                    id: i64,
                    tags: &[(&str, &str)],
                    deltas: &mut dyn Iterator<Item = i64>| {
        out.ways += 1;
        let road = profile.evaluate_way(&super::profile::IndexedTags::new(tags));
        let boundary = member_ways.binary_search(&id).is_ok();
        if road.is_none() && !boundary {
            return;
        }
        let before = out.refs.len();
        let mut acc = 0i64;
        for d in deltas {
            acc = acc.wrapping_add(d);
            out.refs.push(acc);
        }
        if boundary {
            out.boundary_ways.push((id, out.refs[before..].to_vec()));
        }
        match road {
            Some(rule) => out.roads.push(RoadWayRec {
                id,
                rule,
                refs_len: (out.refs.len() - before) as u32,
            }),
            None => out.refs.truncate(before),
        }
    };
    let parts: Vec<(WayPhase, Kinds)> = idx
        .par_iter()
        .map(|&i| {
            // In place when the blob allows it, else through osmpbf.
            let fast = |block: &RawBlock| {
                let mut out = WayPhase::default();
                let mut tags: Vec<(&str, &str)> = Vec::with_capacity(16);
                let kinds = block.for_each(|el| match el {
                    RawElement::Node { .. } => out.nodes += 1,
                    RawElement::Relation => out.relations += 1,
                    RawElement::Way { id, tags: t, refs } => {
                        tags.clear();
                        tags.extend(block.tags(t));
                        take_way(&mut out, id, &tags, &mut refs.map(zigzag));
                    }
                })?;
                Some((out, kinds))
            };
            let r = blobs.with_either(i, fast, |block| {
                let mut out = WayPhase::default();
                let mut tags: Vec<(&str, &str)> = Vec::with_capacity(16);
                for g in block.groups() {
                    out.nodes += g.dense_nodes().count() as u64 + g.nodes().count() as u64;
                    out.relations += g.relations().count() as u64;
                    for way in g.ways() {
                        tags.clear();
                        tags.extend(way.tags());
                        let mut deltas = way.raw_refs().iter().copied();
                        take_way(&mut out, way.id(), &tags, &mut deltas);
                    }
                }
                (out, Kinds::of(block))
            });
            bar.inc(1);
            r
        })
        .collect::<Result<_, _>>()?;
    let mut out = WaysRead::default();
    let kinds = parts.iter().map(|p| p.1).collect();
    for (p, _) in parts {
        out.road_parts.push(p.roads);
        out.ref_parts.push(p.refs);
        out.boundary_ways.extend(p.boundary_ways);
        out.ways += p.ways;
        out.nodes += p.nodes;
        out.relations += p.relations;
    }
    out.boundary_ways.sort_by_key(|w| w.0);
    out.boundary_ways.dedup_by_key(|w| w.0);
    Ok((out, kinds))
}

/// Packs a coordinate so that `fetch_min` keeps a deterministic value for duplicate node ids and
/// `u64::MAX` means "not seen".
fn pack(c: CoordE7) -> u64 {
    ((c.lon as u32 ^ 0x8000_0000) as u64) << 32 | (c.lat as u32 ^ 0x8000_0000) as u64
}

fn unpack(v: u64) -> CoordE7 {
    if v == u64::MAX {
        return MISSING;
    }
    CoordE7 {
        lon: ((v >> 32) as u32 ^ 0x8000_0000) as i32,
        lat: (v as u32 ^ 0x8000_0000) as i32,
    }
}

/// The node pass's work on one node of one blob (a closure because it keeps a cursor into
/// `needed` across the blob's nodes): its coordinate if a road or boundary needs it, its tags if
/// it is a place or a boundary's centre or label. `tagged` says whether it may be a place;
/// `get_tags` gives its tags.
#[allow(clippy::type_complexity)]
fn node_visitor<'n>(
    needed: &'n [i64],
    coords: &'n [AtomicU64],
    rel_nodes: &'n [i64],
) -> impl FnMut(i64, i64, i64, bool, &mut NodePhase, &dyn Fn() -> Vec<(String, String)>) + 'n {
    let mut cursor = 0usize;
    let mut last_id = i64::MIN;
    move |id: i64,
          nano_lon: i64,
          nano_lat: i64,
          tagged: bool,
          out: &mut NodePhase,
          get_tags: &dyn Fn() -> Vec<(String, String)>| {
        out.nodes += 1;
        if id < last_id {
            cursor = needed.partition_point(|&x| x < id);
        } else {
            if cursor < needed.len() && needed[cursor] < id {
                // Gallop, then binary search inside the bracket.
                let mut step = 1usize;
                let mut hi = cursor + 1;
                while hi < needed.len() && needed[hi] < id {
                    cursor = hi;
                    step *= 2;
                    hi = cursor + step;
                }
                let hi = hi.min(needed.len());
                cursor += needed[cursor..hi].partition_point(|&x| x < id);
            }
        }
        last_id = id;
        let lon = nano_lon / 100;
        let lat = nano_lat / 100;
        let valid = (-1_800_000_000..=1_800_000_000).contains(&lon)
            && (-900_000_000..=900_000_000).contains(&lat);
        let c = CoordE7 {
            lon: lon.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            lat: lat.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        };
        if cursor < needed.len() && needed[cursor] == id {
            if valid {
                coords[cursor].fetch_min(pack(c), Ordering::Relaxed);
            } else {
                out.invalid += 1;
                if out.invalid_examples.len() < 5 {
                    out.invalid_examples.push(id);
                }
            }
        } else if !valid {
            return;
        }
        if !valid {
            return;
        }
        let is_rel_node = !rel_nodes.is_empty() && rel_nodes.binary_search(&id).is_ok();
        if !(tagged || is_rel_node) {
            return;
        }
        let tags = get_tags();
        let tag = |k: &str| tags.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        if is_rel_node {
            out.named.push((id, tag("name")));
        }
        if let Some(kind) = tag("place") {
            out.places.push(Place {
                osm_id: id,
                kind,
                name: tag("name"),
                name_zh: tag("name:zh").or_else(|| tag("name:zh-Hans")),
                name_en: tag("name:en"),
                population: tag("population").and_then(|v| parse_population(&v)),
                coord: c,
            });
        }
    }
}

fn node_phase(
    blobs: &Blobs,
    idx: &[usize],
    needed: &[i64],
    coords: &[AtomicU64],
    rel_nodes: &[i64],
    bar: &indicatif::ProgressBar,
) -> Result<(NodePhase, Vec<Kinds>), PbfError> {
    let parts: Vec<(NodePhase, Kinds)> = idx
        .par_iter()
        .map(|&i| {
            // In place when the blob allows it, else through osmpbf. Coordinates are only ever
            // lowered (`fetch_min`), so a blob given up half way and read again gives the same.
            let fast = |block: &RawBlock| {
                let mut out = NodePhase::default();
                let place_key = block.strings().iter().position(|s| *s == b"place");
                let mut visit = node_visitor(needed, coords, rel_nodes);
                let kinds = block.for_each(|el| match el {
                    RawElement::Node {
                        id,
                        nano_lon,
                        nano_lat,
                        tags,
                    } => {
                        // As osmpbf's accessors: a dense node's key indices, a plain node's
                        // key strings.
                        let tagged = match tags {
                            RawTags::Interleaved(_) => place_key.is_some_and(|pk| {
                                tags.indices().any(|(k, _)| usize::try_from(k) == Ok(pk))
                            }),
                            RawTags::Split { .. } => block.tags(tags).any(|(k, _)| k == "place"),
                        };
                        let get = || {
                            block
                                .tags(tags)
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect()
                        };
                        visit(id, nano_lon, nano_lat, tagged, &mut out, &get);
                    }
                    RawElement::Way { .. } => out.ways += 1,
                    RawElement::Relation => out.relations += 1,
                })?;
                Some((out, kinds))
            };
            let r = blobs.with_either(i, fast, |block| {
                let mut out = NodePhase::default();
                let strings = block.raw_stringtable();
                let place_key = strings.iter().position(|s| s.as_slice() == b"place");
                let mut visit = node_visitor(needed, coords, rel_nodes);
                block.for_each_element(|el| match el {
                    Element::DenseNode(d) => {
                        let tagged =
                            place_key.is_some_and(|pk| d.raw_tags().any(|(k, _)| k as usize == pk));
                        let get = || {
                            d.tags()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect()
                        };
                        visit(d.id(), d.nano_lon(), d.nano_lat(), tagged, &mut out, &get);
                    }
                    Element::Node(nd) => {
                        let tagged = nd.tags().any(|(k, _)| k == "place");
                        let get = || {
                            nd.tags()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect()
                        };
                        visit(
                            nd.id(),
                            nd.nano_lon(),
                            nd.nano_lat(),
                            tagged,
                            &mut out,
                            &get,
                        );
                    }
                    Element::Way(_) => out.ways += 1,
                    Element::Relation(_) => out.relations += 1,
                });
                (out, Kinds::of(block))
            });
            bar.inc(1);
            r
        })
        .collect::<Result<_, _>>()?;
    let mut out = NodePhase::default();
    let kinds = parts.iter().map(|p| p.1).collect();
    for (p, _) in parts {
        out.places.extend(p.places);
        out.named.extend(p.named);
        out.nodes += p.nodes;
        out.invalid += p.invalid;
        out.invalid_examples.extend(p.invalid_examples);
        out.ways += p.ways;
        out.relations += p.relations;
    }
    Ok((out, kinds))
}

/// Road density (km of street per km²) on a ~1 km grid, read over a 3 × 3 km window.
///
/// Cells are 1 km in latitude and 1 km in longitude at the grid's middle latitude; the grid is a
/// dense array over the network's bounding box, smoothed once (3 × 3 box sum), so a lookup is
/// one index. Country-sized networks whose box would exceed 64 M cells fall back to coarser
/// cells (the density is then averaged over a larger window).
pub struct DensityGrid {
    lon0: f64,
    lat0: f64,
    dlon: f64,
    dlat: f64,
    nx: usize,
    ny: usize,
    /// Cell size.
    km: f64,
    /// Street per cell, decimetres, while the segments are added.
    sum: Vec<AtomicU32>,
    /// km of street per km², averaged over the 3 × 3 window, once smoothed.
    smoothed: Vec<f32>,
}

impl DensityGrid {
    /// An empty grid over the box of `coords` (the nodes present), to be fed every segment
    /// ([`DensityGrid::add_way`]) and then smoothed ([`DensityGrid::smooth`]).
    fn new(coords: &[CoordE7]) -> DensityGrid {
        let b = BBox::par_of(coords, |c| (*c != MISSING).then_some(*c));
        let b = if b.is_empty() {
            BBox {
                min_lon: 0.0,
                min_lat: 0.0,
                max_lon: 0.0,
                max_lat: 0.0,
            }
        } else {
            b
        };
        let mid = ((b.min_lat + b.max_lat) / 2.0).to_radians().cos().max(0.05);
        let mut km = 1.0f64;
        let cells = |km: f64| {
            let nx = ((b.max_lon - b.min_lon) * KM_PER_DEG * mid / km).ceil() as usize + 3;
            let ny = ((b.max_lat - b.min_lat) * KM_PER_DEG / km).ceil() as usize + 3;
            (nx, ny)
        };
        while cells(km).0 * cells(km).1 > 64_000_000 {
            km *= 2.0;
        }
        let (nx, ny) = cells(km);
        let dlat = km / KM_PER_DEG;
        let dlon = km / (KM_PER_DEG * mid);
        DensityGrid {
            lon0: b.min_lon - dlon,
            lat0: b.min_lat - dlat,
            dlon,
            dlat,
            nx,
            ny,
            km,
            sum: (0..nx * ny)
                .into_par_iter()
                .map(|_| AtomicU32::new(0))
                .collect(),
            smoothed: Vec::new(),
        }
    }

    /// Adds each segment (its length) to the cell of its middle. Street length is summed per
    /// cell in whole decimetres: integer sums do not depend on the order they are added in, so
    /// ways come straight from any core (the build's first pass over the ways) and the grid is
    /// the same whatever the thread count. A cell would need 429,000 km of street to overflow.
    ///
    /// A way's consecutive segments mostly fall in one cell: their decimetres are added up
    /// here and the cell is updated once per run (the atomic update per segment was 40 % of
    /// the build's first pass on the province mosaic).
    fn add_way(&self, segments: &[Segment]) {
        let mut run: Option<(usize, u32)> = None; // cell, decimetres not yet added to it
        for s in segments {
            let (a, c) = (s.a, s.b);
            let (lon, lat) = ((a.lon() + c.lon()) / 2.0, (a.lat() + c.lat()) / 2.0);
            let i = ((lon - self.lon0) / self.dlon) as usize;
            let j = ((lat - self.lat0) / self.dlat) as usize;
            if i < self.nx && j < self.ny {
                // Rounded to the nearest decimetre (`as` truncates a positive value).
                let dm = (s.length_m * 10.0 + 0.5) as u32;
                let cell = j * self.nx + i;
                run = match run {
                    Some((at, sum)) if at == cell => Some((at, sum.wrapping_add(dm))),
                    Some((at, sum)) => {
                        self.sum[at].fetch_add(sum, Ordering::Relaxed);
                        Some((cell, dm))
                    }
                    None => Some((cell, dm)),
                };
            }
        }
        if let Some((at, sum)) = run {
            self.sum[at].fetch_add(sum, Ordering::Relaxed);
        }
    }

    /// The 3 × 3 box sums divided by the window's area (rows on all cores); the sums are freed.
    fn smooth(&mut self) {
        let (nx, ny) = (self.nx, self.ny);
        let sum: Vec<f32> = std::mem::take(&mut self.sum)
            .into_par_iter()
            .map(|dm| (dm.into_inner() as f64 / 10_000.0) as f32)
            .collect();
        let area = (9.0 * self.km * self.km) as f32;
        let mut smoothed = vec![0f32; nx * ny];
        smoothed
            .par_chunks_mut(nx)
            .enumerate()
            .for_each(|(j, row)| {
                for (i, out) in row.iter_mut().enumerate() {
                    let mut t = 0.0;
                    for jj in j.saturating_sub(1)..=(j + 1).min(ny - 1) {
                        for ii in i.saturating_sub(1)..=(i + 1).min(nx - 1) {
                            t += sum[jj * nx + ii];
                        }
                    }
                    *out = t / area;
                }
            });
        self.smoothed = smoothed;
    }

    /// km of street per km² around `c`.
    pub fn at(&self, c: CoordE7) -> f64 {
        let x = (c.lon() - self.lon0) / self.dlon;
        let y = (c.lat() - self.lat0) / self.dlat;
        // Truncation is the floor from 0 on (no call into libm's `floor`: once per piece).
        if x < 0.0 || y < 0.0 || x as usize >= self.nx || y as usize >= self.ny {
            return 0.0;
        }
        debug_assert!(!self.smoothed.is_empty(), "the grid is smoothed before use");
        self.smoothed[y as usize * self.nx + x as usize] as f64
    }
}

const KM_PER_DEG: f64 = 111.195;

struct ProfileSpeeds<'a> {
    profile: &'a Profile,
    defaults: DefaultSpeedTable,
    /// Per road way; freed once the pieces are cut (140 MB on the province mosaic, alive where
    /// the build's memory peaks), when only `ferry` is still read.
    rules: Vec<WayRule>,
    /// Per road way: whether it is a ferry.
    ferry: Vec<bool>,
    density: DensityGrid,
}

impl SpeedModel for ProfileSpeeds<'_> {
    fn piece_speeds(
        &self,
        way: usize,
        way_length_m: f64,
        mid: CoordE7,
    ) -> (Option<f64>, Option<f64>) {
        let rule = &self.rules[way];
        let p = self.profile;
        if rule.class == RoadClass::Ferry {
            // The crossing time applies to the whole ferry way; pieces share it by length.
            let secs = p.ferry_secs(way_length_m, rule.ferry_secs) - p.ferry_extra_secs;
            let v = if secs > 0.0 {
                way_length_m / secs
            } else {
                p.ferry_kmh / 3.6
            };
            return (Some(v), Some(v));
        }
        let area = p.area_type(self.density.at(mid));
        let kmh = |tagged: Option<f64>| {
            p.speed_kmh_in(&self.defaults, rule.class, area, tagged) / p.congestion
        };
        (
            Some(kmh(rule.maxspeed_fwd) / 3.6),
            Some(kmh(rule.maxspeed_bwd) / 3.6),
        )
    }
    fn piece_extra_secs(&self, way: usize) -> f64 {
        if self.ferry[way] {
            self.profile.ferry_extra_secs
        } else {
            0.0
        }
    }
    fn uses_way_length(&self, way: usize) -> bool {
        self.ferry[way]
    }
    fn see_way_segments(&self, way: usize, segments: &[Segment]) {
        if self.rules[way].class.counts_for_density() {
            self.density.add_way(segments);
        }
    }
    fn segments_seen(&mut self) {
        self.density.smooth();
    }
    fn pieces_cut(&mut self) {
        self.rules = Vec::new();
    }
}

/// CRC-32 of a whole file (the cache key of a graph built from it).
pub fn source_crc32(path: &Path) -> std::io::Result<u32> {
    let file = std::fs::File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    if file.metadata()?.len() > 0 {
        // SAFETY: read-only mapping of a file this process does not modify; a concurrent writer
        // could change the bytes under us, which only changes the checksum.
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        crate::parallel::par_crc32(&mut h, &map);
    }
    Ok(h.finalize())
}

/// With `SOURCE_DATE_EPOCH` set (the reproducible-builds convention), graph files record that
/// time and no duration or thread count, so the same extract gives byte-identical files.
fn reproducible() -> bool {
    std::env::var("SOURCE_DATE_EPOCH").is_ok_and(|v| v.trim().parse::<i64>().is_ok())
}

/// `node/1, node/2` from a few ids.
fn examples(ids: &[i64]) -> String {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.iter()
        .map(|id| format!("node/{id}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sums(g: &DensityGrid) -> Vec<u32> {
        g.sum.iter().map(|s| s.load(Ordering::Relaxed)).collect()
    }

    proptest! {
        /// A way's segments added in runs per cell give the grid that adding them one by one
        /// gives (the oracle: one atomic update per segment), whatever the cells they fall in.
        #[test]
        fn way_runs_add_up_as_single_segments(
            points in proptest::collection::vec((0i32..200_000, 0i32..200_000), 2..60),
            cuts in proptest::collection::vec(1usize..8, 1..20),
            lengths in proptest::collection::vec(0.0f64..5_000.0, 60),
        ) {
            let base = CoordE7 { lon: 1_160_000_000, lat: 395_000_000 };
            let coords: Vec<CoordE7> = points
                .iter()
                .map(|&(x, y)| CoordE7 { lon: base.lon + x, lat: base.lat + y })
                .collect();
            let segments: Vec<Segment> = coords
                .windows(2)
                .zip(&lengths)
                .map(|(w, &length_m)| Segment { a: w[0], b: w[1], length_m })
                .collect();
            let (by_way, one_by_one) = (DensityGrid::new(&coords), DensityGrid::new(&coords));
            let mut rest = segments.as_slice();
            for &n in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (way, tail) = rest.split_at(n.min(rest.len()));
                by_way.add_way(way);
                rest = tail;
            }
            for s in &segments {
                one_by_one.add_way(std::slice::from_ref(s));
            }
            let total: u64 = segments.iter().map(|s| (s.length_m * 10.0 + 0.5) as u64).sum();
            prop_assert_eq!(sums(&by_way), sums(&one_by_one));
            prop_assert_eq!(sums(&by_way).iter().map(|&s| s as u64).sum::<u64>(), total);
        }
    }
}
