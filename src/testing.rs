//! Strategies the generative tests share.

use proptest::prelude::*;
use serde_json::{json, Value};

/// Small JSON values of any shape. Object keys are drawn from `names` (the fields the parser
/// under test reads, so that the cases reach past its first check) and from short random words.
pub fn any_json(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "\\PC{0,12}".prop_map(Value::String),
        "https://[a-z]{1,6}\\.test(/[a-z]{0,6}){0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 8, move |inner| {
        let key = prop_oneof![proptest::sample::select(names.to_vec()).prop_map(str::to_owned), "[a-z_]{1,6}"];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..8).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// The file of seeds that found failures, replayed first by every generative test (the corpus
/// `npm run fuzz` grows; commit what it adds).
pub const CORPUS_SEEDS: &str = "tests/corpus/proptest-seeds.txt";

/// The configuration of a parser's generative tests: `cases` per property, times
/// `PORTCULLIS_FUZZ_SCALE` (1 unless `npm run fuzz` sets it), with failures kept in the corpus.
pub fn generative(cases: u32) -> ProptestConfig {
    let scale = std::env::var("PORTCULLIS_FUZZ_SCALE").ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(1).max(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(CORPUS_SEEDS))),
        ..ProptestConfig::default()
    }
}

/// The files of the repository's `dir` whose names end in `.extension`, sorted.
pub fn files_in(dir: &str, extension: &str) -> Vec<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// The configurations of the recipes: each ```json block of each `docs/recipes/*.md`.
pub fn recipe_configs() -> Vec<(String, Value)> {
    let mut configs = Vec::new();
    for file in files_in("docs/recipes", "md") {
        let text = std::fs::read_to_string(&file).expect("readable");
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if name != "README.md" {
            assert!(text.contains("```json\n"), "{name}: a recipe without a configuration");
        }
        for (index, block) in text.split("```json\n").skip(1).enumerate() {
            let body = block.split("\n```").next().unwrap_or_default();
            let value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{name} block {index}: {e}"));
            configs.push((format!("{name}#{index}"), value));
        }
    }
    configs
}

/// A file of the repository, by its path from the top (a test fixture or a shipped template).
pub fn repository_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{}: {error}", full.display()))
}
