//! The `metroreach` binary: parse arguments, run, map errors to exit codes.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    metroreach::alloc::keep_freed_memory();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<cli::PartialFailure>().is_some() {
                std::process::ExitCode::from(3)
            } else {
                std::process::ExitCode::from(1)
            }
        }
    }
}
