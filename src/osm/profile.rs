//! Travel profiles: which OSM ways a mode may use, in which directions, and how fast.
//!
//! A profile is plain data (serialisable to TOML and stored in every graph file), so that every
//! number behind a travel time is recorded and can be overridden. The built-in profiles `car`,
//! `bike` and `foot` are starting points; a TOML file names a `base` profile and overrides any
//! field, e.g.
//!
//! ```toml
//! base = "car"
//! name = "car-peak"
//! congestion = 1.6
//! [speeds.trunk]
//! rural = 70.0
//! ```
//!
//! Car speeds without a `maxspeed` tag come from the mean speeds measured from GPS traces per
//! highway class and area type (OpenStreetMapSpeeds defaults, see `docs/method.md`): rural,
//! suburban and urban. The area type of a road is decided by the density of the road network
//! around it (km of road per km²), as Valhalla does, because OSM has no reliable urban tag.

use super::tags::{parse_duration_secs, parse_maxspeed, parse_oneway, Maxspeed, Oneway};
pub use crate::graph::RoadClass;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The area type a road lies in, from the density of the road network around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AreaType {
    Urban,
    Suburban,
    Rural,
}

/// Default speeds (km/h) by class code and area type, resolved from a profile
/// ([`Profile::default_speed_table`]).
pub struct DefaultSpeedTable {
    kmh: [[f64; 3]; 256],
}

/// The travel mode: decides which access tags apply and how one-way tags are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Car,
    Bike,
    Foot,
}

/// Speeds (km/h) for one highway class by area type. A speed of 0 excludes the class.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpeeds {
    pub urban: f64,
    pub suburban: f64,
    pub rural: f64,
}

impl ClassSpeeds {
    const fn new(urban: f64, suburban: f64, rural: f64) -> ClassSpeeds {
        ClassSpeeds {
            urban,
            suburban,
            rural,
        }
    }
    const fn flat(v: f64) -> ClassSpeeds {
        ClassSpeeds::new(v, v, v)
    }
    pub fn get(&self, area: AreaType) -> f64 {
        match area {
            AreaType::Urban => self.urban,
            AreaType::Suburban => self.suburban,
            AreaType::Rural => self.rural,
        }
    }
}

/// A complete travel profile. Every field is recorded in the graph file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name shown in outputs.
    pub name: String,
    pub mode: Mode,
    /// Travel-time multiplier applied to every road edge (a congestion index: actual ÷ free-flow
    /// time). 1.0 = free flow; Beijing's peak index was above 2.0 in 2018.
    pub congestion: f64,
    /// Share of a tagged `maxspeed` that is driven on average, by area type: intersections,
    /// signals and traffic keep mean speeds well below posted limits in towns. The car defaults
    /// are the ratios of the measured mean speeds above to typical posted limits.
    pub maxspeed_factor: ClassSpeeds,
    /// Speed used where `maxspeed=none` (km/h).
    pub maxspeed_none_kmh: f64,
    /// Speed used for `maxspeed=walk` (km/h).
    pub walk_kmh: f64,
    /// Whether `oneway` tags restrict this mode.
    pub respect_oneway: bool,
    /// Access tags from the most general to the most specific; the most specific one present
    /// on a way decides.
    pub access_keys: Vec<String>,
    /// Access values that close a way to this mode (`destination`, `delivery`, `customers` and
    /// `permissive` stay open: commuters do drive to destinations).
    pub access_deny: Vec<String>,
    /// Classes usable only when the mode's own access key explicitly allows them (e.g. a footway
    /// with `bicycle=yes`).
    pub explicit_access_only: Vec<String>,
    /// Ferry speed (km/h) when the ferry way has no `duration` tag.
    pub ferry_kmh: f64,
    /// Time added to every ferry crossing (boarding, waiting), seconds.
    pub ferry_extra_secs: f64,
    /// Road density (km of street per km², over a 3 × 3 km window) from which a road counts as
    /// urban.
    pub urban_km_per_km2: f64,
    /// Road density from which a road counts as suburban (below it: rural).
    pub suburban_km_per_km2: f64,
    /// Speed per highway class and area type (km/h) where no `maxspeed` is tagged.
    pub speeds: BTreeMap<String, ClassSpeeds>,
    /// Implicit limits (km/h) for `maxspeed` zone codes such as `CN:urban`, `DE:rural`.
    pub zone_speeds: BTreeMap<String, f64>,
}

/// What the profile makes of one OSM way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WayRule {
    pub class: RoadClass,
    /// Usable along the node order.
    pub forward: bool,
    /// Usable against the node order.
    pub backward: bool,
    /// Tagged limit per direction (km/h), after `maxspeed:forward`/`:backward`.
    pub maxspeed_fwd: Option<f64>,
    pub maxspeed_bwd: Option<f64>,
    /// Ferry crossing time from the `duration` tag, seconds.
    pub ferry_secs: Option<f64>,
}

/// A small read-only view of a way's tags.
pub trait TagLookup {
    fn tag(&self, key: &str) -> Option<&str>;
}

impl TagLookup for [(&str, &str)] {
    fn tag(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// A way's tags read once into slots for the keys the profiles look up (`highway`, the access
/// and one-way keys, the `maxspeed` family...), so that each of the dozen lookups of
/// [`Profile::evaluate_way`] is one match on the key instead of a scan of every tag; other keys
/// (a custom profile's access keys) are still found by the scan. The first occurrence of a
/// key wins, as in the scan.
///
/// ```
/// use metroreach::osm::profile::{IndexedTags, TagLookup};
/// let tags = [("highway", "primary"), ("maxspeed", "60"), ("motorcar", "no")];
/// let indexed = IndexedTags::new(&tags);
/// assert_eq!(indexed.tag("maxspeed"), Some("60"));
/// assert_eq!(indexed.tag("motorcar"), Some("no"));
/// assert_eq!(indexed.tag("oneway"), None);
/// ```
pub struct IndexedTags<'t, 'a> {
    tags: &'t [(&'a str, &'a str)],
    slots: [Option<&'a str>; INDEXED_KEYS],
}

const INDEXED_KEYS: usize = 22;

/// The slot of a key the profiles look up, if it has one.
#[inline]
fn indexed_slot(key: &str) -> Option<usize> {
    Some(match key {
        "highway" => 0,
        "route" => 1,
        "area" => 2,
        "access" => 3,
        "vehicle" => 4,
        "motor_vehicle" => 5,
        "motorcar" => 6,
        "bicycle" => 7,
        "foot" => 8,
        "motorroad" => 9,
        "junction" => 10,
        "oneway" => 11,
        "oneway:bicycle" => 12,
        "oneway:foot" => 13,
        "cycleway" => 14,
        "maxspeed" => 15,
        "maxspeed:type" => 16,
        "source:maxspeed" => 17,
        "zone:maxspeed" => 18,
        "maxspeed:forward" => 19,
        "maxspeed:backward" => 20,
        "duration" => 21,
        _ => return None,
    })
}

impl<'t, 'a> IndexedTags<'t, 'a> {
    pub fn new(tags: &'t [(&'a str, &'a str)]) -> IndexedTags<'t, 'a> {
        let mut slots = [None; INDEXED_KEYS];
        for &(k, v) in tags {
            if let Some(i) = indexed_slot(k) {
                slots[i].get_or_insert(v);
            }
        }
        IndexedTags { tags, slots }
    }
}

impl TagLookup for IndexedTags<'_, '_> {
    #[inline]
    fn tag(&self, key: &str) -> Option<&str> {
        match indexed_slot(key) {
            Some(i) => self.slots[i],
            None => self.tags.tag(key),
        }
    }
}

impl<const N: usize> TagLookup for [(&str, &str); N] {
    fn tag(&self, key: &str) -> Option<&str> {
        self.as_slice().tag(key)
    }
}

impl TagLookup for Vec<(&str, &str)> {
    fn tag(&self, key: &str) -> Option<&str> {
        self.as_slice().tag(key)
    }
}

/// Errors from reading a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile '{0}': use car, bike, foot or a path to a .toml file")]
    UnknownBuiltin(String),
    #[error("cannot read profile file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("profile file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl Profile {
    /// Car profile: OpenStreetMapSpeeds mean speeds by class and area type, Chinese and European
    /// zone limits.
    pub fn car() -> Profile {
        let s = |u, su, r| ClassSpeeds::new(u, su, r);
        let speeds = [
            ("motorway", s(50.0, 75.0, 90.0)),
            ("motorway_link", s(35.0, 45.0, 55.0)),
            ("trunk", s(40.0, 40.0, 50.0)),
            ("trunk_link", s(30.0, 30.0, 35.0)),
            ("primary", s(25.0, 30.0, 40.0)),
            ("primary_link", s(20.0, 25.0, 30.0)),
            ("secondary", s(20.0, 25.0, 35.0)),
            ("secondary_link", s(15.0, 20.0, 25.0)),
            ("tertiary", s(20.0, 25.0, 30.0)),
            ("tertiary_link", s(15.0, 20.0, 25.0)),
            ("unclassified", s(15.0, 20.0, 20.0)),
            ("residential", s(15.0, 20.0, 20.0)),
            ("living_street", s(7.0, 7.0, 7.0)),
            ("service", s(10.0, 10.0, 10.0)),
            ("road", s(15.0, 20.0, 20.0)),
        ];
        Profile {
            name: "car".into(),
            mode: Mode::Car,
            congestion: 1.0,
            maxspeed_factor: ClassSpeeds::new(0.5, 0.65, 0.75),
            maxspeed_none_kmh: 130.0,
            walk_kmh: 6.0,
            respect_oneway: true,
            access_keys: vec![
                "access".into(),
                "vehicle".into(),
                "motor_vehicle".into(),
                "motorcar".into(),
            ],
            access_deny: deny_values(),
            explicit_access_only: vec![],
            ferry_kmh: 20.0,
            ferry_extra_secs: 0.0,
            urban_km_per_km2: 10.0,
            suburban_km_per_km2: 4.0,
            speeds: speeds
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            zone_speeds: zone_speeds(),
        }
    }

    /// Bicycle profile: flat speeds by class (no area distinction), paths allowed.
    pub fn bike() -> Profile {
        let f = ClassSpeeds::flat;
        let speeds = [
            ("trunk", f(16.0)),
            ("trunk_link", f(16.0)),
            ("primary", f(16.0)),
            ("primary_link", f(16.0)),
            ("secondary", f(16.0)),
            ("secondary_link", f(16.0)),
            ("tertiary", f(16.0)),
            ("tertiary_link", f(16.0)),
            ("unclassified", f(16.0)),
            ("residential", f(16.0)),
            ("living_street", f(12.0)),
            ("service", f(14.0)),
            ("road", f(14.0)),
            ("track", f(12.0)),
            ("cycleway", f(18.0)),
            ("path", f(12.0)),
            ("footway", f(8.0)),
            ("pedestrian", f(8.0)),
            ("bridleway", f(8.0)),
        ];
        Profile {
            name: "bike".into(),
            mode: Mode::Bike,
            congestion: 1.0,
            maxspeed_factor: ClassSpeeds::flat(1.0),
            maxspeed_none_kmh: 18.0,
            walk_kmh: 6.0,
            respect_oneway: true,
            access_keys: vec!["access".into(), "vehicle".into(), "bicycle".into()],
            access_deny: deny_values(),
            explicit_access_only: vec!["footway".into(), "pedestrian".into(), "bridleway".into()],
            ferry_kmh: 20.0,
            ferry_extra_secs: 0.0,
            urban_km_per_km2: 10.0,
            suburban_km_per_km2: 4.0,
            speeds: speeds
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            zone_speeds: BTreeMap::new(),
        }
    }

    /// Walking profile: 5 km/h everywhere except steps; one-way tags ignored.
    pub fn foot() -> Profile {
        let f = ClassSpeeds::flat;
        let mut speeds: BTreeMap<String, ClassSpeeds> = [
            "trunk",
            "trunk_link",
            "primary",
            "primary_link",
            "secondary",
            "secondary_link",
            "tertiary",
            "tertiary_link",
            "unclassified",
            "residential",
            "living_street",
            "service",
            "road",
            "track",
            "cycleway",
            "path",
            "footway",
            "pedestrian",
            "bridleway",
        ]
        .into_iter()
        .map(|k| (k.to_string(), f(5.0)))
        .collect();
        speeds.insert("steps".into(), f(2.5));
        Profile {
            name: "foot".into(),
            mode: Mode::Foot,
            congestion: 1.0,
            maxspeed_factor: ClassSpeeds::flat(1.0),
            maxspeed_none_kmh: 5.0,
            walk_kmh: 5.0,
            respect_oneway: false,
            access_keys: vec!["access".into(), "foot".into()],
            access_deny: deny_values(),
            explicit_access_only: vec![],
            ferry_kmh: 20.0,
            ferry_extra_secs: 0.0,
            urban_km_per_km2: 10.0,
            suburban_km_per_km2: 4.0,
            speeds,
            zone_speeds: BTreeMap::new(),
        }
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        match name {
            "car" => Some(Profile::car()),
            "bike" | "bicycle" => Some(Profile::bike()),
            "foot" | "walk" => Some(Profile::foot()),
            _ => None,
        }
    }

    /// `car`, `bike`, `foot`, or a TOML file (`base = "car"` plus overrides).
    pub fn resolve(spec: &str) -> Result<Profile, ProfileError> {
        if let Some(p) = Profile::builtin(spec) {
            return Ok(p);
        }
        let path = Path::new(spec);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
                path: spec.to_string(),
                source,
            })?;
            return Profile::from_toml(&text).map_err(|message| ProfileError::Invalid {
                path: spec.to_string(),
                message,
            });
        }
        Err(ProfileError::UnknownBuiltin(spec.to_string()))
    }

    /// Parses a TOML override document: `base` (default `car`) plus any fields to replace.
    /// Tables are merged key by key, so `[speeds.trunk] rural = 70.0` changes one number.
    pub fn from_toml(text: &str) -> Result<Profile, String> {
        let mut user: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let base_name = match user.remove("base") {
            None => "car".to_string(),
            Some(toml::Value::String(s)) => s,
            Some(_) => return Err("`base` must be a string (car, bike or foot)".into()),
        };
        let base = Profile::builtin(&base_name)
            .ok_or_else(|| format!("unknown base profile '{base_name}' (car, bike or foot)"))?;
        let mut merged = toml::Table::try_from(&base).map_err(|e| e.to_string())?;
        if !user.contains_key("name") {
            merged.insert(
                "name".into(),
                toml::Value::String(format!("{base_name}-custom")),
            );
        }
        merge_tables(&mut merged, user);
        let profile: Profile = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        profile.validate()?;
        Ok(profile)
    }

    /// Checks that every number is usable.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number, got {v}"))
            }
        };
        positive("congestion", self.congestion)?;
        for (area, v) in [
            ("urban", self.maxspeed_factor.urban),
            ("suburban", self.maxspeed_factor.suburban),
            ("rural", self.maxspeed_factor.rural),
        ] {
            positive(&format!("maxspeed_factor.{area}"), v)?;
        }
        positive("maxspeed_none_kmh", self.maxspeed_none_kmh)?;
        positive("walk_kmh", self.walk_kmh)?;
        positive("ferry_kmh", self.ferry_kmh)?;
        if !(self.ferry_extra_secs.is_finite() && self.ferry_extra_secs >= 0.0) {
            return Err("ferry_extra_secs must be ≥ 0".into());
        }
        if !(self.suburban_km_per_km2 >= 0.0 && self.urban_km_per_km2 >= self.suburban_km_per_km2) {
            return Err("need 0 ≤ suburban_km_per_km2 ≤ urban_km_per_km2".into());
        }
        for (class, s) in &self.speeds {
            if RoadClass::from_highway(class).is_none() {
                return Err(format!(
                    "speeds.{class}: unknown highway class (known: {})",
                    RoadClass::ALL.map(|c| c.as_str()).join(", ")
                ));
            }
            for (area, v) in [
                ("urban", s.urban),
                ("suburban", s.suburban),
                ("rural", s.rural),
            ] {
                if !(v.is_finite() && (0.0..=300.0).contains(&v)) {
                    return Err(format!(
                        "speeds.{class}.{area} must be between 0 and 300 km/h, got {v}"
                    ));
                }
            }
        }
        for (zone, v) in &self.zone_speeds {
            positive(&format!("zone_speeds.\"{zone}\""), *v)?;
        }
        Ok(())
    }

    fn class_speeds(&self, class: RoadClass) -> Option<&ClassSpeeds> {
        self.speeds.get(class.as_str())
    }

    /// Whether the most specific access tag present closes the way; `Some(true)` when it
    /// explicitly opens it.
    fn access(&self, tags: &(impl TagLookup + ?Sized)) -> Option<bool> {
        for key in self.access_keys.iter().rev() {
            if let Some(v) = tags.tag(key) {
                let v = v.trim();
                // `no;destination` style lists: open if any value is open.
                let open = v
                    .split(';')
                    .any(|x| !self.access_deny.iter().any(|d| d == x.trim()));
                return Some(open);
            }
        }
        None
    }

    fn explicit_mode_access(&self, tags: &(impl TagLookup + ?Sized)) -> bool {
        let key = self
            .access_keys
            .last()
            .map(String::as_str)
            .unwrap_or("access");
        matches!(
            tags.tag(key),
            Some("yes" | "designated" | "permissive" | "destination")
        )
    }

    /// Decides whether and how a way is usable. `None` means the way is not part of the graph.
    pub fn evaluate_way(&self, tags: &(impl TagLookup + ?Sized)) -> Option<WayRule> {
        let is_ferry = tags.tag("route") == Some("ferry");
        let class = if is_ferry {
            RoadClass::Ferry
        } else {
            let hw = tags.tag("highway")?;
            let class = RoadClass::from_highway(hw)?;
            if tags.tag("area") == Some("yes") {
                return None;
            }
            let listed = self
                .class_speeds(class)
                .is_some_and(|s| s.urban > 0.0 || s.suburban > 0.0 || s.rural > 0.0);
            let explicit = self.explicit_access_only.iter().any(|c| c == hw);
            if explicit {
                if !self.explicit_mode_access(tags) {
                    return None;
                }
            } else if !listed {
                return None;
            }
            class
        };
        if self.access(tags) == Some(false) {
            return None;
        }
        if self.mode != Mode::Car && tags.tag("motorroad") == Some("yes") {
            return None;
        }

        let roundabout = tags
            .tag("junction")
            .is_some_and(|j| j == "roundabout" || j == "circular");
        let implied = if roundabout || class == RoadClass::Motorway {
            Oneway::Forward
        } else {
            Oneway::Both
        };
        let mut oneway = if !self.respect_oneway || is_ferry {
            Oneway::Both
        } else {
            // Roundabouts are one-way whatever else is tagged; elsewhere an explicit tag wins.
            let explicit = tags.tag("oneway").and_then(parse_oneway);
            match (roundabout, explicit) {
                (true, Some(Oneway::Backward)) => Oneway::Backward,
                (true, _) => Oneway::Forward,
                (false, Some(o)) => o,
                (false, None) => implied,
            }
        };
        // Mode-specific one-way exceptions (contraflow cycling, one-way footpaths).
        match self.mode {
            Mode::Bike => {
                if tags.tag("oneway:bicycle").and_then(parse_oneway) == Some(Oneway::Both)
                    || tags
                        .tag("cycleway")
                        .is_some_and(|c| c.starts_with("opposite"))
                {
                    oneway = Oneway::Both;
                } else if let Some(o) = tags.tag("oneway:bicycle").and_then(parse_oneway) {
                    oneway = o;
                }
            }
            Mode::Foot => {
                if let Some(o) = tags.tag("oneway:foot").and_then(parse_oneway) {
                    oneway = o;
                }
            }
            Mode::Car => {}
        }
        let (forward, backward) = match oneway {
            Oneway::Both => (true, true),
            Oneway::Forward => (true, false),
            Oneway::Backward => (false, true),
            Oneway::Reversible => return None,
        };

        let maxspeed = |key: &str| {
            tags.tag(key)
                .and_then(|v| parse_maxspeed(v, &self.zone_speeds))
        };
        let base = maxspeed("maxspeed")
            .or_else(|| maxspeed("maxspeed:type"))
            .or_else(|| maxspeed("source:maxspeed"))
            .or_else(|| maxspeed("zone:maxspeed"));
        let to_kmh = |m: Maxspeed| match m {
            Maxspeed::Kmh(x) => x,
            Maxspeed::NoLimit => self.maxspeed_none_kmh,
            Maxspeed::Walk => self.walk_kmh,
        };
        let fwd = maxspeed("maxspeed:forward").or(base).map(to_kmh);
        let bwd = maxspeed("maxspeed:backward").or(base).map(to_kmh);
        let ferry_secs = if is_ferry {
            tags.tag("duration").and_then(parse_duration_secs)
        } else {
            None
        };
        Some(WayRule {
            class,
            forward,
            backward,
            maxspeed_fwd: fwd,
            maxspeed_bwd: bwd,
            ferry_secs,
        })
    }

    /// Speed in km/h on a road of `class` in `area`, given its tagged limit for the direction.
    /// Cars drive `maxspeed_factor[area]` × a tagged limit; bikes and feet keep their own speed
    /// below a limit.
    pub fn speed_kmh(&self, class: RoadClass, area: AreaType, tagged: Option<f64>) -> f64 {
        self.speed_from_default(self.default_kmh(class, area), area, tagged)
    }

    /// [`Profile::speed_kmh`] with the class defaults read from `table` (made by
    /// [`Profile::default_speed_table`] of this profile): the same value without a lookup of
    /// the class's name, for the millions of pieces of an import.
    pub fn speed_kmh_in(
        &self,
        table: &DefaultSpeedTable,
        class: RoadClass,
        area: AreaType,
        tagged: Option<f64>,
    ) -> f64 {
        self.speed_from_default(table.kmh[class as usize][area as usize], area, tagged)
    }

    /// Every class's default speed (no `maxspeed`) per area type, resolved once.
    pub fn default_speed_table(&self) -> DefaultSpeedTable {
        let mut kmh = [[0.0; 3]; 256];
        for class in RoadClass::ALL {
            for area in [AreaType::Urban, AreaType::Suburban, AreaType::Rural] {
                kmh[class as usize][area as usize] = self.default_kmh(class, area);
            }
        }
        DefaultSpeedTable { kmh }
    }

    /// The class's speed for the area where no `maxspeed` applies.
    fn default_kmh(&self, class: RoadClass, area: AreaType) -> f64 {
        let default = self.class_speeds(class).map(|s| s.get(area)).unwrap_or(0.0);
        if default > 0.0 {
            default
        } else {
            // Explicit-access classes with no table entry, or a class zeroed for this area.
            self.class_speeds(class)
                .map(|s| s.urban.max(s.suburban).max(s.rural))
                .filter(|v| *v > 0.0)
                .unwrap_or(5.0)
        }
    }

    fn speed_from_default(&self, default: f64, area: AreaType, tagged: Option<f64>) -> f64 {
        match (self.mode, tagged) {
            (Mode::Car, Some(limit)) => limit * self.maxspeed_factor.get(area),
            (_, Some(limit)) => default.min(limit),
            (_, None) => default,
        }
    }

    /// Ferry crossing time in seconds.
    pub fn ferry_secs(&self, length_m: f64, tagged_secs: Option<f64>) -> f64 {
        tagged_secs.unwrap_or(length_m / (self.ferry_kmh / 3.6)) + self.ferry_extra_secs
    }

    /// Area type from the road density (km per km²) around a road.
    pub fn area_type(&self, density_km_per_km2: f64) -> AreaType {
        if density_km_per_km2 >= self.urban_km_per_km2 {
            AreaType::Urban
        } else if density_km_per_km2 >= self.suburban_km_per_km2 {
            AreaType::Suburban
        } else {
            AreaType::Rural
        }
    }

    /// The profile as TOML, as recorded in outputs and shown by `info`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

fn deny_values() -> Vec<String> {
    [
        "no",
        "private",
        "agricultural",
        "forestry",
        "emergency",
        "military",
        "psv",
        "bus",
        "discouraged",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Implicit speed limits of zone codes, km/h (national rules as given on the OSM wiki's
/// "Default speed limits" page; China from the Road Traffic Safety Law regulations §45, §78).
fn zone_speeds() -> BTreeMap<String, f64> {
    const MPH: f64 = 1.609344;
    let z: &[(&str, f64)] = &[
        ("CN:urban", 50.0),
        ("CN:rural", 70.0),
        ("CN:motorway", 120.0),
        ("CN:expressway", 100.0),
        ("CN:trunk", 100.0),
        ("CN:living_street", 30.0),
        ("HK:urban", 50.0),
        ("HK:rural", 80.0),
        ("TW:urban", 50.0),
        ("TW:rural", 80.0),
        ("JP:nsl", 60.0),
        ("JP:urban", 60.0),
        ("JP:rural", 60.0),
        ("JP:motorway", 100.0),
        ("KR:urban", 50.0),
        ("KR:rural", 60.0),
        ("KR:motorway", 100.0),
        ("RU:urban", 60.0),
        ("RU:rural", 90.0),
        ("RU:motorway", 110.0),
        ("RU:living_street", 20.0),
        ("DE:urban", 50.0),
        ("DE:rural", 100.0),
        ("DE:motorway", 130.0),
        ("DE:living_street", 7.0),
        ("DE:bicycle_road", 30.0),
        ("AT:urban", 50.0),
        ("AT:rural", 100.0),
        ("AT:motorway", 130.0),
        ("CH:urban", 50.0),
        ("CH:rural", 80.0),
        ("CH:trunk", 100.0),
        ("CH:motorway", 120.0),
        ("FR:urban", 50.0),
        ("FR:rural", 80.0),
        ("FR:trunk", 110.0),
        ("FR:motorway", 130.0),
        ("IT:urban", 50.0),
        ("IT:rural", 90.0),
        ("IT:trunk", 110.0),
        ("IT:motorway", 130.0),
        ("ES:urban", 50.0),
        ("ES:rural", 90.0),
        ("ES:trunk", 100.0),
        ("ES:motorway", 120.0),
        ("PT:urban", 50.0),
        ("PT:rural", 90.0),
        ("PT:trunk", 100.0),
        ("PT:motorway", 120.0),
        ("MT:urban", 50.0),
        ("MT:rural", 80.0),
        ("AD:urban", 50.0),
        ("AD:rural", 90.0),
        ("NL:urban", 50.0),
        ("NL:rural", 80.0),
        ("NL:trunk", 100.0),
        ("NL:motorway", 130.0),
        ("BE:urban", 50.0),
        ("BE:rural", 90.0),
        ("BE-VLG:rural", 70.0),
        ("BE:motorway", 120.0),
        ("PL:urban", 50.0),
        ("PL:rural", 90.0),
        ("PL:motorway", 140.0),
        ("CZ:urban", 50.0),
        ("CZ:rural", 90.0),
        ("CZ:motorway", 130.0),
        ("DK:urban", 50.0),
        ("DK:rural", 80.0),
        ("DK:motorway", 130.0),
        ("FI:urban", 50.0),
        ("FI:rural", 80.0),
        ("FI:motorway", 120.0),
        ("SE:urban", 50.0),
        ("SE:rural", 70.0),
        ("NO:urban", 50.0),
        ("NO:rural", 80.0),
        ("HU:urban", 50.0),
        ("HU:rural", 90.0),
        ("HU:motorway", 130.0),
        ("GB:nsl_single", 60.0 * MPH),
        ("GB:nsl_dual", 70.0 * MPH),
        ("GB:motorway", 70.0 * MPH),
        ("UK:nsl_single", 60.0 * MPH),
        ("UK:nsl_dual", 70.0 * MPH),
        ("UK:motorway", 70.0 * MPH),
        ("IE:urban", 50.0),
        ("IE:rural", 80.0),
        ("IE:motorway", 120.0),
        ("BR:urban", 60.0),
        ("BR:rural", 90.0),
        ("BR:motorway", 110.0),
    ];
    z.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Lookups through the slots give what a scan of the tags gives, repeated keys and
        /// keys without a slot included, and so does every profile's verdict on the way.
        #[test]
        fn indexed_tags_answer_as_the_scan(
            raw in proptest::collection::vec((0usize..30, 0usize..12), 0..14)
        ) {
            const KEYS: [&str; 30] = [
                "highway", "route", "area", "access", "vehicle", "motor_vehicle", "motorcar",
                "bicycle", "foot", "motorroad", "junction", "oneway", "oneway:bicycle",
                "oneway:foot", "cycleway", "maxspeed", "maxspeed:type", "source:maxspeed",
                "zone:maxspeed", "maxspeed:forward", "maxspeed:backward", "duration", "name",
                "lanes", "surface", "psv", "hgv", "ref", "maxspeed:advisory", "",
            ];
            const VALUES: [&str; 12] = [
                "primary", "residential", "ferry", "yes", "no", "-1", "roundabout", "50",
                "30 mph", "CN:urban", "00:45", "destination",
            ];
            let tags: Vec<(&str, &str)> = raw.iter().map(|&(k, v)| (KEYS[k], VALUES[v])).collect();
            let indexed = IndexedTags::new(&tags);
            for key in KEYS {
                proptest::prop_assert_eq!(indexed.tag(key), tags.as_slice().tag(key), "{}", key);
            }
            for p in [Profile::car(), Profile::bike(), Profile::foot()] {
                proptest::prop_assert_eq!(p.evaluate_way(&indexed), p.evaluate_way(tags.as_slice()));
            }
        }
    }

    fn rule(p: &Profile, tags: &[(&str, &str)]) -> Option<WayRule> {
        p.evaluate_way(tags)
    }

    #[test]
    fn car_classes_and_exclusions() {
        let car = Profile::car();
        assert_eq!(
            rule(&car, &[("highway", "primary")]).unwrap().class,
            RoadClass::Primary
        );
        assert!(rule(&car, &[("highway", "footway")]).is_none());
        assert!(rule(&car, &[("highway", "cycleway")]).is_none());
        assert!(rule(&car, &[("highway", "construction")]).is_none());
        assert!(rule(&car, &[("highway", "proposed")]).is_none());
        assert!(rule(&car, &[("highway", "abandoned")]).is_none());
        assert!(rule(&car, &[("highway", "track")]).is_none());
        assert!(rule(&car, &[("highway", "pedestrian"), ("area", "yes")]).is_none());
        assert!(rule(&car, &[("highway", "residential"), ("area", "yes")]).is_none());
        assert!(rule(&car, &[("building", "yes")]).is_none());
    }

    #[test]
    fn access_hierarchy() {
        let car = Profile::car();
        assert!(rule(&car, &[("highway", "service"), ("access", "private")]).is_none());
        assert!(rule(&car, &[("highway", "service"), ("access", "no")]).is_none());
        assert!(rule(&car, &[("highway", "service"), ("access", "destination")]).is_some());
        assert!(rule(&car, &[("highway", "service"), ("motor_vehicle", "no")]).is_none());
        assert!(rule(&car, &[("highway", "service"), ("vehicle", "no")]).is_none());
        assert!(rule(&car, &[("highway", "service"), ("motorcar", "private")]).is_none());
        // The most specific key wins over a general ban.
        assert!(rule(
            &car,
            &[
                ("highway", "service"),
                ("access", "no"),
                ("motorcar", "yes")
            ]
        )
        .is_some());
        assert!(rule(
            &car,
            &[
                ("highway", "service"),
                ("access", "yes"),
                ("motor_vehicle", "no")
            ]
        )
        .is_none());
        // Bicycle and foot tags do not matter to cars.
        assert!(rule(
            &car,
            &[("highway", "primary"), ("bicycle", "no"), ("foot", "no")]
        )
        .is_some());
        let bike = Profile::bike();
        assert!(rule(&bike, &[("highway", "primary"), ("bicycle", "no")]).is_none());
        assert!(rule(&bike, &[("highway", "footway")]).is_none());
        assert!(rule(&bike, &[("highway", "footway"), ("bicycle", "yes")]).is_some());
        assert!(rule(&bike, &[("highway", "motorway")]).is_none());
        assert!(rule(&bike, &[("highway", "trunk"), ("motorroad", "yes")]).is_none());
        let foot = Profile::foot();
        assert!(rule(&foot, &[("highway", "footway")]).is_some());
        assert!(rule(&foot, &[("highway", "primary"), ("foot", "no")]).is_none());
        assert!(rule(&foot, &[("highway", "primary"), ("foot", "private")]).is_none());
        assert!(rule(&foot, &[("highway", "motorway")]).is_none());
    }

    #[test]
    fn oneway_rules() {
        let car = Profile::car();
        let r = rule(&car, &[("highway", "primary"), ("oneway", "yes")]).unwrap();
        assert!(r.forward && !r.backward);
        let r = rule(&car, &[("highway", "primary"), ("oneway", "1")]).unwrap();
        assert!(r.forward && !r.backward);
        let r = rule(&car, &[("highway", "primary"), ("oneway", "true")]).unwrap();
        assert!(r.forward && !r.backward);
        let r = rule(&car, &[("highway", "primary"), ("oneway", "-1")]).unwrap();
        assert!(!r.forward && r.backward);
        let r = rule(&car, &[("highway", "primary")]).unwrap();
        assert!(r.forward && r.backward);
        assert!(rule(&car, &[("highway", "primary"), ("oneway", "reversible")]).is_none());
        // Implied: motorways and roundabouts.
        let r = rule(&car, &[("highway", "motorway")]).unwrap();
        assert!(r.forward && !r.backward);
        let r = rule(&car, &[("highway", "motorway"), ("oneway", "no")]).unwrap();
        assert!(r.forward && r.backward);
        let r = rule(&car, &[("highway", "tertiary"), ("junction", "roundabout")]).unwrap();
        assert!(r.forward && !r.backward);
        let r = rule(&car, &[("highway", "tertiary"), ("junction", "circular")]).unwrap();
        assert!(r.forward && !r.backward);
        let r = rule(
            &car,
            &[
                ("highway", "tertiary"),
                ("junction", "roundabout"),
                ("oneway", "no"),
            ],
        )
        .unwrap();
        assert!(r.forward && !r.backward);
        // Foot ignores oneway; bikes honour contraflow exceptions.
        let r = rule(
            &Profile::foot(),
            &[("highway", "residential"), ("oneway", "yes")],
        )
        .unwrap();
        assert!(r.forward && r.backward);
        let r = rule(
            &Profile::bike(),
            &[
                ("highway", "residential"),
                ("oneway", "yes"),
                ("oneway:bicycle", "no"),
            ],
        )
        .unwrap();
        assert!(r.forward && r.backward);
        let r = rule(
            &Profile::bike(),
            &[("highway", "residential"), ("oneway", "yes")],
        )
        .unwrap();
        assert!(r.forward && !r.backward);
    }

    #[test]
    fn speed_table_gives_the_speeds_of_the_profile() {
        // A custom profile too: a class dropped from the table and one zeroed in towns.
        let mut custom = Profile::car();
        custom.speeds.remove("service");
        if let Some(s) = custom.speeds.get_mut("residential") {
            s.urban = 0.0;
        }
        for p in [Profile::car(), Profile::bike(), Profile::foot(), custom] {
            let table = p.default_speed_table();
            for class in RoadClass::ALL {
                for area in [AreaType::Urban, AreaType::Suburban, AreaType::Rural] {
                    for tagged in [None, Some(5.0), Some(50.0), Some(130.0)] {
                        assert_eq!(
                            p.speed_kmh_in(&table, class, area, tagged).to_bits(),
                            p.speed_kmh(class, area, tagged).to_bits(),
                            "{} {class:?} {area:?} {tagged:?}",
                            p.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn maxspeed_per_direction_and_zones() {
        let car = Profile::car();
        let r = rule(&car, &[("highway", "primary"), ("maxspeed", "60")]).unwrap();
        assert_eq!((r.maxspeed_fwd, r.maxspeed_bwd), (Some(60.0), Some(60.0)));
        let r = rule(
            &car,
            &[
                ("highway", "primary"),
                ("maxspeed", "60"),
                ("maxspeed:backward", "40"),
            ],
        )
        .unwrap();
        assert_eq!((r.maxspeed_fwd, r.maxspeed_bwd), (Some(60.0), Some(40.0)));
        let r = rule(&car, &[("highway", "primary"), ("maxspeed:forward", "80")]).unwrap();
        assert_eq!((r.maxspeed_fwd, r.maxspeed_bwd), (Some(80.0), None));
        let r = rule(&car, &[("highway", "primary"), ("maxspeed", "CN:urban")]).unwrap();
        assert_eq!(r.maxspeed_fwd, Some(50.0));
        let r = rule(&car, &[("highway", "motorway"), ("maxspeed", "none")]).unwrap();
        assert_eq!(r.maxspeed_fwd, Some(130.0));
        let r = rule(
            &car,
            &[("highway", "residential"), ("maxspeed:type", "DE:zone30")],
        )
        .unwrap();
        assert_eq!(r.maxspeed_fwd, Some(30.0));
        let r = rule(&car, &[("highway", "living_street"), ("maxspeed", "walk")]).unwrap();
        assert_eq!(r.maxspeed_fwd, Some(6.0));
        // Speeds: a tagged limit is driven at a share that depends on the area; untagged roads
        // use the area table.
        assert_eq!(
            car.speed_kmh(RoadClass::Primary, AreaType::Urban, Some(60.0)),
            30.0
        );
        assert_eq!(
            car.speed_kmh(RoadClass::Motorway, AreaType::Rural, Some(120.0)),
            90.0
        );
        assert_eq!(
            car.speed_kmh(RoadClass::Motorway, AreaType::Rural, None),
            90.0
        );
        assert_eq!(
            car.speed_kmh(RoadClass::Motorway, AreaType::Urban, None),
            50.0
        );
        // A bike never speeds up to a limit.
        assert_eq!(
            Profile::bike().speed_kmh(RoadClass::Primary, AreaType::Urban, Some(60.0)),
            16.0
        );
    }

    #[test]
    fn ferries() {
        let car = Profile::car();
        let r = rule(&car, &[("route", "ferry"), ("duration", "00:25")]).unwrap();
        assert_eq!(r.class, RoadClass::Ferry);
        assert!(r.forward && r.backward);
        assert_eq!(r.ferry_secs, Some(1500.0));
        assert_eq!(car.ferry_secs(10_000.0, r.ferry_secs), 1500.0);
        let r = rule(&car, &[("route", "ferry")]).unwrap();
        assert_eq!(car.ferry_secs(10_000.0, r.ferry_secs), 1800.0);
        assert!(rule(&car, &[("route", "ferry"), ("motor_vehicle", "no")]).is_none());
        assert!(rule(
            &Profile::foot(),
            &[("route", "ferry"), ("motor_vehicle", "no")]
        )
        .is_some());
    }

    #[test]
    fn toml_overrides_merge_and_validate() {
        let p =
            Profile::from_toml("base = \"car\"\ncongestion = 1.5\n[speeds.trunk]\nrural = 70.0\n")
                .unwrap();
        assert_eq!(p.congestion, 1.5);
        assert_eq!(p.speeds["trunk"].rural, 70.0);
        assert_eq!(
            p.speeds["trunk"].urban,
            Profile::car().speeds["trunk"].urban
        );
        assert_eq!(p.name, "car-custom");
        assert!(Profile::from_toml("congestion = -1")
            .unwrap_err()
            .contains("congestion"));
        assert!(Profile::from_toml("bogus = 1")
            .unwrap_err()
            .contains("bogus"));
        assert!(
            Profile::from_toml("[speeds.highwayz]\nurban=1.0\nsuburban=1.0\nrural=1.0").is_err()
        );
        assert!(Profile::from_toml("base = \"plane\"").is_err());
        // Round trip of every built-in profile.
        for p in [Profile::car(), Profile::bike(), Profile::foot()] {
            let text = format!(
                "base = \"{}\"\n{}",
                match p.mode {
                    Mode::Car => "car",
                    Mode::Bike => "bike",
                    Mode::Foot => "foot",
                },
                p.to_toml()
            );
            assert_eq!(Profile::from_toml(&text).unwrap(), p);
        }
    }

    #[test]
    fn area_types() {
        let car = Profile::car();
        assert_eq!(car.area_type(15.0), AreaType::Urban);
        assert_eq!(car.area_type(5.0), AreaType::Suburban);
        assert_eq!(car.area_type(1.0), AreaType::Rural);
    }
}
