//! The `rescind` binary: parse the command line, load the configuration, start
//! logging, and hand over to the library.

use std::process::ExitCode;

use clap::Parser as _;
use rescind::cli::{self, Cli};
use rescind::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("rescind: {error}");
            return ExitCode::from(2);
        }
    };
    rescind::telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rescind: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rescind: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
