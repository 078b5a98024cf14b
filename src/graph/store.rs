//! The graph file: a versioned header, a section table, flat little-endian arrays, and a CRC-32
//! over the header's version, count and length fields and everything after the header. Loading is one read, a checksum, and copies into typed
//! vectors; a file from another format version or a damaged file is refused with a clear message.
//!
//! ```text
//! 0   magic "MRGRAPH\0"          8 bytes
//! 8   format version (u32 LE)
//! 12  section count (u32 LE)
//! 16  payload length (u64 LE)    bytes after this 32-byte header
//! 24  CRC-32 of bytes 8..24 and of the payload (u32 LE)
//! 28  reserved (0)
//! 32  section table: per section an 8-byte tag, offset and length (u64 LE, offset from 32)
//! ..  section data, each 8-byte aligned
//! ```

use super::{AdminBoundary, Array, GraphMeta, Place, RoadClass, RoadGraph};
use crate::fsio::{AtomicFile, WriteError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const MAGIC: &[u8; 8] = b"MRGRAPH\0";
/// Bump on any change of the layout or of the meaning of a section.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 32;

/// Errors loading a graph file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read graph file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a metroreach graph file{hint}")]
    NotAGraph { path: PathBuf, hint: String },
    #[error(
        "{path} was written by graph format version {found}; this metroreach (v{}) reads version \
         {expected}: re-run `metroreach import` on the source extract",
        env!("CARGO_PKG_VERSION")
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path} is damaged: {what}; re-run `metroreach import` on the source extract")]
    Damaged { path: PathBuf, what: String },
    #[error(transparent)]
    Write(#[from] WriteError),
}

type Section<'a> = ([u8; 8], std::borrow::Cow<'a, [u8]>);

fn tag(s: &str) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..s.len()].copy_from_slice(s.as_bytes());
    t
}

fn pod_bytes<T: bytemuck::Pod>(v: &[T]) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Borrowed(bytemuck::cast_slice(v))
}

fn sections(g: &RoadGraph) -> Vec<Section<'_>> {
    use std::borrow::Cow;
    let meta = serde_json::to_vec_pretty(&g.meta).expect("meta serialises");
    let places = postcard::to_stdvec(&g.places).expect("places serialise");
    let bounds = postcard::to_stdvec(&g.boundaries).expect("boundaries serialise");
    vec![
        (tag("META"), Cow::Owned(meta)),
        (tag("NCOORD"), pod_bytes(&g.node_coords)),
        (tag("NOSMID"), pod_bytes(&g.node_osm_ids)),
        (tag("NFLAGS"), Cow::Borrowed(&g.node_flags)),
        (tag("FIRSTOUT"), pod_bytes(&g.first_out)),
        (tag("EDGES"), pod_bytes(&g.edges)),
        (tag("EROAD"), pod_bytes(&g.edge_road)),
        (tag("RGEOM0"), pod_bytes(&g.road_geom_start)),
        (tag("GEOM"), pod_bytes(&g.geom)),
        (tag("RLEN"), pod_bytes(&g.road_length_m)),
        (tag("RCLASS"), Cow::Borrowed(&g.road_class)),
        (tag("RFLAGS"), Cow::Borrowed(&g.road_flags)),
        (tag("RWAYID"), pod_bytes(&g.road_way_id)),
        (tag("PLACES"), Cow::Owned(places)),
        (tag("BOUNDS"), Cow::Owned(bounds)),
    ]
}

/// The file's bytes as pieces in file order: the header (checksum still 0), then the payload
/// (table, padding, sections), borrowing the graph's arrays.
struct Layout<'a> {
    header: Vec<u8>,
    table: Vec<u8>,
    sections: Vec<Section<'a>>,
    offsets: Vec<u64>,
}

impl<'a> Layout<'a> {
    fn new(g: &'a RoadGraph) -> Layout<'a> {
        let sections = sections(g);
        let table_len = sections.len() * 24;
        let mut offsets = Vec::with_capacity(sections.len());
        let mut pos = table_len;
        for (_, data) in &sections {
            pos = pos.next_multiple_of(8);
            offsets.push(pos as u64);
            pos += data.len();
        }
        let payload_len = pos as u64;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        header.extend_from_slice(&payload_len.to_le_bytes());
        header.extend_from_slice(&[0u8; 8]); // checksum and reserved, patched in later
        let mut table = Vec::with_capacity(table_len);
        for ((t, data), offset) in sections.iter().zip(&offsets) {
            table.extend_from_slice(t);
            table.extend_from_slice(&offset.to_le_bytes());
            table.extend_from_slice(&(data.len() as u64).to_le_bytes());
        }
        Layout {
            header,
            table,
            sections,
            offsets,
        }
    }

    fn file_len(&self) -> usize {
        HEADER_LEN + u64::from_le_bytes(self.header[16..24].try_into().unwrap()) as usize
    }

    /// Everything after the header, in file order.
    fn payload(&self) -> Vec<&[u8]> {
        let mut payload: Vec<&[u8]> = vec![&self.table];
        let mut at = self.table.len();
        for ((_, data), &offset) in self.sections.iter().zip(&self.offsets) {
            payload.push(&[0u8; 8][..offset as usize - at]);
            payload.push(data);
            at = offset as usize + data.len();
        }
        payload
    }

    fn checksum(&self, payload: &[&[u8]]) -> u32 {
        checksum(&self.header[8..24], payload)
    }
}

/// Writes the file to `w`, streaming the sections (no copy of the arrays): header, table,
/// 8-byte aligned sections, then the checksum patched into the header. The checksum is computed
/// on another thread while the bytes are written.
fn write_to<W: Write + std::io::Seek + Send>(layout: &Layout, w: &mut W) -> std::io::Result<()> {
    let payload = layout.payload();
    let (written, crc) = rayon::join(
        || -> std::io::Result<()> {
            w.write_all(&layout.header)?;
            for part in &payload {
                w.write_all(part)?;
            }
            Ok(())
        },
        || layout.checksum(&payload),
    );
    written?;
    w.seek(std::io::SeekFrom::Start(24))?;
    w.write_all(&crc.to_le_bytes())?;
    w.seek(std::io::SeekFrom::End(0))?;
    Ok(())
}

/// The payload as pieces of at most `piece` bytes with their file offsets, for positioned writes.
fn pieces<'a>(payload: &[&'a [u8]], piece: usize) -> Vec<(u64, &'a [u8])> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN as u64;
    for part in payload {
        for bytes in part.chunks(piece) {
            out.push((at, bytes));
            at += bytes.len() as u64;
        }
    }
    out
}

/// Serialises the graph to bytes (header, table, sections).
pub fn to_bytes(g: &RoadGraph) -> Vec<u8> {
    let mut c = std::io::Cursor::new(Vec::new());
    write_to(&Layout::new(g), &mut c).expect("writing to memory cannot fail");
    c.into_inner()
}

/// CRC-32 over the header fields (version, count, length) and the payload (given in parts, in
/// file order). Large parts are checked in parallel pieces whose CRCs are combined (the same
/// value as one pass).
fn checksum(header_fields: &[u8], payload: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header_fields);
    for part in payload {
        crate::parallel::par_crc32(&mut h, part);
    }
    h.finalize()
}

/// Graph files from this size on are written through memory maps ([`AtomicFile::write_mapped`]).
const MAPPED_WRITE_MIN_BYTES: u64 = 64 << 20;

/// Writes the graph atomically (temporary file, then rename): the sections copied on all cores
/// while the checksum is computed (through memory maps for large files,
/// [`AtomicFile::write_mapped`], else in pieces at their offsets,
/// [`AtomicFile::write_pieces`]), the header last; or streamed where neither is available.
pub fn save(g: &RoadGraph, path: &Path) -> Result<(), StoreError> {
    let laps = crate::progress::Laps::from_env("save");
    let mut f = AtomicFile::create(path)?;
    let layout = Layout::new(g);
    let payload = layout.payload();
    let pieces = pieces(&payload, 4 << 20);
    let len = layout.file_len() as u64;
    let (written, crc) = rayon::join(
        || -> Result<bool, WriteError> {
            // Mapping has fixed costs (allocating ahead, mapping, zeroing each page before the
            // copy fills it) that only pay off on large files: Porto's 7 MB took 5-7 ms mapped,
            // 3 ms in pieces.
            if len >= MAPPED_WRITE_MIN_BYTES && f.write_mapped(len, &pieces)? {
                return Ok(true);
            }
            f.write_pieces(&pieces)
        },
        || layout.checksum(&payload),
    );
    if written? {
        let mut header = layout.header.clone();
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        f.write_pieces(&[(0, &header)])?;
    } else {
        write_to(&layout, f.writer()).map_err(|source| WriteError {
            path: path.to_path_buf(),
            source,
        })?;
    }
    laps.lap("bytes");
    // The checksum protects the file: no need to wait for the disk (see `commit_unsynced`).
    f.commit_unsynced()?;
    laps.lap("commit (rename)");
    Ok(())
}

/// Reads and validates a graph file.
pub fn load(path: &Path) -> Result<RoadGraph, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return from_bytes(&[], path);
    }
    // One pass over the mapped file: checksum, then each section copied once into its typed
    // array (no intermediate buffer of the whole file).
    // SAFETY: read-only map; a concurrent writer would at worst fail the checksum.
    // Populated up front: one pass of the kernel instead of a page fault per page.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(io)?;
    let map = Arc::new(map);
    parse(&map, path, Sections::Mapped(&map))
}

/// Reads the metadata of a graph file (the whole file is checked, so this costs a load).
pub fn load_meta(path: &Path) -> Result<GraphMeta, StoreError> {
    let g = load(path)?;
    Ok(g.meta)
}

/// Parses and validates graph bytes (the arrays are copied out of them); `path` is only used in
/// messages.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<RoadGraph, StoreError> {
    parse(bytes, path, Sections::Copied)
}

/// Where a loaded graph's arrays live.
#[derive(Clone, Copy)]
enum Sections<'a> {
    /// Copied out of the bytes.
    Copied,
    /// Read in place from the memory map the bytes are ([`Array::from_map`]).
    Mapped(&'a Arc<memmap2::Mmap>),
}

fn parse(bytes: &[u8], path: &Path, sections: Sections) -> Result<RoadGraph, StoreError> {
    let damaged = |what: String| StoreError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        let hint = if bytes.starts_with(&[0, 0]) && bytes.len() > 8 {
            " (it looks like an OSM PBF file: run `metroreach import` on it first)".to_string()
        } else if bytes.is_empty() {
            " (the file is empty)".to_string()
        } else {
            String::new()
        };
        return Err(StoreError::NotAGraph {
            path: path.to_path_buf(),
            hint,
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(damaged(format!("truncated header ({} bytes)", bytes.len())));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(StoreError::Version {
            path: path.to_path_buf(),
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let count = u32_at(12) as usize;
    let payload_len = u64_at(16);
    let crc = u32_at(24);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != payload_len {
        return Err(damaged(format!(
            "truncated: {} payload bytes, header says {payload_len}",
            payload.len()
        )));
    }
    if u32_at(28) != 0 {
        return Err(damaged("reserved header field is not zero".into()));
    }
    if checksum(&bytes[8..24], &[payload]) != crc {
        return Err(damaged(
            "checksum mismatch (the file was modified or corrupted)".into(),
        ));
    }
    if count.checked_mul(24).is_none_or(|t| t > payload.len()) {
        return Err(damaged("section table larger than the file".into()));
    }
    let mut secs: Vec<([u8; 8], &[u8])> = Vec::with_capacity(count);
    for i in 0..count {
        let e = &payload[i * 24..(i + 1) * 24];
        let t: [u8; 8] = e[..8].try_into().expect("8 bytes");
        let off = u64::from_le_bytes(e[8..16].try_into().expect("8")) as usize;
        let len = u64::from_le_bytes(e[16..24].try_into().expect("8")) as usize;
        let data = off
            .checked_add(len)
            .and_then(|end| payload.get(off..end))
            .ok_or_else(|| damaged(format!("section {i} lies outside the file")))?;
        secs.push((t, data));
    }
    let get = |name: &str| -> Result<&[u8], StoreError> {
        let t = tag(name);
        secs.iter()
            .find(|(tt, _)| *tt == t)
            .map(|(_, d)| *d)
            .ok_or_else(|| damaged(format!("section {name} is missing")))
    };
    let array =
        |name: &'static str| -> Result<(&str, &[u8]), StoreError> { get(name).map(|d| (name, d)) };
    fn pod<T: bytemuck::Pod>(
        (name, d): (&str, &[u8]),
        sections: Sections,
        path: &Path,
    ) -> Result<Array<T>, StoreError> {
        let damaged = |what: String| StoreError::Damaged {
            path: path.to_path_buf(),
            what,
        };
        if !d.len().is_multiple_of(std::mem::size_of::<T>()) {
            return Err(damaged(format!("section {name} has a partial record")));
        }
        match sections {
            Sections::Copied => Ok(bytemuck::allocation::pod_collect_to_vec(d).into()),
            Sections::Mapped(map) => Array::from_map(map, d)
                .ok_or_else(|| damaged(format!("section {name} lies outside the file"))),
        }
    }
    let meta: GraphMeta =
        serde_json::from_slice(get("META")?).map_err(|e| damaged(format!("metadata: {e}")))?;
    let places: Vec<Place> =
        postcard::from_bytes(get("PLACES")?).map_err(|e| damaged(format!("places: {e}")))?;
    let boundaries: Vec<AdminBoundary> =
        postcard::from_bytes(get("BOUNDS")?).map_err(|e| damaged(format!("boundaries: {e}")))?;
    let g = RoadGraph {
        meta,
        node_coords: pod(array("NCOORD")?, sections, path)?,
        node_osm_ids: pod(array("NOSMID")?, sections, path)?,
        node_flags: pod(array("NFLAGS")?, sections, path)?,
        first_out: pod(array("FIRSTOUT")?, sections, path)?,
        edges: pod(array("EDGES")?, sections, path)?,
        edge_road: pod(array("EROAD")?, sections, path)?,
        road_geom_start: pod(array("RGEOM0")?, sections, path)?,
        geom: pod(array("GEOM")?, sections, path)?,
        road_length_m: pod(array("RLEN")?, sections, path)?,
        road_class: pod(array("RCLASS")?, sections, path)?,
        road_flags: pod(array("RFLAGS")?, sections, path)?,
        road_way_id: pod(array("RWAYID")?, sections, path)?,
        places,
        boundaries,
    };
    validate(&g).map_err(damaged)?;
    Ok(g)
}

/// Structural invariants every stage relies on (so a crafted file cannot cause a panic later).
pub fn validate(g: &RoadGraph) -> Result<(), String> {
    let n = g.node_coords.len();
    let m = g.edges.len();
    let r = g.road_length_m.len();
    if g.node_osm_ids.len() != n || g.node_flags.len() != n {
        return Err("node arrays have different lengths".into());
    }
    if g.first_out.len() != n + 1 || g.first_out[0] != 0 || g.first_out[n] as usize != m {
        return Err("CSR offsets do not match the edge count".into());
    }
    if g.edge_road.len() != m {
        return Err("edge arrays have different lengths".into());
    }
    if g.road_geom_start.len() != r + 1
        || g.road_class.len() != r
        || g.road_flags.len() != r
        || g.road_way_id.len() != r
        || g.road_geom_start.last().copied().unwrap_or(0) as usize != g.geom.len()
        || g.road_geom_start.first().copied().unwrap_or(0) != 0
    {
        return Err("road arrays have inconsistent lengths".into());
    }
    // The scans over whole arrays run in parallel; the first failing one (in this order) is
    // reported, whatever the thread count.
    use rayon::prelude::*;
    type Check<'a> = Box<dyn Fn() -> Result<(), String> + Send + Sync + 'a>;
    fn fail_if(bad: bool, what: &str) -> Result<(), String> {
        if bad {
            Err(what.to_string())
        } else {
            Ok(())
        }
    }
    let checks: Vec<Check> = vec![
        Box::new(|| {
            fail_if(
                g.first_out.windows(2).any(|w| w[0] > w[1]),
                "CSR offsets are not ascending",
            )
        }),
        Box::new(|| {
            match g
                .edges
                .iter()
                .position(|e| e.head as usize >= n || e.time_ms == 0)
            {
                Some(e) => Err(format!(
                    "edge {e} has an invalid head or a zero travel time"
                )),
                None => Ok(()),
            }
        }),
        Box::new(|| {
            fail_if(
                g.edge_road.iter().any(|&x| (x >> 1) as usize >= r),
                "an edge refers to a road that does not exist",
            )
        }),
        Box::new(|| {
            fail_if(
                g.road_geom_start
                    .windows(2)
                    .any(|w| w[1] < w[0].saturating_add(2)),
                "a road has fewer than two geometry points",
            )
        }),
        Box::new(|| {
            fail_if(
                g.road_class
                    .iter()
                    .any(|&c| RoadClass::from_u8(c).is_none()),
                "unknown road class",
            )
        }),
        Box::new(|| {
            fail_if(
                g.node_coords.par_iter().any(|c| !c.is_valid()),
                "coordinates outside WGS-84",
            )
        }),
        Box::new(|| {
            fail_if(
                g.geom.par_iter().any(|c| !c.is_valid()),
                "coordinates outside WGS-84",
            )
        }),
    ];
    let results: Vec<Result<(), String>> = checks.par_iter().map(|check| check()).collect();
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::EdgeTarget;

    fn tiny() -> RoadGraph {
        let c = |x: f64, y: f64| crate::geom::CoordE7::from_degrees(x, y);
        RoadGraph {
            meta: GraphMeta {
                profile_name: "car".into(),
                ..Default::default()
            },
            node_coords: vec![c(1.0, 1.0), c(1.01, 1.0)].into(),
            node_osm_ids: vec![10, 20].into(),
            node_flags: vec![1, 1].into(),
            first_out: vec![0, 1, 2].into(),
            edges: vec![
                EdgeTarget {
                    head: 1,
                    time_ms: 5,
                },
                EdgeTarget {
                    head: 0,
                    time_ms: 6,
                },
            ]
            .into(),
            edge_road: vec![0, 1].into(),
            road_geom_start: vec![0, 3].into(),
            geom: vec![c(1.0, 1.0), c(1.005, 1.001), c(1.01, 1.0)].into(),
            road_length_m: vec![1113.0].into(),
            road_class: vec![RoadClass::Primary as u8].into(),
            road_flags: vec![0].into(),
            road_way_id: vec![7].into(),
            places: vec![],
            boundaries: vec![],
        }
    }

    #[test]
    fn pieces_and_streamed_files_are_the_same_bytes() {
        let g = tiny();
        let streamed = to_bytes(&g);
        let layout = Layout::new(&g);
        assert_eq!(layout.file_len(), streamed.len());
        let payload = layout.payload();
        // Pieces smaller than the sections, so that each is written in several.
        for piece in [1, 3, 8, 1 << 20] {
            let mut file = vec![0xAA; layout.file_len()];
            for (at, bytes) in pieces(&payload, piece) {
                file[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
            }
            file[..HEADER_LEN].copy_from_slice(&layout.header);
            file[24..28].copy_from_slice(&layout.checksum(&payload).to_le_bytes());
            assert_eq!(file, streamed, "piece {piece}");
        }
        // And through `save`.
        let dir = std::env::temp_dir().join(format!("mr-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny.graph");
        save(&g, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), streamed);
        assert_eq!(load(&path).unwrap(), g);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn round_trip_and_damage_detection() {
        let g = tiny();
        let bytes = to_bytes(&g);
        let p = Path::new("mem.graph");
        assert_eq!(from_bytes(&bytes, p).unwrap(), g);
        // Every single flipped byte after the magic is detected.
        for i in (8..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(from_bytes(&b, p).is_err(), "flip at {i} not detected");
        }
        // Truncation at every length is refused.
        for len in 0..bytes.len() {
            assert!(from_bytes(&bytes[..len], p).is_err(), "truncation at {len}");
        }
        // Another version is named as such.
        let mut b = bytes.clone();
        b[8] = 99;
        assert!(matches!(
            from_bytes(&b, p),
            Err(StoreError::Version { found: 99, .. })
        ));
    }
}
