//! Embeds the repository's query files (`athena/queries/*.sql`, variants included) in the
//! binary, so `auditlake demo` and `auditlake report` run the same files as Athena from any
//! folder. A build script rather than `include_dir!`: it reruns when a file is added or
//! removed, which the macro does not notice on stable Rust.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../athena/queries");
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
    #[allow(clippy::disallowed_methods, reason = "a build script's output folder is only given in its environment")]
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    std::fs::write(Path::new(&out_dir).join("query_files.rs"), out).expect("writing query_files.rs");
}
