//! `tim-bench [--quick] [--root DIR] [--out FILE] [--only ROW,...] [--server-bin FILE]`: runs every benchmark row beside its
//! reference, prints the table and writes the results file (default `docs/benchmarks.md`). `--only` picks
//! rows among `size`, `login`, `kick`, `capacity`, `attack`, `usersig`, `startup`, `scaleout` (for profiling one of them);
//! `--server-bin` measures another `tim-server` build (to compare a patch before/after). Run through `cargo xtask bench`,
//! which builds the binaries and the npm package first. `tim-server` and `tim-bench-echo` are expected next
//! to this binary.

use std::path::PathBuf;
use std::process::ExitCode;

use tim_bench::driver::{self, Plan};
use tim_bench::report;

/// `tim-bench hold URL COUNT`: the scale-out row's holder child ([`tim_bench::holder`]).
fn hold_child(args: Vec<String>) -> ExitCode {
    let count = args.get(1).and_then(|c| c.parse().ok());
    let (Some(url), Some(count)) = (args.first(), count) else {
        eprintln!("usage: tim-bench hold URL COUNT");
        return ExitCode::FAILURE;
    };
    match tim_bench::holder::run_child(url, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tim-bench hold: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let mut quick = false;
    let mut root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut out = None;
    let mut only = Vec::new();
    let mut server_bin = None;
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("hold") {
        return hold_child(args.skip(1).collect());
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--root" | "--out" | "--only" | "--server-bin" => {
                let Some(value) = args.next() else {
                    eprintln!("tim-bench: {arg} needs a value");
                    return ExitCode::FAILURE;
                };
                match arg.as_str() {
                    "--root" => root = PathBuf::from(value),
                    "--out" => out = Some(PathBuf::from(value)),
                    "--server-bin" => server_bin = Some(PathBuf::from(value)),
                    _ => only = value.split(',').map(str::to_string).collect(),
                }
            }
            _ => {
                eprintln!("usage: tim-bench [--quick] [--root DIR] [--out FILE] [--only ROW,...] [--server-bin FILE]");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(bin_dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)) else {
        eprintln!("tim-bench: cannot locate its own binary");
        return ExitCode::FAILURE;
    };
    let mut plan = Plan::new(quick, root.clone(), &bin_dir);
    plan.only = only;
    if let Some(bin) = server_bin {
        plan.server_bin = bin;
    }
    let (rows, notes) = driver::run(&plan);
    println!("\n{}", report::markdown_table(&rows));
    for n in &notes {
        println!("note: {n}");
    }
    let out = out.unwrap_or_else(|| root.join("docs").join("benchmarks.md"));
    if let Err(e) = std::fs::write(&out, driver::results_markdown(&plan, &rows, &notes)) {
        eprintln!("tim-bench: cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!("results written to {}", out.display());
    ExitCode::SUCCESS
}
