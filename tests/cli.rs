//! The command line end to end: outputs, exit codes, messages, and that failures write nothing.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn metroreach(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metroreach"))
        .args(args)
        .env("METROREACH_CACHE", cache)
        .output()
        .expect("run metroreach")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Imports once per test binary into a scratch directory and returns the graph path.
fn imported(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| scratch("cli-graphs"));
    let out = dir.join(format!("{name}.graph"));
    if !out.exists() {
        let o = metroreach(&["import", &s(&osm(name)), "-o", &s(&out)], dir);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    out
}

#[test]
fn import_and_info_describe_the_graph() {
    let g = imported(MALTA);
    let dir = scratch("info");
    let o = metroreach(&["info", &s(&g), "--json"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["nodes"].as_u64().unwrap() > 10_000);
    assert_eq!(v["boundaries_by_admin_level"]["8"], 67);
    assert_eq!(v["meta"]["profile_name"], "car");
    assert_eq!(v["meta"]["source"]["file_name"], MALTA);
    assert!(v["meta"]["km_by_class"]["ferry"].as_f64().unwrap() > 0.0);
    assert!(v["meta"]["source"]["replication_timestamp"]
        .as_i64()
        .is_some());
    let o = metroreach(&["info", &s(&g)], &dir);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("profile parameters") && text.contains("congestion"),
        "{text}"
    );
}

#[test]
fn import_failures_name_the_file_and_leave_nothing() {
    let dir = scratch("import-bad");
    let out = dir.join("out.graph");
    let text = dir.join("notes.osm.pbf");
    std::fs::write(&text, "<?xml version='1.0'?><osm></osm>").unwrap();
    let empty = dir.join("empty.osm.pbf");
    std::fs::write(&empty, b"").unwrap();
    let bytes = std::fs::read(osm(MALTA)).unwrap();
    let truncated = dir.join("truncated.osm.pbf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "import".into(),
                s(&dir.join("missing.osm.pbf")),
                "-o".into(),
                s(&out),
            ],
            "missing.osm.pbf",
        ),
        (
            vec!["import".into(), s(&text), "-o".into(), s(&out)],
            "OSM XML",
        ),
        (
            vec!["import".into(), s(&empty), "-o".into(), s(&out)],
            "empty",
        ),
        (
            vec!["import".into(), s(&truncated), "-o".into(), s(&out)],
            "truncated",
        ),
        (
            vec![
                "import".into(),
                s(&osm(MALTA)),
                "-o".into(),
                s(&dir.join("no/such/dir/x.graph")),
            ],
            "does not exist",
        ),
        (
            vec![
                "import".into(),
                s(&osm(MALTA)),
                "-o".into(),
                s(&out),
                "--profile".into(),
                "plane".into(),
            ],
            "unknown profile",
        ),
    ];
    for (args, expect) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = metroreach(&args, &dir);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.contains(expect), "{args:?}: expected '{expect}' in: {e}");
        assert!(!e.contains("panicked"), "{e}");
        assert!(!out.exists(), "{args:?} left an output file");
    }
    // No temporary files either.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn circles_geojson_is_rfc7946_with_every_property() {
    let g = imported(MALTA);
    let dir = scratch("circles");
    let out = dir.join("valletta.geojson");
    let edges = dir.join("edges.geojson");
    let grid = dir.join("grid");
    let o = metroreach(
        &[
            "circles",
            &s(&g),
            "--city",
            "Valletta",
            "--at",
            "14.2392,36.0444",
            "--label",
            "Victoria",
            "--minutes",
            "10,20",
            "-o",
            &s(&out),
            "--edges",
            &s(&edges),
            "--grid",
            &s(&grid),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let fc: geojson::FeatureCollection = text
        .parse::<geojson::GeoJson>()
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(fc.features.len(), 4);
    let run = fc
        .foreign_members
        .as_ref()
        .unwrap()
        .get("metroreach")
        .unwrap();
    assert_eq!(
        run["parameters"]["minutes"],
        serde_json::json!([10.0, 20.0])
    );
    assert_eq!(run["parameters"]["direction"], "depart");
    assert_eq!(run["graph"]["profile"]["mode"], "car");
    for f in &fc.features {
        let p = f.properties.as_ref().unwrap();
        for key in [
            "city",
            "origins",
            "snap_distance_m",
            "minutes",
            "direction",
            "area_km2",
            "equivalent_radius_km",
            "reach_factor",
            "reached_road_km",
            "truncated",
            "profile",
            "cell_m",
            "offroad_m",
        ] {
            assert!(p.contains_key(key), "missing property {key}");
        }
        let area = p["area_km2"].as_f64().unwrap();
        assert!(area > 0.0);
        let r = p["equivalent_radius_km"].as_f64().unwrap();
        assert!((std::f64::consts::PI * r * r - area).abs() / area < 1e-3);
        let geom: geo::MultiPolygon<f64> = f.geometry.clone().unwrap().try_into().unwrap();
        use geo::Winding;
        for poly in &geom.0 {
            assert!(poly.exterior().is_ccw());
            assert!(poly.interiors().iter().all(|h| h.is_cw()));
        }
    }
    // Coordinates carry at most 6 decimals.
    let coords_part = &text[text.find("\"coordinates\"").unwrap()..];
    for num in coords_part
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|t| t.contains('.'))
        .take(5000)
    {
        let decimals = num.split('.').nth(1).unwrap().len();
        assert!(decimals <= 6, "{num}");
    }
    let e: geojson::FeatureCollection = std::fs::read_to_string(&edges)
        .unwrap()
        .parse::<geojson::GeoJson>()
        .unwrap()
        .try_into()
        .unwrap();
    assert!(e.features.len() > 100);
    assert!(grid.join("Valletta.asc").is_file() && grid.join("Valletta.prj").is_file());
    let asc = std::fs::read_to_string(grid.join("Valletta.asc")).unwrap();
    assert!(asc.starts_with("ncols "));
}

#[test]
fn circles_bad_input_is_explained_and_writes_nothing() {
    let g = imported(MALTA);
    let dir = scratch("circles-bad");
    let out = dir.join("out.geojson");
    let csv_bad = dir.join("bad.csv");
    std::fs::write(&csv_bad, "name,lon,lat\nA,14.5,35.9\nB,east,35.9\n").unwrap();
    let csv_cols = dir.join("cols.csv");
    std::fs::write(&csv_cols, "name,x_coord\nA,1\n").unwrap();
    let g = s(&g);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["circles", &g, "--city", "Atlantis", "-o"],
            "no place with that name",
        ),
        (
            vec!["circles", &g, "--at", "14.60,35.95", "-o"],
            "from any road",
        ),
        (
            vec!["circles", &g, "--at", "121.47,31.23", "-o"],
            "outside the graph",
        ),
        (
            vec![
                "circles",
                &g,
                "--at",
                "14.5,35.9",
                "--minutes",
                "30,x",
                "-o",
            ],
            "'x' is not a number",
        ),
        (
            vec![
                "circles",
                &g,
                "--at",
                "14.5,35.9",
                "--minutes",
                "30,20",
                "-o",
            ],
            "strictly increasing",
        ),
        (
            vec!["circles", &g, "--at", "14.5,35.9", "--minutes", "0", "-o"],
            "positive",
        ),
        (
            vec!["circles", &g, "--at", "14.5,35.9", "--minutes", "NaN", "-o"],
            "positive",
        ),
        (vec!["circles", &g, "--at", "14.5", "-o"], "LON,LAT"),
        (
            vec!["circles", &g, "--cities", csv_bad.to_str().unwrap(), "-o"],
            "bad.csv line 3",
        ),
        (
            vec!["circles", &g, "--cities", csv_cols.to_str().unwrap(), "-o"],
            "missing column 'lon'",
        ),
        (vec!["circles", &g, "-o"], "no origins"),
        (
            vec![
                "circles",
                &g,
                "--at",
                "14.5,35.9",
                "--profile",
                "bike",
                "-o",
            ],
            "apply when importing",
        ),
    ];
    for (mut args, expect) in cases {
        let o_s = s(&out);
        args.push(&o_s);
        let o = metroreach(&args, &dir);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.contains(expect), "{args:?}: expected '{expect}' in: {e}");
        assert!(!out.exists(), "{args:?} wrote an output");
    }
}

#[test]
fn one_failing_city_does_not_lose_the_others() {
    let g = imported(MALTA);
    let dir = scratch("circles-partial");
    let out = dir.join("out.geojson");
    let csv = dir.join("cities.csv");
    std::fs::write(
        &csv,
        "name,lon,lat\nValletta,14.5146,35.8989\nAt sea,14.60,35.95\nMdina,14.4031,35.8857\n",
    )
    .unwrap();
    let o = metroreach(
        &[
            "circles",
            &s(&g),
            "--cities",
            &s(&csv),
            "--minutes",
            "10",
            "-o",
            &s(&out),
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("At sea"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let cities: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["city"].as_str().unwrap())
        .collect();
    assert_eq!(cities, vec!["Valletta", "Mdina"]);
    assert_eq!(v["metroreach"]["failed"][0]["city"], "At sea");
}

#[test]
fn a_pbf_input_is_imported_once_and_cached() {
    let dir = scratch("pbf-cache");
    let out = dir.join("a.geojson");
    let args = [
        "circles",
        &s(&osm(YIZHUANG)),
        "--at",
        "116.5069,39.7953",
        "--minutes",
        "10",
        "-o",
        &s(&out),
    ];
    let o = metroreach(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let cached: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".graph"))
        .collect();
    assert_eq!(cached.len(), 1);
    let first = std::fs::read(&out).unwrap();
    // Second run reuses the cache (same bytes out); a damaged cache is rebuilt.
    let o = metroreach(
        &[
            "-v",
            "circles",
            &s(&osm(YIZHUANG)),
            "--at",
            "116.5069,39.7953",
            "--minutes",
            "10",
            "-o",
            &s(&out),
        ],
        &dir,
    );
    assert!(stderr(&o).contains("using cached graph"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), first);
    let cache = cached[0].path();
    let mut bytes = std::fs::read(&cache).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&cache, &bytes).unwrap();
    let o = metroreach(
        &[
            "-v",
            "circles",
            &s(&osm(YIZHUANG)),
            "--at",
            "116.5069,39.7953",
            "--minutes",
            "10",
            "-o",
            &s(&out),
        ],
        &dir,
    );
    assert!(o.status.success());
    assert!(stderr(&o).contains("rebuilding"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), first);
    // A different profile is a different cache entry.
    let o = metroreach(
        &[
            "circles",
            &s(&osm(YIZHUANG)),
            "--at",
            "116.5069,39.7953",
            "--minutes",
            "10",
            "--profile",
            "bike",
            "-o",
            &s(&out),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cached = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".graph"))
        .count();
    assert_eq!(cached, 2);
}
