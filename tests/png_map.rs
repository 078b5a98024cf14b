//! The static PNG map on real data: size, band and unit colours where the polygons are, the
//! background outside them, the scale bar's length, Chinese text.

mod common;

use common::*;
use metroreach::analysis::reach::{run, MembershipRule, ReachParams};
use metroreach::analysis::units::Units;
use metroreach::geom::haversine_m;
use metroreach::geom::polyindex::PolyIndex;
use metroreach::graph::RoadGraph;
use metroreach::isochrone::search::SearchScratch;
use metroreach::isochrone::{CircleParams, CitySpec, Engine};
use metroreach::output::layers::{from_circles, from_reach, MapLayers};
use metroreach::output::map::{
    band_colour, blend, city_colour, default_font, font_covers, render_pixmap, render_png,
    share_colour, MapFrame, BACKGROUND, CJK_PACKAGE, FONT_CANDIDATES, TITLE_BACKGROUND,
};
use std::path::Path;
use std::time::Instant;
use tiny_skia::Pixmap;

fn circle_layers(g: &RoadGraph, cities: &[CitySpec], minutes: &[f64]) -> MapLayers {
    let engine = Engine::new(g);
    let mut scratch = SearchScratch::new(g.num_nodes());
    let p = CircleParams {
        minutes: minutes.to_vec(),
        ..Default::default()
    };
    let circles: Vec<_> = cities
        .iter()
        .map(|c| engine.circle(c, &p, &mut scratch).unwrap())
        .collect();
    from_circles(g, &circles, serde_json::json!({}), "car, test".into())
}

/// Reads a PNG back; the map is opaque, so premultiplied bytes are the colours.
fn decode(path: &Path) -> Pixmap {
    Pixmap::decode_png(&std::fs::read(path).unwrap()).unwrap()
}

fn pixel(p: &Pixmap, x: u32, y: u32) -> [u8; 4] {
    let c = p.pixel(x, y).unwrap();
    [c.red(), c.green(), c.blue(), c.alpha()]
}

fn near(a: [u8; 4], b: [u8; 4], tol: i32) -> bool {
    (0..4).all(|k| (a[k] as i32 - b[k] as i32).abs() <= tol)
}

/// Pixels of the map panel (below the title, off the legend and the scale bar) whose centre
/// satisfies `ok(lon, lat, metres per pixel)`, on a grid of `step` pixels.
fn clean_pixels(
    frame: &MapFrame,
    step: u32,
    ok: impl Fn(f64, f64, f64) -> bool,
) -> Vec<(u32, u32)> {
    let inside = |r: [f32; 4], x: f32, y: f32, m: f32| {
        x >= r[0] - m && x <= r[2] + m && y >= r[1] - m && y <= r[3] + m
    };
    let mpp = frame.metres_per_pixel();
    let mut v = Vec::new();
    let y0 = frame.title_height as u32 + 10;
    for y in (y0..frame.height - 10).step_by(step as usize) {
        for x in (10..frame.width - 10).step_by(step as usize) {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            if inside(frame.legend, fx, fy, 8.0) || inside(frame.scale_box, fx, fy, 8.0) {
                continue;
            }
            let (lon, lat) = frame.to_lon_lat(fx, fy);
            if ok(lon, lat, mpp) {
                v.push((x, y));
            }
        }
    }
    v
}

/// Whether a point is far (in pixels) from every origin: markers, snap lines and labels.
fn far_from_origins(layers: &MapLayers, frame: &MapFrame, lon: f64, lat: f64, px: f32) -> bool {
    let (x, y) = frame.to_pixel(lon, lat);
    layers.origins.iter().all(|o| {
        let (ox, oy) = frame.to_pixel(o.lon, o.lat);
        (ox - x).hypot(oy - y) > px
    })
}

/// Whether a point is inside the extract and at least `px` pixels from its edge.
fn inside_extract(layers: &MapLayers, frame: &MapFrame, lon: f64, lat: f64, px: f64) -> bool {
    let e = layers.extract_edge.unwrap();
    e.inner_margin_m(lon, lat) > px * frame.metres_per_pixel()
}

#[test]
fn malta_circles_map_has_bands_background_and_a_true_scale_bar() {
    let g = graph(MALTA, "car");
    let minutes = [10.0, 20.0, 30.0];
    let layers = circle_layers(
        &g,
        &[
            city("Valletta", 14.5146, 35.8989),
            city("Mdina", 14.4031, 35.8857),
        ],
        &minutes,
    );
    assert_eq!(layers.cities(), ["Valletta", "Mdina"]);
    let dir = scratch("png-malta");

    // The full map, at two sizes: exactly the size asked for.
    for (w, h) in [(1600, 1200), (900, 700)] {
        let path = dir.join(format!("malta-{w}x{h}.png"));
        let t = Instant::now();
        render_png(&path, &layers, w, h, None).unwrap();
        eprintln!(
            "malta circles {w}×{h}: {:?}, {} bytes",
            t.elapsed(),
            std::fs::metadata(&path).unwrap().len()
        );
        let p = decode(&path);
        assert_eq!((p.width(), p.height()), (w, h));
    }
    let full = decode(&dir.join("malta-1600x1200.png"));

    // Without roads, the colours are exact: a band fill over the background.
    let mut bare = layers.clone();
    bare.roads.clear();
    let path = dir.join("malta-bare.png");
    render_png(&path, &bare, 1600, 1200, None).unwrap();
    let img = decode(&path);
    let frame = MapFrame::new(&bare, 1600, 1200);
    let n = minutes.len();
    // Index per band: the union over cities is what decides the colour (smallest band wins).
    let bands: Vec<Vec<PolyIndex>> = (0..n)
        .map(|k| {
            bare.circles
                .iter()
                .filter(|f| f.minutes == minutes[k])
                .map(|f| PolyIndex::new(&f.polygon))
                .collect()
        })
        .collect();
    let margin = 6.0; // pixels from any outline
    let smallest_band_of = |lon: f64, lat: f64, mpp: f64| -> Option<Option<usize>> {
        // None: too close to an outline to say; Some(None): outside every band.
        let mut found = None;
        for (k, idx) in bands.iter().enumerate() {
            for i in idx {
                if i.boundary_distance(lon, lat) < margin * mpp {
                    return None;
                }
                if found.is_none() && i.contains(lon, lat) {
                    found = Some(k);
                }
            }
        }
        Some(found)
    };
    for (k, band_minutes) in minutes.iter().enumerate() {
        let pts = clean_pixels(&frame, 7, |lon, lat, mpp| {
            smallest_band_of(lon, lat, mpp) == Some(Some(k))
                && far_from_origins(&bare, &frame, lon, lat, 140.0)
                && inside_extract(&bare, &frame, lon, lat, margin)
        });
        assert!(pts.len() > 20, "band {k}: only {} clean pixels", pts.len());
        let want = blend(band_colour(k, n), BACKGROUND);
        for &(x, y) in &pts {
            let got = pixel(&img, x, y);
            assert!(
                near(got, want, 3),
                "band {k} at pixel ({x},{y}): {got:?}, want {want:?}"
            );
        }
        // With roads drawn, the band still dominates: most of those pixels keep its colour
        // within a loose tolerance, and at least some are covered by roads.
        let kept = pts
            .iter()
            .filter(|&&(x, y)| near(pixel(&full, x, y), want, 12))
            .count();
        assert!(
            kept * 10 >= pts.len() * 5,
            "band {k}: {kept} of {} pixels keep the band colour under the roads",
            pts.len()
        );
        if k == 0 {
            assert!(
                kept < pts.len(),
                "roads never show over the {} min band",
                band_minutes
            );
        }
    }
    // Outside every circle but inside the extract: the plain background.
    let outside = clean_pixels(&frame, 9, |lon, lat, mpp| {
        smallest_band_of(lon, lat, mpp) == Some(None)
            && inside_extract(&bare, &frame, lon, lat, margin)
            && far_from_origins(&bare, &frame, lon, lat, 140.0)
    });
    assert!(
        outside.len() > 50,
        "only {} pixels outside the circles",
        outside.len()
    );
    for &(x, y) in &outside {
        assert_eq!(
            pixel(&img, x, y),
            BACKGROUND,
            "pixel ({x},{y}) outside all circles"
        );
    }
    // The origin marker, in the city's colour, where MapFrame says the origin is.
    for (k, o) in bare.origins.iter().enumerate() {
        let (x, y) = frame.to_pixel(o.lon, o.lat);
        let got = pixel(&img, x as u32, y as u32);
        assert!(
            near(got, city_colour(k), 4),
            "origin {} at ({x},{y}): {got:?}",
            o.label
        );
    }

    // The scale bar: the pixels it spans are the metres it claims, measured geodesically at the
    // map's centre latitude, both east-west and north-south.
    let sb = &frame.scale_bar;
    let (lon0, lat0) = frame.centre();
    let solve = |f: &dyn Fn(f64) -> f64| {
        let (mut lo, mut hi) = (0.0, 10.0);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if f(mid) < sb.metres {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    };
    let dlon = solve(&|d| haversine_m(lon0, lat0, lon0 + d, lat0));
    let dlat = solve(&|d| haversine_m(lon0, lat0, lon0, lat0 + d));
    let (ax, ay) = frame.to_pixel(lon0, lat0);
    let (bx, _) = frame.to_pixel(lon0 + dlon, lat0);
    let (_, cy) = frame.to_pixel(lon0, lat0 + dlat);
    let east = bx - ax;
    let north = ay - cy;
    assert!(
        (sb.length_px - east).abs() < 0.01 * east,
        "bar {} px, {} m east-west is {east} px",
        sb.length_px,
        sb.metres
    );
    assert!(
        (sb.length_px - north).abs() < 0.01 * north,
        "bar {} px, {} m north-south is {north} px",
        sb.length_px,
        sb.metres
    );
    assert_eq!(sb.label, format!("{} km", sb.metres / 1000.0));
    assert!(sb.length_px > 60.0 && sb.length_px < 600.0);
    // Measured in the image: the dark outline's extent along the bar's middle row.
    let row = (sb.y + sb.height_px / 2.0) as u32;
    let dark: Vec<u32> = ((sb.x - 15.0) as u32..(sb.x + sb.length_px + 15.0) as u32)
        .filter(|&x| {
            let c = pixel(&img, x, row);
            (c[0] as u32 + c[1] as u32 + c[2] as u32) < 300
        })
        .collect();
    let measured = (dark.last().unwrap() - dark.first().unwrap() + 1) as f32;
    assert!(
        (measured - sb.length_px).abs() <= 3.0,
        "scale bar drawn {measured} px long, claims {} px",
        sb.length_px
    );
}

#[test]
fn malta_reach_map_fills_units_by_share_and_marks_members() {
    let g = graph(MALTA, "car");
    let units = Units::from_graph(&g, 8).unwrap();
    let cities = vec![
        city("Valletta", 14.5146, 35.8989),
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
    let r = run(&Engine::new(&g), &cities, &units, None, &p);
    let layers = from_reach(&g, &r, &units, serde_json::json!({}), "car, test".into());
    assert!(!layers.units.is_empty() && layers.units.iter().any(|u| u.member));
    let dir = scratch("png-reach");
    let path = dir.join("reach.png");
    let t = Instant::now();
    render_png(&path, &layers, 1600, 1200, None).unwrap();
    eprintln!(
        "malta reach 1600×1200: {:?}, {} bytes",
        t.elapsed(),
        std::fs::metadata(&path).unwrap().len()
    );
    assert_eq!(
        (decode(&path).width(), decode(&path).height()),
        (1600, 1200)
    );

    // Without roads and unit names, the colours are exact.
    let mut bare = layers.clone();
    bare.roads.clear();
    for u in &mut bare.units {
        u.label.clear();
    }
    let img = render_pixmap(&bare, 1600, 1200, None).unwrap();
    let frame = MapFrame::new(&bare, 1600, 1200);
    let n = bare.minutes.len();
    let circles: Vec<(usize, PolyIndex)> = bare
        .circles
        .iter()
        .map(|f| {
            (
                bare.minutes.iter().position(|m| *m == f.minutes).unwrap(),
                PolyIndex::new(&f.polygon),
            )
        })
        .collect();
    let catchments: Vec<PolyIndex> = bare
        .catchments
        .iter()
        .map(|f| PolyIndex::new(&f.polygon))
        .collect();
    let margin = 7.0;
    let mut checked = 0;
    for u in bare.units.iter().filter(|u| u.share > 0.05) {
        let idx = PolyIndex::new(&u.polygon);
        let pts = clean_pixels(&frame, 5, |lon, lat, mpp| {
            idx.contains(lon, lat)
                && idx.boundary_distance(lon, lat) > margin * mpp
                && circles
                    .iter()
                    .all(|(_, c)| c.boundary_distance(lon, lat) > margin * mpp)
                && catchments
                    .iter()
                    .all(|c| c.boundary_distance(lon, lat) > margin * mpp)
                && far_from_origins(&bare, &frame, lon, lat, 140.0)
                && inside_extract(&bare, &frame, lon, lat, margin)
        });
        for &(x, y) in pts.iter().take(40) {
            let (lon, lat) = frame.to_lon_lat(x as f32 + 0.5, y as f32 + 0.5);
            let band = circles
                .iter()
                .filter(|(_, c)| c.contains(lon, lat))
                .map(|(k, _)| *k)
                .min();
            let under = blend(share_colour(u.share), BACKGROUND);
            let want = match band {
                Some(k) => blend(band_colour(k, n), under),
                None => under,
            };
            let got = pixel_of(&img, x, y);
            assert!(
                near(got, want, 3),
                "unit {} (share {:.2}) at ({x},{y}): {got:?}, want {want:?}",
                u.properties["name"],
                u.share
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} unit pixels checked");
    // A member unit's outline is dark where MapFrame puts its boundary.
    let member = bare.units.iter().find(|u| u.member).unwrap();
    let ring = &member.polygon.0[0].exterior().0;
    let mut dark = 0;
    let mut tried = 0;
    let mut last: Option<(f32, f32)> = None;
    for c in ring {
        let (x, y) = frame.to_pixel(c.x, c.y);
        if last.is_some_and(|(lx, ly)| (x - lx).hypot(y - ly) < 15.0) {
            continue;
        }
        last = Some((x, y));
        if !far_from_origins(&bare, &frame, c.x, c.y, 30.0) {
            continue;
        }
        tried += 1;
        let px = pixel_of(&img, x as u32, y as u32);
        if (px[0] as u32 + px[1] as u32 + px[2] as u32) < 250 {
            dark += 1;
        }
    }
    assert!(
        tried > 3 && dark * 10 >= tried * 8,
        "member outline dark at {dark} of {tried} segment midpoints"
    );
}

fn pixel_of(p: &Pixmap, x: u32, y: u32) -> [u8; 4] {
    pixel(p, x, y)
}

/// The CJK font must be installed (CI installs it): the test fails, never skips, without it.
fn cjk_font() -> std::path::PathBuf {
    let font = default_font().unwrap_or_else(|| {
        panic!(
            "no font found (looked for {}): install the CJK font with `apt-get install {CJK_PACKAGE}`",
            FONT_CANDIDATES.join(", ")
        )
    });
    assert!(
        font_covers(&font, "亦庄北京").unwrap(),
        "the font {} has no Chinese glyphs: install `apt-get install {CJK_PACKAGE}` (or fonts-wqy-zenhei)",
        font.display()
    );
    font
}

#[test]
fn yizhuang_map_renders_chinese_text() {
    let font = cjk_font();
    let g = graph(YIZHUANG, "car");
    let layers = circle_layers(&g, &[city("亦庄", 116.5069, 39.7953)], &[10.0, 20.0]);
    assert_eq!(layers.title, "Commute circles: 亦庄");
    let dir = scratch("png-cjk");
    let path = dir.join("yizhuang.png");
    render_png(&path, &layers, 1600, 1200, None).unwrap();
    let img = decode(&path);
    assert_eq!((img.width(), img.height()), (1600, 1200));

    // Chinese titles: ink in the title bar, and different characters give different pixels
    // (missing glyphs would all be the same box).
    let frame = MapFrame::new(&layers, 1600, 1200);
    let title_ink = |title: &str| -> Vec<bool> {
        let mut l = layers.clone();
        l.title = title.into();
        l.subtitle.clear();
        let p = render_pixmap(&l, 1600, 1200, Some(&font)).unwrap();
        let mut v = Vec::new();
        for y in 0..(frame.title_height * 0.6) as u32 {
            for x in 0..400 {
                v.push(!near(pixel(&p, x, y), TITLE_BACKGROUND, 10));
            }
        }
        v
    };
    let a = title_ink("亦庄");
    let b = title_ink("北京");
    let ink_a = a.iter().filter(|x| **x).count();
    let ink_b = b.iter().filter(|x| **x).count();
    assert!(
        ink_a > 150 && ink_b > 150,
        "title ink: {ink_a} and {ink_b} pixels"
    );
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(
        differ > 100,
        "亦庄 and 北京 render alike ({differ} pixels differ): glyphs are missing"
    );
    // The same on the PNG from the file: the title bar holds ink.
    let ink_png = (0..(frame.title_height * 0.6) as u32)
        .flat_map(|y| (0..800).map(move |x| (x, y)))
        .filter(|&(x, y)| !near(pixel(&img, x, y), TITLE_BACKGROUND, 10))
        .count();
    assert!(ink_png > 500, "title bar ink {ink_png}");
}

#[test]
fn an_unreadable_font_is_an_error_and_sizes_are_exact() {
    let g = graph(MALTA, "car");
    let layers = circle_layers(&g, &[city("Valletta", 14.5146, 35.8989)], &[10.0]);
    let dir = scratch("png-font");
    let err = render_png(
        &dir.join("x.png"),
        &layers,
        800,
        600,
        Some(Path::new("/nonexistent/font.ttf")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/font.ttf"), "{err}");
    assert!(!dir.join("x.png").exists());
    let err = render_png(&dir.join("missing/x.png"), &layers, 800, 600, None).unwrap_err();
    assert!(err.to_string().contains("missing/x.png"), "{err}");
    for (w, h) in [(200, 200), (1201, 803)] {
        let p = render_pixmap(&layers, w, h, None).unwrap();
        assert_eq!((p.width(), p.height()), (w, h));
    }
}
