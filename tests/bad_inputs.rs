//! Bad inputs, generated here in code (small files in a scratch directory): every one must end
//! with a clear message naming the input and the problem, a non-zero exit code, no panic report,
//! and no output file (nor temporary file, nor cache entry) left behind. Inputs that are unusual
//! but legal (BOM, CRLF, a boundary that does not close) must be accepted.
//!
//! OSM PBF files are written by the tiny protobuf encoder below ([`pb`], [`osm`]), so that CI
//! needs no external tool. The same generator writes the fuzzers' seed corpus:
//! `METROREACH_WRITE_SEEDS=1 cargo test --release --test bad_inputs write_fuzz_seed_corpus`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// ---------------------------------------------------------------------------------------------
// A minimal protobuf encoder and OSM PBF writer.
// ---------------------------------------------------------------------------------------------

/// Protobuf wire format: varints, zigzag, length-delimited fields, packed repeated fields.
pub mod pb {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    /// A message under construction (fields are appended in call order).
    #[derive(Clone, Default, Debug)]
    pub struct Msg(pub Vec<u8>);

    impl Msg {
        pub fn new() -> Msg {
            Msg(Vec::new())
        }
        fn key(&mut self, field: u32, wire: u8) {
            varint(&mut self.0, (u64::from(field) << 3) | u64::from(wire));
        }
        /// uint32/uint64/bool/enum, and int32/int64 (negative values as 10-byte varints).
        pub fn uint(mut self, field: u32, v: u64) -> Msg {
            self.key(field, 0);
            varint(&mut self.0, v);
            self
        }
        pub fn int(self, field: u32, v: i64) -> Msg {
            self.uint(field, v as u64)
        }
        pub fn sint(self, field: u32, v: i64) -> Msg {
            self.uint(field, zigzag(v))
        }
        pub fn bytes(mut self, field: u32, b: &[u8]) -> Msg {
            self.key(field, 2);
            varint(&mut self.0, b.len() as u64);
            self.0.extend_from_slice(b);
            self
        }
        pub fn str(self, field: u32, s: &str) -> Msg {
            self.bytes(field, s.as_bytes())
        }
        pub fn msg(self, field: u32, m: &Msg) -> Msg {
            self.bytes(field, &m.0)
        }
        pub fn packed_uint(self, field: u32, vs: impl IntoIterator<Item = u64>) -> Msg {
            let mut b = Vec::new();
            for v in vs {
                varint(&mut b, v);
            }
            self.bytes(field, &b)
        }
        /// Packed sint64 with delta coding (ids, coordinates, refs in OSM PBF).
        pub fn packed_delta(self, field: u32, vs: &[i64]) -> Msg {
            let mut b = Vec::new();
            let mut prev = 0i64;
            for &v in vs {
                varint(&mut b, zigzag(v.wrapping_sub(prev)));
                prev = v;
            }
            self.bytes(field, &b)
        }
    }

    /// A zlib stream of stored (uncompressed) deflate blocks: valid input for any inflater.
    pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x78, 0x01];
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(65_535).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            out.push(u8::from(i + 1 == chunks.len()));
            out.extend_from_slice(&(c.len() as u16).to_le_bytes());
            out.extend_from_slice(&(!(c.len() as u16)).to_le_bytes());
            out.extend_from_slice(c);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        out.extend_from_slice(&((b << 16) | a).to_be_bytes());
        out
    }
}

/// OSM data and its PBF encoding (header block, then nodes, ways, relations; sorted by type).
pub mod osm {
    use super::pb::{self, Msg};

    pub type Tags = Vec<(String, String)>;

    pub fn tags(kv: &[(&str, &str)]) -> Tags {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[derive(Clone, Debug)]
    pub struct Node {
        pub id: i64,
        /// Longitude and latitude in 1e-7 degrees (any value: out-of-range ones are a test).
        pub lon_e7: i64,
        pub lat_e7: i64,
        pub tags: Tags,
    }

    #[derive(Clone, Debug)]
    pub struct Way {
        pub id: i64,
        pub refs: Vec<i64>,
        pub tags: Tags,
    }

    /// Member types as in the PBF: 0 node, 1 way, 2 relation.
    #[derive(Clone, Debug)]
    pub struct Relation {
        pub id: i64,
        pub members: Vec<(u8, i64, String)>,
        pub tags: Tags,
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Compression {
        Raw,
        /// zlib with stored deflate blocks (valid zlib, no compression).
        Zlib,
    }

    #[derive(Clone, Debug)]
    pub struct Osm {
        pub nodes: Vec<Node>,
        pub ways: Vec<Way>,
        pub relations: Vec<Relation>,
        /// DenseNodes (true) or plain Node messages.
        pub dense: bool,
        pub compression: Compression,
        /// Elements per data blob (several blobs make blob boundaries to cut at).
        pub per_blob: usize,
        /// (left, bottom, right, top) in degrees.
        pub bbox: Option<[f64; 4]>,
    }

    impl Default for Osm {
        fn default() -> Self {
            Osm {
                nodes: Vec::new(),
                ways: Vec::new(),
                relations: Vec::new(),
                dense: true,
                compression: Compression::Raw,
                per_blob: 8000,
                bbox: None,
            }
        }
    }

    pub fn node(id: i64, lon: f64, lat: f64, t: &[(&str, &str)]) -> Node {
        Node {
            id,
            lon_e7: (lon * 1e7).round() as i64,
            lat_e7: (lat * 1e7).round() as i64,
            tags: tags(t),
        }
    }

    pub fn way(id: i64, refs: &[i64], t: &[(&str, &str)]) -> Way {
        Way {
            id,
            refs: refs.to_vec(),
            tags: tags(t),
        }
    }

    /// String table of one block (index 0 is the empty string, as the format requires).
    #[derive(Default)]
    struct Strings(Vec<String>);

    impl Strings {
        fn id(&mut self, s: &str) -> u64 {
            if self.0.is_empty() {
                self.0.push(String::new());
            }
            match self.0.iter().position(|x| x == s) {
                Some(i) if i > 0 => i as u64,
                _ => {
                    self.0.push(s.to_string());
                    (self.0.len() - 1) as u64
                }
            }
        }
        fn table(&self) -> Msg {
            let mut m = Msg::new();
            if self.0.is_empty() {
                return m.bytes(1, b"");
            }
            for s in &self.0 {
                m = m.bytes(1, s.as_bytes());
            }
            m
        }
    }

    /// One length-prefixed BlobHeader + Blob.
    pub fn blob(kind: &str, block: &[u8], compression: Compression) -> Vec<u8> {
        let blob = match compression {
            Compression::Raw => Msg::new().bytes(1, block),
            Compression::Zlib => Msg::new()
                .int(2, block.len() as i64)
                .bytes(3, &pb::zlib_stored(block)),
        };
        framed(kind, &blob.0)
    }

    /// `[u32 BE header length][BlobHeader {type, datasize}][blob bytes]`.
    pub fn framed(kind: &str, blob: &[u8]) -> Vec<u8> {
        let header = Msg::new().str(1, kind).int(3, blob.len() as i64);
        let mut out = (header.0.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&header.0);
        out.extend_from_slice(blob);
        out
    }

    pub fn header_block(bbox: Option<[f64; 4]>) -> Msg {
        let mut h = Msg::new();
        if let Some([l, b, r, t]) = bbox {
            let nano = |d: f64| (d * 1e9).round() as i64;
            h = h.msg(
                1,
                &Msg::new()
                    .sint(1, nano(l))
                    .sint(2, nano(r))
                    .sint(3, nano(t))
                    .sint(4, nano(b)),
            );
        }
        h.str(4, "OsmSchema-V0.6")
            .str(4, "DenseNodes")
            .str(5, "Sort.Type_then_ID")
            .str(16, "metroreach-tests")
            .int(32, 1_640_563_200)
    }

    fn keys_vals(st: &mut Strings, t: &Tags) -> (Vec<u64>, Vec<u64>) {
        t.iter().map(|(k, v)| (st.id(k), st.id(v))).unzip()
    }

    fn node_group(st: &mut Strings, nodes: &[Node], dense: bool) -> Msg {
        let mut group = Msg::new();
        if dense {
            let ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
            let lats: Vec<i64> = nodes.iter().map(|n| n.lat_e7).collect();
            let lons: Vec<i64> = nodes.iter().map(|n| n.lon_e7).collect();
            let mut kv = Vec::new();
            for n in nodes {
                for (k, v) in &n.tags {
                    kv.push(st.id(k));
                    kv.push(st.id(v));
                }
                kv.push(0);
            }
            let dense = Msg::new()
                .packed_delta(1, &ids)
                .packed_delta(8, &lats)
                .packed_delta(9, &lons)
                .packed_uint(10, kv);
            group = group.msg(2, &dense);
        } else {
            for n in nodes {
                let (k, v) = keys_vals(st, &n.tags);
                let m = Msg::new()
                    .sint(1, n.id)
                    .packed_uint(2, k)
                    .packed_uint(3, v)
                    .sint(8, n.lat_e7)
                    .sint(9, n.lon_e7);
                group = group.msg(1, &m);
            }
        }
        group
    }

    fn way_group(st: &mut Strings, ways: &[Way]) -> Msg {
        let mut group = Msg::new();
        for w in ways {
            let (k, v) = keys_vals(st, &w.tags);
            let m = Msg::new()
                .int(1, w.id)
                .packed_uint(2, k)
                .packed_uint(3, v)
                .packed_delta(8, &w.refs);
            group = group.msg(3, &m);
        }
        group
    }

    fn relation_group(st: &mut Strings, rels: &[Relation]) -> Msg {
        let mut group = Msg::new();
        for r in rels {
            let (k, v) = keys_vals(st, &r.tags);
            let roles: Vec<u64> = r.members.iter().map(|m| st.id(&m.2)).collect();
            let ids: Vec<i64> = r.members.iter().map(|m| m.1).collect();
            let types: Vec<u64> = r.members.iter().map(|m| u64::from(m.0)).collect();
            let m = Msg::new()
                .int(1, r.id)
                .packed_uint(2, k)
                .packed_uint(3, v)
                .packed_uint(8, roles)
                .packed_delta(9, &ids)
                .packed_uint(10, types);
            group = group.msg(4, &m);
        }
        group
    }

    /// One block holding a group per non-empty kind, in file order (a writer may start a block
    /// with the last nodes and go on with the first ways).
    fn mixed_block(nodes: &[Node], dense: bool, ways: &[Way], rels: &[Relation]) -> Vec<u8> {
        let mut st = Strings::default();
        let mut groups = Vec::new();
        if !nodes.is_empty() {
            groups.push(node_group(&mut st, nodes, dense));
        }
        if !ways.is_empty() {
            groups.push(way_group(&mut st, ways));
        }
        if !rels.is_empty() {
            groups.push(relation_group(&mut st, rels));
        }
        let mut b = Msg::new().msg(1, &st.table());
        for g in &groups {
            b = b.msg(2, g);
        }
        b.0
    }

    impl Osm {
        /// The header blob alone.
        pub fn header_blob(&self) -> Vec<u8> {
            blob("OSMHeader", &header_block(self.bbox).0, self.compression)
        }

        /// The data blobs, in file order.
        pub fn data_blobs(&self) -> Vec<Vec<u8>> {
            let c = self.compression;
            let n = self.per_blob.max(1);
            let mut out = Vec::new();
            for chunk in self.nodes.chunks(n) {
                out.push(blob(
                    "OSMData",
                    &mixed_block(chunk, self.dense, &[], &[]),
                    c,
                ));
            }
            for chunk in self.ways.chunks(n) {
                out.push(blob(
                    "OSMData",
                    &mixed_block(&[], self.dense, chunk, &[]),
                    c,
                ));
            }
            for chunk in self.relations.chunks(n) {
                out.push(blob(
                    "OSMData",
                    &mixed_block(&[], self.dense, &[], chunk),
                    c,
                ));
            }
            out
        }

        /// The data blobs cut every `per_blob` elements of the whole sequence (nodes, ways,
        /// relations), so that a blob may hold the last elements of one kind and the first of
        /// the next: still a file sorted by type, then id.
        pub fn data_blobs_straddling(&self) -> Vec<Vec<u8>> {
            let n = self.per_blob.max(1);
            let total = self.nodes.len() + self.ways.len() + self.relations.len();
            let part = |v_len: usize, before: usize, from: usize| {
                let a = from.saturating_sub(before).min(v_len);
                let b = (from + n).saturating_sub(before).min(v_len);
                a..b
            };
            let (nn, nw) = (self.nodes.len(), self.ways.len());
            (0..total)
                .step_by(n)
                .map(|from| {
                    let block = mixed_block(
                        &self.nodes[part(nn, 0, from)],
                        self.dense,
                        &self.ways[part(nw, nn, from)],
                        &self.relations[part(self.relations.len(), nn + nw, from)],
                    );
                    blob("OSMData", &block, self.compression)
                })
                .collect()
        }

        pub fn to_pbf(&self) -> Vec<u8> {
            let mut out = self.header_blob();
            for b in self.data_blobs() {
                out.extend_from_slice(&b);
            }
            out
        }
    }

    pub const GRID: i64 = 10;
    pub const STEP: f64 = 0.002;
    pub const LON0: f64 = 10.0;
    pub const LAT0: f64 = 50.0;

    pub fn grid_node_id(i: i64, j: i64) -> i64 {
        1000 + i * GRID + j
    }

    /// A small valid town: a 10 × 10 grid of residential streets (~200 m blocks, 100
    /// junctions, enough to survive the island filter), a `place=city` node "Testville" and an
    /// admin_level 8 boundary "Test Council" around it. About 2 KB.
    pub fn town() -> Osm {
        let mut o = Osm {
            bbox: Some([LON0 - 0.01, LAT0 - 0.01, LON0 + 0.03, LAT0 + 0.03]),
            ..Default::default()
        };
        for i in 0..GRID {
            for j in 0..GRID {
                o.nodes.push(node(
                    grid_node_id(i, j),
                    LON0 + j as f64 * STEP,
                    LAT0 + i as f64 * STEP,
                    &[],
                ));
            }
        }
        o.nodes.push(node(
            5000,
            LON0 + 0.009,
            LAT0 + 0.009,
            &[
                ("place", "city"),
                ("name", "Testville"),
                ("population", "12345"),
            ],
        ));
        let (w, s, e, n) = (LON0 - 0.005, LAT0 - 0.005, LON0 + 0.023, LAT0 + 0.023);
        for (k, (x, y)) in [(w, s), (e, s), (e, n), (w, n)].iter().enumerate() {
            o.nodes.push(node(6001 + k as i64, *x, *y, &[]));
        }
        for i in 0..GRID {
            let refs: Vec<i64> = (0..GRID).map(|j| grid_node_id(i, j)).collect();
            let name = format!("Row {i}");
            o.ways.push(way(
                1 + i,
                &refs,
                &[("highway", "residential"), ("name", &name)],
            ));
        }
        for j in 0..GRID {
            let refs: Vec<i64> = (0..GRID).map(|i| grid_node_id(i, j)).collect();
            o.ways
                .push(way(11 + j, &refs, &[("highway", "residential")]));
        }
        o.ways.push(way(
            100,
            &[6001, 6002, 6003, 6004, 6001],
            &[("boundary", "administrative"), ("admin_level", "8")],
        ));
        o.relations
            .push(boundary(200, "Test Council", &[100], Some(5000)));
        o
    }

    /// An admin_level 8 boundary relation with `outer` member ways.
    pub fn boundary(id: i64, name: &str, ways: &[i64], centre: Option<i64>) -> Relation {
        let mut members: Vec<(u8, i64, String)> =
            ways.iter().map(|&w| (1, w, "outer".to_string())).collect();
        if let Some(c) = centre {
            members.push((0, c, "admin_centre".into()));
        }
        Relation {
            id,
            members,
            tags: tags(&[
                ("type", "boundary"),
                ("boundary", "administrative"),
                ("admin_level", "8"),
                ("name", name),
                ("ref", &format!("R{id}")),
            ]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Harness: run the binary, check exit code, message, no panic, nothing written.
// ---------------------------------------------------------------------------------------------

fn metroreach(args: &[String], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metroreach"))
        .args(args)
        .env("METROREACH_CACHE", cache)
        .env_remove("METROREACH_DATA")
        .output()
        .expect("run metroreach")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Every file and directory under `dir` (relative names), for "nothing appeared" checks.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(
                p.strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned(),
            );
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// One bad-input case: a command line, the exit code and the words the message must contain.
struct Case {
    name: String,
    args: Vec<String>,
    code: i32,
    expect: Vec<String>,
}

fn case(name: &str, args: Vec<String>, code: i32, expect: &[&str]) -> Case {
    Case {
        name: name.into(),
        args,
        code,
        expect: expect.iter().map(|x| x.to_string()).collect(),
    }
}

/// Runs the cases with outputs in `out_dir` (which must stay as it was: no output, no temporary
/// file) and a fresh cache directory (which must stay empty when the run fails). Returns one
/// line per failed check, so a test reports every broken case at once.
fn run_cases(out_dir: &Path, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let cache = out_dir.join(format!(".cache-{}", c.name.replace([' ', '/'], "_")));
        std::fs::create_dir_all(&cache).unwrap();
        let before: Vec<String> = listing(out_dir)
            .into_iter()
            .filter(|x| !x.starts_with(".cache-"))
            .collect();
        let o = metroreach(&c.args, &cache);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let mut bad = Vec::new();
        if o.status.code() != Some(c.code) {
            bad.push(format!("exit {:?}, expected {}", o.status.code(), c.code));
        }
        for e in &c.expect {
            if !err.contains(e.as_str()) {
                bad.push(format!("message lacks '{e}'"));
            }
        }
        if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
            bad.push("panic report on stderr".into());
        }
        if c.code != 0 {
            let after: Vec<String> = listing(out_dir)
                .into_iter()
                .filter(|x| !x.starts_with(".cache-"))
                .collect();
            if after != before {
                let new: Vec<&String> = after.iter().filter(|x| !before.contains(x)).collect();
                bad.push(format!("left files behind: {new:?}"));
            }
            let cached = listing(&cache);
            if !cached.is_empty() {
                bad.push(format!("left cache entries: {cached:?}"));
            }
        }
        if !bad.is_empty() {
            failures.push(format!(
                "[{}] {}\n    args: {:?}\n    stderr: {}",
                c.name,
                bad.join("; "),
                c.args,
                err.trim().replace('\n', "\n            ")
            ));
        }
        let _ = std::fs::remove_dir_all(&cache);
    }
    failures
}

fn assert_all(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A scratch directory with `inputs/` (files made by the test) and `out/` (where outputs would
/// go: it must stay empty).
fn dirs(tag: &str) -> (PathBuf, PathBuf) {
    let d = scratch(&format!("bad-{tag}"));
    let inputs = d.join("inputs");
    let out = d.join("out");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    (inputs, out)
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `metroreach import FILE -o out/x.graph`, expected to fail naming the file and `what`.
fn import_case(name: &str, input: &Path, out: &Path, what: &[&str]) -> Case {
    let file = input.file_name().unwrap().to_string_lossy().into_owned();
    let mut expect: Vec<&str> = vec![&file];
    expect.extend_from_slice(what);
    let expect: Vec<String> = expect.iter().map(|x| x.to_string()).collect();
    Case {
        name: name.into(),
        args: vec![
            "import".into(),
            s(input),
            "-o".into(),
            s(&out.join("x.graph")),
        ],
        code: 1,
        expect,
    }
}

/// The tiny town imported with the default car profile (one per test process).
fn town_graph() -> PathBuf {
    static G: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    G.get_or_init(|| {
        let d = scratch("bad-town-graph");
        let pbf = write(&d, "town.osm.pbf", osm::town().to_pbf());
        let g = d.join("town.graph");
        let o = metroreach(&args(&["import", &s(&pbf), "-o", &s(&g)]), &d);
        assert!(
            o.status.success(),
            "the generated town must import: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        g
    })
    .clone()
}

fn real_pbf_bytes(name: &str) -> Vec<u8> {
    std::fs::read(osm(name)).unwrap()
}

/// Byte ranges of the blobs of a PBF: (start, header end, end) per blob.
fn blob_spans(b: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= b.len() {
        let hl = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let h = &b[at + 4..at + 4 + hl];
        // datasize: field 3, varint.
        let mut i = 0;
        let mut datasize = 0usize;
        while i < h.len() {
            let key = h[i];
            i += 1;
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let x = h[i];
                i += 1;
                v |= u64::from(x & 0x7f) << shift;
                shift += 7;
                if x & 0x80 == 0 {
                    break;
                }
            }
            match key & 7 {
                0 if key >> 3 == 3 => datasize = v as usize,
                2 => i += v as usize,
                _ => {}
            }
        }
        let end = at + 4 + hl + datasize;
        out.push((at, at + 4 + hl, end));
        at = end;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The generator works (so every failure below is about the bad part of the input).
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_town_imports_and_draws_circles() {
    let g = town_graph();
    let d = scratch("bad-town-ok");
    let out = d.join("c.geojson");
    let o = metroreach(
        &args(&[
            "circles",
            &s(&g),
            "--city",
            "Testville",
            "--minutes",
            "1,2",
            "-o",
            &s(&out),
        ]),
        &d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["features"].as_array().unwrap().len(), 2);
    // zlib blobs and plain (non-dense) nodes read the same.
    let mut t = osm::town();
    t.compression = osm::Compression::Zlib;
    t.dense = false;
    t.per_blob = 7;
    let pbf = write(&d, "town-zlib.osm.pbf", t.to_pbf());
    let g2 = d.join("t2.graph");
    let o = metroreach(&args(&["import", &s(&pbf), "-o", &s(&g2)]), &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = metroreach::graph::store::load(&g).unwrap();
    let b = metroreach::graph::store::load(&g2).unwrap();
    assert_eq!(a.node_coords, b.node_coords);
    assert_eq!(a.edges, b.edges);
    assert_eq!(a.places, b.places);
    assert_eq!(a.boundaries.len(), 1);
    assert_eq!(a.boundaries, b.boundaries);
}

// ---------------------------------------------------------------------------------------------
// Not a PBF at all.
// ---------------------------------------------------------------------------------------------

#[test]
fn import_refuses_files_that_are_not_pbf() {
    let (inp, out) = dirs("not-pbf");
    let town_graph_bytes = std::fs::read(town_graph()).unwrap();
    let files: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("empty.osm.pbf", vec![], vec!["empty"]),
        ("one-byte.osm.pbf", vec![0], vec!["not an OSM PBF file"]),
        (
            "text.osm.pbf",
            b"just some notes, not OSM\n".to_vec(),
            vec!["not an OSM PBF file"],
        ),
        (
            "xml.osm.pbf",
            b"<?xml version='1.0' encoding='UTF-8'?>\n<osm version='0.6'></osm>\n".to_vec(),
            vec!["OSM XML"],
        ),
        (
            "bom-xml.osm.pbf",
            b"\xEF\xBB\xBF<osm version='0.6'></osm>".to_vec(),
            vec!["OSM XML"],
        ),
        (
            "geojson.osm.pbf",
            br#"{"type":"FeatureCollection","features":[]}"#.to_vec(),
            vec!["JSON"],
        ),
        (
            "gzip.osm.pbf",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec(),
            vec!["gzip"],
        ),
        ("bz2.osm.pbf", b"BZh91AY&SY".to_vec(), vec!["bzip2"]),
        ("graph.osm.pbf", town_graph_bytes, vec!["graph file"]),
        ("zeros.osm.pbf", vec![0u8; 64], vec!["not an OSM PBF file"]),
    ];
    let mut cases = Vec::new();
    for (name, bytes, what) in &files {
        let p = write(&inp, name, bytes);
        cases.push(import_case(name, &p, &out, what));
        // The same file given to circles (imported through the cache) fails the same way.
        cases.push(Case {
            name: format!("circles {name}"),
            args: args(&[
                "circles",
                &s(&p),
                "--at",
                "10.009,50.009",
                "-o",
                &s(&out.join("c.geojson")),
            ]),
            code: 1,
            expect: vec![name.to_string()],
        });
    }
    // A directory and a missing file.
    let dir = inp.join("dir.osm.pbf");
    std::fs::create_dir_all(&dir).unwrap();
    cases.push(import_case("directory", &dir, &out, &["is a directory"]));
    cases.push(import_case(
        "missing",
        &inp.join("missing.osm.pbf"),
        &out,
        &["cannot open"],
    ));
    assert_all(run_cases(&out, &cases));
}

// ---------------------------------------------------------------------------------------------
// Truncated, bit-flipped, oversized and unsupported blobs.
// ---------------------------------------------------------------------------------------------

#[test]
fn import_refuses_pbf_truncated_at_every_kind_of_boundary() {
    let (inp, out) = dirs("truncated");
    let mut cases = Vec::new();
    for (label, bytes) in [
        ("town", {
            let mut t = osm::town();
            t.per_blob = 40;
            t.to_pbf()
        }),
        ("yizhuang", real_pbf_bytes(YIZHUANG)),
    ] {
        let spans = blob_spans(&bytes);
        assert!(spans.len() >= 3, "{label}: {} blobs", spans.len());
        let (h0, hend0, end0) = spans[0];
        let (d1, dh1, de1) = spans[1];
        let last = *spans.last().unwrap();
        // The message names where the unreadable blob starts.
        let at_d1 = format!("at byte {d1} ");
        let at_last = format!("at byte {} ", last.0);
        let cuts: Vec<(&str, usize, Vec<&str>)> = vec![
            (
                "in-first-length",
                h0 + 2,
                vec!["not an OSM PBF file", "shorter than a PBF blob header"],
            ),
            (
                "in-first-header",
                h0 + 4 + (hend0 - h0 - 4) / 2,
                vec!["not an OSM PBF file"],
            ),
            (
                "in-header-blob",
                hend0 + (end0 - hend0) / 2,
                vec!["not an OSM PBF file"],
            ),
            (
                "in-second-length",
                d1 + 3,
                vec!["truncated or corrupt", &at_d1],
            ),
            (
                "in-second-header",
                d1 + 4 + (dh1 - d1 - 4) / 2,
                vec!["truncated or corrupt", &at_d1],
            ),
            (
                "in-first-data-blob",
                dh1 + (de1 - dh1) / 2,
                vec!["truncated or corrupt", &at_d1],
            ),
            (
                "in-last-blob",
                last.1 + (last.2 - last.1) / 2,
                vec!["truncated or corrupt", &at_last],
            ),
            (
                "last-blob-minus-one",
                last.2 - 1,
                vec!["truncated or corrupt", &at_last],
            ),
        ];
        for (what, at, expect) in cuts {
            let name = format!("{label}-{what}.osm.pbf");
            let p = write(&inp, &name, &bytes[..at]);
            cases.push(import_case(&name, &p, &out, &expect));
        }
        // Cut exactly after the header block: a valid file with no data.
        let name = format!("{label}-header-only.osm.pbf");
        let p = write(&inp, &name, &bytes[..end0]);
        cases.push(import_case(
            &name,
            &p,
            &out,
            &["no usable roads", "no ways"],
        ));
    }
    assert_all(run_cases(&out, &cases));
}

/// A sorted file whose blobs straddle the kinds (one block holding the last nodes and the first
/// ways, another the last ways and the relation) is still read as sorted, through the blob
/// probes that locate the kinds, and gives the same graph as the file cut at the kinds.
#[test]
fn blobs_straddling_kinds_read_as_sorted() {
    use metroreach::graph::store;
    use metroreach::osm::{import_pbf, ImportOptions};
    use metroreach::progress::Progress;
    let d = scratch("bad-straddle");
    let opts = ImportOptions {
        min_component_nodes: 1,
        ..Default::default()
    };
    let import = |name: &str, blobs: Vec<Vec<u8>>, header: Vec<u8>| {
        let mut bytes = header;
        for b in blobs {
            bytes.extend_from_slice(&b);
        }
        let p = write(&d, name, bytes);
        let mut g = import_pbf(&p, &opts, &Progress::hidden()).expect("imports");
        assert!(g.meta.import.sorted_by_type, "{name}: read as unsorted");
        // Only the counts of blobs, the timing and the source file may differ.
        g.meta.import = Default::default();
        g.meta.source = Default::default();
        store::to_bytes(&g)
    };
    for compression in [osm::Compression::Raw, osm::Compression::Zlib] {
        // 105 nodes, 21 ways, 1 relation: with 8, 10 or 13 elements per blob, one blob holds
        // nodes and ways and another ways and the relation.
        for per_blob in [8, 10, 13] {
            let mut town = osm::town();
            town.per_blob = per_blob;
            town.compression = compression;
            let name = format!("{compression:?}-{per_blob}");
            let cut = import(
                &format!("{name}-cut.osm.pbf"),
                town.data_blobs(),
                town.header_blob(),
            );
            let straddling = import(
                &format!("{name}-straddling.osm.pbf"),
                town.data_blobs_straddling(),
                town.header_blob(),
            );
            assert!(cut == straddling, "{name}: the graphs differ");
        }
    }
}

/// In process, every truncation of the town and many of a real file: an error, never a panic
/// (a panic would fail this test), never a graph from a cut file unless the cut falls on a blob
/// boundary (the format cannot tell that apart from a shorter file).
#[test]
fn import_never_panics_on_any_truncation() {
    use metroreach::osm::{import_pbf, ImportOptions};
    use metroreach::progress::Progress;
    let d = scratch("bad-trunc-lib");
    let mut town = osm::town();
    town.per_blob = 40;
    let opts = ImportOptions {
        min_component_nodes: 1,
        ..Default::default()
    };
    for (label, bytes, step) in [
        ("town", town.to_pbf(), 1usize),
        ("yizhuang", real_pbf_bytes(YIZHUANG), 997),
    ] {
        let boundaries: Vec<usize> = blob_spans(&bytes).iter().map(|s| s.2).collect();
        let p = d.join(format!("{label}.osm.pbf"));
        let mut at = 0;
        while at < bytes.len() {
            std::fs::write(&p, &bytes[..at]).unwrap();
            let r = import_pbf(&p, &opts, &Progress::hidden());
            if let Ok(g) = &r {
                assert!(
                    boundaries.contains(&at),
                    "{label}: a file cut at byte {at} (inside a blob) imported: {} nodes",
                    g.num_nodes()
                );
            }
            if let Err(e) = &r {
                let m = e.to_string();
                assert!(
                    m.contains(&format!("{label}.osm.pbf")),
                    "{label} cut at {at}: message does not name the file: {m}"
                );
            }
            at += step;
        }
    }
}

/// Flips bits in blobs: raw blobs of the town (in process, every byte of the data blobs) and the
/// zlib blobs of a real file (through the binary). Errors must name the file; nothing panics.
#[test]
fn import_survives_bit_flips() {
    use metroreach::osm::{import_pbf, ImportOptions};
    use metroreach::progress::Progress;
    let (inp, out) = dirs("flips");
    let town = osm::town().to_pbf();
    let p = inp.join("flipped-town.osm.pbf");
    let opts = ImportOptions {
        min_component_nodes: 1,
        ..Default::default()
    };
    let first_data = blob_spans(&town)[1].0;
    let mut errors = 0;
    for i in first_data..town.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = town.clone();
            b[i] ^= bit;
            std::fs::write(&p, &b).unwrap();
            if let Err(e) = import_pbf(&p, &opts, &Progress::hidden()) {
                errors += 1;
                assert!(e.to_string().contains("flipped-town.osm.pbf"), "{e}");
            }
        }
    }
    assert!(errors > 0);
    // Through the binary: a flipped byte in the middle of a zlib blob of a real extract.
    let real = real_pbf_bytes(YIZHUANG);
    let spans = blob_spans(&real);
    let mut cases = Vec::new();
    for (k, &(_, hs, e)) in spans.iter().enumerate().skip(1).take(3) {
        for (what, at) in [("start", hs + 8), ("middle", (hs + e) / 2), ("end", e - 2)] {
            let mut b = real.clone();
            b[at] ^= 0x5a;
            let name = format!("yizhuang-flip-blob{k}-{what}.osm.pbf");
            let p = write(&inp, &name, &b);
            cases.push(import_case(&name, &p, &out, &["corrupt", "blob"]));
        }
    }
    assert_all(run_cases(&out, &cases));
}

#[test]
fn import_refuses_blob_headers_with_huge_or_negative_sizes() {
    let (inp, out) = dirs("huge");
    let town = osm::town();
    let header = town.header_blob();
    let data = town.data_blobs();
    let mut cases = Vec::new();
    let mut push = |name: &str, bytes: Vec<u8>, what: &[&str]| {
        let p = write(&inp, name, &bytes);
        cases.push(import_case(name, &p, &out, what));
    };
    // First blob-header length beyond the 64 KiB the format allows.
    let mut b = vec![0x00, 0x10, 0x00, 0x00];
    b.extend_from_slice(&header[4..]);
    push(
        "huge-first-header-length.osm.pbf",
        b,
        &["not an OSM PBF file"],
    );
    // A later blob-header length of 4 GiB.
    let mut b = header.clone();
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    b.extend_from_slice(&data[0][4..]);
    push(
        "huge-second-header-length.osm.pbf",
        b,
        &["truncated or corrupt"],
    );
    // A data blob header claiming 2 GiB - 1 of data.
    let blob = pb::Msg::new().bytes(1, b"x");
    let bh = pb::Msg::new().str(1, "OSMData").int(3, i32::MAX as i64);
    let mut b = header.clone();
    b.extend_from_slice(&(bh.0.len() as u32).to_be_bytes());
    b.extend_from_slice(&bh.0);
    b.extend_from_slice(&blob.0);
    push("huge-datasize.osm.pbf", b, &["truncated or corrupt"]);
    // Negative datasize (int32 -1, a 10-byte varint), before and after real data.
    for (name, before) in [
        ("negative-datasize.osm.pbf", vec![]),
        ("negative-datasize-after-data.osm.pbf", data[0].clone()),
    ] {
        let bh = pb::Msg::new().str(1, "OSMData").int(3, -1);
        let mut b = header.clone();
        b.extend_from_slice(&before);
        b.extend_from_slice(&(bh.0.len() as u32).to_be_bytes());
        b.extend_from_slice(&bh.0);
        b.extend_from_slice(&data[1][4..]);
        push(name, b, &["truncated or corrupt"]);
    }
    // A raw_size claiming 1 GiB on a tiny zlib blob, and a zlib bomb-like size field.
    let block = pb::Msg::new().bytes(1, b"");
    let blob = pb::Msg::new()
        .int(2, 1 << 30)
        .bytes(3, &pb::zlib_stored(&block.0));
    let mut b = header.clone();
    b.extend_from_slice(&osm::framed("OSMData", &blob.0));
    push("huge-raw-size.osm.pbf", b, &["no usable roads"]);
    assert_all(run_cases(&out, &cases));
}

/// zstd / LZMA / LZ4 / bzip2 blobs: named as such, with the command that fixes the file.
#[test]
fn import_names_unsupported_blob_compression() {
    let (inp, out) = dirs("codecs");
    let real = real_pbf_bytes(YIZHUANG);
    let spans = blob_spans(&real);
    let header = &real[spans[0].0..spans[0].2];
    let mut cases = Vec::new();
    for (field, codec, file) in [
        (7u32, "Zstandard (zstd)", "zstd.osm.pbf"),
        (4, "LZMA", "lzma.osm.pbf"),
        (6, "LZ4", "lz4.osm.pbf"),
        (5, "bzip2", "bzip2.osm.pbf"),
    ] {
        // A zstd frame magic / xz magic in front of junk: content does not matter, the field does.
        let payload: &[u8] = match field {
            7 => b"\x28\xb5\x2f\xfd\x00\x58\x61\x00\x00",
            4 => b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46",
            _ => b"\x04\x22\x4d\x18\x64\x40\xa7",
        };
        let blob = pb::Msg::new().int(2, 1000).bytes(field, payload);
        let mut b = header.to_vec();
        b.extend_from_slice(&osm::framed("OSMData", &blob.0));
        let p = write(&inp, file, &b);
        cases.push(import_case(
            file,
            &p,
            &out,
            &[codec, "cannot read", "osmium cat"],
        ));
    }
    // A zstd blob in the middle of an otherwise valid file.
    let blob = pb::Msg::new()
        .int(2, 1000)
        .bytes(7, b"\x28\xb5\x2f\xfd\x00");
    let mut b = real[..spans[2].0].to_vec();
    b.extend_from_slice(&osm::framed("OSMData", &blob.0));
    b.extend_from_slice(&real[spans[2].0..]);
    let p = write(&inp, "zstd-in-the-middle.osm.pbf", &b);
    let at = format!("at byte {}", spans[2].0);
    cases.push(import_case(
        "zstd-in-the-middle",
        &p,
        &out,
        &["Zstandard (zstd)", &at],
    ));
    // A header that requires a feature metroreach does not have.
    let h = pb::Msg::new()
        .str(4, "OsmSchema-V0.6")
        .str(4, "HistoricalInformation");
    let mut b = osm::blob("OSMHeader", &h.0, osm::Compression::Raw);
    for d in osm::town().data_blobs() {
        b.extend_from_slice(&d);
    }
    let p = write(&inp, "history.osm.pbf", &b);
    cases.push(import_case("history", &p, &out, &["HistoricalInformation"]));
    // Data before any header.
    let town = osm::town();
    let mut b = town.data_blobs()[0].clone();
    b.extend_from_slice(&town.header_blob());
    let p = write(&inp, "no-header-first.osm.pbf", &b);
    cases.push(import_case("no header first", &p, &out, &["OSMHeader"]));
    assert_all(run_cases(&out, &cases));
}

// ---------------------------------------------------------------------------------------------
// Bad OSM content: coordinates, degenerate ways, broken boundary rings.
// ---------------------------------------------------------------------------------------------

fn import_verbose(pbf: &Path, graph: &Path) -> Output {
    metroreach(
        &args(&["-v", "import", &s(pbf), "-o", &s(graph)]),
        pbf.parent().unwrap(),
    )
}

#[test]
fn out_of_range_coordinates_are_ignored_and_reported() {
    let (inp, out) = dirs("coords");
    // A road whose nodes all lie outside WGS-84: nothing usable, an error that says why.
    let mut o = osm::Osm::default();
    o.nodes.push(osm::node(1, 10.0, 95.0, &[]));
    o.nodes.push(osm::node(2, 200.0, 50.0, &[]));
    o.nodes.push(osm::Node {
        id: 3,
        lon_e7: i64::MAX / 2,
        lat_e7: i64::MIN / 2,
        tags: vec![],
    });
    o.ways
        .push(osm::way(1, &[1, 2, 3], &[("highway", "primary")]));
    let p = write(&inp, "all-out-of-range.osm.pbf", o.to_pbf());
    let cases = vec![import_case(
        "all out of range",
        &p,
        &out,
        &["no usable roads", "outside WGS-84"],
    )];
    let mut failures = run_cases(&out, &cases);
    // The town plus one road through an out-of-range node: imported, with a warning.
    let mut t = osm::town();
    t.nodes.push(osm::node(7000, 10.0, -91.0, &[]));
    t.ways.push(osm::way(
        7000,
        &[osm::grid_node_id(0, 0), 7000, osm::grid_node_id(0, 1)],
        &[("highway", "residential")],
    ));
    t.nodes.sort_by_key(|n| n.id);
    t.ways.sort_by_key(|w| w.id);
    let p = write(&inp, "one-out-of-range.osm.pbf", t.to_pbf());
    let g = out.join("one.graph");
    let o = import_verbose(&p, &g);
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        failures.push(format!("one out of range: failed: {err}"));
    } else {
        if !err.contains("1 nodes have coordinates outside WGS-84") {
            failures.push(format!("one out of range: no warning: {err}"));
        }
        if !err.contains("node/7000") {
            failures.push(format!(
                "one out of range: the warning does not name the node (node/7000): {err}"
            ));
        }
        let graph = metroreach::graph::store::load(&g).unwrap();
        assert_eq!(graph.meta.import.invalid_coordinates, 1);
        assert!(graph.node_coords.iter().all(|c| c.is_valid()));
    }
    assert_all(failures);
}

#[test]
fn degenerate_ways_are_dropped_or_refused() {
    let (inp, out) = dirs("ways");
    let mut cases = Vec::new();
    // Only a one-node road.
    let mut o = osm::Osm::default();
    o.nodes.push(osm::node(1, 10.0, 50.0, &[]));
    o.ways.push(osm::way(5, &[1], &[("highway", "primary")]));
    let p = write(&inp, "one-node-way.osm.pbf", o.to_pbf());
    cases.push(import_case("one node", &p, &out, &["no usable roads"]));
    // Only a road whose nodes are all missing.
    let mut o = osm::Osm::default();
    o.nodes.push(osm::node(1, 10.0, 50.0, &[]));
    o.ways
        .push(osm::way(6, &[11, 12, 13], &[("highway", "primary")]));
    let p = write(&inp, "missing-nodes.osm.pbf", o.to_pbf());
    cases.push(import_case(
        "all nodes missing",
        &p,
        &out,
        &["no usable roads", "node references"],
    ));
    // No nodes at all, no ways at all, an empty way.
    let mut o = osm::Osm::default();
    o.ways.push(osm::way(7, &[], &[("highway", "primary")]));
    let p = write(&inp, "empty-way.osm.pbf", o.to_pbf());
    cases.push(import_case("empty way", &p, &out, &["no usable roads"]));
    let mut o = osm::Osm::default();
    o.nodes.push(osm::node(1, 10.0, 50.0, &[("place", "city")]));
    let p = write(&inp, "nodes-only.osm.pbf", o.to_pbf());
    cases.push(import_case(
        "nodes only",
        &p,
        &out,
        &["no usable roads", "no ways at all"],
    ));
    let mut failures = run_cases(&out, &cases);
    // The town with both kinds added: imported, the bad ways dropped, a warning.
    let mut t = osm::town();
    t.ways.push(osm::way(
        8000,
        &[osm::grid_node_id(3, 3)],
        &[("highway", "residential")],
    ));
    t.ways.push(osm::way(
        8001,
        &[990_001, 990_002],
        &[("highway", "residential")],
    ));
    let p = write(&inp, "town-with-bad-ways.osm.pbf", t.to_pbf());
    let g = out.join("town.graph");
    let o = import_verbose(&p, &g);
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        failures.push(format!("town with bad ways: failed: {err}"));
    } else {
        let graph = metroreach::graph::store::load(&g).unwrap();
        assert!(
            graph.meta.import.dropped_ways >= 1,
            "{:?}",
            graph.meta.import
        );
        assert!(!graph.road_way_id.contains(&8000) && !graph.road_way_id.contains(&8001));
        if !err.contains("missing from the extract") {
            failures.push(format!("town with bad ways: no warning: {err}"));
        }
    }
    assert_all(failures);
}

#[test]
fn broken_boundary_rings_are_reported_by_relation_id() {
    let (inp, out) = dirs("rings");
    // Unclosed: relation 300 with one open way. Self-intersecting (bow tie): relation 301.
    let mut t = osm::town();
    let (w, s_, e, n) = (10.0, 50.0, 10.018, 50.018);
    for (k, (x, y)) in [(w, s_), (e, s_), (e, n), (w, n)].iter().enumerate() {
        t.nodes.push(osm::node(6101 + k as i64, *x, *y, &[]));
    }
    t.ways.push(osm::way(
        101,
        &[6101, 6102, 6103, 6104],
        &[("boundary", "administrative")],
    ));
    // Bow tie: SW → NE → SE → NW → SW crosses itself in the middle.
    t.ways.push(osm::way(
        102,
        &[6101, 6103, 6102, 6104, 6101],
        &[("boundary", "administrative")],
    ));
    t.relations = vec![
        osm::boundary(300, "Open Council", &[101], None),
        osm::boundary(301, "Bowtie Council", &[102], None),
    ];
    t.nodes.sort_by_key(|n| n.id);
    let p = write(&inp, "rings.osm.pbf", t.to_pbf());
    let g = out.join("rings.graph");
    let o = import_verbose(&p, &g);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    let mut failures = Vec::new();
    if !(err.contains("could not be closed") && err.contains("relation/300")) {
        failures.push(format!("import: unclosed ring not reported: {err}"));
    }
    // reach on level 8: the open ring is left out (named), the bow tie repaired (named).
    let dir = out.join("reach");
    let o = metroreach(
        &args(&[
            "-v",
            "reach",
            &s(&g),
            "--at",
            "10.009,50.009",
            "--minutes",
            "1,2",
            "--units",
            "osm:8",
            "-o",
            &s(&dir),
        ]),
        &out,
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if !o.status.success() {
        failures.push(format!("reach: failed: {err}"));
    } else {
        if !(err.contains("unit left out") && err.contains("relation/300")) {
            failures.push(format!("reach: open ring not named: {err}"));
        }
        if !(err.contains("unit repaired") && err.contains("relation/301")) {
            failures.push(format!("reach: bow tie not named as repaired: {err}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Only the open ring: no usable unit at all → error naming the relation, nothing written.
    let mut t2 = t.clone();
    t2.relations = vec![osm::boundary(300, "Open Council", &[101], None)];
    let p = write(&inp, "open-only.osm.pbf", t2.to_pbf());
    let g2 = inp.join("open-only.graph");
    let o = metroreach(&args(&["import", &s(&p), "-o", &s(&g2)]), &inp);
    assert!(o.status.success());
    failures.extend(run_cases(
        &out,
        &[case(
            "reach on open ring only",
            args(&[
                "reach",
                &s(&g2),
                "--at",
                "10.009,50.009",
                "--minutes",
                "1",
                "--units",
                "osm:8",
                "-o",
                &s(&dir),
            ]),
            1,
            &[
                "osm:8",
                "no usable administrative boundaries",
                "relation/300",
            ],
        )],
    ));
    assert_all(failures);
}

// ---------------------------------------------------------------------------------------------
// Graph files.
// ---------------------------------------------------------------------------------------------

#[test]
fn damaged_graph_files_are_refused() {
    let (inp, out) = dirs("graphs");
    let good = std::fs::read(town_graph()).unwrap();
    let mut files: Vec<(String, Vec<u8>, Vec<&str>)> = vec![
        (
            "empty.graph".into(),
            vec![],
            vec!["not a metroreach graph file", "empty"],
        ),
        (
            "truncated-header.graph".into(),
            good[..20].to_vec(),
            vec!["damaged", "truncated header"],
        ),
        (
            "truncated-half.graph".into(),
            good[..good.len() / 2].to_vec(),
            vec!["damaged", "truncated"],
        ),
        (
            "truncated-one-byte.graph".into(),
            good[..good.len() - 1].to_vec(),
            vec!["damaged", "truncated"],
        ),
        (
            "pbf-as-graph.graph".into(),
            osm::town().to_pbf(),
            vec!["not a metroreach graph file", "metroreach import"],
        ),
        (
            "text.graph".into(),
            b"hello".to_vec(),
            vec!["not a metroreach graph file"],
        ),
    ];
    for (v, what) in [
        (1u32, "version-1"),
        (3, "version-3"),
        (u32::MAX, "version-max"),
    ] {
        let mut b = good.clone();
        b[8..12].copy_from_slice(&v.to_le_bytes());
        files.push((
            format!("{what}.graph"),
            b,
            vec!["graph format version", "re-run `metroreach import`"],
        ));
    }
    for (at, what) in [
        (16usize, "payload-length"),
        (24, "checksum"),
        (28, "reserved"),
        (40, "section-table"),
        (good.len() / 2, "middle"),
        (good.len() - 1, "last"),
    ] {
        let mut b = good.clone();
        b[at] ^= 0x10;
        files.push((
            format!("flip-{what}.graph"),
            b,
            vec!["damaged", "re-run `metroreach import`"],
        ));
    }
    let mut cases = Vec::new();
    for (name, bytes, what) in &files {
        let p = write(&inp, name, bytes);
        let mut expect = vec![name.as_str()];
        expect.extend(what.iter());
        cases.push(case(
            &format!("info {name}"),
            args(&["info", &s(&p)]),
            1,
            &expect,
        ));
        cases.push(case(
            &format!("circles {name}"),
            args(&[
                "circles",
                &s(&p),
                "--at",
                "10.009,50.009",
                "-o",
                &s(&out.join("c.geojson")),
            ]),
            1,
            &expect,
        ));
    }
    assert_all(run_cases(&out, &cases));
}

// ---------------------------------------------------------------------------------------------
// CSV city lists.
// ---------------------------------------------------------------------------------------------

fn circles_with_csv(csv: &Path, out: &Path) -> Vec<String> {
    args(&[
        "circles",
        &s(&town_graph()),
        "--cities",
        &s(csv),
        "--minutes",
        "1",
        "-o",
        &s(&out.join("c.geojson")),
    ])
}

#[test]
fn csv_city_lists_bad_and_unusual() {
    let (inp, out) = dirs("csv");
    let bad: Vec<(&str, &[u8], Vec<&str>)> = vec![
        (
            "no-lon.csv",
            b"name,lat\nA,50.009\n",
            vec!["missing column 'lon'", "name, lat"],
        ),
        (
            "no-name.csv",
            b"city,lon,lat\nA,10.009,50.009\n",
            vec!["missing column 'name'"],
        ),
        (
            "text-coords.csv",
            b"name,lon,lat\nA,10.009,50.009\nB,east,50.009\n",
            vec!["line 3", "'lon' must be a number", "'east'"],
        ),
        (
            "nan-coords.csv",
            b"name,lon,lat\nA,NaN,50.009\n",
            vec!["line 2", "'lon' must be a number"],
        ),
        (
            "comma-decimal.csv",
            b"name;lon;lat\nA;10,009;50,009\n",
            vec!["missing column 'name'"],
        ),
        (
            "swapped.csv",
            b"name,lon,lat\nA,50.009,100.009\n",
            vec!["line 2", "outside WGS-84"],
        ),
        (
            "gbk.csv",
            // "上海" in GBK on line 3.
            b"name,lon,lat\nA,10.009,50.009\n\xC9\xCF\xBA\xA3,10.01,50.01\n",
            vec!["line 3", "UTF-8", "GBK"],
        ),
        ("utf16.csv", b"\xFF\xFEn\x00a\x00m\x00e\x00", vec!["UTF-16"]),
        ("empty.csv", b"", vec!["empty"]),
        ("header-only.csv", b"name,lon,lat\n", vec!["no rows"]),
        (
            "open-quote.csv",
            b"name,lon,lat\n\"A,10.009,50.009\n",
            vec!["line 2", "not closed"],
        ),
        (
            "empty-name.csv",
            b"name,lon,lat\n,10.009,50.009\n",
            vec!["line 2", "empty 'name'"],
        ),
        (
            "bad-population.csv",
            b"name,lon,lat,population\nA,10.009,50.009,lots\n",
            vec!["line 2", "population"],
        ),
    ];
    let mut cases = Vec::new();
    for (name, bytes, what) in &bad {
        let p = write(&inp, name, bytes);
        let mut expect = vec![*name];
        expect.extend(what.iter());
        cases.push(case(name, circles_with_csv(&p, &out), 1, &expect));
    }
    // A missing CSV.
    cases.push(case(
        "missing.csv",
        circles_with_csv(&inp.join("missing.csv"), &out),
        1,
        &["missing.csv", "cannot read"],
    ));
    let mut failures = run_cases(&out, &cases);
    // Accepted: BOM, CRLF, both, quoted names with commas, blank lines, Chinese names in UTF-8.
    let good: Vec<(&str, &[u8])> = vec![
        ("bom.csv", b"\xEF\xBB\xBFname,lon,lat\nA,10.009,50.009\n"),
        ("crlf.csv", b"name,lon,lat\r\nA,10.009,50.009\r\n"),
        (
            "bom-crlf.csv",
            b"\xEF\xBB\xBFName,Lon,Lat\r\n\"Test, Town\",10.009,50.009\r\n\r\n",
        ),
        (
            "utf8-zh.csv",
            "name,lon,lat\n测试市,10.009,50.009\n".as_bytes(),
        ),
        ("no-final-newline.csv", b"name,lon,lat\nA,10.009,50.009"),
    ];
    for (name, bytes) in good {
        let p = write(&inp, name, bytes);
        let cache = out.join(".cache-good");
        let o = metroreach(&circles_with_csv(&p, &out), &cache);
        let c = out.join("c.geojson");
        if !o.status.success() || !c.is_file() {
            failures.push(format!(
                "[{name}] refused: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        } else {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&c).unwrap()).unwrap();
            if v["features"].as_array().map(Vec::len) != Some(1) {
                failures.push(format!("[{name}] wrong output"));
            }
        }
        let _ = std::fs::remove_file(&c);
    }
    assert_all(failures);
}

// ---------------------------------------------------------------------------------------------
// GeoJSON units.
// ---------------------------------------------------------------------------------------------

fn reach_with_units(units: &Path, out: &Path) -> Vec<String> {
    args(&[
        "reach",
        &s(&town_graph()),
        "--at",
        "10.009,50.009",
        "--minutes",
        "1",
        "--units",
        &s(units),
        "-o",
        &s(&out.join("reach")),
    ])
}

#[test]
fn geojson_units_bad() {
    let (inp, out) = dirs("geojson");
    let sq = "[[9.99,49.99],[10.03,49.99],[10.03,50.03],[9.99,50.03],[9.99,49.99]]";
    let feature = |geom: &str| {
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"name":"U","code":"1"}},"geometry":{geom}}}]}}"#
        )
    };
    let files: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "no-features.geojson",
            r#"{"type":"FeatureCollection","features":[]}"#.into(),
            vec!["no features"],
        ),
        ("empty.geojson", String::new(), vec!["not valid JSON"]),
        ("truncated.geojson", feature(&format!(r#"{{"type":"Polygon","coordinates":[{sq}]}}"#))[..60].to_string(), vec!["not valid JSON"]),
        (
            "geometry-collection-only.geojson",
            r#"{"type":"GeometryCollection","geometries":[]}"#.into(),
            vec!["not a GeoJSON FeatureCollection"],
        ),
        (
            "two-points.geojson",
            feature(r#"{"type":"Polygon","coordinates":[[[10,50],[10.01,50.01]]]}"#),
            vec!["no usable unit polygons", "feature 1"],
        ),
        (
            "point.geojson",
            feature(r#"{"type":"Point","coordinates":[10,50]}"#),
            vec!["no usable unit polygons", "feature 1"],
        ),
        (
            "string-coords.geojson",
            feature(r#"{"type":"Polygon","coordinates":[[["a","b"],["c","d"],["e","f"],["a","b"]]]}"#),
            vec!["no usable unit polygons", "feature 1"],
        ),
        (
            "nan-coords.geojson",
            feature(r#"{"type":"Polygon","coordinates":[[[10,50],[1e999,50],[10,51],[10,50]]]}"#),
            vec!["not valid JSON", "out of range"],
        ),
        (
            "out-of-range.geojson",
            feature(r#"{"type":"Polygon","coordinates":[[[500,50],[510,50],[510,95],[500,50]]]}"#),
            vec!["feature 1"],
        ),
        (
            "null-geometry.geojson",
            feature("null"),
            vec!["no usable unit polygons", "no geometry"],
        ),
        (
            "no-name-property.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"NAME":"U"},"geometry":null}]}"#.into(),
            vec!["no feature has the property 'name'", "NAME"],
        ),
    ];
    let mut cases = Vec::new();
    for (name, text, what) in &files {
        let p = write(&inp, name, text);
        let mut expect = vec![*name];
        expect.extend(what.iter());
        cases.push(case(name, reach_with_units(&p, &out), 1, &expect));
    }
    cases.push(case(
        "missing units",
        reach_with_units(&inp.join("missing.geojson"), &out),
        1,
        &["missing.geojson", "cannot read"],
    ));
    let mut failures = run_cases(&out, &cases);
    // Unusual but usable: a bow tie (repaired), a BOM, a single Feature.
    let good = [
        (
            "bowtie.geojson",
            feature(
                r#"{"type":"Polygon","coordinates":[[[9.99,49.99],[10.03,50.03],[10.03,49.99],[9.99,50.03],[9.99,49.99]]]}"#,
            ),
        ),
        (
            "bom.geojson",
            format!(
                "\u{feff}{}",
                feature(&format!(r#"{{"type":"Polygon","coordinates":[{sq}]}}"#))
            ),
        ),
    ];
    for (name, text) in good {
        let p = write(&inp, name, &text);
        let o = metroreach(&reach_with_units(&p, &out), &out.join(".cache-good"));
        if !o.status.success() {
            failures.push(format!(
                "[{name}] refused: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let _ = std::fs::remove_dir_all(out.join("reach"));
    }
    assert_all(failures);
}

// ---------------------------------------------------------------------------------------------
// Minutes.
// ---------------------------------------------------------------------------------------------

#[test]
fn minutes_bad() {
    let (_inp, out) = dirs("minutes");
    let g = s(&town_graph());
    let o = s(&out.join("c.geojson"));
    let mut cases = Vec::new();
    for (m, what) in [
        ("0", "must be a positive number"),
        ("-5", "must be a positive number"),
        ("30,-5", "must be a positive number"),
        ("NaN", "must be a positive number"),
        ("inf", "must be a positive number"),
        ("30,20", "strictly increasing"),
        ("30,30", "strictly increasing"),
        ("x", "'x' is not a number"),
        ("", "is not a number"),
        ("30,", "is not a number"),
        ("2000", "more than a day"),
    ] {
        cases.push(case(
            &format!("minutes '{m}'"),
            vec![
                "circles".into(),
                g.clone(),
                "--at".into(),
                "10.009,50.009".into(),
                format!("--minutes={m}"),
                "-o".into(),
                o.clone(),
            ],
            1,
            &["--minutes", what],
        ));
    }
    // Without '=', a negative value is taken for an option: a command-line error (exit 2).
    cases.push(case(
        "minutes -5 as option",
        args(&[
            "circles",
            &g,
            "--at",
            "10.009,50.009",
            "--minutes",
            "-5",
            "-o",
            &o,
        ]),
        2,
        &["-5"],
    ));
    // The same checks on reach.
    cases.push(case(
        "reach minutes 0",
        args(&[
            "reach",
            &g,
            "--at",
            "10.009,50.009",
            "--minutes=0",
            "--units",
            "osm:8",
            "-o",
            &s(&out.join("reach")),
        ]),
        1,
        &["--minutes", "positive"],
    ));
    assert_all(run_cases(&out, &cases));
}

// ---------------------------------------------------------------------------------------------
// Limits.
// ---------------------------------------------------------------------------------------------

/// A run that would need more memory than allowed stops at once with an estimate (the
/// `--max-memory` option of `import`, src/osm/read.rs).
#[test]
fn memory_estimate_refuses_early() {
    let (_inp, out) = dirs("memory");
    let x = out.join("x");
    let started = std::time::Instant::now();
    let o = metroreach(
        &args(&[
            "import",
            &s(&osm(MALTA)),
            "-o",
            &s(&x),
            "--max-memory",
            "1MB",
        ]),
        &out,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("needs about"), "{err}");
    assert!(err.contains("--max-memory"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!x.exists());
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
    // "Early": well before a full import of Malta would finish.
    assert!(
        started.elapsed().as_secs_f64() < 5.0,
        "{:?}",
        started.elapsed()
    );
}

/// A circle whose polygon grid would be too large (a day's drive across China's coarse network,
/// read from the shared data, at 100 m cells:
/// about 4·10⁸ cells, 1.6 GB) is refused before the grid is allocated, naming the city and the
/// way out; with a coarser cell the same run succeeds, so the limit is what refused it.
#[test]
fn oversized_polygon_grid_is_refused_before_allocating() {
    let (inp, out) = dirs("grid-limit");
    let graph = inp.join("china.graph");
    let o = metroreach(
        &args(&["import", &s(&osm(CHINA)), "-o", &s(&graph), "-q"]),
        &inp,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let circle = |cell: &str, file: &str| {
        args(&[
            "circles",
            &s(&graph),
            "--at",
            "116.40,39.90",
            "--label",
            "Beijing",
            "--minutes",
            "1440",
            "--cell",
            cell,
            "-o",
            &s(&out.join(file)),
        ])
    };
    let started = std::time::Instant::now();
    assert_all(run_cases(
        &out,
        &[case(
            "1440 min at 100 m",
            circle("100", "big.geojson"),
            1,
            &["Beijing", "grid of", "--cell"],
        )],
    ));
    assert!(
        started.elapsed().as_secs_f64() < 10.0,
        "refused only after {:?}",
        started.elapsed()
    );
    let ok = out.join("ok.geojson");
    let o = metroreach(&circle("2000", "ok.geojson"), &inp);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(ok.exists());
}

// ---------------------------------------------------------------------------------------------
// The fuzzers' seed corpus (fuzz/corpus/<target>/), written by this generator.
// ---------------------------------------------------------------------------------------------

fn seed_files() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut v: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let town = osm::town();
    v.push(("pbf_import", "town-raw.osm.pbf".into(), town.to_pbf()));
    let mut t = town.clone();
    t.compression = osm::Compression::Zlib;
    t.dense = false;
    t.per_blob = 30;
    v.push((
        "pbf_import",
        "town-zlib-plain-nodes.osm.pbf".into(),
        t.to_pbf(),
    ));
    let mut t = osm::Osm {
        nodes: town.nodes[..4].to_vec(),
        ..Default::default()
    };
    t.ways.push(osm::way(
        1,
        &[1000, 1001, 1002, 1003],
        &[
            ("highway", "primary"),
            ("oneway", "yes"),
            ("maxspeed", "50"),
        ],
    ));
    v.push(("pbf_import", "one-road.osm.pbf".into(), t.to_pbf()));
    // The same with every int32 of its blob headers written as a 10-byte varint (legal
    // protobuf): one flipped bit away from a negative or huge size.
    let mut b = t.header_blob();
    for data in t.data_blobs() {
        let header_len = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        let blob = &data[4 + header_len..];
        let mut h = pb::Msg::new().str(1, "OSMData");
        h.0.push(3 << 3);
        let mut size = blob.len() as u64;
        for _ in 0..9 {
            h.0.push(size as u8 & 0x7f | 0x80);
            size >>= 7;
        }
        h.0.push(0);
        b.extend_from_slice(&(h.0.len() as u32).to_be_bytes());
        b.extend_from_slice(&h.0);
        b.extend_from_slice(blob);
    }
    v.push(("pbf_import", "one-road-long-varints.osm.pbf".into(), b));
    let mut t = osm::Osm {
        nodes: vec![osm::node(1, 10.0, 50.0, &[])],
        ..Default::default()
    };
    t.ways.push(osm::way(1, &[1], &[("highway", "primary")]));
    let mut b = t.header_blob();
    b.extend_from_slice(&osm::framed(
        "OSMData",
        &pb::Msg::new().int(2, 9).bytes(7, b"\x28\xb5\x2f\xfd").0,
    ));
    v.push(("pbf_import", "zstd-blob.osm.pbf".into(), b));
    // Graphs: the town's graph file, imported in process.
    let d = scratch("bad-seeds");
    let p = d.join("town.osm.pbf");
    std::fs::write(&p, town.to_pbf()).unwrap();
    let g = metroreach::osm::import_pbf(
        &p,
        &metroreach::osm::ImportOptions::default(),
        &metroreach::progress::Progress::hidden(),
    )
    .unwrap();
    v.push((
        "graph_load",
        "town.graph".into(),
        metroreach::graph::store::to_bytes(&g),
    ));
    let p = d.join("one.osm.pbf");
    std::fs::write(&p, &v[2].2).unwrap();
    let g = metroreach::osm::import_pbf(
        &p,
        &metroreach::osm::ImportOptions {
            min_component_nodes: 1,
            ..Default::default()
        },
        &metroreach::progress::Progress::hidden(),
    )
    .unwrap();
    v.push((
        "graph_load",
        "one-road.graph".into(),
        metroreach::graph::store::to_bytes(&g),
    ));
    for (name, text) in [
        ("cities.csv", "name,lon,lat\nValletta,14.5146,35.8989\nMdina,14.4031,35.8857\n".as_bytes().to_vec()),
        ("groups.csv", "name,lon,lat,group,id,population\nPeople's Square,121.4737,31.2304,Shanghai,310000,24870895\n\"Lujiazui, Pudong\",121.5,31.24,Shanghai,,\nSuzhou,120.58,31.3,,320500,\"12,748,262\"\n".as_bytes().to_vec()),
        ("bom-crlf.csv", b"\xEF\xBB\xBFName,Longitude,Latitude\r\nA,1,2\r\n\r\n\"B \"\"b\"\"\",3,4\r\n".to_vec()),
        ("gbk.csv", b"name,lon,lat\n\xC9\xCF\xBA\xA3,121.47,31.23\n".to_vec()),
        ("zh.csv", "name,x,y\n南京市,118.8,32.06\n上海,121.47,31.23\n".as_bytes().to_vec()),
    ] {
        v.push(("csv", name.into(), text));
    }
    for (name, text) in [
        (
            "square.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"A","code":"1","parent":"P"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}}]}"#,
        ),
        (
            "multi-hole.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"B","code":2},"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[1,2],[2,2],[2,1],[1,1]]],[[[5,5],[6,5],[6,6],[5,5]]]]}},{"type":"Feature","properties":{"name":"C","code":null},"geometry":null}]}"#,
        ),
        (
            "bowtie.geojson",
            r#"{"type":"Feature","properties":{"name":"D","code":"4"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}}"#,
        ),
        (
            "empty.geojson",
            r#"{"type":"FeatureCollection","features":[]}"#,
        ),
    ] {
        v.push(("geojson_units", name.into(), text.as_bytes().to_vec()));
    }
    v
}

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Regenerates fuzz/corpus/<target>/ seeds when `METROREACH_WRITE_SEEDS=1` (after changing the
/// generator or the graph format); otherwise checks that every seed the generator makes exists.
#[test]
fn write_fuzz_seed_corpus() {
    if std::env::var_os("METROREACH_WRITE_SEEDS").is_none() {
        for (target, name, _) in seed_files() {
            let p = fuzz_dir().join("corpus").join(target).join(&name);
            assert!(
                p.is_file(),
                "missing seed {}: run with METROREACH_WRITE_SEEDS=1",
                p.display()
            );
        }
        return;
    }
    for (target, name, bytes) in seed_files() {
        let d = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    }
}

/// The committed seeds exist, are small, and the valid ones still load (so that a format change
/// that would leave the fuzzers starting from rejected inputs is noticed).
#[test]
fn fuzz_seed_corpus_is_present_and_loads() {
    for (target, name, bytes) in seed_files() {
        let p = fuzz_dir().join("corpus").join(target).join(&name);
        let committed = std::fs::read(&p).unwrap_or_else(|_| {
            panic!(
                "missing seed {}: run `METROREACH_WRITE_SEEDS=1 cargo test --release --test \
                 bad_inputs write_fuzz_seed_corpus`",
                p.display()
            )
        });
        assert!(
            committed.len() < 32 * 1024,
            "{} is too big for a seed",
            p.display()
        );
        if target == "graph_load" {
            let r = metroreach::graph::store::from_bytes(&committed, &p);
            assert!(
                r.is_ok(),
                "{}: {:?}; regenerate the seeds (graph format changed?)",
                p.display(),
                r.err()
            );
        } else if target == "pbf_import" && !name.contains("zstd") {
            assert_eq!(
                committed,
                bytes,
                "{} differs from the generator",
                p.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions found by fuzzing (scripts/fuzz.sh): each input that crashed a target.
// ---------------------------------------------------------------------------------------------

/// graph_load: `validate` checks `w[1] < w[0] + 2` on road geometry offsets; with an offset
/// near `u32::MAX` the addition wraps (release) or panics (overflow checks), so a crafted file
/// passes validation and a later stage slices `geom[u32::MAX..]` and panics.
#[test]
fn fuzz_graph_with_wrapping_geometry_offsets_is_refused() {
    use metroreach::graph::store;
    let (inp, out) = dirs("graph-wrap");
    let mut g = store::load(&town_graph()).unwrap();
    g.road_geom_start[1] = u32::MAX;
    let bytes = store::to_bytes(&g);
    let p = write(&inp, "wrapping-offsets.graph", &bytes);
    let in_process = std::panic::catch_unwind(|| store::from_bytes(&bytes, &p).is_err());
    let mut failures = Vec::new();
    match in_process {
        Ok(true) => {}
        Ok(false) => failures.push("store::from_bytes accepted it".into()),
        Err(_) => failures.push("store::from_bytes panicked on it".into()),
    }
    failures.extend(run_cases(
        &out,
        &[
            case(
                "info",
                args(&["info", &s(&p)]),
                1,
                &["wrapping-offsets.graph", "damaged"],
            ),
            case(
                "circles",
                args(&[
                    "circles",
                    &s(&p),
                    "--at",
                    "10.009,50.009",
                    "--minutes",
                    "1",
                    "-o",
                    &s(&out.join("c.geojson")),
                ]),
                1,
                &["wrapping-offsets.graph", "damaged"],
            ),
        ],
    ));
    assert_all(failures);
}

/// geojson_units: a self-intersecting ring on which geo's `make_valid` trips a debug assertion
/// of its sweep line (harmless in the release build). Must be repaired or refused, not crash.
#[test]
fn fuzz_geojson_units_self_intersection_is_repaired_or_refused() {
    let (inp, out) = dirs("geojson-fuzz");
    let p = write(
        &inp,
        "sweep.geojson",
        r#"{"type":"Feature","properties":{"name":"D","code":"4"},"geometry":{"type":"Polygon","coordinates":[[[1,0],[-0,1],[2,0],[0,1],[0,0]]]}}"#,
    );
    let units = metroreach::analysis::units::Units::from_geojson(&p, "name", "code", None);
    if let Ok(u) = &units {
        assert!(u
            .units
            .iter()
            .all(|x| x.area_km2.is_finite() && x.area_km2 > 0.0));
    }
    let o = metroreach(&reach_with_units(&p, &out), &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The same limit through `circles` on a PBF: refused before the import, no cache entry left.
#[test]
fn memory_estimate_refuses_early_for_a_pbf_input() {
    let (_inp, out) = dirs("memory-pbf");
    assert_all(run_cases(
        &out,
        &[case(
            "circles on malta.osm.pbf with --max-memory 1MB",
            args(&[
                "circles",
                &s(&osm(MALTA)),
                "--city",
                "Valletta",
                "--max-memory",
                "1MB",
                "-o",
                &s(&out.join("c.geojson")),
            ]),
            1,
            &[MALTA, "needs about", "--max-memory"],
        )],
    ));
}

/// A polygon edge case built with the same encoder: a ferry made of two ways that meet at sea.
/// The graph keeps a node at the joint, the search settles it, but it is no point of a road: the
/// circle must not draw a walking disc around it in the water, while the island beyond the ferry
/// is drawn.
#[test]
fn ferry_joints_at_sea_are_not_drawn() {
    use metroreach::geom::polyindex::PolyIndex;
    use metroreach::isochrone::search::SearchScratch;
    use metroreach::isochrone::{CircleParams, CitySpec, Engine};
    use metroreach::osm::{import_pbf, ImportOptions};
    use metroreach::progress::Progress;
    let mut t = osm::town();
    let lat = osm::LAT0 + 5.0 * osm::STEP;
    let east = osm::grid_node_id(5, osm::GRID - 1);
    t.nodes.push(osm::node(7001, 10.06, lat, &[])); // at sea, ~3 km from both shores
    t.nodes.push(osm::node(7002, 10.10, lat, &[]));
    t.nodes.push(osm::node(7003, 10.102, lat, &[]));
    t.ways
        .push(osm::way(300, &[east, 7001], &[("route", "ferry")]));
    t.ways
        .push(osm::way(301, &[7001, 7002], &[("route", "ferry")]));
    t.ways
        .push(osm::way(302, &[7002, 7003], &[("highway", "residential")]));
    let d = scratch("ferry-joint");
    let p = d.join("ferry.osm.pbf");
    std::fs::write(&p, t.to_pbf()).unwrap();
    let opts = ImportOptions {
        min_component_nodes: 1,
        ..Default::default()
    };
    let g = import_pbf(&p, &opts, &Progress::hidden()).unwrap();
    let engine = Engine::new(&g);
    let city = CitySpec::at("Testville", "--at", osm::LON0 + 0.009, osm::LAT0 + 0.009);
    let params = CircleParams {
        minutes: vec![120.0],
        ..Default::default()
    };
    let c = engine
        .circle(&city, &params, &mut SearchScratch::new(g.num_nodes()))
        .unwrap();
    let joint = g
        .node_osm_ids
        .iter()
        .position(|&id| id == 7001)
        .expect("the joint of the two ferry ways is a graph node");
    let index = PolyIndex::new(&c.bands[0].polygon);
    let t_joint = engine_time(&engine, joint as u32, &city, &params);
    assert!(t_joint.is_some(), "the search reaches the ferry joint");
    assert!(
        !index.contains(10.06, lat),
        "a disc is drawn around the ferry joint at sea"
    );
    assert!(
        index.contains(10.101, lat),
        "the island beyond the ferry is drawn"
    );
    assert!(index.contains(osm::LON0 + 0.009, osm::LAT0 + 0.009));
}

/// Travel time (s) from a city to a node, from one search.
fn engine_time(
    engine: &metroreach::isochrone::Engine,
    node: u32,
    city: &metroreach::isochrone::CitySpec,
    p: &metroreach::isochrone::CircleParams,
) -> Option<f64> {
    let mut scratch = metroreach::isochrone::search::SearchScratch::new(engine.graph.num_nodes());
    let origins = engine.snap_city(city, p.max_snap_m).ok()?;
    let snaps: Vec<_> = origins.iter().map(|o| (o.snap, 0)).collect();
    let sources = engine.sources(&snaps, p.direction);
    engine.search(&sources, p.direction, p.limit_ms(), &mut scratch);
    let t = scratch.time(node);
    (t != metroreach::isochrone::search::INF).then(|| t as f64 / 1000.0)
}
