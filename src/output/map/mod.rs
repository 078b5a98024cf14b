//! The static PNG map (tiny-skia, text with ab_glyph).
//!
//! One picture of a [`MapLayers`]: context roads by class, the commute circles as bands (each
//! pixel coloured by the smallest band of any city that reaches it, outlined per city), units
//! filled by coverage share with member units emphasised, catchments, origins with their snap
//! lines, the edge of the extract, a scale bar with a north arrow, a legend and a title bar.
//!
//! The projection is a local equirectangular one about the centre of the data, scaled by the
//! cosine of the centre latitude, so that shapes are not stretched and the scale bar is exact at
//! the centre latitude. [`MapFrame`] holds the layout and the projection; tests use it to know
//! where a longitude/latitude lands.

mod text;

pub use text::{default_font, font_covers, CJK_PACKAGE, FONT_CANDIDATES};

use super::layers::{MapLayers, PolygonFeature};
use crate::geom::{BBox, EARTH_RADIUS_M};
use crate::graph::RoadClass;
use geo::{BoundingRect, InteriorPoint, MultiPolygon};
use std::path::Path;
use text::{Fonts, TextBox, TextStyle};
use tiny_skia::{
    Color, FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, PixmapPaint, Rect, Stroke,
    StrokeDash, Transform,
};

/// Errors rendering a map.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error("{0}")]
    Font(String),
    #[error("cannot render a {width}×{height} map: {message}")]
    Render {
        width: u32,
        height: u32,
        message: String,
    },
}

/// The map's background (land outside every layer).
pub const BACKGROUND: [u8; 4] = [246, 244, 239, 255];
/// The title bar's background.
pub const TITLE_BACKGROUND: [u8; 4] = [255, 255, 255, 255];
/// Outside the extract's edge: no data there.
pub const OUTSIDE_EXTRACT: [u8; 4] = [226, 224, 219, 255];

/// Opacity of the band fills.
const BAND_ALPHA: u8 = 112;
/// Band colours, from the smallest band (dark) to the largest (light).
const BAND_STOPS: [[u8; 3]; 5] = [
    [52, 40, 132],
    [38, 104, 176],
    [28, 152, 152],
    [92, 190, 96],
    [206, 216, 56],
];
/// City colours (outlines, origins): a categorical palette, cycled.
const CITY_COLOURS: [[u8; 3]; 10] = [
    [214, 39, 40],
    [148, 80, 170],
    [230, 120, 0],
    [140, 86, 75],
    [227, 82, 170],
    [44, 140, 44],
    [120, 120, 40],
    [23, 150, 170],
    [90, 90, 90],
    [190, 60, 100],
];
/// Unit fill by coverage share: from share 0 to share 1.
/// (Neutral, so that the band hues stay readable over it: the band tells the time, the darkness
/// tells the share.)
const SHARE_STOPS: [[u8; 3]; 3] = [[232, 228, 220], [176, 170, 162], [104, 98, 92]];
const SHARE_ALPHA: u8 = 170;
const INK: [u8; 4] = [34, 34, 34, 255];
const MEMBER_INK: [u8; 4] = [25, 25, 60, 255];
const WHITE: [u8; 4] = [255, 255, 255, 255];

fn lerp_stops(stops: &[[u8; 3]], t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f32;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f32;
    let (a, b) = (stops[i], stops[i + 1]);
    [0, 1, 2].map(|k| (a[k] as f32 + (b[k] as f32 - a[k] as f32) * f).round() as u8)
}

/// The fill colour of band `index` (0 = smallest) of `n_bands`: RGB and, in the fourth byte,
/// the opacity the fill is drawn with. A pixel inside the smallest band (and inside no unit, away
/// from roads and outlines) is this colour blended over [`BACKGROUND`].
pub fn band_colour(index: usize, n_bands: usize) -> [u8; 4] {
    let t = if n_bands <= 1 {
        0.0
    } else {
        index.min(n_bands - 1) as f32 / (n_bands - 1) as f32
    };
    let [r, g, b] = lerp_stops(&BAND_STOPS, t);
    [r, g, b, BAND_ALPHA]
}

/// The colour of the `index`-th city (in [`MapLayers::cities`] order): outlines and origins.
pub fn city_colour(index: usize) -> [u8; 4] {
    let [r, g, b] = CITY_COLOURS[index % CITY_COLOURS.len()];
    [r, g, b, 255]
}

/// The fill colour of a unit whose coverage share is `share` (0..1), with its opacity.
pub fn share_colour(share: f64) -> [u8; 4] {
    let [r, g, b] = lerp_stops(&SHARE_STOPS, share as f32);
    [r, g, b, SHARE_ALPHA]
}

/// `src` over `dst` with `src[3]` as opacity (what a fill of `src` over an opaque `dst` gives).
pub fn blend(src: [u8; 4], dst: [u8; 4]) -> [u8; 4] {
    let a = src[3] as f32 / 255.0;
    let mix = |k: usize| (src[k] as f32 * a + dst[k] as f32 * (1.0 - a)).round() as u8;
    [mix(0), mix(1), mix(2), 255]
}

/// The scale bar: a bar from (`x`, `y`) to (`x + length_px`, `y + height_px`) standing for
/// `metres` at the map's centre latitude.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleBar {
    pub x: f32,
    pub y: f32,
    pub length_px: f32,
    pub height_px: f32,
    pub metres: f64,
    /// e.g. "10 km" or "500 m".
    pub label: String,
}

/// Layout and projection of a map of a given size.
#[derive(Clone, Debug)]
pub struct MapFrame {
    pub width: u32,
    pub height: u32,
    /// Size of text and lines relative to a 1600×1200 map.
    pub ui: f32,
    /// The title bar covers y in 0..title_height across the whole width.
    pub title_height: f32,
    /// The legend box: x0, y0, x1, y1.
    pub legend: [f32; 4],
    /// Whether the legend sits beside the data (true) or over a corner of the map with the least
    /// data (false).
    pub legend_beside: bool,
    pub scale_bar: ScaleBar,
    /// The box around the scale bar, its labels and the north arrow: x0, y0, x1, y1.
    pub scale_box: [f32; 4],
    lon0: f64,
    lat0: f64,
    /// Pixels per metre (same east-west at the centre latitude and north-south).
    px_per_m: f64,
    cx: f64,
    cy: f64,
}

const LEGEND_WIDTH: f32 = 300.0;
const PAD: f32 = 16.0;
const SCALE_BOX_H: f32 = 58.0;
const ARROW_W: f32 = 34.0;

impl MapFrame {
    /// Fits the layers' extent (with a margin) below the title bar, beside the legend when that
    /// costs little room, else over the whole map with the legend in its emptiest corner.
    pub fn new(layers: &MapLayers, width: u32, height: u32) -> MapFrame {
        let (w, h) = (width as f32, height as f32);
        let ui = (w / 1600.0).min(h / 1200.0).clamp(0.4, 4.0);
        let title_height = (82.0 * ui).round();
        let pad = PAD * ui;
        let extent = data_extent(layers);
        let lon0 = (extent.min_lon + extent.max_lon) / 2.0;
        let lat0 = (extent.min_lat + extent.max_lat) / 2.0;
        let m_per_deg = EARTH_RADIUS_M.to_radians();
        let ew =
            ((extent.max_lon - extent.min_lon) * m_per_deg * lat0.to_radians().cos()).max(200.0);
        let eh = ((extent.max_lat - extent.min_lat) * m_per_deg).max(200.0);
        let items = legend_items(layers);
        let lw = (LEGEND_WIDTH * ui).min(w * 0.45);
        let lh = legend_height(&items, ui).min(h - title_height - 2.0 * pad);
        // Scale to fit [x0, y0, x1, y1] with a margin.
        let fit = |r: [f32; 4]| -> f64 {
            let aw = ((r[2] - r[0]) - 2.0 * pad).max(10.0) as f64;
            let ah = ((r[3] - r[1]) - 2.0 * pad).max(10.0) as f64;
            (aw / ew).min(ah / eh) * 0.96
        };
        let full = [0.0, title_height, w, h];
        let beside = [0.0, title_height, w - lw - pad, h];
        let (s_full, s_beside) = (fit(full), fit(beside));
        let legend_beside = s_beside >= 0.93 * s_full;
        let area = if legend_beside { beside } else { full };
        let px_per_m = if legend_beside { s_beside } else { s_full };
        let mut frame = MapFrame {
            width,
            height,
            ui,
            title_height,
            legend: [0.0; 4],
            legend_beside,
            scale_bar: ScaleBar {
                x: 0.0,
                y: 0.0,
                length_px: 0.0,
                height_px: 0.0,
                metres: 0.0,
                label: String::new(),
            },
            scale_box: [0.0; 4],
            lon0,
            lat0,
            px_per_m,
            cx: ((area[0] + area[2]) / 2.0) as f64,
            cy: ((area[1] + area[3]) / 2.0) as f64,
        };
        // Corners of the map: top-right, top-left, bottom-right, bottom-left.
        let corner = |k: usize, cw: f32, ch: f32| -> [f32; 4] {
            let x0 = if k.is_multiple_of(2) {
                w - pad - cw
            } else {
                pad
            };
            let y0 = if k < 2 {
                title_height + pad
            } else {
                h - pad - ch
            };
            [x0, y0, x0 + cw, y0 + ch]
        };
        let occupancy = Occupancy::new(&frame, layers);
        let legend_corner;
        if legend_beside {
            frame.legend = [
                w - pad - lw,
                title_height + pad,
                w - pad,
                title_height + pad + lh,
            ];
            legend_corner = None;
        } else {
            let k = (0..4)
                .map(|k| (k, occupancy.cost(corner(k, lw, lh)) + 0.002 * k as f32))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|x| x.0)
                .unwrap_or(0);
            frame.legend = corner(k, lw, lh);
            legend_corner = Some(k);
        }
        // The scale bar: in the legend's column below it when there is room, else in the
        // emptier bottom corner the legend does not use.
        let box_h = SCALE_BOX_H * ui;
        let column_room = legend_beside && frame.legend[3] + pad + box_h <= h - pad;
        let max_box_w = if column_room {
            lw
        } else {
            (w * 0.3).max(120.0 * ui)
        };
        let max_bar = max_box_w - 2.0 * pad - ARROW_W * ui - 10.0 * ui;
        let metres = nice_metres(max_bar as f64 / px_per_m);
        let length_px = (metres * px_per_m) as f32;
        let box_w = length_px + 2.0 * pad + ARROW_W * ui + 10.0 * ui;
        frame.scale_box = if column_room {
            [w - pad - lw, h - pad - box_h, w - pad - lw + box_w, h - pad]
        } else {
            [2usize, 3]
                .into_iter()
                .filter(|k| Some(*k) != legend_corner)
                .map(|k| corner(k, box_w, box_h))
                .map(|r| (occupancy.cost(r), r))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|x| x.1)
                .unwrap_or_else(|| corner(3, box_w, box_h))
        };
        let b = frame.scale_box;
        frame.scale_bar = ScaleBar {
            x: b[0] + pad,
            y: b[3] - 18.0 * ui,
            length_px,
            height_px: (7.0 * ui).max(3.0),
            metres,
            label: if metres >= 1000.0 {
                format!("{} km", metres / 1000.0)
            } else {
                format!("{metres} m")
            },
        };
        frame
    }

    /// Where a longitude/latitude lands, in pixels (x right, y down; may be off the map).
    pub fn to_pixel(&self, lon: f64, lat: f64) -> (f32, f32) {
        let m_per_deg = EARTH_RADIUS_M.to_radians();
        let x = (lon - self.lon0) * m_per_deg * self.lat0.to_radians().cos();
        let y = (lat - self.lat0) * m_per_deg;
        (
            (self.cx + x * self.px_per_m) as f32,
            (self.cy - y * self.px_per_m) as f32,
        )
    }

    /// The longitude/latitude at a pixel.
    pub fn to_lon_lat(&self, x: f32, y: f32) -> (f64, f64) {
        let m_per_deg = EARTH_RADIUS_M.to_radians();
        let dx = (x as f64 - self.cx) / self.px_per_m;
        let dy = (self.cy - y as f64) / self.px_per_m;
        (
            self.lon0 + dx / (m_per_deg * self.lat0.to_radians().cos()),
            self.lat0 + dy / m_per_deg,
        )
    }

    /// Metres on the ground per pixel at the centre latitude.
    pub fn metres_per_pixel(&self) -> f64 {
        1.0 / self.px_per_m
    }

    /// Line widths relative to a city-scale map: thinner on small-scale maps, where the
    /// network and the units are dense.
    fn zoom(&self) -> f32 {
        ((40.0 / self.metres_per_pixel()).powf(0.25) as f32).clamp(0.45, 1.15)
    }

    /// How much context (roads, unit outlines) fades towards the background on small-scale maps.
    fn fade(&self) -> f32 {
        (((self.metres_per_pixel() / 150.0).log10() / 1.5) as f32).clamp(0.0, 0.7)
    }

    /// The centre of the projection (lon, lat).
    pub fn centre(&self) -> (f64, f64) {
        (self.lon0, self.lat0)
    }
}

/// The largest 1-2-5 × 10ⁿ metres not above `max` (at least 1 m).
fn nice_metres(max: f64) -> f64 {
    let mut best = 1.0;
    for e in 0..8 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(e);
            if v <= max {
                best = v;
            }
        }
    }
    best
}

/// What the map must show: the layers' extent, else the extract, else a point.
fn data_extent(layers: &MapLayers) -> BBox {
    let mut e = layers.extent;
    if e.is_empty() || !e.min_lon.is_finite() {
        e = layers.extract_edge.unwrap_or(BBox::EMPTY);
    }
    if e.is_empty() || !e.min_lon.is_finite() {
        e = BBox {
            min_lon: -0.01,
            min_lat: -0.01,
            max_lon: 0.01,
            max_lat: 0.01,
        };
    }
    e
}

/// A coarse raster of where the data is, to put the legend and scale bar where they hide least.
struct Occupancy {
    pix: Option<Pixmap>,
    factor: f32,
    origins: Vec<(f32, f32)>,
}

impl Occupancy {
    fn new(frame: &MapFrame, layers: &MapLayers) -> Occupancy {
        let factor = 8.0;
        let pix = Pixmap::new(
            ((frame.width as f32 / factor).ceil() as u32).max(1),
            ((frame.height as f32 / factor).ceil() as u32).max(1),
        );
        let origins = layers
            .origins
            .iter()
            .map(|o| frame.to_pixel(o.lon, o.lat))
            .collect();
        let mut occ = Occupancy {
            pix,
            factor,
            origins,
        };
        if let Some(pix) = occ.pix.as_mut() {
            let t = Transform::from_scale(1.0 / factor, 1.0 / factor);
            let mut paint = Paint {
                anti_alias: false,
                ..Default::default()
            };
            for f in layers.circles.iter().chain(&layers.catchments) {
                paint.set_color_rgba8(0, 0, 0, 255);
                if let Some(p) = polygon_path(frame, &f.polygon, factor) {
                    pix.fill_path(&p, &paint, FillRule::EvenOdd, t, None);
                }
            }
            for u in layers.units.iter().filter(|u| u.share > 0.0) {
                paint.set_color_rgba8(0, 0, 0, (255.0 * u.share.clamp(0.2, 1.0)) as u8);
                if let Some(p) = polygon_path(frame, &u.polygon, factor) {
                    pix.fill_path(&p, &paint, FillRule::EvenOdd, t, None);
                }
            }
        }
        occ
    }

    /// Share of the box [x0, y0, x1, y1] covered by data, plus a penalty per origin inside.
    fn cost(&self, r: [f32; 4]) -> f32 {
        let mut cost = 0.0;
        if let Some(pix) = &self.pix {
            let (x0, y0) = (
                (r[0] / self.factor).max(0.0) as u32,
                (r[1] / self.factor).max(0.0) as u32,
            );
            let (x1, y1) = (
                ((r[2] / self.factor) as u32).min(pix.width()),
                ((r[3] / self.factor) as u32).min(pix.height()),
            );
            let (mut sum, mut n) = (0f32, 0f32);
            for y in y0..y1 {
                for x in x0..x1 {
                    sum += pix
                        .pixel(x, y)
                        .map(|p| p.alpha() as f32 / 255.0)
                        .unwrap_or(0.0);
                    n += 1.0;
                }
            }
            if n > 0.0 {
                cost += sum / n;
            }
        }
        let inside = self
            .origins
            .iter()
            .filter(|(x, y)| *x >= r[0] && *x <= r[2] && *y >= r[1] && *y <= r[3])
            .count();
        cost + 0.5 * inside as f32
    }
}

// ---------------------------------------------------------------------------------------------
// Paths.

/// Appends a ring or line of lon/lat points as pixels, dropping points closer than `step`
/// pixels to the last one kept. Returns whether anything was added.
fn push_coords(
    pb: &mut PathBuilder,
    frame: &MapFrame,
    coords: impl Iterator<Item = (f64, f64)>,
    close: bool,
    step: f32,
) -> bool {
    let mut last: Option<(f32, f32)> = None;
    let mut pending: Option<(f32, f32)> = None;
    let mut n = 0;
    for (lon, lat) in coords {
        let p = frame.to_pixel(lon, lat);
        match last {
            None => {
                pb.move_to(p.0, p.1);
                last = Some(p);
                n = 1;
            }
            Some(l) => {
                if (p.0 - l.0).abs() + (p.1 - l.1).abs() >= step {
                    pb.line_to(p.0, p.1);
                    last = Some(p);
                    pending = None;
                    n += 1;
                } else {
                    pending = Some(p);
                }
            }
        }
    }
    if let Some(p) = pending {
        pb.line_to(p.0, p.1);
        n += 1;
    }
    if close && n > 0 {
        pb.close();
    }
    n > 1
}

/// A multipolygon as one path (holes included; fill with even-odd). `scale` is the factor the
/// path will be shrunk by when drawn (coarser simplification).
fn polygon_path(frame: &MapFrame, mp: &MultiPolygon<f64>, scale: f32) -> Option<tiny_skia::Path> {
    let r = mp.bounding_rect()?;
    let (x0, y0) = frame.to_pixel(r.min().x, r.max().y);
    let (x1, y1) = frame.to_pixel(r.max().x, r.min().y);
    if x1 < 0.0 || y1 < 0.0 || x0 > frame.width as f32 || y0 > frame.height as f32 {
        return None;
    }
    let mut pb = PathBuilder::new();
    for p in &mp.0 {
        // Parts smaller than a pixel do not show.
        if let Some(r) = p.exterior().bounding_rect() {
            let (x0, y0) = frame.to_pixel(r.min().x, r.max().y);
            let (x1, y1) = frame.to_pixel(r.max().x, r.min().y);
            if (x1 - x0).max(y1 - y0) < 0.8 * scale {
                continue;
            }
        }
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            push_coords(
                &mut pb,
                frame,
                ring.0.iter().map(|c| (c.x, c.y)),
                true,
                0.6 * scale,
            );
        }
    }
    pb.finish()
}

fn paint_of(c: [u8; 4]) -> Paint<'static> {
    let mut p = Paint {
        anti_alias: true,
        ..Default::default()
    };
    p.set_color_rgba8(c[0], c[1], c[2], c[3]);
    p
}

fn stroke_of(width: f32, dash: Option<[f32; 2]>) -> Stroke {
    Stroke {
        width,
        line_cap: LineCap::Round,
        // Round joins cost many edges; on thin lines they look the same as bevels.
        line_join: if width < 2.5 {
            LineJoin::Bevel
        } else {
            LineJoin::Round
        },
        dash: dash.and_then(|d| StrokeDash::new(d.to_vec(), 0.0)),
        ..Default::default()
    }
}

fn rect_path(r: [f32; 4]) -> Option<tiny_skia::Path> {
    Rect::from_ltrb(r[0], r[1], r[2], r[3]).map(PathBuilder::from_rect)
}

fn rounded_rect(r: [f32; 4], radius: f32) -> Option<tiny_skia::Path> {
    let [x0, y0, x1, y1] = r;
    let k = radius.min((x1 - x0) / 2.0).min((y1 - y0) / 2.0).max(0.0);
    let mut pb = PathBuilder::new();
    pb.move_to(x0 + k, y0);
    pb.line_to(x1 - k, y0);
    pb.quad_to(x1, y0, x1, y0 + k);
    pb.line_to(x1, y1 - k);
    pb.quad_to(x1, y1, x1 - k, y1);
    pb.line_to(x0 + k, y1);
    pb.quad_to(x0, y1, x0, y1 - k);
    pb.line_to(x0, y0 + k);
    pb.quad_to(x0, y0, x0 + k, y0);
    pb.close();
    pb.finish()
}

fn panel(pix: &mut Pixmap, r: [f32; 4], ui: f32) {
    if let Some(p) = rounded_rect(r, 6.0 * ui) {
        pix.fill_path(
            &p,
            &paint_of([255, 255, 255, 228]),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
        pix.stroke_path(
            &p,
            &paint_of([170, 170, 165, 255]),
            &stroke_of(1.0 * ui.max(0.6), None),
            Transform::identity(),
            None,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Roads.

/// Width (pixels at ui 1) and colour of a road class; major classes are drawn last.
fn road_style(c: RoadClass) -> (f32, [u8; 4]) {
    use RoadClass::*;
    match c {
        Motorway => (2.8, [196, 104, 64, 255]),
        MotorwayLink => (1.6, [196, 104, 64, 255]),
        Trunk => (2.4, [214, 140, 84, 255]),
        TrunkLink => (1.4, [214, 140, 84, 255]),
        Primary => (1.9, [150, 146, 138, 255]),
        PrimaryLink => (1.2, [150, 146, 138, 255]),
        Secondary => (1.5, [165, 162, 155, 255]),
        SecondaryLink => (1.0, [165, 162, 155, 255]),
        Tertiary => (1.15, [180, 177, 170, 255]),
        TertiaryLink => (0.9, [180, 177, 170, 255]),
        Unclassified | Residential | LivingStreet | Road => (0.65, [196, 193, 187, 255]),
        Ferry => (1.0, [100, 140, 200, 255]),
        _ => (0.45, [206, 203, 197, 255]),
    }
}

/// Drawing rank of a class: higher is drawn later (on top).
fn road_rank(c: RoadClass) -> u8 {
    use RoadClass::*;
    match c {
        Motorway => 9,
        Trunk => 8,
        MotorwayLink | TrunkLink => 7,
        Primary => 6,
        PrimaryLink | Secondary => 5,
        SecondaryLink | Tertiary => 4,
        TertiaryLink => 3,
        Unclassified | Residential | LivingStreet | Road => 2,
        Ferry => 2,
        _ => 1,
    }
}

fn draw_roads(pix: &mut Pixmap, frame: &MapFrame, layers: &MapLayers) {
    let (zoom, fade) = (frame.zoom(), frame.fade());
    let mut classes: Vec<RoadClass> = RoadClass::ALL.to_vec();
    classes.sort_by_key(|c| road_rank(*c));
    let (w, h) = (frame.width as f32, frame.height as f32);
    for class in classes {
        let mut pb = PathBuilder::new();
        let mut any = false;
        for r in layers.roads.iter().filter(|r| r.class == class) {
            let b = BBox::of_lon_lat(&r.coords);
            let (x0, y0) = frame.to_pixel(b.min_lon, b.max_lat);
            let (x1, y1) = frame.to_pixel(b.max_lon, b.min_lat);
            if x1 < 0.0 || y1 < frame.title_height || x0 > w || y0 > h {
                continue;
            }
            any |= push_coords(
                &mut pb,
                frame,
                r.coords.iter().map(|c| (c[0], c[1])),
                false,
                0.8,
            );
        }
        let Some(path) = pb.finish().filter(|_| any) else {
            continue;
        };
        let (width, colour) = road_style(class);
        let colour = blend(
            [
                colour[0],
                colour[1],
                colour[2],
                (255.0 * (1.0 - fade)) as u8,
            ],
            BACKGROUND,
        );
        let dash = (class == RoadClass::Ferry).then_some([4.0 * frame.ui, 3.0 * frame.ui]);
        pix.stroke_path(
            &path,
            &paint_of(colour),
            &stroke_of((width * frame.ui * zoom).max(0.35), dash),
            Transform::identity(),
            None,
        );
    }
}

trait LonLatBox {
    fn of_lon_lat(coords: &[[f64; 2]]) -> BBox;
}

impl LonLatBox for BBox {
    fn of_lon_lat(coords: &[[f64; 2]]) -> BBox {
        let mut b = BBox::EMPTY;
        for c in coords {
            b.extend(c[0], c[1]);
        }
        b
    }
}

// ---------------------------------------------------------------------------------------------
// Polygons.

fn band_index(layers: &MapLayers, minutes: f64) -> usize {
    layers
        .minutes
        .iter()
        .position(|m| *m == minutes)
        .unwrap_or(0)
}

fn city_index(cities: &[String], city: &str) -> usize {
    cities.iter().position(|c| c == city).unwrap_or(0)
}

/// Band fills: on one layer, largest band first, so each pixel gets the colour of the smallest
/// band of any city; the layer is composited with the band opacity.
fn draw_band_fills(pix: &mut Pixmap, frame: &MapFrame, layers: &MapLayers) -> Result<(), MapError> {
    if layers.circles.is_empty() {
        return Ok(());
    }
    let mut layer = Pixmap::new(frame.width, frame.height)
        .ok_or_else(|| render_error(frame, "cannot allocate a layer"))?;
    let n = layers.minutes.len();
    for k in (0..n).rev() {
        let c = band_colour(k, n);
        let paint = paint_of([c[0], c[1], c[2], 255]);
        for f in layers
            .circles
            .iter()
            .filter(|f| band_index(layers, f.minutes) == k)
        {
            if let Some(p) = polygon_path(frame, &f.polygon, 1.0) {
                layer.fill_path(&p, &paint, FillRule::EvenOdd, Transform::identity(), None);
            }
        }
    }
    let paint = PixmapPaint {
        opacity: BAND_ALPHA as f32 / 255.0,
        ..Default::default()
    };
    pix.draw_pixmap(0, 0, layer.as_ref(), &paint, Transform::identity(), None);
    Ok(())
}

fn render_error(frame: &MapFrame, message: &str) -> MapError {
    MapError::Render {
        width: frame.width,
        height: frame.height,
        message: message.into(),
    }
}

fn fill_features<'a>(
    pix: &mut Pixmap,
    frame: &MapFrame,
    features: impl Iterator<Item = (&'a PolygonFeature, [u8; 4])>,
) {
    for (f, c) in features {
        if let Some(p) = polygon_path(frame, &f.polygon, 1.0) {
            pix.fill_path(
                &p,
                &paint_of(c),
                FillRule::EvenOdd,
                Transform::identity(),
                None,
            );
        }
    }
}

fn stroke_features<'a>(
    pix: &mut Pixmap,
    frame: &MapFrame,
    features: impl Iterator<Item = (&'a PolygonFeature, [u8; 4])>,
    stroke: &Stroke,
) {
    for (f, c) in features {
        if let Some(p) = polygon_path(frame, &f.polygon, 1.0) {
            pix.stroke_path(&p, &paint_of(c), stroke, Transform::identity(), None);
        }
    }
}

fn draw_extract_edge(pix: &mut Pixmap, frame: &MapFrame, layers: &MapLayers, outline: bool) {
    let Some(e) = layers.extract_edge.filter(|e| !e.is_empty()) else {
        return;
    };
    let (x0, y0) = frame.to_pixel(e.min_lon, e.max_lat);
    let (x1, y1) = frame.to_pixel(e.max_lon, e.min_lat);
    let ui = frame.ui;
    if outline {
        if let Some(p) = rect_path([x0, y0, x1, y1]) {
            pix.stroke_path(
                &p,
                &paint_of([120, 118, 112, 255]),
                &stroke_of(1.3 * ui, Some([7.0 * ui, 4.0 * ui])),
                Transform::identity(),
                None,
            );
        }
        return;
    }
    // Shade what lies outside the extract.
    let (w, h) = (frame.width as f32, frame.height as f32);
    let mut pb = PathBuilder::new();
    pb.push_rect(Rect::from_ltrb(-1.0, -1.0, w + 1.0, h + 1.0).expect("canvas rect"));
    if let Some(r) = Rect::from_ltrb(x0.max(-2.0), y0.max(-2.0), x1.min(w + 2.0), y1.min(h + 2.0)) {
        pb.push_rect(r);
    }
    if let Some(p) = pb.finish() {
        pix.fill_path(
            &p,
            &paint_of(OUTSIDE_EXTRACT),
            FillRule::EvenOdd,
            Transform::identity(),
            None,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Origins and labels.

/// Boxes that labels must not cover.
struct Placed(Vec<TextBox>);

impl Placed {
    fn free(&self, b: TextBox, frame: &MapFrame) -> bool {
        b[0] >= 2.0
            && b[1] >= frame.title_height + 2.0
            && b[2] <= frame.width as f32 - 2.0
            && b[3] <= frame.height as f32 - 2.0
            && !self
                .0
                .iter()
                .any(|o| b[0] < o[2] && b[2] > o[0] && b[1] < o[3] && b[3] > o[1])
    }
}

fn draw_origins(pix: &mut Pixmap, frame: &MapFrame, layers: &MapLayers, cities: &[String]) {
    let ui = frame.ui;
    let snap_paint = paint_of([40, 40, 40, 220]);
    for o in &layers.origins {
        let (x, y) = frame.to_pixel(o.lon, o.lat);
        let (sx, sy) = frame.to_pixel(o.snapped_lon, o.snapped_lat);
        if (x - sx).hypot(y - sy) > 1.0 {
            let mut pb = PathBuilder::new();
            pb.move_to(x, y);
            pb.line_to(sx, sy);
            if let Some(p) = pb.finish() {
                pix.stroke_path(
                    &p,
                    &paint_of([255, 255, 255, 200]),
                    &stroke_of(3.2 * ui, None),
                    Transform::identity(),
                    None,
                );
                pix.stroke_path(
                    &p,
                    &snap_paint,
                    &stroke_of(1.4 * ui, Some([4.0 * ui, 3.0 * ui])),
                    Transform::identity(),
                    None,
                );
            }
        }
        if let Some(p) = PathBuilder::from_circle(sx, sy, 2.6 * ui) {
            pix.fill_path(
                &p,
                &snap_paint,
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }
    for o in &layers.origins {
        let (x, y) = frame.to_pixel(o.lon, o.lat);
        let c = city_colour(city_index(cities, &o.city));
        draw_marker(pix, x, y, ui, c);
    }
}

fn draw_marker(pix: &mut Pixmap, x: f32, y: f32, ui: f32, c: [u8; 4]) {
    if let Some(p) = PathBuilder::from_circle(x, y, 6.0 * ui) {
        pix.fill_path(
            &p,
            &paint_of(c),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
        pix.stroke_path(
            &p,
            &paint_of(WHITE),
            &stroke_of(2.2 * ui, None),
            Transform::identity(),
            None,
        );
        if let Some(q) = PathBuilder::from_circle(x, y, 7.3 * ui) {
            pix.stroke_path(
                &q,
                &paint_of([30, 30, 30, 200]),
                &stroke_of(0.9 * ui, None),
                Transform::identity(),
                None,
            );
        }
    }
}

fn draw_labels(
    pix: &mut Pixmap,
    frame: &MapFrame,
    layers: &MapLayers,
    fonts: &Fonts,
    placed: &mut Placed,
) {
    if !fonts.available() {
        return;
    }
    let ui = frame.ui;
    // Origins first: one label per distinct text.
    let style = TextStyle {
        size: 17.0 * ui,
        colour: INK,
        bold: true,
        halo: Some((WHITE, 2.6 * ui)),
    };
    let mut seen: Vec<&str> = Vec::new();
    let markers: Vec<TextBox> = layers
        .origins
        .iter()
        .map(|o| {
            let (x, y) = frame.to_pixel(o.lon, o.lat);
            [x - 8.0 * ui, y - 8.0 * ui, x + 8.0 * ui, y + 8.0 * ui]
        })
        .collect();
    placed.0.extend(markers);
    for o in &layers.origins {
        let text = if o.label.is_empty() {
            o.city.as_str()
        } else {
            o.label.as_str()
        };
        if text.is_empty() || seen.contains(&text) {
            continue;
        }
        seen.push(text);
        let (x, y) = frame.to_pixel(o.lon, o.lat);
        let tw = fonts.measure(text, style.size, style.bold);
        let off = 11.0 * ui;
        let candidates = [
            (x + off, y + style.size * 0.35),
            (x - off - tw, y + style.size * 0.35),
            (x - tw / 2.0, y - off),
            (x - tw / 2.0, y + off + style.size * 0.8),
        ];
        for (lx, ly) in candidates {
            let b = fonts.bounds(text, lx, ly, &style);
            if placed.free(b, frame) {
                fonts.draw(pix, text, lx, ly, &style);
                placed.0.push(b);
                break;
            }
        }
    }
    // Member units, where their name fits inside them.
    let style = TextStyle {
        size: 12.5 * ui,
        colour: [50, 50, 70, 255],
        bold: false,
        halo: Some(([255, 255, 255, 210], 2.0 * ui)),
    };
    let mut members: Vec<&PolygonFeature> = layers
        .units
        .iter()
        .filter(|u| u.member && !u.label.is_empty())
        .collect();
    members.sort_by(|a, b| b.share.total_cmp(&a.share));
    for u in members {
        let (Some(r), Some(ip)) = (u.polygon.bounding_rect(), u.polygon.interior_point()) else {
            continue;
        };
        let (x0, y0) = frame.to_pixel(r.min().x, r.max().y);
        let (x1, y1) = frame.to_pixel(r.max().x, r.min().y);
        let tw = fonts.measure(&u.label, style.size, false);
        if tw > (x1 - x0) * 0.9 || style.size * 1.6 > y1 - y0 {
            continue;
        }
        let (x, y) = frame.to_pixel(ip.x(), ip.y());
        let (lx, ly) = (x - tw / 2.0, y + style.size * 0.35);
        let b = fonts.bounds(&u.label, lx, ly, &style);
        if placed.free(b, frame) {
            fonts.draw(pix, &u.label, lx, ly, &style);
            placed.0.push(b);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Furniture: title bar, scale bar, north arrow, legend.

fn draw_title(pix: &mut Pixmap, frame: &MapFrame, layers: &MapLayers, fonts: &Fonts) {
    let (w, ui) = (frame.width as f32, frame.ui);
    if let Some(p) = rect_path([0.0, 0.0, w, frame.title_height]) {
        pix.fill_path(
            &p,
            &paint_of(TITLE_BACKGROUND),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
    if let Some(p) = rect_path([0.0, frame.title_height - 1.5 * ui, w, frame.title_height]) {
        pix.fill_path(
            &p,
            &paint_of([190, 188, 182, 255]),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
    if !fonts.available() {
        return;
    }
    let x = PAD * ui * 1.25;
    let attribution = "Roads © OpenStreetMap contributors";
    let small = TextStyle::new(13.0 * ui, [110, 110, 110, 255], false);
    let aw = fonts.measure(attribution, small.size, false);
    let title = TextStyle::new(30.0 * ui, INK, true);
    let sub = TextStyle::new(17.5 * ui, [85, 85, 85, 255], false);
    let t = fonts.fit(&layers.title, title.size, true, w - 2.0 * x);
    fonts.draw(pix, &t, x, 38.0 * ui, &title);
    let s = fonts.fit(&layers.subtitle, sub.size, false, w - 3.0 * x - aw);
    fonts.draw(pix, &s, x, 68.0 * ui, &sub);
    fonts.draw(pix, attribution, w - x - aw, 68.0 * ui, &small);
}

fn draw_scale_bar(pix: &mut Pixmap, frame: &MapFrame, fonts: &Fonts) {
    let ui = frame.ui;
    panel(pix, frame.scale_box, ui);
    let sb = &frame.scale_bar;
    let id = Transform::identity();
    // Four segments, alternately dark and white, in one dark outline.
    for k in 0..4 {
        let x0 = sb.x + sb.length_px * k as f32 / 4.0;
        let x1 = sb.x + sb.length_px * (k + 1) as f32 / 4.0;
        let c = if k % 2 == 0 { [40, 40, 40, 255] } else { WHITE };
        if let Some(p) = rect_path([x0, sb.y, x1, sb.y + sb.height_px]) {
            pix.fill_path(&p, &paint_of(c), FillRule::Winding, id, None);
        }
    }
    if let Some(p) = rect_path([sb.x, sb.y, sb.x + sb.length_px, sb.y + sb.height_px]) {
        pix.stroke_path(
            &p,
            &paint_of([40, 40, 40, 255]),
            &stroke_of(1.2 * ui, None),
            id,
            None,
        );
    }
    let style = TextStyle::new(14.0 * ui, INK, false);
    let ty = sb.y - 6.0 * ui;
    if fonts.available() {
        let zw = fonts.measure("0", style.size, false);
        fonts.draw(pix, "0", sb.x - zw / 2.0, ty, &style);
        let lw = fonts.measure(&sb.label, style.size, false);
        let lx = (sb.x + sb.length_px - lw / 2.0)
            .min(frame.scale_box[2] - ARROW_W * ui - 6.0 * ui - lw)
            .max(sb.x + zw);
        fonts.draw(pix, &sb.label, lx, ty, &style);
    }
    // North arrow.
    let ax = frame.scale_box[2] - PAD * ui - ARROW_W * ui / 2.0 + 4.0 * ui;
    let (top, bottom) = (
        frame.scale_box[1] + 10.0 * ui,
        frame.scale_box[3] - 10.0 * ui,
    );
    let mid = bottom - (bottom - top) * 0.3;
    let half = 7.0 * ui;
    let mut pb = PathBuilder::new();
    pb.move_to(ax, top + 14.0 * ui);
    pb.line_to(ax + half, bottom);
    pb.line_to(ax, mid);
    pb.line_to(ax - half, bottom);
    pb.close();
    if let Some(p) = pb.finish() {
        pix.fill_path(
            &p,
            &paint_of([40, 40, 40, 255]),
            FillRule::Winding,
            id,
            None,
        );
    }
    if fonts.available() {
        let ns = TextStyle::new(13.0 * ui, INK, true);
        let nw = fonts.measure("N", ns.size, true);
        fonts.draw(pix, "N", ax - nw / 2.0, top + 11.0 * ui, &ns);
    }
}

/// One row of the legend.
enum LegendItem {
    Header(String),
    Band { colour: [u8; 4], text: String },
    City { colour: [u8; 4], text: String },
    ShareScale,
    Member,
    UnitOutline,
    Catchment,
    Origin,
    ExtractEdge,
    Note(String),
}

impl LegendItem {
    fn height(&self) -> f32 {
        match self {
            LegendItem::Header(_) => 30.0,
            LegendItem::ShareScale => 40.0,
            LegendItem::Note(_) => 19.0,
            _ => 23.0,
        }
    }
}

const MAX_CITIES_IN_LEGEND: usize = 8;

fn legend_items(layers: &MapLayers) -> Vec<LegendItem> {
    let mut v = Vec::new();
    let cities = layers.cities();
    let n = layers.minutes.len();
    if n > 0 {
        v.push(LegendItem::Header(if cities.len() > 1 {
            "Travel time (nearest city)".into()
        } else {
            "Travel time".into()
        }));
        for (k, m) in layers.minutes.iter().enumerate() {
            let text = if k == 0 {
                format!("≤ {m} min")
            } else {
                format!("{}–{m} min", layers.minutes[k - 1])
            };
            v.push(LegendItem::Band {
                colour: band_colour(k, n),
                text,
            });
        }
    }
    if !cities.is_empty() {
        v.push(LegendItem::Header(if cities.len() > 1 {
            "Cities (outlines)".into()
        } else {
            "City (outlines)".into()
        }));
        for (k, c) in cities.iter().enumerate().take(MAX_CITIES_IN_LEGEND) {
            v.push(LegendItem::City {
                colour: city_colour(k),
                text: c.clone(),
            });
        }
        if cities.len() > MAX_CITIES_IN_LEGEND {
            v.push(LegendItem::Note(format!(
                "… and {} more",
                cities.len() - MAX_CITIES_IN_LEGEND
            )));
        }
    }
    if !layers.units.is_empty() {
        let top = layers
            .minutes
            .last()
            .map(|m| format!(" in {m} min"))
            .unwrap_or_default();
        v.push(LegendItem::Header(format!("Unit area reached{top}")));
        v.push(LegendItem::ShareScale);
        if layers.units.iter().any(|u| u.member) {
            v.push(LegendItem::Member);
        }
        v.push(LegendItem::UnitOutline);
    }
    v.push(LegendItem::Header("Also shown".into()));
    if !layers.catchments.is_empty() {
        v.push(LegendItem::Catchment);
    }
    if !layers.origins.is_empty() {
        v.push(LegendItem::Origin);
    }
    if layers.extract_edge.is_some() {
        v.push(LegendItem::ExtractEdge);
    }
    if matches!(v.last(), Some(LegendItem::Header(_))) {
        v.pop();
    }
    for note in &layers.notes {
        v.push(LegendItem::Note(note.clone()));
    }
    v
}

fn legend_height(items: &[LegendItem], ui: f32) -> f32 {
    (items.iter().map(|i| i.height()).sum::<f32>() + 22.0) * ui
}

fn draw_legend(pix: &mut Pixmap, frame: &MapFrame, layers: &MapLayers, fonts: &Fonts) {
    let ui = frame.ui;
    let r = frame.legend;
    panel(pix, r, ui);
    let id = Transform::identity();
    let x = r[0] + 14.0 * ui;
    let tx = x + 40.0 * ui;
    let max_w = r[2] - tx - 10.0 * ui;
    let body = TextStyle::new(15.0 * ui, INK, false);
    let head = TextStyle::new(15.5 * ui, INK, true);
    let note = TextStyle::new(13.0 * ui, [90, 90, 90, 255], false);
    let mut y = r[1] + 6.0 * ui;
    let text = |pix: &mut Pixmap, s: &str, x: f32, y: f32, st: &TextStyle, max_w: f32| {
        if fonts.available() {
            let s = fonts.fit(s, st.size, st.bold, max_w);
            fonts.draw(pix, &s, x, y, st);
        }
    };
    for item in legend_items(layers) {
        let h = item.height() * ui;
        if y + h > r[3] + 1.0 {
            break;
        }
        let base = y + h * 0.5 + body.size * 0.35;
        let mid = y + h * 0.5;
        let swatch = [x, mid - 7.0 * ui, x + 30.0 * ui, mid + 7.0 * ui];
        match &item {
            LegendItem::Header(s) => text(pix, s, x, y + h - 8.0 * ui, &head, r[2] - x - 10.0 * ui),
            LegendItem::Band { colour, text: s } => {
                if let Some(p) = rect_path(swatch) {
                    pix.fill_path(
                        &p,
                        &paint_of(blend(*colour, BACKGROUND)),
                        FillRule::Winding,
                        id,
                        None,
                    );
                    pix.stroke_path(
                        &p,
                        &paint_of([120, 120, 120, 255]),
                        &stroke_of(0.8 * ui, None),
                        id,
                        None,
                    );
                }
                text(pix, s, tx, base, &body, max_w);
            }
            LegendItem::City { colour, text: s } => {
                line_swatch(pix, swatch, *colour, 2.4 * ui, None);
                text(pix, s, tx, base, &body, max_w);
            }
            LegendItem::ShareScale => {
                let (x0, x1) = (x, r[2] - 24.0 * ui);
                let steps = 40;
                for k in 0..steps {
                    let s = (k as f64 + 0.5) / steps as f64;
                    let c = blend(share_colour(s), BACKGROUND);
                    let xa = x0 + (x1 - x0) * k as f32 / steps as f32;
                    let xb = x0 + (x1 - x0) * (k + 1) as f32 / steps as f32 + 0.5;
                    if let Some(p) = rect_path([xa, y + 2.0 * ui, xb, y + 16.0 * ui]) {
                        pix.fill_path(&p, &paint_of(c), FillRule::Winding, id, None);
                    }
                }
                if let Some(p) = rect_path([x0, y + 2.0 * ui, x1, y + 16.0 * ui]) {
                    pix.stroke_path(
                        &p,
                        &paint_of([120, 120, 120, 255]),
                        &stroke_of(0.8 * ui, None),
                        id,
                        None,
                    );
                }
                if fonts.available() {
                    for (f, s) in [(0.0, "0 %"), (0.5, "50 %"), (1.0, "100 %")] {
                        let tw = fonts.measure(s, note.size, false);
                        let cx = x0 + (x1 - x0) * f;
                        fonts.draw(
                            pix,
                            s,
                            (cx - tw / 2.0).clamp(x0, x1 + 12.0 * ui - tw),
                            y + 33.0 * ui,
                            &note,
                        );
                    }
                }
            }
            LegendItem::Member => {
                if let Some(p) = rect_path(swatch) {
                    pix.fill_path(
                        &p,
                        &paint_of(blend(share_colour(0.8), BACKGROUND)),
                        FillRule::Winding,
                        id,
                        None,
                    );
                    pix.stroke_path(
                        &p,
                        &paint_of(MEMBER_INK),
                        &stroke_of(2.6 * ui, None),
                        id,
                        None,
                    );
                }
                text(pix, "metropolitan area member", tx, base, &body, max_w);
            }
            LegendItem::UnitOutline => {
                if let Some(p) = rect_path(swatch) {
                    pix.stroke_path(
                        &p,
                        &paint_of([125, 125, 125, 255]),
                        &stroke_of(0.9 * ui, None),
                        id,
                        None,
                    );
                }
                text(pix, "unit boundary", tx, base, &body, max_w);
            }
            LegendItem::Catchment => {
                line_swatch(
                    pix,
                    swatch,
                    city_colour(0),
                    2.0 * ui,
                    Some([5.0 * ui, 3.0 * ui]),
                );
                text(pix, "catchment (city colour)", tx, base, &body, max_w);
            }
            LegendItem::Origin => {
                let (mx, my) = (x + 15.0 * ui, mid);
                let mut pb = PathBuilder::new();
                pb.move_to(x, my + 5.0 * ui);
                pb.line_to(mx, my);
                if let Some(p) = pb.finish() {
                    pix.stroke_path(
                        &p,
                        &paint_of([40, 40, 40, 220]),
                        &stroke_of(1.4 * ui, Some([4.0 * ui, 3.0 * ui])),
                        id,
                        None,
                    );
                }
                draw_marker(pix, mx, my, ui * 0.85, city_colour(0));
                text(pix, "origin, snap to road", tx, base, &body, max_w);
            }
            LegendItem::ExtractEdge => {
                line_swatch(
                    pix,
                    swatch,
                    [120, 118, 112, 255],
                    1.3 * ui,
                    Some([7.0 * ui, 4.0 * ui]),
                );
                text(pix, "edge of the OSM extract", tx, base, &body, max_w);
            }
            LegendItem::Note(s) => text(pix, s, x, y + h - 5.0 * ui, &note, r[2] - x - 10.0 * ui),
        }
        y += h;
    }
}

fn line_swatch(pix: &mut Pixmap, r: [f32; 4], c: [u8; 4], width: f32, dash: Option<[f32; 2]>) {
    let mut pb = PathBuilder::new();
    let mid = (r[1] + r[3]) / 2.0;
    pb.move_to(r[0], mid);
    pb.line_to(r[2], mid);
    if let Some(p) = pb.finish() {
        pix.stroke_path(
            &p,
            &paint_of(c),
            &stroke_of(width, dash),
            Transform::identity(),
            None,
        );
    }
}

// ---------------------------------------------------------------------------------------------

/// Renders `layers` to a PNG of `width` × `height` pixels, written atomically to `path`.
pub fn render_png(
    path: &Path,
    layers: &MapLayers,
    width: u32,
    height: u32,
    font: Option<&Path>,
) -> Result<(), MapError> {
    let fonts = Fonts::load(font)?;
    let pix = render(layers, width, height, &fonts)?;
    let bytes = pix.encode_png().map_err(|e| MapError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    crate::fsio::write_atomic(path, &bytes).map_err(|e| MapError::Write {
        path: path.display().to_string(),
        message: e.source.to_string(),
    })
}

/// Renders `layers` to a pixmap (what [`render_png`] encodes).
pub fn render_pixmap(
    layers: &MapLayers,
    width: u32,
    height: u32,
    font: Option<&Path>,
) -> Result<Pixmap, MapError> {
    render(layers, width, height, &Fonts::load(font)?)
}

fn render(layers: &MapLayers, width: u32, height: u32, fonts: &Fonts) -> Result<Pixmap, MapError> {
    let frame = MapFrame::new(layers, width, height);
    let mut pix = Pixmap::new(width, height).ok_or_else(|| render_error(&frame, "invalid size"))?;
    let [r, g, b, a] = BACKGROUND;
    pix.fill(Color::from_rgba8(r, g, b, a));
    let ui = frame.ui;
    let cities = layers.cities();
    draw_extract_edge(&mut pix, &frame, layers, false);
    // Units filled by share, under everything else.
    fill_features(
        &mut pix,
        &frame,
        layers
            .units
            .iter()
            .filter(|u| u.share > 0.0)
            .map(|u| (u, share_colour(u.share))),
    );
    draw_roads(&mut pix, &frame, layers);
    draw_band_fills(&mut pix, &frame, layers)?;
    let (zoom, fade) = (frame.zoom(), frame.fade());
    let unit_line = [125, 125, 125, (200.0 * (1.0 - 0.6 * fade)) as u8];
    stroke_features(
        &mut pix,
        &frame,
        layers.units.iter().map(|u| (u, unit_line)),
        &stroke_of(0.9 * ui * zoom.max(0.6), None),
    );
    // Circle outlines in city colours, the smallest band thickest.
    let n = layers.minutes.len().max(1);
    for k in (0..n).rev() {
        let width = (1.2 + 0.8 * (n - 1 - k) as f32 / n as f32) * ui;
        let features = layers
            .circles
            .iter()
            .filter(|f| band_index(layers, f.minutes) == k)
            .map(|f| {
                let c = city_colour(city_index(&cities, &f.city));
                (f, [c[0], c[1], c[2], 215])
            });
        stroke_features(&mut pix, &frame, features, &stroke_of(width, None));
    }
    let dash = Some([6.0 * ui, 4.0 * ui]);
    stroke_features(
        &mut pix,
        &frame,
        layers
            .catchments
            .iter()
            .map(|f| (f, city_colour(city_index(&cities, &f.city)))),
        &stroke_of(1.8 * ui, dash),
    );
    // Member units: a white casing under a dark line.
    let members = || {
        layers
            .units
            .iter()
            .filter(|u| u.member)
            .map(|u| (u, MEMBER_INK))
    };
    let member_width = 2.2 * ui * zoom.clamp(0.55, 1.0);
    stroke_features(
        &mut pix,
        &frame,
        members().map(|(u, _)| (u, [255, 255, 255, 190])),
        &stroke_of(2.0 * member_width, None),
    );
    stroke_features(&mut pix, &frame, members(), &stroke_of(member_width, None));
    draw_extract_edge(&mut pix, &frame, layers, true);
    draw_origins(&mut pix, &frame, layers, &cities);
    let mut placed = Placed(vec![frame.legend, frame.scale_box]);
    draw_labels(&mut pix, &frame, layers, fonts, &mut placed);
    draw_scale_bar(&mut pix, &frame, fonts);
    draw_legend(&mut pix, &frame, layers, fonts);
    draw_title(&mut pix, &frame, layers, fonts);
    Ok(pix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_fonts_the_map_has_no_text_but_renders() {
        use crate::geom::polyindex::PolyIndex;
        let square = |x0: f64, y0: f64, d: f64| {
            geo::MultiPolygon(vec![geo::Polygon::new(
                geo::LineString::from(vec![
                    (x0, y0),
                    (x0 + d, y0),
                    (x0 + d, y0 + d),
                    (x0, y0 + d),
                    (x0, y0),
                ]),
                vec![],
            )])
        };
        let feature = |minutes: f64, d: f64| PolygonFeature {
            city: "A".into(),
            minutes,
            polygon: square(-d / 2.0, -d / 2.0, d),
            label: String::new(),
            properties: Default::default(),
            share: 0.0,
            member: false,
        };
        let layers = MapLayers {
            title: "Title".into(),
            extent: BBox {
                min_lon: -0.1,
                min_lat: -0.1,
                max_lon: 0.1,
                max_lat: 0.1,
            },
            minutes: vec![10.0, 20.0],
            circles: vec![feature(10.0, 0.05), feature(20.0, 0.15)],
            ..Default::default()
        };
        let pix = render(&layers, 640, 480, &Fonts::none()).unwrap();
        let frame = MapFrame::new(&layers, 640, 480);
        // The title bar is blank without a font.
        for y in 0..(frame.title_height as u32 - 3) {
            for x in 0..640 {
                let c = pix.pixel(x, y).unwrap();
                assert_eq!([c.red(), c.green(), c.blue()], [255, 255, 255]);
            }
        }
        // Bands have their colours, nested squares included.
        let inner = PolyIndex::new(&layers.circles[0].polygon);
        assert!(inner.contains(0.01, 0.01));
        let (x, y) = frame.to_pixel(0.01, 0.01);
        let c = pix.pixel(x as u32, y as u32).unwrap();
        assert_eq!(
            [c.red(), c.green(), c.blue(), 255],
            blend(band_colour(0, 2), BACKGROUND)
        );
        let (x, y) = frame.to_pixel(0.05, 0.05);
        let c = pix.pixel(x as u32, y as u32).unwrap();
        assert_eq!(
            [c.red(), c.green(), c.blue(), 255],
            blend(band_colour(1, 2), BACKGROUND)
        );
    }

    #[test]
    fn nice_lengths() {
        assert_eq!(nice_metres(7300.0), 5000.0);
        assert_eq!(nice_metres(1999.0), 1000.0);
        assert_eq!(nice_metres(250.0), 200.0);
        assert_eq!(nice_metres(0.3), 1.0);
    }

    #[test]
    fn band_colours_run_from_dark_to_light() {
        let lum = |c: [u8; 4]| c[0] as u32 + c[1] as u32 + c[2] as u32;
        assert!(lum(band_colour(0, 3)) < lum(band_colour(1, 3)));
        assert!(lum(band_colour(1, 3)) < lum(band_colour(2, 3)));
        assert_eq!(band_colour(0, 1), band_colour(0, 4));
        assert_eq!(blend([0, 0, 0, 255], BACKGROUND), [0, 0, 0, 255]);
        assert_eq!(blend([0, 0, 0, 0], BACKGROUND), BACKGROUND);
    }

    #[test]
    fn frame_keeps_shapes_and_fits_the_extent() {
        let layers = MapLayers {
            extent: BBox {
                min_lon: 14.3,
                min_lat: 35.8,
                max_lon: 14.6,
                max_lat: 36.0,
            },
            ..Default::default()
        };
        let f = MapFrame::new(&layers, 1600, 1200);
        let (x0, y0) = f.to_pixel(14.3, 36.0);
        let (x1, y1) = f.to_pixel(14.6, 35.8);
        assert!(x0 > 0.0 && x1 < 1600.0 && y0 > f.title_height && y1 < 1200.0);
        // One km east and one km north span the same number of pixels.
        let (lon0, lat0) = f.centre();
        let dlon = 1000.0 / (EARTH_RADIUS_M.to_radians() * lat0.to_radians().cos());
        let dlat = 1000.0 / EARTH_RADIUS_M.to_radians();
        let (ax, ay) = f.to_pixel(lon0, lat0);
        let (bx, _) = f.to_pixel(lon0 + dlon, lat0);
        let (_, cy) = f.to_pixel(lon0, lat0 + dlat);
        assert!(((bx - ax) - (ay - cy)).abs() < 1e-3);
        let (lon, lat) = f.to_lon_lat(bx, ay);
        assert!((lon - lon0 - dlon).abs() < 1e-6 && (lat - lat0).abs() < 1e-6);
    }
}
