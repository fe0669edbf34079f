//! Small shared helpers: paths, commands, the list of servers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs a command, echoing it, and fails on a non-zero exit.
pub fn exec(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Installs the npm packages pinned by `pins` (a folder of the repository
/// holding package.json and package-lock.json) into `dir`, unless that same
/// lock is installed there already. No install scripts run.
pub fn npm_ci_pinned(pins: &str, dir: &Path) -> anyhow::Result<()> {
    let pins = project_root().join(pins);
    let lock = std::fs::read(pins.join("package-lock.json"))
        .with_context(|| format!("reading {}/package-lock.json", pins.display()))?;
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    if dir.join("node_modules").exists() && installed.as_deref() == Some(lock.as_slice()) {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(pins.join(file), dir.join(file))?;
    }
    exec(
        Command::new("npm")
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(dir),
    )
}

/// Installs `package==version` from PyPI into `site` (a `--target` folder),
/// unless that version is there already.
pub fn pip_install_pinned(site: &Path, package: &str, version: &str) -> anyhow::Result<()> {
    let dist_info = format!("{}-{version}.dist-info", package.replace('-', "_"));
    if site.join(dist_info).exists() {
        return Ok(());
    }
    std::fs::create_dir_all(site)?;
    exec(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--upgrade",
                "--target",
            ])
            .arg(site)
            .arg(format!("{package}=={version}")),
    )
}

/// A server crate under servers/.
#[derive(Debug, Clone)]
pub struct Server {
    /// Short name: `filesystem`.
    pub name: String,
    /// Package and binary name: `mcp-filesystem`.
    pub package: String,
    pub dir: PathBuf,
}

pub fn servers() -> anyhow::Result<Vec<Server>> {
    let mut out = Vec::new();
    let dir = project_root().join("servers");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry?;
        if !entry.path().join("Cargo.toml").exists() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push(Server {
            package: format!("mcp-{name}"),
            name,
            dir: entry.path(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Spawns `bin --transport http --listen 127.0.0.1:0 args...` and waits for
/// its "listening on" line; returns the child and its `127.0.0.1:PORT`.
pub fn spawn_http(bin: &Path, args: &[String]) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(bin)
        .args(["--transport", "http", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("piped stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.split('/').next().unwrap_or_default().to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => Ok((child, addr)),
        Err(_) => {
            let _ = child.kill();
            bail!("{} did not start listening", bin.display())
        }
    }
}

/// Stores one section of a generated report (`sections/NAME.md`) and
/// rebuilds `report` from `header` and every section, in name order.
pub fn write_report_section(
    sections: &str,
    name: &str,
    markdown: &str,
    report: &str,
    header: &str,
) -> anyhow::Result<()> {
    let dir = project_root().join(sections);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{name}.md")), markdown)?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    let mut text = header.to_owned();
    for path in paths {
        text.push('\n');
        text.push_str(&std::fs::read_to_string(&path)?);
    }
    let path = project_root().join(report);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
