//! Test helpers shared by the check modules: copied real files, single-line variants and throwaway system roots.

use std::path::{Path, PathBuf};

use muster_shared::v1::{Check, CheckStatus};

use crate::root::SystemRoot;

/// A file copied into `agent/testdata/checks/` (see the README there for its source).
pub(crate) fn fixture(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/checks").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Replaces the one line equal to `from` with `to`: variants differ from the real file by exactly that edit.
pub(crate) fn edit(text: &str, from: &str, to: &str) -> String {
    let count = text.lines().filter(|line| *line == from).count();
    assert_eq!(count, 1, "expected exactly one line {from:?}");
    text.lines().map(|line| if line == from { to } else { line }).collect::<Vec<_>>().join("\n") + "\n"
}

/// A mounted root in a temporary directory, filled file by file.
pub(crate) struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    pub(crate) fn new() -> Tree {
        Tree { dir: tempfile::tempdir().unwrap() }
    }

    pub(crate) fn file(&self, system_path: &str, contents: &str) -> &Tree {
        let path = self.host_path(system_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub(crate) fn dir(&self, system_path: &str) -> &Tree {
        std::fs::create_dir_all(self.host_path(system_path)).unwrap();
        self
    }

    pub(crate) fn symlink(&self, system_path: &str, target: &str) -> &Tree {
        let path = self.host_path(system_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
        self
    }

    pub(crate) fn host_path(&self, system_path: &str) -> PathBuf {
        self.dir.path().join(system_path.trim_start_matches('/'))
    }

    pub(crate) fn root(&self) -> SystemRoot {
        SystemRoot::mounted(self.dir.path())
    }
}

/// The check with `id`, which must be present exactly once.
pub(crate) fn find<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    let found: Vec<&Check> = checks.iter().filter(|c| c.id == id).collect();
    assert_eq!(found.len(), 1, "check {id} present {} times in {checks:#?}", found.len());
    found[0]
}

/// Asserts status and the exact evidence of a check.
pub(crate) fn assert_check(check: &Check, status: CheckStatus, evidence: &[&str]) {
    assert_eq!((check.id.as_str(), check.status), (check.id.as_str(), status), "{check:#?}");
    assert_eq!(check.evidence, evidence, "{check:#?}");
    assert_eq!(check.remediation.is_some(), status == CheckStatus::Fail, "{check:#?}");
}

/// Asserts a `not_applicable` or `unknown` status and its exact reason.
pub(crate) fn assert_reason(check: &Check, status: CheckStatus, reason: &str) {
    assert_eq!(check.status, status, "{check:#?}");
    assert_eq!(check.reason.as_deref(), Some(reason), "{check:#?}");
}
