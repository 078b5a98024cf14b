//! Non-road features kept in the graph file for the analysis stages: named places and
//! administrative boundaries.

use crate::geom::CoordE7;
use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An OSM `place=*` node (city, town, village, suburb, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub osm_id: i64,
    /// The `place` value: `city`, `town`, `village`, `suburb`, `hamlet`, ...
    pub kind: String,
    pub name: Option<String>,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub population: Option<u64>,
    pub coord: CoordE7,
}

impl Place {
    /// All names a user may look the place up by.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        [&self.name, &self.name_zh, &self.name_en]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
    /// A display label: `name` or the first name available, else the OSM id.
    pub fn label(&self) -> String {
        self.names()
            .next()
            .map(String::from)
            .unwrap_or_else(|| format!("node/{}", self.osm_id))
    }
}

/// An OSM `boundary=administrative` relation assembled into a (multi)polygon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminBoundary {
    pub osm_id: i64,
    pub admin_level: Option<u8>,
    pub name: Option<String>,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    /// Codes: `ref`, `ISO3166-1`, `ISO3166-2`, `ref:gb`, `wikidata`, ... as tagged.
    pub codes: BTreeMap<String, String>,
    pub population: Option<u64>,
    /// The `admin_centre` member node (id, position, name).
    pub admin_centre: Option<(i64, CoordE7, Option<String>)>,
    /// The `label` member node position.
    pub label: Option<CoordE7>,
    /// Polygons, each a list of rings: the exterior (counter-clockwise) first, then holes
    /// (clockwise).
    pub polygons: Vec<Vec<Vec<CoordE7>>>,
    /// Rings that could not be closed from the member ways (reported, not fatal).
    pub broken_rings: u32,
    /// The boundary lines of those rings that are in the extract (e.g. where it cuts a
    /// district), for drawing and comparison.
    pub open_chains: Vec<Vec<CoordE7>>,
}

impl AdminBoundary {
    /// The boundary as a lon/lat multipolygon.
    pub fn to_multipolygon(&self) -> MultiPolygon<f64> {
        MultiPolygon(
            self.polygons
                .iter()
                .map(|rings| {
                    let mut rings = rings.iter().map(|r| ring_to_linestring(r));
                    let exterior = rings.next().unwrap_or_else(|| LineString(vec![]));
                    Polygon::new(exterior, rings.collect())
                })
                .collect(),
        )
    }
    /// Best display name.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.name_zh.clone())
            .or_else(|| self.name_en.clone())
            .unwrap_or_else(|| format!("relation/{}", self.osm_id))
    }
}

fn ring_to_linestring(r: &[CoordE7]) -> LineString<f64> {
    LineString(
        r.iter()
            .map(|c| Coord {
                x: c.lon(),
                y: c.lat(),
            })
            .collect(),
    )
}
