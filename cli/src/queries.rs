//! The query files of `athena/queries/`: one Athena query per file, with a header that says
//! what it answers, and a `<name>.datafusion.sql` variant beside it where DataFusion cannot run
//! the Trino text.
//!
//! [`QueryFile`] is one Athena file with its header fields (`-- title:`, `-- answers:`,
//! `-- visual:`) and its local variant. [`from_dir`] reads them from a checkout (the generator
//! of the template's named queries); [`embedded`] is the copy built into the binary (the demo
//! and the report run the repository's files from any folder).

use std::path::Path;

use anyhow::Context;

mod built_in {
    include!(concat!(env!("OUT_DIR"), "/query_files.rs"));
}

/// One Athena query file.
#[derive(Debug, Clone)]
pub struct QueryFile {
    /// The file name without `.sql`.
    pub stem: String,
    pub title: String,
    pub answers: String,
    /// `-- visual:` (e.g. `QuickSight "Sign-ins per day" (line)`), `None` when it says `none`.
    pub visual: Option<String>,
    /// The Athena (Trino) text.
    pub text: String,
    /// The `.datafusion.sql` variant's text, when there is one.
    pub local_variant: Option<String>,
}

impl QueryFile {
    /// The text the local engine runs: the DataFusion variant when there is one.
    pub fn local_sql(&self) -> &str {
        self.local_variant.as_deref().unwrap_or(&self.text)
    }

    /// The file name the local engine runs, for messages.
    pub fn local_file_name(&self) -> String {
        match self.local_variant {
            Some(_) => format!("{}.datafusion.sql", self.stem),
            None => format!("{}.sql", self.stem),
        }
    }
}

/// Whether a file name is an engine variant (`<name>.datafusion.sql`, `<name>.duckdb.sql`)
/// rather than an Athena query file.
pub fn is_variant_name(name: &str) -> bool {
    name.strip_suffix(".sql").is_some_and(|stem| stem.contains('.'))
}

/// The Athena files among `(file name, text)` pairs, with their variants attached, by name.
fn assemble<'a>(files: impl IntoIterator<Item = (&'a str, String)>) -> anyhow::Result<Vec<QueryFile>> {
    let files: Vec<(&str, String)> = files.into_iter().filter(|(name, _)| name.ends_with(".sql")).collect();
    let mut queries = Vec::new();
    for (name, text) in files.iter().filter(|(name, _)| !is_variant_name(name)) {
        let stem = name.trim_end_matches(".sql");
        let header = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("-- {key}:")).map(|v| v.trim().to_string()))
                .with_context(|| format!("{name}: no `-- {key}:` header line"))
        };
        let visual = header("visual").ok().filter(|v| v != "none");
        let variant_name = format!("{stem}.datafusion.sql");
        let local_variant = files.iter().find(|(n, _)| *n == variant_name).map(|(_, t)| t.clone());
        queries.push(QueryFile {
            stem: stem.to_string(),
            title: header("title")?,
            answers: header("answers")?,
            visual,
            text: text.clone(),
            local_variant,
        });
    }
    queries.sort_by(|a, b| a.stem.cmp(&b.stem));
    Ok(queries)
}

/// The query files of `dir`, read from disk.
pub fn from_dir(dir: &Path) -> anyhow::Result<Vec<QueryFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if !name.ends_with(".sql") {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        files.push((name, text));
    }
    assemble(files.iter().map(|(n, t)| (n.as_str(), t.clone())))
}

/// The query files built into this binary (the repository's `athena/queries/` when it was built).
pub fn embedded() -> Vec<QueryFile> {
    // The build script embeds the repository's files, which the tests check parse; a binary
    // built from a checkout whose files lack a header fails here at once, not later.
    assemble(built_in::QUERY_FILES.iter().map(|(n, t)| (*n, (*t).to_string())))
        .expect("the embedded query files have their headers")
}

/// The embedded query `stem`.
pub fn embedded_query(stem: &str) -> anyhow::Result<QueryFile> {
    embedded().into_iter().find(|q| q.stem == stem).with_context(|| format!("no query file {stem}.sql is built in"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_are_the_repositorys() {
        let on_disk = from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../athena/queries")).unwrap();
        let built_in = embedded();
        assert_eq!(on_disk.len(), built_in.len());
        assert!(built_in.len() >= 14);
        for (d, b) in on_disk.iter().zip(&built_in) {
            assert_eq!((&d.stem, &d.text, &d.local_variant), (&b.stem, &b.text, &b.local_variant));
        }
        let by_type = embedded_query("signins_by_event_type").unwrap();
        assert!(by_type.visual.as_deref().is_some_and(|v| v.contains("bar")), "{:?}", by_type.visual);
        assert!(embedded_query("audits_consent_grants").unwrap().local_variant.is_some());
    }

    #[test]
    fn a_file_without_its_header_is_named() {
        let e = assemble([("broken.sql", "SELECT 1".to_string())]).unwrap_err();
        assert!(e.to_string().contains("broken.sql: no `-- title:` header line"), "{e}");
        assert!(is_variant_name("a.datafusion.sql") && !is_variant_name("a.sql"));
    }
}
