//! MinAtar Asterix (minatar 1.0.15, `environments/asterix.py`): the player moves in the
//! four directions over rows 1..=8 while enemies and gold enter from the sides, one per
//! row; +1 per gold picked up, and touching an enemy ends the episode. With ramping,
//! entities spawn and move faster every 100 frames. Each spawn draws `rand()` (side: left
//! below 0.5), `rand()` (gold below 1/3) and, if rows are free, `randint(free)` (which
//! free row; no draw with one free row).
//!
//! Channels: 0 player, 1 enemy, 2 trail (behind an entity), 3 gold.

use super::{Game, RandomState};

const RAMP_INTERVAL: i32 = 100;
const INIT_SPAWN_SPEED: i32 = 10;
const INIT_MOVE_INTERVAL: i32 = 5;

/// An enemy or a piece of gold: column, row, moving right, gold.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entity {
    x: i32,
    y: i32,
    right: bool,
    gold: bool,
}

/// The game state.
#[derive(Debug, Clone)]
pub struct Asterix {
    ramping: bool,
    player: (i32, i32),
    /// Slot `s` holds the entity of row `s + 1`.
    entities: [Option<Entity>; 8],
    spawn_speed: i32,
    spawn_timer: i32,
    move_speed: i32,
    move_timer: i32,
    ramp_timer: i32,
    ramp_index: usize,
}

impl Asterix {
    /// A game before its first reset.
    pub fn new(ramping: bool) -> Self {
        Asterix {
            ramping,
            player: (5, 5),
            entities: [None; 8],
            spawn_speed: INIT_SPAWN_SPEED,
            spawn_timer: INIT_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            move_timer: INIT_MOVE_INTERVAL,
            ramp_timer: RAMP_INTERVAL,
            ramp_index: 0,
        }
    }

    fn spawn(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let gold = rng.rand() < 1.0 / 3.0;
        let free: Vec<usize> = (0..8).filter(|&s| self.entities[s].is_none()).collect();
        if free.is_empty() {
            return;
        }
        let slot = free[rng.randint(0, free.len() as i64) as usize];
        self.entities[slot] = Some(Entity {
            x: if right { 0 } else { 9 },
            y: slot as i32 + 1,
            right,
            gold,
        });
    }

    /// Resolves a contact of slot `s` with the player: gold is collected, an enemy ends
    /// the game.
    fn touch(&mut self, s: usize, reward: &mut f64, terminal: &mut bool) {
        if let Some(e) = self.entities[s]
            && (e.x, e.y) == self.player
        {
            if e.gold {
                self.entities[s] = None;
                *reward += 1.0;
            } else {
                *terminal = true;
            }
        }
    }
}

impl Game for Asterix {
    fn name(&self) -> &'static str {
        "asterix"
    }

    fn channels(&self) -> usize {
        4
    }

    fn minimal_action_set(&self) -> &'static [usize] {
        &[0, 1, 2, 3, 4]
    }

    fn reset(&mut self, _rng: &mut RandomState) {
        *self = Asterix::new(self.ramping);
    }

    fn act(&mut self, action: usize, rng: &mut RandomState) -> (f64, bool) {
        let (mut reward, mut terminal) = (0.0, false);
        if self.spawn_timer == 0 {
            self.spawn(rng);
            self.spawn_timer = self.spawn_speed;
        }
        let (x, y) = &mut self.player;
        match action {
            1 => *x = (*x - 1).max(0),
            3 => *x = (*x + 1).min(9),
            2 => *y = (*y - 1).max(1),
            4 => *y = (*y + 1).min(8),
            _ => {}
        }
        for s in 0..8 {
            self.touch(s, &mut reward, &mut terminal);
        }
        if self.move_timer == 0 {
            self.move_timer = self.move_speed;
            for s in 0..8 {
                if let Some(e) = &mut self.entities[s] {
                    e.x += if e.right { 1 } else { -1 };
                    if !(0..=9).contains(&e.x) {
                        self.entities[s] = None;
                    }
                }
                self.touch(s, &mut reward, &mut terminal);
            }
        }
        self.spawn_timer -= 1;
        self.move_timer -= 1;
        if self.ramping && (self.spawn_speed > 1 || self.move_speed > 1) {
            if self.ramp_timer >= 0 {
                self.ramp_timer -= 1;
            } else {
                if self.move_speed > 1 && self.ramp_index % 2 == 1 {
                    self.move_speed -= 1;
                }
                if self.spawn_speed > 1 {
                    self.spawn_speed -= 1;
                }
                self.ramp_index += 1;
                self.ramp_timer = RAMP_INTERVAL;
            }
        }
        (reward, terminal)
    }

    fn fill_state(&self, out: &mut [bool]) {
        let c = self.channels();
        let mut set = |row: i32, col: i32, channel: usize| {
            out[(row as usize * 10 + col as usize) * c + channel] = true;
        };
        set(self.player.1, self.player.0, 0);
        for e in self.entities.iter().flatten() {
            set(e.y, e.x, if e.gold { 3 } else { 1 });
            let back = if e.right { e.x - 1 } else { e.x + 1 };
            if (0..=9).contains(&back) {
                set(e.y, back, 2);
            }
        }
    }

    fn difficulty_ramp(&self) -> Option<usize> {
        Some(self.ramp_index)
    }
}
