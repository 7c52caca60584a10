//! Small statistics for the measurements some test crates print
//! (`#[ignore]`d tests run with `--nocapture`).

use std::time::Duration;

/// The median of `samples` (the upper one of an even count); panics when
/// there are none.
pub fn median(samples: &[Duration]) -> Duration {
    assert!(!samples.is_empty(), "median of no samples");
    let mut v = samples.to_vec();
    v.sort();
    v[v.len() / 2]
}
