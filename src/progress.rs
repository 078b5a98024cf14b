//! Progress bars and notes on stderr, shown only on a terminal (quiet when piped) unless forced.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Decides whether progress and notes are shown.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    bars: bool,
    notes: bool,
}

impl Progress {
    /// Bars when stderr is a terminal; notes too, or always with `verbose`; nothing when `quiet`.
    pub fn new(quiet: bool, verbose: bool) -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress {
            bars: tty && !quiet,
            notes: !quiet && (tty || verbose),
        }
    }
    /// Shows nothing (library use, tests).
    pub fn hidden() -> Progress {
        Progress {
            bars: false,
            notes: false,
        }
    }
    pub fn bar(&self, len: u64, msg: &'static str) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_message(msg);
        b
    }
    pub fn spinner(&self, msg: &'static str) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let b = ProgressBar::new_spinner();
        b.set_message(msg);
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    }
    /// A one-line note on stderr.
    pub fn note(&self, msg: &str) {
        if self.notes {
            eprintln!("{msg}");
        }
    }
    pub fn notes_enabled(&self) -> bool {
        self.notes
    }
}
