//! The lower bound of an import: decode every element of a PBF with osmpbf (blobs in parallel),
//! touching each node's id and position, each way's tags and refs and each relation's members,
//! keeping nothing. `cargo run --release --example raw_decode -- FILE.osm.pbf [--in-place]`
//!
//! With `--in-place`, nodes and ways are read by metroreach's own block reader
//! (`src/osm/block.rs`, as the import's node and way passes read them; relations are only
//! counted, so its checksum leaves them out), to compare the two decoders on the same file.
use metroreach::osm::block::{zigzag, RawElement};
use metroreach::osm::pbf::PbfFile;
use osmpbf::{Element, ElementReader};
use rayon::prelude::*;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: raw_decode FILE.osm.pbf [--in-place]");
    let in_place = std::env::args().any(|a| a == "--in-place");
    let t = std::time::Instant::now();
    let (n, w, r, checksum) = if in_place {
        let file = PbfFile::open(std::path::Path::new(&path)).expect("open");
        let blobs = file.blobs().expect("blobs");
        (0..blobs.data.len())
            .into_par_iter()
            .map(|i| {
                blobs
                    .with_raw_block(i, |b| {
                        let mut acc = (0u64, 0u64, 0u64, 0u64);
                        b.for_each(|e| match e {
                            RawElement::Node {
                                id,
                                nano_lon,
                                nano_lat,
                                ..
                            } => {
                                acc.0 += 1;
                                acc.3 ^= (id ^ nano_lat ^ nano_lon) as u64;
                            }
                            RawElement::Way { tags, refs, .. } => {
                                let tags =
                                    b.tags(tags).map(|(k, v)| k.len() + v.len()).sum::<usize>();
                                let refs = refs.map(zigzag).fold(0i64, |a, d| a.wrapping_add(d));
                                acc.1 += 1;
                                acc.3 ^= tags as u64 ^ refs as u64;
                            }
                            RawElement::Relation => acc.2 += 1,
                        })?;
                        Some(acc)
                    })
                    .expect("a blob the in-place reader reads")
            })
            .reduce(
                || (0, 0, 0, 0),
                |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 ^ b.3),
            )
    } else {
        let reader = ElementReader::from_path(&path).expect("open");
        reader
            .par_map_reduce(
                |e| match e {
                    Element::DenseNode(d) => (
                        1u64,
                        0u64,
                        0u64,
                        (d.id() ^ d.nano_lat() ^ d.nano_lon()) as u64,
                    ),
                    Element::Node(d) => (1, 0, 0, (d.id() ^ d.nano_lat() ^ d.nano_lon()) as u64),
                    Element::Way(way) => {
                        let tags = way.tags().map(|(k, v)| k.len() + v.len()).sum::<usize>() as u64;
                        let refs =
                            way.raw_refs().iter().fold(0i64, |a, b| a.wrapping_add(*b)) as u64;
                        (0, 1, 0, tags ^ refs)
                    }
                    Element::Relation(rel) => {
                        let m = rel
                            .members()
                            .map(|m| m.member_id)
                            .fold(0i64, |a, b| a.wrapping_add(b))
                            as u64;
                        let tags = rel.tags().count() as u64;
                        (0, 0, 1, m ^ tags)
                    }
                },
                || (0, 0, 0, 0),
                |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 ^ b.3),
            )
            .expect("decode")
    };
    println!(
        "{path}: {n} nodes, {w} ways, {r} relations in {:.2} s (checksum {checksum:x})",
        t.elapsed().as_secs_f64()
    );
}
