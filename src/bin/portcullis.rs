//! The Portcullis host tool: runs the same Rust core as the worker, built for the host.
//!
//! ```text
//! portcullis check-config [FILE|-]   validate a configuration (JSON); exit 1 listing every problem
//! portcullis policy check CONFIG 'METHOD URL' [PRINCIPAL.json] [--header 'Name: value']...
//!                                     the decision, the deciding route and why
//! portcullis policy lint CONFIG       unreachable, overlapping and accidentally public routes
//! portcullis schema                   the configuration's JSON Schema (config.schema.json)
//! portcullis preflight [FILE|-]       the bindings and secrets a configuration needs, as JSON
//! ```

use portcullis::config::Config;
use portcullis::tools::lint::{lint, Severity};
use portcullis::tools::simulate::{simulate, PrincipalSpec};
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

/// The configuration's text, or exit 2 saying why it cannot be read.
fn read_configuration(source: Option<&str>) -> Result<String, ExitCode> {
    read_input(source).map_err(|error| {
        eprintln!("cannot read the configuration: {error}");
        ExitCode::from(2)
    })
}

fn check_config(source: Option<&str>) -> ExitCode {
    let text = match read_configuration(source) {
        Ok(text) => text,
        Err(code) => return code,
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

const USAGE: &str = "usage: portcullis check-config [FILE|-]
       portcullis policy check CONFIG 'METHOD URL' [PRINCIPAL.json] [--header 'Name: value']...
       portcullis policy lint CONFIG
       portcullis schema
       portcullis preflight [FILE|-]
       portcullis totp < CASES.jsonl   (one {\"secret_base32\", \"time_s\", \"algorithm\", \"digits\", \"period_s\"} per line:
                                        the gateway's TOTP code for each, one per line; for differential tests)";

fn load(path: &str) -> Result<Config, ExitCode> {
    let text = read_input(Some(path)).map_err(|error| {
        eprintln!("cannot read {path}: {error}");
        ExitCode::from(2)
    })?;
    Config::load(Some(&text)).map_err(|problems| {
        eprintln!("configuration invalid: {} problem(s)", problems.len());
        for problem in problems {
            eprintln!("  {problem}");
        }
        ExitCode::FAILURE
    })
}

/// Prints what the configuration needs (JSON, for `npm run preflight`); exit 1 when it is invalid.
fn preflight(source: Option<&str>) -> ExitCode {
    let text = match read_configuration(source) {
        Ok(text) => text,
        Err(code) => return code,
    };
    let pinned =
        serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|document| document.get("version").is_some());
    match Config::load(Some(&text)) {
        Ok(config) => {
            let checked = portcullis::tools::preflight::preflight(&config, pinned);
            println!("{}", serde_json::to_string_pretty(&checked).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            println!("{}", serde_json::json!({ "invalid": problems }));
            ExitCode::FAILURE
        }
    }
}

fn policy_check(args: &[String]) -> ExitCode {
    let mut headers = Vec::new();
    let mut positional = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--header" {
            match rest.next().and_then(|h| h.split_once(':')) {
                Some((name, value)) => headers.push((name.trim().to_owned(), value.trim().to_owned())),
                None => return usage(),
            }
        } else {
            positional.push(arg.as_str());
        }
    }
    let (Some(config_path), Some(request)) = (positional.first(), positional.get(1)) else { return usage() };
    let Some((method, url)) = request.trim().split_once(' ') else { return usage() };
    let config = match load(config_path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let spec: PrincipalSpec = match positional.get(2) {
        None => PrincipalSpec::default(),
        Some(path) => match read_input(Some(path))
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(spec) => spec,
            Err(error) => {
                eprintln!("cannot read the principal {path}: {error}");
                return ExitCode::from(2);
            }
        },
    };
    match simulate(&config, method.trim(), url.trim(), &headers, &spec) {
        Ok(verdict) => {
            println!("{} {} ({})", verdict.decision.to_uppercase(), verdict.status, verdict.code);
            println!("route:  {}", verdict.route.as_deref().unwrap_or("(none)"));
            println!("why:    {}", verdict.reason);
            if !verdict.roles.is_empty() {
                println!("roles:  {}", verdict.roles.join(", "));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(2)
        }
    }
}

fn policy_lint(args: &[String]) -> ExitCode {
    let Some(config_path) = args.first() else { return usage() };
    let config = match load(config_path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let findings = lint(&config);
    for finding in &findings {
        let severity = match finding.severity {
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        println!("{severity}: route {:?}: {}", finding.route, finding.message);
    }
    let warnings = findings.iter().filter(|f| f.severity == Severity::Warning).count();
    println!("{} finding(s), {warnings} warning(s)", findings.len());
    if warnings > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `portcullis totp`: the code the gateway's TOTP core computes for each case on stdin.
fn totp_codes() -> ExitCode {
    use portcullis::mfa::totp::{code_at, Algorithm, TotpParams};
    use portcullis::secret::SecretBytes;
    #[derive(serde::Deserialize)]
    struct Case {
        secret_base32: String,
        time_s: u64,
        algorithm: String,
        digits: u32,
        period_s: u64,
    }
    let Ok(input) = read_input(None) else { return ExitCode::from(2) };
    for line in input.lines().filter(|line| !line.trim().is_empty()) {
        let Ok(case) = serde_json::from_str::<Case>(line) else {
            eprintln!("not a case: {line}");
            return ExitCode::from(2);
        };
        let Ok(secret) = data_encoding::BASE32_NOPAD.decode(case.secret_base32.trim_end_matches('=').as_bytes()) else {
            eprintln!("not base32: {}", case.secret_base32);
            return ExitCode::from(2);
        };
        let algorithm = match case.algorithm.as_str() {
            "SHA1" | "sha1" => Algorithm::Sha1,
            "SHA256" | "sha256" => Algorithm::Sha256,
            "SHA512" | "sha512" => Algorithm::Sha512,
            other => {
                eprintln!("unknown algorithm {other}");
                return ExitCode::from(2);
            }
        };
        let params = TotpParams { algorithm, digits: case.digits, step_s: case.period_s };
        println!("{}", code_at(&SecretBytes::new(secret), case.time_s, &params));
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match (args.first().map(String::as_str), args.get(1).map(String::as_str)) {
        (Some("check-config"), _) => check_config(args.get(1).map(String::as_str)),
        (Some("policy"), Some("check")) => policy_check(&args[2..]),
        (Some("policy"), Some("lint")) => policy_lint(&args[2..]),
        (Some("preflight"), _) => preflight(args.get(1).map(String::as_str)),
        (Some("totp"), None) => totp_codes(),
        (Some("schema"), None) => {
            print!("{}", portcullis::config::schema::json_schema_text());
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
