//! Boolean 10×10 maps, with numpy's `roll` (cells shifted out come back on the other
//! side, as the games rely on).

use super::GRID;

/// A 10×10 boolean map, `[row][col]`, row 0 at the top.
pub type Map = [[bool; GRID]; GRID];

/// An empty map.
pub const EMPTY: Map = [[false; GRID]; GRID];

/// `np.roll(map, shift, axis=0)`: every row moves down by `shift` (up if negative),
/// wrapping around.
pub fn roll_rows(map: &Map, shift: i32) -> Map {
    let mut out = EMPTY;
    for (r, row) in map.iter().enumerate() {
        out[(r as i32 + shift).rem_euclid(GRID as i32) as usize] = *row;
    }
    out
}

/// `np.roll(map, shift, axis=1)`: every column moves right by `shift` (left if
/// negative), wrapping around.
pub fn roll_cols(map: &Map, shift: i32) -> Map {
    let mut out = EMPTY;
    for (r, row) in map.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[r][(c as i32 + shift).rem_euclid(GRID as i32) as usize] = v;
        }
    }
    out
}

/// Number of true cells.
pub fn count(map: &Map) -> usize {
    map.iter().flatten().filter(|v| **v).count()
}

/// Sets channel `channel` of the flattened `[10, 10, channels]` grid `out` where `map` is
/// true.
pub fn fill(out: &mut [bool], channels: usize, channel: usize, map: &Map) {
    for (r, row) in map.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            if v {
                out[(r * GRID + c) * channels + channel] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_wrap_around_like_numpy() {
        let mut m = EMPTY;
        m[9][0] = true;
        m[0][9] = true;
        let down = roll_rows(&m, 1);
        assert!(down[0][0] && down[1][9] && count(&down) == 2);
        let up = roll_rows(&m, -1);
        assert!(up[8][0] && up[9][9]);
        let right = roll_cols(&m, 1);
        assert!(right[9][1] && right[0][0]);
        let left = roll_cols(&m, -1);
        assert!(left[9][9] && left[0][8]);
    }
}
