//! Text for the PNG map: font lookup, glyph rasterisation with ab_glyph, compositing with a
//! halo onto the tiny-skia pixmap.
//!
//! No shaping: one glyph per character, with kerning. That is enough for Latin, Greek, Cyrillic
//! and CJK names. Characters the font has no glyph for are drawn as boxes, and a one-time warning
//! says which package to install.

use super::MapError;
use ab_glyph::{Font, FontVec, GlyphId, PxScale, ScaleFont};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tiny_skia::Pixmap;

/// The Debian/Ubuntu package that provides the preferred CJK font.
pub const CJK_PACKAGE: &str = "fonts-noto-cjk";

/// Where fonts are looked for when no `--font` is given, in this order. The first three have
/// CJK glyphs; DejaVu Sans has none (Chinese names then render as boxes).
pub const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
];

/// The font used when no `--font` is given: the first of [`FONT_CANDIDATES`] that exists.
pub fn default_font() -> Option<PathBuf> {
    FONT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Whether the font at `path` (the face the map would use) has a glyph for every non-space
/// character of `text`.
pub fn font_covers(path: &Path, text: &str) -> Result<bool, MapError> {
    let font = load_face(path)?;
    Ok(text
        .chars()
        .filter(|c| !c.is_whitespace())
        .all(|c| font.glyph_id(c).0 != 0))
}

fn warn_missing(c: char, font: &Path) {
    if !WARNED_MISSING.swap(true, Ordering::Relaxed) {
        eprintln!(
            "warning: no font has a glyph for '{c}' (and maybe other characters; tried {} and the \
             other usual fonts): they are drawn as boxes. For Chinese, Japanese and Korean names \
             install `apt-get install {CJK_PACKAGE}` or pass --font FILE",
            font.display()
        );
    }
}

static WARNED_MISSING: AtomicBool = AtomicBool::new(false);
static WARNED_NO_FONT: AtomicBool = AtomicBool::new(false);

/// Reads a font file and picks its face: in a collection (`.ttc`), the Simplified Chinese face
/// when there is one (Noto Sans CJK SC), else the first.
fn load_face(path: &Path) -> Result<FontVec, MapError> {
    let data = std::fs::read(path)
        .map_err(|e| MapError::Font(format!("cannot read font {}: {e}", path.display())))?;
    let index = collection_face(&data, |family| family.ends_with(" SC")).unwrap_or(0);
    FontVec::try_from_vec_and_index(data, index).map_err(|e| {
        MapError::Font(format!(
            "{} is not a usable TrueType/OpenType font: {e}",
            path.display()
        ))
    })
}

fn be16(d: &[u8], at: usize) -> Option<usize> {
    d.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
}

fn be32(d: &[u8], at: usize) -> Option<usize> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// In a font collection, the index of the first face whose English family name satisfies `want`.
fn collection_face(d: &[u8], want: impl Fn(&str) -> bool) -> Option<u32> {
    if d.get(0..4)? != b"ttcf" {
        return None;
    }
    let n = be32(d, 8)?.min(64);
    (0..n).find_map(|i| {
        let off = be32(d, 12 + 4 * i)?;
        let family = family_name(d, off)?;
        want(&family).then_some(i as u32)
    })
}

/// The family name (name ID 1, Windows Unicode, English) of the face whose table directory
/// starts at `off`.
fn family_name(d: &[u8], off: usize) -> Option<String> {
    let tables = be16(d, off + 4)?;
    let name = (0..tables).find_map(|t| {
        let rec = off + 12 + 16 * t;
        (d.get(rec..rec + 4)? == b"name")
            .then(|| be32(d, rec + 8))
            .flatten()
    })?;
    let count = be16(d, name + 2)?;
    let strings = name + be16(d, name + 4)?;
    for r in 0..count {
        let rec = name + 6 + 12 * r;
        let (platform, encoding, language, id) = (
            be16(d, rec)?,
            be16(d, rec + 2)?,
            be16(d, rec + 4)?,
            be16(d, rec + 6)?,
        );
        if platform == 3 && encoding == 1 && language == 0x409 && id == 1 {
            let (len, at) = (be16(d, rec + 8)?, be16(d, rec + 10)?);
            let bytes = d.get(strings + at..strings + at + len)?;
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            return String::from_utf16(&units).ok();
        }
    }
    None
}

/// The bold sibling of a regular font file, when the usual naming finds one.
fn bold_sibling(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let bold = if name.contains("Regular") {
        name.replacen("Regular", "Bold", 1)
    } else if let Some(stem) = name.strip_suffix(".ttf") {
        format!("{stem}-Bold.ttf")
    } else {
        return None;
    };
    let p = path.with_file_name(bold);
    p.is_file().then_some(p)
}

/// A font file's face, read on first use (fallback faces are often never needed).
struct LazyFace {
    path: PathBuf,
    face: OnceCell<Option<FontVec>>,
}

impl LazyFace {
    fn new(path: PathBuf) -> LazyFace {
        LazyFace {
            path,
            face: OnceCell::new(),
        }
    }
    fn get(&self) -> Option<&FontVec> {
        self.face
            .get_or_init(|| load_face(&self.path).ok())
            .as_ref()
    }
}

/// The fonts of one map: a chain of faces (the chosen font, then the other candidates as
/// fallbacks for characters it lacks), regular and bold; an empty chain means a map without text.
pub(crate) struct Fonts {
    regular: Vec<LazyFace>,
    /// The bold sibling of each regular face, when there is one.
    bold: Vec<Option<LazyFace>>,
}

/// How a piece of text looks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TextStyle {
    pub size: f32,
    pub colour: [u8; 4],
    pub bold: bool,
    /// Halo colour and radius in pixels.
    pub halo: Option<([u8; 4], f32)>,
}

impl TextStyle {
    /// A style without halo.
    pub fn new(size: f32, colour: [u8; 4], bold: bool) -> TextStyle {
        TextStyle {
            size,
            colour,
            bold,
            halo: None,
        }
    }
}

/// The pixel box a drawn text covers: x0, y0, x1, y1.
pub(crate) type TextBox = [f32; 4];

/// A laid-out character: the face and glyph (none: a missing glyph, drawn as a box) and its x.
type Placed = (Option<(usize, GlyphId)>, f32);

impl Fonts {
    /// `--font` when given (an error if it cannot be read), else the first candidate found;
    /// no font at all gives a warning and a map without text.
    pub fn load(explicit: Option<&Path>) -> Result<Fonts, MapError> {
        let primary = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => default_font(),
        };
        let Some(primary) = primary else {
            if !WARNED_NO_FONT.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "warning: no font found (looked for {}); the PNG map has no text. Install one with \
                     `apt-get install {CJK_PACKAGE}` or pass --font FILE",
                    FONT_CANDIDATES.join(", ")
                );
            }
            return Ok(Fonts::none());
        };
        // The chosen font must load; fallbacks are best effort.
        let first = LazyFace::new(primary.clone());
        first.face.set(Some(load_face(&primary)?)).ok();
        let mut paths = vec![primary.clone()];
        paths.extend(
            FONT_CANDIDATES
                .iter()
                .map(PathBuf::from)
                .filter(|p| *p != primary && p.is_file()),
        );
        let bold = paths
            .iter()
            .map(|p| bold_sibling(p).map(LazyFace::new))
            .collect();
        let mut regular = vec![first];
        regular.extend(paths.into_iter().skip(1).map(LazyFace::new));
        Ok(Fonts { regular, bold })
    }

    /// No fonts: a map without text.
    pub fn none() -> Fonts {
        Fonts {
            regular: Vec::new(),
            bold: Vec::new(),
        }
    }

    pub fn available(&self) -> bool {
        !self.regular.is_empty()
    }

    /// Face `k` of the chain: the bold one when asked for and found, else the regular one.
    fn face(&self, k: usize, bold: bool) -> Option<&FontVec> {
        let b = if bold {
            self.bold
                .get(k)
                .and_then(|b| b.as_ref())
                .and_then(|b| b.get())
        } else {
            None
        };
        b.or_else(|| self.regular.get(k)?.get())
    }

    /// The first face of the chain with a glyph for `c`.
    fn glyph(&self, c: char, bold: bool) -> Option<(usize, GlyphId)> {
        (0..self.regular.len()).find_map(|k| {
            let g = self.face(k, bold)?.glyph_id(c);
            (g.0 != 0).then_some((k, g))
        })
    }

    /// The scale of `font` for text of `size`: `size` is the pixel height (ascent − descent) of
    /// the chosen font; fallback faces get the same em size, so that their letters match.
    fn scale(&self, font: &FontVec, size: f32) -> PxScale {
        let em = |f: &FontVec| {
            f.units_per_em()
                .map(|u| f.height_unscaled() / u)
                .filter(|r| r.is_finite() && *r > 0.0)
        };
        match (
            self.regular.first().and_then(|f| f.get()).and_then(em),
            em(font),
        ) {
            (Some(primary), Some(this)) => PxScale::from(size / primary * this),
            _ => PxScale::from(size),
        }
    }

    /// Lays out `text` from x = 0 on the baseline y = 0, and returns the total advance.
    fn layout(&self, text: &str, size: f32, bold: bool) -> (Vec<Placed>, f32) {
        if !self.available() {
            return (Vec::new(), 0.0);
        }
        let mut x = 0.0f32;
        let mut prev: Option<(usize, GlyphId)> = None;
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            if c.is_control() {
                continue;
            }
            let found = self.glyph(c, bold);
            let Some((k, id)) =
                found.or_else(|| self.glyph(' ', bold).filter(|_| c.is_whitespace()))
            else {
                warn_missing(c, &self.regular[0].path);
                out.push((None, x));
                x += size * 0.62;
                prev = None;
                continue;
            };
            let Some(font) = self.face(k, bold) else {
                continue;
            };
            let sf = font.as_scaled(self.scale(font, size));
            if let Some((_, p)) = prev.filter(|(pk, _)| *pk == k) {
                x += sf.kern(p, id);
            }
            out.push((Some((k, id)), x));
            x += sf.h_advance(id);
            prev = Some((k, id));
        }
        (out, x)
    }

    /// Width in pixels of `text`.
    pub fn measure(&self, text: &str, size: f32, bold: bool) -> f32 {
        self.layout(text, size, bold).1
    }

    /// `text` cut with an ellipsis to fit `max_width` pixels.
    pub fn fit(&self, text: &str, size: f32, bold: bool, max_width: f32) -> String {
        if self.measure(text, size, bold) <= max_width {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        let mut n = chars.len();
        while n > 0 {
            n -= 1;
            let s: String = chars[..n].iter().collect::<String>().trim_end().to_string() + "…";
            if self.measure(&s, size, bold) <= max_width {
                return s;
            }
        }
        String::new()
    }

    /// The box `text` would cover when drawn at (`x`, baseline `y`) (without halo).
    pub fn bounds(&self, text: &str, x: f32, y: f32, style: &TextStyle) -> TextBox {
        let w = self.measure(text, style.size, style.bold);
        [x, y - style.size * 0.82, x + w, y + style.size * 0.22]
    }

    /// Draws `text` with its left end at `x` and baseline at `y`; returns the covered box.
    pub fn draw(
        &self,
        pixmap: &mut Pixmap,
        text: &str,
        x: f32,
        y: f32,
        style: &TextStyle,
    ) -> TextBox {
        let bounds = self.bounds(text, x, y, style);
        let (glyphs, _) = self.layout(text, style.size, style.bold);
        if glyphs.is_empty() {
            return bounds;
        }
        let halo_r = style.halo.map(|h| h.1).unwrap_or(0.0);
        let pad = halo_r.ceil() as i32 + 2;
        // Coverage buffer over the text's box, in whole pixels.
        let ox = (x + 0.0).floor() as i32 - pad;
        let oy = (y - style.size * 1.1).floor() as i32 - pad;
        let bw = (bounds[2] - x).ceil() as i32 + style.size.ceil() as i32 + 2 * pad;
        let bh = (style.size * 1.5).ceil() as i32 + 2 * pad;
        if bw <= 0 || bh <= 0 {
            return bounds;
        }
        let (bw, bh) = (bw as usize, bh as usize);
        let mut cov = vec![0f32; bw * bh];
        let mut put = |px: i32, py: i32, c: f32| {
            let (lx, ly) = (px - ox, py - oy);
            if lx >= 0 && ly >= 0 && (lx as usize) < bw && (ly as usize) < bh {
                let v = &mut cov[ly as usize * bw + lx as usize];
                *v = (*v + c).min(1.0);
            }
        };
        for (g, gx) in glyphs {
            match g {
                Some((k, id)) => {
                    let Some(font) = self.face(k, style.bold) else {
                        continue;
                    };
                    let glyph = id.with_scale_and_position(
                        self.scale(font, style.size),
                        ab_glyph::point(x + gx, y),
                    );
                    if let Some(outline) = font.outline_glyph(glyph) {
                        let b = outline.px_bounds();
                        let (bx, by) = (b.min.x as i32, b.min.y as i32);
                        outline.draw(|px, py, c| put(bx + px as i32, by + py as i32, c));
                    }
                }
                None => {
                    // A box for a missing glyph.
                    let s = style.size;
                    let (x0, x1) = ((x + gx + s * 0.08) as i32, (x + gx + s * 0.54) as i32);
                    let (y0, y1) = ((y - s * 0.72) as i32, (y + s * 0.02) as i32);
                    let t = ((s / 14.0).round() as i32).max(1);
                    for py in y0..=y1 {
                        for px in x0..=x1 {
                            if px < x0 + t || px > x1 - t || py < y0 + t || py > y1 - t {
                                put(px, py, 1.0);
                            }
                        }
                    }
                }
            }
        }
        if let Some((hc, r)) = style.halo {
            let halo = dilate(&cov, bw, bh, r);
            composite(pixmap, &halo, bw, bh, ox, oy, hc);
        }
        composite(pixmap, &cov, bw, bh, ox, oy, style.colour);
        bounds
    }
}

/// Grey-scale dilation of a coverage buffer by a disc of radius `r` (anti-aliased rim).
fn dilate(cov: &[f32], w: usize, h: usize, r: f32) -> Vec<f32> {
    let ri = r.ceil() as i32 + 1;
    let mut taps = Vec::new();
    for dy in -ri..=ri {
        for dx in -ri..=ri {
            let d = ((dx * dx + dy * dy) as f32).sqrt();
            let wgt = (r + 0.5 - d).clamp(0.0, 1.0);
            if wgt > 0.0 {
                taps.push((dx, dy, wgt));
            }
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let mut m = 0f32;
            for &(dx, dy, wgt) in &taps {
                let (sx, sy) = (x + dx, y + dy);
                if sx >= 0 && sy >= 0 && (sx as usize) < w && (sy as usize) < h {
                    m = m.max(cov[sy as usize * w + sx as usize] * wgt);
                    if m >= 1.0 {
                        break;
                    }
                }
            }
            out[y as usize * w + x as usize] = m;
        }
    }
    out
}

/// Source-over of `colour` × coverage onto the premultiplied pixmap at offset (`ox`, `oy`).
fn composite(
    pixmap: &mut Pixmap,
    cov: &[f32],
    w: usize,
    h: usize,
    ox: i32,
    oy: i32,
    colour: [u8; 4],
) {
    let (pw, ph) = (pixmap.width() as i32, pixmap.height() as i32);
    let data = pixmap.data_mut();
    let ca = colour[3] as f32 / 255.0;
    for ly in 0..h as i32 {
        let py = oy + ly;
        if py < 0 || py >= ph {
            continue;
        }
        for lx in 0..w as i32 {
            let px = ox + lx;
            if px < 0 || px >= pw {
                continue;
            }
            let a = cov[ly as usize * w + lx as usize] * ca;
            if a <= 0.0 {
                continue;
            }
            let i = 4 * (py as usize * pw as usize + px as usize);
            for k in 0..3 {
                let d = data[i + k] as f32;
                data[i + k] = (colour[k] as f32 * a + d * (1.0 - a))
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
            let d = data[i + 3] as f32;
            data[i + 3] = (255.0 * a + d * (1.0 - a)).round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bold_siblings_follow_the_usual_names() {
        let p = Path::new("/nonexistent/NotoSansCJK-Regular.ttc");
        assert_eq!(bold_sibling(p), None);
        assert!(collection_face(b"not a font", |_| true).is_none());
    }

    #[test]
    fn dilation_grows_a_dot_into_a_disc() {
        let mut cov = vec![0f32; 11 * 11];
        cov[5 * 11 + 5] = 1.0;
        let d = dilate(&cov, 11, 11, 2.0);
        assert_eq!(d[5 * 11 + 6], 1.0);
        assert_eq!(d[5 * 11 + 7], 0.5);
        assert_eq!(d[5 * 11 + 9], 0.0);
        assert_eq!(d[0], 0.0);
    }
}
