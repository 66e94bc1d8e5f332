//! MinAtar Freeway (minatar 1.0.15, `environments/freeway.py`): a chicken in column 4
//! crosses eight lanes of cars (one per row 1..=8) from the bottom row to the top; it can
//! move every 3 frames, a car hitting it sends it back to the bottom, and reaching the top
//! pays +1, sends it back and gives every car a new speed and direction. The episode ends
//! after 2500 frames (the 2501st act is terminal). Draws `randint(1, 6, 8)` (speeds) then
//! `rand(8)` (directions: right above 0.5, left below) at reset and on every score; no
//! ramping.
//!
//! Channels: 0 chicken, 1 car, 2..=6 the trail behind a car of speed 1..=5 (a car of
//! speed `s` moves every `s` frames).

use super::{Game, RandomState};

const PLAYER_SPEED: i32 = 3;
const TIME_LIMIT: i32 = 2500;

/// One car: column, row, frames until it moves, signed speed (sign: direction).
#[derive(Debug, Clone, Copy)]
struct Car {
    x: i32,
    y: i32,
    timer: i32,
    speed: i32,
}

/// The game state.
#[derive(Debug, Clone)]
pub struct Freeway {
    cars: [Car; 8],
    chicken: i32,
    move_timer: i32,
    terminate_timer: i32,
}

impl Default for Freeway {
    fn default() -> Self {
        Self::new()
    }
}

/// Eight signed speeds, drawn as the package does.
fn random_speeds(rng: &mut RandomState) -> [i32; 8] {
    let speeds = rng.randint_n(1, 6, 8);
    let directions = rng.rand_n(8);
    let mut out = [0; 8];
    for (i, o) in out.iter_mut().enumerate() {
        // Exactly 0.5 (probability 2^-53) would give direction 0 in the package.
        let sign = if directions[i] > 0.5 {
            1
        } else if directions[i] < 0.5 {
            -1
        } else {
            0
        };
        *o = speeds[i] as i32 * sign;
    }
    out
}

impl Freeway {
    /// A game before its first reset.
    pub fn new() -> Self {
        Freeway {
            cars: std::array::from_fn(|i| Car {
                x: 0,
                y: i as i32 + 1,
                timer: 1,
                speed: 1,
            }),
            chicken: 9,
            move_timer: PLAYER_SPEED,
            terminate_timer: TIME_LIMIT,
        }
    }

    fn hits(&self, car: &Car) -> bool {
        car.x == 4 && car.y == self.chicken
    }
}

impl Game for Freeway {
    fn name(&self) -> &'static str {
        "freeway"
    }

    fn channels(&self) -> usize {
        7
    }

    fn minimal_action_set(&self) -> &'static [usize] {
        &[0, 2, 4]
    }

    fn reset(&mut self, rng: &mut RandomState) {
        let speeds = random_speeds(rng);
        for (i, car) in self.cars.iter_mut().enumerate() {
            *car = Car {
                x: 0,
                y: i as i32 + 1,
                timer: speeds[i].abs(),
                speed: speeds[i],
            };
        }
        self.chicken = 9;
        self.move_timer = PLAYER_SPEED;
        self.terminate_timer = TIME_LIMIT;
    }

    fn act(&mut self, action: usize, rng: &mut RandomState) -> (f64, bool) {
        let mut reward = 0.0;
        if self.move_timer == 0 {
            match action {
                2 => {
                    self.move_timer = PLAYER_SPEED;
                    self.chicken = (self.chicken - 1).max(0);
                }
                4 => {
                    self.move_timer = PLAYER_SPEED;
                    self.chicken = (self.chicken + 1).min(9);
                }
                _ => {}
            }
        }
        if self.chicken == 0 {
            reward += 1.0;
            let speeds = random_speeds(rng);
            for (car, s) in self.cars.iter_mut().zip(speeds) {
                car.timer = s.abs();
                car.speed = s;
            }
            self.chicken = 9;
        }
        for i in 0..self.cars.len() {
            if self.hits(&self.cars[i]) {
                self.chicken = 9;
            }
            let car = &mut self.cars[i];
            if car.timer == 0 {
                car.timer = car.speed.abs();
                car.x += if car.speed > 0 { 1 } else { -1 };
                if car.x < 0 {
                    car.x = 9;
                } else if car.x > 9 {
                    car.x = 0;
                }
                if self.hits(&self.cars[i]) {
                    self.chicken = 9;
                }
            } else {
                car.timer -= 1;
            }
        }
        if self.move_timer > 0 {
            self.move_timer -= 1;
        }
        self.terminate_timer -= 1;
        (reward, self.terminate_timer < 0)
    }

    fn fill_state(&self, out: &mut [bool]) {
        let c = self.channels();
        let mut set = |row: i32, col: i32, channel: usize| {
            out[(row as usize * 10 + col as usize) * c + channel] = true;
        };
        set(self.chicken, 4, 0);
        for car in &self.cars {
            set(car.y, car.x, 1);
            let mut back = if car.speed > 0 { car.x - 1 } else { car.x + 1 };
            if back < 0 {
                back = 9;
            } else if back > 9 {
                back = 0;
            }
            let speed = car.speed.unsigned_abs() as usize;
            if (1..=5).contains(&speed) {
                set(car.y, back, 1 + speed);
            }
        }
    }

    fn difficulty_ramp(&self) -> Option<usize> {
        None
    }
}
