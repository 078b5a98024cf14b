//! Population to count inside circles and units: OSM place nodes, point CSVs, gridded CSVs.
//!
//! Points count where they lie. A grid cell is a square around its centre whose people are
//! spread evenly over it, so a polygon holds the share of each cell it covers, clipped on the
//! real polygon shape (cells wholly inside or outside are decided without clipping).

use crate::geom::area::polygon_km2;
use crate::geom::polyindex::PolyIndex;
use crate::geom::{BBox, EARTH_RADIUS_M};
use crate::graph::RoadGraph;
use crate::input::table::Table;
use crate::input::InputError;
use crate::osm::tags::parse_population;
use geo::{BooleanOps, MultiPolygon, Polygon};
use rstar::primitives::GeomWithData;
use rstar::{RTree, AABB};
use std::path::Path;

/// Size of a population grid cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CellSize {
    Metres(f64),
    Degrees(f64),
}

/// One population point or cell centre.
#[derive(Clone, Debug, PartialEq)]
pub struct PopPoint {
    pub lon: f64,
    pub lat: f64,
    pub population: f64,
    pub name: Option<String>,
    /// Set for a grid cell centre: the cell's size.
    pub cell: Option<CellSize>,
}

/// Population: points and grid cells, from one or several sources.
#[derive(Clone, Debug)]
pub struct Population {
    /// How it was given (`osm:places`, `points:FILE`, `grid:FILE@SIZE`), `+`-joined if merged.
    pub spec: String,
    pub points: Vec<PopPoint>,
    /// Largest cell half-size in degrees (to widen box queries).
    pad_deg: f64,
    tree: RTree<GeomWithData<[f64; 2], usize>>,
}

impl Population {
    fn new(spec: String, mut points: Vec<PopPoint>, cell: Option<CellSize>) -> Population {
        for p in points.iter_mut() {
            p.cell = p.cell.or(cell);
        }
        let tree = RTree::bulk_load(
            points
                .iter()
                .enumerate()
                .map(|(i, p)| GeomWithData::new([p.lon, p.lat], i))
                .collect(),
        );
        let pad_deg = points
            .iter()
            .filter_map(|p| match p.cell {
                Some(CellSize::Degrees(d)) => Some(d),
                Some(CellSize::Metres(m)) => {
                    Some(m / 111_000.0 / p.lat.to_radians().cos().max(0.05))
                }
                None => None,
            })
            .fold(0.0, f64::max);
        Population {
            spec,
            points,
            pad_deg,
            tree,
        }
    }

    /// Several sources as one layer (the caller makes sure they do not count people twice).
    pub fn merge(layers: Vec<Population>) -> Option<Population> {
        if layers.is_empty() {
            return None;
        }
        let spec = layers
            .iter()
            .map(|l| l.spec.as_str())
            .collect::<Vec<_>>()
            .join("+");
        let points = layers.into_iter().flat_map(|l| l.points).collect();
        Some(Population::new(spec, points, None))
    }

    /// Named points, as candidate unit seats (largest population first wins).
    pub fn named_points(&self) -> impl Iterator<Item = &PopPoint> {
        self.points
            .iter()
            .filter(|p| p.name.is_some() && p.cell.is_none())
    }

    /// Parses a `--population` value: `osm:places`, `points:FILE.csv` (or just `FILE.csv`),
    /// `grid:FILE.csv@1000m` / `grid:FILE.csv@0.0083333deg`.
    pub fn load(spec: &str, graph: &RoadGraph) -> Result<Population, InputError> {
        if spec == "osm:places" {
            let points: Vec<PopPoint> = graph
                .places
                .iter()
                .filter_map(|p| {
                    p.population.map(|n| PopPoint {
                        lon: p.coord.lon(),
                        lat: p.coord.lat(),
                        population: n as f64,
                        name: Some(p.label()),
                        cell: None,
                    })
                })
                .collect();
            if points.is_empty() {
                return Err(InputError::Other(
                    "--population osm:places: the graph has no place nodes with a population tag"
                        .into(),
                ));
            }
            return Ok(Population::new(spec.into(), points, None));
        }
        if let Some(rest) = spec.strip_prefix("grid:") {
            let (file, size) = rest.rsplit_once('@').ok_or_else(|| {
                InputError::Other(format!("--population {spec}: give the cell size, e.g. grid:{rest}@1000m or @0.0083333deg"))
            })?;
            let cell = parse_cell(size).ok_or_else(|| {
                InputError::Other(format!(
                    "--population {spec}: cell size '{size}' is not like 1000m or 0.01deg"
                ))
            })?;
            let points = read_points(Path::new(file))?;
            return Ok(Population::new(spec.into(), points, Some(cell)));
        }
        let file = spec.strip_prefix("points:").unwrap_or(spec);
        Ok(Population::new(
            spec.into(),
            read_points(Path::new(file))?,
            None,
        ))
    }

    pub fn total(&self) -> f64 {
        self.points.iter().map(|p| p.population).sum()
    }

    /// Square cell polygon around a centre (lon/lat).
    fn cell_polygon(&self, p: &PopPoint) -> Option<(Polygon<f64>, BBox)> {
        let (dx, dy) = match p.cell? {
            CellSize::Degrees(d) => (d / 2.0, d / 2.0),
            CellSize::Metres(m) => {
                let dlat = (m / 2.0) / EARTH_RADIUS_M.to_radians();
                (dlat / p.lat.to_radians().cos().max(1e-6), dlat)
            }
        };
        let b = BBox {
            min_lon: p.lon - dx,
            min_lat: p.lat - dy,
            max_lon: p.lon + dx,
            max_lat: p.lat + dy,
        };
        let poly = Polygon::new(
            vec![
                (b.min_lon, b.min_lat),
                (b.max_lon, b.min_lat),
                (b.max_lon, b.max_lat),
                (b.min_lon, b.max_lat),
                (b.min_lon, b.min_lat),
            ]
            .into(),
            vec![],
        );
        Some((poly, b))
    }

    /// People inside a polygon, and the population-weighted mean of `time(lon, lat)` over the
    /// points or cell centres counted (when `time` gives a value).
    pub fn count(
        &self,
        mp: &MultiPolygon<f64>,
        bbox: &BBox,
        index: &PolyIndex,
        time: Option<&dyn Fn(f64, f64) -> Option<f64>>,
    ) -> (f64, Option<f64>) {
        let pad = self.pad_deg;
        let env = AABB::from_corners(
            [bbox.min_lon - pad, bbox.min_lat - pad],
            [bbox.max_lon + pad, bbox.max_lat + pad],
        );
        let mut total = 0.0;
        let (mut tw, mut w) = (0.0, 0.0);
        let mut hits: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|g| g.data)
            .collect();
        hits.sort_unstable();
        for i in hits {
            let p = &self.points[i];
            let share = match self.cell_polygon(p) {
                None => f64::from(u8::from(index.contains(p.lon, p.lat))),
                Some((cell, b)) => {
                    if !index.boundary_meets(b.min_lon, b.min_lat, b.max_lon, b.max_lat) {
                        f64::from(u8::from(index.contains(p.lon, p.lat)))
                    } else {
                        let inter = MultiPolygon(vec![cell.clone()]).intersection(mp);
                        let a: f64 = inter.0.iter().map(polygon_km2).sum();
                        (a / polygon_km2(&cell)).clamp(0.0, 1.0)
                    }
                }
            };
            if share > 0.0 {
                let n = p.population * share;
                total += n;
                if let Some(t) = time.and_then(|f| f(p.lon, p.lat)) {
                    tw += t * n;
                    w += n;
                }
            }
        }
        (total, (w > 0.0).then(|| tw / w))
    }
}

fn parse_cell(s: &str) -> Option<CellSize> {
    let s = s.trim();
    if let Some(d) = s.strip_suffix("deg") {
        return d
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && *v < 10.0)
            .map(CellSize::Degrees);
    }
    let m = s.strip_suffix('m').unwrap_or(s);
    m.trim()
        .parse()
        .ok()
        .filter(|v: &f64| *v > 0.0 && *v < 1e6)
        .map(CellSize::Metres)
}

/// Reads `lon,lat,population` (plus optional `name`) points.
fn read_points(path: &Path) -> Result<Vec<PopPoint>, InputError> {
    let t = Table::read(path)?;
    let c_point = t.lon_lat_columns()?;
    let c_pop = t
        .column_any(&["population", "pop"])
        .ok_or_else(|| t.require("population").unwrap_err())?;
    let c_name = t.column("name");
    let mut out = Vec::with_capacity(t.rows.len());
    for (line, row) in &t.rows {
        let (lon, lat) = t.lon_lat(*line, row, c_point)?;
        let raw = t.cell(row, c_pop);
        let population = parse_population(raw)
            .map(|n| n as f64)
            .or_else(|| {
                raw.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
            })
            .ok_or_else(|| InputError::Line {
                path: t.path.clone(),
                line: *line,
                message: format!("population '{raw}' is not a non-negative number"),
            })?;
        let name = c_name
            .map(|c| t.cell(row, c).to_string())
            .filter(|s| !s.is_empty());
        out.push(PopPoint {
            lon,
            lat,
            population,
            name,
            cell: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn grid_cells_count_their_covered_share() {
        // One 0.1° cell centred at (0.05, 0.05) with 1000 people; a polygon covering its west half.
        let pop = Population::new(
            "t".into(),
            vec![PopPoint {
                lon: 0.05,
                lat: 0.05,
                population: 1000.0,
                name: None,
                cell: None,
            }],
            Some(CellSize::Degrees(0.1)),
        );
        let half = MultiPolygon(vec![
            polygon![(x: -1.0, y: -1.0), (x: 0.05, y: -1.0), (x: 0.05, y: 1.0), (x: -1.0, y: 1.0)],
        ]);
        let idx = PolyIndex::new(&half);
        let b = BBox {
            min_lon: -1.0,
            min_lat: -1.0,
            max_lon: 0.05,
            max_lat: 1.0,
        };
        let (n, _) = pop.count(&half, &b, &idx, None);
        assert!((n - 500.0).abs() < 1.0, "{n}");
        let points = Population::new(
            "p".into(),
            pop.points
                .iter()
                .map(|p| PopPoint {
                    cell: None,
                    ..p.clone()
                })
                .collect(),
            None,
        );
        let (n, _) = points.count(&half, &b, &idx, None);
        assert_eq!(n, 0.0); // the centre is just outside the half-open west half
    }

    #[test]
    fn cell_sizes() {
        assert_eq!(parse_cell("1000m"), Some(CellSize::Metres(1000.0)));
        assert_eq!(parse_cell("0.01deg"), Some(CellSize::Degrees(0.01)));
        assert_eq!(parse_cell("big"), None);
    }
}
