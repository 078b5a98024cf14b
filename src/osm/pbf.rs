//! Low-level access to an `.osm.pbf` file: memory map, blob index, guarded parallel decoding,
//! and errors that name the file, the blob and what is wrong with it.

use super::block::{varint as read_varint, RawBlock, MAX_BLOCK_BYTES};
use osmpbf::{BlobDecode, Mmap, MmapBlob, PrimitiveBlock};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Errors while reading a PBF file.
#[derive(Debug, thiserror::Error)]
pub enum PbfError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error("{path}: not an OSM PBF file ({why})")]
    NotPbf { path: PathBuf, why: String },
    #[error("{path}: truncated or corrupt at byte {offset} (blob {index}): {what}")]
    Corrupt {
        path: PathBuf,
        index: usize,
        offset: u64,
        what: String,
    },
    #[error(
        "{path}: blob {index} at byte {offset} is compressed with {codec}, which metroreach cannot \
         read (only zlib and uncompressed blobs are supported); recompress it, e.g. \
         `osmium cat {path} -o recompressed.osm.pbf`"
    )]
    UnsupportedCompression {
        path: PathBuf,
        index: usize,
        offset: u64,
        codec: &'static str,
    },
    #[error("{path}: needs the PBF feature '{feature}', which metroreach does not support")]
    UnsupportedFeature { path: PathBuf, feature: String },
}

/// What the OSM header block says about the file.
#[derive(Clone, Debug, Default)]
pub struct PbfHeader {
    /// (min_lon, min_lat, max_lon, max_lat) in degrees, when the header has one.
    pub bbox: Option<[f64; 4]>,
    pub writing_program: Option<String>,
    pub replication_timestamp: Option<i64>,
    pub sorted_type_then_id: bool,
}

/// A memory-mapped PBF file and the positions of its data blobs.
pub struct PbfFile {
    pub path: PathBuf,
    mmap: Mmap,
    /// A second read-only mapping of the same file (same page cache), for sniffing the format
    /// and naming the compression of blobs osmpbf cannot decode.
    raw: memmap2::Mmap,
    pub size_bytes: u64,
}

/// The blobs of an opened file, borrowed from its memory map.
pub struct Blobs<'a> {
    pub path: &'a Path,
    pub header: PbfHeader,
    /// Data blobs (OSMData) in file order.
    pub data: Vec<MmapBlob<'a>>,
    /// Position of each data blob among all blobs of the file (for messages).
    ordinals: Vec<usize>,
    raw: &'a [u8],
}

impl PbfFile {
    pub fn open(path: &Path) -> Result<PbfFile, PbfError> {
        let file = std::fs::File::open(path).map_err(|source| PbfError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let meta = file.metadata().map_err(|source| PbfError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            return Err(PbfError::Open {
                path: path.to_path_buf(),
                source: std::io::Error::other("is a directory"),
            });
        }
        if meta.len() == 0 {
            return Err(PbfError::Empty {
                path: path.to_path_buf(),
            });
        }
        // SAFETY: the file is opened read-only and not modified by this process; a concurrent
        // writer could change the bytes under us, which at worst produces a decode error.
        let mmap = unsafe { Mmap::from_file(&file) }.map_err(|e| PbfError::Open {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        // SAFETY: as above.
        let raw = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| PbfError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(PbfFile {
            path: path.to_path_buf(),
            mmap,
            raw,
            size_bytes: meta.len(),
        })
    }

    /// CRC-32 of the whole file (as [`super::read::source_crc32`] computes it), in pieces on
    /// all cores from the mapping.
    pub fn crc32(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        crate::parallel::par_crc32(&mut h, &self.raw);
        h.finalize()
    }

    /// Reads every blob header (cheap: no decompression) and the OSM header block.
    pub fn blobs(&self) -> Result<Blobs<'_>, PbfError> {
        let raw: &[u8] = &self.raw;
        sniff_format(&self.path, raw)?;
        // Check the framing ourselves first (osmpbf's reader panics on some corrupt sizes), so
        // every error names the right blob and byte.
        let frames = frame(&self.path, raw)?;
        let mut data = Vec::new();
        let mut ordinals = Vec::new();
        let mut header = None;
        for (ordinal, blob) in self.mmap.blob_iter().enumerate() {
            let offset = frames.get(ordinal).copied().unwrap_or(0);
            let blob = blob.map_err(|e| PbfError::Corrupt {
                path: self.path.clone(),
                index: ordinal,
                offset,
                what: format!("the blob cannot be read: {e}"),
            })?;
            match blob.get_type() {
                osmpbf::BlobType::OsmHeader => {
                    if header.is_some() {
                        continue;
                    }
                    let decoded = guarded(|| blob.decode())
                        .map_err(|what| corrupt(&self.path, raw, ordinal, offset, what))?;
                    let decoded = decoded
                        .map_err(|e| corrupt(&self.path, raw, ordinal, offset, e.to_string()))?;
                    if let BlobDecode::OsmHeader(h) = decoded {
                        for f in h.required_features() {
                            if !matches!(f.as_str(), "OsmSchema-V0.6" | "DenseNodes") {
                                return Err(PbfError::UnsupportedFeature {
                                    path: self.path.clone(),
                                    feature: f.clone(),
                                });
                            }
                        }
                        header = Some(PbfHeader {
                            bbox: h.bbox().map(|b| [b.left, b.bottom, b.right, b.top]),
                            writing_program: h.writing_program().map(String::from),
                            replication_timestamp: h.osmosis_replication_timestamp(),
                            sorted_type_then_id: h
                                .optional_features()
                                .iter()
                                .any(|f| f == "Sort.Type_then_ID"),
                        });
                    }
                }
                osmpbf::BlobType::OsmData => {
                    if header.is_none() {
                        return Err(PbfError::NotPbf {
                            path: self.path.clone(),
                            why: "the file does not start with an OSMHeader block".into(),
                        });
                    }
                    data.push(blob);
                    ordinals.push(ordinal);
                }
                osmpbf::BlobType::Unknown(_) => {}
            }
        }
        let header = header.ok_or_else(|| PbfError::NotPbf {
            path: self.path.clone(),
            why: "no OSMHeader block".into(),
        })?;
        Ok(Blobs {
            path: &self.path,
            header,
            data,
            ordinals,
            raw,
        })
    }
}

/// Walks the blob framing (4-byte header length, BlobHeader, blob) and returns each blob's
/// offset, refusing sizes that are negative, too large or past the end of the file.
fn frame(path: &Path, raw: &[u8]) -> Result<Vec<u64>, PbfError> {
    let mut offsets = Vec::new();
    let mut pos = 0usize;
    while pos < raw.len() {
        let index = offsets.len();
        let err = |what: String| -> PbfError {
            if index == 0 {
                PbfError::NotPbf {
                    path: path.to_path_buf(),
                    why: format!("its first blob is unreadable: {what}"),
                }
            } else {
                PbfError::Corrupt {
                    path: path.to_path_buf(),
                    index,
                    offset: pos as u64,
                    what,
                }
            }
        };
        let rest = raw.len() - pos;
        if rest < 4 {
            return Err(err(format!(
                "truncated: the file ends {rest} bytes into a blob header length"
            )));
        }
        let hl = u32::from_be_bytes(raw[pos..pos + 4].try_into().unwrap_or([0; 4])) as usize;
        if hl == 0 || hl >= 64 * 1024 {
            return Err(err(format!(
                "a blob header claims {hl} bytes (at most 64 KiB)"
            )));
        }
        if rest < 4 + hl {
            return Err(err(format!(
                "truncated: the file ends inside a blob header ({} of {hl} bytes)",
                rest - 4
            )));
        }
        let mut datasize: Option<u64> = None;
        for (field, value) in proto_fields(&raw[pos + 4..pos + 4 + hl]) {
            if field == 3 {
                if let ProtoValue::Varint(v) = value {
                    datasize = Some(v);
                }
            }
        }
        let Some(size) = datasize else {
            return Err(err("a blob header has no data size".into()));
        };
        if size > i32::MAX as u64 {
            return Err(err(format!(
                "a blob header claims a negative or huge size ({})",
                size as i64
            )));
        }
        let size = size as usize;
        if rest < 4 + hl + size {
            return Err(err(format!(
                "truncated: the file ends inside a blob ({} of its {size} bytes present)",
                rest - 4 - hl
            )));
        }
        offsets.push(pos as u64);
        pos += 4 + hl + size;
    }
    Ok(offsets)
}

impl<'a> Blobs<'a> {
    /// Decodes data blob `index` into a primitive block, turning every failure (including a
    /// panic inside the decoder on hostile input) into an error naming the blob.
    pub fn decode(&self, index: usize) -> Result<PrimitiveBlock, PbfError> {
        let blob = &self.data[index];
        let offset = blob.offset().0;
        let index = self.ordinals[index];
        match guarded(|| blob.decode()) {
            Ok(Ok(BlobDecode::OsmData(block))) => Ok(block),
            Ok(Ok(_)) => Err(corrupt(
                self.path,
                self.raw,
                index,
                offset,
                "not a data block".into(),
            )),
            Ok(Err(e)) => Err(corrupt(self.path, self.raw, index, offset, e.to_string())),
            Err(what) => Err(corrupt(self.path, self.raw, index, offset, what)),
        }
    }

    /// Runs `f` on every element group of blob `index` under the panic guard.
    pub fn with_block<T>(
        &self,
        index: usize,
        f: impl FnOnce(&PrimitiveBlock) -> T,
    ) -> Result<T, PbfError> {
        let block = self.decode(index)?;
        let offset = self.data[index].offset().0;
        let ordinal = self.ordinals[index];
        guarded(|| f(&block)).map_err(|what| corrupt(self.path, self.raw, ordinal, offset, what))
    }
}

/// Builds the error for a blob that failed to decode, naming its compression when that is why.
fn corrupt(path: &Path, raw: &[u8], index: usize, offset: u64, what: String) -> PbfError {
    if let Some(codec) = unsupported_codec(raw, offset as usize) {
        return PbfError::UnsupportedCompression {
            path: path.to_path_buf(),
            index,
            offset,
            codec,
        };
    }
    PbfError::Corrupt {
        path: path.to_path_buf(),
        index,
        offset,
        what,
    }
}

/// Looks at the fields of the blob starting at `offset` and names a compression osmpbf lacks.
fn unsupported_codec(raw: &[u8], offset: usize) -> Option<&'static str> {
    for (field, _) in proto_fields(blob_message(raw, offset)?) {
        match field {
            4 => return Some("LZMA"),
            5 => return Some("bzip2"),
            6 => return Some("LZ4"),
            7 => return Some("Zstandard (zstd)"),
            _ => {}
        }
    }
    None
}

/// The Blob message of the blob whose frame starts at `offset` (after its length and
/// BlobHeader), with checked arithmetic whatever the bytes. The last `datasize` wins, as in
/// [`frame`].
fn blob_message(raw: &[u8], offset: usize) -> Option<&[u8]> {
    let start = offset.checked_add(4)?;
    let hl = u32::from_be_bytes(raw.get(offset..start)?.try_into().ok()?) as usize;
    let header = raw.get(start..start.checked_add(hl)?)?;
    let size = proto_fields(header)
        .filter_map(|(f, v)| match (f, v) {
            (3, ProtoValue::Varint(n)) => usize::try_from(n).ok(),
            _ => None,
        })
        .last()?;
    let start = start.checked_add(hl)?;
    raw.get(start..start.checked_add(size)?)
}

/// Which kinds of elements a data blob holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    pub nodes: bool,
    pub ways: bool,
    pub relations: bool,
}

impl Kinds {
    /// The kinds of a decoded block (groups that hold at least one element).
    pub fn of(block: &PrimitiveBlock) -> Kinds {
        let mut k = Kinds::default();
        for g in block.groups() {
            k.nodes |= g.nodes().next().is_some() || g.dense_nodes().next().is_some();
            k.ways |= g.ways().next().is_some();
            k.relations |= g.relations().next().is_some();
        }
        k
    }
}

impl<'a> Blobs<'a> {
    /// The kinds of data blob `index` from each group's first key, without decoding any
    /// element: with `first_group_only`, only as much of the block is inflated as it takes to
    /// reach the first group (past the string table). `None` where that does not tell (another
    /// compression, an empty or malformed block or group, a change set): ask
    /// [`Blobs::with_block`], which also names what is wrong.
    ///
    /// Locating where nodes end and ways begin in a sorted file probes a dozen blobs one after
    /// the other; a full decode of each cost a small extract about as much as its whole way pass.
    pub fn probe_kinds(&self, index: usize, first_group_only: bool) -> Option<Kinds> {
        let block = match self.payload(index)? {
            Payload::Raw(bytes) => BlockPrefix::Raw(bytes),
            Payload::Zlib { data, .. } => BlockPrefix::zlib(data),
        };
        block.kinds(first_group_only)
    }

    /// Runs `f` on data blob `index` read in place ([`RawBlock`]), or returns `None` if the blob
    /// is not in the canonical encoding, does not inflate, or `f` gives up: decode it with
    /// [`Blobs::with_block`] then (which also names what is wrong). Under the panic guard too,
    /// so that a bug here could only send a blob to osmpbf, never end the import.
    pub fn with_raw_block<T>(
        &self,
        index: usize,
        f: impl FnOnce(&RawBlock<'_>) -> Option<T>,
    ) -> Option<T> {
        guarded(|| self.raw_block(index, f)).ok().flatten()
    }

    fn raw_block<T>(&self, index: usize, f: impl FnOnce(&RawBlock<'_>) -> Option<T>) -> Option<T> {
        thread_local! {
            // One inflater and one block buffer per thread, reused for every blob: a fresh
            // buffer per blob was a megabyte allocated (and, zeroed, written) each time.
            static INFLATE: std::cell::RefCell<(libdeflater::Decompressor, Vec<u8>)> =
                std::cell::RefCell::new((libdeflater::Decompressor::new(), Vec::new()));
        }
        match self.payload(index)? {
            Payload::Raw(bytes) => f(&RawBlock::parse(bytes)?),
            Payload::Zlib { data, raw_size } => {
                if raw_size > MAX_BLOCK_BYTES {
                    return None;
                }
                // Inflated in one call (libdeflate) into this thread's buffer, cut to the stated
                // size; a block that does not inflate to exactly that size is left to osmpbf.
                INFLATE.with(|cell| {
                    let mut state = cell.borrow_mut();
                    let (inflater, buf) = &mut *state;
                    if buf.len() < raw_size {
                        buf.resize(raw_size, 0);
                    }
                    let n = inflater.zlib_decompress(data, &mut buf[..raw_size]).ok()?;
                    if n != raw_size {
                        return None;
                    }
                    f(&RawBlock::parse(&buf[..n])?)
                })
            }
        }
    }

    /// Runs `fast` on data blob `index` read in place, or, where that gives up, `slow` on the
    /// blob decoded by osmpbf ([`Blobs::with_raw_block`], [`Blobs::with_block`]).
    pub fn with_either<T>(
        &self,
        index: usize,
        fast: impl FnOnce(&RawBlock<'_>) -> Option<T>,
        slow: impl FnOnce(&PrimitiveBlock) -> T,
    ) -> Result<T, PbfError> {
        match self.with_raw_block(index, fast) {
            Some(t) => Ok(t),
            None => self.with_block(index, slow),
        }
    }

    /// The block bytes of data blob `index` as stored (`None` for other compressions or a
    /// malformed blob message).
    fn payload(&self, index: usize) -> Option<Payload<'a>> {
        let mut blob = blob_message(self.raw, self.data[index].offset().0 as usize)?;
        let (mut payload, mut raw_size) = (None, 0);
        while !blob.is_empty() {
            let key = read_varint(&mut blob)?;
            match key & 7 {
                0 => {
                    let v = read_varint(&mut blob)?;
                    if key >> 3 == 2 {
                        raw_size = v as usize;
                    }
                }
                2 => {
                    let n = read_varint(&mut blob)? as usize;
                    let bytes = blob.get(..n)?;
                    blob = &blob[n..];
                    match key >> 3 {
                        1 => payload = Some(Payload::Raw(bytes)),
                        3 => {
                            payload = Some(Payload::Zlib {
                                data: bytes,
                                raw_size,
                            })
                        }
                        4..=7 => return None,
                        _ => {}
                    }
                }
                _ => return None,
            }
        }
        match payload? {
            // raw_size may come after the data.
            Payload::Zlib { data, .. } => Some(Payload::Zlib { data, raw_size }),
            p => Some(p),
        }
    }
}

/// A data blob's block as stored.
enum Payload<'a> {
    Raw(&'a [u8]),
    Zlib { data: &'a [u8], raw_size: usize },
}

/// The bytes of a primitive block, inflated only as far as they are read.
enum BlockPrefix<'a> {
    Raw(&'a [u8]),
    Zlib {
        // Boxed: zlib-rs keeps its whole inflate state inline.
        decoder: Box<flate2::read::ZlibDecoder<&'a [u8]>>,
        out: Vec<u8>,
    },
}

impl<'a> BlockPrefix<'a> {
    fn zlib(bytes: &'a [u8]) -> BlockPrefix<'a> {
        BlockPrefix::Zlib {
            decoder: Box::new(flate2::read::ZlibDecoder::new(bytes)),
            out: Vec::new(),
        }
    }

    /// The block's bytes from `from` on, at least `len` of them unless the block ends sooner.
    fn bytes(&mut self, from: usize, len: usize) -> Option<&[u8]> {
        if from > MAX_BLOCK_BYTES {
            return None; // past any block osmpbf would read
        }
        match self {
            BlockPrefix::Raw(b) => b.get(from..),
            BlockPrefix::Zlib { decoder, out } => {
                use std::io::Read;
                let want = from.saturating_add(len).saturating_sub(out.len());
                if want > 0 {
                    // Whole 4 KiB steps: fewer, larger reads.
                    let step = want.next_multiple_of(4096) as u64;
                    decoder.by_ref().take(step).read_to_end(out).ok()?;
                }
                out.get(from..)
            }
        }
    }

    /// Walks the block's top-level fields, noting each group's kind by its first key.
    fn kinds(mut self, first_group_only: bool) -> Option<Kinds> {
        let mut kinds = Kinds::default();
        let mut pos = 0;
        loop {
            let mut b = self.bytes(pos, 20)?;
            if b.is_empty() {
                return Some(kinds);
            }
            let before = b.len();
            let key = read_varint(&mut b)?;
            let value = match key & 7 {
                0 => {
                    read_varint(&mut b)?;
                    None
                }
                2 => Some(read_varint(&mut b)? as usize),
                _ => return None,
            };
            pos += before - b.len();
            match (key >> 3, value) {
                (2, Some(n)) => {
                    let mut g = self.bytes(pos, 20)?.get(..n.min(20))?;
                    match read_varint(&mut g)? >> 3 {
                        1 | 2 => kinds.nodes = true,
                        3 => kinds.ways = true,
                        4 => kinds.relations = true,
                        _ => return None,
                    }
                    if first_group_only {
                        return Some(kinds);
                    }
                    pos = pos.checked_add(n)?;
                }
                (_, Some(n)) => pos = pos.checked_add(n)?,
                (_, None) => {}
            }
        }
    }
}

enum ProtoValue {
    Varint(u64),
    Bytes,
}

/// Iterates over the top-level fields of a protobuf message, stopping at the first malformed one.
fn proto_fields(mut b: &[u8]) -> impl Iterator<Item = (u64, ProtoValue)> + '_ {
    std::iter::from_fn(move || {
        let key = read_varint(&mut b)?;
        let value = match key & 7 {
            0 => ProtoValue::Varint(read_varint(&mut b)?),
            2 => {
                let n = read_varint(&mut b)? as usize;
                if n > b.len() {
                    return None;
                }
                b = &b[n..];
                ProtoValue::Bytes
            }
            _ => return None,
        };
        Some((key >> 3, value))
    })
}

/// Recognises common wrong inputs by their first bytes, for a helpful message.
fn sniff_format(path: &Path, raw: &[u8]) -> Result<(), PbfError> {
    let head = &raw[..raw.len().min(64)];
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let why = if trimmed.starts_with("<?xml") || trimmed.starts_with("<osm") {
        Some("it is OSM XML; convert it with `osmium cat in.osm -o out.osm.pbf`")
    } else if trimmed.starts_with('{') || trimmed.starts_with('[') {
        Some("it looks like JSON/GeoJSON")
    } else if head.starts_with(b"\x1f\x8b") {
        Some("it is gzip-compressed; decompress it first")
    } else if head.starts_with(b"BZh") {
        Some("it is bzip2-compressed (.osm.bz2?); decompress and convert it first")
    } else if head.starts_with(b"MRGRAPH") {
        Some("it is a metroreach graph file, not an OSM extract")
    } else if head.len() >= 4 {
        let len = u32::from_be_bytes(head[..4].try_into().unwrap_or([0; 4]));
        (len == 0 || len > 64 * 1024)
            .then_some("its first 4 bytes are not a PBF blob-header length")
    } else {
        Some("it is shorter than a PBF blob header")
    };
    match why {
        Some(why) => Err(PbfError::NotPbf {
            path: path.to_path_buf(),
            why: why.to_string(),
        }),
        None => Ok(()),
    }
}

thread_local! {
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
}
static HOOK: Once = Once::new();

/// Runs `f`, turning a panic inside it (osmpbf can panic on hostile input, e.g. an unknown
/// relation member type) into an error message, without printing a panic report.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARD.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = IN_GUARD.with(|g| g.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(was));
    result.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "decoder failure".into());
        format!("malformed data ({msg})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields() {
        // field 1 varint 150, field 7 bytes "ab"
        let msg = [0x08, 0x96, 0x01, 0x3a, 0x02, b'a', b'b'];
        let fields: Vec<u64> = proto_fields(&msg).map(|(f, _)| f).collect();
        assert_eq!(fields, vec![1, 7]);
        let mut b: &[u8] = &[0x96, 0x01];
        assert_eq!(read_varint(&mut b), Some(150));
    }

    proptest::proptest! {
        /// The blob probes never panic, whatever the block bytes (raw or as a zlib stream).
        #[test]
        fn probes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            for first in [true, false] {
                let _ = BlockPrefix::Raw(&bytes).kinds(first);
                let _ = BlockPrefix::zlib(&bytes).kinds(first);
            }
        }
    }

    #[test]
    fn guard_turns_panics_into_errors() {
        let r: Result<(), String> = guarded(|| panic!("boom"));
        assert!(r.unwrap_err().contains("boom"));
        assert_eq!(guarded(|| 5), Ok(5));
    }
}
