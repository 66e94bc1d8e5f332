//! MinAtar Breakout (minatar 1.0.15, `environments/breakout.py`): a paddle on the bottom
//! row bounces a ball that moves along diagonals into three rows of bricks; +1 per brick,
//! three new rows once all are gone and the ball reaches the bottom row, and the episode
//! ends when the ball reaches the bottom row away from the paddle. One draw per reset
//! (`randint(2)`: the side the ball starts on); no ramping.
//!
//! Channels: 0 paddle, 1 ball, 2 trail (the ball's previous cell), 3 brick.

use super::{GRID, Game, RandomState};

/// Directions of the ball: up-left, up-right, down-right, down-left, as `(dx, dy)` with
/// rows growing downwards.
const DIRECTIONS: [(i32, i32); 4] = [(-1, -1), (1, -1), (1, 1), (-1, 1)];
/// The direction after bouncing off a side wall, off the top or a brick (vertical
/// reflection), and off the paddle's edge (reversal).
const OFF_SIDE: [usize; 4] = [1, 0, 3, 2];
const OFF_TOP: [usize; 4] = [3, 2, 1, 0];
const OFF_EDGE: [usize; 4] = [2, 3, 0, 1];

/// The game state.
#[derive(Debug, Clone)]
pub struct Breakout {
    ball: (i32, i32),
    last: (i32, i32),
    direction: usize,
    paddle: i32,
    bricks: [[bool; GRID]; GRID],
    /// Whether the ball struck a brick in the previous act (it then passes through).
    strike: bool,
}

impl Default for Breakout {
    fn default() -> Self {
        Self::new()
    }
}

impl Breakout {
    /// A game before its first reset.
    pub fn new() -> Self {
        Breakout {
            ball: (0, 3),
            last: (0, 3),
            direction: 2,
            paddle: 4,
            bricks: Self::full_rows(),
            strike: false,
        }
    }

    fn full_rows() -> [[bool; GRID]; GRID] {
        let mut bricks = [[false; GRID]; GRID];
        for row in &mut bricks[1..4] {
            *row = [true; GRID];
        }
        bricks
    }

    fn brick(&self, (x, y): (i32, i32)) -> bool {
        self.bricks[y as usize][x as usize]
    }
}

impl Game for Breakout {
    fn name(&self) -> &'static str {
        "breakout"
    }

    fn channels(&self) -> usize {
        4
    }

    fn minimal_action_set(&self) -> &'static [usize] {
        &[0, 1, 3]
    }

    fn reset(&mut self, rng: &mut RandomState) {
        let (x, direction) = if rng.randint(0, 2) == 0 {
            (0, 2)
        } else {
            (9, 3)
        };
        *self = Breakout {
            ball: (x, 3),
            last: (x, 3),
            direction,
            paddle: 4,
            bricks: Self::full_rows(),
            strike: false,
        };
    }

    fn act(&mut self, action: usize, _rng: &mut RandomState) -> (f64, bool) {
        match action {
            1 => self.paddle = (self.paddle - 1).max(0),
            3 => self.paddle = (self.paddle + 1).min(9),
            _ => {}
        }
        let mut reward = 0.0;
        let mut terminal = false;
        self.last = self.ball;
        let (dx, dy) = DIRECTIONS[self.direction];
        let (mut x, mut y) = (self.ball.0 + dx, self.ball.1 + dy);
        let mut struck = false;
        if !(0..=9).contains(&x) {
            x = x.clamp(0, 9);
            self.direction = OFF_SIDE[self.direction];
        }
        if y < 0 {
            y = 0;
            self.direction = OFF_TOP[self.direction];
        } else if self.brick((x, y)) {
            struck = true;
            if !self.strike {
                reward += 1.0;
                self.strike = true;
                self.bricks[y as usize][x as usize] = false;
                y = self.last.1;
                self.direction = OFF_TOP[self.direction];
            }
        } else if y == 9 {
            if self.bricks.iter().flatten().all(|b| !b) {
                self.bricks = Self::full_rows();
            }
            if self.ball.0 == self.paddle {
                self.direction = OFF_TOP[self.direction];
                y = self.last.1;
            } else if x == self.paddle {
                self.direction = OFF_EDGE[self.direction];
                y = self.last.1;
            } else {
                terminal = true;
            }
        }
        if !struck {
            self.strike = false;
        }
        self.ball = (x, y);
        (reward, terminal)
    }

    fn fill_state(&self, out: &mut [bool]) {
        let c = self.channels();
        let mut set = |(x, y): (i32, i32), channel: usize| {
            out[(y as usize * GRID + x as usize) * c + channel] = true;
        };
        set(self.ball, 1);
        set((self.paddle, 9), 0);
        set(self.last, 2);
        for (row, bricks) in self.bricks.iter().enumerate() {
            for (col, &b) in bricks.iter().enumerate() {
                if b {
                    out[(row * GRID + col) * c + 3] = true;
                }
            }
        }
    }

    fn difficulty_ramp(&self) -> Option<usize> {
        None
    }
}
