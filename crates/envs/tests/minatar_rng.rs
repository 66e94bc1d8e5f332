//! numpy's legacy `RandomState` as MinAtar uses it: every vector of
//! `fixtures/minatar/rng_vectors.json` (raw outputs, `rand`, `rand(8)`, every `randint`
//! form, and the number of outputs each consumed).

use pdmrl_envs::minatar::RandomState;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minatar/rng_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[test]
fn every_seed_and_form_matches_numpy() {
    let data = vectors();
    let seeds = data["seeds"].as_array().unwrap();
    assert_eq!(seeds.len(), 4);
    let mut checked = 0;
    for case in seeds {
        let seed = u32::try_from(int(&case["seed"])).unwrap();
        let mut r = RandomState::new(seed);
        let raw: Vec<i64> = (0..case["mt_u32"].as_array().unwrap().len())
            .map(|_| i64::from(r.next_u32()))
            .collect();
        let want: Vec<i64> = case["mt_u32"].as_array().unwrap().iter().map(int).collect();
        assert_eq!(raw, want, "seed {seed}: raw outputs");
        for form in case["forms"].as_array().unwrap() {
            let name = form["form"].as_str().unwrap();
            let calls = usize::try_from(int(&form["calls"])).unwrap();
            let args: Vec<i64> = form["args"].as_array().unwrap().iter().map(int).collect();
            let kwargs = form.get("kwargs").cloned().unwrap_or(Value::Null);
            let mut r = RandomState::new(seed);
            let got: Vec<Value> = match form["method"].as_str().unwrap() {
                "rand" => {
                    // Exact: each value as k with value = k / 2^53.
                    let scaled = |x: f64| Value::from((x * 9_007_199_254_740_992.0) as i64);
                    (0..calls)
                        .map(|_| match args.as_slice() {
                            [] => scaled(r.rand()),
                            [k] => Value::Array(
                                r.rand_n(usize::try_from(*k).unwrap())
                                    .into_iter()
                                    .map(scaled)
                                    .collect(),
                            ),
                            _ => panic!("{name}"),
                        })
                        .collect()
                }
                "randint" => {
                    let (low, high, size) = match (args.as_slice(), &kwargs) {
                        ([n], _) => (0, *n, None),
                        ([low, high], _) => (*low, *high, None),
                        ([low, high, k], _) => (*low, *high, Some(usize::try_from(*k).unwrap())),
                        ([], Value::Object(k)) => (int(&k["low"]), int(&k["high"]), None),
                        _ => panic!("{name}"),
                    };
                    (0..calls)
                        .map(|_| match size {
                            None => Value::from(r.randint(low, high)),
                            Some(k) => Value::from(r.randint_n(low, high, k)),
                        })
                        .collect()
                }
                other => panic!("unexpected method {other}"),
            };
            let want = if form["method"] == "rand" {
                &form["values_times_2pow53"]
            } else {
                &form["values"]
            };
            assert_eq!(&Value::Array(got), want, "seed {seed}, {name}");
            assert_eq!(
                r.outputs(),
                u64::try_from(int(&form["mt_outputs_consumed"])).unwrap(),
                "seed {seed}, {name}: outputs consumed"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4 * 13, "{checked} forms");
}
