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

/// Stage timings printed on stderr when `METROREACH_TIMING` is set (for `scripts/bench.sh` and
/// profiling); free otherwise. Each [`Laps::lap`] prints the time since the previous one.
pub struct Laps {
    prefix: &'static str,
    /// When timing is on: the previous lap's clock and process processor time (ms).
    last: Option<std::cell::Cell<(std::time::Instant, f64)>>,
    memory: bool,
}

impl Laps {
    pub fn from_env(prefix: &'static str) -> Laps {
        Laps {
            prefix,
            // Off (the usual case, once per circle): no clock and no system call.
            last: std::env::var_os("METROREACH_TIMING")
                .map(|_| std::cell::Cell::new((std::time::Instant::now(), process_cpu_ms()))),
            memory: false,
        }
    }
    /// [`Laps::from_env`] that also prints resident and peak memory at each lap (for long
    /// stages: reading them costs tens of microseconds).
    pub fn from_env_with_memory(prefix: &'static str) -> Laps {
        Laps {
            memory: true,
            ..Laps::from_env(prefix)
        }
    }
    /// Starts timing the next lap now (after a stage with laps of its own).
    pub fn restart(&self) {
        if let Some(last) = &self.last {
            last.set((std::time::Instant::now(), process_cpu_ms()));
        }
    }
    /// Prints `timing PREFIX WHAT: N ms (cpu C ms)` for the time since the previous lap and the
    /// processor time all threads used in it (C ≈ 2N: both cores busy; C ≈ N: one), with the
    /// resident memory now and at its peak so far where the system reports them (Linux).
    pub fn lap(&self, what: &str) {
        if let Some(last) = &self.last {
            let (then, then_cpu) = last.get();
            let now = std::time::Instant::now();
            let cpu = process_cpu_ms();
            let ms = (now - then).as_secs_f64() * 1000.0;
            // Microseconds for short laps (a circle's stages), tenths of a millisecond otherwise.
            let digits = if ms < 10.0 { 3 } else { 1 };
            eprintln!(
                "timing {} {what}: {ms:.digits$} ms (cpu {:.0} ms{})",
                self.prefix,
                cpu - then_cpu,
                if self.memory {
                    memory_note()
                } else {
                    String::new()
                }
            );
            last.set((now, cpu));
        }
    }
}

/// User and system time of the whole process so far, in milliseconds (0 where the system does
/// not report it).
fn process_cpu_ms() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
            return ms(usage.ru_utime) + ms(usage.ru_stime);
        }
    }
    0.0
}

/// `, rss N MB, peak M MB` from `/proc/self/status`, or nothing where it is not available.
fn memory_note() -> String {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return String::new();
    };
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(peak)) => format!(", rss {} MB, peak {} MB", rss / 1024, peak / 1024),
        _ => String::new(),
    }
}
