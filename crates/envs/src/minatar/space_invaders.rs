//! MinAtar Space Invaders (minatar 1.0.15, `environments/space_invaders.py`): a cannon on
//! the bottom row shoots at a block of aliens that sweeps sideways and steps down at the
//! edges, speeding up as it thins out; the alien nearest the cannon shoots back. +1 per
//! alien hit; a cleared wave is replaced by a new one (faster by one frame per move, down
//! to 6, with ramping); the episode ends when an alien or an alien's bullet reaches the
//! cannon, or the block steps down from the bottom row. Draws nothing.
//!
//! Channels: 0 cannon, 1 alien, 2 alien_left, 3 alien_right (the block's direction),
//! 4 friendly_bullet, 5 enemy_bullet.

use super::grid::{self, EMPTY, Map};
use super::{Game, RandomState};

const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_MOVE_INTERVAL: i32 = 12;
const ENEMY_SHOT_INTERVAL: i32 = 10;

/// The game state.
#[derive(Debug, Clone)]
pub struct SpaceInvaders {
    ramping: bool,
    cannon: i32,
    friendly_bullets: Map,
    enemy_bullets: Map,
    aliens: Map,
    /// -1: moving left, +1: moving right.
    direction: i32,
    move_interval: i32,
    move_timer: i32,
    alien_shot_timer: i32,
    ramp_index: usize,
    shot_timer: i32,
}

fn wave() -> Map {
    let mut aliens = EMPTY;
    for row in &mut aliens[0..4] {
        for cell in &mut row[2..8] {
            *cell = true;
        }
    }
    aliens
}

impl SpaceInvaders {
    /// A game before its first reset.
    pub fn new(ramping: bool) -> Self {
        SpaceInvaders {
            ramping,
            cannon: 5,
            friendly_bullets: EMPTY,
            enemy_bullets: EMPTY,
            aliens: wave(),
            direction: -1,
            move_interval: ENEMY_MOVE_INTERVAL,
            move_timer: ENEMY_MOVE_INTERVAL,
            alien_shot_timer: ENEMY_SHOT_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
        }
    }

    fn column_has_alien(&self, col: usize) -> bool {
        self.aliens.iter().any(|row| row[col])
    }

    /// The lowest alien of the column nearest the cannon (ties: the left one).
    fn nearest_alien(&self) -> Option<(usize, usize)> {
        let mut columns: Vec<usize> = (0..10).collect();
        columns.sort_by_key(|&c| (c as i32 - self.cannon).abs());
        columns
            .into_iter()
            .find(|&c| self.column_has_alien(c))
            .map(|c| {
                let row = (0..10).rev().find(|&r| self.aliens[r][c]).unwrap_or(0);
                (row, c)
            })
    }
}

impl Game for SpaceInvaders {
    fn name(&self) -> &'static str {
        "space_invaders"
    }

    fn channels(&self) -> usize {
        6
    }

    fn minimal_action_set(&self) -> &'static [usize] {
        &[0, 1, 3, 5]
    }

    fn reset(&mut self, _rng: &mut RandomState) {
        *self = SpaceInvaders::new(self.ramping);
    }

    fn act(&mut self, action: usize, _rng: &mut RandomState) -> (f64, bool) {
        let mut terminal = false;
        let cannon = self.cannon as usize;
        match action {
            5 if self.shot_timer == 0 => {
                self.friendly_bullets[9][cannon] = true;
                self.shot_timer = SHOT_COOL_DOWN;
            }
            1 => self.cannon = (self.cannon - 1).max(0),
            3 => self.cannon = (self.cannon + 1).min(9),
            _ => {}
        }
        let cannon = self.cannon as usize;
        self.friendly_bullets = grid::roll_rows(&self.friendly_bullets, -1);
        self.friendly_bullets[9] = [false; 10];
        self.enemy_bullets = grid::roll_rows(&self.enemy_bullets, 1);
        self.enemy_bullets[0] = [false; 10];
        if self.enemy_bullets[9][cannon] {
            terminal = true;
        }
        if self.aliens[9][cannon] {
            terminal = true;
        }
        if self.move_timer == 0 {
            self.move_timer = (grid::count(&self.aliens) as i32).min(self.move_interval);
            let at_edge = (self.column_has_alien(0) && self.direction < 0)
                || (self.column_has_alien(9) && self.direction > 0);
            if at_edge {
                self.direction = -self.direction;
                if self.aliens[9].iter().any(|a| *a) {
                    terminal = true;
                }
                self.aliens = grid::roll_rows(&self.aliens, 1);
            } else {
                self.aliens = grid::roll_cols(&self.aliens, self.direction);
            }
            if self.aliens[9][cannon] {
                terminal = true;
            }
        }
        if self.alien_shot_timer == 0 {
            self.alien_shot_timer = ENEMY_SHOT_INTERVAL;
            if let Some((r, c)) = self.nearest_alien() {
                self.enemy_bullets[r][c] = true;
            }
        }
        let mut reward = 0.0;
        for r in 0..10 {
            for c in 0..10 {
                if self.aliens[r][c] && self.friendly_bullets[r][c] {
                    reward += 1.0;
                    self.aliens[r][c] = false;
                    self.friendly_bullets[r][c] = false;
                }
            }
        }
        if self.shot_timer > 0 {
            self.shot_timer -= 1;
        }
        self.move_timer -= 1;
        self.alien_shot_timer -= 1;
        if grid::count(&self.aliens) == 0 {
            if self.move_interval > 6 && self.ramping {
                self.move_interval -= 1;
                self.ramp_index += 1;
            }
            self.aliens = wave();
        }
        (reward, terminal)
    }

    fn fill_state(&self, out: &mut [bool]) {
        let c = self.channels();
        out[(9 * 10 + self.cannon as usize) * c] = true;
        grid::fill(out, c, 1, &self.aliens);
        grid::fill(out, c, if self.direction < 0 { 2 } else { 3 }, &self.aliens);
        grid::fill(out, c, 4, &self.friendly_bullets);
        grid::fill(out, c, 5, &self.enemy_bullets);
    }

    fn difficulty_ramp(&self) -> Option<usize> {
        Some(self.ramp_index)
    }
}
