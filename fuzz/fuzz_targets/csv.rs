//! The CSV reader (any bytes: encodings, quotes, line endings) and the city-list reader on what
//! it parses; every cell is also read as a number, as the population and plan readers do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metroreach::input::cities::read_cities_csv;
use metroreach::input::table::Table;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = Table::parse(data, "fuzz.csv") else {
        return;
    };
    if let Ok(cities) = read_cities_csv(&t) {
        for c in &cities {
            assert!(!c.origins.is_empty());
            for o in &c.origins {
                assert!(o.lon.is_finite() && o.lat.is_finite());
            }
        }
    }
    for (line, row) in &t.rows {
        for col in 0..t.headers.len() {
            let _ = t.number(*line, row, col);
        }
    }
});
