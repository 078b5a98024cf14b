//! Comparing a delineation with an approved plan's member units.
//!
//! Two CSV layouts are read:
//! - `city,unit` (or `city,code`): the plan's units per city, by code or name;
//! - the layout of `china-metro-plans.csv`: `plan,scope,prefecture,units,area_km2,...` where
//!   `units` is `全域` (the whole prefecture), `中心城区` (read as the prefecture's districts,
//!   units whose name ends in 区), or names separated by `;`. Units are matched within their
//!   prefecture, so the units need a parent name (`--unit-parent`). The plan's core city is the
//!   prefecture of its first `core` row.

use super::units::Units;
use crate::input::table::Table;
use crate::input::InputError;
use std::collections::BTreeSet;
use std::path::Path;

/// A plan's membership as resolved against the units.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub name: String,
    /// The core city (or prefecture) the plan belongs to.
    pub core: String,
    pub units: BTreeSet<usize>,
    /// Entries that name no unit (reported, not fatal).
    pub unresolved: Vec<String>,
    /// The plan's own stated area, km², when given.
    pub stated_area_km2: Option<f64>,
}

/// Agreement of a delineation with a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanComparison {
    pub plan: String,
    pub city: String,
    pub minutes: f64,
    pub delineated: usize,
    pub planned: usize,
    pub common: usize,
    pub precision: f64,
    pub recall: f64,
    pub jaccard: f64,
    /// Area of the delineated units ÷ area of the plan's units.
    pub area_ratio: f64,
    pub unresolved: Vec<String>,
}

fn strip_admin_suffix(s: &str) -> &str {
    for suf in ["市", "区", "县", "旗"] {
        if let Some(x) = s.strip_suffix(suf) {
            if !x.is_empty() {
                return x;
            }
        }
    }
    s
}

/// Reads plans from a CSV in either layout.
pub fn read_plans(path: &Path, units: &Units) -> Result<Vec<Plan>, InputError> {
    let t = Table::read(path)?;
    if let (Some(c_city), Some(c_unit)) = (t.column("city"), t.column_any(&["unit", "code"])) {
        let mut plans: Vec<Plan> = Vec::new();
        for (line, row) in &t.rows {
            let city = t.cell(row, c_city).to_string();
            let unit = t.cell(row, c_unit);
            let k = match plans.iter().position(|p| p.core == city) {
                Some(k) => k,
                None => {
                    plans.push(Plan {
                        name: format!("plan for {city}"),
                        core: city.clone(),
                        units: BTreeSet::new(),
                        unresolved: vec![],
                        stated_area_km2: None,
                    });
                    plans.len() - 1
                }
            };
            match units.find(unit) {
                Some(u) => {
                    plans[k].units.insert(u);
                }
                None => plans[k].unresolved.push(format!("line {line}: {unit}")),
            }
        }
        return Ok(plans);
    }
    let c_plan = t.require("plan")?;
    let c_pref = t.require("prefecture")?;
    let c_units = t.require("units")?;
    let c_scope = t.column("scope");
    let c_area = t.column("area_km2");
    if units.units.iter().all(|u| u.parent.is_none()) {
        return Err(InputError::File {
            path: t.path.clone(),
            message: "this plan file names prefectures: give the units' parent name with --unit-parent (e.g. --unit-parent prefecture for data/china/county.geojson)".into(),
        });
    }
    let mut plans: Vec<Plan> = Vec::new();
    for (line, row) in &t.rows {
        let name = t.cell(row, c_plan).to_string();
        let k = match plans.iter().position(|p| p.name == name) {
            Some(k) => k,
            None => {
                let core = t
                    .cell(row, c_pref)
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let stated = c_area.and_then(|c| t.cell(row, c).parse::<f64>().ok());
                plans.push(Plan {
                    name: name.clone(),
                    core,
                    units: BTreeSet::new(),
                    unresolved: vec![],
                    stated_area_km2: stated,
                });
                plans.len() - 1
            }
        };
        if let Some(c) = c_scope {
            if plans[k].units.is_empty()
                && plans[k].unresolved.is_empty()
                && t.cell(row, c) == "core"
            {
                plans[k].core = t
                    .cell(row, c_pref)
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
            }
        }
        for pref in t
            .cell(row, c_pref)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let in_pref: Vec<usize> = (0..units.len())
                .filter(|&u| units.units[u].parent.as_deref() == Some(pref))
                .collect();
            if in_pref.is_empty() {
                plans[k].unresolved.push(format!(
                    "line {line}: prefecture {pref} (no unit has it as parent)"
                ));
                continue;
            }
            for entry in t
                .cell(row, c_units)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                let matched: Vec<usize> = match entry {
                    "全域" => in_pref.clone(),
                    "中心城区" => in_pref
                        .iter()
                        .copied()
                        .filter(|&u| units.units[u].name.ends_with('区'))
                        .collect(),
                    name => in_pref
                        .iter()
                        .copied()
                        .filter(|&u| {
                            let n = &units.units[u].name;
                            n == name || strip_admin_suffix(n) == strip_admin_suffix(name)
                        })
                        .collect(),
                };
                if matched.is_empty() {
                    plans[k]
                        .unresolved
                        .push(format!("line {line}: {pref} {entry}"));
                }
                plans[k].units.extend(matched);
            }
        }
    }
    Ok(plans)
}

/// Finds the plan for a city: by name (with or without 市), or by its home unit's parent.
pub fn plan_for<'a>(plans: &'a [Plan], city: &str, home_parent: Option<&str>) -> Option<&'a Plan> {
    let c = strip_admin_suffix(city.trim());
    plans
        .iter()
        .find(|p| p.core == city || strip_admin_suffix(&p.core) == c)
        .or_else(|| home_parent.and_then(|hp| plans.iter().find(|p| p.core == hp)))
}

/// Precision, recall, Jaccard and area ratio of a delineation against a plan.
pub fn compare(
    plan: &Plan,
    city: &str,
    minutes: f64,
    members: &[usize],
    units: &Units,
) -> PlanComparison {
    let d: BTreeSet<usize> = members.iter().copied().collect();
    let common = d.intersection(&plan.units).count();
    let union = d.union(&plan.units).count();
    let area = |s: &BTreeSet<usize>| s.iter().map(|&u| units.units[u].area_km2).sum::<f64>();
    let (ad, ap) = (area(&d), area(&plan.units));
    PlanComparison {
        plan: plan.name.clone(),
        city: city.to_string(),
        minutes,
        delineated: d.len(),
        planned: plan.units.len(),
        common,
        precision: if d.is_empty() {
            0.0
        } else {
            common as f64 / d.len() as f64
        },
        recall: if plan.units.is_empty() {
            0.0
        } else {
            common as f64 / plan.units.len() as f64
        },
        jaccard: if union == 0 {
            0.0
        } else {
            common as f64 / union as f64
        },
        area_ratio: if ap > 0.0 { ad / ap } else { 0.0 },
        unresolved: plan.unresolved.clone(),
    }
}
