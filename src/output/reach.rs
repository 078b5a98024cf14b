//! The outputs of `reach`, all in one directory (each file written atomically):
//! `units.geojson`, `metro-areas.geojson`, `catchments.geojson`, `coverage.csv`, `overlap.csv`,
//! `summary.csv`, `summary.md` and `run.json`. Every field is described in `docs/outputs.md`.

use super::circles::RunInfo;
use super::csv::{fmt_num, Cell, CsvWriter};
use super::geojson::{
    collection, feature, multipolygon, point, round, to_string, FeatureCollection,
};
use crate::analysis::plan::PlanComparison;
use crate::analysis::reach::{ReachParams, ReachResult};
use crate::analysis::units::Units;
use crate::fsio::{write_atomic, WriteError};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Everything written by `reach`.
pub struct ReachReport<'a> {
    pub result: &'a ReachResult,
    pub units: &'a Units,
    pub params: &'a ReachParams,
    pub run: &'a RunInfo,
    pub population_spec: Option<String>,
    /// Plan comparisons per city and band.
    pub plans: Vec<PlanComparison>,
}

/// Minutes as given: `60`, `7.5`.
fn minutes_text(m: f64) -> String {
    let s = format!("{m:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn opt(v: Option<f64>, d: i32) -> Value {
    v.map(|x| json!(round(x, d))).unwrap_or(Value::Null)
}

impl ReachReport<'_> {
    fn city_name(&self, c: usize) -> &str {
        &self.result.cities[c].circle.city.name
    }

    pub fn run_json(&self) -> Value {
        let mut v = self.run.to_json();
        v["reach"] = json!({
            "units": self.units.source,
            "units_count": self.units.len(),
            "units_repaired": self.units.repairs,
            "units_rejected": self.units.rejected,
            "population": self.population_spec,
            "rule": self.params.rule,
            "rule_text": self.params.rule.describe(),
            "contiguous": self.params.contiguous,
            "homes": self.params.homes.iter().map(|(c, u)| json!({"city": c, "unit": u})).collect::<Vec<_>>(),
            "seat_snap_m": self.params.seat_snap_m,
            "catchments": self.params.catchments,
            "warnings": self.result.warnings,
        });
        v
    }

    fn units_geojson(&self) -> FeatureCollection {
        let r = self.result;
        let few = r.cities.len() <= 8;
        let mut features = Vec::new();
        for (u, unit) in self.units.units.iter().enumerate() {
            let mut m = Map::new();
            m.insert("name".into(), json!(unit.name));
            m.insert("code".into(), json!(unit.code));
            m.insert("parent".into(), json!(unit.parent));
            m.insert("area_km2".into(), json!(round(unit.area_km2, 3)));
            m.insert("population".into(), opt(r.unit_population[u], 0));
            m.insert("seat_lon".into(), json!(round(unit.seat.lon, 6)));
            m.insert("seat_lat".into(), json!(round(unit.seat.lat, 6)));
            m.insert("seat_source".into(), json!(unit.seat.source));
            let homes: Vec<&str> = r
                .cities
                .iter()
                .filter(|c| c.home == Some(u))
                .map(|c| c.circle.city.name.as_str())
                .collect();
            m.insert("home_of".into(), json!(homes.join(";")));
            let mut entries = Vec::new();
            for (k, minutes) in self.params.circle.minutes.iter().enumerate() {
                let mut best: Option<(f64, &str)> = None;
                let mut members: Vec<&str> = Vec::new();
                for c in &r.cities {
                    let Some(cov) = c.bands[k].coverage.iter().find(|x| x.unit == u) else {
                        continue;
                    };
                    let name = c.circle.city.name.as_str();
                    // Compared as written (4 decimals): shares that differ only by rounding
                    // noise (two cities covering a unit whole) tie, and the first city wins.
                    let share = round(cov.area_share, 4);
                    if best.is_none_or(|b| share > b.0) {
                        best = Some((share, name));
                    }
                    if cov.member {
                        members.push(name);
                    }
                    if few {
                        m.insert(
                            format!("share_{name}_{minutes}"),
                            json!(round(cov.area_share, 4)),
                        );
                        m.insert(format!("member_{name}_{minutes}"), json!(cov.member));
                    }
                    entries.push(json!({
                        "city": name,
                        "minutes": minutes,
                        "covered_km2": round(cov.covered_km2, 3),
                        "area_share": round(cov.area_share, 4),
                        "covered_population": opt(cov.covered_population, 0),
                        "population_share": opt(cov.population_share, 4),
                        "seat_minutes": opt(cov.seat_minutes, 2),
                        "member": cov.member,
                        "home": cov.home,
                    }));
                }
                m.insert(
                    format!("max_share_{minutes}"),
                    json!(best.map(|b| round(b.0, 4)).unwrap_or(0.0)),
                );
                m.insert(
                    format!("max_share_city_{minutes}"),
                    json!(best.map(|b| b.1)),
                );
                m.insert(format!("members_{minutes}"), json!(members.join(";")));
            }
            m.insert("coverage".into(), Value::Array(entries));
            features.push(feature(m, multipolygon(&unit.polygon)));
        }
        collection(features, self.run_json())
    }

    fn metro_geojson(&self) -> FeatureCollection {
        let mut features = Vec::new();
        for c in &self.result.cities {
            for (k, b) in c.bands.iter().enumerate() {
                let band = &c.circle.bands[k];
                let names: Vec<&str> = b
                    .members
                    .iter()
                    .map(|&u| self.units.units[u].name.as_str())
                    .collect();
                let codes: Vec<&str> = b
                    .members
                    .iter()
                    .map(|&u| self.units.units[u].code.as_str())
                    .collect();
                let mut m = Map::new();
                m.insert("kind".into(), json!("metro_area"));
                m.insert("city".into(), json!(c.circle.city.name));
                m.insert("minutes".into(), json!(b.minutes));
                m.insert(
                    "direction".into(),
                    json!(self.params.circle.direction.as_str()),
                );
                m.insert("rule".into(), json!(self.params.rule.describe()));
                m.insert("contiguous".into(), json!(self.params.contiguous));
                m.insert("members".into(), json!(names.len()));
                m.insert("member_names".into(), json!(names.join(";")));
                m.insert("member_codes".into(), json!(codes.join(";")));
                m.insert("area_km2".into(), json!(round(b.metro_area_km2, 3)));
                features.push(feature(m, multipolygon(&b.metro_area)));
                let mut m = Map::new();
                m.insert("kind".into(), json!("circle"));
                m.insert("city".into(), json!(c.circle.city.name));
                m.insert("minutes".into(), json!(b.minutes));
                m.insert(
                    "direction".into(),
                    json!(self.params.circle.direction.as_str()),
                );
                m.insert("area_km2".into(), json!(round(band.area_km2, 3)));
                m.insert("truncated".into(), json!(band.truncated));
                features.push(feature(m, multipolygon(&band.polygon)));
            }
        }
        collection(features, self.run_json())
    }

    fn catchments_geojson(&self) -> FeatureCollection {
        let features = self
            .result
            .catchments
            .iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("city".into(), json!(self.city_name(c.city)));
                m.insert("minutes".into(), json!(c.minutes));
                m.insert(
                    "direction".into(),
                    json!(self.params.circle.direction.as_str()),
                );
                m.insert("area_km2".into(), json!(round(c.area_km2, 3)));
                m.insert("population".into(), opt(c.population, 0));
                feature(m, multipolygon(&c.polygon))
            })
            .collect();
        collection(features, self.run_json())
    }

    fn origins_geojson(&self) -> FeatureCollection {
        let mut features = Vec::new();
        for c in &self.result.cities {
            for o in &c.circle.origins {
                let mut m = Map::new();
                m.insert("city".into(), json!(c.circle.city.name));
                m.insert("label".into(), json!(o.spec.label));
                m.insert("snap_m".into(), json!(round(o.snap.distance_m, 1)));
                m.insert("snapped_lon".into(), json!(round(o.snap.point.lon(), 6)));
                m.insert("snapped_lat".into(), json!(round(o.snap.point.lat(), 6)));
                features.push(feature(m, point(o.spec.lon, o.spec.lat)));
            }
        }
        collection(features, self.run_json())
    }

    fn coverage_csv(&self) -> String {
        let mut w = CsvWriter::new(&[
            "city",
            "minutes",
            "direction",
            "unit_code",
            "unit_name",
            "unit_parent",
            "unit_area_km2",
            "covered_km2",
            "area_share",
            "unit_population",
            "covered_population",
            "population_share",
            "seat_minutes",
            "home",
            "member",
        ]);
        for c in &self.result.cities {
            for b in &c.bands {
                for cov in &b.coverage {
                    let u = &self.units.units[cov.unit];
                    w.row(vec![
                        Cell::Text(c.circle.city.name.clone()),
                        Cell::Text(minutes_text(b.minutes)),
                        Cell::Text(self.params.circle.direction.as_str().into()),
                        Cell::Text(u.code.clone()),
                        Cell::Text(u.name.clone()),
                        Cell::Text(u.parent.clone().unwrap_or_default()),
                        Cell::Num(u.area_km2, 3),
                        Cell::Num(cov.covered_km2, 3),
                        Cell::Num(cov.area_share, 4),
                        Cell::OptNum(self.result.unit_population[cov.unit], 0),
                        Cell::OptNum(cov.covered_population, 0),
                        Cell::OptNum(cov.population_share, 4),
                        Cell::OptNum(cov.seat_minutes, 2),
                        Cell::Bool(cov.home),
                        Cell::Bool(cov.member),
                    ]);
                }
            }
        }
        w.finish()
    }

    fn overlap_csv(&self) -> String {
        let mut w = CsvWriter::new(&[
            "city_a",
            "city_b",
            "minutes",
            "area_a_km2",
            "area_b_km2",
            "overlap_km2",
            "jaccard",
            "share_of_a",
            "share_of_b",
            "population_overlap",
        ]);
        for o in &self.result.overlaps {
            let k = self
                .params
                .circle
                .minutes
                .iter()
                .position(|m| *m == o.minutes)
                .unwrap_or(0);
            let (a, b) = (&self.result.cities[o.a], &self.result.cities[o.b]);
            w.row(vec![
                Cell::Text(a.circle.city.name.clone()),
                Cell::Text(b.circle.city.name.clone()),
                Cell::Text(minutes_text(o.minutes)),
                Cell::Num(a.circle.bands[k].area_km2, 3),
                Cell::Num(b.circle.bands[k].area_km2, 3),
                Cell::Num(o.overlap_km2, 3),
                Cell::Num(o.jaccard, 4),
                Cell::Num(o.share_of_a, 4),
                Cell::Num(o.share_of_b, 4),
                Cell::OptNum(o.population, 0),
            ]);
        }
        w.finish()
    }

    fn plan_for(&self, city: &str, minutes: f64) -> Option<&PlanComparison> {
        self.plans
            .iter()
            .find(|p| p.city == city && p.minutes == minutes)
    }

    fn summary_csv(&self) -> String {
        let mut w = CsvWriter::new(&[
            "city",
            "city_id",
            "minutes",
            "direction",
            "area_km2",
            "equivalent_radius_km",
            "reach_factor",
            "truncated",
            "home_unit",
            "home_code",
            "home_source",
            "share_outside_home",
            "share_outside_home_parent",
            "population_outside_home_parent",
            "units_reached",
            "units_half_covered",
            "population_reached",
            "population_home",
            "population_outside_home",
            "mean_minutes",
            "members",
            "metro_area_km2",
            "plan",
            "plan_precision",
            "plan_recall",
            "plan_jaccard",
            "plan_area_ratio",
        ]);
        for c in &self.result.cities {
            for (k, b) in c.bands.iter().enumerate() {
                let band = &c.circle.bands[k];
                let home = c.home.map(|u| &self.units.units[u]);
                let plan = self.plan_for(&c.circle.city.name, b.minutes);
                w.row(vec![
                    Cell::Text(c.circle.city.name.clone()),
                    Cell::Text(c.circle.city.id.clone().unwrap_or_default()),
                    Cell::Text(minutes_text(b.minutes)),
                    Cell::Text(self.params.circle.direction.as_str().into()),
                    Cell::Num(band.area_km2, 3),
                    Cell::Num(band.equivalent_radius_km, 3),
                    Cell::Num(band.reach_factor, 4),
                    Cell::Bool(band.truncated),
                    Cell::Text(home.map(|h| h.name.clone()).unwrap_or_default()),
                    Cell::Text(home.map(|h| h.code.clone()).unwrap_or_default()),
                    Cell::Text(c.home_source.clone()),
                    Cell::OptNum(b.share_outside_home, 4),
                    Cell::OptNum(b.share_outside_home_parent, 4),
                    Cell::OptNum(b.population_outside_home_parent, 0),
                    Cell::Int(b.units_reached as i64),
                    Cell::Int(b.units_half_covered as i64),
                    Cell::OptNum(b.population_reached, 0),
                    Cell::OptNum(b.population_home, 0),
                    Cell::OptNum(b.population_outside_home, 0),
                    Cell::OptNum(b.mean_minutes, 2),
                    Cell::Int(b.members.len() as i64),
                    Cell::Num(b.metro_area_km2, 3),
                    Cell::Text(plan.map(|p| p.plan.clone()).unwrap_or_default()),
                    Cell::OptNum(plan.map(|p| p.precision), 4),
                    Cell::OptNum(plan.map(|p| p.recall), 4),
                    Cell::OptNum(plan.map(|p| p.jaccard), 4),
                    Cell::OptNum(plan.map(|p| p.area_ratio), 4),
                ]);
            }
        }
        w.finish()
    }

    fn summary_md(&self) -> String {
        use std::fmt::Write;
        let r = self.result;
        let p = self.params;
        let mut s = String::new();
        let _ = writeln!(s, "# Commute circles and cross-boundary reach\n");
        let _ = writeln!(
            s,
            "Graph `{}` (source `{}`, profile `{}`); units `{}` ({} units); population {}; {} isochrones of {} min; membership: {}{}.\n",
            self.run.graph_file,
            self.run.graph.source.file_name,
            self.run.graph.profile_name,
            self.units.source,
            self.units.len(),
            self.population_spec.as_deref().map(|x| format!("`{x}`")).unwrap_or_else(|| "none".into()),
            p.circle.direction.as_str(),
            p.circle.minutes.iter().map(|m| minutes_text(*m)).collect::<Vec<_>>().join("/"),
            p.rule.describe(),
            if p.contiguous { ", contiguous with the home unit" } else { "" }
        );
        for n in &self.run.notes {
            let _ = writeln!(s, "> **Note:** {n}\n");
        }
        let _ = writeln!(s, "## Circles\n");
        let _ = writeln!(s, "| city | min | area km² | radius km | reach factor | home unit | outside home | outside home's parent | units reached | ≥50 % covered | population reached | outside home | mean min | members | metro area km² |");
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for c in &r.cities {
            for (k, b) in c.bands.iter().enumerate() {
                let band = &c.circle.bands[k];
                let _ = writeln!(
                    s,
                    "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.circle.city.name,
                    if band.truncated { " ⚠" } else { "" },
                    minutes_text(b.minutes),
                    fmt_num(band.area_km2, 1),
                    fmt_num(band.equivalent_radius_km, 1),
                    fmt_num(band.reach_factor, 3),
                    c.home.map(|u| self.units.units[u].name.clone()).unwrap_or_else(|| "–".into()),
                    b.share_outside_home.map(|x| format!("{} %", fmt_num(x * 100.0, 1))).unwrap_or_else(|| "–".into()),
                    b.share_outside_home_parent.map(|x| format!("{} %", fmt_num(x * 100.0, 1))).unwrap_or_else(|| "–".into()),
                    b.units_reached,
                    b.units_half_covered,
                    b.population_reached.map(|x| fmt_num(x, 0)).unwrap_or_else(|| "–".into()),
                    b.population_outside_home.map(|x| fmt_num(x, 0)).unwrap_or_else(|| "–".into()),
                    b.mean_minutes.map(|x| fmt_num(x, 1)).unwrap_or_else(|| "–".into()),
                    b.members.len(),
                    fmt_num(b.metro_area_km2, 1),
                );
            }
        }
        if r.cities
            .iter()
            .any(|c| c.circle.bands.iter().any(|b| b.truncated))
        {
            let _ = writeln!(
                s,
                "\n⚠ the circle reaches the edge of the extract: it may be larger in reality."
            );
        }
        let top = p.circle.minutes.len() - 1;
        let _ = writeln!(
            s,
            "\n## Metropolitan areas ({} min)\n",
            minutes_text(p.circle.minutes[top])
        );
        for c in &r.cities {
            let b = &c.bands[top];
            let names: Vec<String> = b
                .members
                .iter()
                .map(|&u| {
                    let cov = b.coverage.iter().find(|x| x.unit == u);
                    format!(
                        "{} ({} %)",
                        self.units.units[u].name,
                        cov.map(|x| fmt_num(x.area_share * 100.0, 0))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "- **{}**: {} units, {} km²: {}",
                c.circle.city.name,
                b.members.len(),
                fmt_num(b.metro_area_km2, 0),
                names.join(", ")
            );
        }
        let mut ov: Vec<_> = r.overlaps.iter().filter(|o| o.overlap_km2 > 0.0).collect();
        if !ov.is_empty() {
            ov.sort_by(|a, b| b.jaccard.total_cmp(&a.jaccard));
            let _ = writeln!(s, "\n## Overlapping circles\n");
            let _ = writeln!(s, "| city A | city B | min | overlap km² | Jaccard | share of A | share of B | population |");
            let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
            for o in ov.iter().take(50) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} % | {} % | {} |",
                    self.city_name(o.a),
                    self.city_name(o.b),
                    minutes_text(o.minutes),
                    fmt_num(o.overlap_km2, 1),
                    fmt_num(o.jaccard, 3),
                    fmt_num(o.share_of_a * 100.0, 1),
                    fmt_num(o.share_of_b * 100.0, 1),
                    o.population
                        .map(|x| fmt_num(x, 0))
                        .unwrap_or_else(|| "–".into())
                );
            }
        }
        if !self.plans.is_empty() {
            let _ = writeln!(s, "\n## Agreement with approved plans\n");
            let _ = writeln!(s, "| plan | city | min | delineated | plan units | common | precision | recall | Jaccard | area ratio |");
            let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            for pc in &self.plans {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    pc.plan,
                    pc.city,
                    minutes_text(pc.minutes),
                    pc.delineated,
                    pc.planned,
                    pc.common,
                    fmt_num(pc.precision, 3),
                    fmt_num(pc.recall, 3),
                    fmt_num(pc.jaccard, 3),
                    fmt_num(pc.area_ratio, 2)
                );
            }
            let unresolved: Vec<&String> = self.plans.iter().flat_map(|p| &p.unresolved).collect();
            if !unresolved.is_empty() {
                let mut u: Vec<&String> = unresolved;
                u.sort();
                u.dedup();
                let _ = writeln!(
                    s,
                    "\nPlan entries that name no unit: {}",
                    u.iter().map(|x| x.as_str()).collect::<Vec<_>>().join("; ")
                );
            }
        }
        if !r.failed.is_empty()
            || !r.warnings.is_empty()
            || !self.units.rejected.is_empty()
            || !self.units.repairs.is_empty()
        {
            let _ = writeln!(s, "\n## Problems\n");
            for (c, e) in &r.failed {
                let _ = writeln!(s, "- failed: {c}: {e}");
            }
            for w in &r.warnings {
                let _ = writeln!(s, "- {w}");
            }
            for x in &self.units.rejected {
                let _ = writeln!(s, "- unit left out: {x}");
            }
            for x in &self.units.repairs {
                let _ = writeln!(s, "- unit repaired: {x}");
            }
        }
        let _ = writeln!(
            s,
            "\nRoad data © OpenStreetMap contributors (ODbL). Parameters: `run.json`."
        );
        s
    }

    /// Writes every output into `dir` (created if needed); each file appears whole or not at all,
    /// and `run.json` is written last, so a complete `run.json` newer than the other files means
    /// the run finished.
    pub fn write(&self, dir: &Path) -> Result<Vec<String>, WriteError> {
        std::fs::create_dir_all(dir).map_err(|source| WriteError {
            path: dir.to_path_buf(),
            source,
        })?;
        use rayon::prelude::*;
        type Text = fn(&ReachReport) -> String;
        let makers: [(&str, Text); 9] = [
            ("units.geojson", |r| to_string(&r.units_geojson())),
            ("metro-areas.geojson", |r| to_string(&r.metro_geojson())),
            ("catchments.geojson", |r| to_string(&r.catchments_geojson())),
            ("origins.geojson", |r| to_string(&r.origins_geojson())),
            ("coverage.csv", |r| r.coverage_csv()),
            ("overlap.csv", |r| r.overlap_csv()),
            ("summary.csv", |r| r.summary_csv()),
            ("summary.md", |r| r.summary_md()),
            ("run.json", |r| {
                serde_json::to_string_pretty(&r.run_json()).unwrap_or_default() + "\n"
            }),
        ];
        // Every text is made (on all cores) before the first file is written.
        let files: Vec<(&str, String)> = makers
            .par_iter()
            .map(|&(name, make)| (name, make(self)))
            .collect();
        let mut written = Vec::new();
        for (name, text) in files {
            let p = dir.join(name);
            write_atomic(&p, text.as_bytes())?;
            written.push(p.display().to_string());
        }
        Ok(written)
    }
}
