use ndarray::Array2;
use std::time::Instant;
fn main() {
    for &(m, k, n, t) in &[
        (128usize, 64usize, 64usize, false),
        (64, 128, 64, true),
        (4, 64, 64, false),
        (128, 400, 256, false),
        (128, 256, 256, false),
        (400, 128, 256, true),
        (256, 128, 256, true),
        (128, 64, 128, false),
    ] {
        let a = Array2::<f32>::from_shape_fn(if t { (k, m) } else { (m, k) }, |(i, j)| {
            ((i * 7 + j * 3) % 11) as f32 / 11.0
        });
        let a = if t { a.t() } else { a.view() };
        let b = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 / 13.0);
        let reps = (2e9 / (2.0 * (m * k * n) as f64)) as usize + 1;
        let mut c = Array2::<f32>::zeros((m, n));
        let s = Instant::now();
        for _ in 0..reps {
            pdmrl_tensor::mat_mul_into(std::hint::black_box(a), b.view(), c.view_mut());
        }
        let ours = 2.0 * (m * k * n * reps) as f64 / s.elapsed().as_secs_f64() / 1e9;
        let s = Instant::now();
        for _ in 0..reps {
            ndarray::linalg::general_mat_mul(1.0, &std::hint::black_box(a), &b, 0.0, &mut c);
        }
        let mm = 2.0 * (m * k * n * reps) as f64 / s.elapsed().as_secs_f64() / 1e9;
        println!(
            "[{m},{k}]x[{k},{n}] {}: ours {ours:.1} GFLOP/s, matrixmultiply {mm:.1}",
            if t { "(a transposed)" } else { "" }
        );
    }
}
