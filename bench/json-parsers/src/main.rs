//! Single-thread time to get through the same sign-in records with three JSON parsers:
//! arrow-json's decoder into Arrow arrays (what auditlake uses; schema inferred from the first
//! 1,000 records, decoder kept between pages of 1,000), sonic-rs's lazy iterators walking every
//! key and string (no arrays built), and simd-json's tape (parse only, no arrays built).
//! If the parse-only numbers were far below arrow-json's full decode, a hand-written decoder
//! on top of them could pay off; see docs/BENCHMARKS.md.

use std::time::Instant;

use sonic_rs::JsonValueTrait;

fn walk(value: sonic_rs::LazyValue<'_>, strings: &mut Vec<u8>, keys: &mut usize) {
    match value.get_type() {
        sonic_rs::JsonType::Object => {
            for item in value.into_object_iter().expect("an object") {
                let (k, v) = item.expect("valid JSON");
                *keys += k.len();
                walk(v, strings, keys);
            }
        }
        sonic_rs::JsonType::Array => {
            for item in value.into_array_iter().expect("an array") {
                walk(item.expect("valid JSON"), strings, keys);
            }
        }
        sonic_rs::JsonType::String => strings.extend_from_slice(value.as_str().expect("a string").as_bytes()),
        _ => *keys += 1,
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: json-parsers FILE.ndjson");
    let text = std::fs::read_to_string(&path).expect("readable UTF-8 file");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    println!("| parser | records | seconds | MB/s |");
    println!("|---|---:|---:|---:|");
    let report = |name: &str, started: Instant| {
        let secs = started.elapsed().as_secs_f64();
        println!("| {name} | {} | {secs:.2} | {:.0} |", lines.len(), text.len() as f64 / 1e6 / secs);
    };

    let sample = lines[..lines.len().min(1000)].join("\n");
    let (schema, _) = arrow_json::reader::infer_json_schema_from_seekable(std::io::Cursor::new(sample), None).expect("schema");
    let started = Instant::now();
    let mut decoder = arrow_json::ReaderBuilder::new(std::sync::Arc::new(schema))
        .with_batch_size(1000)
        .with_coerce_primitive(true)
        .build_decoder()
        .expect("decoder");
    let mut rows = 0;
    for page in lines.chunks(1000) {
        for line in page {
            decoder.decode(line.as_bytes()).expect("decodes");
        }
        rows += decoder.flush().expect("flushes").map_or(0, |b| b.num_rows());
    }
    assert_eq!(rows, lines.len());
    report("arrow-json decode into arrays", started);

    let started = Instant::now();
    let (mut strings, mut keys) = (Vec::new(), 0usize);
    for line in &lines {
        for item in sonic_rs::to_object_iter(*line) {
            let (k, v) = item.expect("valid JSON");
            keys += k.len();
            walk(v, &mut strings, &mut keys);
        }
        if strings.len() > 1 << 22 {
            strings.clear();
        }
    }
    std::hint::black_box((strings.len(), keys));
    report("sonic-rs lazy walk (no arrays)", started);

    let started = Instant::now();
    let mut buffer = Vec::new();
    let mut buffers = simd_json::Buffers::default();
    let mut nodes = 0;
    for line in &lines {
        buffer.clear();
        buffer.extend_from_slice(line.as_bytes());
        nodes += simd_json::to_tape_with_buffers(&mut buffer, &mut buffers).expect("valid JSON").0.len();
    }
    std::hint::black_box(nodes);
    report("simd-json tape (parse only)", started);
}
