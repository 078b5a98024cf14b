//! What a map shows, in one plain structure shared by the HTML report and the PNG map: built
//! from a `circles` or `reach` run, read by [`super::report`] and [`super::map`].

use crate::analysis::reach::ReachResult;
use crate::analysis::units::Units;
use crate::geom::BBox;
use crate::graph::{RoadClass, RoadGraph};
use crate::isochrone::CommuteCircle;
use geo::{BoundingRect, Coord, LineString, MultiPolygon, Simplify};
use serde_json::{json, Map, Value};

/// A road of the context network (simplified), by class.
#[derive(Clone, Debug)]
pub struct RoadLine {
    pub class: RoadClass,
    /// lon/lat.
    pub coords: Vec<[f64; 2]>,
}

/// A polygon feature with its properties (shown on hover/click in the report).
#[derive(Clone, Debug)]
pub struct PolygonFeature {
    /// City the feature belongs to (circles, catchments, metro areas); empty for units.
    pub city: String,
    /// Band in minutes (circles, catchments, metro areas); 0 for units.
    pub minutes: f64,
    pub polygon: MultiPolygon<f64>,
    /// Name shown in the legend / tooltip.
    pub label: String,
    /// Everything else worth showing.
    pub properties: Map<String, Value>,
    /// For units: the largest coverage share by any city in the largest band (0..1), used for
    /// the fill colour; for other layers unused (0).
    pub share: f64,
    /// For units: member of some city's metropolitan area in the largest band.
    pub member: bool,
}

/// An origin and the point of the road it was snapped to.
#[derive(Clone, Debug)]
pub struct OriginPoint {
    pub city: String,
    pub label: String,
    pub lon: f64,
    pub lat: f64,
    pub snapped_lon: f64,
    pub snapped_lat: f64,
    pub snap_m: f64,
}

/// A table of the report (the summary tables).
#[derive(Clone, Debug, Default)]
pub struct TableData {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// All layers of a map.
#[derive(Clone, Debug, Default)]
pub struct MapLayers {
    /// e.g. "Commute circles: Valletta".
    pub title: String,
    /// One line of parameters: profile, minutes, direction, cell, allowance.
    pub subtitle: String,
    /// The full run description (`run.json`).
    pub parameters: Value,
    /// Extent to show (lon/lat).
    pub extent: BBox,
    /// The graph's extent: the edge of the extract.
    pub extract_edge: Option<BBox>,
    pub roads: Vec<RoadLine>,
    /// Bands in ascending minutes (all cities).
    pub minutes: Vec<f64>,
    pub circles: Vec<PolygonFeature>,
    pub units: Vec<PolygonFeature>,
    pub catchments: Vec<PolygonFeature>,
    pub metro_areas: Vec<PolygonFeature>,
    pub origins: Vec<OriginPoint>,
    pub tables: Vec<TableData>,
    pub notes: Vec<String>,
}

impl MapLayers {
    /// The city names, in first-seen order.
    pub fn cities(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for f in self.circles.iter().chain(&self.catchments) {
            if !v.contains(&f.city) {
                v.push(f.city.clone());
            }
        }
        v
    }
}

fn bbox_union(a: BBox, mp: &MultiPolygon<f64>) -> BBox {
    match mp.bounding_rect() {
        Some(r) => a.union(&BBox {
            min_lon: r.min().x,
            min_lat: r.min().y,
            max_lon: r.max().x,
            max_lat: r.max().y,
        }),
        None => a,
    }
}

/// The context road network inside `extent`, simplified, keeping the most important classes
/// so that the map stays light (at most about `max_points` vertices).
pub fn context_roads(g: &RoadGraph, extent: &BBox, max_points: usize) -> Vec<RoadLine> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); RoadClass::ALL.len()];
    for r in 0..g.num_roads() {
        if g.is_ferry(r) {
            continue;
        }
        let geom = g.road_geometry(r);
        let b = BBox::of_coords(geom);
        if b.intersects(extent) {
            by_class[g.road_class[r] as usize].push(r);
        }
    }
    // Tolerance: about a thousandth of the extent; coarser when even the most important class
    // alone is over budget (a country-wide network of one class).
    let span = (extent.max_lon - extent.min_lon).max(extent.max_lat - extent.min_lat);
    let simplified = |class: RoadClass, tol: f64| -> Vec<RoadLine> {
        by_class[class as usize]
            .iter()
            .map(|&r| {
                let ls = LineString(
                    g.road_geometry(r)
                        .iter()
                        .map(|c| Coord {
                            x: c.lon(),
                            y: c.lat(),
                        })
                        .collect(),
                );
                let s = ls.simplify(tol);
                RoadLine {
                    class,
                    coords: s.0.iter().map(|c| [c.x, c.y]).collect(),
                }
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut points = 0usize;
    for class in RoadClass::ALL {
        if by_class[class as usize].is_empty() {
            continue;
        }
        let mut tol = (span / 1500.0).max(1e-6);
        let mut lines = simplified(class, tol);
        let count = |l: &[RoadLine]| l.iter().map(|x| x.coords.len()).sum::<usize>();
        if out.is_empty() {
            while count(&lines) > max_points && tol < span / 50.0 {
                tol *= 2.0;
                lines = simplified(class, tol);
            }
        }
        let n = count(&lines);
        if points + n > max_points && !out.is_empty() {
            break;
        }
        points += n;
        out.extend(lines);
    }
    out
}

/// Layers of a `circles` run.
pub fn from_circles(
    g: &RoadGraph,
    circles: &[CommuteCircle],
    run: Value,
    subtitle: String,
) -> MapLayers {
    let refs: Vec<&CommuteCircle> = circles.iter().collect();
    circle_layers(g, &refs, run, subtitle)
}

/// [`from_circles`] over borrowed circles (a `reach` run's circles carry their grids: no copies).
fn circle_layers(
    g: &RoadGraph,
    circles: &[&CommuteCircle],
    run: Value,
    subtitle: String,
) -> MapLayers {
    let mut extent = BBox::EMPTY;
    let mut layers = MapLayers {
        parameters: run,
        subtitle,
        ..Default::default()
    };
    for c in circles {
        for b in &c.bands {
            extent = bbox_union(extent, &b.polygon);
            if !layers.minutes.contains(&b.minutes) {
                layers.minutes.push(b.minutes);
            }
            let mut p = Map::new();
            p.insert("city".into(), json!(c.city.name));
            p.insert("minutes".into(), json!(b.minutes));
            p.insert(
                "area_km2".into(),
                json!(super::geojson::round(b.area_km2, 1)),
            );
            p.insert(
                "equivalent_radius_km".into(),
                json!(super::geojson::round(b.equivalent_radius_km, 2)),
            );
            p.insert(
                "reach_factor".into(),
                json!(super::geojson::round(b.reach_factor, 3)),
            );
            p.insert(
                "reached_road_km".into(),
                json!(super::geojson::round(b.reached_road_km, 1)),
            );
            p.insert("truncated".into(), json!(b.truncated));
            layers.circles.push(PolygonFeature {
                city: c.city.name.clone(),
                minutes: b.minutes,
                polygon: b.polygon.clone(),
                label: format!("{} · {} min", c.city.name, b.minutes),
                properties: p,
                share: 0.0,
                member: false,
            });
        }
        for o in &c.origins {
            extent.extend(o.spec.lon, o.spec.lat);
            layers.origins.push(OriginPoint {
                city: c.city.name.clone(),
                label: o.spec.label.clone(),
                lon: o.spec.lon,
                lat: o.spec.lat,
                snapped_lon: o.snap.point.lon(),
                snapped_lat: o.snap.point.lat(),
                snap_m: o.snap.distance_m,
            });
        }
    }
    layers.minutes.sort_by(f64::total_cmp);
    layers.extent = extent;
    layers.extract_edge = g.meta.bbox;
    layers.roads = context_roads(g, &extent, 150_000);
    let names: Vec<String> = circles.iter().map(|c| c.city.name.clone()).collect();
    layers.title = format!("Commute circles: {}", short_list(&names));
    layers.tables.push(TableData {
        title: "Circles".into(),
        headers: [
            "city",
            "minutes",
            "area km²",
            "radius km",
            "reach factor",
            "road km",
            "truncated",
        ]
        .map(String::from)
        .to_vec(),
        rows: circles
            .iter()
            .flat_map(|c| {
                c.bands.iter().map(move |b| {
                    vec![
                        c.city.name.clone(),
                        format!("{}", b.minutes),
                        format!("{:.1}", b.area_km2),
                        format!("{:.1}", b.equivalent_radius_km),
                        format!("{:.3}", b.reach_factor),
                        format!("{:.0}", b.reached_road_km),
                        if b.truncated {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                    ]
                })
            })
            .collect(),
    });
    layers
}

/// Layers of a `reach` run: circles plus units, catchments and metropolitan areas.
pub fn from_reach(
    g: &RoadGraph,
    r: &ReachResult,
    units: &Units,
    run: Value,
    subtitle: String,
) -> MapLayers {
    let circles: Vec<&CommuteCircle> = r.cities.iter().map(|c| &c.circle).collect();
    let mut layers = circle_layers(g, &circles, run, subtitle);
    let top = layers.minutes.len().saturating_sub(1);
    let extent = layers.extent;
    for (u, unit) in units.units.iter().enumerate() {
        if !unit.bbox.intersects(&extent) {
            continue;
        }
        let mut best = (0.0f64, String::new());
        let mut member_of = Vec::new();
        let mut p = Map::new();
        p.insert("name".into(), json!(unit.name));
        p.insert("code".into(), json!(unit.code));
        p.insert(
            "area_km2".into(),
            json!(super::geojson::round(unit.area_km2, 1)),
        );
        if let Some(pop) = r.unit_population.get(u).copied().flatten() {
            p.insert("population".into(), json!(pop.round()));
        }
        for c in &r.cities {
            let Some(b) = c.bands.get(top) else { continue };
            if let Some(cov) = b.coverage.iter().find(|x| x.unit == u) {
                let name = &c.circle.city.name;
                if cov.area_share > best.0 {
                    best = (cov.area_share, name.clone());
                }
                if cov.member {
                    member_of.push(name.clone());
                }
                p.insert(
                    format!("{name}: share"),
                    json!(super::geojson::round(cov.area_share, 3)),
                );
                if let Some(ps) = cov.population_share {
                    p.insert(
                        format!("{name}: population share"),
                        json!(super::geojson::round(ps, 3)),
                    );
                }
                if let Some(t) = cov.seat_minutes {
                    p.insert(
                        format!("{name}: seat minutes"),
                        json!(super::geojson::round(t, 1)),
                    );
                }
            }
        }
        p.insert("member of".into(), json!(member_of.join(", ")));
        layers.units.push(PolygonFeature {
            city: String::new(),
            minutes: 0.0,
            polygon: unit.polygon.clone(),
            label: unit.name.clone(),
            properties: p,
            share: best.0,
            member: !member_of.is_empty(),
        });
    }
    for c in &r.catchments {
        let city = r.cities[c.city].circle.city.name.clone();
        let mut p = Map::new();
        p.insert("city".into(), json!(city));
        p.insert("minutes".into(), json!(c.minutes));
        p.insert(
            "area_km2".into(),
            json!(super::geojson::round(c.area_km2, 1)),
        );
        if let Some(pop) = c.population {
            p.insert("population".into(), json!(pop.round()));
        }
        layers.catchments.push(PolygonFeature {
            city: city.clone(),
            minutes: c.minutes,
            polygon: c.polygon.clone(),
            label: format!("{city} · {} min catchment", c.minutes),
            properties: p,
            share: 0.0,
            member: false,
        });
    }
    for c in &r.cities {
        for b in &c.bands {
            let mut p = Map::new();
            p.insert("city".into(), json!(c.circle.city.name));
            p.insert("minutes".into(), json!(b.minutes));
            p.insert("members".into(), json!(b.members.len()));
            p.insert(
                "area_km2".into(),
                json!(super::geojson::round(b.metro_area_km2, 1)),
            );
            layers.metro_areas.push(PolygonFeature {
                city: c.circle.city.name.clone(),
                minutes: b.minutes,
                polygon: b.metro_area.clone(),
                label: format!(
                    "{} · metropolitan area ({} min)",
                    c.circle.city.name, b.minutes
                ),
                properties: p,
                share: 0.0,
                member: true,
            });
        }
    }
    layers.title = format!(
        "Commute circles and cross-boundary reach: {}",
        short_list(&layers.cities())
    );
    layers.tables.push(TableData {
        title: "Reach".into(),
        headers: [
            "city",
            "minutes",
            "home unit",
            "outside home",
            "units reached",
            "members",
            "population reached",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .cities
            .iter()
            .flat_map(|c| {
                c.bands.iter().map(move |b| {
                    vec![
                        c.circle.city.name.clone(),
                        format!("{}", b.minutes),
                        c.home
                            .map(|h| units.units[h].name.clone())
                            .unwrap_or_default(),
                        b.share_outside_home
                            .map(|x| format!("{:.1} %", x * 100.0))
                            .unwrap_or_default(),
                        b.units_reached.to_string(),
                        b.members.len().to_string(),
                        b.population_reached
                            .map(|p| format!("{p:.0}"))
                            .unwrap_or_default(),
                    ]
                })
            })
            .collect(),
    });
    layers
}

fn short_list(names: &[String]) -> String {
    if names.len() <= 4 {
        names.join(", ")
    } else {
        format!("{} and {} more", names[..3].join(", "), names.len() - 3)
    }
}
