//! The lower bound of an import: decode every element of a PBF with osmpbf (blobs in parallel),
//! touching each node's id and position, each way's tags and refs and each relation's members,
//! keeping nothing. `cargo run --release --example raw_decode -- FILE.osm.pbf`
use osmpbf::{Element, ElementReader};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: raw_decode FILE.osm.pbf");
    let t = std::time::Instant::now();
    let reader = ElementReader::from_path(&path).expect("open");
    let (n, w, r, checksum) = reader
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
                    let refs = way.raw_refs().iter().fold(0i64, |a, b| a.wrapping_add(*b)) as u64;
                    (0, 1, 0, tags ^ refs)
                }
                Element::Relation(rel) => {
                    let m = rel
                        .members()
                        .map(|m| m.member_id)
                        .fold(0i64, |a, b| a.wrapping_add(b)) as u64;
                    let tags = rel.tags().count() as u64;
                    (0, 0, 1, m ^ tags)
                }
            },
            || (0, 0, 0, 0),
            |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 ^ b.3),
        )
        .expect("decode");
    println!(
        "{path}: {n} nodes, {w} ways, {r} relations in {:.2} s (checksum {checksum:x})",
        t.elapsed().as_secs_f64()
    );
}
