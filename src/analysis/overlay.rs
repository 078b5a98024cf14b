//! Polygon overlay: how much of each unit a polygon covers, and how two polygons overlap.
//! Only units whose bounding boxes meet the polygon are clipped (R-tree lookup), never all pairs.

use super::units::Units;
use crate::geom::area::multipolygon_km2;
use crate::geom::rings::twice_signed_area;
use crate::geom::BBox;
use geo::{BooleanOps, BoundingRect, Coord, LineString, MultiPolygon, Polygon};

/// The bounding box of a multipolygon (`None` when empty).
pub fn bbox_of(mp: &MultiPolygon<f64>) -> Option<BBox> {
    mp.bounding_rect().map(|r| BBox {
        min_lon: r.min().x,
        min_lat: r.min().y,
        max_lon: r.max().x,
        max_lat: r.max().y,
    })
}

/// A unit's part inside a polygon.
pub struct Covered {
    pub unit: usize,
    pub part: MultiPolygon<f64>,
    /// Geodesic area of the part, km².
    pub km2: f64,
    /// Share of the unit's area.
    pub share: f64,
}

/// Clips `polygon` against every unit whose box meets it; units left untouched are omitted.
///
/// A commute circle has ten thousand vertices or more and a unit is a small part of it, so the
/// circle is first cut to a box around the unit ([`clip_to_box`]): the overlay then only sees
/// the circle's edges near the unit, and the part it returns is the same region.
pub fn coverage(polygon: &MultiPolygon<f64>, units: &Units) -> Vec<Covered> {
    let Some(bb) = bbox_of(polygon) else {
        return Vec::new();
    };
    units
        .candidates(&bb)
        .into_iter()
        .filter_map(|u| {
            let unit = &units.units[u];
            let near = (!unit.bbox.is_empty()).then(|| clip_to_box(polygon, &around(&unit.bbox)));
            let part = near.as_ref().unwrap_or(polygon).intersection(&unit.polygon);
            let km2 = multipolygon_km2(&part);
            (km2 > 0.0).then(|| Covered {
                unit: u,
                share: if unit.area_km2 > 0.0 {
                    (km2 / unit.area_km2).min(1.0)
                } else {
                    0.0
                },
                part,
                km2,
            })
        })
        .collect()
}

/// `b` widened on every side by 1 % of its size plus 10⁻⁵° (about a metre), so that a shape
/// inside `b` stays clear of the widened box's edges.
fn around(b: &BBox) -> BBox {
    let (dx, dy) = (
        (b.max_lon - b.min_lon) * 0.01 + 1e-5,
        (b.max_lat - b.min_lat) * 0.01 + 1e-5,
    );
    BBox {
        min_lon: b.min_lon - dx,
        min_lat: b.min_lat - dy,
        max_lon: b.max_lon + dx,
        max_lat: b.max_lat + dy,
    }
}

/// The rings of `mp` cut to the box `b`, each on its own (Sutherland–Hodgman against the box's
/// four sides). Inside the box, every point is enclosed by the cut rings exactly as by the
/// originals, so for any shape strictly inside `b`, `clip_to_box(mp, b) ∩ shape = mp ∩ shape`.
/// A cut ring may run back and forth along the box's edges (where the polygon left the box and
/// came back): those doubled edges enclose nothing and lie outside such a shape. Rings left
/// with no area inside the box are dropped.
pub fn clip_to_box(mp: &MultiPolygon<f64>, b: &BBox) -> MultiPolygon<f64> {
    let polygons =
        mp.0.iter()
            .filter_map(|p| {
                let exterior = clip_ring(p.exterior(), b)?;
                let holes = p
                    .interiors()
                    .iter()
                    .filter_map(|h| clip_ring(h, b))
                    .collect();
                Some(Polygon::new(exterior, holes))
            })
            .collect();
    MultiPolygon(polygons)
}

fn clip_ring(ring: &LineString<f64>, b: &BBox) -> Option<LineString<f64>> {
    let mut src: &[Coord<f64>] = &ring.0;
    if src.len() > 1 && src.first() == src.last() {
        src = &src[..src.len() - 1]; // open ring while cutting
    }
    // One side at a time (x ≥ west, x ≤ east, y ≥ south, y ≤ north), each pass reading what the
    // last one kept.
    let (mut a, mut b2) = (Vec::with_capacity(src.len() + 4), Vec::new());
    clip_side(src, true, b.min_lon, true, &mut a);
    clip_side(&a, true, b.max_lon, false, &mut b2);
    clip_side(&b2, false, b.min_lat, true, &mut a);
    clip_side(&a, false, b.max_lat, false, &mut b2);
    let mut pts = b2;
    if pts.len() < 3 {
        return None;
    }
    pts.push(pts[0]);
    (twice_signed_area(&pts) != 0.0).then_some(LineString(pts))
}

/// Keeps the part of the open ring `pts` on one side of a line `x = limit` (`is_x`) or
/// `y = limit`, above it if `keep_above`, adding the points where the ring crosses the line
/// (placed exactly on it); into `out`, cleared first.
fn clip_side(
    pts: &[Coord<f64>],
    is_x: bool,
    limit: f64,
    keep_above: bool,
    out: &mut Vec<Coord<f64>>,
) {
    out.clear();
    let Some(&last) = pts.last() else {
        return;
    };
    let axis = |c: Coord<f64>| if is_x { c.x } else { c.y };
    let inside = |c: Coord<f64>| {
        if keep_above {
            axis(c) >= limit
        } else {
            axis(c) <= limit
        }
    };
    let mut prev = last;
    for &cur in pts {
        let (pi, ci) = (inside(prev), inside(cur));
        if pi != ci {
            let t = (limit - axis(prev)) / (axis(cur) - axis(prev));
            out.push(if is_x {
                Coord {
                    x: limit,
                    y: prev.y + (cur.y - prev.y) * t,
                }
            } else {
                Coord {
                    x: prev.x + (cur.x - prev.x) * t,
                    y: limit,
                }
            });
        }
        if ci {
            out.push(cur);
        }
        prev = cur;
    }
}

/// The overlap of two polygons and its area (zero, not an error, when they are apart).
pub fn overlap(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> (MultiPolygon<f64>, f64) {
    overlap_within(a, b, bbox_of(a), bbox_of(b))
}

/// [`overlap`] for polygons whose boxes are known (`None` when empty).
///
/// The overlap lies in both boxes, so both polygons are first cut to (a little more than) the
/// box the two boxes share ([`clip_to_box`]): neighbouring commute circles meet along a strip,
/// and the overlay then sees only the edges near it instead of both circles whole.
pub fn overlap_within(
    a: &MultiPolygon<f64>,
    b: &MultiPolygon<f64>,
    box_a: Option<BBox>,
    box_b: Option<BBox>,
) -> (MultiPolygon<f64>, f64) {
    match (box_a, box_b) {
        (Some(x), Some(y)) if x.intersects(&y) => {
            let shared = around(&BBox {
                min_lon: x.min_lon.max(y.min_lon),
                min_lat: x.min_lat.max(y.min_lat),
                max_lon: x.max_lon.min(y.max_lon),
                max_lat: x.max_lat.min(y.max_lat),
            });
            let o = clip_to_box(a, &shared).intersection(&clip_to_box(b, &shared));
            let km2 = multipolygon_km2(&o);
            (o, km2)
        }
        _ => (MultiPolygon(vec![]), 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{polygon, Polygon};

    fn units_of(squares: &[(f64, f64, f64, f64)]) -> Units {
        let features: Vec<String> = squares
            .iter()
            .enumerate()
            .map(|(i, &(x0, y0, x1, y1))| {
                format!(
                    r#"{{"type":"Feature","properties":{{"name":"U{i}","code":"{i}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}"#
                )
            })
            .collect();
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        );
        let dir = std::env::temp_dir().join(format!(
            "mr-overlay-{}-{}",
            std::process::id(),
            squares.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("u.geojson");
        std::fs::write(&p, text).unwrap();
        Units::from_geojson(&p, "name", "code", None).unwrap()
    }

    #[test]
    fn half_a_square_is_half() {
        let units = units_of(&[(10.0, 30.0, 10.2, 30.2)]);
        // The western half, split along a meridian: equal halves on the ellipsoid by symmetry.
        let west = MultiPolygon(vec![
            polygon![(x: 9.0, y: 29.0), (x: 10.1, y: 29.0), (x: 10.1, y: 31.0), (x: 9.0, y: 31.0)],
        ]);
        let c = coverage(&west, &units);
        assert_eq!(c.len(), 1);
        assert!((c[0].share - 0.5).abs() < 1e-6, "{}", c[0].share); // i_overlay snaps to an integer grid
    }

    #[test]
    fn disjoint_polygons_overlap_zero() {
        let a = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)],
        ]);
        let b = MultiPolygon(vec![
            polygon![(x: 2.0, y: 0.0), (x: 3.0, y: 0.0), (x: 3.0, y: 1.0), (x: 2.0, y: 1.0)],
        ]);
        let (o, km2) = overlap(&a, &b);
        assert_eq!(km2, 0.0);
        assert!(o.0.is_empty());
        // Touching boxes but disjoint shapes.
        let c = MultiPolygon(vec![
            polygon![(x: 0.5, y: 1.5), (x: 1.5, y: 0.5), (x: 1.5, y: 1.5)],
        ]);
        assert_eq!(overlap(&a, &c).1, 0.0);
    }

    /// A ring wandering around (cx, cy): a star with `n` points at random radii.
    fn star(cx: f64, cy: f64, radii: &[f64], phase: f64) -> LineString<f64> {
        let n = radii.len();
        let mut pts: Vec<(f64, f64)> = radii
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let a = phase + k as f64 * std::f64::consts::TAU / n as f64;
                (cx + r * a.cos(), cy + r * a.sin())
            })
            .collect();
        pts.push(pts[0]);
        pts.into()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Cutting the polygon to a box around a shape first changes nothing of its overlap
        /// with the shape (up to i_overlay's integer snapping, which depends on the extent).
        #[test]
        fn clipping_to_a_box_around_the_unit_keeps_the_intersection(
            outer in proptest::collection::vec(0.02f64..0.1, 5..40),
            inner in proptest::collection::vec(0.003f64..0.015, 3..12),
            unit in proptest::collection::vec(0.005f64..0.03, 3..10),
            ux in -0.08f64..0.08, uy in -0.08f64..0.08, phase in 0.0f64..6.0,
        ) {
            let polygon = MultiPolygon(vec![
                Polygon::new(star(100.0, 30.0, &outer, phase), vec![star(100.0, 30.0, &inner, 0.3)]),
                Polygon::new(star(100.2, 30.0, &inner, phase), vec![]),
            ]);
            let shape = MultiPolygon(vec![Polygon::new(star(100.0 + ux, 30.0 + uy, &unit, 0.1), vec![])]);
            let direct = multipolygon_km2(&polygon.intersection(&shape));
            let b = around(&bbox_of(&shape).unwrap());
            let cut = clip_to_box(&polygon, &b);
            let clipped = multipolygon_km2(&cut.intersection(&shape));
            let scale = multipolygon_km2(&shape);
            proptest::prop_assert!((direct - clipped).abs() <= 1e-7 * scale + 1e-9, "{} vs {}", direct, clipped);
            // The cut polygon lies in the box and, inside it, covers what the polygon covers.
            let r = bbox_of(&cut).unwrap_or(b);
            proptest::prop_assert!(r.min_lon >= b.min_lon && r.max_lon <= b.max_lon && r.min_lat >= b.min_lat && r.max_lat <= b.max_lat);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Two circles cut to the box they share overlap as the whole circles do (up to
        /// i_overlay's integer snapping).
        #[test]
        fn overlap_of_cut_circles_is_the_whole_overlap(
            ra in proptest::collection::vec(0.03f64..0.1, 5..40),
            rb in proptest::collection::vec(0.03f64..0.1, 5..40),
            hole in proptest::collection::vec(0.003f64..0.015, 3..12),
            dx in -0.2f64..0.2, dy in -0.2f64..0.2, phase in 0.0f64..6.0,
        ) {
            let a = MultiPolygon(vec![
                Polygon::new(star(100.0, 30.0, &ra, phase), vec![star(100.0, 30.0, &hole, 0.3)]),
                Polygon::new(star(100.25, 30.0, &hole, phase), vec![]),
            ]);
            let b = MultiPolygon(vec![Polygon::new(star(100.0 + dx, 30.0 + dy, &rb, 0.1), vec![])]);
            let whole = multipolygon_km2(&a.intersection(&b));
            let (o, km2) = overlap(&a, &b);
            let scale = multipolygon_km2(&a).min(multipolygon_km2(&b));
            proptest::prop_assert!((whole - km2).abs() <= 1e-7 * scale + 1e-9, "{} vs {}", whole, km2);
            // And it is the same region, not only the same area.
            let sym = multipolygon_km2(&o.xor(&a.intersection(&b)));
            proptest::prop_assert!(sym <= 1e-7 * scale + 1e-9, "{}", sym);
        }
    }

    #[test]
    fn clipping_keeps_holes_and_drops_rings_outside() {
        let b = BBox {
            min_lon: 0.0,
            min_lat: 0.0,
            max_lon: 1.0,
            max_lat: 1.0,
        };
        let p = MultiPolygon(vec![
            Polygon::new(
                vec![
                    (-1.0, -1.0),
                    (2.0, -1.0),
                    (2.0, 2.0),
                    (-1.0, 2.0),
                    (-1.0, -1.0),
                ]
                .into(),
                vec![vec![(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.4)].into()],
            ),
            polygon![(x: 5.0, y: 5.0), (x: 6.0, y: 5.0), (x: 6.0, y: 6.0)],
        ]);
        let cut = clip_to_box(&p, &b);
        assert_eq!(cut.0.len(), 1);
        assert_eq!(cut.0[0].interiors().len(), 1);
        assert_eq!(bbox_of(&cut).unwrap(), b);
    }

    #[test]
    fn coverage_over_a_partition_adds_up() {
        // A 2×2 tiling; an irregular polygon half outside it.
        let units = units_of(&[
            (0.0, 0.0, 0.1, 0.1),
            (0.1, 0.0, 0.2, 0.1),
            (0.0, 0.1, 0.1, 0.2),
            (0.1, 0.1, 0.2, 0.2),
        ]);
        let shape = MultiPolygon(vec![Polygon::new(
            vec![
                (0.05, -0.05),
                (0.3, 0.02),
                (0.17, 0.19),
                (0.02, 0.13),
                (0.05, -0.05),
            ]
            .into(),
            vec![vec![(0.09, 0.05), (0.12, 0.05), (0.12, 0.09), (0.09, 0.05)].into()],
        )]);
        let c = coverage(&shape, &units);
        let sum: f64 = c.iter().map(|x| x.km2).sum();
        let square = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 0.2, y: 0.0), (x: 0.2, y: 0.2), (x: 0.0, y: 0.2)],
        ]);
        let (_, inside) = overlap(&shape, &square);
        assert!((sum - inside).abs() / inside < 1e-6, "{sum} vs {inside}");
        assert!(c.iter().all(|x| x.share > 0.0 && x.share <= 1.0));
    }
}
