//! Cross-boundary reach: how each city's commute circle covers administrative units, how far it
//! reaches beyond its home unit, how circles of different cities overlap, the nearest-core
//! partition (catchments), and which units form each city's metropolitan area.

use super::overlay::{bbox_of, coverage, overlap_within};
use super::population::Population;
use super::units::Units;
use crate::geom::area::multipolygon_km2;
use crate::geom::polyindex::PolyIndex;
use crate::geom::projection::LocalProjection;
use crate::geom::BBox;
use crate::isochrone::polygon::mask_polygon;
use crate::isochrone::reach::stretches as reached_stretches;
use crate::isochrone::search::{SearchScratch, Source};
use crate::isochrone::snap::Snapped;
use crate::isochrone::stamp::{sample_roads, Reached, Sample, TimeGrid};
use crate::isochrone::{
    CircleError, CircleParams, CitySpec, CommuteCircle, Direction, Engine, Extras,
};
use geo::MultiPolygon;
use rayon::prelude::*;
use std::collections::{HashMap, VecDeque};

/// How a unit joins a city's metropolitan area (for each band's time).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "rule", content = "threshold", rename_all = "lowercase")]
pub enum MembershipRule {
    /// The unit's seat is reachable within the band.
    Seat,
    /// At least this share of the unit's area is inside the circle.
    Area(f64),
    /// At least this share of the unit's population is inside the circle.
    Population(f64),
}

impl MembershipRule {
    /// `seat`, `area:0.5`, `population:0.5`.
    pub fn parse(s: &str) -> Result<MembershipRule, String> {
        let share = |v: &str| -> Result<f64, String> {
            let x: f64 = v
                .parse()
                .map_err(|_| format!("--rule {s}: '{v}' is not a number"))?;
            if (0.0..=1.0).contains(&x) && x > 0.0 {
                Ok(x)
            } else {
                Err(format!("--rule {s}: the share must be in (0, 1]"))
            }
        };
        match s.split_once(':') {
            None if s == "seat" => Ok(MembershipRule::Seat),
            Some(("area", v)) => Ok(MembershipRule::Area(share(v)?)),
            Some(("population", v)) => Ok(MembershipRule::Population(share(v)?)),
            _ => Err(format!(
                "--rule {s}: use seat, area:SHARE or population:SHARE"
            )),
        }
    }
    pub fn describe(&self) -> String {
        match self {
            MembershipRule::Seat => "seat reachable within the band".into(),
            MembershipRule::Area(x) => {
                format!("at least {:.0} % of its area inside the circle", x * 100.0)
            }
            MembershipRule::Population(x) => format!(
                "at least {:.0} % of its population inside the circle",
                x * 100.0
            ),
        }
    }
}

/// Parameters of a reach run (recorded in its outputs).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReachParams {
    pub circle: CircleParams,
    pub rule: MembershipRule,
    pub contiguous: bool,
    /// Home units given on the command line: (city or None for all, unit code or name).
    pub homes: Vec<(Option<String>, String)>,
    /// Largest distance (m) from a unit's seat to the road it is timed at.
    pub seat_snap_m: f64,
    pub catchments: bool,
}

/// One unit as seen from one city and band.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitCoverage {
    pub unit: usize,
    pub covered_km2: f64,
    pub area_share: f64,
    pub covered_population: Option<f64>,
    pub population_share: Option<f64>,
    /// Travel time to (or from, arriving) the unit's seat, minutes, if within the largest band.
    pub seat_minutes: Option<f64>,
    pub member: bool,
    pub home: bool,
}

/// A city's reach in one band.
#[derive(Clone, Debug)]
pub struct BandReach {
    pub minutes: f64,
    /// Units the circle touches or whose seat it reaches (plus the home unit).
    pub coverage: Vec<UnitCoverage>,
    pub home_covered_km2: f64,
    /// Share of the circle outside the home unit (`None` when no home unit is known).
    pub share_outside_home: Option<f64>,
    /// Share of the circle outside the home unit's parent (e.g. its prefecture), when units
    /// have parents.
    pub share_outside_home_parent: Option<f64>,
    /// People reached outside the home unit's parent.
    pub population_outside_home_parent: Option<f64>,
    pub units_reached: usize,
    pub units_half_covered: usize,
    pub population_reached: Option<f64>,
    pub population_home: Option<f64>,
    pub population_outside_home: Option<f64>,
    /// Mean travel time of the people reached, minutes.
    pub mean_minutes: Option<f64>,
    pub members: Vec<usize>,
    pub metro_area: MultiPolygon<f64>,
    pub metro_area_km2: f64,
}

/// A city's full reach.
#[derive(Clone, Debug)]
pub struct CityReach {
    pub circle: CommuteCircle,
    pub home: Option<usize>,
    /// How the home unit was found.
    pub home_source: String,
    pub bands: Vec<BandReach>,
}

/// Overlap of two cities' circles in one band.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlap {
    pub a: usize,
    pub b: usize,
    pub minutes: f64,
    pub overlap_km2: f64,
    pub jaccard: f64,
    pub share_of_a: f64,
    pub share_of_b: f64,
    pub population: Option<f64>,
}

/// The part of the reached area where one city is the nearest core, in one band.
#[derive(Clone, Debug)]
pub struct Catchment {
    pub city: usize,
    pub minutes: f64,
    pub polygon: MultiPolygon<f64>,
    pub area_km2: f64,
    pub population: Option<f64>,
}

/// Everything a reach run produces.
pub struct ReachResult {
    pub cities: Vec<CityReach>,
    pub failed: Vec<(String, String)>,
    pub overlaps: Vec<Overlap>,
    pub catchments: Vec<Catchment>,
    /// Per unit: its population (when population is given).
    pub unit_population: Vec<Option<f64>>,
    pub warnings: Vec<String>,
}

/// Runs the whole analysis.
pub fn run(
    engine: &Engine,
    cities: &[CitySpec],
    units: &Units,
    population: Option<&Population>,
    p: &ReachParams,
) -> ReachResult {
    let g = engine.graph;
    let laps = crate::progress::Laps::from_env("reach");
    let mut warnings = Vec::new();
    // Unit populations (denominators of population shares).
    let unit_population: Vec<Option<f64>> = units
        .units
        .par_iter()
        .enumerate()
        .map(|(i, u)| {
            population.map(|pop| pop.count(&u.polygon, &u.bbox, units.prepared(i), None).0)
        })
        .collect();
    // Seats on the network (only units the graph reaches into).
    let graph_box = g.meta.bbox.unwrap_or_else(|| g.bbox());
    let seats: Vec<Option<Snapped>> = units
        .units
        .par_iter()
        .map(|u| {
            if u.bbox.intersects(&graph_box) {
                engine
                    .snap_index()
                    .nearest(g, u.seat.lon, u.seat.lat, p.seat_snap_m)
            } else {
                None
            }
        })
        .collect();
    let unseated: Vec<&str> = units
        .units
        .iter()
        .zip(&seats)
        .filter(|(u, s)| s.is_none() && graph_box.contains(u.seat.lon, u.seat.lat))
        .map(|(u, _)| u.name.as_str())
        .collect();
    if !unseated.is_empty() {
        warnings.push(format!(
            "{} unit seats inside the graph's area are more than {} m from any road, so their travel time is unknown: {}",
            unseated.len(),
            p.seat_snap_m,
            unseated.iter().take(10).copied().collect::<Vec<_>>().join(", ")
        ));
    }

    laps.lap("unit populations and seats");
    let extras = Extras {
        keep_grid: true,
        keep_edges: false,
        keep_stretches: true,
    };
    let results: Vec<Result<CommuteCircle, CircleError>> = cities
        .par_iter()
        .map_init(
            || SearchScratch::new(g.num_nodes()),
            |scratch, c| engine.circle_with(c, &p.circle, scratch, extras),
        )
        .collect();
    let mut ok: Vec<(usize, CommuteCircle)> = Vec::new();
    let mut failed = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(c) => ok.push((i, c)),
            Err(e) => failed.push((cities[i].name.clone(), e.to_string())),
        }
    }

    laps.lap("circles");
    let city_reach: Vec<CityReach> = ok
        .into_par_iter()
        .map(|(_, circle)| city_reach(circle, units, population, &unit_population, &seats, p))
        .collect();
    for c in &city_reach {
        if c.home.is_none() {
            warnings.push(format!(
                "{}: no unit contains its origin; check that the units are WGS-84 like OSM (boundaries in GCJ-02, common on Chinese web maps, are offset by 300–600 m) and that they cover the city",
                c.circle.city.name
            ));
        }
    }

    laps.lap("units covered, seats timed, metropolitan areas");
    // Overlaps between every pair of circles, per band.
    let mut pairs = Vec::new();
    for a in 0..city_reach.len() {
        for b in a + 1..city_reach.len() {
            for k in 0..p.circle.minutes.len() {
                pairs.push((a, b, k));
            }
        }
    }
    // Only pairs whose boxes meet can overlap (each band's box computed once, not per pair);
    // their overlays run on all cores, one pair per task (a few hundred costly ones among many).
    let boxes: Vec<Vec<Option<BBox>>> = city_reach
        .iter()
        .map(|c| c.circle.bands.iter().map(|b| bbox_of(&b.polygon)).collect())
        .collect();
    let meeting: Vec<usize> = (0..pairs.len())
        .filter(|&i| {
            let (a, b, k) = pairs[i];
            matches!((boxes[a][k], boxes[b][k]), (Some(x), Some(y)) if x.intersects(&y))
        })
        .collect();
    let computed: Vec<(f64, Option<f64>)> = meeting
        .par_iter()
        .with_max_len(1)
        .map(|&i| {
            let (a, b, k) = pairs[i];
            let (pa, pb) = (
                &city_reach[a].circle.bands[k].polygon,
                &city_reach[b].circle.bands[k].polygon,
            );
            let (o, overlap_km2) = overlap_within(pa, pb, boxes[a][k], boxes[b][k]);
            let pop = population.map(|pp| match bbox_of(&o) {
                Some(bo) => pp.count(&o, &bo, &PolyIndex::new(&o), None).0,
                None => 0.0,
            });
            (overlap_km2, pop)
        })
        .collect();
    // Pairs apart get what the overlay gives them: nothing, and no one in it.
    let mut found = vec![(0.0, population.map(|_| 0.0)); pairs.len()];
    for (&i, r) in meeting.iter().zip(computed) {
        found[i] = r;
    }
    let overlaps: Vec<Overlap> = pairs
        .iter()
        .zip(found)
        .map(|(&(a, b, k), (overlap_km2, pop))| {
            let (ba, bb) = (
                &city_reach[a].circle.bands[k],
                &city_reach[b].circle.bands[k],
            );
            let union = ba.area_km2 + bb.area_km2 - overlap_km2;
            Overlap {
                a,
                b,
                minutes: ba.minutes,
                overlap_km2,
                jaccard: if union > 0.0 {
                    overlap_km2 / union
                } else {
                    0.0
                },
                share_of_a: if ba.area_km2 > 0.0 {
                    overlap_km2 / ba.area_km2
                } else {
                    0.0
                },
                share_of_b: if bb.area_km2 > 0.0 {
                    overlap_km2 / bb.area_km2
                } else {
                    0.0
                },
                population: pop,
            }
        })
        .collect();

    laps.lap("overlaps of city pairs");
    let catchments = if p.catchments && !city_reach.is_empty() {
        catchments(engine, &city_reach, population, p)
    } else {
        Vec::new()
    };
    laps.lap("catchments");
    ReachResult {
        cities: city_reach,
        failed,
        overlaps,
        catchments,
        unit_population,
        warnings,
    }
}

fn city_reach(
    circle: CommuteCircle,
    units: &Units,
    population: Option<&Population>,
    unit_population: &[Option<f64>],
    seats: &[Option<Snapped>],
    p: &ReachParams,
) -> CityReach {
    let origin = &circle.city.origins[0];
    let given = p
        .homes
        .iter()
        .find(|(c, _)| c.as_deref() == Some(circle.city.name.as_str()))
        .or_else(|| p.homes.iter().find(|(c, _)| c.is_none()));
    let (home, home_source) = match given {
        Some((_, code)) => match units.find(code) {
            Some(u) => (Some(u), format!("--home {code}")),
            None => (None, format!("--home {code}: no such unit")),
        },
        None => match units.containing(origin.lon, origin.lat) {
            Some(u) => (Some(u), "contains the origin".to_string()),
            None => (None, "no unit contains the origin".to_string()),
        },
    };
    // Travel time to each seat (minutes), for units near the largest circle.
    let largest = circle.bands.last().map(|b| &b.polygon);
    let near: Vec<usize> = largest
        .and_then(bbox_of)
        .map(|b| units.candidates(&b))
        .unwrap_or_default();
    let seat_minutes: HashMap<usize, f64> = near
        .iter()
        .filter_map(|&u| {
            seats[u]
                .as_ref()
                .and_then(|s| circle.time_at(s))
                .map(|t| (u, t / 60.0))
        })
        .collect();
    let grid_time = |lon: f64, lat: f64| -> Option<f64> {
        let (grid, proj) = circle.grid.as_ref()?;
        let (x, y) = proj.forward(lon, lat);
        let i = ((x - grid.x0) / grid.cell).round();
        let j = ((y - grid.y0) / grid.cell).round();
        if i < 0.0 || j < 0.0 || i >= grid.nx as f64 || j >= grid.ny as f64 {
            return None;
        }
        let v = grid.at(i as usize, j as usize);
        v.is_finite().then(|| v as f64 / 60.0)
    };
    let bands = circle
        .bands
        .iter()
        .map(|band| {
            let bb = bbox_of(&band.polygon).unwrap_or(BBox::EMPTY);
            let mut parts: HashMap<usize, (MultiPolygon<f64>, f64)> =
                coverage(&band.polygon, units)
                    .into_iter()
                    .map(|c| (c.unit, (c.part, c.km2)))
                    .collect();
            let mut touched: Vec<usize> = parts.keys().copied().collect();
            touched.extend(
                seat_minutes
                    .iter()
                    .filter(|(_, &t)| t <= band.minutes)
                    .map(|(&u, _)| u),
            );
            touched.extend(home);
            touched.sort_unstable();
            touched.dedup();
            let mut coverage: Vec<UnitCoverage> = touched
                .iter()
                .map(|&u| {
                    let unit = &units.units[u];
                    let (inter, covered_km2) = parts
                        .remove(&u)
                        .unwrap_or_else(|| (MultiPolygon(vec![]), 0.0));
                    let covered_population = population.map(|pop| match bbox_of(&inter) {
                        Some(bi) => pop.count(&inter, &bi, &PolyIndex::new(&inter), None).0,
                        None => 0.0,
                    });
                    let population_share = match (covered_population, unit_population[u]) {
                        (Some(c), Some(t)) if t > 0.0 => Some((c / t).min(1.0)),
                        _ => None,
                    };
                    let seat = seat_minutes.get(&u).copied();
                    UnitCoverage {
                        unit: u,
                        covered_km2,
                        area_share: if unit.area_km2 > 0.0 {
                            (covered_km2 / unit.area_km2).min(1.0)
                        } else {
                            0.0
                        },
                        covered_population,
                        population_share,
                        seat_minutes: seat,
                        member: false,
                        home: Some(u) == home,
                    }
                })
                .filter(|c| {
                    c.covered_km2 > 0.0
                        || c.seat_minutes.is_some_and(|t| t <= band.minutes)
                        || c.home
                })
                .collect();
            // Membership by the rule, then contiguity with the home unit.
            for c in coverage.iter_mut() {
                c.member = c.home
                    || match p.rule {
                        MembershipRule::Seat => c.seat_minutes.is_some_and(|t| t <= band.minutes),
                        MembershipRule::Area(x) => c.area_share >= x,
                        MembershipRule::Population(x) => c.population_share.is_some_and(|s| s >= x),
                    };
            }
            if p.contiguous {
                if let Some(h) = home {
                    let members: Vec<usize> = coverage
                        .iter()
                        .filter(|c| c.member)
                        .map(|c| c.unit)
                        .collect();
                    let mut connected = vec![h];
                    let mut queue = VecDeque::from([h]);
                    while let Some(u) = queue.pop_front() {
                        for &v in &members {
                            if !connected.contains(&v) && units.adjacent(u, v) {
                                connected.push(v);
                                queue.push_back(v);
                            }
                        }
                    }
                    for c in coverage.iter_mut() {
                        c.member = c.member && connected.contains(&c.unit);
                    }
                }
            }
            let members: Vec<usize> = coverage
                .iter()
                .filter(|c| c.member)
                .map(|c| c.unit)
                .collect();
            let metro_area = if members.is_empty() {
                MultiPolygon(vec![])
            } else {
                geo::unary_union(members.iter().map(|&u| &units.units[u].polygon))
            };
            let home_cov = coverage.iter().find(|c| c.home);
            let home_covered_km2 = home_cov.map(|c| c.covered_km2).unwrap_or(0.0);
            let (population_reached, mean_minutes) = match population {
                Some(pop) => {
                    // Prepared here only: without a population layer nothing reads it.
                    let index = PolyIndex::new(&band.polygon);
                    let (n, mean) = pop.count(&band.polygon, &bb, &index, Some(&grid_time));
                    (Some(n), mean)
                }
                None => (None, None),
            };
            let population_home = home_cov.and_then(|c| c.covered_population);
            let home_parent = home.and_then(|h| units.units[h].parent.as_deref());
            let in_parent = |c: &&UnitCoverage| {
                home_parent.is_some() && units.units[c.unit].parent.as_deref() == home_parent
            };
            let parent_km2: f64 = coverage
                .iter()
                .filter(in_parent)
                .map(|c| c.covered_km2)
                .sum();
            let parent_pop: Option<f64> = population.map(|_| {
                coverage
                    .iter()
                    .filter(in_parent)
                    .filter_map(|c| c.covered_population)
                    .sum()
            });
            BandReach {
                share_outside_home_parent: home_parent.map(|_| {
                    if band.area_km2 > 0.0 {
                        ((band.area_km2 - parent_km2) / band.area_km2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    }
                }),
                population_outside_home_parent: match (home_parent, population_reached, parent_pop)
                {
                    (Some(_), Some(total), Some(inside)) => Some((total - inside).max(0.0)),
                    _ => None,
                },
                minutes: band.minutes,
                share_outside_home: home.map(|_| {
                    if band.area_km2 > 0.0 {
                        ((band.area_km2 - home_covered_km2) / band.area_km2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    }
                }),
                home_covered_km2,
                units_reached: coverage.iter().filter(|c| c.covered_km2 > 0.0).count(),
                units_half_covered: coverage.iter().filter(|c| c.area_share >= 0.5).count(),
                population_outside_home: population_reached
                    .filter(|_| home.is_some())
                    .map(|n| (n - population_home.unwrap_or(0.0)).max(0.0)),
                population_reached,
                population_home: if home.is_some() {
                    population_home
                } else {
                    None
                },
                mean_minutes,
                metro_area_km2: multipolygon_km2(&metro_area),
                metro_area,
                members,
                coverage,
            }
        })
        .collect();
    CityReach {
        circle,
        home,
        home_source,
        bands,
    }
}

/// Nearest-core partition: one multi-source search from every city's origins, each labelled by
/// its city; every reached place belongs to the city that reaches it first. Stamped in one
/// run-wide projection so that neighbouring catchments share their boundaries.
fn catchments(
    engine: &Engine,
    cities: &[CityReach],
    population: Option<&Population>,
    p: &ReachParams,
) -> Vec<Catchment> {
    let g = engine.graph;
    let snaps: Vec<(Snapped, u32)> = cities
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.circle.origins.iter().map(move |o| (o.snap, i as u32)))
        .collect();
    let direction = p.circle.direction;
    let sources: Vec<Source> = engine.sources(&snaps, direction);
    let mut scratch = SearchScratch::new(g.num_nodes());
    engine.search(&sources, direction, p.circle.limit_ms(), &mut scratch);
    let limit = p.circle.max_minutes() * 60.0;
    let reverse = (direction == Direction::Arrive).then(|| engine.reverse());
    let stretches = reached_stretches(
        g,
        reverse,
        &snaps,
        direction,
        limit,
        &scratch,
        engine.snap_index().edge_of_road(),
    );
    let n = cities.len() as f64;
    let lon0 = cities
        .iter()
        .map(|c| crate::isochrone::centroid(&c.circle.city.origins).0)
        .sum::<f64>()
        / n;
    let lat0 = cities
        .iter()
        .map(|c| crate::isochrone::centroid(&c.circle.city.origins).1)
        .sum::<f64>()
        / n;
    let proj = LocalProjection::new(lon0, lat0);
    let reached = Reached {
        search: &scratch,
        nodes: &scratch.settled,
        origins: &snaps,
        sea_nodes: engine.sea_nodes(),
        stretch_factor: crate::isochrone::stamp::stretch_factor(g, &proj, &scratch.settled),
    };
    let samples = sample_roads(g, &proj, &reached, &stretches, limit, p.circle.cell_m);
    // Buckets of samples for per-city windows.
    let bucket = 20_000.0f64;
    let mut buckets: HashMap<(i64, i64), Vec<u32>> = HashMap::new();
    let cell = p.circle.cell_m;
    let xy = |s: &Sample| (s.i as f64 * cell, s.j as f64 * cell);
    for (i, s) in samples.iter().enumerate() {
        let (x, y) = xy(s);
        buckets
            .entry(((x / bucket).floor() as i64, (y / bucket).floor() as i64))
            .or_default()
            .push(i as u32);
    }
    // Each city's own samples, in sample order (one pass, not one pass per city).
    let mut own_of: Vec<Vec<u32>> = vec![Vec::new(); cities.len()];
    for (i, s) in samples.iter().enumerate() {
        if let Some(own) = own_of.get_mut(s.label as usize) {
            own.push(i as u32);
        }
    }
    let thresholds: Vec<f64> = p.circle.minutes.iter().map(|m| m * 60.0).collect();
    let grid_params = p.circle.grid();
    (0..cities.len())
        .into_par_iter()
        .flat_map_iter(|ci| {
            let own: Vec<&Sample> = own_of[ci].iter().map(|&i| &samples[i as usize]).collect();
            if own.is_empty() {
                return Vec::new();
            }
            let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for s in &own {
                let (x, y) = xy(s);
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
            let pad = 2.0 * grid_params.offroad_m + 4.0 * grid_params.cell_m;
            let (bx0, by0) = (
                ((x0 - pad) / bucket).floor() as i64,
                ((y0 - pad) / bucket).floor() as i64,
            );
            let (bx1, by1) = (
                ((x1 + pad) / bucket).floor() as i64,
                ((y1 + pad) / bucket).floor() as i64,
            );
            let mut window: Vec<Sample> = Vec::new();
            for bx in bx0..=bx1 {
                for by in by0..=by1 {
                    for &i in buckets.get(&(bx, by)).map(Vec::as_slice).unwrap_or(&[]) {
                        let s = samples[i as usize];
                        let (x, y) = xy(&s);
                        if x >= x0 - pad && x <= x1 + pad && y >= y0 - pad && y <= y1 + pad {
                            window.push(s);
                        }
                    }
                }
            }
            // Only this city's samples decide the grid's extent; the others resolve its edges.
            let Ok(grid) = TimeGrid::stamp(&window, &grid_params, true) else {
                // Too large for the cell size: the circles already reported it.
                return Vec::new();
            };
            thresholds
                .iter()
                .map(|&t| {
                    let polygon = mask_polygon(
                        &grid,
                        |k| grid.labels[k] == ci as u32 && grid.values[k] as f64 <= t,
                        &proj,
                        p.circle.simplify_m,
                    );
                    let area_km2 = multipolygon_km2(&polygon);
                    let population = population.map(|pop| match bbox_of(&polygon) {
                        Some(b) => pop.count(&polygon, &b, &PolyIndex::new(&polygon), None).0,
                        None => 0.0,
                    });
                    Catchment {
                        city: ci,
                        minutes: t / 60.0,
                        polygon,
                        area_km2,
                        population,
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
