//! mcp-everything: parse the command line, build the server, serve.

use std::process::ExitCode;

use clap::Parser;
use mcp_everything::{Cli, ServerFactory};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let factory = match ServerFactory::from_cli(&cli) {
        Ok(factory) => factory,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    mcp_servers_core::serve::run(cli.serve, move || factory.session())
}
