//! Parsing of individual OSM tag values: `maxspeed`, `oneway`, `duration`, numbers.
//!
//! Each function takes the raw tag value and returns a typed result; the profile decides what to
//! do with it. Values that cannot be understood come back as "unknown", never as an error: OSM
//! data is hand-made and an odd tag must not stop an import.

use std::collections::BTreeMap;

/// A parsed `maxspeed`-like value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Maxspeed {
    /// A limit in km/h.
    Kmh(f64),
    /// `none` / `unlimited`: no legal limit (German Autobahn).
    NoLimit,
    /// `walk`: walking pace.
    Walk,
}

/// Parses a `maxspeed` value: numbers with optional units (`km/h`, `kmh`, `kph`, `mph`, `knots`),
/// `none`, `walk`, zone codes such as `CN:urban` or `DE:zone30` (looked up in `zones`), and lists
/// such as `60;80` (the lowest limit wins, so that the estimate stays conservative).
///
/// ```
/// use metroreach::osm::tags::{parse_maxspeed, Maxspeed};
/// let zones = [("CN:urban".to_string(), 50.0)].into_iter().collect();
/// assert_eq!(parse_maxspeed("60;80", &zones), Some(Maxspeed::Kmh(60.0)));
/// assert_eq!(parse_maxspeed("30 mph", &zones), Some(Maxspeed::Kmh(30.0 * 1.609344)));
/// assert_eq!(parse_maxspeed("CN:urban", &zones), Some(Maxspeed::Kmh(50.0)));
/// assert_eq!(parse_maxspeed("signals", &zones), None);
/// ```
pub fn parse_maxspeed(value: &str, zones: &BTreeMap<String, f64>) -> Option<Maxspeed> {
    let mut best: Option<Maxspeed> = None;
    for part in value.split(';') {
        let Some(v) = parse_single_maxspeed(part.trim(), zones) else {
            continue;
        };
        best = Some(match (best, v) {
            (None, v) => v,
            (Some(a), b) => lower_limit(a, b),
        });
    }
    best
}

fn lower_limit(a: Maxspeed, b: Maxspeed) -> Maxspeed {
    match (a, b) {
        (Maxspeed::Kmh(x), Maxspeed::Kmh(y)) => Maxspeed::Kmh(x.min(y)),
        (Maxspeed::Walk, _) | (_, Maxspeed::Walk) => Maxspeed::Walk,
        (Maxspeed::NoLimit, other) | (other, Maxspeed::NoLimit) => other,
    }
}

fn parse_single_maxspeed(v: &str, zones: &BTreeMap<String, f64>) -> Option<Maxspeed> {
    if v.is_empty() {
        return None;
    }
    let lower = v.to_ascii_lowercase();
    match lower.as_str() {
        "none" | "unlimited" => return Some(Maxspeed::NoLimit),
        "walk" | "walking" => return Some(Maxspeed::Walk),
        _ => {}
    }
    if let Some(kmh) = zones.get(v) {
        return Some(Maxspeed::Kmh(*kmh));
    }
    if let Some((_country, zone)) = v.split_once(':') {
        // Zone codes with the limit in the name: DE:zone30, DE:zone:30, RU:zone20.
        let z = zone.to_ascii_lowercase();
        if let Some(n) = z.strip_prefix("zone") {
            let n = n.trim_start_matches(':');
            if let Ok(x) = n.parse::<f64>() {
                return plausible(x).map(Maxspeed::Kmh);
            }
        }
        return None;
    }
    // Number with an optional unit.
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let x: f64 = num.replace(',', ".").parse().ok()?;
    let factor = match unit.trim() {
        "" | "km/h" | "kmh" | "kph" | "km/hr" | "kmph" => 1.0,
        "mph" => 1.609344,
        "knots" | "kn" => 1.852,
        _ => return None,
    };
    plausible(x * factor).map(Maxspeed::Kmh)
}

fn plausible(kmh: f64) -> Option<f64> {
    (kmh.is_finite() && kmh > 0.0 && kmh <= 300.0).then_some(kmh)
}

/// Direction permitted by a `oneway`-like tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oneway {
    /// Both directions (`no`, `0`, `false`).
    Both,
    /// Only along the way's node order (`yes`, `1`, `true`).
    Forward,
    /// Only against it (`-1`, `reverse`).
    Backward,
    /// Direction changes with the time of day (`reversible`, `alternating`): not routable as a
    /// fixed direction.
    Reversible,
}

/// Parses a `oneway` value; `None` when the value is missing or not understood.
pub fn parse_oneway(value: &str) -> Option<Oneway> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "1" | "true" => Some(Oneway::Forward),
        "-1" | "reverse" => Some(Oneway::Backward),
        "no" | "0" | "false" => Some(Oneway::Both),
        "reversible" | "alternating" => Some(Oneway::Reversible),
        _ => None,
    }
}

/// Parses a ferry `duration`: `HH:MM`, `HH:MM:SS`, plain minutes, or ISO 8601 (`PT1H30M`).
/// Returns seconds.
///
/// ```
/// use metroreach::osm::tags::parse_duration_secs;
/// assert_eq!(parse_duration_secs("00:25"), Some(1500.0));
/// assert_eq!(parse_duration_secs("PT1H30M"), Some(5400.0));
/// assert_eq!(parse_duration_secs("45"), Some(2700.0));
/// assert_eq!(parse_duration_secs("soon"), None);
/// ```
pub fn parse_duration_secs(value: &str) -> Option<f64> {
    let v = value.trim();
    let secs = if let Some(iso) = v.strip_prefix("PT").or_else(|| v.strip_prefix("pt")) {
        let mut total = 0.0;
        let mut num = String::new();
        for c in iso.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let x: f64 = num.parse().ok()?;
                num.clear();
                total += x * match c.to_ascii_uppercase() {
                    'H' => 3600.0,
                    'M' => 60.0,
                    'S' => 1.0,
                    _ => return None,
                };
            }
        }
        if !num.is_empty() {
            return None;
        }
        total
    } else if v.contains(':') {
        let parts: Vec<&str> = v.split(':').collect();
        let nums: Option<Vec<f64>> = parts.iter().map(|p| p.trim().parse::<f64>().ok()).collect();
        let nums = nums?;
        match nums.as_slice() {
            [h, m] => h * 3600.0 + m * 60.0,
            [h, m, s] => h * 3600.0 + m * 60.0 + s,
            _ => return None,
        }
    } else {
        v.parse::<f64>().ok()? * 60.0
    };
    (secs.is_finite() && secs > 0.0 && secs < 7.0 * 86400.0).then_some(secs)
}

/// Parses a population-like integer: `12345`, `12 345`, `12,345`, `1.2e6`; `None` otherwise.
pub fn parse_population(value: &str) -> Option<u64> {
    let cleaned: String = value
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | ',' | '_' | '\u{a0}' | '\''))
        .collect();
    if let Ok(n) = cleaned.parse::<u64>() {
        return Some(n);
    }
    let f: f64 = cleaned.parse().ok()?;
    (0.0..1e11).contains(&f).then(|| f.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> BTreeMap<String, f64> {
        [
            ("CN:urban", 50.0),
            ("CN:rural", 70.0),
            ("CN:motorway", 120.0),
            ("DE:urban", 50.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn maxspeed_numbers_and_units() {
        let z = zones();
        assert_eq!(parse_maxspeed("50", &z), Some(Maxspeed::Kmh(50.0)));
        assert_eq!(parse_maxspeed(" 80 km/h", &z), Some(Maxspeed::Kmh(80.0)));
        assert_eq!(parse_maxspeed("80kmh", &z), Some(Maxspeed::Kmh(80.0)));
        assert_eq!(parse_maxspeed("7.5", &z), Some(Maxspeed::Kmh(7.5)));
        let Some(Maxspeed::Kmh(x)) = parse_maxspeed("30 mph", &z) else {
            panic!()
        };
        assert!((x - 48.28).abs() < 0.01);
        let Some(Maxspeed::Kmh(x)) = parse_maxspeed("10 knots", &z) else {
            panic!()
        };
        assert!((x - 18.52).abs() < 0.01);
        assert_eq!(parse_maxspeed("0", &z), None);
        assert_eq!(parse_maxspeed("9999", &z), None);
        assert_eq!(parse_maxspeed("fast", &z), None);
        assert_eq!(parse_maxspeed("", &z), None);
    }

    #[test]
    fn maxspeed_keywords_lists_and_zones() {
        let z = zones();
        assert_eq!(parse_maxspeed("none", &z), Some(Maxspeed::NoLimit));
        assert_eq!(parse_maxspeed("walk", &z), Some(Maxspeed::Walk));
        assert_eq!(parse_maxspeed("60;80", &z), Some(Maxspeed::Kmh(60.0)));
        assert_eq!(parse_maxspeed("80;60", &z), Some(Maxspeed::Kmh(60.0)));
        assert_eq!(parse_maxspeed("none;100", &z), Some(Maxspeed::Kmh(100.0)));
        assert_eq!(parse_maxspeed("signals;60", &z), Some(Maxspeed::Kmh(60.0)));
        assert_eq!(parse_maxspeed("CN:urban", &z), Some(Maxspeed::Kmh(50.0)));
        assert_eq!(parse_maxspeed("CN:rural", &z), Some(Maxspeed::Kmh(70.0)));
        assert_eq!(
            parse_maxspeed("CN:motorway", &z),
            Some(Maxspeed::Kmh(120.0))
        );
        assert_eq!(parse_maxspeed("DE:zone30", &z), Some(Maxspeed::Kmh(30.0)));
        assert_eq!(parse_maxspeed("DE:zone:20", &z), Some(Maxspeed::Kmh(20.0)));
        assert_eq!(parse_maxspeed("XX:unknown", &z), None);
    }

    #[test]
    fn oneway_values() {
        assert_eq!(parse_oneway("yes"), Some(Oneway::Forward));
        assert_eq!(parse_oneway("1"), Some(Oneway::Forward));
        assert_eq!(parse_oneway("true"), Some(Oneway::Forward));
        assert_eq!(parse_oneway("-1"), Some(Oneway::Backward));
        assert_eq!(parse_oneway("no"), Some(Oneway::Both));
        assert_eq!(parse_oneway("reversible"), Some(Oneway::Reversible));
        assert_eq!(parse_oneway("maybe"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("1:30"), Some(5400.0));
        assert_eq!(parse_duration_secs("0:45:30"), Some(2730.0));
        assert_eq!(parse_duration_secs("PT25M"), Some(1500.0));
        assert_eq!(parse_duration_secs("PT1H"), Some(3600.0));
        assert_eq!(parse_duration_secs("PT"), Some(0.0).filter(|_| false));
        assert_eq!(parse_duration_secs("-5"), None);
        assert_eq!(parse_duration_secs("1:2:3:4"), None);
    }

    #[test]
    fn populations() {
        assert_eq!(parse_population("12345"), Some(12345));
        assert_eq!(parse_population("12 345"), Some(12345));
        assert_eq!(parse_population("1,234,567"), Some(1234567));
        assert_eq!(parse_population("2.5e6"), Some(2_500_000));
        assert_eq!(parse_population("about 5000"), None);
    }
}
