//! Reading a PBF primitive block in place: nodes, dense nodes and ways straight from the inflated
//! bytes, with no protobuf message built.
//!
//! The node and way passes of an import read every element of most blobs. Decoding a block
//! into `osmpbf`'s protobuf structures allocates a vector per packed field of every element
//! and costs about as much again as inflating it; scanning the bytes in place about halves the
//! decode (`cargo run --release --example raw_decode -- FILE` with and without `--in-place`;
//! `docs/performance.md` has the figures). Only the canonical encoding that PBF writers produce is read here: any other field
//! layout (unpacked repeated fields, a repeated singular message, deprecated wire types, an
//! oversized block) makes [`RawBlock::parse`] or [`RawBlock::for_each`] return `None`, and the
//! caller decodes that blob with `osmpbf` instead, so unusual files read the same as before and
//! errors keep `osmpbf`'s wording. The values follow `osmpbf`'s accessors exactly (delta
//! sums, granularity and offsets, tags that stop at the first invalid string), which
//! `tests/import_real.rs` checks element by element on the real extracts.

use super::pbf::Kinds;

/// Largest inflated block read (`osmpbf` refuses larger ones too).
pub const MAX_BLOCK_BYTES: usize = 32 << 20;

/// A run of protobuf varints (a packed repeated field, or part of one).
#[derive(Clone, Copy, Debug, Default)]
pub struct Packed<'a>(&'a [u8]);

impl<'a> Iterator for Packed<'a> {
    type Item = u64;
    #[inline]
    fn next(&mut self) -> Option<u64> {
        varint(&mut self.0)
    }
}

/// One element as the import reads it. Coordinates are in nanodegrees, as `osmpbf`'s
/// `nano_lon`/`nano_lat` give them.
pub enum RawElement<'a> {
    Node {
        id: i64,
        nano_lon: i64,
        nano_lat: i64,
        tags: RawTags<'a>,
    },
    Way {
        id: i64,
        tags: RawTags<'a>,
        /// Delta-coded node ids (`osmpbf`'s `raw_refs`).
        refs: Packed<'a>,
    },
    Relation,
}

/// The string-table indices of an element's tags.
#[derive(Clone, Copy, Debug)]
pub enum RawTags<'a> {
    /// A way's or a plain node's `keys` and `vals` (uint32).
    Split { keys: Packed<'a>, vals: Packed<'a> },
    /// A dense node's slice of `keys_vals` (int32 pairs, its terminating 0 excluded).
    Interleaved(Packed<'a>),
}

impl<'a> RawTags<'a> {
    /// The (key, value) index pairs, as `osmpbf`'s raw tag iterators give them (a dense node's
    /// indices are int32, a way's uint32; both are widened to `i64`).
    pub fn indices(self) -> impl Iterator<Item = (i64, i64)> + 'a {
        let (mut a, mut b, split) = match self {
            RawTags::Split { keys, vals } => (keys, vals, true),
            RawTags::Interleaved(kv) => (kv, Packed::default(), false),
        };
        std::iter::from_fn(move || {
            if split {
                Some((a.next()? as u32 as i64, b.next()? as u32 as i64))
            } else {
                Some((a.next()? as i32 as i64, a.next()? as i32 as i64))
            }
        })
    }
}

/// A primitive block: its string table, coordinate scale and element groups, borrowed from the
/// inflated bytes.
pub struct RawBlock<'a> {
    strings: Vec<&'a [u8]>,
    /// Per string: 0 not checked yet, 1 UTF-8, 2 not UTF-8. A tag key such as `highway` is one
    /// string of the table used by thousands of ways: it is checked once, not at every use.
    utf8: Vec<std::cell::Cell<u8>>,
    granularity: i64,
    lat_offset: i64,
    lon_offset: i64,
    groups: Vec<&'a [u8]>,
}

impl<'a> RawBlock<'a> {
    /// Reads the block's top-level fields; `None` for anything but the canonical encoding.
    pub fn parse(bytes: &'a [u8]) -> Option<RawBlock<'a>> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return None;
        }
        let mut b = RawBlock {
            strings: Vec::new(),
            utf8: Vec::new(),
            granularity: 100,
            lat_offset: 0,
            lon_offset: 0,
            groups: Vec::new(),
        };
        let mut seen_table = false; // required by the format
        let mut rest = bytes;
        while !rest.is_empty() {
            match field(&mut rest)? {
                (1, Value::Bytes(table)) if !seen_table => {
                    seen_table = true;
                    let mut t = table;
                    while !t.is_empty() {
                        match field(&mut t)? {
                            (1, Value::Bytes(s)) => b.strings.push(s),
                            (1, _) => return None,
                            _ => {}
                        }
                    }
                }
                (2, Value::Bytes(g)) => b.groups.push(g),
                (17, Value::Varint(v)) => b.granularity = i64::from(v as i32),
                (19, Value::Varint(v)) => b.lat_offset = v as i64,
                (20, Value::Varint(v)) => b.lon_offset = v as i64,
                (1 | 2 | 17 | 19 | 20, _) => return None,
                _ => {}
            }
        }
        b.utf8 = vec![std::cell::Cell::new(0); b.strings.len()];
        seen_table.then_some(b)
    }

    /// String `i` of the table, if it exists and is UTF-8 (`osmpbf` ends a tag list at the first
    /// pair that is not).
    #[inline]
    pub fn str(&self, i: i64) -> Option<&'a str> {
        let i = usize::try_from(i).ok()?;
        let s = self.strings.get(i)?;
        let state = &self.utf8[i];
        match state.get() {
            // SAFETY: string `i` was found to be valid UTF-8 on its first use.
            1 => Some(unsafe { std::str::from_utf8_unchecked(s) }),
            2 => None,
            _ => {
                let checked = std::str::from_utf8(s).ok();
                state.set(if checked.is_some() { 1 } else { 2 });
                checked
            }
        }
    }

    /// The raw bytes of the string table (to find a key's index once per block).
    pub fn strings(&self) -> &[&'a [u8]] {
        &self.strings
    }

    /// The tags of an element as strings, ending at the first pair that is not valid.
    pub fn tags(&self, t: RawTags<'a>) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        t.indices()
            .map_while(|(k, v)| Some((self.str(k)?, self.str(v)?)))
    }

    /// Visits every element in file order and returns the kinds met; `None` (after visiting
    /// part of the block) if an element is not in the canonical encoding, so the caller must
    /// discard what it gathered from this block and decode it with `osmpbf`.
    pub fn for_each(&self, mut visit: impl FnMut(RawElement<'a>)) -> Option<Kinds> {
        let mut kinds = Kinds::default();
        for &group in &self.groups {
            let mut g = group;
            let mut dense_seen = false;
            while !g.is_empty() {
                match field(&mut g)? {
                    (1, Value::Bytes(m)) => {
                        kinds.nodes = true;
                        visit(self.node(m)?);
                    }
                    (2, Value::Bytes(m)) if !dense_seen => {
                        dense_seen = true;
                        kinds.nodes |= self.dense(m, &mut visit)?;
                    }
                    (3, Value::Bytes(m)) => {
                        kinds.ways = true;
                        visit(way(m)?);
                    }
                    (4, Value::Bytes(_)) => {
                        kinds.relations = true;
                        visit(RawElement::Relation);
                    }
                    (1..=4, _) => return None,
                    _ => {}
                }
            }
        }
        Some(kinds)
    }

    fn node(&self, mut m: &'a [u8]) -> Option<RawElement<'a>> {
        // id, lat and lon are required: a node without them is osmpbf's to refuse.
        let (mut id, mut lat, mut lon) = (None, None, None);
        let (mut keys, mut vals) = (Packed::default(), Packed::default());
        while !m.is_empty() {
            match field(&mut m)? {
                (1, Value::Varint(v)) => id = Some(zigzag(v)),
                (2, Value::Bytes(p)) => keys = Packed(p),
                (3, Value::Bytes(p)) => vals = Packed(p),
                (8, Value::Varint(v)) => lat = Some(zigzag(v)),
                (9, Value::Varint(v)) => lon = Some(zigzag(v)),
                (1..=3 | 8 | 9, _) => return None,
                _ => {}
            }
        }
        Some(RawElement::Node {
            id: id?,
            nano_lon: self.nano(self.lon_offset, lon?),
            nano_lat: self.nano(self.lat_offset, lat?),
            tags: RawTags::Split { keys, vals },
        })
    }

    /// Nanodegrees of a coordinate in granularity units (wrapping, as osmpbf's release build).
    #[inline]
    fn nano(&self, offset: i64, v: i64) -> i64 {
        offset.wrapping_add(self.granularity.wrapping_mul(v))
    }

    /// The nodes of a `DenseNodes` message; whether there was at least one.
    fn dense(&self, mut m: &'a [u8], visit: &mut impl FnMut(RawElement<'a>)) -> Option<bool> {
        let (mut ids, mut lats, mut lons, mut kv) = Default::default();
        while !m.is_empty() {
            match field(&mut m)? {
                (1, Value::Bytes(p)) => ids = Packed(p),
                (8, Value::Bytes(p)) => lats = Packed(p),
                (9, Value::Bytes(p)) => lons = Packed(p),
                (10, Value::Bytes(p)) => kv = Packed(p),
                (1 | 8 | 9 | 10, _) => return None,
                _ => {}
            }
        }
        let (mut id, mut lat, mut lon) = (0i64, 0i64, 0i64);
        let mut any = false;
        // As osmpbf: the shortest of the three columns ends the nodes, and each node's tags run
        // to a 0 key (or to the end of the column).
        while let (Some(d_id), Some(d_lat), Some(d_lon)) = (ids.next(), lats.next(), lons.next()) {
            any = true;
            id = id.wrapping_add(zigzag(d_id));
            lat = lat.wrapping_add(zigzag(d_lat));
            lon = lon.wrapping_add(zigzag(d_lon));
            let start = kv.0;
            let mut end = kv.0;
            while let Some(k) = kv.next() {
                if k as i32 == 0 {
                    break;
                }
                if kv.next().is_none() {
                    break; // a key without a value: osmpbf drops it
                }
                end = kv.0;
            }
            let taken = start.len() - end.len();
            visit(RawElement::Node {
                id,
                nano_lon: self.nano(self.lon_offset, lon),
                nano_lat: self.nano(self.lat_offset, lat),
                tags: RawTags::Interleaved(Packed(&start[..taken])),
            });
        }
        Some(any)
    }
}

fn way(mut m: &[u8]) -> Option<RawElement<'_>> {
    let mut id = None; // required
    let (mut keys, mut vals, mut refs) = Default::default();
    while !m.is_empty() {
        match field(&mut m)? {
            (1, Value::Varint(v)) => id = Some(v as i64),
            (2, Value::Bytes(p)) => keys = Packed(p),
            (3, Value::Bytes(p)) => vals = Packed(p),
            (8, Value::Bytes(p)) => refs = Packed(p),
            (1..=3 | 8, _) => return None,
            _ => {}
        }
    }
    Some(RawElement::Way {
        id: id?,
        tags: RawTags::Split { keys, vals },
        refs,
    })
}

/// Zigzag-decoded sint64.
#[inline]
pub fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The next field of a message: (field number, value). `None` if malformed or of a deprecated
/// wire type (groups).
#[inline]
fn field<'a>(b: &mut &'a [u8]) -> Option<(u64, Value<'a>)> {
    let key = varint(b)?;
    let value = match key & 7 {
        0 => Value::Varint(varint(b)?),
        1 | 5 => {
            let n = if key & 7 == 1 { 8 } else { 4 };
            *b = b.get(n..)?;
            Value::Fixed
        }
        2 => {
            let n = usize::try_from(varint(b)?).ok()?;
            let s = b.get(..n)?;
            *b = &b[n..];
            Value::Bytes(s)
        }
        _ => return None,
    };
    Some((key >> 3, value))
}

/// A protobuf varint (at most 10 bytes), advancing `b` past it.
#[inline]
pub fn varint(b: &mut &[u8]) -> Option<u64> {
    let (&first, rest) = b.split_first()?;
    if first < 0x80 {
        *b = rest;
        return Some(u64::from(first));
    }
    let mut v = 0u64;
    for i in 0..10 {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes_field(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        put_varint(out, field << 3 | 2);
        put_varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    fn packed(vs: impl IntoIterator<Item = u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for v in vs {
            put_varint(&mut out, v);
        }
        out
    }

    fn zz(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    #[test]
    fn varints_and_zigzag() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(varint(&mut &b[..]), Some(v));
        }
        for v in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            assert_eq!(zigzag(zz(v)), v);
        }
        // Too long, and cut short.
        assert_eq!(varint(&mut &[0xff; 11][..]), None);
        assert_eq!(varint(&mut &[0x80][..]), None);
    }

    /// A dense block with tags, granularity and offsets, read back; a second `dense` field in
    /// one group, or an unpacked id column, is left to osmpbf.
    #[test]
    fn dense_nodes_with_tags_and_scale() {
        let mut table = Vec::new();
        for s in ["", "place", "town", "name", "X"] {
            bytes_field(&mut table, 1, s.as_bytes());
        }
        let ids = [10i64, 11, 15];
        let lats = [100i64, -50, 0];
        let lons = [7i64, 8, 9];
        let delta = |v: &[i64]| -> Vec<u64> {
            let mut prev = 0;
            v.iter()
                .map(|&x| {
                    let d = zz(x - prev);
                    prev = x;
                    d
                })
                .collect()
        };
        let mut dense = Vec::new();
        bytes_field(&mut dense, 1, &packed(delta(&ids)));
        bytes_field(&mut dense, 8, &packed(delta(&lats)));
        bytes_field(&mut dense, 9, &packed(delta(&lons)));
        // Node 10: place=town name=X; node 11: none; node 15: name=X.
        bytes_field(&mut dense, 10, &packed([1, 2, 3, 4, 0, 0, 3, 4, 0]));
        let mut group = Vec::new();
        bytes_field(&mut group, 2, &dense);
        let mut block = Vec::new();
        bytes_field(&mut block, 1, &table);
        bytes_field(&mut block, 2, &group);
        put_varint(&mut block, 17 << 3);
        put_varint(&mut block, 1000);
        put_varint(&mut block, 19 << 3);
        put_varint(&mut block, 5);
        let b = RawBlock::parse(&block).unwrap();
        let mut got = Vec::new();
        let kinds = b
            .for_each(|e| {
                if let RawElement::Node {
                    id,
                    nano_lon,
                    nano_lat,
                    tags,
                } = e
                {
                    let t: Vec<(String, String)> = b
                        .tags(tags)
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    got.push((id, nano_lon, nano_lat, t));
                }
            })
            .unwrap();
        assert!(kinds.nodes && !kinds.ways && !kinds.relations);
        let s = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            got,
            vec![
                (10, 7000, 100_005, vec![s("place", "town"), s("name", "X")]),
                (11, 8000, -49_995, vec![]),
                (15, 9000, 5, vec![s("name", "X")]),
            ]
        );

        let mut twice = group.clone();
        bytes_field(&mut twice, 2, &dense);
        let mut block2 = Vec::new();
        bytes_field(&mut block2, 1, &table);
        bytes_field(&mut block2, 2, &twice);
        assert!(RawBlock::parse(&block2).unwrap().for_each(|_| {}).is_none());

        let mut unpacked = Vec::new();
        put_varint(&mut unpacked, 1 << 3);
        put_varint(&mut unpacked, zz(10));
        let mut g3 = Vec::new();
        bytes_field(&mut g3, 2, &unpacked);
        let mut block3 = Vec::new();
        bytes_field(&mut block3, 1, &table);
        bytes_field(&mut block3, 2, &g3);
        // Without a string table (required) the block is osmpbf's too.
        assert!(RawBlock::parse(&block3[table.len() + 2..]).is_none());
        assert!(RawBlock::parse(&block3).unwrap().for_each(|_| {}).is_none());
    }

    /// A way's tags stop at the first index out of the table or not UTF-8, as osmpbf's do.
    #[test]
    fn way_tags_stop_at_the_first_bad_string() {
        let mut table = Vec::new();
        for s in [&b""[..], b"highway", b"primary", b"\xff\xfe", b"name"] {
            bytes_field(&mut table, 1, s);
        }
        let mut w = Vec::new();
        put_varint(&mut w, 1 << 3);
        put_varint(&mut w, 42);
        bytes_field(&mut w, 2, &packed([1, 3, 4]));
        bytes_field(&mut w, 3, &packed([2, 4, 4]));
        bytes_field(&mut w, 8, &packed([zz(5), zz(-2), zz(10)]));
        let mut group = Vec::new();
        bytes_field(&mut group, 3, &w);
        let mut block = Vec::new();
        bytes_field(&mut block, 1, &table);
        bytes_field(&mut block, 2, &group);
        let b = RawBlock::parse(&block).unwrap();
        let mut seen = 0;
        let kinds = b
            .for_each(|e| {
                let RawElement::Way { id, tags, refs } = e else {
                    panic!("a way")
                };
                seen += 1;
                assert_eq!(id, 42);
                let t: Vec<_> = b.tags(tags).collect();
                assert_eq!(t, vec![("highway", "primary")]);
                let deltas: Vec<i64> = refs.map(zigzag).collect();
                assert_eq!(deltas, vec![5, -2, 10]);
            })
            .unwrap();
        assert_eq!(seen, 1);
        assert!(kinds.ways && !kinds.nodes);
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the reader.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            if let Some(b) = RawBlock::parse(&bytes) {
                let _ = b.for_each(|e| {
                    if let RawElement::Node { tags, .. } | RawElement::Way { tags, .. } = e {
                        let _ = b.tags(tags).count();
                    }
                });
            }
        }
    }
}
