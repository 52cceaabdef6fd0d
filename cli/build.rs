//! Embeds the repository's query files (`athena/queries/*.sql`, variants included) in the
//! binary, so `auditlake demo` and `auditlake report` run the same files as Athena from any
//! folder. A build script rather than `include_dir!`: it reruns when a file is added or
//! removed, which the macro does not notice on stable Rust.

use std::fmt::Write;
use std::path::Path;

#[allow(clippy::disallowed_methods, reason = "a build script's inputs are only given in its environment")]
fn main() {
    // Read when the script runs, not compiled in with `env!`: checkouts in several folders
    // share one target dir here (`.ci/run` clones into a fresh folder), and cargo judged a
    // script binary compiled in another checkout fresh for this one (its files were older),
    // so a compiled-in path pointed at that other checkout (seen once it was deleted).
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    let dir = Path::new(&manifest_dir).join("../athena/queries");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// `(file name, text)` of every `athena/queries/*.sql`, by name.\npub const QUERY_FILES: &[(&str, &str)] = &[\n",
    );
    for name in &names {
        let path = dir.join(name);
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string()).expect("writing to a String");
    }
    out.push_str("];\n");
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    std::fs::write(Path::new(&out_dir).join("query_files.rs"), out).expect("writing query_files.rs");
}
