//! `pdmrl_tensor::tanh` against glibc 2.36's `tanhf`, the function every result committed
//! in `results/` was computed with.

use pdmrl_tensor::tanh::{tanh_f32, tanh_slice};

/// `(input bits, output bits)` from `fixtures/tanhf_glibc236.txt`.
fn reference() -> Vec<(u32, u32)> {
    let text = include_str!("fixtures/tanhf_glibc236.txt");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (x, y) = l.split_once(' ').expect("two hex words per line");
            (
                u32::from_str_radix(x, 16).expect("hex"),
                u32::from_str_radix(y, 16).expect("hex"),
            )
        })
        .collect()
}

fn same(got: f32, want: u32) -> bool {
    let want = f32::from_bits(want);
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

#[test]
fn equals_glibc_236_tanhf_bit_for_bit() {
    let cases = reference();
    assert!(cases.len() > 6000, "fixture has {} cases", cases.len());
    let mut xs: Vec<f32> = cases.iter().map(|&(x, _)| f32::from_bits(x)).collect();
    for &(x, y) in &cases {
        let got = tanh_f32(f32::from_bits(x));
        assert!(
            same(got, y),
            "tanh({:e} = {x:#010x}) = {got:e}, glibc {:e}",
            f32::from_bits(x),
            f32::from_bits(y)
        );
    }
    tanh_slice(&mut xs);
    for (got, &(x, y)) in xs.iter().zip(&cases) {
        assert!(same(*got, y), "tanh_slice at {x:#010x}");
    }
}

/// Every `f32` against the running C library's `tanhf` (about a minute; equal where that
/// is glibc up to 2.40, which this machine's is). `cargo test -p pdmrl-tensor --test
/// tanh_glibc -- --ignored`.
#[test]
#[ignore = "exhaustive: 2^32 inputs"]
fn equals_the_c_library_on_every_f32() {
    let mut differ = 0u64;
    for b in 0..=u32::MAX {
        let x = f32::from_bits(b);
        if !same(tanh_f32(x), x.tanh().to_bits()) {
            differ += 1;
        }
    }
    assert_eq!(
        differ, 0,
        "{differ} inputs differ from the C library's tanhf"
    );
}
