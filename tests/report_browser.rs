//! The HTML report in a real browser: build reports from real data, open them from `file://` in
//! headless Chromium with no network, and read the page's self-test summary
//! (`#metroreach-selftest`): every layer must hold as many features as the `MapLayers` it was
//! made from, hover and click must show a feature's details, nothing may be loaded from outside
//! and no error may be raised. Also saves a screenshot, `target/report-screenshot.png`.
//!
//! Chromium is required, never skipped: `apt-get install -y chromium` (Debian), or point
//! `METROREACH_CHROMIUM` at a Chromium or Chrome binary.

mod common;

use common::*;
use metroreach::analysis::population::Population;
use metroreach::analysis::reach::{run, MembershipRule, ReachParams};
use metroreach::analysis::units::Units;
use metroreach::isochrone::search::SearchScratch;
use metroreach::isochrone::{CircleParams, Engine};
use metroreach::output::layers::{from_circles, from_reach, MapLayers};
use metroreach::output::report::{write_report, LEAFLET_VERSION, SELFTEST_ID};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single Chromium run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

/// The Chromium binary: `$METROREACH_CHROMIUM`, else `/usr/bin/chromium`. Missing is a failure.
fn chromium() -> PathBuf {
    let (path, from_env) = match std::env::var_os("METROREACH_CHROMIUM") {
        Some(p) => (PathBuf::from(p), true),
        None => (PathBuf::from("/usr/bin/chromium"), false),
    };
    assert!(
        path.is_file(),
        "headless Chromium not found at {}{}. The report's browser test needs it: install it with \
         `apt-get install -y chromium` (Debian/Ubuntu, as root), or set METROREACH_CHROMIUM to a \
         Chromium or Chrome binary.",
        path.display(),
        if from_env {
            " (from METROREACH_CHROMIUM)"
        } else {
            ""
        }
    );
    path
}

struct BrowserRun {
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Opens `page` in a fresh headless Chromium (its own profile under `work`, no network) with
/// `action` (`--dump-dom` or `--screenshot=...`).
fn browse(page: &Path, work: &Path, action: &str) -> BrowserRun {
    let profile = work.join(format!(
        "chromium-profile-{}",
        action
            .trim_start_matches("--")
            .split('=')
            .next()
            .unwrap_or("run")
    ));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let start = Instant::now();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1600,1200",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start Chromium ({}): {e}", chromium().display()));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Chromium did not finish {action} of {url} within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = String::from_utf8_lossy(&out_thread.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap()).into_owned();
    assert!(
        status.success(),
        "Chromium failed ({status}) on {action} of {url}; its stderr ends with:\n{}",
        tail(&stderr)
    );
    let _ = std::fs::remove_dir_all(&profile);
    BrowserRun {
        stdout,
        stderr,
        elapsed: start.elapsed(),
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Opens the report and returns its self-test summary.
fn selftest(page: &Path, work: &Path) -> (Value, Duration) {
    let run = browse(page, work, "--dump-dom");
    let open = format!("<pre id=\"{SELFTEST_ID}\">");
    let Some(start) = run.stdout.find(&open).map(|i| i + open.len()) else {
        panic!(
            "no #{SELFTEST_ID} in the DOM Chromium dumped ({} bytes); Chromium's stderr ends with:\n{}",
            run.stdout.len(),
            tail(&run.stderr)
        )
    };
    let end = start
        + run.stdout[start..]
            .find("</pre>")
            .expect("unterminated self-test element");
    let text = unescape_html(&run.stdout[start..end]);
    assert!(
        !text.trim().is_empty(),
        "the page wrote no self-test summary: its scripts did not run. Chromium's stderr ends with:\n{}",
        tail(&run.stderr)
    );
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("self-test summary is not JSON ({e}): {text}"));
    (v, run.elapsed)
}

/// What every report's self-test must say: no error, nothing loaded, and as many features in
/// each Leaflet layer as in `layers`.
fn check_selftest(st: &Value, layers: &MapLayers) {
    let errors = st["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.is_empty(),
        "errors in the page: {errors:#?}\nself-test: {st}"
    );
    assert_eq!(st["leaflet"], LEAFLET_VERSION, "self-test: {st}");
    assert_eq!(
        st["resources"],
        json!([]),
        "the page loaded resources; it must be self-contained"
    );
    let want = json!({
        "circles": layers.circles.len(),
        "units": layers.units.len(),
        "catchments": layers.catchments.len(),
        "metro_areas": layers.metro_areas.len(),
        "origins": layers.origins.len(),
        "snap_lines": layers.origins.len(),
        "roads": layers.roads.len(),
        "edge": usize::from(layers.extract_edge.is_some()),
    });
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(
            &st["layers"][k], v,
            "features drawn in layer {k}: page says {}, MapLayers holds {v}",
            st["layers"][k]
        );
    }
    for (k, n) in st["bands"].as_object().unwrap() {
        let m: f64 = k.parse().unwrap();
        let want = layers.circles.iter().filter(|c| c.minutes == m).count();
        assert_eq!(n.as_u64(), Some(want as u64), "circles of the {k} min band");
    }
    assert_eq!(st["ok"], true, "self-test: {st}");
}

#[test]
fn malta_reach_report_works_offline_in_chromium() {
    let g = graph(MALTA, "car");
    let units = Units::from_graph(&g, 8).unwrap();
    let pop = Population::load("osm:places", &g).unwrap();
    let cities = vec![
        city("Valletta", 14.5146, 35.8989),
        city("Mdina", 14.4031, 35.8857),
        city("Victoria", 14.2392, 36.0444),
    ];
    let p = ReachParams {
        circle: CircleParams {
            minutes: vec![15.0, 30.0],
            ..Default::default()
        },
        rule: MembershipRule::Area(0.5),
        contiguous: false,
        homes: vec![],
        seat_snap_m: 5000.0,
        catchments: true,
    };
    let r = run(&Engine::new(&g), &cities, &units, Some(&pop), &p);
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let layers = from_reach(
        &g,
        &r,
        &units,
        json!({"command": "reach", "test": "report_browser"}),
        "car, 15/30 min".into(),
    );
    assert_eq!(layers.circles.len(), 6);
    assert!(
        !layers.units.is_empty() && !layers.catchments.is_empty() && !layers.metro_areas.is_empty()
    );
    assert!(!layers.roads.is_empty() && layers.extract_edge.is_some());
    assert!(
        layers.units.iter().any(|u| u.member),
        "some unit is a member"
    );

    let dir = scratch("report-browser-malta");
    let page = write_report(&dir.join("report"), &layers).unwrap();
    let size = std::fs::metadata(&page).unwrap().len();

    let (st, dom_time) = selftest(&page, &dir);
    check_selftest(&st, &layers);
    // Details on hover and click: the first unit's popup and tooltip show its name, the first
    // circle's its label; real pointer events through the canvas open a tooltip and a popup.
    let names: Vec<&str> = layers
        .units
        .iter()
        .filter_map(|u| u.properties.get("name").and_then(Value::as_str))
        .collect();
    let unit = &st["details"]["unit"];
    assert!(
        names.contains(&unit["name"].as_str().unwrap_or("")),
        "unit checked: {unit}"
    );
    assert_eq!(
        unit["popup"], true,
        "the unit's popup shows its name: {unit}"
    );
    assert_eq!(
        unit["tooltip"], true,
        "the unit's tooltip shows its name: {unit}"
    );
    let circle = &st["details"]["circle"];
    assert!(
        layers
            .circles
            .iter()
            .any(|c| circle["name"] == c.label.as_str()),
        "circle checked: {circle}"
    );
    assert_eq!(circle["popup"], true, "{circle}");
    assert_eq!(circle["tooltip"], true, "{circle}");
    let events = &st["details"]["events"];
    assert_eq!(
        events["hover"], true,
        "hovering a unit shows a tooltip: {events}"
    );
    assert_eq!(
        events["click"], true,
        "clicking a unit opens a popup: {events}"
    );

    // The screenshot, a CI artefact: target/report-screenshot.png.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let shot = target.join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let shot_run = browse(&page, &dir, &format!("--screenshot={}", shot.display()));
    assert!(
        shot.is_file(),
        "no screenshot written at {}; Chromium's stderr ends with:\n{}",
        shot.display(),
        tail(&shot_run.stderr)
    );
    let png_size = std::fs::metadata(&shot).unwrap().len();
    assert!(png_size > 50_000, "the screenshot is only {png_size} bytes");
    let pixmap = tiny_skia::Pixmap::load_png(&shot).expect("the screenshot is a PNG");
    assert_eq!((pixmap.width(), pixmap.height()), (1600, 1200));
    // A drawn map has many colours; a blank or error page has a handful.
    let mut colours: Vec<u32> = pixmap
        .pixels()
        .iter()
        .step_by(7)
        .map(|p| u32::from_le_bytes([p.red(), p.green(), p.blue(), 0]))
        .collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 500,
        "the screenshot has only {} colours",
        colours.len()
    );
    eprintln!(
        "report {} ({size} bytes): self-test in {:.1} s, screenshot {} ({png_size} bytes) in {:.1} s",
        page.display(),
        dom_time.as_secs_f64(),
        shot.display(),
        shot_run.elapsed.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn chinese_labels_survive_the_round_trip() {
    let g = graph(YIZHUANG, "car");
    let c = city("亦庄", 116.5069, 39.7953);
    let p = CircleParams {
        minutes: vec![10.0, 20.0],
        ..Default::default()
    };
    let mut scratch_space = SearchScratch::new(g.num_nodes());
    let circle = Engine::new(&g).circle(&c, &p, &mut scratch_space).unwrap();
    let layers = from_circles(
        &g,
        &[circle],
        json!({"command": "circles"}),
        "car, 10/20 min".into(),
    );
    assert!(layers.title.contains("亦庄"));
    let dir = scratch("report-browser-yizhuang");
    let page = write_report(&dir.join("report"), &layers).unwrap();
    let (st, _) = selftest(&page, &dir);
    check_selftest(&st, &layers);
    assert_eq!(st["details"]["circle"]["name"], "亦庄 · 10 min", "{st}");
    assert_eq!(st["details"]["circle"]["popup"], true, "{st}");
    assert_eq!(
        st["details"]["unit"],
        Value::Null,
        "no units in a circles report"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
