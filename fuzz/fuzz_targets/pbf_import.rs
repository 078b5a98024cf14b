//! The PBF import on arbitrary bytes: every outcome is `Ok` or an error, never a panic, an
//! abort, a hang or an allocation beyond libFuzzer's limits; whatever it imports must pass the
//! graph file's own validation. (`import_pbf` takes a path, so the bytes go to a scratch file.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use metroreach::graph::store;
use metroreach::osm::{import_pbf, ImportOptions};
use metroreach::progress::Progress;

fuzz_target!(|data: &[u8]| {
    metroreach_fuzz::init();
    let path = metroreach_fuzz::scratch_file("input.osm.pbf");
    std::fs::write(&path, data).expect("write the scratch file");
    let opts = ImportOptions {
        // Keep every component, so that tiny inputs reach graph building.
        min_component_nodes: 1,
        ..Default::default()
    };
    if let Ok(g) = import_pbf(&path, &opts, &Progress::hidden()) {
        if let Err(e) = store::validate(&g) {
            panic!("import produced an invalid graph: {e}");
        }
        let bytes = store::to_bytes(&g);
        if let Err(e) = store::from_bytes(&bytes, &path) {
            panic!("an imported graph does not reload: {e}");
        }
    }
});
