//! MinAtar Seaquest (minatar 1.0.15, `environments/seaquest.py`): a two-cell submarine
//! shoots enemy fish and subs (+1 each), picks up divers (at most 6) and must surface for
//! oxygen with at least one diver aboard; surfacing with 6 pays `oxygen * 10 // 200`.
//! The episode ends when the sub is hit by an enemy or an enemy bullet, runs out of
//! oxygen, or surfaces without divers. With ramping, each surfacing makes enemies spawn
//! and move faster. Draws: an enemy spawn `rand()` (side), `rand()` (sub below 1/3),
//! `randint(1, 9)` (row); a diver spawn `rand()`, `randint(1, 9)`.
//!
//! Oxygen starts at 200 (full again after each surfacing with a diver count other than 0)
//! and drops by 1 on every act that ends below the surface. An act ends the episode when
//! the oxygen is `<= 0` at its end-of-act test, which comes before that act's own drop:
//! after 200 acts below the surface without a refill, the next act is terminal, and leaves
//! -1 if the sub is still below. The gauge (channel 7, row 9) has `max(0, oxygen) * 10 //
//! 200` cells, so none on that act. If that act surfaces with divers aboard, it both ends
//! the episode and refills.
//!
//! The package keeps its objects in Python lists, iterates them in reverse while removing
//! from them, and removes by value (`list.remove`: the first equal element). This port
//! does the same, with an identity per object, so that even equal objects behave as in
//! the package. Its quirk is kept: surfacing with 6 divers leaves a count of -1 (lower
//! after later surfacings; the diver gauge is then empty), so a surfacing with no diver
//! picked up since does not end the episode.
//!
//! Channels: 0 sub_front, 1 sub_back, 2 friendly_bullet, 3 trail, 4 enemy_bullet,
//! 5 enemy_fish, 6 enemy_sub, 7 oxygen_guage, 8 diver_guage, 9 diver.

use super::{Game, RandomState};

const MAX_OXYGEN: i32 = 200;
const INIT_SPAWN_SPEED: i32 = 20;
const DIVER_SPAWN_SPEED: i32 = 30;
const INIT_MOVE_INTERVAL: i32 = 5;
const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_SHOT_INTERVAL: i32 = 10;
const DIVER_MOVE_INTERVAL: i32 = 5;

/// A moving object: a bullet (no timers), a diver or fish (`timer`), or an enemy sub
/// (`timer` and `shot`). Equality, as in the package's lists, compares the values, not
/// `id`.
#[derive(Debug, Clone, Copy)]
struct Object {
    id: u64,
    x: i32,
    y: i32,
    right: bool,
    timer: i32,
    shot: i32,
}

impl PartialEq for Object {
    fn eq(&self, o: &Self) -> bool {
        (self.x, self.y, self.right, self.timer, self.shot) == (o.x, o.y, o.right, o.timer, o.shot)
    }
}

impl Object {
    fn step(&mut self) {
        self.x += if self.right { 1 } else { -1 };
    }
    fn outside(&self) -> bool {
        !(0..=9).contains(&self.x)
    }
    fn at(&self, pos: (i32, i32)) -> bool {
        (self.x, self.y) == pos
    }
}

/// `list.remove(item)`: removes the first element equal to `item`.
fn remove(list: &mut Vec<Object>, item: &Object) {
    if let Some(j) = list.iter().position(|o| o == item) {
        list.remove(j);
    }
}

/// Writes `item` back to the element with its identity, if it is still in `list`.
fn store(list: &mut [Object], item: &Object) {
    if let Some(o) = list.iter_mut().find(|o| o.id == item.id) {
        *o = *item;
    }
}

/// The list of enemy subs or of fish.
fn enemies(s: &mut Seaquest, subs: bool) -> &mut Vec<Object> {
    if subs { &mut s.subs } else { &mut s.fish }
}

/// Python's `reversed(list)`: the next index, or `None` once it leaves the list.
fn next_reversed(index: &mut isize, len: usize) -> Option<usize> {
    if *index >= 0 && (*index as usize) < len {
        let i = *index as usize;
        *index -= 1;
        Some(i)
    } else {
        None
    }
}

/// The game state.
#[derive(Debug, Clone)]
pub struct Seaquest {
    ramping: bool,
    oxygen: i32,
    diver_count: i32,
    sub: (i32, i32),
    /// Facing right.
    facing_right: bool,
    friendly_bullets: Vec<Object>,
    enemy_bullets: Vec<Object>,
    fish: Vec<Object>,
    subs: Vec<Object>,
    divers: Vec<Object>,
    e_spawn_speed: i32,
    e_spawn_timer: i32,
    d_spawn_timer: i32,
    move_speed: i32,
    ramp_index: usize,
    shot_timer: i32,
    surface: bool,
    next_id: u64,
}

impl Seaquest {
    /// A game before its first reset.
    pub fn new(ramping: bool) -> Self {
        Seaquest {
            ramping,
            oxygen: MAX_OXYGEN,
            diver_count: 0,
            sub: (5, 0),
            facing_right: false,
            friendly_bullets: Vec::new(),
            enemy_bullets: Vec::new(),
            fish: Vec::new(),
            subs: Vec::new(),
            divers: Vec::new(),
            e_spawn_speed: INIT_SPAWN_SPEED,
            e_spawn_timer: INIT_SPAWN_SPEED,
            d_spawn_timer: DIVER_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            surface: true,
            next_id: 0,
        }
    }

    fn object(&mut self, x: i32, y: i32, right: bool, timer: i32, shot: i32) -> Object {
        self.next_id += 1;
        Object {
            id: self.next_id,
            x,
            y,
            right,
            timer,
            shot,
        }
    }

    fn spawn_enemy(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let is_sub = rng.rand() < 1.0 / 3.0;
        let y = rng.randint(1, 9) as i32;
        let x = if right { 0 } else { 9 };
        if self
            .subs
            .iter()
            .chain(&self.fish)
            .any(|z| z.y == y && z.right != right)
        {
            return;
        }
        if is_sub {
            let o = self.object(x, y, right, self.move_speed, ENEMY_SHOT_INTERVAL);
            self.subs.push(o);
        } else {
            let o = self.object(x, y, right, self.move_speed, 0);
            self.fish.push(o);
        }
    }

    fn spawn_diver(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let y = rng.randint(1, 9) as i32;
        let o = self.object(if right { 0 } else { 9 }, y, right, DIVER_MOVE_INTERVAL, 0);
        self.divers.push(o);
    }

    fn surface(&mut self) -> f64 {
        self.surface = true;
        let reward = if self.diver_count == 6 {
            self.diver_count = 0;
            f64::from((self.oxygen * 10).div_euclid(MAX_OXYGEN))
        } else {
            0.0
        };
        self.oxygen = MAX_OXYGEN;
        self.diver_count -= 1;
        if self.ramping && (self.e_spawn_speed > 1 || self.move_speed > 2) {
            if self.move_speed > 2 && self.ramp_index % 2 == 1 {
                self.move_speed -= 1;
            }
            if self.e_spawn_speed > 1 {
                self.e_spawn_speed -= 1;
            }
            self.ramp_index += 1;
        }
        reward
    }

    fn update_friendly_bullets(&mut self) -> f64 {
        let mut reward = 0.0;
        let mut index = self.friendly_bullets.len() as isize - 1;
        while let Some(i) = next_reversed(&mut index, self.friendly_bullets.len()) {
            let mut b = self.friendly_bullets[i];
            b.step();
            store(&mut self.friendly_bullets, &b);
            if b.outside() {
                remove(&mut self.friendly_bullets, &b);
                continue;
            }
            if let Some(f) = self.fish.iter().find(|f| f.at((b.x, b.y))).copied() {
                remove(&mut self.fish, &f);
                remove(&mut self.friendly_bullets, &b);
                reward += 1.0;
            } else if let Some(s) = self.subs.iter().find(|s| s.at((b.x, b.y))).copied() {
                remove(&mut self.subs, &s);
                remove(&mut self.friendly_bullets, &b);
                reward += 1.0;
            }
        }
        reward
    }

    fn update_divers(&mut self) {
        let mut index = self.divers.len() as isize - 1;
        while let Some(i) = next_reversed(&mut index, self.divers.len()) {
            let mut d = self.divers[i];
            if d.at(self.sub) && self.diver_count < 6 {
                remove(&mut self.divers, &d);
                self.diver_count += 1;
            } else if d.timer == 0 {
                d.timer = DIVER_MOVE_INTERVAL;
                d.step();
                store(&mut self.divers, &d);
                if d.outside() {
                    remove(&mut self.divers, &d);
                } else if d.at(self.sub) && self.diver_count < 6 {
                    remove(&mut self.divers, &d);
                    self.diver_count += 1;
                }
            } else {
                d.timer -= 1;
                store(&mut self.divers, &d);
            }
        }
    }

    /// Moves the enemies of `subs` (with shooting) or `fish`: `(reward, terminal)`.
    fn update_enemies(&mut self, subs: bool) -> (f64, bool) {
        let (mut reward, mut terminal) = (0.0, false);
        let len = |s: &Self| if subs { s.subs.len() } else { s.fish.len() };
        let mut index = len(self) as isize - 1;
        while let Some(i) = next_reversed(&mut index, len(self)) {
            let mut e = enemies(self, subs)[i];
            if e.at(self.sub) {
                terminal = true;
            }
            if e.timer == 0 {
                e.timer = self.move_speed;
                e.step();
                store(enemies(self, subs), &e);
                if e.outside() {
                    remove(enemies(self, subs), &e);
                } else if e.at(self.sub) {
                    terminal = true;
                } else if let Some(b) = self
                    .friendly_bullets
                    .iter()
                    .find(|b| b.at((e.x, e.y)))
                    .copied()
                {
                    remove(enemies(self, subs), &e);
                    remove(&mut self.friendly_bullets, &b);
                    reward += 1.0;
                }
            } else {
                e.timer -= 1;
                store(enemies(self, subs), &e);
            }
            if subs {
                // The package updates the sub's shot timer even after removing it.
                if e.shot == 0 {
                    e.shot = ENEMY_SHOT_INTERVAL;
                    store(&mut self.subs, &e);
                    let b = self.object(e.x, e.y, e.right, 0, 0);
                    self.enemy_bullets.push(b);
                } else {
                    e.shot -= 1;
                    store(&mut self.subs, &e);
                }
            }
        }
        (reward, terminal)
    }

    fn update_enemy_bullets(&mut self) -> bool {
        let mut terminal = false;
        let mut index = self.enemy_bullets.len() as isize - 1;
        while let Some(i) = next_reversed(&mut index, self.enemy_bullets.len()) {
            let mut b = self.enemy_bullets[i];
            if b.at(self.sub) {
                terminal = true;
            }
            b.step();
            store(&mut self.enemy_bullets, &b);
            if b.outside() {
                remove(&mut self.enemy_bullets, &b);
            } else if b.at(self.sub) {
                terminal = true;
            }
        }
        terminal
    }
}

/// The columns `start..stop` of a row of 10 as numpy slices them (negative ends count
/// from the right, ends are clipped).
fn numpy_slice(start: i32, stop: i32) -> std::ops::Range<usize> {
    let clip = |v: i32| if v < 0 { (v + 10).max(0) } else { v.min(10) } as usize;
    let (a, b) = (clip(start), clip(stop));
    a..b.max(a)
}

impl Game for Seaquest {
    fn name(&self) -> &'static str {
        "seaquest"
    }

    fn channels(&self) -> usize {
        10
    }

    fn minimal_action_set(&self) -> &'static [usize] {
        &[0, 1, 2, 3, 4, 5]
    }

    fn reset(&mut self, _rng: &mut RandomState) {
        let next_id = self.next_id;
        *self = Seaquest {
            next_id,
            ..Seaquest::new(self.ramping)
        };
    }

    fn act(&mut self, action: usize, rng: &mut RandomState) -> (f64, bool) {
        if self.e_spawn_timer == 0 {
            self.spawn_enemy(rng);
            self.e_spawn_timer = self.e_spawn_speed;
        }
        if self.d_spawn_timer == 0 {
            self.spawn_diver(rng);
            self.d_spawn_timer = DIVER_SPAWN_SPEED;
        }
        let (x, y) = &mut self.sub;
        match action {
            5 if self.shot_timer == 0 => {
                let b = self.object(self.sub.0, self.sub.1, self.facing_right, 0, 0);
                self.friendly_bullets.push(b);
                self.shot_timer = SHOT_COOL_DOWN;
            }
            1 => {
                *x = (*x - 1).max(0);
                self.facing_right = false;
            }
            3 => {
                *x = (*x + 1).min(9);
                self.facing_right = true;
            }
            2 => *y = (*y - 1).max(0),
            4 => *y = (*y + 1).min(8),
            _ => {}
        }
        let mut reward = self.update_friendly_bullets();
        self.update_divers();
        let (r, t_subs) = self.update_enemies(true);
        reward += r;
        let t_bullets = self.update_enemy_bullets();
        let (r, t_fish) = self.update_enemies(false);
        reward += r;
        let mut terminal = t_subs || t_bullets || t_fish;
        if self.e_spawn_timer > 0 {
            self.e_spawn_timer -= 1;
        }
        if self.d_spawn_timer > 0 {
            self.d_spawn_timer -= 1;
        }
        if self.shot_timer > 0 {
            self.shot_timer -= 1;
        }
        // The package tests `oxygen <= 0` before this act's drop.
        if self.oxygen <= 0 {
            terminal = true;
        }
        if self.sub.1 > 0 {
            self.oxygen -= 1;
            self.surface = false;
        } else if !self.surface {
            if self.diver_count == 0 {
                terminal = true;
            } else {
                reward += self.surface();
            }
        }
        (reward, terminal)
    }

    fn fill_state(&self, out: &mut [bool]) {
        let c = self.channels();
        let mut set = |row: i32, col: i32, channel: usize| {
            // numpy's negative index counts from the right.
            let col = col.rem_euclid(10) as usize;
            out[(row as usize * 10 + col) * c + channel] = true;
        };
        set(self.sub.1, self.sub.0, 0);
        let back = if self.facing_right {
            self.sub.0 - 1
        } else {
            self.sub.0 + 1
        };
        set(self.sub.1, back, 1);
        // `state[9, 0:max(0, oxygen) * 10 // 200]`: empty once the oxygen is out.
        for col in 0..(self.oxygen.max(0) * 10 / MAX_OXYGEN) as usize {
            set(9, col as i32, 7);
        }
        for col in numpy_slice(9 - self.diver_count, 9) {
            set(9, col as i32, 8);
        }
        for b in &self.friendly_bullets {
            set(b.y, b.x, 2);
        }
        for b in &self.enemy_bullets {
            set(b.y, b.x, 4);
        }
        for (list, channel) in [(&self.fish, 5), (&self.subs, 6), (&self.divers, 9)] {
            for o in list {
                set(o.y, o.x, channel);
                let back = if o.right { o.x - 1 } else { o.x + 1 };
                if (0..=9).contains(&back) {
                    set(o.y, back, 3);
                }
            }
        }
    }

    fn difficulty_ramp(&self) -> Option<usize> {
        Some(self.ramp_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_slice_as_numpy() {
        assert_eq!(numpy_slice(0, 10), 0..10);
        assert_eq!(numpy_slice(0, -1), 0..9);
        assert_eq!(numpy_slice(6, 9), 6..9);
        assert_eq!(numpy_slice(10, 9), 10..10);
        assert_eq!(numpy_slice(14, 9), 10..10);
    }

    /// The true cells of channel `channel` (row, col).
    fn cells(g: &Seaquest, channel: usize) -> Vec<(usize, usize)> {
        let mut out = vec![false; 10 * 10 * 10];
        g.fill_state(&mut out);
        (0..100)
            .filter(|i| out[i * 10 + channel])
            .map(|i| (i / 10, i % 10))
            .collect()
    }

    /// A game after reset with the sub at `sub`, below the surface since the last act,
    /// and no spawn due for 100 acts.
    fn submerged(sub: (i32, i32), oxygen: i32, divers: i32) -> (Seaquest, RandomState) {
        let mut rng = RandomState::new(0);
        let mut g = Seaquest::new(true);
        g.reset(&mut rng);
        g.sub = sub;
        g.surface = false;
        g.oxygen = oxygen;
        g.diver_count = divers;
        g.e_spawn_timer = 100;
        g.d_spawn_timer = 100;
        (g, rng)
    }

    #[test]
    fn oxygen_runs_out_on_the_act_after_it_reaches_zero() {
        let (mut g, mut rng) = submerged((5, 3), 20, 1);
        assert_eq!(cells(&g, 7).len(), 1); // 20 * 10 // 200
        g.act(0, &mut rng);
        assert_eq!(g.oxygen, 19);
        assert!(cells(&g, 7).is_empty());
        for _ in 0..18 {
            assert_eq!(g.act(0, &mut rng), (0.0, false));
        }
        assert_eq!(g.oxygen, 1);
        // 1 at the test: not out; the act's drop brings it to 0.
        assert_eq!(g.act(0, &mut rng), (0.0, false));
        assert_eq!(g.oxygen, 0);
        assert!(cells(&g, 7).is_empty());
        // 0 at the test: out, then the act still drops it to -1; no gauge cell drawn.
        assert_eq!(g.act(0, &mut rng), (0.0, true));
        assert_eq!(g.oxygen, -1);
        assert!(cells(&g, 7).is_empty());
        assert_eq!(cells(&g, 0), vec![(3, 5)]);
    }

    #[test]
    fn surfacing_as_the_oxygen_runs_out_ends_the_episode_and_refills() {
        let (mut g, mut rng) = submerged((5, 1), 0, 2);
        // Up: the oxygen test ends the episode, the surfacing still takes a diver,
        // refills and ramps.
        assert_eq!(g.act(2, &mut rng), (0.0, true));
        assert_eq!(
            (g.sub, g.oxygen, g.diver_count, g.ramp_index),
            ((5, 0), 200, 1, 1)
        );
        assert_eq!(cells(&g, 7).len(), 10);
        // With 6 divers the surfacing pays `oxygen * 10 // 200` = 0.
        let (mut g, mut rng) = submerged((5, 1), 0, 6);
        assert_eq!(g.act(2, &mut rng), (0.0, true));
        assert_eq!((g.oxygen, g.diver_count), (200, -1));
        assert!(cells(&g, 8).is_empty());
    }
}
