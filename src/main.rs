//! The `rescind` binary: parse the command line, load the configuration, start
//! logging (and span export, for `serve`), and hand over to the library.

use std::process::ExitCode;

use clap::Parser as _;
use rescind::cli::{self, Cli, Command};
use rescind::config::Settings;
use rescind::telemetry::{self, SpanExport};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("rescind: {error}");
            return ExitCode::from(2);
        }
    };
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
    // Only the server makes request spans worth exporting.
    let export = if matches!(cli.command, Command::Serve) {
        match SpanExport::start(&settings.tracing, runtime.handle().clone()) {
            Ok(export) => export,
            Err(error) => {
                eprintln!("rescind: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    telemetry::init(&settings.log, export.as_ref());
    let result = runtime.block_on(cli::run(cli.command, settings));
    // The runtime still runs: the last batch of spans is sent on it.
    if let Some(export) = &export {
        export.shutdown();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rescind: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
