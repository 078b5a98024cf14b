//! The GeoJSON unit reader (`--units FILE.geojson`): parsing, geometry checks and repairs, seats
//! and the spatial index, on arbitrary bytes. (`Units::from_geojson` takes a path, so the bytes
//! go to a scratch file.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use metroreach::analysis::units::Units;

fuzz_target!(|data: &[u8]| {
    metroreach_fuzz::init();
    let path = metroreach_fuzz::scratch_file("units.geojson");
    std::fs::write(&path, data).expect("write the scratch file");
    for parent in [None, Some("parent")] {
        if let Ok(units) = Units::from_geojson(&path, "name", "code", parent) {
            for (i, u) in units.units.iter().enumerate() {
                assert!(u.area_km2.is_finite(), "unit {i}: area {}", u.area_km2);
                let _ = units.containing(u.seat.lon, u.seat.lat);
                let _ = units.find(&u.code);
            }
        }
    }
});
