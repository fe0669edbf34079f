//! `cargo xtask fuzz [TARGET|all] [--seconds N]`: the cargo-fuzz targets in
//! fuzz/ (not run in CI), each for a fixed time, then a summary.
//!
//! cargo-fuzz is installed from crates.io if missing. Its build with
//! AddressSanitizer needs `-Zsanitizer=address`, a nightly flag: the child
//! cargo gets `RUSTC_BOOTSTRAP=1`, which lets the stable toolchain take it
//! (its rust-std ships the sanitizer runtimes). Debug assertions and
//! overflow checks are on, as in the tests.
//!
//! The fuzz project is a workspace of its own, built in fuzz/target;
//! corpora grow in fuzz/corpus/TARGET and crashing inputs are saved in
//! fuzz/artifacts/TARGET (all three git-ignored).
//!
//! By default a crash does not end a run: libFuzzer's fork mode saves it
//! and goes on for the whole time; each saved input is then run once more to
//! read its panic message, and the summary groups them by message.
//! `--stop-on-crash` is libFuzzer's usual stop at the first one.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use crate::util::{cargo, exec, project_root};

/// The targets in fuzz/fuzz_targets/, in the order `all` runs them.
const TARGETS: &[&str] = &[
    "sandbox_resolve",
    "edit_matching",
    "image_header",
    "jpeg_scaled",
];

/// cargo fuzz's build flags, the same for every build and run so that a run
/// reuses the build: AddressSanitizer, and overflow checks and debug
/// assertions on (as in the tests).
const FLAGS: &str = "--sanitizer address --debug-assertions";

/// Longest a single input may run before libFuzzer calls it a timeout.
const UNIT_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Target to run (sandbox_resolve, edit_matching, image_header, jpeg_scaled), or `all`.
    #[arg(default_value = "all")]
    pub target: String,
    /// Seconds of fuzzing for each target.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Stop each target at its first crash. By default a crash is saved and
    /// fuzzing goes on for the whole time (libFuzzer's fork mode).
    #[arg(long)]
    pub stop_on_crash: bool,
}

struct Finding {
    key: String,
    message: String,
    inputs: Vec<PathBuf>,
}

/// At most this many saved inputs per target are run again to read their
/// messages.
const MAX_REPRODUCED: usize = 200;

/// What one run did.
struct Outcome {
    target: String,
    seconds: f64,
    runs: Option<u64>,
    execs_per_sec: Option<u64>,
    corpus: Option<u64>,
    peak_rss_mb: Option<u64>,
    /// Inputs saved in fuzz/artifacts/TARGET by this run.
    artifacts: Vec<PathBuf>,
    /// Distinct failures (by panic site or error kind): the first message
    /// seen and the inputs that gave it.
    findings: Vec<Finding>,
    success: bool,
}

pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    let targets: Vec<&str> = if args.target == "all" {
        TARGETS.to_vec()
    } else if let Some(t) = TARGETS.iter().find(|t| **t == args.target) {
        vec![*t]
    } else {
        bail!(
            "no fuzz target named '{}'; choose one of: {}, all",
            args.target,
            TARGETS.join(", ")
        );
    };
    if args.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    ensure_cargo_fuzz()?;

    let fuzz_dir = project_root().join("fuzz");
    // One build of every target first, so the runs' time is fuzzing time.
    eprintln!("(cargo fuzz runs with RUSTC_BOOTSTRAP=1, for -Zsanitizer on stable)");
    let mut build = cargo_fuzz(&fuzz_dir, "build");
    if targets.len() == 1 {
        build.arg(targets[0]);
    }
    exec(&mut build)?;

    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(run_target(&fuzz_dir, target, args)?);
    }

    println!(
        "\nfuzz: {} s per target, AddressSanitizer, {}",
        args.seconds,
        if args.stop_on_crash {
            "stopping at the first crash"
        } else {
            "going on after crashes (fork mode)"
        }
    );
    println!("| target | wall time | runs | exec/s | corpus | peak RSS | crashes | result |");
    println!("|---|---|---|---|---|---|---|---|");
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    for o in &outcomes {
        let result = if o.success {
            "ok".to_owned()
        } else if o.artifacts.is_empty() {
            "FAILED (nothing saved; see the output above)".to_owned()
        } else {
            format!("FAILED: {} distinct", o.findings.len())
        };
        println!(
            "| {} | {:.0} s | {} | {} | {} | {} | {} | {} |",
            o.target,
            o.seconds,
            show(o.runs),
            show(o.execs_per_sec),
            show(o.corpus),
            show(o.peak_rss_mb).replace('?', "-") + " MB",
            o.artifacts.len(),
            result
        );
    }
    for o in outcomes.iter().filter(|o| !o.findings.is_empty()) {
        println!("\n{}:", o.target);
        for f in &o.findings {
            println!("- {}", f.message);
            println!(
                "  {} input(s), e.g. fuzz/{}",
                f.inputs.len(),
                f.inputs[0]
                    .strip_prefix(&fuzz_dir)
                    .unwrap_or(&f.inputs[0])
                    .display()
            );
        }
        println!(
            "  run one again (in fuzz/): RUSTC_BOOTSTRAP=1 cargo fuzz run {FLAGS} {t} \
             artifacts/{t}/NAME\n  show it as the target's input: RUSTC_BOOTSTRAP=1 \
             cargo fuzz fmt {FLAGS} {t} artifacts/{t}/NAME",
            t = o.target
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.success)
        .map(|o| o.target.as_str())
        .collect();
    if failed.is_empty() {
        println!("\nfuzz: no crash found");
        Ok(())
    } else {
        bail!("fuzz targets found crashes: {}", failed.join(", "))
    }
}

/// `cargo fuzz --version`, else `cargo install cargo-fuzz --locked`.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let found = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("cargo-fuzz is not installed; installing it from crates.io");
        exec(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// `cargo fuzz SUBCOMMAND` in fuzz/, with the flags every build and run
/// shares (so `run` reuses what `build` made).
fn cargo_fuzz(fuzz_dir: &Path, subcommand: &str) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(fuzz_dir)
        // -Zsanitizer on the stable toolchain.
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", subcommand])
        .args(FLAGS.split(' '));
    cmd
}

fn run_target(fuzz_dir: &Path, target: &str, args: &FuzzArgs) -> anyhow::Result<Outcome> {
    let artifacts_dir = fuzz_dir.join("artifacts").join(target);
    let before = list(&artifacts_dir);
    let mut fuzzer_args = vec![
        format!("-max_total_time={}", args.seconds),
        format!("-timeout={UNIT_TIMEOUT_SECS}"),
        "-print_final_stats=1".to_owned(),
    ];
    if !args.stop_on_crash {
        for flag in [
            "-fork=1",
            "-ignore_crashes=1",
            "-ignore_timeouts=1",
            "-ignore_ooms=1",
        ] {
            fuzzer_args.push(flag.to_owned());
        }
    }
    let mut cmd = cargo_fuzz(fuzz_dir, "run");
    cmd.arg(target)
        .arg("--")
        .args(&fuzzer_args)
        .stderr(Stdio::piped());
    eprintln!(
        "\n$ (in fuzz/) RUSTC_BOOTSTRAP=1 cargo fuzz run {FLAGS} {target} -- {}",
        fuzzer_args.join(" ")
    );
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start cargo fuzz run {target}"))?;
    let mut stats = Stats::default();
    let stderr = child.stderr.take().expect("stderr is piped");
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading cargo fuzz's output")?;
        eprintln!("{line}");
        stats.read(&line);
    }
    let status = child.wait()?;
    let seconds = start.elapsed().as_secs_f64();
    let artifacts: Vec<PathBuf> = list(&artifacts_dir).difference(&before).cloned().collect();

    // Group the saved inputs by where they fail.
    let mut findings: Vec<Finding> = Vec::new();
    for (i, path) in artifacts.iter().enumerate() {
        let message = if i < MAX_REPRODUCED {
            failure_message(fuzz_dir, target, path)
        } else {
            "(not run again)".to_owned()
        };
        let key = failure_key(&message);
        match findings.iter_mut().find(|f| f.key == key) {
            Some(f) => f.inputs.push(path.clone()),
            None => findings.push(Finding {
                key,
                message,
                inputs: vec![path.clone()],
            }),
        }
    }
    Ok(Outcome {
        target: target.to_owned(),
        seconds,
        runs: stats.runs,
        execs_per_sec: stats.execs_per_sec,
        corpus: stats.corpus,
        peak_rss_mb: stats.peak_rss_mb,
        success: status.success() && artifacts.is_empty(),
        artifacts,
        findings,
    })
}

/// Runs one saved input again (the fuzz binary itself, which `cargo fuzz
/// run` just built) and returns its panic or sanitizer message; timeouts and
/// out-of-memory inputs are named by their file name only.
fn failure_message(fuzz_dir: &Path, target: &str, input: &Path) -> String {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for (prefix, what) in [
        ("timeout-", "timeout (one input ran over the time limit)"),
        ("oom-", "out of memory (over libFuzzer's -rss_limit_mb)"),
        ("slow-unit-", "slow input"),
    ] {
        if name.starts_with(prefix) {
            return what.to_owned();
        }
    }
    let binary = fuzz_dir
        .join("target")
        .join(host_triple())
        .join("release")
        .join(target);
    let output = Command::new(&binary)
        .arg(input)
        .current_dir(fuzz_dir)
        .env("ASAN_OPTIONS", "detect_odr_violation=0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let Ok(output) = output else {
        return format!("(could not run {} again)", binary.display());
    };
    let mut stats = Stats::default();
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        stats.read(line);
    }
    stats
        .message
        .unwrap_or_else(|| "(no message; run it again by hand)".to_owned())
}

/// cargo fuzz builds for the host, in target/TRIPLE/release.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".into())
}

/// What makes two failures the same: a panic's site, an allocation
/// failure, a sanitizer report's kind.
fn failure_key(message: &str) -> String {
    if message.starts_with("panicked at ") {
        return message
            .split_once(": ")
            .map_or(message, |(site, _)| site)
            .to_owned();
    }
    if message.starts_with("memory allocation of ") {
        return "memory allocation failed".to_owned();
    }
    let end = [" on address", " at pc", " on unknown address"]
        .iter()
        .filter_map(|m| message.find(m))
        .min()
        .unwrap_or(message.len());
    message[..end].to_owned()
}

fn list(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Figures read off libFuzzer's output: the final `stat::` lines when it
/// prints them, else its last status line (`#RUNS ... corp: N/.. exec/s: N`).
#[derive(Default)]
struct Stats {
    runs: Option<u64>,
    execs_per_sec: Option<u64>,
    corpus: Option<u64>,
    peak_rss_mb: Option<u64>,
    final_stats: bool,
    message: Option<String>,
    /// The line after "panicked at" holds the panic's message.
    panic_next: bool,
}

impl Stats {
    fn read(&mut self, line: &str) {
        let line = line.trim_end();
        if self.panic_next {
            self.panic_next = false;
            if let Some(message) = &mut self.message {
                message.push_str(": ");
                message.push_str(line.trim());
            }
        }
        if self.message.is_none() {
            if let Some(at) = line.find("panicked at ") {
                // Without the thread's name and id.
                self.message = Some(line[at..].trim_end_matches(':').to_owned());
                self.panic_next = true;
            } else if line.starts_with("memory allocation of ") {
                self.message = Some(line.to_owned());
            } else if let Some(at) = line.find("ERROR: ") {
                // `==PID==ERROR: AddressSanitizer: ...`, without the pid.
                self.message = Some(line[at..].to_owned());
            }
        }
        if let Some(rest) = line.strip_prefix("stat::") {
            let Some((key, value)) = rest.split_once(':') else {
                return;
            };
            let value = value.trim().parse().ok();
            match key {
                "number_of_executed_units" => {
                    self.runs = value;
                    self.final_stats = true;
                }
                "average_exec_per_sec" => self.execs_per_sec = value,
                "peak_rss_mb" => self.peak_rss_mb = value,
                _ => {}
            }
            return;
        }
        if self.final_stats {
            return;
        }
        let Some(rest) = line.strip_prefix('#') else {
            return;
        };
        let mut words = rest.split_whitespace();
        // `#N` in a status line, `#N:` in fork mode's.
        let Some(runs) = words
            .next()
            .and_then(|w| w.trim_end_matches(':').parse().ok())
        else {
            return;
        };
        self.runs = Some(runs);
        let words: Vec<&str> = words.collect();
        for pair in words.windows(2) {
            match pair[0] {
                "corp:" => {
                    if let Some(n) = pair[1].split('/').next().and_then(|n| n.parse().ok()) {
                        self.corpus = Some(n);
                    }
                }
                "exec/s:" => {
                    if let Ok(n) = pair[1].parse() {
                        self.execs_per_sec = Some(n);
                    }
                }
                "time:" => {
                    if let Ok(n) = pair[1].trim_end_matches('s').parse::<u64>() {
                        // Fork mode's exec/s is the last job's; the average
                        // over the run is more telling.
                        if let Some(average) = runs.checked_div(n) {
                            self.execs_per_sec = Some(average);
                        }
                    }
                }
                "rss:" => {
                    if let Ok(n) = pair[1].trim_end_matches("Mb").parse() {
                        self.peak_rss_mb = Some(n);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_group_by_panic_site_or_error_kind() {
        assert_eq!(
            failure_key("panicked at src/a.rs:1:2: resolve(\"x: y\") failed"),
            "panicked at src/a.rs:1:2"
        );
        assert_eq!(
            failure_key("ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1 at pc 0x2"),
            "ERROR: AddressSanitizer: heap-buffer-overflow"
        );
        assert_eq!(
            failure_key("memory allocation of 99 bytes failed"),
            "memory allocation failed"
        );
        let mut s = Stats::default();
        s.read("==12==ERROR: AddressSanitizer: SEGV on unknown address 0x0");
        assert_eq!(
            s.message.as_deref(),
            Some("ERROR: AddressSanitizer: SEGV on unknown address 0x0")
        );
    }

    #[test]
    fn fork_mode_status_lines() {
        let mut s = Stats::default();
        s.read("#35536: cov: 1460 ft: 2823 corp: 238 exec/s: 5871 oom/timeout/crash: 0/0/1 time: 6s job: 2 dft_time: 0");
        assert_eq!(s.runs, Some(35536));
        assert_eq!(s.corpus, Some(238));
        assert_eq!(s.execs_per_sec, Some(35536 / 6));
    }

    #[test]
    fn stats_come_from_status_lines_then_final_stats() {
        let mut s = Stats::default();
        s.read("#2\tINITED cov: 10 ft: 10 corp: 1/1b exec/s: 0 rss: 40Mb");
        s.read("#20725\tREDUCE cov: 772 ft: 1427 corp: 184/3754b lim: 38 exec/s: 6908 rss: 415Mb");
        assert_eq!(s.runs, Some(20725));
        assert_eq!(s.corpus, Some(184));
        assert_eq!(s.execs_per_sec, Some(6908));
        s.read("stat::number_of_executed_units: 20800");
        s.read("stat::average_exec_per_sec:     6900");
        s.read("stat::peak_rss_mb:              481");
        s.read("#20900\tDONE cov: 772 ft: 1427 corp: 185/3754b exec/s: 1 rss: 415Mb");
        assert_eq!(s.runs, Some(20800));
        assert_eq!(s.execs_per_sec, Some(6900));
        assert_eq!(s.corpus, Some(184));
        assert_eq!(s.peak_rss_mb, Some(481));
        assert!(s.message.is_none());
    }

    #[test]
    fn the_first_panic_is_kept_with_its_message() {
        let mut s = Stats::default();
        s.read("thread '<unnamed>' (1) panicked at src/x.rs:1:2:");
        s.read("byte index 1 is not a char boundary");
        s.read("thread '<unnamed>' (1) panicked at src/y.rs:3:4:");
        assert_eq!(
            s.message.as_deref(),
            Some("panicked at src/x.rs:1:2: byte index 1 is not a char boundary")
        );
    }
}
