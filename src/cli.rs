//! Command-line interface: argument parsing (clap derive) and dispatch to the library.
//!
//! Raw arguments are parsed here and turned into validated option structs; all the work happens
//! in the library modules.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use metroreach::graph::{store, RoadGraph};
use metroreach::input::cities::{parse_lon_lat, resolve, OriginRequest};
use metroreach::isochrone::search::SearchScratch;
use metroreach::isochrone::{CircleParams, CommuteCircle, Direction, Engine, Extras};
use metroreach::osm::cache::{is_pbf, load_or_import};
use metroreach::osm::{import_pbf, ImportOptions, Profile};
use metroreach::output::circles::{
    circles_geojson, edges_geojson, params_json, write_grids, write_json, RunInfo,
};
use metroreach::progress::Progress;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "metroreach",
    version,
    about = "Delineate metropolitan areas as 1-hour commute circles from OpenStreetMap roads",
    long_about = "metroreach turns an OpenStreetMap extract (.osm.pbf) into a routing graph, draws \
exact travel-time areas (commute circles) around core cities, and measures how far each city \
reaches across administrative borders.\n\nTypical use:\n  metroreach import region.osm.pbf -o region.graph\n  metroreach info region.graph",
    after_help = "Exit codes: 0 success, 1 error (bad input, I/O; nothing written), 2 invalid command line, 3 some cities failed (the others were written)."
)]
pub struct Cli {
    /// No progress bars or notes on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print notes and summaries even when stderr is not a terminal.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Turn an OSM extract (.osm.pbf) into a routing graph file.
    #[command(
        long_about = "Reads the extract (decoding blobs in parallel, two passes' worth of \
work in one: relations, ways, then only the nodes roads use), applies the travel profile, \
contracts degree-2 chains, drops small disconnected islands and writes one graph file with the \
road geometry, place nodes and administrative boundaries.\n\nExample:\n  metroreach import \
yuba.osm.pbf -o yuba.graph --profile car"
    )]
    Import(ImportArgs),
    /// Show what a graph file holds: counts, km of road by class, places, boundaries, profile.
    Info(InfoArgs),
    /// Draw commute circles (travel-time areas) around cities as GeoJSON polygons.
    #[command(
        long_about = "Computes, for each city, the area reachable within each band \
(default 30, 45 and 60 minutes) by one bounded search over the road graph, and writes one \
GeoJSON feature per city and band with its area, equivalent radius, reach factor, reached road \
length and whether the extract's edge was reached.\n\nPolygons follow the network: reached \
roads (cut where time runs out) are stamped on a metric grid with a short off-road walk, then \
contoured; bands are nested, holes and islands are kept, water is not bridged.\n\nExamples:\n  \
metroreach circles yuba.graph --at -121.5914,39.1457 --label Marysville --minutes 30,60 -o yuba.geojson\n  \
metroreach circles malta.osm.pbf --city Valletta --arrive -o valletta.geojson\n  \
metroreach circles china.graph --cities data/china/core-cities.csv --minutes 60 -o circles.geojson"
    )]
    Circles(CirclesArgs),
    /// Overlay commute circles on administrative units: coverage, cross-border reach, overlaps,
    /// catchments and metropolitan-area membership.
    #[command(
        long_about = "Draws each city's commute circles, then measures which units \
(counties, districts...) they cover and how much (area and population), how far each city \
reaches beyond its home unit, how the circles of different cities overlap, which city each place \
reaches first (catchments), and which units form each city's metropolitan area by a rule \
(seat reachable, area share, population share; optionally contiguous with the home unit). \
Optionally compares the result with an approved plan's member list.\n\nUnits: osm:LEVEL (the \
graph's administrative boundaries at that admin_level) or a GeoJSON file (with --unit-name and \
--unit-code).\n\nPopulation (repeatable, merged): osm:places, FILE.csv (lon,lat,population \
points), grid:FILE.csv@1000m (cells).\n\nExamples:\n  metroreach reach malta.graph \
--auto-cities --minutes 15,30 --units osm:8 --population osm:places -o out/malta\n  \
metroreach reach china.osm.pbf --cities data/china/core-cities.csv --minutes 60 \\\n    \
--units data/china/county.geojson --unit-name name --unit-code gb --unit-parent prefecture \\\n    \
--population data/china/places-cn.csv --plan plans.csv -o out/china"
    )]
    Reach(ReachArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The OSM extract (.osm.pbf).
    pub input: PathBuf,
    /// The graph file to write.
    #[arg(short, long, value_name = "GRAPH")]
    pub output: PathBuf,
    #[command(flatten)]
    pub graph: GraphOptions,
}

/// Options that decide how a graph is built (and so are part of a cached graph's identity).
#[derive(Args, Debug, Clone)]
pub struct GraphOptions {
    /// Travel profile: car, bike, foot, or a TOML file (`base = "car"` plus overrides) [default: car].
    #[arg(long, value_name = "car|bike|foot|FILE.toml")]
    pub profile: Option<String>,
    /// Travel-time multiplier for congestion (actual ÷ free-flow time), overriding the profile's.
    #[arg(long, value_name = "F")]
    pub congestion: Option<f64>,
    /// Strongly connected components smaller than this many junctions count as islands.
    #[arg(long, default_value_t = 50, value_name = "NODES")]
    pub min_component: u32,
    /// Nodes this close to the extract's bounding box are flagged as its edge (metres).
    #[arg(long, default_value_t = 1000.0, value_name = "M")]
    pub border_margin: f64,
    /// Refuse an import that would need more memory than this (e.g. 8GB, 500MB), early and with
    /// an estimate; default: the memory available when the import starts.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
}

/// Parses `8GB`, `500MB`, `2G`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(x) = t.strip_suffix("TB").or_else(|| t.strip_suffix('T')) {
        (x, 1e12)
    } else if let Some(x) = t.strip_suffix("GB").or_else(|| t.strip_suffix('G')) {
        (x, 1e9)
    } else if let Some(x) = t.strip_suffix("MB").or_else(|| t.strip_suffix('M')) {
        (x, 1e6)
    } else if let Some(x) = t.strip_suffix("KB").or_else(|| t.strip_suffix('K')) {
        (x, 1e3)
    } else {
        (t.strip_suffix('B').unwrap_or(&t), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("'{s}' is not a size like 8GB or 500MB"))?;
    anyhow::ensure!(v.is_finite() && v > 0.0, "'{s}' is not a positive size");
    Ok((v * mult) as u64)
}

impl GraphOptions {
    /// Validated import options.
    pub fn to_import_options(&self) -> Result<ImportOptions> {
        let mut profile = Profile::resolve(self.profile.as_deref().unwrap_or("car"))?;
        if let Some(c) = self.congestion {
            anyhow::ensure!(
                c.is_finite() && c > 0.0,
                "--congestion must be a positive number, got {c}"
            );
            profile.congestion = c;
            profile.name = format!("{}×{c}", profile.name);
        }
        anyhow::ensure!(
            self.border_margin.is_finite() && self.border_margin >= 0.0,
            "--border-margin must be ≥ 0"
        );
        let max_memory = match &self.max_memory {
            Some(m) => Some(parse_size(m).map_err(|e| anyhow::anyhow!("--max-memory: {e}"))?),
            None => None,
        };
        Ok(ImportOptions {
            profile,
            min_component_nodes: self.min_component.max(1),
            border_margin_m: self.border_margin,
            max_memory,
        })
    }
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The graph file.
    pub graph: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: Cli) -> Result<()> {
    if let Some(t) = cli.threads {
        anyhow::ensure!(t >= 1, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    let progress = Progress::new(cli.quiet, cli.verbose);
    match cli.command {
        Command::Import(a) => cmd_import(a, &progress),
        Command::Info(a) => cmd_info(a),
        Command::Circles(a) => cmd_circles(a, &progress),
        Command::Reach(a) => cmd_reach(a, &progress),
    }
}

/// Where the origins come from.
#[derive(Args, Debug, Clone)]
pub struct OriginArgs {
    /// A city by name, matched against the graph's place nodes (name, name:zh, name:en);
    /// `node/ID` picks one place. Repeatable.
    #[arg(long = "city", value_name = "NAME")]
    pub cities: Vec<String>,
    /// An origin at LON,LAT (WGS-84). Repeatable; name it with --label.
    #[arg(long = "at", value_name = "LON,LAT", allow_hyphen_values = true)]
    pub at: Vec<String>,
    /// Labels for the --at origins, in the same order.
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// A CSV of origins: name,lon,lat plus optional id, group (rows sharing a group form one
    /// city with several origins) and population.
    #[arg(long = "cities", value_name = "FILE.csv")]
    pub cities_csv: Option<PathBuf>,
    /// Every place=city node of the graph.
    #[arg(long)]
    pub auto_cities: bool,
    /// With --auto-cities: only cities with at least this population.
    #[arg(long, value_name = "N", requires = "auto_cities")]
    pub min_population: Option<u64>,
}

impl OriginArgs {
    /// The origin options as recorded in outputs.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "city": self.cities,
            "at": self.at,
            "label": self.labels,
            "cities_csv": self.cities_csv.as_ref().map(|p| p.display().to_string()),
            "auto_cities": self.auto_cities,
            "min_population": self.min_population,
        })
    }

    pub fn to_request(&self) -> Result<OriginRequest> {
        let at = self
            .at
            .iter()
            .map(|s| parse_lon_lat(s).map_err(|e| anyhow::anyhow!("--at {e}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(OriginRequest {
            city_names: self.cities.clone(),
            at,
            labels: self.labels.clone(),
            cities_csv: self.cities_csv.clone(),
            auto_cities: self.auto_cities,
            min_population: self.min_population,
        })
    }
}

/// How circles are searched and drawn.
#[derive(Args, Debug, Clone)]
pub struct CircleArgs {
    /// Band limits in minutes, comma-separated, increasing.
    #[arg(long, default_value = "30,45,60", value_name = "M,M,...")]
    pub minutes: String,
    /// Arrival isochrones: where the city can be reached from (inbound commute), not where it
    /// reaches.
    #[arg(long)]
    pub arrive: bool,
    /// Grid cell size of the polygons (m). Does not grow with the time range.
    #[arg(long, default_value_t = 100.0, value_name = "M")]
    pub cell: f64,
    /// Off-road allowance: the largest walk (m) from a reached road point.
    #[arg(long, default_value_t = 300.0, value_name = "M")]
    pub offroad: f64,
    /// Off-road walking speed (km/h).
    #[arg(long, default_value_t = 5.0, value_name = "KMH")]
    pub offroad_speed: f64,
    /// Simplify polygons with this tolerance (m), keeping them valid and nested; 0 = exact.
    #[arg(long, default_value_t = 0.0, value_name = "M")]
    pub simplify: f64,
    /// Largest distance (m) from an origin to the nearest road.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub max_snap: f64,
    /// Reference speed (km/h) of the reach factor: area ÷ disc of radius speed × time.
    #[arg(long, default_value_t = 60.0, value_name = "KMH")]
    pub reference_speed: f64,
}

/// Parses `30,45,60` into strictly increasing positive minutes.
pub fn parse_minutes(s: &str) -> Result<Vec<f64>> {
    let mut out: Vec<f64> = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let m: f64 = part
            .parse()
            .map_err(|_| anyhow::anyhow!("--minutes: '{part}' is not a number"))?;
        if !m.is_finite() || m <= 0.0 {
            bail!("--minutes: {part} must be a positive number of minutes");
        }
        if m > 24.0 * 60.0 {
            bail!("--minutes: {part} is more than a day");
        }
        if let Some(&last) = out.last() {
            if m <= last {
                bail!("--minutes: values must be strictly increasing ({last} then {m})");
            }
        }
        out.push(m);
    }
    if out.is_empty() {
        bail!("--minutes: give at least one value");
    }
    Ok(out)
}

impl CircleArgs {
    pub fn to_params(&self) -> Result<CircleParams> {
        let positive = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                bail!("{name} must be a positive number, got {v}")
            }
        };
        positive("--cell", self.cell)?;
        positive("--offroad-speed", self.offroad_speed)?;
        positive("--max-snap", self.max_snap)?;
        positive("--reference-speed", self.reference_speed)?;
        if !(self.offroad.is_finite() && self.offroad >= 0.0) {
            bail!("--offroad must be ≥ 0, got {}", self.offroad);
        }
        if !(self.simplify.is_finite() && self.simplify >= 0.0) {
            bail!("--simplify must be ≥ 0, got {}", self.simplify);
        }
        if self.cell > 5000.0 {
            bail!(
                "--cell {} m is too coarse for commute circles (at most 5000)",
                self.cell
            );
        }
        Ok(CircleParams {
            minutes: parse_minutes(&self.minutes)?,
            direction: if self.arrive {
                Direction::Arrive
            } else {
                Direction::Depart
            },
            max_snap_m: self.max_snap,
            cell_m: self.cell,
            // The grid needs at least one cell of allowance to draw a road at all.
            offroad_m: self.offroad.max(self.cell),
            offroad_kmh: self.offroad_speed,
            simplify_m: self.simplify,
            reference_kmh: self.reference_speed,
        })
    }
}

/// Maps people can look at.
#[derive(Args, Debug, Clone)]
pub struct MapArgs {
    /// Write a self-contained HTML report (DIR/index.html) that opens offline in a browser.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Write a static PNG map.
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    /// Size of the PNG map in pixels.
    #[arg(long, default_value = "1600x1200", value_name = "WxH")]
    pub png_size: String,
    /// Font for the PNG's text (a TrueType/OpenType file or collection with CJK glyphs);
    /// default: the first of the usual Noto CJK / WenQuanYi / DejaVu locations found.
    #[arg(long, value_name = "FILE")]
    pub font: Option<PathBuf>,
}

impl MapArgs {
    fn size(&self) -> Result<(u32, u32)> {
        let (w, h) = self.png_size.split_once(['x', 'X']).ok_or_else(|| {
            anyhow::anyhow!(
                "--png-size {}: use WIDTHxHEIGHT, e.g. 1600x1200",
                self.png_size
            )
        })?;
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--png-size: '{w}' is not a number"))?;
        let h: u32 = h
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--png-size: '{h}' is not a number"))?;
        anyhow::ensure!(
            (200..=10_000).contains(&w) && (200..=10_000).contains(&h),
            "--png-size must be between 200 and 10000 pixels per side"
        );
        Ok((w, h))
    }

    /// Writes whatever was asked for.
    pub fn write(
        &self,
        layers: &metroreach::output::layers::MapLayers,
        progress: &Progress,
    ) -> Result<()> {
        if let Some(dir) = &self.report {
            let path = metroreach::output::report::write_report(dir, layers)?;
            progress.note(&format!("wrote {}", path.display()));
        }
        if let Some(png) = &self.png {
            let (w, h) = self.size()?;
            metroreach::output::map::render_png(png, layers, w, h, self.font.as_deref())?;
            progress.note(&format!("wrote {}", png.display()));
        }
        Ok(())
    }

    pub fn wanted(&self) -> bool {
        self.report.is_some() || self.png.is_some()
    }
}

/// One line of parameters for map titles.
fn params_line(profile: &str, p: &CircleParams) -> String {
    format!(
        "{profile}, {} min {}, cell {} m, off-road {} m at {} km/h",
        p.minutes
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("/"),
        p.direction.as_str(),
        p.cell_m,
        p.offroad_m,
        p.offroad_kmh
    )
}

#[derive(Args, Debug)]
pub struct CirclesArgs {
    /// A graph file, or an OSM extract (.osm.pbf: imported with --profile and cached beside it).
    pub input: PathBuf,
    #[command(flatten)]
    pub origins: OriginArgs,
    #[command(flatten)]
    pub circle: CircleArgs,
    /// The GeoJSON file to write.
    #[arg(short, long, value_name = "FILE.geojson")]
    pub output: PathBuf,
    /// Also write the reached road stretches with their times (GeoJSON LineStrings).
    #[arg(long, value_name = "FILE.geojson")]
    pub edges: Option<PathBuf>,
    /// Also write each city's travel-time grid (ESRI ASCII grid, minutes) into this directory.
    #[arg(long, value_name = "DIR")]
    pub grid: Option<PathBuf>,
    #[command(flatten)]
    pub maps: MapArgs,
    #[command(flatten)]
    pub graph: GraphOptions,
}

/// Loads the graph named on the command line (importing and caching a PBF).
pub fn load_graph(
    input: &Path,
    g: &GraphOptions,
    progress: &Progress,
) -> Result<(RoadGraph, String)> {
    if !is_pbf(input) && (g.profile.is_some() || g.congestion.is_some()) {
        let meta = store::load(input)?.meta;
        bail!(
            "--profile and --congestion apply when importing a PBF; {} was built with profile '{}' \
             (re-run `metroreach import` with the profile you want, or pass the .osm.pbf)",
            input.display(),
            meta.profile_name
        );
    }
    let opts = g.to_import_options()?;
    let (graph, path) = load_or_import(input, &opts, progress)?;
    let name = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| input.display().to_string());
    Ok((graph, name))
}

/// Computes circles for all cities in parallel; results keep the input order.
pub fn compute_circles(
    engine: &Engine,
    cities: &[metroreach::isochrone::CitySpec],
    p: &CircleParams,
    extras: Extras,
    progress: &Progress,
) -> Vec<Result<CommuteCircle, metroreach::isochrone::CircleError>> {
    let bar = progress.bar(cities.len() as u64, "circles");
    let n = engine.graph.num_nodes();
    let out: Vec<_> = cities
        .par_iter()
        .map_init(
            || SearchScratch::new(n),
            |scratch, city| {
                let r = engine.circle_with(city, p, scratch, extras);
                bar.inc(1);
                r
            },
        )
        .collect();
    bar.finish_and_clear();
    out
}

fn cmd_circles(a: CirclesArgs, progress: &Progress) -> Result<()> {
    let params = a.circle.to_params()?;
    let request = a.origins.to_request()?;
    let laps = metroreach::progress::Laps::from_env("circles");
    let (graph, graph_file) = load_graph(&a.input, &a.graph, progress)?;
    laps.lap("graph");
    let cities = resolve(&request, &graph.places)?;
    let engine = Engine::new(&graph);
    laps.lap("snap index");
    let extras = Extras {
        keep_grid: a.grid.is_some(),
        keep_edges: a.edges.is_some(),
        keep_stretches: false,
    };
    let results = compute_circles(&engine, &cities, &params, extras, progress);
    laps.lap("circles");
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (city, r) in cities.iter().zip(results) {
        match r {
            Ok(c) => ok.push(c),
            Err(e) => failed.push((city.name.clone(), e.to_string())),
        }
    }
    for (_, e) in &failed {
        eprintln!("error: {e}");
    }
    if ok.is_empty() {
        bail!(
            "no circle could be computed ({} of {} cities failed); nothing written",
            failed.len(),
            cities.len()
        );
    }
    let run = RunInfo {
        command: "circles".into(),
        graph: graph.meta.clone(),
        graph_file,
        parameters: {
            let mut v = params_json(&params);
            v["origins"] = a.origins.to_json();
            v
        },
        failed: failed.clone(),
        notes: coarse_notes(&graph),
        profile_json: Default::default(),
    };
    let collection = circles_geojson(&ok, &params, &run);
    laps.lap("GeoJSON text of the polygons");
    write_json(&a.output, &collection)?;
    laps.lap("GeoJSON written");
    if let Some(path) = &a.edges {
        write_json(path, &edges_geojson(&ok, &params, &run))?;
        laps.lap("edges written");
    }
    if let Some(dir) = &a.grid {
        write_grids(dir, &ok, &params)?;
        laps.lap("grids written");
    }
    if a.maps.wanted() {
        let mut layers = metroreach::output::layers::from_circles(
            &graph,
            &ok,
            run.to_json(),
            params_line(&graph.meta.profile_name, &params),
        );
        layers.notes = coarse_notes(&graph);
        a.maps.write(&layers, progress)?;
    }
    if progress.notes_enabled() {
        eprintln!("{}", circles_summary(&ok, &params));
        eprintln!(
            "wrote {} ({} cities, {} features)",
            a.output.display(),
            ok.len(),
            ok.len() * params.minutes.len()
        );
    }
    if !failed.is_empty() {
        return Err(PartialFailure(format!(
            "{} of {} cities failed: {}",
            failed.len(),
            cities.len(),
            failed
                .iter()
                .map(|f| f.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    Ok(())
}

/// Some cities failed, the others were written: exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PartialFailure(pub String);

/// Notes recorded in outputs about the nature of the graph: a network of one road class whose
/// coordinates are all rounded to 0.001° (like the shipped national highway network) is coarse.
pub fn coarse_notes(g: &RoadGraph) -> Vec<String> {
    let mut notes = Vec::new();
    let classes = g.meta.km_by_class.len();
    let step = (g.node_coords.len() / 2000).max(1);
    let rounded = !g.node_coords.is_empty()
        && g.node_coords
            .iter()
            .step_by(step)
            .all(|c| c.lon % 10_000 == 0 && c.lat % 10_000 == 0);
    if classes <= 1 && rounded {
        notes.push(
            "coarse network: major roads only, one road class, coordinates rounded to 0.001°; \
             circles are indicative, not fine polygons"
                .into(),
        );
    }
    notes
}

fn circles_summary(circles: &[CommuteCircle], p: &CircleParams) -> String {
    let mut s = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "{:<24} {:>7} {:>10} {:>9} {:>7} {:>9} {:>9}",
        "city", "snap m", "minutes", "area km²", "r km", "search ms", "poly ms"
    );
    for c in circles {
        let snap = c
            .origins
            .iter()
            .map(|o| o.snap.distance_m)
            .fold(0.0, f64::max);
        for b in &c.bands {
            let _ = writeln!(
                s,
                "{:<24} {:>7.0} {:>10} {:>9.1} {:>7.1} {:>9.1} {:>9.1}{}",
                c.city.name,
                snap,
                format!("{} {}", b.minutes, p.direction.as_str()),
                b.area_km2,
                b.equivalent_radius_km,
                c.search_ms,
                c.polygon_ms,
                if b.truncated {
                    "  (reaches the extract's edge)"
                } else {
                    ""
                }
            );
        }
    }
    s.trim_end().to_string()
}

fn cmd_import(a: ImportArgs, progress: &Progress) -> Result<()> {
    let opts = a.graph.to_import_options()?;
    let graph = import_pbf(&a.input, &opts, progress)?;
    let laps = metroreach::progress::Laps::from_env_with_memory("import");
    store::save(&graph, &a.output)?;
    laps.lap("write graph file");
    if progress.notes_enabled() {
        eprintln!("{}", summary_text(&graph, &a.output));
    }
    Ok(())
}

fn cmd_info(a: InfoArgs) -> Result<()> {
    let graph = store::load(&a.graph)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info_json(&graph, &a.graph))?
        );
    } else {
        println!("{}", summary_text(&graph, &a.graph));
        println!(
            "\nprofile parameters:\n{}",
            indent(&graph.meta.profile_toml)
        );
    }
    Ok(())
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn places_by_kind(g: &RoadGraph) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in &g.places {
        *m.entry(p.kind.clone()).or_default() += 1;
    }
    m
}

fn boundaries_by_level(g: &RoadGraph) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for b in &g.boundaries {
        let k = b
            .admin_level
            .map(|l| l.to_string())
            .unwrap_or_else(|| "?".into());
        *m.entry(k).or_default() += 1;
    }
    m
}

fn info_json(g: &RoadGraph, path: &std::path::Path) -> serde_json::Value {
    let core = g
        .node_flags
        .iter()
        .filter(|f| **f & metroreach::graph::node_flags::CORE != 0)
        .count();
    serde_json::json!({
        "file": path.display().to_string(),
        "format_version": store::FORMAT_VERSION,
        "nodes": g.num_nodes(),
        "core_nodes": core,
        "edges": g.num_edges(),
        "roads": g.num_roads(),
        "geometry_points": g.geom.len(),
        "road_km": g.road_length_m.iter().map(|&l| l as f64).sum::<f64>() / 1000.0,
        "places": g.places.len(),
        "places_by_kind": places_by_kind(g),
        "boundaries": g.boundaries.len(),
        "boundaries_by_admin_level": boundaries_by_level(g),
        "meta": g.meta,
    })
}

/// The one-screen summary printed after an import and by `info`.
pub fn summary_text(g: &RoadGraph, path: &std::path::Path) -> String {
    let m = &g.meta;
    let s = &m.import;
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(out, "graph     {}", path.display());
    let _ = writeln!(
        out,
        "source    {} ({:.1} MB){}",
        m.source.file_name,
        m.source.size_bytes as f64 / 1e6,
        m.source
            .replication_timestamp
            .map(|t| format!(", OSM data of {}", metroreach::output::format_rfc3339(t)))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "profile   {}", m.profile_name);
    let _ = writeln!(
        out,
        "imported  {} in {:.2} s on {} threads ({} blobs{}){}",
        s.imported_at,
        s.import_seconds,
        s.threads,
        s.blobs,
        if s.sorted_by_type {
            ""
        } else {
            ", unsorted file"
        },
        if s.stage_seconds.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                s.stage_seconds
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.2} s"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let road_km: f64 = m.km_by_class.values().sum();
    let _ = writeln!(
        out,
        "graph     {} nodes, {} edges, {} roads, {:.1} km of road",
        g.num_nodes(),
        g.num_edges(),
        g.num_roads(),
        road_km
    );
    if let Some(b) = &m.bbox {
        let _ = writeln!(
            out,
            "bbox      {:.5},{:.5} .. {:.5},{:.5}",
            b.min_lon, b.min_lat, b.max_lon, b.max_lat
        );
    }
    let mut classes: Vec<(&String, &f64)> = m.km_by_class.iter().collect();
    classes.sort_by(|a, b| b.1.total_cmp(a.1));
    let _ = writeln!(
        out,
        "km/class  {}",
        classes
            .iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "areas     {}",
        s.km_by_area_type
            .iter()
            .map(|(k, v)| format!("{k} {v:.1} km"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "read      {} nodes, {} ways ({} roads, {} ferries), {} relations",
        s.nodes_read, s.ways_read, s.road_ways, s.ferry_ways, s.relations_read
    );
    let _ = writeln!(
        out,
        "cleaned   {} missing node refs, {} ways clipped, {} dropped; {} degree-2 nodes contracted; \
         {} islands dropped ({} nodes, {} edges)",
        s.missing_node_refs,
        s.clipped_ways,
        s.dropped_ways,
        s.contracted_nodes,
        s.island_components_dropped,
        s.island_nodes_dropped,
        s.island_edges_dropped
    );
    let _ = writeln!(
        out,
        "places    {} ({})",
        g.places.len(),
        places_by_kind(g)
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = write!(
        out,
        "bounds    {} ({}), {} broken rings",
        g.boundaries.len(),
        boundaries_by_level(g)
            .iter()
            .map(|(k, v)| format!("level {k}: {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        s.boundary_broken_rings
    );
    for w in &s.warnings {
        let _ = write!(out, "\nwarning   {w}");
    }
    out
}

#[derive(Args, Debug)]
pub struct ReachArgs {
    /// A graph file, or an OSM extract (.osm.pbf: imported with --profile and cached beside it).
    pub input: PathBuf,
    #[command(flatten)]
    pub origins: OriginArgs,
    #[command(flatten)]
    pub circle: CircleArgs,
    /// Units to overlay: osm:LEVEL (the graph's boundaries at that admin_level) or a GeoJSON file.
    #[arg(long, value_name = "osm:LEVEL|FILE.geojson")]
    pub units: String,
    /// GeoJSON property holding a unit's name.
    #[arg(long, default_value = "name", value_name = "PROP")]
    pub unit_name: String,
    /// GeoJSON property holding a unit's code.
    #[arg(long, default_value = "code", value_name = "PROP")]
    pub unit_code: String,
    /// GeoJSON property holding a unit's parent name (needed to match plan files by prefecture).
    #[arg(long, value_name = "PROP")]
    pub unit_parent: Option<String>,
    /// Population: osm:places, FILE.csv (lon,lat,population points) or grid:FILE.csv@SIZE
    /// (cells of SIZE m or deg). Repeatable; layers are added together.
    #[arg(long, value_name = "POP")]
    pub population: Vec<String>,
    /// Home unit of a city: CODE (all cities) or CITY=CODE; default: the unit containing the
    /// city's first origin.
    #[arg(long, value_name = "[CITY=]CODE")]
    pub home: Vec<String>,
    /// How a unit joins a city's metropolitan area: seat, area:SHARE or population:SHARE.
    #[arg(long, default_value = "seat", value_name = "RULE")]
    pub rule: String,
    /// Keep only member units connected to the home unit through other members.
    #[arg(long)]
    pub contiguous: bool,
    /// Compare the delineation with an approved plan's members (CSV: city,unit or the layout of
    /// china-metro-plans.csv).
    #[arg(long, value_name = "FILE.csv")]
    pub plan: Option<PathBuf>,
    /// Largest distance (m) from a unit's seat to the road it is timed at.
    #[arg(long, default_value_t = 5000.0, value_name = "M")]
    pub seat_snap: f64,
    /// Skip the nearest-core partition (catchments.geojson is then empty).
    #[arg(long)]
    pub no_catchments: bool,
    /// Output directory.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub maps: MapArgs,
    #[command(flatten)]
    pub graph: GraphOptions,
}

fn params_homes(a: &ReachArgs) -> Vec<(Option<String>, String)> {
    a.home
        .iter()
        .map(|h| match h.split_once('=') {
            Some((c, u)) => (Some(c.trim().to_string()), u.trim().to_string()),
            None => (None, h.trim().to_string()),
        })
        .collect()
}

fn cmd_reach(a: ReachArgs, progress: &Progress) -> Result<()> {
    use metroreach::analysis::plan::{compare, plan_for, read_plans};
    use metroreach::analysis::population::Population;
    use metroreach::analysis::reach::{run as run_reach, MembershipRule, ReachParams};
    use metroreach::analysis::units::{place_rank, SeatCandidate, Units};
    use metroreach::output::reach::ReachReport;

    let circle = a.circle.to_params()?;
    let rule = MembershipRule::parse(&a.rule).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        a.seat_snap.is_finite() && a.seat_snap > 0.0,
        "--seat-snap must be a positive number of metres"
    );
    let homes = params_homes(&a);
    if a.output.exists() && !a.output.is_dir() {
        bail!("{} exists and is not a directory", a.output.display());
    }
    let request = a.origins.to_request()?;
    let laps = metroreach::progress::Laps::from_env("reach");
    let (graph, graph_file) = load_graph(&a.input, &a.graph, progress)?;
    laps.lap("graph");
    let cities = resolve(&request, &graph.places)?;
    let mut units = match a.units.strip_prefix("osm:") {
        Some(level) => {
            let level: u8 = level.parse().map_err(|_| {
                anyhow::anyhow!("--units {}: the admin_level must be a number", a.units)
            })?;
            Units::from_graph(&graph, level)?
        }
        None => Units::from_geojson(
            Path::new(&a.units),
            &a.unit_name,
            &a.unit_code,
            a.unit_parent.as_deref(),
        )?,
    };
    let layers = a
        .population
        .iter()
        .map(|spec| Population::load(spec, &graph))
        .collect::<Result<Vec<_>, _>>()?;
    let population = Population::merge(layers);
    // Unit seats: OSM place nodes and named population points inside each unit.
    let mut candidates: Vec<SeatCandidate> = graph
        .places
        .iter()
        .map(|p| SeatCandidate {
            lon: p.coord.lon(),
            lat: p.coord.lat(),
            rank: place_rank(&p.kind),
            population: p.population.unwrap_or(0) as f64,
            source: format!("place node/{} {} ({})", p.osm_id, p.label(), p.kind),
        })
        .collect();
    if let Some(pop) = &population {
        candidates.extend(pop.named_points().map(|p| SeatCandidate {
            lon: p.lon,
            lat: p.lat,
            rank: 5,
            population: p.population,
            source: format!("population point {}", p.name.clone().unwrap_or_default()),
        }));
    }
    units.assign_seats(&candidates);
    // Home units given on the command line must exist (and name a city, when CITY=CODE).
    for (city, code) in &params_homes(&a) {
        if units.find(code).is_none() {
            let examples: Vec<String> = units
                .units
                .iter()
                .take(8)
                .map(|u| format!("{} ({})", u.code, u.name))
                .collect();
            bail!(
                "--home {code}: no unit has this code or name in {} (e.g. {})",
                units.source,
                examples.join(", ")
            );
        }
        if let Some(c) = city {
            if !cities.iter().any(|x| &x.name == c) {
                bail!(
                    "--home {c}={code}: no city named {c} (cities: {})",
                    cities
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    for r in &units.repairs {
        progress.note(&format!("unit repaired: {r}"));
    }
    for r in &units.rejected {
        progress.note(&format!("unit left out: {r}"));
    }
    let params = ReachParams {
        circle,
        rule,
        contiguous: a.contiguous,
        homes,
        seat_snap_m: a.seat_snap,
        catchments: !a.no_catchments,
    };
    laps.lap("units and population");
    let engine = Engine::new(&graph);
    laps.lap("snap index");
    let spinner = progress.spinner("reach");
    let result = run_reach(&engine, &cities, &units, population.as_ref(), &params);
    laps.restart();
    spinner.finish_and_clear();
    for (_, e) in &result.failed {
        eprintln!("error: {e}");
    }
    if result.cities.is_empty() {
        bail!(
            "no circle could be computed ({} cities failed); nothing written",
            result.failed.len()
        );
    }
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    let mut plans = Vec::new();
    if let Some(path) = &a.plan {
        let all = read_plans(path, &units)?;
        for c in &result.cities {
            let parent = c.home.and_then(|u| units.units[u].parent.as_deref());
            match plan_for(&all, &c.circle.city.name, parent) {
                Some(plan) => {
                    for b in &c.bands {
                        plans.push(compare(
                            plan,
                            &c.circle.city.name,
                            b.minutes,
                            &b.members,
                            &units,
                        ));
                    }
                }
                None => progress.note(&format!(
                    "{}: no plan in {} for this city",
                    c.circle.city.name,
                    path.display()
                )),
            }
        }
    }
    let run = RunInfo {
        command: "reach".into(),
        graph: graph.meta.clone(),
        graph_file,
        parameters: {
            let mut v = serde_json::to_value(&params)?;
            v["origins"] = a.origins.to_json();
            v["units"] = serde_json::json!({
                "source": a.units,
                "unit_name": a.unit_name,
                "unit_code": a.unit_code,
                "unit_parent": a.unit_parent,
            });
            v["population"] = serde_json::json!(a.population);
            v["plan"] = serde_json::json!(a.plan.as_ref().map(|p| p.display().to_string()));
            v
        },
        failed: result.failed.clone(),
        notes: coarse_notes(&graph),
        profile_json: Default::default(),
    };
    let report = ReachReport {
        result: &result,
        units: &units,
        params: &params,
        run: &run,
        population_spec: population.as_ref().map(|p| p.spec.clone()),
        plans,
    };
    let written = report.write(&a.output)?;
    laps.lap("tables and GeoJSON written");
    if a.maps.wanted() {
        let mut layers = metroreach::output::layers::from_reach(
            &graph,
            &result,
            &units,
            report.run_json(),
            params_line(&graph.meta.profile_name, &params.circle),
        );
        layers.notes = coarse_notes(&graph);
        layers.notes.extend(result.warnings.iter().cloned());
        laps.lap("map layers");
        a.maps.write(&layers, progress)?;
        laps.lap("maps");
    }
    if progress.notes_enabled() {
        let summary = std::fs::read_to_string(a.output.join("summary.md")).unwrap_or_default();
        eprintln!(
            "{}",
            summary.lines().take(40).collect::<Vec<_>>().join("\n")
        );
        eprintln!("wrote {} files into {}", written.len(), a.output.display());
    }
    if !result.failed.is_empty() {
        return Err(PartialFailure(format!(
            "{} of {} cities failed: {}",
            result.failed.len(),
            cities.len(),
            result
                .failed
                .iter()
                .map(|f| f.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    Ok(())
}
