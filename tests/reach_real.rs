//! Cross-boundary reach on real data: coverage, populations, catchments, membership, plans.

mod common;

use common::*;
use geo::BooleanOps;
use metroreach::analysis::plan::{compare, read_plans};
use metroreach::analysis::population::Population;
use metroreach::analysis::reach::{run, MembershipRule, ReachParams, ReachResult};
use metroreach::analysis::units::Units;
use metroreach::geom::area::multipolygon_km2;
use metroreach::graph::RoadGraph;
use metroreach::isochrone::{CircleParams, CitySpec, Engine};
use std::path::PathBuf;

fn params(minutes: Vec<f64>, rule: MembershipRule) -> ReachParams {
    ReachParams {
        circle: CircleParams {
            minutes,
            ..Default::default()
        },
        rule,
        contiguous: false,
        homes: vec![],
        seat_snap_m: 5000.0,
        catchments: true,
    }
}

fn reach(
    g: &RoadGraph,
    cities: &[CitySpec],
    units: &Units,
    pop: Option<&Population>,
    p: &ReachParams,
) -> ReachResult {
    let engine = Engine::new(g);
    run(&engine, cities, units, pop, p)
}

fn repo_data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(rel)
}

#[test]
fn malta_coverage_population_and_catchments_add_up() {
    let g = graph(MALTA, "car");
    let units = Units::from_graph(&g, 8).unwrap();
    assert_eq!(units.len(), 67);
    let pop = Population::load("osm:places", &g).unwrap();
    let cities = vec![
        city("Valletta", 14.5146, 35.8989),
        city("Mdina", 14.4031, 35.8857),
        city("Victoria", 14.2392, 36.0444),
    ];
    let p = params(vec![10.0, 20.0], MembershipRule::Area(0.5));
    let r = reach(&g, &cities, &units, Some(&pop), &p);
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let all_councils = geo::unary_union(units.units.iter().map(|u| &u.polygon));
    for c in &r.cities {
        for (k, b) in c.bands.iter().enumerate() {
            let circle = &c.circle.bands[k].polygon;
            for cov in &b.coverage {
                assert!((0.0..=1.0).contains(&cov.area_share));
                // The circle is cut to a box around each council before the overlay: the same
                // area as the overlay of the whole circle.
                let unit = &units.units[cov.unit];
                let direct = multipolygon_km2(&circle.intersection(&unit.polygon));
                assert!(
                    (cov.covered_km2 - direct).abs() <= 1e-7 * unit.area_km2 + 1e-9,
                    "{}: {} vs {direct}",
                    unit.name,
                    cov.covered_km2
                );
                if let Some(s) = cov.population_share {
                    assert!((0.0..=1.0).contains(&s));
                }
            }
            // Coverage areas add up to the circle's area inside the councils.
            let sum: f64 = b.coverage.iter().map(|x| x.covered_km2).sum();
            let inside = multipolygon_km2(&circle.intersection(&all_councils));
            assert!(
                (sum - inside).abs() <= 1e-4 * inside.max(1.0),
                "{} {} min: {sum} vs {inside}",
                c.circle.city.name,
                b.minutes
            );
            // Populations add up: covered population over units = population in the circle that
            // lies in some council.
            let covered: f64 = b.coverage.iter().filter_map(|x| x.covered_population).sum();
            let in_circle = b.population_reached.unwrap();
            let outside_units: f64 = pop
                .points
                .iter()
                .filter(|pt| units.containing(pt.lon, pt.lat).is_none())
                .filter(|pt| {
                    metroreach::geom::polyindex::PolyIndex::new(circle).contains(pt.lon, pt.lat)
                })
                .map(|pt| pt.population)
                .sum();
            assert!(
                (covered + outside_units - in_circle).abs() < 0.5,
                "{covered} + {outside_units} vs {in_circle}"
            );
            // Membership follows the rule.
            for cov in &b.coverage {
                assert_eq!(
                    cov.member,
                    cov.home || cov.area_share >= 0.5,
                    "{}",
                    units.units[cov.unit].name
                );
            }
            let out = b.share_outside_home.unwrap();
            assert!(out > 0.0 && out <= 1.0);
        }
    }
    // Catchments partition the reached area: disjoint, and together the union of all circles.
    for (k, m) in p.circle.minutes.iter().enumerate() {
        let parts: Vec<_> = r.catchments.iter().filter(|c| c.minutes == *m).collect();
        assert_eq!(parts.len(), 3);
        let total: f64 = parts.iter().map(|c| c.area_km2).sum();
        let union = geo::unary_union(r.cities.iter().map(|c| &c.circle.bands[k].polygon));
        let union_km2 = multipolygon_km2(&union);
        for i in 0..parts.len() {
            for j in i + 1..parts.len() {
                let o = multipolygon_km2(&parts[i].polygon.intersection(&parts[j].polygon));
                assert!(
                    o < 0.01 * total,
                    "catchments {i} and {j} overlap by {o} km²"
                );
            }
        }
        assert!(
            (total - union_km2).abs() < 0.03 * union_km2,
            "{m} min: catchments {total} km² vs circles {union_km2} km²"
        );
        let pop_total: f64 = parts.iter().filter_map(|c| c.population).sum();
        assert!(pop_total > 0.0);
    }
    // Overlaps: Valletta and Mdina overlap at 20 min; Victoria (Gozo) overlaps neither at 10.
    let vm = r
        .overlaps
        .iter()
        .find(|o| o.a == 0 && o.b == 1 && o.minutes == 20.0)
        .unwrap();
    assert!(vm.overlap_km2 > 0.0 && vm.jaccard > 0.0 && vm.jaccard <= 1.0);
    assert!(
        (vm.jaccard
            - vm.overlap_km2
                / (r.cities[0].circle.bands[1].area_km2 + r.cities[1].circle.bands[1].area_km2
                    - vm.overlap_km2))
            .abs()
            < 1e-9
    );
    let gozo = r
        .overlaps
        .iter()
        .find(|o| o.a == 0 && o.b == 2 && o.minutes == 10.0)
        .unwrap();
    assert_eq!(gozo.overlap_km2, 0.0);
    assert_eq!(gozo.population, Some(0.0));
}

#[test]
fn yizhuang_circle_crosses_the_daxing_tongzhou_border_in_both_sources() {
    let g = graph(YIZHUANG, "car");
    let county = Units::from_geojson(
        &repo_data("china/county.geojson"),
        "name",
        "gb",
        Some("prefecture"),
    )
    .unwrap();
    let p = params(vec![10.0, 20.0], MembershipRule::Seat);
    let r = reach(
        &g,
        &[city("Yizhuang", 116.5069, 39.7953)],
        &county,
        None,
        &p,
    );
    let c = &r.cities[0];
    assert_eq!(county.units[c.home.unwrap()].name, "大兴区");
    let band = &c.bands[1];
    let share = |name: &str| {
        band.coverage
            .iter()
            .find(|x| {
                county.units[x.unit].name == name
                    && county.units[x.unit].parent.as_deref() == Some("北京市")
            })
            .map(|x| x.covered_km2)
    };
    let (daxing, tongzhou) = (share("大兴区").unwrap(), share("通州区").unwrap());
    assert!(
        daxing > 1.0 && tongzhou > 1.0,
        "大兴 {daxing} km², 通州 {tongzhou} km²"
    );
    assert!(band.share_outside_home.unwrap() > 0.1);

    // With the OSM boundaries the two districts cannot be used as units here: the extract keeps
    // only one way of their common border, so no ring closes. They are reported, not dropped
    // silently.
    let e = Units::from_graph(&g, 6)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("大兴区") && e.contains("通州区") && e.contains("cuts"),
        "{e}"
    );
    // Their border line is kept, and the two sources agree on which districts meet here but not
    // on exactly where: the OSM line (source: China Data Center, University of Michigan) runs
    // 0–6 km inside the county file's 通州区. The test pins that down rather than hiding it.
    let osm_border: Vec<_> = g
        .boundaries
        .iter()
        .filter(|b| b.name.as_deref() == Some("大兴区"))
        .flat_map(|b| b.open_chains.clone())
        .collect();
    assert!(
        !osm_border.is_empty(),
        "the Daxing boundary line in the extract is missing"
    );
    let dx = county
        .units
        .iter()
        .position(|u| u.name == "大兴区" && u.parent.as_deref() == Some("北京市"))
        .unwrap();
    let tz = county
        .units
        .iter()
        .position(|u| u.name == "通州区" && u.parent.as_deref() == Some("北京市"))
        .unwrap();
    let (mut total, mut inside, mut far) = (0.0, 0.0, 0.0f64);
    for chain in &osm_border {
        for w in chain.windows(2) {
            let len = metroreach::geom::distance_m(w[0], w[1]);
            let (lon, lat) = (
                (w[0].lon() + w[1].lon()) / 2.0,
                (w[0].lat() + w[1].lat()) / 2.0,
            );
            total += len;
            if county.prepared(dx).contains(lon, lat) || county.prepared(tz).contains(lon, lat) {
                inside += len;
            }
            far = far.max(
                county
                    .prepared(dx)
                    .boundary_distance(lon, lat)
                    .min(county.prepared(tz).boundary_distance(lon, lat)),
            );
        }
    }
    assert!(total > 5_000.0, "border line only {total} m");
    assert!(
        inside / total > 0.99,
        "the OSM border leaves 大兴∪通州 of the county file"
    );
    assert!(far < 6_000.0, "the sources differ by up to {far:.0} m");
    eprintln!(
        "OSM vs county-file border: {:.1} km of line, farthest {:.0} m apart",
        total / 1000.0,
        far
    );
}

#[test]
fn yuba_membership_rules_and_plan_arithmetic() {
    let g = graph(YUBA, "car");
    let cities = [city("Marysville", -121.5914, 39.1457)];
    let l8 = Units::from_graph(&g, 8).unwrap();
    let l6 = Units::from_graph(&g, 6).unwrap();
    assert!(l6.units.iter().any(|u| u.name == "Yuba County"));
    assert!(
        l6.rejected.iter().any(|r| r.contains("Sutter County")),
        "cut counties are reported: {:?}",
        l6.rejected
    );
    let pop = Population::load("osm:places", &g).ok();
    for rule in [
        MembershipRule::Seat,
        MembershipRule::Area(0.5),
        MembershipRule::Area(0.05),
        MembershipRule::Population(0.5),
    ] {
        for units in [&l8, &l6] {
            let r = reach(
                &g,
                &cities,
                units,
                pop.as_ref(),
                &ReachParams {
                    catchments: false,
                    ..params(vec![15.0, 30.0], rule)
                },
            );
            let c = &r.cities[0];
            for b in &c.bands {
                for cov in &b.coverage {
                    let by_rule = match rule {
                        MembershipRule::Seat => cov.seat_minutes.is_some_and(|t| t <= b.minutes),
                        MembershipRule::Area(x) => cov.area_share >= x,
                        MembershipRule::Population(x) => {
                            cov.population_share.is_some_and(|s| s >= x)
                        }
                    };
                    assert_eq!(
                        cov.member,
                        cov.home || by_rule,
                        "{:?} {}",
                        rule,
                        units.units[cov.unit].name
                    );
                }
                assert_eq!(
                    b.members,
                    b.coverage
                        .iter()
                        .filter(|x| x.member)
                        .map(|x| x.unit)
                        .collect::<Vec<_>>()
                );
                assert!(
                    (b.metro_area_km2
                        - b.members
                            .iter()
                            .map(|&u| units.units[u].area_km2)
                            .sum::<f64>())
                    .abs()
                        < 1e-3 * b.metro_area_km2.max(1.0)
                );
            }
            // Bands grow: what is a member at 15 min by area share is one at 30 min.
            if let MembershipRule::Area(_) = rule {
                for m in &c.bands[0].members {
                    assert!(c.bands[1].members.contains(m));
                }
            }
        }
    }
    // Plan arithmetic against a hand-made plan.
    let dir = scratch("plan");
    let plan_csv = dir.join("plan.csv");
    std::fs::write(
        &plan_csv,
        "city,unit\nMarysville,Marysville\nMarysville,Wheatland\nMarysville,Atlantis\n",
    )
    .unwrap();
    let plans = read_plans(&plan_csv, &l8).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].units.len(), 2);
    assert_eq!(plans[0].unresolved.len(), 1);
    let marysville = l8.find("Marysville").unwrap();
    let wheatland = l8.find("Wheatland").unwrap();
    let cmp = compare(&plans[0], "Marysville", 30.0, &[marysville], &l8);
    assert_eq!((cmp.delineated, cmp.planned, cmp.common), (1, 2, 1));
    assert_eq!((cmp.precision, cmp.recall, cmp.jaccard), (1.0, 0.5, 0.5));
    let cmp = compare(&plans[0], "Marysville", 30.0, &[marysville, wheatland], &l8);
    assert_eq!(
        (cmp.precision, cmp.recall, cmp.jaccard, cmp.area_ratio),
        (1.0, 1.0, 1.0, 1.0)
    );
}

#[test]
fn china_plan_file_resolves_against_the_county_file() {
    let county = Units::from_geojson(
        &repo_data("china/county.geojson"),
        "name",
        "gb",
        Some("prefecture"),
    )
    .unwrap();
    let plans = read_plans(&data_dir().join("plans/china-metro-plans.csv"), &county).unwrap();
    let nanjing = plans.iter().find(|p| p.name == "南京都市圈").unwrap();
    assert_eq!(nanjing.core, "南京市");
    // Nanjing's 11 districts + 4 + 4 + 1 + 3 + 5 + 4 + 1 named units.
    assert_eq!(
        nanjing.units.len(),
        11 + 4 + 4 + 1 + 3 + 5 + 4 + 1,
        "{:?}",
        nanjing.unresolved
    );
    assert!(nanjing.unresolved.is_empty(), "{:?}", nanjing.unresolved);
    let sh = plans.iter().find(|p| p.name == "上海大都市圈").unwrap();
    let prefectures = [
        "上海市",
        "苏州市",
        "无锡市",
        "常州市",
        "南通市",
        "嘉兴市",
        "湖州市",
        "宁波市",
        "舟山市",
    ];
    let expected = county
        .units
        .iter()
        .filter(|u| {
            u.parent
                .as_deref()
                .is_some_and(|p| prefectures.contains(&p))
        })
        .count();
    assert!(expected > 60);
    assert_eq!(sh.units.len(), expected, "{:?}", sh.unresolved);
    // Entries that name no county are reported, not fatal.
    let cq = plans.iter().find(|p| p.name == "重庆都市圈").unwrap();
    assert!(cq.unresolved.iter().any(|u| u.contains("主城都市区21区")));
}

#[test]
fn unit_files_with_problems_are_explained() {
    let dir = scratch("units-bad");
    let g = graph(MALTA, "car");
    let missing = Units::from_geojson(&repo_data("china/county.geojson"), "NAME", "gb", None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        missing.contains("'NAME'") && missing.contains("gb") && missing.contains("prefecture"),
        "{missing}"
    );
    let nofeat = dir.join("empty.geojson");
    std::fs::write(&nofeat, r#"{"type":"FeatureCollection","features":[]}"#).unwrap();
    assert!(Units::from_geojson(&nofeat, "name", "gb", None)
        .err()
        .unwrap()
        .to_string()
        .contains("no features"));
    let e = Units::from_graph(&g, 5).err().unwrap().to_string();
    assert!(
        e.contains("admin_level 5") && e.contains("levels present"),
        "{e}"
    );
    // No unit contains the origin: warned (GCJ-02 pitfall), not fatal.
    let far = dir.join("far.geojson");
    std::fs::write(&far, r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Elsewhere","code":"X"},"geometry":{"type":"Polygon","coordinates":[[[14.30,36.00],[14.31,36.00],[14.31,36.01],[14.30,36.01],[14.30,36.00]]]}}]}"#).unwrap();
    let units = Units::from_geojson(&far, "name", "code", None).unwrap();
    let r = reach(
        &g,
        &[city("Valletta", 14.5146, 35.8989)],
        &units,
        None,
        &params(vec![10.0], MembershipRule::Seat),
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("GCJ-02")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.cities[0].bands[0].share_outside_home, None);
}
