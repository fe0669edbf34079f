//! `cargo xtask new-server NAME`: stamps a server with the same shape as the
//! others (Cargo.toml, README, main.rs, lib.rs, tools/) and its e2e test.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use crate::util::{cargo, exec, project_root};

#[derive(Debug, Args)]
pub struct NewServerArgs {
    /// Lower-case name: the server becomes servers/NAME, binary mcp-NAME.
    pub name: String,
}

/// (path relative to the root, template text)
fn files(name: &str) -> Vec<(PathBuf, &'static str)> {
    let dir = PathBuf::from("servers").join(name);
    vec![
        (
            dir.join("Cargo.toml"),
            include_str!("../template/Cargo.toml.tmpl"),
        ),
        (
            dir.join("README.md"),
            include_str!("../template/README.md.tmpl"),
        ),
        (
            dir.join("src/main.rs"),
            include_str!("../template/main.rs.tmpl"),
        ),
        (
            dir.join("src/lib.rs"),
            include_str!("../template/lib.rs.tmpl"),
        ),
        (
            dir.join("src/tools/mod.rs"),
            include_str!("../template/tools_mod.rs.tmpl"),
        ),
        (
            dir.join("src/tools/greeting.rs"),
            include_str!("../template/tools_greeting.rs.tmpl"),
        ),
        (
            PathBuf::from("tests/tests").join(format!("{}.rs", ident(name))),
            include_str!("../template/e2e.rs.tmpl"),
        ),
    ]
}

fn ident(name: &str) -> String {
    name.replace('-', "_")
}

fn render(template: &str, name: &str) -> String {
    let title: String = name
        .split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let type_name = format!("{}Server", title.replace(' ', ""));
    template
        .replace("{{name}}", name)
        .replace("{{ident}}", &ident(name))
        .replace("{{Title}}", &title)
        .replace("{{Type}}", &type_name)
}

fn validate(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "server name '{name}' must be 1-40 chars of a-z, 0-9 and '-', starting with a letter"
        );
    }
    Ok(())
}

/// Writes the files; returns their paths. Refuses to overwrite anything.
fn stamp(root: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    validate(name)?;
    let files = files(name);
    for (path, _) in &files {
        if root.join(path).exists() {
            bail!("{} already exists; pick another name", path.display());
        }
    }
    let mut written = Vec::new();
    for (path, template) in files {
        let full = root.join(&path);
        std::fs::create_dir_all(full.parent().context("file has a parent")?)?;
        std::fs::write(&full, render(template, name))
            .with_context(|| format!("writing {}", full.display()))?;
        written.push(path);
    }
    Ok(written)
}

pub fn run(args: &NewServerArgs) -> anyhow::Result<()> {
    let root = project_root();
    let written = stamp(&root, &args.name)?;
    for path in &written {
        println!("created {}", path.display());
    }
    println!(
        "\nNext: cargo build -p mcp-{0} && cargo nextest run -p mcp-servers-tests --test {1}",
        args.name,
        ident(&args.name)
    );
    Ok(())
}

/// Stamps a throwaway server, builds it and runs its generated tests, then
/// removes every trace (files and Cargo.lock changes), even on failure.
pub fn smoke_test() -> anyhow::Result<()> {
    let root = project_root();
    let name = "xtask-smoke";
    let lock = std::fs::read(root.join("Cargo.lock")).ok();
    let written = stamp(&root, name)?;
    let result = (|| {
        exec(cargo().args(["build", "-p", &format!("mcp-{name}")]))?;
        exec(
            cargo()
                .args([
                    "nextest",
                    "run",
                    "-p",
                    "mcp-servers-tests",
                    "--test",
                    &ident(name),
                ])
                .env("MCP_TEST_NO_BUILD", "1"),
        )
    })();
    std::fs::remove_dir_all(root.join("servers").join(name)).ok();
    for path in &written {
        std::fs::remove_file(root.join(path)).ok();
    }
    if let Some(lock) = lock {
        std::fs::write(root.join("Cargo.lock"), lock)?;
    }
    result.context(
        "the server stamped by `cargo xtask new-server` did not build or pass its tests",
    )?;
    println!("new-server smoke test: the stamped server built and passed its tests");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(validate("weather").is_ok());
        assert!(validate("my-db2").is_ok());
        assert!(validate("").is_err());
        assert!(validate("Weather").is_err());
        assert!(validate("2x").is_err());
        assert!(validate("a/b").is_err());
    }

    #[test]
    fn rendering_fills_every_placeholder() {
        for (_, template) in files("my-db") {
            let out = render(template, "my-db");
            assert!(!out.contains("{{"), "{out}");
        }
        assert!(render("{{Type}} {{ident}} {{Title}}", "my-db") == "MyDbServer my_db My Db");
    }

    #[test]
    fn stamping_refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("xtask-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        stamp(&dir, "demo").unwrap();
        assert!(dir.join("servers/demo/src/tools/greeting.rs").exists());
        let err = stamp(&dir, "demo").unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
