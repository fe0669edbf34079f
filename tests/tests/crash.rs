//! kill -9 during write_file, edit_file and move_file (mcp-filesystem),
//! replace on a file (mcp-text) and transform to an output_path
//! (mcp-image): every file is its old or its new self, never partial, and
//! no temporary file outlives the next start. CI runs a short version;
//! `cargo xtask stress` runs 200 rounds of each.

use mcp_servers_tests::crash::{Operation, crash_rounds};
use mcp_servers_tests::workspace_bin;

const CI_ROUNDS: usize = 25;

fn check(op: Operation) {
    let name = format!("mcp-{}", op.server());
    let bin = workspace_bin(&name, &name);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let report = crash_rounds(&bin, &dir, op, CI_ROUNDS, 4 << 20, 0xC4A5).unwrap();
    eprintln!("{}: {report:?}", op.name());
    assert!(report.corrupt.is_empty(), "{:#?}", report.corrupt);
    assert_eq!(report.old + report.new, CI_ROUNDS);
    assert_eq!(
        report.temp_files_after_restart, 0,
        "temporary files survived a restart"
    );
}

#[test]
fn killed_write_file_leaves_old_or_new() {
    check(Operation::WriteFile);
}

#[test]
fn killed_edit_file_leaves_old_or_new() {
    check(Operation::EditFile);
}

#[test]
fn killed_move_file_leaves_source_or_destination() {
    check(Operation::MoveFile);
}

#[test]
fn killed_text_replace_leaves_old_or_new() {
    check(Operation::TextReplace);
}

#[test]
fn killed_image_transform_leaves_old_or_new() {
    check(Operation::ImageTransform);
}
