//! Resolving the origins the user asked for: place names in the graph, coordinates, a CSV list.

use super::table::Table;
use super::InputError;
use crate::graph::Place;
use crate::isochrone::{CitySpec, OriginSpec};
use std::path::PathBuf;

/// What the user asked for on the command line.
#[derive(Clone, Debug, Default)]
pub struct OriginRequest {
    /// `--city NAME` (matched against `name`, `name:zh`, `name:en`; `node/ID` picks one place).
    pub city_names: Vec<String>,
    /// `--at LON,LAT` with optional `--label`s in the same order.
    pub at: Vec<(f64, f64)>,
    pub labels: Vec<String>,
    /// `--cities FILE.csv`: `name,lon,lat` plus optional `id`, `group`, `population`.
    pub cities_csv: Option<PathBuf>,
    /// `--auto-cities`: every `place=city` node, optionally with a minimum population.
    pub auto_cities: bool,
    pub min_population: Option<u64>,
}

/// Parses `LON,LAT`.
pub fn parse_lon_lat(s: &str) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [lon, lat] = parts.as_slice() else {
        return Err(format!("'{s}' is not LON,LAT"));
    };
    let lon: f64 = lon
        .parse()
        .map_err(|_| format!("'{s}': longitude '{lon}' is not a number"))?;
    let lat: f64 = lat
        .parse()
        .map_err(|_| format!("'{s}': latitude '{lat}' is not a number"))?;
    if !(lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat))
    {
        return Err(format!(
            "'{s}' is outside WGS-84 (lon −180..180, lat −90..90)"
        ));
    }
    Ok((lon, lat))
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Chinese administrative suffixes users often leave out ("上海" for "上海市").
fn strip_suffix(s: &str) -> &str {
    for suf in ["市", "区", "县", "镇", "街道", "地区"] {
        if let Some(x) = s.strip_suffix(suf) {
            if !x.is_empty() {
                return x;
            }
        }
    }
    s
}

fn describe(p: &Place) -> String {
    format!(
        "node/{} {} ({}{}, {:.4},{:.4})",
        p.osm_id,
        p.names().collect::<Vec<_>>().join(" / "),
        p.kind,
        p.population
            .map(|n| format!(", pop. {n}"))
            .unwrap_or_default(),
        p.coord.lon(),
        p.coord.lat()
    )
}

/// Finds the one place a name refers to.
pub fn find_place<'a>(name: &str, places: &'a [Place]) -> Result<&'a Place, InputError> {
    if let Some(id) = name
        .trim()
        .strip_prefix("node/")
        .and_then(|x| x.parse::<i64>().ok())
    {
        return places.iter().find(|p| p.osm_id == id).ok_or_else(|| {
            InputError::Other(format!(
                "--city {name}: no place node with id {id} in the graph"
            ))
        });
    }
    let q = norm(name);
    let exact: Vec<&Place> = places
        .iter()
        .filter(|p| p.names().any(|n| norm(n) == q))
        .collect();
    let matches = if exact.is_empty() {
        let qs = strip_suffix(&q).to_string();
        places
            .iter()
            .filter(|p| p.names().any(|n| strip_suffix(&norm(n)) == qs))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let similar: Vec<String> = places
                .iter()
                .filter(|p| {
                    p.names()
                        .any(|n| norm(n).contains(&q) || q.contains(&norm(n)))
                })
                .take(10)
                .map(describe)
                .collect();
            let hint = if similar.is_empty() {
                let cities: Vec<String> = places
                    .iter()
                    .filter(|p| p.kind == "city" || p.kind == "town")
                    .take(10)
                    .map(describe)
                    .collect();
                if cities.is_empty() {
                    "the graph has no city or town place nodes; use --at LON,LAT or --cities FILE.csv".to_string()
                } else {
                    format!(
                        "some cities and towns in the graph:\n  {}",
                        cities.join("\n  ")
                    )
                }
            } else {
                format!("similar names:\n  {}", similar.join("\n  "))
            };
            Err(InputError::Other(format!(
                "--city {name}: no place with that name in the graph; {hint}"
            )))
        }
        many => Err(InputError::Other(format!(
            "--city {name} is ambiguous: {} places match; pick one with --city node/ID:\n  {}",
            many.len(),
            many.iter()
                .map(|p| describe(p))
                .collect::<Vec<_>>()
                .join("\n  ")
        ))),
    }
}

/// Builds the list of cities, in the order: `--city`, `--at`, `--cities`, `--auto-cities`.
pub fn resolve(req: &OriginRequest, places: &[Place]) -> Result<Vec<CitySpec>, InputError> {
    let mut out: Vec<CitySpec> = Vec::new();
    for name in &req.city_names {
        let p = find_place(name, places)?;
        out.push(CitySpec {
            name: p.label(),
            id: Some(format!("node/{}", p.osm_id)),
            source: format!("place node/{} ({})", p.osm_id, p.kind),
            population: p.population,
            origins: vec![OriginSpec {
                label: p.label(),
                lon: p.coord.lon(),
                lat: p.coord.lat(),
            }],
        });
    }
    if req.labels.len() > req.at.len() {
        return Err(InputError::Other(format!(
            "{} --label values for {} --at points: give one label per --at",
            req.labels.len(),
            req.at.len()
        )));
    }
    for (i, &(lon, lat)) in req.at.iter().enumerate() {
        let label = req
            .labels
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("{lon:.5},{lat:.5}"));
        out.push(CitySpec::at(label, "--at", lon, lat));
    }
    if let Some(path) = &req.cities_csv {
        out.extend(read_cities_csv(&Table::read(path)?)?);
    }
    if req.auto_cities {
        let mut auto: Vec<&Place> = places
            .iter()
            .filter(|p| p.kind == "city")
            .filter(|p| {
                req.min_population
                    .is_none_or(|m| p.population.is_some_and(|n| n >= m))
            })
            .collect();
        auto.sort_by(|a, b| {
            b.population
                .cmp(&a.population)
                .then(a.osm_id.cmp(&b.osm_id))
        });
        if auto.is_empty() {
            return Err(InputError::Other(format!(
                "--auto-cities: the graph has no place=city nodes{}",
                req.min_population
                    .map(|m| format!(" with population ≥ {m}"))
                    .unwrap_or_default()
            )));
        }
        for p in auto {
            out.push(CitySpec {
                name: p.label(),
                id: Some(format!("node/{}", p.osm_id)),
                source: format!("place node/{} (city)", p.osm_id),
                population: p.population,
                origins: vec![OriginSpec {
                    label: p.label(),
                    lon: p.coord.lon(),
                    lat: p.coord.lat(),
                }],
            });
        }
    }
    // Unique names, so that outputs can be keyed by city.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for c in out.iter_mut() {
        let k = seen.entry(c.name.clone()).or_insert(0);
        *k += 1;
        if *k > 1 {
            c.name = format!("{} ({})", c.name, k);
        }
    }
    if out.is_empty() {
        return Err(InputError::Other(
            "no origins: give --city NAME, --at LON,LAT, --cities FILE.csv or --auto-cities".into(),
        ));
    }
    Ok(out)
}

/// Reads a city list: `name,lon,lat` plus optional `id`, `group`, `population`. Rows sharing a
/// `group` form one city with several origins (its time is the minimum over them).
pub fn read_cities_csv(t: &Table) -> Result<Vec<CitySpec>, InputError> {
    let c_name = t.require("name")?;
    let c_point = t.lon_lat_columns()?;
    let c_id = t.column_any(&["id", "adcode", "code"]);
    let c_group = t.column("group");
    let c_pop = t.column("population");
    let mut cities: Vec<CitySpec> = Vec::new();
    let mut group_index = std::collections::HashMap::<String, usize>::new();
    for (line, row) in &t.rows {
        let name = t.cell(row, c_name).to_string();
        if name.is_empty() {
            return Err(InputError::Line {
                path: t.path.clone(),
                line: *line,
                message: "empty 'name'".into(),
            });
        }
        let (lon, lat) = t.lon_lat(*line, row, c_point)?;
        let population = match c_pop.map(|c| t.cell(row, c)).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                Some(
                    crate::osm::tags::parse_population(v).ok_or_else(|| InputError::Line {
                        path: t.path.clone(),
                        line: *line,
                        message: format!("population '{v}' is not a whole number"),
                    })?,
                )
            }
        };
        let id = c_id
            .map(|c| t.cell(row, c).to_string())
            .filter(|v| !v.is_empty());
        let origin = OriginSpec {
            label: name.clone(),
            lon,
            lat,
        };
        let group = c_group
            .map(|c| t.cell(row, c).to_string())
            .filter(|g| !g.is_empty());
        match group {
            Some(g) => match group_index.get(&g) {
                Some(&k) => cities[k].origins.push(origin),
                None => {
                    group_index.insert(g.clone(), cities.len());
                    cities.push(CitySpec {
                        name: g,
                        id,
                        source: format!("{} line {line}", t.path),
                        population,
                        origins: vec![origin],
                    });
                }
            },
            None => cities.push(CitySpec {
                name,
                id,
                source: format!("{} line {line}", t.path),
                population,
                origins: vec![origin],
            }),
        }
    }
    if cities.is_empty() {
        return Err(InputError::File {
            path: t.path.clone(),
            message: "no rows".into(),
        });
    }
    Ok(cities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::CoordE7;

    fn place(id: i64, name: &str, en: &str, kind: &str) -> Place {
        Place {
            osm_id: id,
            kind: kind.into(),
            name: Some(name.into()),
            name_zh: None,
            name_en: Some(en.into()),
            population: None,
            coord: CoordE7::from_degrees(1.0, 2.0),
        }
    }

    #[test]
    fn names_resolve_or_explain() {
        let places = vec![
            place(1, "上海市", "Shanghai", "city"),
            place(2, "Springfield", "Springfield", "town"),
            place(3, "Springfield", "Springfield", "village"),
        ];
        assert_eq!(find_place("Shanghai", &places).unwrap().osm_id, 1);
        assert_eq!(find_place("shanghai", &places).unwrap().osm_id, 1);
        assert_eq!(find_place("上海", &places).unwrap().osm_id, 1);
        let e = find_place("Springfield", &places).unwrap_err().to_string();
        assert!(
            e.contains("ambiguous") && e.contains("node/2") && e.contains("node/3"),
            "{e}"
        );
        assert_eq!(find_place("node/3", &places).unwrap().osm_id, 3);
        let e = find_place("Shang", &places).unwrap_err().to_string();
        assert!(e.contains("similar") && e.contains("Shanghai"), "{e}");
    }

    #[test]
    fn csv_groups_make_multi_origin_cities() {
        let t = Table::parse("name,lon,lat,group,id\nPeople's Square,121.4737,31.2304,Shanghai,310000\nLujiazui,121.5,31.24,Shanghai,\nSuzhou,120.58,31.3,,320500\n".as_bytes(), "c.csv").unwrap();
        let c = read_cities_csv(&t).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name, "Shanghai");
        assert_eq!(c[0].origins.len(), 2);
        assert_eq!(c[0].id.as_deref(), Some("310000"));
        assert_eq!(c[1].origins.len(), 1);
        let t = Table::parse(b"name,lon,lat\nX,200,31\n", "c.csv").unwrap();
        assert!(read_cities_csv(&t)
            .unwrap_err()
            .to_string()
            .contains("line 2"));
        let t = Table::parse(b"name,lat\nX,31\n", "c.csv").unwrap();
        assert!(read_cities_csv(&t)
            .unwrap_err()
            .to_string()
            .contains("missing column 'lon'"));
    }

    #[test]
    fn lon_lat_parsing() {
        assert_eq!(parse_lon_lat("121.47, 31.23").unwrap(), (121.47, 31.23));
        assert!(parse_lon_lat("121.47").is_err());
        assert!(parse_lon_lat("x,1").is_err());
        assert!(parse_lon_lat("1,95").is_err());
    }
}
