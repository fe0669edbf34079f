//! Small shared helpers: paths, commands, the list of servers.

use std::path::{Path, PathBuf};
use std::process::Command;

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
