//! The Portcullis host tool: runs the same Rust core as the worker, built for the host.
//!
//! ```text
//! portcullis check-config [FILE|-]   validate a configuration (JSON); exit 1 listing every problem
//! ```

use portcullis::config::Config;
use std::io::Read;
use std::process::ExitCode;

fn read_input(source: Option<&str>) -> std::io::Result<String> {
    match source {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text)
        }
        Some(path) => std::fs::read_to_string(path),
    }
}

fn check_config(source: Option<&str>) -> ExitCode {
    let text = match read_input(source) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read the configuration: {error}");
            return ExitCode::from(2);
        }
    };
    match Config::load(Some(&text)) {
        Ok(config) => {
            let routes: Vec<String> = config
                .routes
                .routes()
                .iter()
                .map(|r| format!("{} {} -> {}", r.id, r.path.source(), r.policy.name()))
                .collect();
            println!("configuration valid ({:?}), {} routes, most specific first:", config.environment, routes.len());
            for route in routes {
                println!("  {route}");
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("configuration invalid: {} problem(s)", problems.len());
            for problem in problems {
                eprintln!("  {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check-config") => check_config(args.get(1).map(String::as_str)),
        _ => {
            eprintln!("usage: portcullis check-config [FILE|-]");
            ExitCode::from(2)
        }
    }
}
